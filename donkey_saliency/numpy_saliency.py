"""Saliency in plain numpy, for pilots that run as .tflite where TensorFlow may be absent (the Pi).

The same algorithms as the in-graph methods: VisualBackProp from feature maps and the geometry's transition
matrices, and occlusion from any batched predict function.
"""
import numpy as np


def normalise(maps):
    """Min-max per frame to [0, 1]; a flat map becomes all zeros."""
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.divide(maps - low, span, out=np.zeros_like(maps), where=span > 0)


def signed_normalise(maps):
    """Divide each frame by its largest magnitude: -1..1, zero stays zero."""
    peak = np.abs(maps).max(axis=(1, 2), keepdims=True)
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)


def vbp(feature_maps, geometry):
    """VisualBackProp from the conv stages' feature maps, each (N, h, w, channels), deepest last."""
    means = [f.mean(axis=-1, dtype=np.float32) for f in feature_maps]
    result = means[-1]
    for j, (rows, cols) in reversed(list(enumerate(geometry.transitions()))):
        result = np.einsum('hH,bHW,wW->bhw', rows, result, cols, optimize=True)
        if j > 0:
            result = result * means[j - 1]
    return normalise(result)


def window_masks(size, window, stride):
    """(K, H, W) float masks of square windows sliding over an image of `size`, the last ones flush with the edges."""
    def starts(length):
        points = list(range(0, max(length - window, 0) + 1, stride))
        return points if points[-1] == max(length - window, 0) else points + [length - window]
    rows, cols = size
    masks = []
    for top in starts(rows):
        for left in starts(cols):
            mask = np.zeros(size, np.float32)
            mask[top:top + window, left:left + window] = 1.0
            masks.append(mask)
    return np.stack(masks)


def occlusion(predict, score, inputs, image_index, masks, signed):
    """Occlusion maps for a batch: `predict(inputs) -> outputs`, `score(outputs) -> (n,)` for the chosen output.

    Each frame's windows go through `predict` in one call; the value of a pixel is the mean change of the score
    over the windows that cover it, positive where hiding the region lowers the output.
    """
    outputs = predict(inputs)
    base = score(outputs)
    coverage = np.maximum(masks.sum(axis=0), 1.0)
    keep = (1.0 - masks)[..., None]
    maps = []
    for frame in range(len(inputs[0])):
        many = [np.repeat(x[frame:frame + 1], len(masks), axis=0) for x in inputs]
        image = many[image_index]
        if image.ndim == 5:  # a sequence: hide the window in the newest frame only
            image[:, -1] *= keep
        else:
            image *= keep
        deltas = base[frame] - score(predict(many))
        maps.append(np.tensordot(deltas, masks, axes=1) / coverage)
    maps = np.stack(maps).astype(np.float32)
    return outputs, signed_normalise(maps) if signed else normalise(np.abs(maps))
