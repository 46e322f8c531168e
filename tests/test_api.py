"""The Python API: the README's snippet as written, the same maps as the CLI, plain Keras models, a light import."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, fenced_block, run_cli

import donkey_saliency as ds
from donkey_saliency import sample
from donkey_saliency.errors import UserError
from donkey_saliency.quiet import import_tensorflow

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

tf = import_tensorflow()
layers = tf.keras.layers


def readme_snippet():
    """The README's "In a notebook" block."""
    return fenced_block('README.md', 'python', 'import donkey_saliency as ds')


def sample_frames(count):
    import cv2
    return np.stack([cv2.cvtColor(cv2.imread(str(ROOT / 'donkey_saliency' / 'sample_data' / 'tub' / 'images' /
                                                 f'{i}_cam_image_array_.jpg')), cv2.COLOR_BGR2RGB)
                     for i in range(count)])


def test_the_readme_snippet_runs_as_written(tmp_path, monkeypatch):
    """In a folder where models/pilot.h5 is the sample pilot and `images` holds camera frames."""
    pytest.importorskip('donkeycar')
    (tmp_path / 'models').mkdir()
    (tmp_path / 'models' / 'pilot.h5').write_bytes(open(sample.MODEL, 'rb').read())
    monkeypatch.chdir(tmp_path)
    images = sample_frames(6)
    namespace = {'images': images}
    exec(readme_snippet(), namespace)
    result, picture = namespace['result'], namespace['picture']
    assert result.maps.shape == (6, 120, 160) and result.angle.shape == result.throttle.shape == (6,)
    assert picture.dtype == np.uint8 and picture.shape[1] == 320  # enlarged twice, colour bar below
    top, bottom = 0, 240  # no title given: no band above (an empty one, before)
    assert picture.shape[0] > bottom
    camera = images[0].repeat(2, axis=0).repeat(2, axis=1)
    assert np.abs(picture[top:bottom].astype(int) - camera).mean() > 3  # the heat map is drawn over the frame


def test_api_maps_equal_the_saved_maps_of_the_command(small_tub, tmp_path):
    """`ds.saliency` and `donkey saliency --save-maps` go through one engine: same frames, same numbers."""
    pytest.importorskip('donkeycar')
    from donkeycar.parts.tub_v2 import Tub
    result = run_cli('--tub', small_tub, '--model', sample.MODEL, '--method', 'gradcam', '--layer', 2, '--end', 8,
                     '--out', tmp_path / 'v.mp4', '--save-maps', tmp_path / 'm.npz')
    assert result.returncode == 0, result.stderr
    import cv2
    tub = Tub(str(small_tub), read_only=True)
    images = np.stack([cv2.cvtColor(cv2.imread(f'{tub.images_base_path}/{r["cam/image_array"]}'), cv2.COLOR_BGR2RGB)
                       for _, r in zip(range(8), tub)])
    tub.close()
    saved = np.load(tmp_path / 'm.npz')
    api = ds.saliency(ds.load_pilot(sample.MODEL), images, method='gradcam', layer=2)
    np.testing.assert_allclose(api.maps, saved['maps'], atol=1e-4)
    np.testing.assert_allclose(api.angle, saved['angle'], atol=1e-5)
    np.testing.assert_allclose(api.throttle, saved['throttle'], atol=1e-5)


def plain_model():
    """Not a donkeycar pilot: a 48x64 image model with two named outputs, the first reading only the right half."""
    image = layers.Input((48, 64, 3))
    features = layers.Conv2D(4, 3, strides=2, activation='relu')(image)
    right = layers.Cropping2D(((0, 0), (16, 0)))(features)
    steer = layers.Dense(1, name='steer')(layers.Flatten()(right))
    speed = layers.Dense(1, name='speed')(layers.Flatten()(features))
    return tf.keras.Model(image, [steer, speed])


def test_a_plain_keras_model_with_outputs_by_index_or_name():
    model = plain_model()
    frames = np.random.default_rng(0).integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)
    by_index = ds.saliency(model, frames, method='gradients', output=0)
    by_name = ds.saliency(model, frames, method='gradients', output='steer')
    np.testing.assert_allclose(by_index.maps, by_name.maps, atol=1e-6)
    assert by_index.angle is None and by_index.outputs[0].shape == (3, 1)
    np.testing.assert_allclose(by_index.outputs[0], model(frames / 255.0)[0].numpy(), atol=1e-5)
    left, right = np.abs(by_index.maps[:, :, :30]).sum(), np.abs(by_index.maps[:, :, 36:]).sum()
    assert left < 0.01 * right  # 'steer' reads only the right half of the image
    speed = ds.saliency(model, frames, method='gradients', output='speed')
    assert np.abs(speed.maps[:, :, :30]).sum() > 0.1 * np.abs(speed.maps[:, :, 36:]).sum()
    with pytest.raises(UserError, match='no output'):
        ds.saliency(model, frames, method='gradients', output='throttle')


def test_greyscale_frames_for_a_greyscale_model():
    image = layers.Input((48, 64, 1))
    flat = layers.Flatten()(layers.Conv2D(4, 3, strides=2, activation='relu')(image))
    model = tf.keras.Model(image, layers.Dense(1)(flat))
    grey = np.random.default_rng(2).integers(0, 256, (2, 48, 64), dtype=np.uint8)
    with_axis = ds.saliency(model, grey[..., None], method='gradients', output=0)
    without = ds.saliency(model, grey, method='gradients', output=0)
    np.testing.assert_allclose(with_axis.raw, without.raw)
    np.testing.assert_allclose(with_axis.outputs[0], model(grey[..., None] / 255.0).numpy(), atol=1e-5)
    colour = np.repeat(grey[..., None], 3, axis=-1)  # an RGB frame is converted as the video converts it
    np.testing.assert_allclose(ds.saliency(model, colour, method='gradients', output=0).raw, without.raw, atol=1e-5)


