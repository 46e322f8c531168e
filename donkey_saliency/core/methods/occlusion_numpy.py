"""Occlusion in plain numpy: the twin of `occlusion.py` for a .tflite pilot, where TensorFlow may be absent
(the Pi). It needs nothing but the pilot's outputs. `window_masks` is shared with the in-graph method.
"""
import numpy as np


class Windows:
    """The square windows sliding over an image of `size`, row by row, the last ones flush with the edges:
    each one's top-left corner, and its (H, W) mask, 1 inside."""

    def __init__(self, size, window, stride):
        def starts(length):
            points = list(range(0, max(length - window, 0) + 1, stride))
            return points if points[-1] == max(length - window, 0) else points + [length - window]
        self.side = window  # in pixels
        self.corners = [(top, left) for top in starts(size[0]) for left in starts(size[1])]
        self.masks = np.zeros((len(self.corners),) + tuple(size), np.float32)
        for mask, (top, left) in zip(self.masks, self.corners):
            mask[top:top + window, left:left + window] = 1.0


def window_masks(size, window, stride):
    """(K, H, W) float masks of the windows sliding over an image of `size`."""
    return Windows(size, window, stride).masks


def fill_hidden(buffers, inputs, frame, image_index, windows):
    """Write one frame's hidden copies into `buffers` (one (K, ...) array per input, K windows): every input
    of the frame copied K times, copy k of the picture with window k set to black (the newest picture of a
    sequence). In place, so that the interpreter's own input buffers take the batch with no array in between
    (faster than multiplying copies by masks and handing them over: bench/bench_tflite_occlusion.py times both)."""
    for position, (buffer, x) in enumerate(zip(buffers, inputs)):
        buffer[...] = x[frame]
        if position == image_index:
            for copy, (top, left) in zip(buffer if x.ndim == 4 else buffer[:, -1], windows.corners):
                copy[top:top + windows.side, left:left + windows.side] = 0.0


def occlusion(predict_filled, score, inputs, base, image_index, windows, signed):
    """Occlusion maps for a batch: `predict_filled(fill, count) -> outputs` runs a batch of `count` that
    `fill(buffers)` writes, `score(outputs) -> (n,)` for the chosen output, `base` the scores of the unchanged
    inputs.

    Each frame's windows go through the pilot in one call; the value of a pixel is the mean change of the score
    over the windows that cover it, positive where hiding the region lowers the output.
    """
    coverage = np.maximum(windows.masks.sum(axis=0), 1.0)
    maps = []
    for frame in range(len(inputs[0])):
        def fill(buffers, frame=frame):
            fill_hidden(buffers, inputs, frame, image_index, windows)
        deltas = base[frame] - score(predict_filled(fill, len(windows.corners)))
        maps.append(np.tensordot(deltas, windows.masks, axes=1) / coverage)
    maps = np.stack(maps).astype(np.float32)
    return maps if signed else np.abs(maps)


class Occlusion:
    """Occlusion on a .tflite pilot: each frame's windows in one batch, written straight into the input buffers
    of an interpreter that keeps no intermediate tensors (the pilot's own may keep them for VisualBackProp, which
    makes it several times slower)."""

    reads_last_run = False  # reads nothing of the last run: its windows go through an interpreter of their own

    def __init__(self, model, score=None, signed=False, *, window, stride):
        self.model, self.score, self.signed = model, score, signed
        self.windows = Windows(model.input_size, int(window), int(stride))

    def maps(self, inputs, outputs):
        return occlusion(self.model.run_filled, self.score, inputs, self.score(outputs), self.model.image_index,
                         self.windows, self.signed)
