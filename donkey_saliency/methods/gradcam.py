"""Grad-CAM (Selvaraju et al. 2017) on the last spatial layer, kept signed.

Channel weights are the mean gradient of the chosen output over each feature map; the map is the weighted sum
of the feature maps, scaled to the input. Signed, it shows which regions push the steering right (positive) and
which push it left; unsigned keeps the positive evidence only, as in the paper.
"""
from donkey_saliency.methods.gradient import GradientMethod, tf


class GradCAM(GradientMethod):
    name = 'gradcam'

    def features(self):
        return [self.geometry.stages[-1].tensor]

    def attribute(self, inputs):
        count = len(self.model.outputs)
        with tf.GradientTape() as tape:
            values = self.extended(inputs, training=False)
            outputs, feature_maps = values[:count], values[count]
            total = tf.reduce_sum(self.score(outputs))
        gradients = self.newest(tape.gradient(total, feature_maps))
        weights = tf.reduce_mean(gradients, axis=[1, 2], keepdims=True)
        cam = tf.reduce_sum(weights * self.newest(feature_maps), axis=-1)
        return outputs, tf.image.resize(cam[..., None], self.geometry.input_size)[..., 0]

    def magnitude(self, raw):
        return tf.nn.relu(raw)
