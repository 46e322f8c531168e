"""A .tflite pilot: batched inference, and its conv geometry read from its graph, without TensorFlow.

Runs on donkeycar's TFLite interpreter (tflite-runtime, ai-edge-litert, or TensorFlow's), created with
`experimental_preserve_all_tensors` so the conv layers' outputs can be read after `invoke()`; that roughly doubles
latency, which is why an exported twin with the map built in is faster on the car. Kernel sizes come from the
filter tensors; strides and padding are solved from the tensor shapes (the interpreter does not expose op options).
The op list comes from the interpreter's `_get_ops_details()`, the only view of the graph it offers.
"""
import functools
import os
from dataclasses import dataclass

import numpy as np

from donkey_saliency.errors import UserError
from donkey_saliency.keys import is_map_output
from donkey_saliency.core.geometry import AxisStep, FeatureStage, Geometry, SpatialLayer

CONV_OPS = {'CONV_2D', 'DEPTHWISE_CONV_2D'}
POOL_OPS = {'MAX_POOL_2D', 'AVERAGE_POOL_2D'}
PASS_OPS = {'RELU', 'RELU6', 'LEAKY_RELU', 'LOGISTIC', 'TANH', 'ADD', 'MUL', 'SUB', 'QUANTIZE', 'DEQUANTIZE'}


@dataclass
class TensorSpec:
    """Name and shape of a model input, shaped like a Keras input tensor's (batch first)."""
    name: str
    shape: tuple


def interpreter_class():
    """The TFLite Interpreter class of whichever runtime is installed: donkeycar's choice when donkeycar is there,
    else ai-edge-litert, tflite-runtime, then TensorFlow's own (the Pi has no TensorFlow)."""
    try:
        from donkey_saliency.quiet import import_donkeycar
        import_donkeycar()
        from donkeycar.parts.interpreter import get_tflite_interpreter
        return get_tflite_interpreter()
    except ImportError:
        pass
    for module in ('ai_edge_litert.interpreter', 'tflite_runtime.interpreter', 'tensorflow.lite'):
        try:
            return __import__(module, fromlist=['Interpreter']).Interpreter
        except ImportError:
            continue
    raise UserError('no TFLite runtime is installed; pip install ai-edge-litert (or tflite-runtime, or tensorflow)')


def _interpreter(path, preserve):
    Interpreter = interpreter_class()
    try:
        return Interpreter(model_path=path, experimental_preserve_all_tensors=preserve)
    except (ValueError, RuntimeError) as exc:
        raise UserError(f'cannot load {path} as a TFLite model ({str(exc).splitlines()[0]})') from None


