"""The bundled sample: made by the project's scripts, and a pilot whose maps mean something."""
import os

import cv2
import numpy as np
import pytest

from donkey_saliency import sample, synthetic
from donkey_saliency.core import carconfig
from donkey_saliency.core.methods import METHODS
from donkey_saliency.core.pilot import load_pilot

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
    """Same records and the same pictures. JPEG bytes depend on the encoder's build (Pillow, libjpeg), so the
    images are compared decoded: within a JPEG's rounding (measured here: identical; a different libjpeg moves
    a few pixels by a level or two)."""
    from donkeycar.parts.tub_v2 import Tub
    path = synthetic.write_tub(tmp_path / 'tub', synthetic.drive(COUNT, seed=SEED), hz=1000)
    made, bundled = Tub(str(path), read_only=True), Tub(sample.TUB, read_only=True)
    ours, theirs = list(made), list(bundled)
    made.close()
    bundled.close()
    assert len(ours) == len(theirs) == COUNT
    for key in ('user/angle', 'user/throttle', 'user/mode', 'cam/image_array'):
        assert [r[key] for r in ours] == [r[key] for r in theirs], key
    for i in (0, 137, COUNT - 1):
        name = f'{i}_cam_image_array_.jpg'
        made_image = cv2.imread(str(path / 'images' / name)).astype(int)
        bundled_image = cv2.imread(os.path.join(sample.TUB, 'images', name)).astype(int)
        assert np.abs(made_image - bundled_image).mean() < 0.5 and np.abs(made_image - bundled_image).max() <= 8


def test_sample_pilot_steers_by_the_lines(scenes, pilot):
    angles, _ = pilot.decode(pilot.model(sample_images(range(COUNT)).astype(np.float32) / 255, training=False))
    labels = np.array([s.angle for s in scenes])
    assert np.corrcoef(angles, labels)[0, 1] > 0.95


def test_vbp_looks_at_the_lines_not_at_the_distractors(scenes, pilot):
    """The distractors are random and carry no information; a pilot that learned the road ignores them."""
    _, maps = METHODS['vbp'].create(pilot.model)([sample_images(range(COUNT)).astype(np.float32) / 255])
    on_lines = np.array([m[s.lines].mean() for s, m in zip(scenes, maps)])
    on_shapes = np.array([m[s.distractors].mean() for s, m in zip(scenes, maps)])
    background = np.array([m[~s.lines & ~s.distractors].mean() for s, m in zip(scenes, maps)])
    assert np.median(on_lines / on_shapes) > 10
    assert np.mean(on_lines > on_shapes) > 0.95
    assert np.median(on_lines / background) > 5


def lines_to_distractors(model, scenes, images):
    """Median over frames of the VBP map's mean on the lane lines over its mean on the distractors."""
    _, maps = METHODS['vbp'].create(model)([images.astype(np.float32) / 255])
    return np.median([m[s.lines].mean() / m[s.distractors].mean() for s, m in zip(scenes, maps)])


def test_the_script_reproduces_the_bundled_pilot(tmp_path, scenes):
    """Training again with the script's settings gives a pilot that behaves like the bundled one.

    TensorFlow promises no bit-identical training across machines and builds, so this asserts what the claim
    means, with a tolerance set by measurement: the same script and seed on two machines of the same kind gave
    pilots 0.008 apart in steering and 0.009 in throttle (largest over these 20 frames); on one machine, trained
    on oneDNN's kernels instead of Eigen's (the setting the command asks for), 0.031; while seeds 1
    and 2 on one machine gave 0.10 and 0.15 (steering correlation with the bundled pilot 0.997 and 0.996, against
    1.0000). So: within 0.05 of the bundled outputs, steering correlation above 0.999, and maps on the lines.
    """
    from donkey_saliency import training
    tub = synthetic.write_tub(tmp_path / 'tub', synthetic.drive(COUNT, seed=SEED), hz=1000)
    retrained, _ = training.train('linear', tub, tmp_path / 'pilot.h5', epochs=15, seed=0)
    bundled = load_pilot(sample.MODEL)
    frames = range(0, COUNT, 20)
    x = sample_images(frames).astype(np.float32) / 255
    ours = np.concatenate([o.numpy() for o in retrained.interpreter.model(x, training=False)], axis=1)
    theirs = np.concatenate([o.numpy() for o in bundled.model(x, training=False)], axis=1)
    np.testing.assert_allclose(ours, theirs, atol=0.05)
    assert np.corrcoef(ours[:, 0], theirs[:, 0])[0, 1] > 0.999
    chosen = [scenes[i] for i in frames]
    assert lines_to_distractors(retrained.interpreter.model, chosen, sample_images(frames)) > 10
