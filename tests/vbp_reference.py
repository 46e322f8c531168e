"""A plain numpy VisualBackProp, written from the paper and independent of the package's matrix formulation.

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
