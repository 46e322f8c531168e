"""VisualBackProp (Bojarski et al. 2016, arXiv 1611.05418), computed in the pilot's own graph.

Per conv stage the channel-mean of its feature maps; from the deepest stage down, scale the map up to the stage
below and multiply. The scale-up is the transposed convolution with an all-ones kernel; that kernel is separable,
so it is done exactly as two small matrix products (rows, then columns) built from the layer geometry, which is
far cheaper than a full-resolution conv2d_transpose and converts to TFLite built-in ops. It ignores the dense
head, so it draws one map for steering and throttle alike.
"""
from donkey_saliency.core.methods.base import SaliencyMethod, tf


class VisualBackProp(SaliencyMethod):
    """One map per frame showing which pixels drive the conv features (for sequences: the newest frame's)."""

    def raw_maps(self, features, inputs):
        transitions = self.geometry.transitions()
        means = [tf.reduce_mean(self.newest(f), axis=-1) for f in features]
        vbp = means[-1]
        for j in range(len(means) - 1, -1, -1):
            rows, cols = transitions[j]
            vbp = scale_up(vbp, rows, cols)
            if j > 0:
                vbp = vbp * means[j - 1]
        return vbp

    def magnitude(self, raw):
        return raw  # products of ReLU outputs: already non-negative


def scale_up(maps, rows, cols):
    """Apply the separable transposed convolution: rows @ map @ cols.T for every map of the batch.

    Two batched matrix products, the constant broadcast over the batch: an einsum for the rows cost the method
    about twice as much over the bare forward pass (bench/README.md).
    """
    return tf.matmul(tf.constant(rows), tf.matmul(maps, tf.constant(cols.T)))
