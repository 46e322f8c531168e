"""Shared base of the methods that differentiate a pilot output: gradients taken in the graph, batched.

The pilot's ReLUs are swapped (in a clone with the same weights) for a ReLU whose gradient is written by hand,
`dy * (y > 0)`, so the gradient graph uses plain multiply/compare ops and converts to TFLite built-in ops.
"""
from donkey_saliency.core.methods.base import SaliencyMethod, tf


@tf.custom_gradient
def _relu_with_simple_gradient(x):
    y = tf.nn.relu(x)

    def gradient(dy):
        return dy * tf.cast(y > 0, dy.dtype)
    return y, gradient


def hand_written_relu(x):
    """ReLU whose gradient is spelled out, instead of TensorFlow's ReluGrad op (a plain function, so Keras can
    still describe the layers that use it)."""
    return _relu_with_simple_gradient(x)


def _is_relu(activation):
    return activation == 'relu' or getattr(activation, '__name__', '') == 'relu'


def _swap_relu(layer):
    """A fresh copy of `layer` whose ReLU (built in, an Activation or a ReLU layer) is the hand-written one."""
    config = layer.get_config()
    kind = type(layer).__name__
    if kind == 'ReLU' and not config.get('max_value') and not config.get('negative_slope') \
            and not config.get('threshold'):
        return tf.keras.layers.Activation(hand_written_relu, name=layer.name)
    if kind == 'TimeDistributed':
        return tf.keras.layers.TimeDistributed(_swap_relu(layer.layer), name=layer.name)
    if _is_relu(config.get('activation')):
        config['activation'] = hand_written_relu
    return type(layer).from_config(config)


def with_hand_written_relu(model):
    """A clone of `model`, same weights, every ReLU replaced by `hand_written_relu`."""
    clone = tf.keras.models.clone_model(model, clone_function=_swap_relu)
    clone.set_weights(model.get_weights())
    return clone


class GradientMethod(SaliencyMethod):
    """A method that needs d(score)/d(something): runs on the hand-written-ReLU clone of the pilot."""

    def __init__(self, model, score=None, signed=False):
        super().__init__(with_hand_written_relu(model), score, signed)

    def features(self):
        return []

    def input_gradients(self, inputs, images):
        """Outputs and d(score)/d(image) at each image of `images` (same batch layout as the image input)."""
        inputs = list(inputs)
        with tf.GradientTape() as tape:
            tape.watch(images)
            inputs[self.image_index] = images
            outputs = self.forward(inputs)
            total = tf.reduce_sum(self.score(outputs))
        return outputs, tape.gradient(total, images)

    def per_frame_mean(self, values, times):
        """Mean over each frame's `times` consecutive samples."""
        shape = tf.concat([[-1, times], tf.shape(values)[1:]], axis=0)
        return tf.reduce_mean(tf.reshape(values, shape), axis=1)

    def pixel_map(self, attribution):
        """(N, H, W) from an image-shaped attribution: the newest frame, summed over colour channels."""
        return tf.reduce_sum(self.newest(attribution), axis=-1)
