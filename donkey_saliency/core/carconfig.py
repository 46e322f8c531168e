"""The car's settings: its config.py/myconfig.py when given, donkeycar's defaults otherwise.

Only a few keys matter here: the image size, the TRANSFORMATIONS the car applies before the pilot, the drive
loop rate, and the categorical throttle range.
"""
import os

from donkey_saliency.errors import UserError
from donkey_saliency.quiet import import_donkeycar


def load(config_path):
    """(cfg, from_car): the car's config when `config_path` is given, donkeycar's template defaults when not."""
    try:
        dk = import_donkeycar()
    except ImportError:
        raise UserError('reading a car config needs donkeycar: pip install "donkey-saliency[pc]"') from None
    if config_path:
        path = os.path.expanduser(config_path)
        if os.path.isdir(path):
            path = os.path.join(path, 'config.py')
        if not os.path.isfile(path):
            raise UserError(f'car config not found: {config_path}; pass the config.py of your car '
                            '(its myconfig.py is read too) or leave --config out')
        try:
            return dk.load_config(path), True
        except Exception as exc:
            raise UserError(f'cannot read car config {config_path}: {exc}') from None
    cfg = dk.config.Config()
    cfg.from_pyfile(os.path.join(os.path.dirname(dk.__file__), 'templates', 'cfg_complete.py'))
    cfg.TRANSFORMATIONS, cfg.POST_TRANSFORMATIONS = [], []
    return cfg, False


def transformation_names(cfg):
    """The transformations the car applies before its pilot, in order (TRANSFORMATIONS, then POST_...)."""
    return list(getattr(cfg, 'TRANSFORMATIONS', None) or []) + list(getattr(cfg, 'POST_TRANSFORMATIONS', None) or [])


def transformer(cfg):
    """The car's own image transformation part, or None when the car applies none."""
    steps = transformation_names(cfg)
    if not steps:
        return None
    from donkeycar.parts.image_transformations import ImageTransformations
    try:
        # its constructor extends cfg.TRANSFORMATIONS in place: hand it a copy
        return ImageTransformations(copy(cfg), 'TRANSFORMATIONS', 'POST_TRANSFORMATIONS')
    except Exception as exc:
        raise UserError(f'the car config asks for transformations {steps} that donkeycar cannot build: {exc}') from None


def copy(cfg):
    """A copy of a donkeycar Config whose list values can be changed without touching the original."""
    clone = type(cfg)()
    for key in dir(cfg):
        if key.isupper():
            value = getattr(cfg, key)
            setattr(clone, key, list(value) if isinstance(value, list) else value)
    return clone
