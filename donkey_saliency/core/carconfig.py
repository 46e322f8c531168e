"""The car's settings: its config.py/myconfig.py when given, donkeycar's defaults otherwise.

Only a few keys matter here: the image size, the TRANSFORMATIONS the car applies before the pilot, the drive
loop rate, and the categorical throttle range. With donkeycar installed, its own `load_config`, template and
`ImageTransformations` are used; without it (upstream's Python 3.12 stack, where donkeycar 5.3 does not install),
the config is read exactly as donkeycar's `load_config` reads it and the transformations are the twins in
core/transforms.py.
"""
import os
import types

from donkey_saliency.errors import UserError, described, first_line
from donkey_saliency.quiet import donkeycar_or_none

# the keys this tool reads when no car config is given and donkeycar's template is not at hand (its values there)
DEFAULTS = {'IMAGE_W': 160, 'IMAGE_H': 120, 'IMAGE_DEPTH': 3, 'DRIVE_LOOP_HZ': 20, 'SEQUENCE_LENGTH': 3,
            'MODEL_CATEGORICAL_MAX_THROTTLE_RANGE': 0.8, 'TRANSFORMATIONS': [], 'POST_TRANSFORMATIONS': []}


class Config:
    """donkeycar.config.Config without donkeycar: the upper-case names of the executed config files."""

    def from_pyfile(self, filename):
        module = types.ModuleType('config')
        module.__file__ = filename
        with open(filename, mode='rb') as config_file:
            exec(compile(config_file.read(), filename, 'exec'), module.__dict__)
        self.from_object(module)
        return True

    def from_object(self, obj):
        for key in dir(obj):
            if key.isupper():
                setattr(self, key, getattr(obj, key))


def read_config(config_path, myconfig='myconfig.py'):
    """donkeycar.load_config(config_path): config.py executed, then the myconfig.py found by the same name
    replacement donkeycar makes, its values over the first."""
    cfg = Config()
    cfg.from_pyfile(config_path)
    personal = config_path.replace('config.py', myconfig)
    if os.path.exists(personal):
        overrides = Config()
        overrides.from_pyfile(personal)
        cfg.from_object(overrides)
    return cfg


def resolve(config_path):
    """The config.py that `config_path` names: itself, the one in a folder given, or the one beside a myconfig.py
    given (donkeycar reads a car's myconfig.py over its config.py, never alone); None without a path."""
    if not config_path:
        return None
    path = os.path.expanduser(config_path)
    if os.path.isdir(path):
        path = os.path.join(path, 'config.py')
    elif os.path.basename(path) == 'myconfig.py':
        beside = os.path.join(os.path.dirname(path), 'config.py')
        if not os.path.isfile(beside):
            raise UserError(f'{config_path} is a myconfig.py, which donkeycar reads over the config.py beside it, '
                            'and there is none there; pass the car\'s config.py (its myconfig.py is read too)')
        path = beside
    if not os.path.isfile(path):
        raise UserError(f'car config not found: {config_path}; pass the config.py of your car '
                        '(its myconfig.py is read too) or leave --config out')
    return path


def used(config_path):
    """Which car config a run used, in words: the config.py (and its myconfig.py when there is one), or none."""
    path = resolve(config_path)
    if path is None:
        return "none (donkeycar's defaults; pass the car's config.py with --config)"
    personal = os.path.join(os.path.dirname(path), 'myconfig.py')
    return path + (f' with {personal}' if os.path.isfile(personal) else '')


def load(config_path):
    """(cfg, from_car): the car's config when `config_path` is given, donkeycar's template defaults when not."""
    dk = donkeycar_or_none()
    if config_path:
        path = resolve(config_path)
        try:
            return (dk.load_config(path) if dk else read_config(path)), True
        except Exception as exc:
            raise UserError(f'cannot read car config {config_path}: {first_line(exc)}') from None
    if dk is None:
        cfg = Config()
        for key, value in DEFAULTS.items():
            setattr(cfg, key, list(value) if isinstance(value, list) else value)
        return cfg, False
    cfg = dk.config.Config()
    cfg.from_pyfile(os.path.join(os.path.dirname(dk.__file__), 'templates', 'cfg_complete.py'))
    cfg.TRANSFORMATIONS, cfg.POST_TRANSFORMATIONS = [], []
    return cfg, False


def transformation_names(cfg):
    """The transformations the car applies before its pilot, in order (TRANSFORMATIONS, then POST_...)."""
    return list(getattr(cfg, 'TRANSFORMATIONS', None) or []) + list(getattr(cfg, 'POST_TRANSFORMATIONS', None) or [])


def transformer(cfg):
    """The car's own image transformation part (its twin without donkeycar), or None when the car applies none."""
    steps = transformation_names(cfg)
    if not steps:
        return None
    if donkeycar_or_none() is None:
        from donkey_saliency.core import transforms
        return transforms.transformer(steps, cfg)
    from donkeycar.parts.image_transformations import ImageTransformations
    try:
        # its constructor extends cfg.TRANSFORMATIONS in place: hand it a copy
        return ImageTransformations(copy(cfg), 'TRANSFORMATIONS', 'POST_TRANSFORMATIONS')
    except Exception as exc:
        raise UserError(f'the car config asks for transformations {steps} that donkeycar cannot build: '
                        f'{described(exc)}') from None


def copy(cfg):
    """A copy of a donkeycar Config whose list values can be changed without touching the original."""
    clone = type(cfg)()
    for key in dir(cfg):
        if key.isupper():
            value = getattr(cfg, key)
            setattr(clone, key, list(value) if isinstance(value, list) else value)
    return clone
