"""TFLite pilots: VisualBackProp from the interpreter's intermediate tensors, occlusion, clear refusals."""
import numpy as np
import pytest

from conftest import (SHARED, SHARED_ABSENT, SHARED_READY, assert_maps_close, assert_video_size, read_video, run_cli,
                      run_main, tree_digest)
from donkey_saliency import sample, synthetic
from donkey_saliency.core import carconfig
from donkey_saliency.core.engine import Engine, MapRequest
from donkey_saliency.core.methods import METHODS
from donkey_saliency.core.pilot import load_pilot
from donkey_saliency.quiet import import_tensorflow
from donkey_saliency.core.scores import score_functions
from donkey_saliency.core.tflite import TfLiteModel

tf = import_tensorflow()


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    """The sample pilot converted to .tflite by donkeycar's own keras_to_tflite."""
    from donkeycar.parts.interpreter import keras_to_tflite
    cfg, _ = carconfig.load(None)
    pilot = load_pilot(sample.MODEL, None, cfg)
    path = tmp_path_factory.mktemp('tflite') / 'pilot.tflite'
    keras_to_tflite(pilot.model, str(path))
    return pilot, path


@pytest.fixture(scope='module')
def scenes_batch():
    return np.stack([s.image for s in synthetic.drive(6, seed=12)]).astype(np.float32) / 255


def test_geometry_read_from_the_graph_matches_the_keras_one(converted):
    pilot, path = converted
    keras_layers = METHODS['vbp'].create(pilot.model).geometry.layers
    tflite_layers = TfLiteModel(str(path)).geometry.layers
    assert [(l.rows, l.cols) for l in tflite_layers] == [(l.rows, l.cols) for l in keras_layers]


def test_vbp_from_tflite_equals_vbp_in_the_keras_graph(converted, scenes_batch):
    pilot, path = converted
    keras_outputs, keras_maps = METHODS['vbp'].create(pilot.model)([scenes_batch])
    outputs, (maps,) = Engine(load_pilot(str(path)), [MapRequest('vbp')])([scenes_batch])
    np.testing.assert_allclose(outputs[0], keras_outputs[0], atol=1e-4)
    assert_maps_close(maps, keras_maps, atol=1e-3)


def test_occlusion_on_tflite_equals_occlusion_in_the_keras_graph(converted, scenes_batch):
    pilot, path = converted
    keras = METHODS['occlusion'].create(pilot.model, score_functions('linear', xp=tf.experimental.numpy)['angle'],
                                        signed=True)
    lite = Engine(load_pilot(str(path)), [MapRequest('occlusion', 'angle', signed=True)])
    assert_maps_close(lite([scenes_batch[:2]])[1][0], keras([scenes_batch[:2]])[1], atol=2e-3)


def test_command_on_a_tflite_pilot(converted, small_tub, tmp_path):
    _, path = converted
    maps_file = tmp_path / 'maps.npz'
    result = run_main('--tub', small_tub, '--model', path, '--end', 8, '--out', tmp_path / 'v.mp4',
                     '--save-maps', maps_file, '--method', 'occlusion', '--layout', 'panels')
    assert result.returncode == 0, result.stderr
    assert_video_size(read_video(tmp_path / 'v.mp4')[0], 8, (240, 320), panels=3)
    saved = np.load(maps_file)
    assert saved['maps'].shape == saved['maps_vbp'].shape == (8, 120, 160)


@pytest.mark.parametrize('method', ['gradcam', 'gradients', 'smoothgrad', 'integrated-gradients'])
def test_gradient_methods_are_refused_naming_what_works(converted, small_tub, tmp_path, method):
    _, path = converted
    result = run_cli('--tub', small_tub, '--model', path, '--method', method, '--out', tmp_path / 'v.mp4')
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert 'it answers vbp, occlusion, spectral-residual; pass the Keras file' in result.stderr
    assert not (tmp_path / 'v.mp4').exists()


def test_a_fully_quantized_tflite_is_refused_in_one_line(small_tub, tmp_path):
    """donkeycar's own conversion for a Coral Edge TPU (a representative data set given: uint8 in and out), which
    its TFLite pilot cannot drive: one line saying so and what to give instead, exit 2, nothing written; the
    tub and the model untouched."""
    from donkeycar.parts.interpreter import keras_to_tflite
    cfg, _ = carconfig.load(None)
    pilot = load_pilot(sample.MODEL, None, cfg)
    path = tmp_path / 'edgetpu.tflite'
    scenes = [s.image.astype(np.float32)[None] / 255 for s in synthetic.drive(8, seed=3)]
    keras_to_tflite(pilot.model, str(path), lambda: ([scene] for scene in scenes))
    assert tf.lite.Interpreter(str(path)).get_input_details()[0]['dtype'] == np.uint8
    before = tree_digest(small_tub), path.read_bytes()
    result = run_cli('--tub', small_tub, '--model', path, '--out', tmp_path / 'v.mp4')
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f'{path} is a fully quantized TFLite model (' in result.stderr and 'instead of float32' in result.stderr
    assert '(uint8)' in result.stderr and 'give the float .tflite or the Keras pilot' in result.stderr
    assert not (tmp_path / 'v.mp4').exists() and (tree_digest(small_tub), path.read_bytes()) == before


