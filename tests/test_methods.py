"""Each method on cases whose answer is known: a region-only model, a mirror-symmetric pilot, a trained pilot."""
import numpy as np
import pytest

from conftest import assert_maps_close, keras_pilot
from donkey_saliency import sample, synthetic
from donkey_saliency.core import carconfig
from donkey_saliency.core.methods import METHODS
from donkey_saliency.core.pilot import load_pilot
from donkey_saliency.quiet import import_tensorflow
from donkey_saliency.core.scores import score_functions

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

tf = import_tensorflow()
layers = tf.keras.layers
PER_OUTPUT = [name for name, m in METHODS.items() if m.per_output]
SETTINGS = {'smoothgrad': {'samples': 16}, 'integrated-gradients': {'steps': 16},
            'occlusion': {'window': 11, 'stride': 11},
            'gradcam': {'layer': 2}}  # the last conv stage is too coarse for thin lines (test_engine)


def make(name, model, output='angle', signed=True, kind='linear', settings=SETTINGS):
    score = score_functions(kind, xp=tf.experimental.numpy)[output]
    return METHODS[name].create(model, score, signed, **settings.get(name, {}))


def region_model(region):
    """Outputs that read only the conv features lying wholly inside `region` (rows, cols) of a 61x77 image."""
    rng = np.random.default_rng(1)
    features = inputs = layers.Input((61, 77, 3), name='img_in')
    for conv in (layers.Conv2D(6, 5, strides=2, activation='relu'), layers.Conv2D(6, 3, strides=2, activation='relu')):
        features = conv(features)
        conv.set_weights([rng.normal(0, 0.3, conv.kernel.shape), np.full(conv.bias.shape, 0.05)])
    rows, cols = region
    h, w, c = (int(v) for v in features.shape[1:])
    mask = np.zeros((h, w, c), np.float32)
    for i in range(h):
        for j in range(w):  # conv2 position (i, j) sees input rows 4i..4i+10, cols 4j..4j+10
            if rows.start <= 4 * i and 4 * i + 10 < rows.stop and cols.start <= 4 * j and 4 * j + 10 < cols.stop:
                mask[i, j] = 1.0
    flat = layers.Flatten()(features)
    heads = []
    for name in ('n_outputs0', 'n_outputs1'):
        dense = layers.Dense(1, name=name)
        heads.append(dense(flat))
        dense.set_weights([(rng.normal(0, 1, (h * w * c, 1)) * mask.reshape(-1, 1)).astype(np.float32),
                           np.zeros(1, np.float32)])
    return tf.keras.Model(inputs, heads)


def mirror_model():
    """A pilot whose steering flips sign when the image is mirrored left-right.

    Channels come in mirror pairs (channel c + 3 is channel c with every kernel flipped and its inputs swapped
    the same way), the feature grid is symmetric (77 = 5 + 2 * 36; 37 = 3 + 2 * 17), and the steering weights
    of a pair are mirror images of opposite sign: left-looking and right-looking features pull opposite ways.
    """
    rng = np.random.default_rng(3)
    x = inputs = layers.Input((61, 77, 3), name='img_in')
    convs = [layers.Conv2D(6, 5, strides=2, activation='relu'), layers.Conv2D(6, 3, strides=2, activation='relu')]
    for conv in convs:
        x = conv(x)
    first = rng.normal(0, 0.3, (5, 5, 3, 3))
    convs[0].set_weights([np.concatenate([first, first[:, ::-1]], axis=3), np.full(6, 0.05)])
    second = rng.normal(0, 0.3, (3, 3, 6, 3))
    swapped = np.concatenate([second[:, :, 3:], second[:, :, :3]], axis=2)[:, ::-1]
    convs[1].set_weights([np.concatenate([second, swapped], axis=3), np.full(6, 0.05)])
    h, w = (int(v) for v in x.shape[1:3])
    half = rng.normal(0.5, 1.0, (h, w, 3))
    steering = np.concatenate([half, -half[:, ::-1]], axis=2)
    speed = np.concatenate([np.abs(half), np.abs(half)[:, ::-1]], axis=2)
    flat = layers.Flatten()(x)
    angle, throttle = layers.Dense(1, name='n_outputs0'), layers.Dense(1, name='n_outputs1')
    model = tf.keras.Model(inputs, [angle(flat), throttle(flat)])
    angle.set_weights([steering.reshape(-1, 1).astype(np.float32), np.zeros(1, np.float32)])
    throttle.set_weights([speed.reshape(-1, 1).astype(np.float32), np.zeros(1, np.float32)])
    return model


