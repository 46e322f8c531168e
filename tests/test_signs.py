"""Red means "pushes the steering right": known-answer tests of the sign of every signed map, on a pilot built
so that its steering rises with the red brightness of the right half of the frame and falls with the green
brightness of the left half; in the API, offline (the saved maps of a video run), on the car, and from an
exported .tflite twin. A map negated anywhere fails here."""
import numpy as np
import pytest

from conftest import run_main

pytest.importorskip('donkeycar')  # the pilot is saved and loaded as a donkeycar linear pilot

import donkey_saliency as ds  # noqa: E402
from donkey_saliency import synthetic  # noqa: E402
from donkey_saliency.core import methods  # noqa: E402
from donkey_saliency.draw import overlay  # noqa: E402
from donkey_saliency.quiet import import_tensorflow  # noqa: E402

tf = import_tensorflow()
SIGNED = [name for name, m in methods.METHODS.items() if m.per_output]
RIGHT, LEFT = slice(88, None), slice(None, 72)  # columns clear of the middle, where windows straddle both
SETTINGS = {'samples': 8, 'steps': 8, 'window': 16, 'stride': 16}


def sign_pilot():
    """Two feature channels all the way up: red and green brightness. Steering = mean red over the right half
    of the last feature map minus mean green over its left half; throttle reads both everywhere."""
    layers = tf.keras.layers
    image = layers.Input((120, 160, 3), name='img_in')
    conv1, conv2 = layers.Conv2D(2, 3, strides=2, activation='relu'), layers.Conv2D(2, 3, strides=2, activation='relu')
    features = conv2(conv1(image))
    steer, speed = layers.Dense(1, name='n_outputs0'), layers.Dense(1, name='n_outputs1')
    flat = layers.Flatten()(features)
    model = tf.keras.Model(image, [steer(flat), speed(flat)])
    for conv, depth in ((conv1, 3), (conv2, 2)):
        kernel = np.zeros((3, 3, depth, 2), np.float32)
        kernel[:, :, 0, 0] = kernel[:, :, 1, 1] = 1 / 9  # channel 0 follows red, channel 1 green
        conv.set_weights([kernel, np.full(2, 0.01, np.float32)])
    rows, cols = (int(v) for v in features.shape[1:3])
    weights = np.zeros((rows, cols, 2), np.float32)
    weights[:, cols // 2 + 1:, 0] = 1.0
    weights[:, :cols // 2 - 1, 1] = -1.0
    steer.set_weights([weights.reshape(-1, 1) / weights[..., 0].sum(), np.zeros(1, np.float32)])
    speed.set_weights([np.full((rows * cols * 2, 1), 1 / (rows * cols * 2), np.float32), np.zeros(1, np.float32)])
    return model


def frames(count, seed=0):
    """Left half green, right half red, each of a random brightness, with a little noise."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 120, 160, 3), np.float32)
    images[:, :, :80, 1] = rng.uniform(60, 220, (count, 1, 1))
    images[:, :, 80:, 0] = rng.uniform(60, 220, (count, 1, 1))
    return np.clip(images + rng.normal(0, 6, images.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def pilot_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('signs') / 'sign.h5'
    sign_pilot().save(path)
    return path


def assert_right_positive(maps, name):
    for m in maps:
        assert (m[:, RIGHT] > 0).mean() > 0.9 and (m[:, LEFT] < 0).mean() > 0.9, name


def test_the_pilot_steers_as_built(pilot_file):
    images = frames(6)
    angle = ds.saliency(ds.load_pilot(pilot_file), images).angle
    expected = images[:, :, 80:, 0].mean(axis=(1, 2)) / 255 - images[:, :, :80, 1].mean(axis=(1, 2)) / 255
    assert np.corrcoef(angle, expected)[0, 1] > 0.99


@pytest.mark.parametrize('method', SIGNED)
def test_signed_maps_in_the_api(pilot_file, method):
    result = ds.saliency(ds.load_pilot(pilot_file), frames(4), method=method, **SETTINGS)
    assert result.signed
    assert_right_positive(result.maps, method)


@pytest.mark.parametrize('method', SIGNED)
def test_signed_maps_offline(pilot_file, method, tmp_path):
    tub = synthetic.write_tub(tmp_path / 'tub', (synthetic.Scene(f, 0.0, 0.3, None, None) for f in frames(4, 1)),
                              hz=1000)
    flags = [item for key, value in SETTINGS.items() if key in {s.name for s in methods.get(method).settings}
             for item in (f'--{key}', value)]
    result = run_main('--tub', tub, '--model', pilot_file, '--method', method, '--out', tmp_path / 'v.mp4',
                     '--save-maps', tmp_path / 'maps.npz', *flags)
    assert result.returncode == 0, result.stderr
    assert_right_positive(np.load(tmp_path / 'maps.npz')['maps'], method)


@pytest.mark.parametrize('method', ['gradcam', 'gradients', 'occlusion'])
def test_the_car_draws_the_signed_map_the_api_computes(pilot_file, method):
    """The car's overlay is the video's drawing of the API's map of the same frame, red where it pushes right."""
    from donkeycar.utils import get_model_by_type
    from donkey_saliency.car.part import SalientPilot
    from donkey_saliency.core import carconfig
    cfg, _ = carconfig.load(None)
    kl = get_model_by_type('linear', cfg)
    kl.load(str(pilot_file))
    cfg.SALIENCY_METHOD = method
    cfg.SALIENCY_WINDOW, cfg.SALIENCY_STRIDE = SETTINGS['window'], SETTINGS['stride']
    part = SalientPilot(kl, cfg)
    image = frames(1, 2)[0]
    shown = part.run(image)[2]
    result = ds.saliency(ds.load_pilot(pilot_file), image, method=method, **SETTINGS)
    assert_right_positive(result.maps, method)
    assert np.abs(shown.astype(int) - overlay(image, result.maps[0], 0.5, signed=True)).max() <= 1


def test_an_exported_twin_keeps_the_sign(pilot_file, tmp_path):
    from donkey_saliency.car.export import export
    twin = tmp_path / 'sign.saliency.tflite'
    export(ds.load_pilot(pilot_file), str(twin), gradcam=True)
    for method in ('gradcam', 'occlusion'):
        result = ds.saliency(ds.load_pilot(twin), frames(3, 3), method=method, **SETTINGS)
        assert_right_positive(result.maps, f'{method} from the twin')
