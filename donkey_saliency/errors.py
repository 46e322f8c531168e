"""The exceptions the CLI answers in one line: UserError (the user can fix this; exit 2), NothingToShow (a tub
that gives no output: --per-tub goes on to the next), Terminated (SIGTERM, exit 143; SIGHUP, exit 129).

A UserError's message is written once, in the CLI's words (its flags); the Python API rewords it with `as_arguments`
so that a notebook is told of its arguments (`ds.load_pilot('missing.h5')`: "... with path ...", not "--model").
"""
import re
import signal


class UserError(Exception):
    """A problem with the user's input (path, model, flags), worded as what is wrong and what to do."""


FLAG = re.compile(r'(?<![\w-])--([a-z][a-z0-9-]*)(?: (-?\d[\d.]*\b|[A-Z]+\b|[\w.\'/-]*[\d_./\'][\w.\'/-]*))?')


def as_arguments(exc, arguments=None):
    """The UserError `exc` (same class) in the API's words: each --flag of its message named as the keyword argument
    that takes it, `name=value` where a value follows that is plainly one (a number, a PATH-like placeholder, a name
    with _ . / or a digit), the name alone else; `arguments`: {flag: argument} where the argument is not the flag's
    name with - as _."""
    arguments = arguments or {}

    def argument(match):
        name = arguments.get(match.group(1), match.group(1).replace('-', '_'))
        return f'{name}={match.group(2)}' if match.group(2) else name
    text = FLAG.sub(argument, str(exc))
    return exc if text == str(exc) else type(exc)(text)


class NothingToShow(UserError):
    """The tubs (or the range) hold nothing readable: this tub gives no output, where the next may."""


class Terminated(BaseException):
    """SIGTERM (or SIGHUP: the terminal closed), raised where the main thread is, so that every output is discarded
    on the way out; `signum` says which, the exit code is 128 + it."""

    def __init__(self, signum=signal.SIGTERM):
        super().__init__(signum)
        self.signum = signum
        self.said = 'hung up' if signum == signal.SIGHUP else 'terminated'


def raise_terminated(signum, frame):
    """The SIGTERM handler of the --jobs worker processes."""
    raise Terminated(signum)


def first_line(exc):
    """The first line of an exception's message, at most 300 characters (its type when it has none): what a one-line
    error quotes."""
    text = str(exc).strip()
    return text.splitlines()[0].rstrip()[:300] if text else type(exc).__name__


def described(exc):
    """'Type: first line' (the type alone when the message is empty): how an unexpected error is named in its one
    line, by the command and by a --jobs worker alike."""
    return f'{type(exc).__name__}: {first_line(exc)}' if str(exc).strip() else type(exc).__name__