def frames(count, shape, seed=0):
    return np.random.default_rng(seed).random((count,) + shape, dtype=np.float32)


@pytest.mark.parametrize('name', [n for n in PER_OUTPUT if n != 'gradcam'])
def test_a_model_that_reads_one_region_gets_its_map_there(name):
    """Grad-CAM is left out: it weighs whole feature maps, so it cannot localise a head that reads part of one."""
    region = (slice(0, 31), slice(38, 77))
    model = region_model(region)
    method = make(name, model, signed=False)
    _, maps = method([frames(3, (61, 77, 3))])
    inside = np.zeros((61, 77), bool)
    margin = 11 if name == 'occlusion' else 0  # a window that straddles the edge moves the output too
    inside[max(region[0].start - margin, 0):region[0].stop + margin,
           max(region[1].start - margin, 0):region[1].stop + margin] = True
    share = maps[:, inside].sum(axis=1) / maps.reshape(3, -1).sum(axis=1)
    assert np.all(share > 0.9), share


@pytest.mark.parametrize('name', PER_OUTPUT)
def test_signed_steering_map_flips_with_the_mirror(name):
    model = mirror_model()
    x = frames(3, (61, 77, 3), seed=5)
    mirrored = x[:, :, ::-1].copy()
    method = make(name, model)
    outputs, maps = method([x])
    mirrored_outputs, mirrored_maps = method([mirrored])
    np.testing.assert_allclose(mirrored_outputs[0], -outputs[0], atol=1e-4)  # the pilot is mirror-symmetric
    expected = -maps[:, :, ::-1]
    if name == 'smoothgrad':  # its noise is not mirrored with the image: equal in expectation only
        assert np.corrcoef(mirrored_maps.ravel(), expected.ravel())[0, 1] > 0.8
    else:
        assert_maps_close(mirrored_maps, expected, atol=2e-3)
    peak = np.abs(maps).max()
    assert maps.min() < -0.2 * peak and maps.max() > 0.2 * peak  # a real signed map: both directions present


@pytest.fixture(scope='module')
def sample_case():
    pytest.importorskip('donkeycar')
    cfg, _ = carconfig.load(None)
    pilot = load_pilot(sample.MODEL, None, cfg)
    scenes = list(synthetic.drive(24, seed=9))
    return pilot, scenes, np.stack([s.image for s in scenes]).astype(np.float32) / 255


