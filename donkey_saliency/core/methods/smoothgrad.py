"""SmoothGrad (Smilkov et al. 2017): input gradients averaged over noisy copies of each frame, all in one call."""
from donkey_saliency.core.methods.gradient import GradientMethod, tf


class SmoothGrad(GradientMethod):

    def __init__(self, model, score=None, signed=False, *, samples, noise):
        self.samples, self.noise = int(samples), float(noise)  # noise: std-dev, images span 0..1
        super().__init__(model, score, signed)

    def attribute(self, inputs):
        outputs = self.forward(inputs)
        many = self.repeat(inputs, self.samples)
        images = many[self.image_index]
        noisy = images + tf.random.stateless_normal(tf.shape(images), seed=[20, 16], stddev=self.noise)
        _, gradients = self.input_gradients(many, noisy)
        return outputs, self.pixel_map(self.per_frame_mean(gradients, self.samples))