def test_bad_api_input_is_one_clear_error():
    model = plain_model()
    with pytest.raises(UserError, match='must be uint8 camera frames'):
        ds.saliency(model, np.zeros((2, 48, 64, 3), np.float32))
    with pytest.raises(UserError, match='unknown setting'):
        ds.saliency(model, np.zeros((2, 48, 64, 3), np.uint8), method='occlusion', windw=8)
    with pytest.raises(UserError, match='choose one of'):
        ds.saliency(model, np.zeros((2, 48, 64, 3), np.uint8), method='gradcm')
    with pytest.raises(UserError, match='takes 64x48x3'):
        ds.saliency(model, np.zeros((2, 40, 64, 3), np.uint8))


def test_the_api_names_its_arguments_where_the_command_names_its_flags(tmp_path):
    """The library's messages are written once, for the CLI (test_user_errors holds the flags they name there); from
    Python each names the argument instead: a notebook has no --model to pass."""
    def said(call, *args, **kwargs):
        with pytest.raises(UserError) as raised:
            call(*args, **kwargs)
        assert '--' not in str(raised.value), raised.value
        return str(raised.value)
    assert said(ds.load_pilot, 'missing.h5') == ('model not found: missing.h5; pass the pilot file with path '
                                                 '(e.g. models/mypilot.h5)')
    assert said(ds.load_pilot, sample.MODEL, type='tflite_linear').startswith('type=tflite_linear needs a .tflite')
    assert said(ds.mirror, tmp_path / 'nothing', tmp_path / 'out').endswith('manifest.json with tubs')
    assert said(ds.report, sample.TUB, sample.MODEL, out=tmp_path / 'r.html', start=5, end=3) == (
        'start=5 end=3 is an empty range; use 0 <= start < end, or end=-1 for the last record')


def test_import_stays_light():
    probe = ('import sys, donkey_saliency as ds; ds.METHODS; '
             'print(" ".join(m for m in ("tensorflow", "keras", "moviepy", "donkeycar") if m in sys.modules))')
    result = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == '', result.stdout + result.stderr


def test_a_keras_file_without_donkeycar_detected_type(tmp_path):
    """On upstream's stack (no donkeycar) a donkeycar-shaped .keras file loads as its type and decodes by columns."""
    image = layers.Input((48, 64, 3), name='img_in')
    flat = layers.Flatten()(layers.Conv2D(4, 5, strides=2, activation='relu')(image))
    model = tf.keras.Model(image, [layers.Dense(1, name='n_outputs0')(flat), layers.Dense(1, name='n_outputs1')(flat)])
    model.save(tmp_path / 'pilot.keras')
    pilot = ds.load_pilot(tmp_path / 'pilot.keras')
    assert pilot.kind == 'linear'
    frames = np.random.default_rng(1).integers(0, 256, (2, 48, 64, 3), dtype=np.uint8)
    result = ds.saliency(pilot, frames, method='vbp')
    expected = model(frames / 255.0)
    np.testing.assert_allclose(result.angle, expected[0].numpy()[:, 0], atol=1e-5)
    np.testing.assert_allclose(result.throttle, expected[1].numpy()[:, 0], atol=1e-5)
    assert result.maps.shape == (2, 48, 64) and 0 <= result.maps.min() and result.maps.max() == pytest.approx(1)


def test_evaluate_and_randomise_a_plain_model():
    """ds.evaluate on any Keras image model (here, without donkeycar on upstream's stack too): the gradient map
    of an output that reads only the right half beats a random order, the same map upside down does not; and
    the randomisation check flags the model-free control but not the gradients. (The verdict's significance
    is tested on the sample road; an untrained model on noise frames wins on average, not on every frame.)"""
    from donkey_saliency.core import randomisation
    from donkey_saliency.core.engine import Engine, requests_for
    from donkey_saliency.core.pilot import from_model
    tf.keras.utils.set_random_seed(0)
    model = plain_model()
    frames = np.random.default_rng(4).integers(0, 256, (12, 48, 64, 3), dtype=np.uint8)
    raw = ds.saliency(model, frames, method='gradients', output='steer').raw
    found = ds.evaluate(model, frames, {'gradients': raw, 'upside down': np.abs(raw).max() - np.abs(raw)},
                        output='steer', steps=8)['outputs']['steer']
    good, bad = found['gradients'], found['upside down']
    assert good['deletion_auc'] < good['random_deletion_auc'] and good['insertion_auc'] > good['random_insertion_auc']
    assert bad['deletion_auc'] > bad['random_deletion_auc'] and bad['insertion_auc'] < bad['random_insertion_auc']
    assert not bad['beats_random']
    pilot = from_model(model)
    x = [frames.astype(np.float32) / 255]
    requests = [requests_for(m, 0)[0][0] for m in ('gradients', 'spectral-residual')]
    _, original = Engine(pilot, requests, {})(x)
    checked = randomisation.check(pilot, x, requests, {}, original)
    assert checked['spectral-residual']['flagged'] and not checked['gradients']['flagged']
