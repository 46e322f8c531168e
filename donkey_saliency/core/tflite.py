"""A .tflite pilot: batched inference, and its conv geometry read from its graph, without TensorFlow.

Runs on donkeycar's TFLite interpreter (tflite-runtime, ai-edge-litert, or TensorFlow's), created with
`experimental_preserve_all_tensors` so the conv layers' outputs can be read after `invoke()`; that roughly doubles
latency, which is why an exported twin with the map built in is faster on the car. The interpreter does not
expose op options, so each spatial op's window is found by trial on a probe input (see `geometry`). The op list
comes from the interpreter's `_get_ops_details()`, the only view of the graph it offers.
"""
import functools
import os
from dataclasses import dataclass

import numpy as np

from donkey_saliency.errors import UserError, first_line
from donkey_saliency.keys import is_map_output
from donkey_saliency.core.geometry import AxisStep, FeatureStage, Geometry, SpatialLayer, same_pad

CONV_OPS = {'CONV_2D', 'DEPTHWISE_CONV_2D'}
POOL_OPS = {'MAX_POOL_2D', 'AVERAGE_POOL_2D'}
PASS_OPS = {'RELU', 'RELU6', 'LEAKY_RELU', 'LOGISTIC', 'TANH', 'ADD', 'MUL', 'SUB', 'QUANTIZE', 'DEQUANTIZE'}


@dataclass
class TensorSpec:
    """Name and shape of a model input, shaped like a Keras input tensor's (batch first)."""
    name: str
    shape: tuple


OUTPUTS_THREADS = None  # the outputs-only interpreter's threads; None: every core this process may use. Set by
# whoever shares the cores: a --jobs worker (its share), the car (one: the drive loop's other parts need theirs)


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
        except (ImportError, AttributeError):  # TensorFlow 2.21 has no tf.lite.Interpreter
            continue
    raise UserError('no TFLite runtime is installed (TensorFlow 2.21 leaves it to ai-edge-litert); '
                    'pip install ai-edge-litert (or tflite-runtime)')