@pytest.mark.parametrize('name', [n for n in METHODS if n not in ('occlusion', 'spectral-residual')])
def test_on_the_trained_pilot_every_method_looks_at_the_lines(name, sample_case):
    """The sample pilot steers by the lane lines; the coloured shapes carry no information.

    Spectral residual is left out: it is the model-free control, conspicuous is all it shows.
    Occlusion is left out: a black window is itself a strong new feature to this pilot wherever it lands
    (measured: lines/shapes ratio 0.6 to 1.2 for windows of 24 to 8 px); the region test covers it. The
    magnitude of the signed map is compared: unsigned Grad-CAM keeps only what pushes right, and is all zero
    on a third of these frames, where no ratio can be taken."""
    pilot, scenes, x = sample_case
    _, maps = make(name, pilot.model, signed=True)([x])
    maps = np.abs(maps)
    import cv2
    near_lines = [cv2.dilate(s.lines.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ~s.distractors
                  for s in scenes]
    on_lines = np.array([m[near].mean() for m, near in zip(maps, near_lines)])
    on_shapes = np.array([m[s.distractors & ~near].mean() for m, s, near in zip(maps, scenes, near_lines)])
    assert np.all(on_shapes > 0), on_shapes  # every ratio is a number
    assert np.median(on_lines / on_shapes) > 1.5, (on_lines, on_shapes)


def test_gradient_graphs_use_no_relu_grad_op():
    method = make('gradients', keras_pilot('linear').interpreter.model)
    graph = method._run.get_concrete_function().graph
    kinds = {op.type for op in graph.get_operations()}
    assert 'ReluGrad' not in kinds and 'Relu' in kinds


def test_categorical_maps_explain_the_expected_value_not_one_bin():
    linear_unbin = pytest.importorskip('donkeycar.utils').linear_unbin
    pilot = keras_pilot('categorical')
    scores = score_functions('categorical', throttle_range=0.8, xp=tf.experimental.numpy)
    probabilities = tf.nn.softmax(tf.random.stateless_normal((4, 15), seed=[1, 2]))
    throttle_probabilities = tf.nn.softmax(tf.random.stateless_normal((4, 20), seed=[3, 4]))
    angle = scores['angle']([probabilities, throttle_probabilities]).numpy()
    throttle = scores['throttle']([probabilities, throttle_probabilities]).numpy()
    angle_values = [linear_unbin(np.eye(15)[b]) for b in range(15)]
    throttle_values = [linear_unbin(np.eye(20)[b], N=20, offset=0.0, R=0.8) for b in range(20)]
    np.testing.assert_allclose(angle, probabilities.numpy() @ angle_values, atol=1e-6)
    np.testing.assert_allclose(throttle, throttle_probabilities.numpy() @ throttle_values, atol=1e-6)
    _, maps = make('gradients', pilot.interpreter.model, kind='categorical')([frames(2, (120, 160, 3))])
    assert np.isfinite(maps).all() and np.abs(maps).max() > 0  # a map, not a blank or a NaN


def test_occlusion_windows_cover_the_image_and_their_copies_hide_only_their_window():
    """The .tflite occlusion writes each window's hidden copy into the interpreter's buffer in place: the copies
    must be the frame times (1 - mask), built here by a plain loop, in the newest picture of a sequence only,
    every other input the frame's own; the windows slide by the stride and end flush with the edges."""
    from donkey_saliency.core.methods.occlusion_numpy import Windows, fill_hidden
    windows = Windows((120, 160), 24, 12)
    assert len(windows.corners) == 9 * 13  # rows 0..96, columns 0..132 by 12, then 136 flush with the edge
    assert windows.corners[-1] == (96, 136) and windows.masks.sum(axis=0).min() >= 1
    assert np.all(windows.masks.sum(axis=(1, 2)) == 24 * 24)
    rng = np.random.default_rng(0)
    windows = Windows((6, 8), 3, 2)
    for picture in (rng.random((2, 6, 8, 3), np.float32) + 0.5, rng.random((2, 3, 6, 8, 3), np.float32) + 0.5):
        inputs = [rng.random((2, 4), np.float32), picture]
        count = len(windows.corners)
        buffers = [np.full((count,) + x.shape[1:], np.nan, np.float32) for x in inputs]
        fill_hidden(buffers, inputs, 1, 1, windows)
        np.testing.assert_array_equal(buffers[0], np.repeat(inputs[0][1:2], count, axis=0))
        for k in range(count):
            expected = picture[1].copy()
            keep = (1.0 - windows.masks[k])[..., None]
            if picture.ndim == 5:
                expected[-1] *= keep
            else:
                expected *= keep
            np.testing.assert_array_equal(buffers[1][k], expected)
