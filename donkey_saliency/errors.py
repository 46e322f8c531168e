"""The one exception type that means "the user can fix this": the CLI prints it as one line and exits 2."""


class UserError(Exception):
    """A problem with the user's input (path, model, flags), worded as what is wrong and what to do."""


class DiskFull(UserError):
    """No space left for an output: fixable, but it stops a run of several tubs, where the next would fail too."""


class Terminated(BaseException):
    """SIGTERM, raised where the main thread is, so that every output is discarded on the way out."""


def raise_terminated(signum, frame):
    """The SIGTERM handler of the command and of its worker processes."""
    raise Terminated()
