"""Load a pilot from a model file (or take one in memory, or from the car), find out its type, decode its outputs.

With donkeycar installed the pilot is donkeycar's own part (`get_model_by_type`), so decoding (categorical bins,
inferred throttle) is donkeycar's, and its Keras model is looked up through `part.interpreter.model` each time,
never cached (the car's hot reload replaces it). Without donkeycar (upstream's newer stack, a notebook) the file
is loaded with Keras or a TFLite runtime and decoded by the same scores the maps explain.
"""
import os
import re
from dataclasses import dataclass

import numpy as np

from donkey_saliency.errors import UserError, first_line
from donkey_saliency.core.geometry import image_input
from donkey_saliency.quiet import donkeycar_or_none

SUPPORTED_TYPES = ('linear', 'categorical', 'inferred', 'imu', 'memory', 'behavior', 'localizer', 'rnn', '3d')


def output_names(model):
    """The names of a Keras model's outputs (a Keras 3 Sequential has no output_names: its one output is its last
    layer's)."""
    names = getattr(model, 'output_names', None)
    return list(names) if names else [model.layers[-1].name]


def detect_type(model):
    """The donkeycar model type a Keras model's inputs and outputs reveal, or None when they reveal none."""
    inputs = {t.name.split(':')[0] for t in model.inputs}
    outputs = set(output_names(model))
    layer_kinds = {type(layer).__name__ for layer in model.layers}
    if 'TimeDistributed' in layer_kinds:
        return 'rnn'
    if 'Conv3D' in layer_kinds:
        return '3d'
    if 'imu_in' in inputs:
        return 'imu'
    if 'mem_in' in inputs:
        return 'memory'
    if 'xbehavior_in' in inputs:
        return 'behavior'
    if outputs and all(re.fullmatch(r'output_\d+', name) for name in outputs) and hasattr(model, 'output_width'):
        # a .tflite converted under Keras 3 (donkeycar 5.4's keras_to_tflite) names its outputs output_0, ...
        widths = [model.output_width(name) for name in sorted(outputs, key=lambda name: int(name[7:]))]
        return {(1, 1): 'linear', (15, 20): 'categorical', (1,): 'inferred'}.get(
            tuple(widths), 'localizer' if len(widths) == 3 else None)
    if 'zloc' in outputs:
        return 'localizer'
    if {'angle_out', 'throttle_out'} <= outputs:
        return 'categorical'
    if {'n_outputs0', 'n_outputs1'} <= outputs:
        return 'linear'
    if any(len(t.shape) == 5 for t in model.inputs):
        return None  # frames in sequence, layers out of sight (a .tflite): rnn or 3d, which only --type tells
    if len(outputs) == 1:
        return 'inferred'
    return None


PART_KINDS = {'KerasLinear': 'linear', 'KerasCategorical': 'categorical', 'KerasInferred': 'inferred',
              'KerasIMU': 'imu', 'KerasMemory': 'memory', 'KerasBehavioral': 'behavior',
              'KerasLocalizer': 'localizer', 'KerasLSTM': 'rnn', 'Keras3D_CNN': '3d'}
PLAIN = 'model'  # the kind of a plain Keras image model (not donkeycar's): outputs chosen by index or name


