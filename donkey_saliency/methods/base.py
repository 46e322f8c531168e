"""What every saliency method shares: one graph that returns the pilot's outputs and the maps in one call.

A method only says which internal tensors it reads (`features`) and how it turns them into raw maps (`raw_maps`).
The base builds the extended model, compiles it once for any batch size, normalises each map to [0, 1] and
converts results to numpy.
"""
from donkey_saliency.geometry import describe
from donkey_saliency.quiet import import_tensorflow


class SaliencyMethod:
    """Base of all methods: `method(inputs) -> (outputs, maps)` for a batch, maps (N, H, W) in [0, 1]."""

    name = ''

    def __init__(self, model):
        self.model = model
        self.geometry = describe(model)
        self._run = self._compile()

    def features(self):
        """Keras tensors of the model the method needs besides its outputs."""
        return [stage.tensor for stage in self.geometry.stages]

    def raw_maps(self, features):
        """(N, H, W) maps at the model's input resolution, any scale, from the tensors `features()` named."""
        raise NotImplementedError

    def _compile(self):
        tf = import_tensorflow()
        outputs = list(self.model.outputs)
        extended = tf.keras.Model(self.model.inputs, outputs + self.features())
        signature = [tf.TensorSpec((None,) + tuple(t.shape[1:]), tf.float32) for t in self.model.inputs]

        @tf.function(input_signature=[signature])
        def run(inputs):
            values = extended(inputs, training=False)
            return values[:len(outputs)], normalise(tf, self.raw_maps(values[len(outputs):]))
        return run

    def __call__(self, inputs):
        """Outputs (a list, one array per model output) and maps for a batch; `inputs` in model input order."""
        outputs, maps = self._run(list(inputs))
        return [o.numpy() for o in outputs], maps.numpy()


def normalise(tf, maps):
    """Min-max per frame to [0, 1]; a flat map becomes all zeros rather than dividing by zero."""
    low = tf.reduce_min(maps, axis=[1, 2], keepdims=True)
    span = tf.reduce_max(maps, axis=[1, 2], keepdims=True) - low
    return tf.math.divide_no_nan(maps - low, span)
