"""Grad-CAM (Selvaraju et al. 2017) on one conv layer, kept signed.

Channel weights are the mean gradient of the chosen output over each feature map; the map is the weighted sum
of the feature maps, scaled to the input. Signed, it shows which regions push the steering right (positive) and
which push it left; unsigned keeps the positive evidence only, as in the paper. The last conv stage of a small
pilot is coarse (a few cells across, 8x13 on donkeycar's 120x160 pilots, 3x6 on categorical ones) and its map
nearly blank or one blot on real pilots; an earlier one localises thin lane lines better. So `layer='auto'`,
the default, takes the deepest stage whose map still has at least a tenth of the image's rows and columns
(AUTO_FRACTION): conv 3 of 5 (12x17) on donkeycar's pilots, read from the model, not from a table.
"""
from donkey_saliency.core.methods.gradient import GradientMethod, tf
from donkey_saliency.errors import UserError

AUTO_FRACTION = 0.1  # layer 'auto': the deepest stage at least this share of the image across and down


class GradCAM(GradientMethod):

    def __init__(self, model, score=None, signed=False, *, layer):
        self.layer = layer
        super().__init__(model, score, signed)

    def features(self):
        return [target_tensor(self.model, self.geometry, self.layer)]

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


def target_tensor(model, geometry, layer):
    """The feature maps of `layer`: a conv stage number (1 the first, -1 the last; read after the pass-through
    layers that follow the conv, as VisualBackProp reads them) or the name of any layer with spatial output."""
    stages = geometry.stages
    if layer == 'auto':
        return auto_stage(geometry).tensor
    if isinstance(layer, int):
        if not -len(stages) <= layer <= len(stages) or layer == 0:
            raise UserError(f'--layer {layer}: the pilot has {len(stages)} conv stages; choose 1 to {len(stages)} '
                            f'or -1 to -{len(stages)} ({", ".join(s.conv for s in stages)})')
        return stages[layer - 1 if layer > 0 else layer].tensor
    names = [l.name for l in model.layers]
    if layer not in names:
        raise UserError(f'--layer {layer!r}: no layer of that name; the conv stages are '
                        f'{", ".join(s.conv for s in stages)}')
    tensor = model.get_layer(layer).output
    if len(tensor.shape) != (5 if geometry.sequence else 4):
        raise UserError(f'--layer {layer!r} has no spatial output (shape {tuple(tensor.shape)}); choose a conv '
                        f'layer: {", ".join(s.conv for s in stages)}')
    return tensor


def auto_stage(geometry):
    """The deepest conv stage whose map has at least AUTO_FRACTION of the image's rows and of its columns (the
    first stage when none has)."""
    rows, cols = geometry.input_size
    fine = [s for s in geometry.stages if s.size[0] >= AUTO_FRACTION * rows and s.size[1] >= AUTO_FRACTION * cols]
    return fine[-1] if fine else geometry.stages[0]
