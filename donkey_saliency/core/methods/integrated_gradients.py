"""Integrated Gradients (Sundararajan et al. 2017) from a black frame: every step of every frame in one call.

attribution = image * mean over k=1..steps of gradient at (k/steps) * image; its sum over pixels approaches
score(image) - score(black) as steps grow.
"""
from donkey_saliency.core.methods.gradient import GradientMethod, tf


class IntegratedGradients(GradientMethod):

    def __init__(self, model, score=None, signed=False, *, steps):
        self.samples = int(steps)
        super().__init__(model, score, signed)

    def attribute(self, inputs):
        outputs = self.forward(inputs)
        image = inputs[self.image_index]
        many = self.repeat(inputs, self.samples)
        alphas = tf.range(1, self.samples + 1, dtype=tf.float32) / self.samples
        scale = tf.tile(alphas, [tf.shape(image)[0]])
        scale = tf.reshape(scale, tf.concat([[-1], tf.ones(tf.rank(image) - 1, tf.int32)], axis=0))
        _, gradients = self.input_gradients(many, many[self.image_index] * scale)
        return outputs, self.pixel_map(image * self.per_frame_mean(gradients, self.samples))