@dataclass
class Pilot:
    """A loaded pilot: a donkeycar part (`part`) over a Keras model or a .tflite file (`tflite`), or a plain Keras
    model (`keras`, kind 'model') when donkeycar is not installed or the model is not a donkeycar pilot."""
    kind: str
    path: str
    part: object = None    # the donkeycar KerasPilot, which decodes the outputs as the car does
    tflite: object = None  # the TfLiteModel of a .tflite pilot
    keras: object = None   # the Keras model of a pilot that has no donkeycar part
    throttle_range: float = 0.8  # a categorical pilot's throttle scale without donkeycar (its part has its own)

    @property
    def model(self):
        """The Keras model (looked up each time: the car's hot reload replaces it), or the TfLiteModel."""
        if self.tflite:
            return self.tflite
        return self.part.interpreter.model if self.part is not None else self.keras

    @property
    def array_api(self):
        """numpy, or its TensorFlow twin for Keras pilots, whose outputs are tensors inside a graph."""
        if self.tflite:
            return np
        import tensorflow as tf
        return tf.experimental.numpy

    def score(self, target, xp=np):
        """The function of the model's outputs that a map for `target` explains, one number per frame: steering
        or throttle for a donkeycar pilot; for a plain model, the first unit of the output of that index or name."""
        from donkey_saliency.core import scores
        if self.kind != PLAIN:
            if target not in ('angle', 'throttle'):
                raise UserError(f'a {self.kind} pilot explains angle or throttle, not {target!r}')
            return scores.score_functions(self.kind, getattr(self.part, 'throttle_range', self.throttle_range),
                                          xp)[target]
        names = output_names(self.model)
        index = names.index(target) if target in names else target
        if not isinstance(index, int) or not -len(names) <= index < len(names):
            raise UserError(f'the model has no output {target!r}; choose an index below {len(names)} or one of '
                            f'{", ".join(names)}')
        return scores.column_score(index, xp)

    def predict(self, inputs):
        """The model's raw outputs (a list of arrays) for a batch of inputs in model input order."""
        if self.tflite:
            return self.tflite.run(inputs)
        outputs = self.model([np.asarray(x, np.float32) for x in inputs], training=False)
        return [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]

    @property
    def input_size(self):
        """(height, width, depth) of one image the pilot takes (sequence pilots take several)."""
        return tuple(int(v) for v in image_input(self.model).shape[-3:])

    def zero_inputs(self, count):
        """All-zero inputs for `count` frames, in model input order."""
        return [np.zeros((count,) + tuple(int(v) for v in t.shape[1:]), np.float32) for t in self.model.inputs]

    def decode(self, outputs):
        """Angle and throttle arrays for a batch of raw model outputs: decoded by the donkeycar part itself, as on
        the car; without donkeycar, as its parts' interpreter_to_output decode them; (None, None) for a plain
        model."""
        if self.part is None:
            if self.kind == PLAIN:
                return None, None
            return decode_without_donkeycar(self.kind, outputs, self.throttle_range)
        angles, throttles = [], []
        for i in range(len(outputs[0])):
            sample = outputs[0][i] if len(outputs) == 1 else [o[i] for o in outputs]
            angle, throttle = self.part.interpreter_to_output(sample)[:2]
            angles.append(float(np.squeeze(angle)))
            throttles.append(float(np.squeeze(throttle)))
        return np.array(angles, np.float32), np.array(throttles, np.float32)


def decode_without_donkeycar(kind, outputs, throttle_range):
    """(angles, throttles) as donkeycar 5.3's parts decode a batch: categorical heads by their hottest bin
    (linear_unbin), inferred throttle from the steering, the others by their columns."""
    from donkey_saliency.core import scores
    utils = scores.donkeycar_utils()
    if kind in ('categorical', 'behavior'):
        angles = [utils.linear_unbin(row) for row in outputs[0]]
        throttles = [utils.linear_unbin(row, N=len(row), offset=0.0, R=throttle_range) for row in outputs[1]]
        return np.array(angles, np.float32), np.array(throttles, np.float32)
    functions = scores.score_functions(kind, throttle_range)
    return tuple(np.asarray(functions[t](outputs), np.float32) for t in ('angle', 'throttle'))


def check_model_path(path):
    """Refuse paths that cannot be a pilot before anything heavy is imported."""
    if not os.path.exists(path):
        raise UserError(f'model not found: {path}; pass the pilot file with --model (e.g. models/mypilot.h5)')
    suffix = os.path.splitext(path.rstrip('/'))[1].lower()
    if suffix in ('.trt', '.engine', '.onnx', '.pth', '.pt'):
        raise UserError(f'{path}: {suffix} pilots are not supported; pass a Keras (.h5, .savedmodel, .keras) '
                        'or .tflite file')