def geometry_model(kind):
    """A small linear-type pilot with one geometry the graph walk must get right (or refuse)."""
    layers = tf.keras.layers
    image = layers.Input((60, 80, 3), name='img_in')
    x = layers.Conv2D(6, 5, strides=2, activation='relu')(image)
    x = {'dilated': lambda x: layers.Conv2D(6, 3, dilation_rate=2, activation='relu')(x),
         'same-average-pool': lambda x: layers.AveragePooling2D(3, 2, padding='same')(x),
         'max-pool-3-1': lambda x: layers.MaxPooling2D(3, 1)(x),
         'same-max-pool': lambda x: layers.MaxPooling2D(3, 2, padding='same')(x),
         'same-conv-stride-2': lambda x: layers.Conv2D(6, 4, strides=2, padding='same', activation='relu')(x),
         'depthwise': lambda x: layers.DepthwiseConv2D(3, strides=2, activation='relu')(x),
         'relu6-separate': lambda x: layers.ReLU(6.0)(layers.Conv2D(6, 3)(x))}[kind](x)
    x = layers.Conv2D(8, 3, activation='relu')(x)
    x = layers.Flatten()(x)
    tf.keras.utils.set_random_seed(5)
    return tf.keras.Model(image, [layers.Dense(1, name='n_outputs0')(x), layers.Dense(1, name='n_outputs1')(x)])


@pytest.mark.parametrize('kind', ['dilated', 'same-average-pool', 'max-pool-3-1', 'same-max-pool',
                                  'same-conv-stride-2', 'depthwise', 'relu6-separate'])
def test_a_plain_tflite_gives_the_keras_maps_or_says_why_not(kind, tmp_path):
    """Every geometry the Keras path handles gives the same VBP from the plain .tflite (to 1e-3), or the file is
    refused with one line saying what to do; never a wrong map without a word."""
    from donkeycar.parts.interpreter import keras_to_tflite
    from donkey_saliency.errors import UserError
    model = geometry_model(kind)
    path = tmp_path / f'{kind}.tflite'
    keras_to_tflite(model, str(path))
    x = np.random.default_rng(2).random((3, 60, 80, 3), dtype=np.float32)
    _, keras_maps = METHODS['vbp'].create(model)([x])
    try:
        _, (maps,) = Engine(load_pilot(str(path)), [MapRequest('vbp')])([x])
    except UserError as refused:
        assert kind == 'dilated', refused  # the only one the converter rewrites beyond tracing
        assert 'donkey saliency export' in str(refused) and '\n' not in str(refused)
        return
    assert_maps_close(maps, keras_maps, atol=1e-3)


@pytest.mark.skipif(not SHARED_READY, reason=SHARED_ABSENT)
def test_the_real_tflite_pilot_on_its_own_tub(tmp_path):
    maps_file = tmp_path / 'maps.npz'
    result = run_main('--tub', SHARED / 'data', '--model', SHARED / 'models' / 'final_1.tflite', '--end', 600,
                     '--out', tmp_path / 'real.mp4', '--save-maps', maps_file)
    assert result.returncode == 0, result.stderr
    saved = np.load(maps_file)
    from donkeycar.parts.tub_v2 import Tub
    tub = Tub(str(SHARED / 'data'), read_only=True)
    user = np.array([r['user/angle'] for _, r in zip(range(600), tub)])
    tub.close()
    assert np.corrcoef(saved['angle'], user)[0, 1] > 0.5  # the shared README measured about 0.70 on all frames
    assert saved['maps'].shape == (600, 120, 160)


def one_window_at_a_time(path, frames, window, stride):
    """Occlusion for the steering as a plain loop, independent of the package's: a fresh interpreter keeping its
    intermediate tensors (as the pilot's own is opened), batch 1, one blacked-out window per call; a pixel's value
    is the mean drop of the angle over the windows that cover it."""
    from donkeycar.parts.interpreter import get_tflite_interpreter
    interpreter = get_tflite_interpreter()(model_path=str(path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    image = interpreter.get_input_details()[0]['index']
    angle = interpreter.get_signature_runner().get_output_details()['n_outputs0']['index']  # KerasLinear's steering

    def steering(x):
        interpreter.set_tensor(image, x[None].astype(np.float32))
        interpreter.invoke()
        return float(interpreter.get_tensor(angle)[0, 0])

    rows, cols = frames.shape[1:3]
    tops = sorted(set(list(range(0, rows - window + 1, stride)) + [rows - window]))
    lefts = sorted(set(list(range(0, cols - window + 1, stride)) + [cols - window]))
    maps = []
    for frame in frames:
        base, total, count = steering(frame), np.zeros((rows, cols)), np.zeros((rows, cols))
        for top in tops:
            for left in lefts:
                hidden = frame.copy()
                hidden[top:top + window, left:left + window] = 0
                total[top:top + window, left:left + window] += base - steering(hidden)
                count[top:top + window, left:left + window] += 1
        maps.append(total / np.maximum(count, 1))
    return np.array(maps)


def test_batched_tflite_occlusion_equals_one_window_at_a_time(converted, scenes_batch):
    """The windows go through the interpreter as one batch; the maps are the plain loop's to 1e-5, and the pilot's
    own interpreter still answers batch-1 calls and VisualBackProp afterwards (a resize leaves nothing stale)."""
    _, path = converted
    pilot = load_pilot(str(path))
    engine = Engine(pilot, [MapRequest('occlusion', 'angle', signed=True), MapRequest('vbp')])
    outputs, (maps, vbp) = engine([scenes_batch[:3]])
    np.testing.assert_allclose(maps, one_window_at_a_time(path, scenes_batch[:3], 24, 12), atol=1e-5)
    single, (_, single_vbp) = engine([scenes_batch[1:2]])
    np.testing.assert_allclose(single[0], outputs[0][1:2], atol=1e-6)
    np.testing.assert_allclose(single_vbp, vbp[1:2], atol=1e-6)
