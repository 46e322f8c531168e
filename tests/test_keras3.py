"""Upstream's newer stack (donkeycar 5.4: Python 3.12, TensorFlow >= 2.19, Keras 3), where donkeycar 5.3 does not
install: every donkeycar pilot type, as the .h5 donkeycar 5.3 (Keras 2) saved and as the .keras Keras 3 saves from
it, answers through the engine what the 5.3 stack answers: same type, outputs, decoded angle and throttle
(donkeycar's own decoding there, its copy here), geometry and maps.

The pilots and the 5.3 answers come from donkeycar 5.3 itself, in its own Python (tests/keras2_pilots.py); the
decoding constants copied for the donkeycar-free path are checked against donkeycar where it is installed.
"""
import numpy as np
import pytest

from conftest import HAS_DONKEYCAR, KERAS2_PILOTS, assert_maps_close

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

CONFIGS = {'rnn': {'SEQUENCE_LENGTH': 3}, '3d': {'SEQUENCE_LENGTH': 3}, 'memory': {'SEQUENCE_LENGTH': 3},
           'behavior': {'BEHAVIOR_LIST': ['left', 'right']}, 'localizer': {'NUM_LOCATIONS': 4}}
KINDS = ('linear', 'categorical', 'inferred', 'imu', 'memory', 'behavior', 'localizer', 'rnn', '3d')
METHODS = ('vbp', 'gradcam')


@pytest.fixture(scope='module')
def answers(tmp_path_factory):
    """{kind: (Keras 2 .h5, Keras 3 .keras, the 5.3 stack's answers)}, built once."""
    if HAS_DONKEYCAR:
        pytest.skip('the Keras 3 stack is checked against this one (donkeycar 5.3) from Python 3.12')
    from donkey_saliency.core.pilot import load_pilot
    folder = tmp_path_factory.mktemp('keras3')
    result = {}
    for kind in KINDS:
        h5 = KERAS2_PILOTS.h5(kind, **CONFIGS.get(kind, {}))
        KERAS2_PILOTS.ask(answers=h5, out=str(folder / f'{kind}.npz'), count=4)
        keras_file = folder / f'{kind}.keras'
        load_pilot(h5).model.save(keras_file)  # as a 5.4 user converts an old pilot
        result[kind] = (h5, str(keras_file), dict(np.load(folder / f'{kind}.npz')))
    return result


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('form', ['h5 by Keras 2', 'keras by Keras 3'])
def test_every_type_answers_as_on_the_5_3_stack(answers, kind, form):
    from donkey_saliency.core import geometry
    from donkey_saliency.core.engine import Engine, requests_for
    from donkey_saliency.core.pilot import load_pilot
    h5, keras_file, reference = answers[kind]
    pilot = load_pilot(h5 if form.startswith('h5') else keras_file)
    assert pilot.kind == kind == str(reference['kind'])
    inputs = [reference[f'input_{i}'] for i in range(len(pilot.model.inputs))]
    outputs = pilot.predict(inputs)
    for i, output in enumerate(outputs):
        np.testing.assert_allclose(output, reference[f'output_{i}'], atol=1e-5)
    angle, throttle = pilot.decode(outputs)
    np.testing.assert_allclose(angle, reference['angle'], atol=1e-5)  # donkeycar's decoding, without donkeycar
    np.testing.assert_allclose(throttle, reference['throttle'], atol=1e-5)
    steps = [[layer.kind == 'conv'] + [getattr(axis, f) for axis in (layer.rows, layer.cols)
                                       for f in ('kernel', 'stride', 'pad', 'dilation', 'n_in', 'n_out')]
             for layer in geometry.describe(pilot.model).layers]
    np.testing.assert_array_equal(np.array(steps), reference['geometry'])
    if form.startswith('h5'):
        return  # the same model: its maps are checked once, from the .keras file
    for method in METHODS:
        requests, _ = requests_for(method, 'angle', 'overlay', None)
        computed = Engine(pilot, requests, {})(inputs)[1][0]
        assert computed.shape == reference[f'map_{method}'].shape
        assert_maps_close(computed, reference[f'map_{method}'], atol=2e-3)


