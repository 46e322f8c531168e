"""Geometry read from models, and in-graph VisualBackProp against the plain numpy reference."""
import numpy as np
import pytest

from conftest import keras_pilot
from donkey_saliency.errors import UserError
from donkey_saliency.core.geometry import describe
from donkey_saliency.core.methods import METHODS
from donkey_saliency.quiet import import_tensorflow
import vbp_reference

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

tf = import_tensorflow()
layers = tf.keras.layers


@pytest.fixture(autouse=True)
def fixed_weights():
    """Random initial weights, the same on every run, so no test depends on a lucky draw."""
    tf.keras.utils.set_random_seed(7)


def functional(body, shape=(60, 80, 3)):
    """A small functional model: image input -> body layers -> flatten -> two dense outputs."""
    x = inputs = layers.Input(shape, name='img_in')
    for layer in body:
        x = layer(x)
    x = layers.Flatten()(x)
    return tf.keras.Model(inputs, [layers.Dense(1, name='n_outputs0')(x), layers.Dense(1, name='n_outputs1')(x)])


def check_against_reference(model, frames=3, lambda_crops=()):
    """The package's in-graph VBP against the numpy reference, which derives the geometry from the layer
    configs on its own."""
    method = METHODS['vbp'].create(model)
    shape = tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(3).random((frames,) + shape, dtype=np.float32)
    outputs, maps = method([x])
    expected_outputs = model(x, training=False)
    expected_outputs = expected_outputs if isinstance(expected_outputs, (list, tuple)) else [expected_outputs]
    assert len(outputs) == len(expected_outputs)
    for got, want in zip(outputs, expected_outputs):
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5)
    steps, feature_layers = vbp_reference.walk(model, lambda_crops)
    features = tf.keras.Model(model.inputs, [layer.output for layer in feature_layers])(x)
    features = features if isinstance(features, list) else [features]
    assert maps.shape == (frames,) + shape[:2]
    assert maps.min() >= 0  # raw VBP of a ReLU network: products of non-negative feature means
    for i in range(frames):
        want = vbp_reference.vbp([f[i].numpy() for f in features], steps)  # min-max normalised
        low, high = maps[i].min(), maps[i].max()
        np.testing.assert_allclose((maps[i] - low) / (high - low), want, atol=2e-5)
    return method


def test_linear_geometry_is_read_from_the_layers():
    model = keras_pilot('linear').interpreter.model
    geometry = describe(model)
    assert [(l.rows.kernel, l.rows.stride) for l in geometry.layers] == [(5, 2), (5, 2), (5, 2), (3, 1), (3, 1)]
    assert [s.size for s in geometry.stages] == [(58, 78), (27, 37), (12, 17), (10, 15), (8, 13)]
    # the maps are read after the Dropout that follows each conv (a pass-through); Keras 3 names tensors apart
    # from their layers, so the tensors are matched to the Dropout layers' outputs
    dropouts = [layer.output for layer in model.layers if type(layer).__name__ == 'Dropout']
    assert all(any(s.tensor is d for d in dropouts) for s in geometry.stages)


def test_categorical_conv4_has_stride_2():
    geometry = describe(keras_pilot('categorical').interpreter.model)
    assert geometry.layers[3].rows.stride == 2 and geometry.layers[3].cols.stride == 2
    assert [s.size for s in geometry.stages][3:] == [(5, 8), (3, 6)]


@pytest.mark.parametrize('kind', ['linear', 'categorical', 'inferred'])
def test_donkeycar_pilots_match_reference(kind):
    check_against_reference(keras_pilot(kind).interpreter.model, frames=2)


def test_same_padding_and_max_pooling():
    model = functional([layers.Conv2D(8, 5, strides=2, padding='same', activation='relu'),
                        layers.MaxPooling2D(2),
                        layers.Conv2D(8, 3, padding='same', activation='relu'),
                        layers.AveragePooling2D(3, strides=2, padding='same'),
                        layers.Conv2D(4, 3, strides=2, activation='relu')])
    method = check_against_reference(model)
    assert [l.kind for l in method.geometry.layers] == ['conv', 'pool', 'conv', 'pool', 'conv']
    assert method.geometry.layers[0].rows.pad == 1  # 'same' with kernel 5, stride 2 on 60 rows


def test_cropping_in_front():
    model = functional([layers.Cropping2D(((20, 4), (6, 2))),
                        layers.Conv2D(8, 5, strides=2, activation='relu'),
                        layers.Conv2D(8, 3, strides=2, activation='relu')])
    method = check_against_reference(model)
    x = np.random.default_rng(0).random((1, 60, 80, 3), dtype=np.float32)
    _, maps = method([x])
    assert np.all(maps[0, :20] == 0) and np.all(maps[0, -4:] == 0)  # cropped rows never get saliency
    assert np.all(maps[0, :, :6] == 0) and np.all(maps[0, :, -2:] == 0)
    assert maps[0, 20:-4, 6:-2].max() > 0


def test_lambda_normalisation_and_crop_in_front():
    model = functional([layers.Lambda(lambda x: x * 2.0 - 1.0),
                        layers.Lambda(lambda x: x[:, 10:, 4:-4, :]),
                        layers.Conv2D(8, 5, strides=2, activation='relu'),
                        layers.Conv2D(8, 3, strides=1, dilation_rate=2, activation='relu')])
    method = check_against_reference(model, lambda_crops=[(10, 4)])
    assert [(l.kind, l.rows.pad, l.cols.pad) for l in method.geometry.layers[:1]] == [('shift', -10, -4)]
    assert method.geometry.layers[2].rows.dilation == 2


def test_pass_through_layers_between_convs():
    model = functional([layers.Conv2D(8, 5, strides=2),
                        layers.BatchNormalization(),
                        layers.Activation('relu'),
                        layers.SpatialDropout2D(0.1, name='last_pass_through'),
                        layers.Conv2D(8, 3, strides=2, activation='relu')])
    method = check_against_reference(model)
    assert len(method.geometry.stages) == 2
    # features are read after BN + ReLU + dropout, not straight from the conv
    assert method.geometry.stages[0].tensor is model.get_layer('last_pass_through').output


def test_a_lambda_that_resizes_is_refused_with_its_name():
    model = functional([layers.Lambda(lambda x: tf.image.resize(x, (30, 40)), name='shrink'),
                        layers.Conv2D(8, 3, activation='relu')])
    with pytest.raises(UserError, match="'shrink'"):
        describe(model)


def test_a_model_without_convolutions_is_refused():
    inputs = layers.Input((20, 20, 3))
    model = tf.keras.Model(inputs, layers.Dense(1)(layers.Flatten()(inputs)))
    with pytest.raises(UserError, match='no convolution'):
        describe(model)


def test_batches_of_any_size_share_one_graph():
    method = METHODS['vbp'].create(keras_pilot('linear').interpreter.model)
    x = np.random.default_rng(0).random((5, 120, 160, 3), dtype=np.float32)
    _, maps_5 = method([x])
    _, maps_2 = method([x[:2]])
    np.testing.assert_allclose(maps_5[:2], maps_2, atol=1e-6)
    assert method._run.experimental_get_tracing_count() == 1
