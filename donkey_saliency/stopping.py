"""How a run stops when it is asked to: Ctrl-C (SIGINT), SIGTERM, or the terminal closing (SIGHUP).

Each becomes an exception in the main thread (KeyboardInterrupt, or Terminated), so every output is discarded on
the way out and the command ends with one line and exit code 128 + the signal's number. A terminal's Ctrl-C goes
to every process of its group, ffmpeg included: had ffmpeg died of it first, the frame being written would have
met a broken pipe and the run an "unexpected error". So the encoders start with these signals blocked (the mask
survives exec, and ffmpeg's own handlers never see them): the command alone decides how its children stop.
"""
import contextlib
import signal

from donkey_saliency.errors import Terminated

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


_stopped = []  # the signals that stopped the run: then the later ones stay ignored until the process exits


def _stop(signum, frame):
    """The first stopping signal raises; the later ones are ignored, so that the clean-up is not cut short, nor
    the exit after it (a Ctrl-C pressed twice must not end the process by the signal once its line is said)."""
    _stopped.append(signum)
    for number in STOPPING:
        signal.signal(number, signal.SIG_IGN)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


@contextlib.contextmanager
def stopped_by_signals():
    """Within it, SIGINT, SIGTERM and SIGHUP stop the run as exceptions; the handlers found are restored after,
    unless a signal stopped the run (then they stay ignored: the process is on its way out).
    A signal found ignored stays ignored: `nohup` (SIGHUP) and a shell's background job (SIGINT) ask for that."""
    previous = {number: signal.getsignal(number) for number in STOPPING}
    for number, handler in previous.items():
        if handler != signal.SIG_IGN:
            signal.signal(number, _stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            if handler is not None and not _stopped:  # None: a handler not set from Python, which cannot be set back
                signal.signal(number, handler)


@contextlib.contextmanager
def shielded():
    """Start child processes within it: they inherit the stopping signals blocked, so a signal sent to the whole
    process group (a terminal's Ctrl-C, `kill -- -PGID`) reaches this process alone, which then stops them."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
