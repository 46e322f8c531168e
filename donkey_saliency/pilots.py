"""Load a donkeycar pilot from a model file, find out its type, and decode its raw outputs.

The pilot is built by donkeycar's own `get_model_by_type`, so decoding (categorical bins, inferred throttle) is
donkeycar's; its Keras model is looked up through `pilot.interpreter.model` each time, never cached.
"""
import os
from dataclasses import dataclass

import numpy as np

from donkey_saliency.errors import UserError
from donkey_saliency.geometry import image_input
from donkey_saliency.quiet import import_donkeycar

SUPPORTED_TYPES = ('linear', 'categorical', 'inferred', 'imu', 'memory', 'behavior', 'localizer', 'rnn', '3d')


def detect_type(model):
    """The donkeycar model type a Keras model's inputs and outputs reveal, or None when they reveal none."""
    inputs = {t.name.split(':')[0] for t in model.inputs}
    outputs = set(model.output_names)
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
    if 'zloc' in outputs:
        return 'localizer'
    if {'angle_out', 'throttle_out'} <= outputs:
        return 'categorical'
    if {'n_outputs0', 'n_outputs1'} <= outputs:
        return 'linear'
    if len(outputs) == 1:
        return 'inferred'
    return None


@dataclass
class Pilot:
    """A loaded donkeycar pilot and what it was loaded from: a Keras model, or a .tflite file (`tflite`)."""
    kind: str
    path: str
    part: object  # the donkeycar KerasPilot
    tflite: object = None  # the TfLiteModel of a .tflite pilot

    @property
    def model(self):
        """The Keras model (looked up each time: the car's hot reload replaces it), or the TfLiteModel."""
        return self.tflite or self.part.interpreter.model

    @property
    def array_api(self):
        """numpy, or its TensorFlow twin for Keras pilots, whose outputs are tensors inside a graph."""
        if self.tflite:
            return np
        import tensorflow as tf
        return tf.experimental.numpy

    def method_class(self, name):
        """The class that computes method `name` for this pilot."""
        if self.tflite:
            from donkey_saliency.tflite import GRADIENT_METHODS_HINT, TFLITE_METHODS
            if name not in TFLITE_METHODS:
                raise UserError(f'--method {name} cannot run on a .tflite pilot: {GRADIENT_METHODS_HINT}')
            return TFLITE_METHODS[name]
        from donkey_saliency.methods import get_method
        return get_method(name)

    @property
    def input_size(self):
        """(height, width, depth) of one image the pilot takes (sequence pilots take several)."""
        return tuple(int(v) for v in image_input(self.model).shape[-3:])

    def zero_inputs(self, count):
        """All-zero inputs for `count` frames, in model input order."""
        return [np.zeros((count,) + tuple(int(v) for v in t.shape[1:]), np.float32) for t in self.model.inputs]

    def decode(self, outputs):
        """Angle and throttle arrays for a batch of raw model outputs, decoded by the pilot itself."""
        angles, throttles = [], []
        for i in range(len(outputs[0])):
            sample = outputs[0][i] if len(outputs) == 1 else [o[i] for o in outputs]
            angle, throttle = self.part.interpreter_to_output(sample)[:2]
            angles.append(float(np.squeeze(angle)))
            throttles.append(float(np.squeeze(throttle)))
        return np.array(angles, np.float32), np.array(throttles, np.float32)


def check_model_path(path):
    """Refuse paths that cannot be a pilot before anything heavy is imported."""
    if not os.path.exists(path):
        raise UserError(f'model not found: {path}; pass the pilot file with --model (e.g. models/mypilot.h5)')
    suffix = os.path.splitext(path.rstrip('/'))[1].lower()
    if suffix in ('.trt', '.engine', '.onnx', '.pth', '.pt'):
        raise UserError(f'{path}: {suffix} pilots are not supported; pass a Keras (.h5, .savedmodel, .keras) '
                        'or .tflite file')


def _load_keras(path):
    dk = import_donkeycar()
    from donkeycar.parts.interpreter import KerasInterpreter
    interpreter = KerasInterpreter()
    try:
        interpreter.load(path)
    except Exception as exc:  # Keras raises many types for a file that is not a model
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f'cannot load {path} as a Keras model ({first_line}); '
                        'pass a pilot saved by donkeycar (.h5, .savedmodel, .keras or .tflite)') from None
    return dk, interpreter


def _config_for(model, cfg):
    """A copy of the car config whose model settings match the file, so donkeycar builds the matching pilot."""
    from donkey_saliency.carconfig import copy
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
    if 'zloc' in model.output_names:
        cfg.NUM_LOCATIONS = model.output_width('zloc') if hasattr(model, 'output_width') \
            else int(model.get_layer('zloc').output.shape[-1])
    return cfg


def load_pilot(path, model_type, cfg):
    """Load `path` as a pilot of `model_type` (None: detect it from the file) using donkeycar's API."""
    check_model_path(path)
    from donkey_saliency.tflite import TfLiteModel, is_tflite
    if model_type and model_type.startswith('tensorrt_'):
        raise UserError(f'--type {model_type}: TensorRT pilots are not supported; pass the Keras or .tflite file')
    if model_type and model_type.startswith('tflite_') and not is_tflite(path):
        raise UserError(f'--type {model_type} needs a .tflite file, and {path} is not one')
    if is_tflite(path):
        dk, tflite = import_donkeycar(), TfLiteModel(path)
        model = tflite
    else:
        (dk, interpreter), tflite = _load_keras(path), None
        model = interpreter.model
    found = detect_type(model)
    requested = model_type.replace('tflite_', '') if model_type else None
    kind = requested or found
    if kind is None:
        raise UserError(f'cannot tell the pilot type of {path} from its outputs {model.output_names}; '
                        f'pass --type ({", ".join(SUPPORTED_TYPES)})')
    if requested and found and requested != found:
        raise UserError(f'--type {requested} contradicts {path}, which is a {found} pilot; '
                        f'pass --type {found} or leave --type out')
    if kind not in SUPPORTED_TYPES:
        raise UserError(f'unknown --type {kind}; supported: {", ".join(SUPPORTED_TYPES)}')
    if tflite:  # donkeycar's own TFLite part decodes the outputs; no Keras model is built
        return Pilot(kind, path, dk.utils.get_model_by_type(f'tflite_{kind}', _config_for(model, cfg)), tflite)
    part = dk.utils.get_model_by_type(kind, _config_for(model, cfg))
    part.interpreter = interpreter
    return Pilot(kind, path, part)