def _interpreter(path, preserve, threads=None):
    import warnings
    Interpreter = interpreter_class()
    try:
        with warnings.catch_warnings():  # ai-edge-litert's warning that keeping the tensors costs memory: we mean it
            warnings.filterwarnings('ignore', message='.*experimental_preserve_all_tensors', category=UserWarning)
            return Interpreter(model_path=path, experimental_preserve_all_tensors=preserve, num_threads=threads)
    except (ValueError, RuntimeError) as exc:
        raise UserError(f'cannot load {path} as a TFLite model ({first_line(exc)})') from None


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
        _refuse_quantized(path, {**inputs, **outputs})
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
        self._batches = {}  # the batch size each interpreter is allocated for

    def run(self, inputs):
        """Outputs (a list, one (n, ...) array per output) for a batch of inputs in model input order."""
        self._allocate(self.interpreter, [x.shape for x in inputs])
        for detail, x in zip(self.input_details, inputs):
            self.interpreter.set_tensor(detail['index'], np.ascontiguousarray(x, np.float32))
        self.interpreter.invoke()
        return self._outputs(self.interpreter)

    def run_filled(self, fill, count):
        """Outputs for a batch of `count` that `fill(buffers)` writes straight into the input buffers (one
        (count, ...) float32 array per input, in model input order), when nothing else of the call will be
        read (occlusion's windows): on an interpreter of its own that keeps no intermediate tensors, several
        times faster on a plain file, so that the main one keeps its batch size and what features() and maps()
        read of its last run."""
        interpreter = self._outputs_interpreter
        self._allocate(interpreter, [(count,) + spec.shape[1:] for spec in self.inputs])
        buffers = [interpreter.tensor(detail['index'])() for detail in self.input_details]
        fill(buffers)
        del buffers  # (invoke refuses to run while views of its buffers are held)
        interpreter.invoke()
        return self._outputs(interpreter)

    def _allocate(self, interpreter, shapes):
        """Size `interpreter`'s inputs for a batch of `shapes` when the batch size changed (each change
        reallocates, a return to batch 1 included)."""
        count = shapes[0][0]
        if self._batches.get(id(interpreter)) != count:
            for detail, shape in zip(self.input_details, shapes):
                interpreter.resize_tensor_input(detail['index'], tuple(shape))
            from donkey_saliency.quiet import native_stderr_off
            with native_stderr_off():  # the runtime's "INFO: Created TensorFlow Lite XNNPACK delegate" (errors raise)
                interpreter.allocate_tensors()
            self._batches[id(interpreter)] = count

    def _outputs(self, interpreter):
        return [interpreter.get_tensor(index).copy() for index in self.output_indexes]

    @functools.cached_property
    def _outputs_interpreter(self):
        """The file opened again without preserved tensors (its tensor indexes are the same: one file), on
        OUTPUTS_THREADS threads: its batches are large (a frame's windows), so they divide well (occlusion runs
        faster on two threads than on one)."""
        from donkey_saliency import cores
        return _interpreter(self.path, preserve=False, threads=OUTPUTS_THREADS or cores.usable())

    def maps(self, name):
        """An exported map output of the last run(): (n, H, W)."""
        return self.interpreter.get_tensor(self.map_indexes[name]).copy()

    def features(self):
        """The conv stages' outputs from the last run(), deepest last."""
        return [self.interpreter.get_tensor(stage.tensor) for stage in self.geometry.stages]

    @functools.cached_property
    def geometry(self):
        """The conv chain from the image input, read from the graph (only plain files need it).

        The interpreter shows no op options (strides, padding, dilation, pooling windows, fused activations), so
        each spatial op's geometry is found by trial: among the windows that give its output shape, the one
        whose numpy result equals what the op computed on a probe input. An op that no window explains, or that
        cannot be traced (dilation rewritten as SPACE_TO_BATCH_ND, padding ops), is refused with one line:
        never a map from a guessed geometry.
        """
        tensors = {t['index']: t for t in self.interpreter.get_tensor_details()}
        ops = self.interpreter._get_ops_details()
        image = self.input_details[self.image_index]
        if len(image['shape']) == 5:
            raise UserError(f'{self.path} is a sequence pilot (rnn/3d); as .tflite those are not supported, '
                            'use its Keras file')
        probe = [np.random.default_rng(0).random((1,) + tuple(spec.shape[1:]), dtype=np.float32)
                 if i == self.image_index else np.zeros((1,) + tuple(spec.shape[1:]), np.float32)
                 for i, spec in enumerate(self.inputs)]
        self.run(probe)
        value = self.interpreter.get_tensor
        geometry = Geometry(input_size=self.input_size)
        current = image['index']
        while True:
            consumers = [o for o in ops if len(o['inputs']) and o['inputs'][0] == current]
            if len(consumers) != 1 or len(tensors[consumers[0]['outputs'][0]]['shape']) != 4:
                break  # the spatial chain ends (flatten, global pooling, dense) or branches
            op = consumers[0]
            name, out = op['op_name'], op['outputs'][0]
            if name not in CONV_OPS | POOL_OPS | PASS_OPS:
                raise UserError(f'{self.path}: cannot trace its {name} op (op {op["index"]}) back to the image, '
                                'so VisualBackProp cannot be read from it; make a twin with the map built in from '
                                'the Keras file (donkey saliency export)')
            in_size = tuple(int(v) for v in tensors[current]['shape'][1:3])
            out_size = tuple(int(v) for v in tensors[out]['shape'][1:3])
            if name in CONV_OPS | POOL_OPS:
                weights = [value(i) for i in op['inputs'][1:] if i >= 0]
                steps = _solve_window(name, value(current)[0], value(out)[0], weights, in_size, out_size)
                if steps is None:
                    raise UserError(f'{self.path}: no window explains its {name} op (op {op["index"]}); make a '
                                    'twin with the map built in from the Keras file (donkey saliency export)')
                kind = 'conv' if name in CONV_OPS else 'pool'
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