def _load_keras(path, dk):
    """(Keras model, donkeycar's KerasInterpreter holding it or None without donkeycar) for the file at `path`."""
    from donkey_saliency.quiet import import_tensorflow
    import_tensorflow()
    import keras  # TensorFlow's own: Keras 2 up to TensorFlow 2.15, Keras 3 from 2.16
    keras_version = keras.__version__
    if path.rstrip('/').lower().endswith('.savedmodel') and int(keras_version.split('.')[0]) >= 3:
        on = f'donkeycar {dk.__version__} with Keras {keras_version}' if dk else f'Keras {keras_version}'
        raise UserError(f'{path}: {on} cannot load a .savedmodel pilot (donkeycar 5.4 dropped the format); load '
                        'it on donkeycar 5.3 (Python 3.11) and save it as .h5 or .keras, or pass its .tflite')
    try:
        if dk is None:
            custom = keras2_layers() if int(keras_version.split('.')[0]) >= 3 else None
            return import_tensorflow().keras.models.load_model(path, compile=False, custom_objects=custom), None
        from donkeycar.parts.interpreter import KerasInterpreter
        interpreter = KerasInterpreter()
        interpreter.load(path)
        return interpreter.model, interpreter
    except Exception as exc:  # Keras raises many types for a file that is not a model
        saved = _saved_by(path)
        if saved and int(keras_version.split('.')[0]) >= 3 and int(saved.split('.')[0]) < 3:
            raise UserError(f'{path} was saved by Keras {saved}, which Keras {keras_version} cannot read '
                            f'({_cut(first_line(exc), 100)}); read it with the donkeycar 5.3 set-up (Python 3.11, '
                            'pip install ".[pc]"), or load it there and save it as .keras') from None
        raise UserError(f'cannot load {path} as a Keras model ({_cut(first_line(exc), 200)}); '
                        'pass a pilot saved by donkeycar (.h5, .savedmodel, .keras or .tflite)') from None


def _cut(text, length):
    """`text`, or its first words within `length` characters and '...': a Keras error can hold a whole config."""
    return text if len(text) <= length else text[:length].rsplit(' ', 1)[0] + '...'


def _saved_by(path):
    """The Keras version an .h5 file says it was saved by (its `keras_version` attribute), or None."""
    try:
        import h5py
        with h5py.File(path, 'r') as f:
            version = f.attrs.get('keras_version')
    except Exception:  # not an HDF5 file, or no h5py: nothing to tell
        return None
    return version.decode() if isinstance(version, bytes) else version


def keras2_layers():
    """Layers as Keras 3 must read them from a Keras 2 .h5 (donkeycar 5.3's files): its LSTM config carries
    `time_major`, which Keras 3's LSTM refuses (donkeycar's rnn pilot; the option only ever was False there), and
    donkeycar's imu, memory and behavior pilots join their branches with tf.concat, saved as a TFOpLambda layer,
    which Keras 3 does not have (here: keras.ops.concatenate, the same operation)."""
    import keras

    class LSTM(keras.layers.LSTM):
        def __init__(self, *args, time_major=False, **kwargs):
            super().__init__(*args, **kwargs)

    class TFOpLambda(keras.layers.Layer):
        def __init__(self, function, **kwargs):
            if function != 'concat':
                raise ValueError(f'its Keras 2 layer calling tf.{function} has no Keras 3 equivalent here')
            super().__init__(**{k: v for k, v in kwargs.items() if k in ('name', 'trainable', 'dtype')})

        def call(self, values, axis=-1):
            return keras.ops.concatenate(values, axis=axis)

        def get_config(self):
            return {**super().get_config(), 'function': 'concat'}
    return {'LSTM': LSTM, 'TFOpLambda': TFOpLambda}


def _config_for(model, cfg):
    """A copy of the car config whose model settings match the file, so donkeycar builds the matching pilot."""
    from donkey_saliency.core.carconfig import copy
    cfg = copy(cfg)  # the car's own IMAGE_* stay as they are
    image = image_input(model)
    cfg.IMAGE_H, cfg.IMAGE_W, cfg.IMAGE_DEPTH = (int(v) for v in image.shape[-3:])
    if len(image.shape) == 5:
        cfg.SEQUENCE_LENGTH = int(image.shape[1])
    shapes = {t.name.split(':')[0]: t.shape for t in model.inputs}
    if 'xbehavior_in' in shapes:
        cfg.BEHAVIOR_LIST = [f'behaviour {i}' for i in range(int(shapes['xbehavior_in'][-1]))]
    if 'mem_in' in shapes:
        cfg.SEQUENCE_LENGTH = int(shapes['mem_in'][-1]) // 2
    if 'zloc' in output_names(model):
        cfg.NUM_LOCATIONS = model.output_width('zloc') if hasattr(model, 'output_width') \
            else int(model.get_layer('zloc').output.shape[-1])
    return cfg


