"""Occlusion (Zeiler and Fergus 2014): black out a window, see how far the chosen output moves.

Needs nothing but the pilot's outputs, so it works for any model. All windows of a frame go through the pilot in
one call; a pixel's value is the mean change over the windows that cover it, positive where hiding the region
lowers the output (the region pushes steering right / throttle up).
"""
from donkey_saliency.core.methods.base import SaliencyMethod, tf
from donkey_saliency.core.methods.occlusion_numpy import window_masks


class Occlusion(SaliencyMethod):

    def __init__(self, model, score=None, signed=False, *, window, stride):
        from donkey_saliency.core.geometry import image_input
        size = tuple(int(v) for v in image_input(model).shape[-3:-1])
        self.masks = window_masks(size, int(window), int(stride))
        self.samples = len(self.masks) + 1
        super().__init__(model, score, signed)

    def features(self):
        return []

    def attribute(self, inputs):
        outputs = self.forward(inputs)
        image = inputs[self.image_index]
        many = self.repeat(inputs, len(self.masks))
        many[self.image_index] = self._hide(image)
        moved = self.forward(many)
        deltas = self.score(outputs)[:, None] - tf.reshape(self.score(moved), [-1, len(self.masks)])
        coverage = tf.maximum(tf.reduce_sum(tf.constant(self.masks), axis=0), 1.0)
        return outputs, tf.tensordot(deltas, tf.constant(self.masks), axes=1) / coverage

    def _hide(self, image):
        """Each frame repeated once per window, that window blacked out (in the newest frame of a sequence)."""
        tiled = tf.repeat(image, len(self.masks), axis=0)
        keep = tf.tile(tf.constant(1.0 - self.masks)[..., None], [tf.shape(image)[0], 1, 1, 1])
        if self.geometry.sequence:
            return tf.concat([tiled[:, :-1], (tiled[:, -1] * keep)[:, None]], axis=1)
        return tiled * keep
