"""Walk a Keras image model from its image input and describe its spatial layers.

Saliency methods need to know how each feature map lies over the input image. Nothing here is a table of
donkeycar's shapes: kernel, stride, padding, dilation, pooling and cropping are read from each layer's config,
so any chain of Conv2D / pooling / pass-through layers works. Sequence pilots are walked the same way: layers
wrapped in TimeDistributed are read through the wrapper, and Conv3D / 3D pooling by their spatial axes (the
time axis is left to the methods, which map the newest frame).
"""
from dataclasses import dataclass, field

import numpy as np

from donkey_saliency.errors import UserError

CONV_LAYERS = {'Conv2D', 'Convolution2D', 'DepthwiseConv2D', 'SeparableConv2D', 'SeparableConvolution2D', 'Conv3D',
               'Convolution3D'}
POOL_LAYERS = {'MaxPooling2D', 'AveragePooling2D', 'MaxPool2D', 'AvgPool2D', 'MaxPooling3D', 'AveragePooling3D',
               'MaxPool3D', 'AvgPool3D'}
WINDOW_KEYS = ('kernel_size', 'strides', 'pool_size', 'dilation_rate')
END_LAYERS = {'Flatten', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'GlobalAvgPool2D', 'GlobalMaxPool2D',
              'Dense', 'Reshape'}


@dataclass(frozen=True)
class AxisStep:
    """How one layer maps positions along one axis: output i reads inputs i*stride - pad + t*dilation, t < kernel."""
    kernel: int
    stride: int
    pad: int
    dilation: int
    n_in: int
    n_out: int

    def footprint(self):
        """(n_in, n_out) matrix: entry [r, i] counts how often output i reads input r (a ones-kernel transpose)."""
        m = np.zeros((self.n_in, self.n_out), np.float32)
        for i in range(self.n_out):
            for t in range(self.kernel):
                r = i * self.stride - self.pad + t * self.dilation
                if 0 <= r < self.n_in:
                    m[r, i] += 1.0
        return m


@dataclass
class SpatialLayer:
    """One layer that moves pixels: its name, kind and how it maps rows and columns."""
    name: str
    kind: str  # 'conv', 'pool' or 'shift'
    rows: AxisStep
    cols: AxisStep


@dataclass
class FeatureStage:
    """The feature maps after one conv layer and the pass-through layers that follow it."""
    conv: str
    tensor: object  # the Keras tensor whose channels are averaged
    size: tuple     # (rows, cols)


@dataclass
class Geometry:
    """The image input, the spatial layers in order, and the conv feature stages between them.

    `sequence` is True for pilots that take a stack of frames (rnn, 3d): their tensors carry a time axis after
    the batch axis.
    """
    input_size: tuple
    sequence: bool = False
    layers: list = field(default_factory=list)
    stages: list = field(default_factory=list)
    stage_after: list = field(default_factory=list)  # stage_after[j]: number of layers up to stage j's conv
    _transitions: list = field(default=None, repr=False)

    def transitions(self):
        """Per stage j, the (rows, cols) matrices that carry a map from stage j down to stage j-1 (or the input).

        A composition of ones-kernel transposes of every spatial layer in between, so pooling and cropping between
        two convs are taken into account exactly. Computed once.
        """
        if self._transitions is not None:
            return self._transitions
        result = []
        start = 0
        for end in self.stage_after:
            rows, cols = self.layers[start].rows.footprint(), self.layers[start].cols.footprint()
            for layer in self.layers[start + 1:end]:
                rows = rows @ layer.rows.footprint()
                cols = cols @ layer.cols.footprint()
            result.append((rows, cols))
            start = end
        self._transitions = result
        return result


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def same_pad(n_in, n_out, kernel, stride, dilation):
    """Padding before the first position under TensorFlow's 'same' rule (the odd one goes after)."""
    total = max((n_out - 1) * stride + (kernel - 1) * dilation + 1 - n_in, 0)
    return total // 2


def _window_steps(config, in_size, out_size, kernel_key, stride_key):
    kernel = _pair(config[kernel_key])
    stride = _pair(config.get(stride_key) or kernel)
    dilation = _pair(config.get('dilation_rate', 1))
    same = config.get('padding', 'valid') == 'same'
    steps = []
    for axis in range(2):
        pad = same_pad(in_size[axis], out_size[axis], kernel[axis], stride[axis], dilation[axis]) if same else 0
        steps.append(AxisStep(kernel[axis], stride[axis], pad, dilation[axis], in_size[axis], out_size[axis]))
    return steps


def _shift_steps(offset, in_size, out_size):
    return [AxisStep(1, 1, -offset[axis], 1, in_size[axis], out_size[axis]) for axis in range(2)]


