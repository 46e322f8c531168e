"""Scaling of raw maps for display, in plain numpy: the twins' counterpart of `base.finish` (TensorFlow-free)."""
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
