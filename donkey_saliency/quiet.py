"""Import donkeycar and TensorFlow without their start-up noise, so a run of ours prints only what the user needs,
and without touching the logging of a program that is not ours.

Whose program is it? Ours when donkeycar is not imported yet (`donkey-saliency`, `python -m donkey_saliency`) or
when donkeycar's own `donkey` command handed us `donkey saliency`: then donkeycar's and TensorFlow's INFO logs
are kept out. Another program's when it imported donkeycar itself (a car's manage.py, where the part runs; a
notebook): its logging is its own, and nothing here changes the root logger or any other logger, so the car
still says "Adding part", "Starting vehicle" and prints its timing table. Decided once, at the first import.
"""
import contextlib
import io
import logging
import os
import sys
import warnings

_ours = None


def ours():
    """True when this process is a run of donkey-saliency (see the module's docstring)."""
    global _ours
    if _ours is None:
        _ours = 'donkeycar' not in sys.modules or 'donkeycar.management.base' in sys.modules
    return _ours


def import_donkeycar():
    """donkeycar prints a banner and sets logging to INFO at its first import; keep our output readable."""
    if not ours():
        import donkeycar
        return donkeycar
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    with contextlib.redirect_stdout(io.StringIO()):
        import donkeycar
    logging.getLogger().setLevel(logging.WARNING)
    for name in ('donkeycar', 'tensorflow', 'absl', 'h5py'):
        logging.getLogger(name).setLevel(logging.ERROR)
    _keras_advice_off()
    return donkeycar


def donkeycar_or_none():
    """donkeycar (quietly imported), or None where it is not installed (upstream's Python 3.12 stack)."""
    try:
        return import_donkeycar()
    except ImportError:
        return None


def import_tensorflow():
    """TensorFlow, with its C++ and Python INFO logs off in our runs (TensorFlow 2.17 and newer print start-up
    lines that TF_CPP_MIN_LOG_LEVEL no longer hides: stderr is closed while it loads), and Keras's advice to
    developers (legacy formats, Lambda layers) kept out of what the user reads."""
    if not ours():
        import tensorflow as tf
        _keras_advice_off()
        return tf
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    with native_stderr_off():
        import tensorflow as tf
        tf.config.list_physical_devices('GPU')  # the device probe's own log lines (no GPU) fall in here too
    tf.get_logger().setLevel(logging.ERROR)
    _keras_advice_off()
    return tf


@contextlib.contextmanager
def native_stderr_off():
    """The process's stderr (file descriptor 2) closed: TensorFlow 2.17 and newer log through absl while loading,
    before TF_CPP_MIN_LOG_LEVEL is read, so the variable no longer keeps those lines out."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _keras_advice_off():
    warnings.filterwarnings('ignore', category=UserWarning, module=r'keras(\.|$)')
