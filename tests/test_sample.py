"""The bundled sample: made by the project's scripts, and a pilot whose maps mean something."""
import os

import cv2
import numpy as np
import pytest

from donkey_saliency import carconfig, sample, synthetic
from donkey_saliency.methods import get_method
from donkey_saliency.pilots import load_pilot

COUNT = 400
SEED = 2026  # scripts/make_sample.py


@pytest.fixture(scope='module')
def scenes():
    return list(synthetic.drive(COUNT, seed=SEED))


@pytest.fixture(scope='module')
def pilot():
    cfg, _ = carconfig.load(None)
    return load_pilot(sample.MODEL, None, cfg)


def sample_images(indexes):
    return np.stack([cv2.cvtColor(cv2.imread(os.path.join(sample.TUB, 'images', f'{i}_cam_image_array_.jpg')),
                                  cv2.COLOR_BGR2RGB) for i in indexes])


def test_the_script_reproduces_the_bundled_tub(tmp_path):
    path = synthetic.write_tub(tmp_path / 'tub', synthetic.drive(COUNT, seed=SEED), hz=1000)
    for i in (0, 137, COUNT - 1):
        name = f'{i}_cam_image_array_.jpg'
        assert (path / 'images' / name).read_bytes() == open(os.path.join(sample.TUB, 'images', name), 'rb').read()


def test_sample_pilot_steers_by_the_lines(scenes, pilot):
    angles, _ = pilot.decode(pilot.model(sample_images(range(COUNT)).astype(np.float32) / 255, training=False))
    labels = np.array([s.angle for s in scenes])
    assert np.corrcoef(angles, labels)[0, 1] > 0.95


def test_vbp_looks_at_the_lines_not_at_the_distractors(scenes, pilot):
    """The distractors are random and carry no information; a pilot that learned the road ignores them."""
    method = get_method('vbp')(pilot.model)
    _, maps = method([sample_images(range(COUNT)).astype(np.float32) / 255])
    on_lines = np.array([m[s.lines].mean() for s, m in zip(scenes, maps)])
    on_shapes = np.array([m[s.distractors].mean() for s, m in zip(scenes, maps)])
    background = np.array([m[~s.lines & ~s.distractors].mean() for s, m in zip(scenes, maps)])
    assert np.median(on_lines / on_shapes) > 10
    assert np.mean(on_lines > on_shapes) > 0.95
    assert np.median(on_lines / background) > 5


def test_the_script_reproduces_the_bundled_pilot(tmp_path):
    """Training again with the script's settings gives the same pilot (seeds fixed, deterministic ops)."""
    from donkey_saliency import training
    tub = synthetic.write_tub(tmp_path / 'tub', synthetic.drive(COUNT, seed=SEED), hz=1000)
    retrained, _ = training.train('linear', tub, tmp_path / 'pilot.h5', epochs=15, seed=0)
    cfg, _ = carconfig.load(None)
    bundled = load_pilot(sample.MODEL, None, cfg)
    x = sample_images(range(0, COUNT, 20)).astype(np.float32) / 255
    np.testing.assert_allclose(retrained.interpreter.model(x, training=False)[0],
                               bundled.model(x, training=False)[0], atol=2e-3)
