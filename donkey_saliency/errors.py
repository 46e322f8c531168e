"""The exceptions the CLI answers in one line: UserError (the user can fix this; exit 2), NothingToShow (a tub
that gives no output: --per-tub goes on to the next), Terminated (SIGTERM, exit 143; SIGHUP, exit 129)."""
import signal


class UserError(Exception):
    """A problem with the user's input (path, model, flags), worded as what is wrong and what to do."""


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
