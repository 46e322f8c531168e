"""`donkey saliency export`, run as a user runs it: the default name, a clean summary, and its refusals."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from donkey_saliency import sample

from donkey_saliency.quiet import import_tensorflow

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

tf = import_tensorflow()


def export(*args):
    """`python -m donkey_saliency export ARGS`, as a user runs it."""
    return subprocess.run([sys.executable, '-m', 'donkey_saliency', 'export', *map(str, args)], capture_output=True,
                          text=True, timeout=600)


def test_the_twin_is_written_next_to_the_model_and_answers_its_maps(tmp_path):
    from donkey_saliency.core.engine import Engine, MapRequest, answerable
    from donkey_saliency.core.pilot import load_pilot
    models = tmp_path / 'models'
    models.mkdir()
    shutil.copy(sample.MODEL, models / 'pilot.h5')
    result = export('--model', models / 'pilot.h5', '--gradcam')
    assert result.returncode == 0, result.stderr
    twin = models / 'pilot.saliency.tflite'
    assert result.stdout.splitlines() == [
        f'wrote {twin} with outputs n_outputs0, n_outputs1, saliency, saliency_gradcam_angle',
        'built-in TFLite ops only: it runs with tflite-runtime or ai-edge-litert, without TensorFlow']
    assert 'non-converted' not in (result.stdout + result.stderr).lower()  # no converter chatter
    pilot = load_pilot(str(twin))
    assert answerable(pilot) == ['vbp', 'gradcam', 'occlusion', 'spectral-residual']
    x = [np.zeros((1, 120, 160, 3), np.float32) + 0.5]
    _, (vbp,) = Engine(pilot, [MapRequest('vbp')])(x)
    assert vbp.shape == (1, 120, 160)
    assert sorted(os.listdir(models)) == ['pilot.h5', 'pilot.saliency.tflite']  # no temporary file left


def test_a_tflite_is_refused(tmp_path):
    from donkey_saliency.car.export import export as write_twin
    from donkey_saliency.core.pilot import load_pilot
    twin = tmp_path / 'pilot.saliency.tflite'
    write_twin(load_pilot(sample.MODEL), str(twin))
    result = export('--model', twin, '--out', tmp_path / 'again.tflite')
    assert result.returncode == 2 and 'already a .tflite file' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / 'again.tflite').exists()


def test_a_graph_tflite_cannot_convert_is_one_line_and_no_file(tmp_path):
    layers = tf.keras.layers
    image = layers.Input((120, 160, 3), name='img_in')
    x = layers.Flatten()(layers.Conv2D(4, 5, strides=2, activation='relu')(image))
    angle = layers.Lambda(lambda v: tf.math.lgamma(v + 2.0), name='n_outputs0')(layers.Dense(1)(x))
    tf.keras.Model(image, [angle, layers.Dense(1, name='n_outputs1')(x)]).save(tmp_path / 'odd.h5')
    result = export('--model', tmp_path / 'odd.h5')
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    import keras
    # Keras 3 refuses to load a Lambda layer from a file at all (unsafe deserialization): one line too
    expected = 'cannot load' if keras.__version__.startswith('3.') else 'Lgamma'
    assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr
    assert os.listdir(tmp_path) == ['odd.h5']


def test_a_wrong_output_name_is_refused_before_any_work(tmp_path):
    result = export('--model', sample.MODEL, '--out', tmp_path / 'twin.h5')
    assert result.returncode == 2 and 'must end in .tflite' in result.stderr
