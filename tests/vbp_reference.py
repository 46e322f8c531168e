"""A plain numpy VisualBackProp, written from the paper and independent of the package's matrix formulation and of
its geometry: `walk` reads kernels, strides, padding and dilation from the layers' configs itself.

Transposed convolutions are done by scattering every input pixel over a kernel-sized window, one pixel at a time.
"""
import numpy as np


def transposed_ones_conv(m, kernel, stride, pad, dilation, out_size):
    """Scatter each value of m (h, w) over its kernel window in an out_size array; padding cut away."""
    out = np.zeros(out_size, np.float64)
    h, w = m.shape
    for i in range(h):
        for j in range(w):
            for ti in range(kernel[0]):
                for tj in range(kernel[1]):
                    r = i * stride[0] - pad[0] + ti * dilation[0]
                    c = j * stride[1] - pad[1] + tj * dilation[1]
                    if 0 <= r < out_size[0] and 0 <= c < out_size[1]:
                        out[r, c] += m[i, j]
    return out


def vbp(feature_maps, layer_steps):
    """feature_maps: per conv stage (h, w, channels) arrays; layer_steps: per stage, the list of spatial layers
    (kernel, stride, pad, dilation, in_size) between the stage below (or the input) and this stage's conv,
    in forward order. Returns the map at input resolution, min-max normalised."""
    means = [f.mean(axis=-1) for f in feature_maps]
    m = means[-1]
    for j in range(len(means) - 1, -1, -1):
        for kernel, stride, pad, dilation, in_size in reversed(layer_steps[j]):
            m = transposed_ones_conv(m, kernel, stride, pad, dilation, in_size)
        if j > 0:
            m = m * means[j - 1]
    low, high = m.min(), m.max()
    return (m - low) / (high - low) if high > low else np.zeros_like(m)


SPATIAL_END = {'Flatten', 'Dense', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'Reshape'}
POOLS = {'MaxPooling2D', 'AveragePooling2D'}


def _pair(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


def _same_pad(size, kernel, stride, dilation):
    """Padding before the first row/column under TensorFlow's 'same' rule (TF docs: out = ceil(in / stride), the
    total padding split with the odd one after)."""
    out = -(-size // stride)
    return max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0) // 2


def walk(model, lambda_crops=()):
    """Read from the layers' own configs, independently of the package: per conv stage the spatial layers
    (kernel, stride, pad, dilation, in_size) since the stage below, in forward order, and the layer whose output
    holds the stage's feature maps (the conv, or the last pass-through right after it). A chain model only;
    `lambda_crops`: (top, left) of each size-changing Lambda, in order, as the test that built it knows them."""
    steps, pending, feature_layers = [], [], []
    crops = iter(lambda_crops)
    for layer in model.layers[1:]:
        kind, config = type(layer).__name__, layer.get_config()
        if kind in SPATIAL_END:
            break
        in_size = tuple(int(v) for v in layer.input.shape[1:3])
        out_size = tuple(int(v) for v in layer.output.shape[1:3])
        if kind == 'Conv2D' or kind in POOLS:
            kernel = _pair(config['kernel_size'] if kind == 'Conv2D' else config['pool_size'])
            stride = _pair(config['strides'] or kernel)
            dilation = _pair(config.get('dilation_rate', 1))
            pad = tuple(_same_pad(in_size[a], kernel[a], stride[a], dilation[a]) if config['padding'] == 'same'
                        else 0 for a in range(2))
            pending.append((kernel, stride, pad, dilation, in_size))
            if kind == 'Conv2D':
                steps.append(pending)
                pending = []
                feature_layers.append(layer)
        elif kind == 'Cropping2D':
            (top, _), (left, _) = config['cropping']
            pending.append(((1, 1), (1, 1), (-top, -left), (1, 1), in_size))
        elif in_size != out_size:  # a Lambda that crops: where, the test that built it says
            top, left = next(crops)
            pending.append(((1, 1), (1, 1), (-top, -left), (1, 1), in_size))
        elif not pending and feature_layers:
            feature_layers[-1] = layer  # a pass-through right after a conv: the maps are read after it
    return steps, feature_layers