def solve_axis(n_in, n_out, kernel):
    """(stride, pad) that make a window of `kernel` map n_in positions to n_out, VALID tried before SAME."""
    for stride in range(1, 9):
        if (n_in - kernel) // stride + 1 == n_out:
            return stride, 0
        if -(-n_in // stride) == n_out:
            return stride, max((n_out - 1) * stride + kernel - n_in, 0) // 2
    raise UserError(f'cannot tell the stride of a {kernel}-wide window from {n_in} to {n_out} positions')


class TfLiteModel:
    """The .tflite file as the rest of the package needs it: inputs, output names, run(), geometry, features.

    A file made by `donkey saliency export` carries its maps as extra outputs (`exported`): read them with
    `maps()`, no intermediate tensors needed. A plain file is opened so its conv outputs stay readable.
    """

    def __init__(self, path):
        self.path = path
        self.interpreter = _interpreter(path, preserve=False)
        signature = self.interpreter.get_signature_list().get('serving_default')
        if not signature:
            raise UserError(f'{path} has no serving_default signature; convert it with donkeycar (keras_to_tflite)')
        self.map_names = [name for name in signature['outputs'] if is_map_output(name)]
        self.exported = bool(self.map_names)
        if not self.exported:
            self.interpreter = _interpreter(path, preserve=True)
        runner = self.interpreter.get_signature_runner()
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
        self.output_names = [name for name in signature['outputs'] if not is_map_output(name)]
        self.output_indexes = [outputs[name]['index'] for name in self.output_names]
        self.map_indexes = {name: outputs[name]['index'] for name in self.map_names}
        self.output_width = lambda name: int(outputs[name]['shape'][-1])
        self.input_details = [inputs[name] for name in signature['inputs']]
        self.inputs = [TensorSpec(name, (None,) + tuple(int(v) for v in d['shape'][1:]))
                       for name, d in zip(signature['inputs'], self.input_details)]
        self.image_index = next(i for i, spec in enumerate(self.inputs) if len(spec.shape) in (4, 5))
        self.input_size = self.inputs[self.image_index].shape[-3:-1]
        self.layers = []  # no Keras layers: type detection goes by input and output names
        self._batch = None

    def run(self, inputs):
        """Outputs (a list, one (n, ...) array per output) for a batch of inputs in model input order."""
        count = len(inputs[0])
        if self._batch != count:
            for detail, x in zip(self.input_details, inputs):
                self.interpreter.resize_tensor_input(detail['index'], (count,) + tuple(x.shape[1:]))
            self.interpreter.allocate_tensors()
            self._batch = count
        for detail, x in zip(self.input_details, inputs):
            self.interpreter.set_tensor(detail['index'], np.ascontiguousarray(x, np.float32))
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(index).copy() for index in self.output_indexes]

    def maps(self, name):
        """An exported map output of the last run(): (n, H, W)."""
        return self.interpreter.get_tensor(self.map_indexes[name]).copy()

    def features(self):
        """The conv stages' outputs from the last run(), deepest last."""
        return [self.interpreter.get_tensor(stage.tensor) for stage in self.geometry.stages]

    @functools.cached_property
    def geometry(self):
        """The conv chain from the image input, read from the graph (only plain files need it)."""
        tensors = {t['index']: t for t in self.interpreter.get_tensor_details()}
        ops = self.interpreter._get_ops_details()
        image = self.input_details[self.image_index]
        if len(image['shape']) == 5:
            raise UserError(f'{self.path} is a sequence pilot (rnn/3d); as .tflite those are not supported, '
                            'use its Keras file')
        geometry = Geometry(input_size=self.input_size)
        current = image['index']
        while True:
            op = next((o for o in ops if len(o['inputs']) and o['inputs'][0] == current), None)
            if op is None or op['op_name'] not in CONV_OPS | POOL_OPS | PASS_OPS:
                break
            out = op['outputs'][0]
            in_size = tuple(int(v) for v in tensors[current]['shape'][1:3])
            out_size = tuple(int(v) for v in tensors[out]['shape'][1:3])
            if op['op_name'] in CONV_OPS | POOL_OPS:
                if op['op_name'] in CONV_OPS:
                    kernel = tuple(int(v) for v in tensors[op['inputs'][1]]['shape'][1:3])
                else:  # pooling windows are not in any tensor: the smallest window that fits the shapes
                    kernel = tuple(max(1, -(-n_in // n_out)) for n_in, n_out in zip(in_size, out_size))
                steps = [AxisStep(kernel[a], *solve_axis(in_size[a], out_size[a], kernel[a]), 1, in_size[a],
                                  out_size[a]) for a in range(2)]
                kind = 'conv' if op['op_name'] in CONV_OPS else 'pool'
                geometry.layers.append(SpatialLayer(f'op{op["index"]}', kind, *steps))
                if kind == 'conv':
                    geometry.stages.append(FeatureStage(f'op{op["index"]}', out, out_size))
                    geometry.stage_after.append(len(geometry.layers))
            elif geometry.stage_after and geometry.stage_after[-1] == len(geometry.layers) and in_size == out_size:
                geometry.stages[-1].tensor = out  # a separate activation after the conv
            current = out
        if not geometry.stages:
            raise UserError(f'{self.path} has no convolution after its image input; saliency needs a CNN pilot')
        return geometry


def is_tflite(path):
    return os.path.splitext(path.rstrip('/'))[1].lower() == '.tflite'