def _axis_candidates(n_in, n_out, kernels, dilations):
    """AxisSteps (VALID and SAME padding, strides 1-8) that map n_in positions to n_out."""
    found = []
    for kernel in kernels:
        for dilation in dilations:
            span = (kernel - 1) * dilation + 1
            for stride in range(1, 9):
                if n_in >= span and (n_in - span) // stride + 1 == n_out:
                    found.append(AxisStep(kernel, stride, 0, dilation, n_in, n_out))
                if -(-n_in // stride) == n_out:
                    found.append(AxisStep(kernel, stride, same_pad(n_in, n_out, kernel, stride, dilation), dilation,
                                          n_in, n_out))
    return found


def _windows(x, rows, cols):
    """(rows out, cols out, kernel rows, kernel cols, channels) windows of x (H, W, C); NaN outside the image."""
    r = np.arange(rows.n_out)[:, None] * rows.stride - rows.pad + np.arange(rows.kernel)[None, :] * rows.dilation
    c = np.arange(cols.n_out)[:, None] * cols.stride - cols.pad + np.arange(cols.kernel)[None, :] * cols.dilation
    margin = int(max(0, -r.min(), -c.min(), r.max() - x.shape[0] + 1, c.max() - x.shape[1] + 1))
    padded = np.pad(x.astype(np.float64), ((margin, margin), (margin, margin), (0, 0)), constant_values=np.nan)
    return padded[(r + margin)[:, None, :, None], (c + margin)[None, :, None, :]]


def _op_result(name, windows, weights):
    """What op `name` computes from its windows, before any fused activation."""
    if name == 'MAX_POOL_2D':
        return np.nanmax(windows, axis=(2, 3))
    if name == 'AVERAGE_POOL_2D':
        return np.nanmean(windows, axis=(2, 3))
    filters, bias = weights[0].astype(np.float64), (weights[1] if len(weights) > 1 else 0.0)
    windows = np.nan_to_num(windows)
    if name == 'CONV_2D':  # filters (out, kh, kw, in)
        return np.einsum('hwijc,oijc->hwo', windows, filters) + bias
    multiplier = filters.shape[-1] // windows.shape[-1]  # DEPTHWISE_CONV_2D: filters (1, kh, kw, in * multiplier)
    per_channel = filters[0].reshape(filters.shape[1], filters.shape[2], windows.shape[-1], multiplier)
    return np.einsum('hwijc,ijcm->hwcm', windows, per_channel).reshape(windows.shape[:2] + (-1,)) + bias


def _solve_window(name, x, y, weights, in_size, out_size):
    """(rows, cols) AxisSteps of the window whose result on `x` is the op's output `y`, or None."""
    pooling = name in POOL_OPS
    kernels = [range(1, min(n, 8) + 1) if pooling else [int(k)] for n, k in
               zip(in_size, (0, 0) if pooling else weights[0].shape[1:3])]
    dilations = [1] if pooling else range(1, 5)
    rows = _axis_candidates(in_size[0], out_size[0], kernels[0], dilations)
    cols = _axis_candidates(in_size[1], out_size[1], kernels[1], dilations)
    scale = np.abs(y).max() + 1e-6
    for row in rows:
        for col in cols:
            if not pooling and (row.dilation != col.dilation):
                continue
            result = _op_result(name, _windows(x, row, col), weights)
            for activation in (lambda v: v, lambda v: np.maximum(v, 0), lambda v: np.clip(v, 0, 6)):
                if np.allclose(activation(result), y, atol=1e-4 * scale):
                    return row, col
    return None


def _refuse_quantized(path, details):
    """One line for a fully quantized file (inputs or outputs not float32: donkeycar's conversion for a Coral Edge
    TPU gives uint8), which donkeycar's TFLite pilot cannot drive either: it feeds float32 and reads floats back."""
    others = sorted(f'{name} ({np.dtype(d["dtype"]).name})' for name, d in details.items()
                    if np.dtype(d['dtype']) != np.float32)
    if others:
        raise UserError(f'{path} is a fully quantized TFLite model ({", ".join(others)} instead of float32), as made '
                        "for a Coral Edge TPU: donkeycar's TFLite pilot and this tool feed and read float32; give "
                        'the float .tflite or the Keras pilot')


def is_tflite(path):
    return os.path.splitext(path.rstrip('/'))[1].lower() == '.tflite'
