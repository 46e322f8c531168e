"""VisualBackProp in plain numpy: the twin of `vbp.py` for a plain .tflite pilot, where TensorFlow may be absent
(the Pi). The feature maps are the conv outputs the interpreter kept; the geometry is read from the .tflite graph.
"""
import numpy as np


def vbp(feature_maps, geometry):
    """Raw VisualBackProp from the conv stages' feature maps, each (N, h, w, channels), deepest last."""
    means = [f.mean(axis=-1, dtype=np.float32) for f in feature_maps]
    result = means[-1]
    for j, (rows, cols) in reversed(list(enumerate(geometry.transitions()))):
        result = np.einsum('hH,bHW,wW->bhw', rows, result, cols, optimize=True)
        if j > 0:
            result = result * means[j - 1]
    return result


class VisualBackProp:
    """Maps of the last `run()` of a .tflite pilot, from its intermediate tensors."""

    reads_last_run = True  # reads the interpreter as the last run() left it

    def __init__(self, model):
        self.model = model
        model.geometry  # read the graph now: a file it cannot describe is refused before the first frame

    def maps(self, inputs, outputs):
        return vbp(self.model.features(), self.model.geometry)
