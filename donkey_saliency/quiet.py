"""Import donkeycar and TensorFlow without their start-up noise, so a run prints only what the user needs."""
import contextlib
import io
import logging
import os
import warnings


def import_donkeycar():
    """donkeycar prints a banner and sets logging to INFO at import; keep our output readable."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    with contextlib.redirect_stdout(io.StringIO()):
        import donkeycar
    logging.getLogger().setLevel(logging.WARNING)
    for name in ('donkeycar', 'tensorflow', 'absl', 'h5py'):
        logging.getLogger(name).setLevel(logging.ERROR)
    _keras_advice_off()
    return donkeycar


def import_tensorflow():
    """TensorFlow, with its C++ and Python INFO logs off, and Keras's advice to developers (legacy formats,
    Lambda layers) kept out of what the user reads."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    _keras_advice_off()
    return tf


def _keras_advice_off():
    warnings.filterwarnings('ignore', category=UserWarning, module=r'keras(\.|$)')