def load_pilot(path, model_type=None, cfg=None):
    """Load `path` as a pilot of `model_type` (None: detect it from the file). With donkeycar installed the pilot
    is donkeycar's own part (`get_model_by_type`), configured from `cfg` (None: donkeycar's defaults)."""
    check_model_path(path)
    from donkey_saliency.core.tflite import TfLiteModel, is_tflite
    if model_type and model_type.startswith('tensorrt_'):
        raise UserError(f'--type {model_type}: TensorRT pilots are not supported; pass the Keras or .tflite file')
    if model_type and model_type.startswith('tflite_') and not is_tflite(path):
        raise UserError(f'--type {model_type} needs a .tflite file, and {path} is not one')
    dk = donkeycar_or_none()
    model, interpreter = (TfLiteModel(path), None) if is_tflite(path) else _load_keras(path, dk)
    found = detect_type(model)
    requested = model_type.replace('tflite_', '') if model_type else None
    kind = requested or found
    if kind is None:
        raise UserError(f'cannot tell the pilot type of {path} from its outputs {output_names(model)}; '
                        f'pass --type ({", ".join(SUPPORTED_TYPES)})')
    if requested and found and requested != found:
        meant = model_type.replace(requested, found)  # as typed: tflite_linear for tflite_categorical
        raise UserError(f'--type {model_type} contradicts {path}, which is a {found} pilot; '
                        f'pass --type {meant} or leave --type out')
    if kind not in SUPPORTED_TYPES:
        raise UserError(f'unknown --type {model_type}; supported: {", ".join(SUPPORTED_TYPES)} (each also with '
                        'tflite_ before it)')
    tflite = model if is_tflite(path) else None
    if cfg is None:
        from donkey_saliency.core import carconfig
        cfg, _ = carconfig.load(None)
    if dk is None:
        return Pilot(kind, path, tflite=tflite, keras=None if tflite else model,
                     throttle_range=float(getattr(cfg, 'MODEL_CATEGORICAL_MAX_THROTTLE_RANGE', 0.8)))
    part = _part(dk, kind, model, cfg)
    if tflite:
        return Pilot(kind, path, part, tflite)
    part.interpreter = interpreter
    return Pilot(kind, path, part)


def _part(dk, kind, model, cfg):
    """donkeycar's part of `kind` configured for `model`, built as a TFLite part so that donkeycar builds no
    default Keras model of its own (which fails for small inputs); a Keras pilot then gets its interpreter.
    A donkeycar whose get_model_by_type does not build it (a release this tool does not know) gets one line."""
    try:
        return dk.utils.get_model_by_type(f'tflite_{kind}', _config_for(model, cfg))
    except Exception as exc:
        raise UserError(f'donkeycar {getattr(dk, "__version__", "?")} cannot build its {kind} pilot part '
                        f'({first_line(exc)}); this tool is tested with donkeycar 5.3, and without donkeycar (its own '
                        'loader): install donkeycar 5.3 (Python 3.11) or leave donkeycar out of this environment'
                        ) from None


def from_model(model):
    """A Pilot for a plain Keras image model in memory (not necessarily donkeycar's): its outputs are chosen by
    index or name. A donkeycar pilot file is better loaded with `load_pilot`, which decodes it as the car does."""
    return Pilot(PLAIN, getattr(model, 'name', 'model'), keras=model)


def of_part(kl, model_path=None):
    """The Pilot of a donkeycar part as the car built it (its kind from its class); a .tflite part's file is
    opened again (`model_path`) to read its maps or intermediate tensors."""
    kind = PART_KINDS.get(type(kl).__name__) or next(
        (k for name, k in PART_KINDS.items() if isinstance(kl, _part_class(name))), None)
    if kind is None:
        raise UserError(f'{type(kl).__name__} is not a donkeycar pilot this tool knows ({", ".join(PART_KINDS)})')
    if type(kl.interpreter).__name__ == 'TfLite':
        if not model_path:
            raise UserError('a .tflite pilot needs its model_path: add_saliency(V, cfg, kl, inputs, outputs, '
                            'model_path)')
        from donkey_saliency.core.tflite import TfLiteModel
        return Pilot(kind, model_path, kl, TfLiteModel(model_path))
    return Pilot(kind, model_path, kl)


def _part_class(name):
    import donkeycar.parts.keras as keras_parts
    return getattr(keras_parts, name)