def _probe_crop(layer, in_shape, out_shape):
    """Find where a size-changing layer of unknown kind (a Lambda) takes its window, if it is a plain crop.

    The layer is run on random input; a crop (possibly followed by a pointwise affine scaling) matches exactly
    one window of the input.
    """
    rng = np.random.default_rng(0)
    x = rng.random((1,) + tuple(in_shape), dtype=np.float32)
    y = np.asarray(layer(x)).astype(np.float64)
    if y.shape[1:] != tuple(out_shape) or out_shape[2] != in_shape[2]:
        return None
    flat_y = y.ravel()
    matches = []
    for top in range(in_shape[0] - out_shape[0] + 1):
        for left in range(in_shape[1] - out_shape[1] + 1):
            window = x[:, top:top + out_shape[0], left:left + out_shape[1], :].astype(np.float64).ravel()
            design = np.stack([window, np.ones_like(window)], axis=1)
            coef, *_ = np.linalg.lstsq(design, flat_y, rcond=None)
            if coef[0] != 0 and np.allclose(design @ coef, flat_y, atol=1e-4):
                matches.append((top, left))
    return matches[0] if len(matches) == 1 else None


def _spatial(shape):
    """(rows, cols) of a channels-last image tensor, with or without a time axis."""
    return tuple(int(v) for v in shape[-3:-1])


def _spatial_config(config):
    """A 3D layer's config reduced to its two spatial axes (the time axis comes first)."""
    config = dict(config)
    for key in WINDOW_KEYS:
        value = config.get(key)
        if isinstance(value, (tuple, list)) and len(value) == 3:
            config[key] = tuple(value[1:])
    return config


def image_input(model):
    """The model's image input: the one named img_in, else the first input of rank 4 (or 5 for sequences)."""
    inputs = list(model.inputs)
    for tensor in inputs:
        if getattr(tensor, 'name', '').split(':')[0] == 'img_in':
            return tensor
    for tensor in inputs:
        if len(tensor.shape) in (4, 5):
            return tensor
    raise UserError('the model has no image input of shape (height, width, channels); '
                    'pass a donkeycar image pilot (.h5, .savedmodel or .keras)')


def _consumers(model, tensor):
    return [layer for layer in model.layers if type(layer).__name__ != 'InputLayer'
            and not isinstance(layer.input, (list, tuple)) and layer.input is tensor]


def describe(model):
    """Walk from the image input through spatial layers to the first non-spatial one and return the Geometry."""
    current = image_input(model)
    rank = len(current.shape)
    geometry = Geometry(input_size=_spatial(current.shape), sequence=rank == 5)
    while True:
        consumers = _consumers(model, current)
        if len(consumers) != 1:
            break
        layer = consumers[0]
        inner = layer.layer if type(layer).__name__ == 'TimeDistributed' else layer
        kind = type(inner).__name__
        if kind in END_LAYERS or len(layer.output.shape) != rank:
            break
        in_shape, out_shape = tuple(layer.input.shape[-3:]), tuple(layer.output.shape[-3:])
        in_size, out_size = in_shape[:2], out_shape[:2]
        config = _spatial_config(inner.get_config())
        if kind in CONV_LAYERS:
            steps = _window_steps(config, in_size, out_size, 'kernel_size', 'strides')
            geometry.layers.append(SpatialLayer(layer.name, 'conv', *steps))
            geometry.stages.append(FeatureStage(layer.name, layer.output, out_size))
            geometry.stage_after.append(len(geometry.layers))
        elif kind in POOL_LAYERS:
            steps = _window_steps(config, in_size, out_size, 'pool_size', 'strides')
            geometry.layers.append(SpatialLayer(layer.name, 'pool', *steps))
        elif kind == 'Cropping2D':
            (top, _), (left, _) = config['cropping']
            geometry.layers.append(SpatialLayer(layer.name, 'shift', *_shift_steps((top, left), in_size, out_size)))
        elif kind == 'ZeroPadding2D':
            (top, _), (left, _) = config['padding']
            geometry.layers.append(SpatialLayer(layer.name, 'shift', *_shift_steps((-top, -left), in_size, out_size)))
        elif in_size == out_size:
            if geometry.stage_after and geometry.stage_after[-1] == len(geometry.layers):
                geometry.stages[-1].tensor = layer.output  # pass-through right after a conv: read maps after it
        else:
            offset = None if geometry.sequence else _probe_crop(layer, in_shape, out_shape)
            if offset is None:
                raise UserError(f'layer {layer.name!r} ({kind}) changes the image size from {in_size} to '
                                f'{out_size} in a way that cannot be traced back to the input; '
                                'saliency supports convolution, pooling, cropping and padding layers')
            geometry.layers.append(SpatialLayer(layer.name, 'shift', *_shift_steps(offset, in_size, out_size)))
        current = layer.output
    if not geometry.stages:
        raise UserError('the model has no convolution layer after its image input; saliency needs a CNN pilot')
    return geometry
