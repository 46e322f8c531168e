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


def import_tensorflow():
    """TensorFlow, with its C++ and Python INFO logs off in our runs, and Keras's advice to developers (legacy
    formats, Lambda layers) kept out of what the user reads."""
    if ours():
        os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    import tensorflow as tf
    if ours():
        tf.get_logger().setLevel(logging.ERROR)
    _keras_advice_off()
    return tf


def _keras_advice_off():
    warnings.filterwarnings('ignore', category=UserWarning, module=r'keras(\.|$)')
