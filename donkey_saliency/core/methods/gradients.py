"""Vanilla input gradients (Simonyan et al. 2013): how each pixel's brightness moves the chosen output."""
from donkey_saliency.core.methods.gradient import GradientMethod


class Gradients(GradientMethod):

    def attribute(self, inputs):
        outputs, gradients = self.input_gradients(inputs, inputs[self.image_index])
        return outputs, self.pixel_map(gradients)
