"""Occlusion in plain numpy: the twin of `occlusion.py` for a .tflite pilot, where TensorFlow may be absent (the
Pi). It needs nothing but the pilot's outputs. `window_masks` is shared with the in-graph method.
"""
import functools

import numpy as np


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


def occlusion(predict, score, inputs, base, image_index, masks, signed):
    """Occlusion maps for a batch: `predict(inputs) -> outputs`, `score(outputs) -> (n,)` for the chosen output,
    `base` the scores of the unchanged inputs.

    Each frame's windows go through `predict` in one call; the value of a pixel is the mean change of the score
    over the windows that cover it, positive where hiding the region lowers the output.
    """
    coverage = np.maximum(masks.sum(axis=0), 1.0)
    keep = (1.0 - masks)[..., None]
    maps = []
    for frame in range(len(inputs[0])):
        many = []
        for k, x in enumerate(inputs):
            if k == image_index and x.ndim == 4:  # a picture: its copies are made hidden at once
                many.append(x[frame] * keep)
            else:
                many.append(np.repeat(x[frame:frame + 1], len(masks), axis=0))
                if k == image_index:  # a sequence: hide the window in the newest frame only
                    many[-1][:, -1] *= keep
        deltas = base[frame] - score(predict(many))
        maps.append(np.tensordot(deltas, masks, axes=1) / coverage)
    maps = np.stack(maps).astype(np.float32)
    return maps if signed else np.abs(maps)


class Occlusion:
    """Occlusion on a .tflite pilot: each frame's windows in one batch, through an interpreter that keeps no
    intermediate tensors (the pilot's own may keep them for VisualBackProp, which makes it several times slower)."""

    reads_last_run = False  # reads nothing of the last run: its windows go through an interpreter of their own

    def __init__(self, model, score=None, signed=False, *, window, stride):
        self.model, self.score, self.signed = model, score, signed
        self.masks = window_masks(model.input_size, int(window), int(stride))

    def maps(self, inputs, outputs):
        return occlusion(functools.partial(self.model.run, outputs_only=True), self.score, inputs,
                         self.score(outputs), self.model.image_index, self.masks, self.signed)
