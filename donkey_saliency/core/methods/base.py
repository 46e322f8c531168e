"""What every saliency method shares: one compiled graph that returns the pilot's outputs and the maps in one call.

A method says how to get raw maps (N, H, W) from a batch inside the graph: from internal feature maps
(`raw_maps`), or by overriding `attribute` (gradients). The base builds the extended model, compiles one graph
for any batch size, and splits batches so that many-sample methods stay within memory. Maps come out raw
(unscaled, so frames stay comparable): unsigned ones through `magnitude`, signed ones positive where the pixels
push the output up (steering right). `core.display` scales them for drawing.
"""
from donkey_saliency.core.geometry import describe, image_input
from donkey_saliency.quiet import import_tensorflow

tf = import_tensorflow()  # this module is only imported once a method is chosen

IMAGES_PER_CALL = 256


class SaliencyMethod:
    """Base of all methods: `method(inputs) -> (outputs, maps)` for a batch, inputs in model input order."""

    samples = 1         # model evaluations per frame; batches are split to keep IMAGES_PER_CALL

    def __init__(self, model, score=None, signed=False):
        self.model = model
        self.score = score
        self.signed = signed
        self.geometry = describe(model)
        self.image_index = [id(t) for t in model.inputs].index(id(image_input(model)))
        self._run = self._compile()

    # -- what a method defines -------------------------------------------------------------------------------
    def features(self):
        """Keras tensors of the model the method needs besides its outputs (default: every conv stage)."""
        return [stage.tensor for stage in self.geometry.stages]

    def raw_maps(self, features, inputs):
        """(N, H, W) raw maps from the tensors `features()` named; any scale."""
        raise NotImplementedError

    def magnitude(self, raw):
        """How a signed raw map becomes an unsigned one (default: its absolute value)."""
        return tf.abs(raw)

    def attribute(self, inputs):
        """(outputs, raw maps) for a batch, inside the graph. Default: one pass through the extended model."""
        values = self.extended(inputs, training=False)
        count = len(self.model.outputs)
        return values[:count], self.raw_maps(values[count:], inputs)

    # -- shared machinery ------------------------------------------------------------------------------------
    def newest(self, tensor):
        """Sequence pilots: the newest frame's slice of a (batch, time, ...) tensor; others: the tensor itself."""
        return tensor[:, -1] if self.geometry.sequence else tensor

    def forward(self, inputs):
        """The model's outputs for `inputs`, always as a list."""
        outputs = self.model(inputs, training=False)
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    def repeat(self, inputs, times):
        """Every input repeated `times` per frame (frame 0 x times, frame 1 x times, ...)."""
        return [tf.repeat(x, times, axis=0) for x in inputs]

    def shown(self, raw):
        """The raw map as it is shown, unscaled: signed as it is, unsigned through `magnitude`."""
        return raw if self.signed else self.magnitude(raw)

    def _compile(self):
        self.extended = tf.keras.Model(self.model.inputs, list(self.model.outputs) + self.features())
        signature = [tf.TensorSpec((None,) + tuple(t.shape[1:]), tf.float32) for t in self.model.inputs]

        @tf.function(input_signature=[signature])
        def run(inputs):
            outputs, raw = self.attribute(inputs)
            return outputs, self.shown(raw)
        return run

    def __call__(self, inputs):
        """Outputs (a list, one array per model output) and maps, for a batch of any size."""
        import numpy as np
        inputs = [np.asarray(x, np.float32) for x in inputs]
        step = max(1, IMAGES_PER_CALL // self.samples)
        parts = [self._run([x[i:i + step] for x in inputs]) for i in range(0, len(inputs[0]), step)]
        outputs = [_joined([p[0][k].numpy() for p in parts]) for k in range(len(parts[0][0]))]
        return outputs, _joined([p[1].numpy() for p in parts])


def _joined(arrays):
    """The arrays of a batch's parts as one; a batch of one part (a video's) as it is, without a second copy."""
    import numpy as np
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