def test_the_keras3_twin_gives_the_pilots_outputs(answers, tmp_path):
    """`donkey saliency export` of a .keras pilot on Keras 3: the twin's outputs are the pilot's."""
    from donkey_saliency.car.export import export
    from donkey_saliency.core.pilot import load_pilot
    _, keras_file, reference = answers['linear']
    export(load_pilot(keras_file), str(tmp_path / 'twin.tflite'))
    twin = load_pilot(str(tmp_path / 'twin.tflite'))
    assert twin.kind == 'linear'
    angle, throttle = twin.decode(twin.predict([reference['input_0']]))
    np.testing.assert_allclose(angle, reference['angle'], atol=1e-4)
    np.testing.assert_allclose(throttle, reference['throttle'], atol=1e-4)


def test_decoding_without_donkeycar_is_donkeycars():
    """On the 5.3 stack: the copied constants, and the decoding of every type's outputs, against donkeycar's parts
    (categorical bins by their hottest one, inferred throttle from the steering, throttle range 0.5 as set)."""
    pytest.importorskip('donkeycar')
    from donkey_saliency.core import scores
    from donkey_saliency.core.pilot import decode_without_donkeycar
    from conftest import keras_pilot
    import donkeycar.utils as utils
    for name in ('STEERING_MIN', 'STEERING_MAX', 'EXP_SCALING_FACTOR', 'DAMPENING'):
        assert getattr(scores.DONKEYCAR_UTILS, name) == getattr(utils, name)
    rng = np.random.default_rng(0)
    for bins in (np.eye(15), np.eye(20), rng.random((6, 15))):
        for row in bins:
            for n, offset, span in ((len(row), -1.0, 2.0), (len(row), 0.0, 0.5)):
                assert scores.linear_unbin(row, n, offset, span) == utils.linear_unbin(row, n, offset, span)
    for kind in KINDS:
        part = keras_pilot(kind, MODEL_CATEGORICAL_MAX_THROTTLE_RANGE=0.5, **CONFIGS.get(kind, {}))
        model = part.interpreter.model
        outputs = [rng.uniform(-1.2, 1.2, (5,) + tuple(int(v) for v in t.shape[1:])).astype(np.float32)
                   for t in model.outputs]
        expected = np.array([part.interpreter_to_output(o[0] if len(o) == 1 else o)[:2]
                             for o in ([out[i] for out in outputs] for i in range(5))], np.float64)
        angle, throttle = decode_without_donkeycar(kind, outputs, 0.5)
        np.testing.assert_allclose(angle, expected[:, 0], atol=1e-6, err_msg=kind)
        np.testing.assert_allclose(throttle, expected[:, 1], atol=1e-6, err_msg=kind)


def test_an_h5_that_keras_3_cannot_read_names_the_keras_that_saved_it(tmp_path):
    """An .h5 of the Keras 2.2 era (its keras_version attribute 2.2.4, a layer class Keras 3 no longer has, as
    Keras 2.2's Merge): one line naming the version and the set-up that reads it, not Keras's config dump."""
    if HAS_DONKEYCAR:
        pytest.skip('Keras 3 (Python 3.12) reads it, or not')
    import json
    import shutil
    import subprocess
    import sys
    import h5py
    old = tmp_path / 'old.h5'
    shutil.copy(KERAS2_PILOTS.h5('linear'), old)
    with h5py.File(old, 'r+') as f:
        config = json.loads(f.attrs['model_config'])
        next(layer for layer in config['config']['layers'] if layer['class_name'] == 'Dropout')['class_name'] = 'Merge'
        f.attrs['model_config'] = json.dumps(config)
        f.attrs['keras_version'] = '2.2.4'
    from donkey_saliency import sample
    result = subprocess.run([sys.executable, '-m', 'donkey_saliency', '--tub', sample.TUB, '--model', old, '--out',
                             tmp_path / 'v.mp4'], capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert 'was saved by Keras 2.2.4, which Keras 3.' in result.stderr and 'donkeycar 5.3 set-up' in result.stderr
    assert len(result.stderr) < 500 and not (tmp_path / 'v.mp4').exists()
