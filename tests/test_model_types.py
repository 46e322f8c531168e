"""Every donkeycar model type, built by donkeycar's get_model_by_type, on a tub with the keys it needs."""
import numpy as np
import pytest

from conftest import assert_video_size, keras_pilot, read_video, run_cli, run_main
from donkey_saliency import synthetic
from donkey_saliency.quiet import import_tensorflow

tf = import_tensorflow()
IMU_KEYS = [f'imu/{f}_{x}' for f in ('acl', 'gyr') for x in 'xyz']
COUNT = 12


@pytest.fixture(scope='module')
def sensor_tub(tmp_path_factory):
    """A tub with IMU readings and a behaviour one-hot vector besides the camera."""
    extra = {key: ('float', (lambda i, k=k: 0.1 * k + 0.01 * i)) for k, key in enumerate(IMU_KEYS)}
    extra['behavior/one_hot_state_array'] = ('list', lambda i: [1.0, 0.0] if i % 2 else [0.0, 1.0])
    return synthetic.write_tub(tmp_path_factory.mktemp('sensors') / 'tub', synthetic.drive(COUNT, seed=4), hz=50,
                               extra=extra)


def tub_frames(tub):
    from donkeycar.parts.tub_v2 import Tub
    import cv2
    t = Tub(str(tub), read_only=True)
    records = list(t)
    t.close()
    images = [cv2.cvtColor(cv2.imread(str(tub / 'images' / r['cam/image_array'])), cv2.COLOR_BGR2RGB)
              for r in records]
    return images, records


def car_outputs(kind, pilot, images, records):
    """What donkeycar's own part computes on the car for these frames, in order."""
    results = []
    for image, record in zip(images, records):
        if kind == 'imu':
            results.append(pilot.run(image, np.array([record[k] for k in IMU_KEYS])))
        elif kind == 'behavior':
            results.append(pilot.run(image, np.array(record['behavior/one_hot_state_array'])))
        elif kind == 'memory':  # the tool feeds the recorded user values, as donkeycar trains it
            position = records.index(record)
            previous = [[r['user/angle'], r['user/throttle']] for r in records[max(0, position - 3):position]]
            previous = [[0.0, 0.0]] * (3 - len(previous)) + previous
            out = pilot.interpreter.predict(image / 255.0, np.array(previous).reshape(-1))
            results.append(pilot.interpreter_to_output(out))
        else:  # linear-style heads, and rnn / 3d, whose run() keeps its own frame history as on the car
            results.append(pilot.run(image))
    return np.array([r[:2] for r in results], np.float64)


@pytest.mark.parametrize('kind', ['memory', 'rnn'])
def test_every_nth_record_is_refused_for_pilots_with_a_history(kind, sensor_tub, tmp_path):
    pilot = keras_pilot(kind, SEQUENCE_LENGTH=3)
    pilot.interpreter.model.save(tmp_path / 'p.h5')
    result = run_cli('--tub', sensor_tub, '--model', tmp_path / 'p.h5', '--every', 2, '--out', tmp_path / 'v.mp4')
    assert result.returncode == 2 and 'needs for its history' in result.stderr and not (tmp_path / 'v.mp4').exists()


@pytest.mark.parametrize('kind', ['imu', 'memory', 'behavior', 'localizer', 'rnn', '3d'])
def test_every_type_renders_and_matches_the_car(kind, sensor_tub, tmp_path):
    tf.keras.utils.set_random_seed(11)
    pilot = keras_pilot(kind, SEQUENCE_LENGTH=3, BEHAVIOR_LIST=['left', 'right'], NUM_LOCATIONS=4)
    model_path = tmp_path / f'{kind}.h5'
    pilot.interpreter.model.save(model_path)
    maps_file, out = tmp_path / 'maps.npz', tmp_path / 'v.mp4'
    result = run_main('--tub', sensor_tub, '--model', model_path, '--method', 'gradcam', '--layout', 'panels',
                     '--out', out, '--save-maps', maps_file, '--batch-size', 5)
    assert result.returncode == 0, result.stderr
    assert f'pilot: {kind} (gradcam)' in result.stdout
    assert_video_size(read_video(out)[0], COUNT, (240, 320), panels=3)
    saved = np.load(maps_file)
    assert saved['maps'].shape == saved['maps_vbp'].shape == (COUNT, 120, 160)
    images, records = tub_frames(sensor_tub)
    expected = car_outputs(kind, pilot, images, records)
    np.testing.assert_allclose(saved['angle'], expected[:, 0], atol=1e-4)
    np.testing.assert_allclose(saved['throttle'], expected[:, 1], atol=1e-4)


def test_missing_behaviour_key_is_named(small_tub, tmp_path):
    keras_pilot('behavior', BEHAVIOR_LIST=['a', 'b']).interpreter.model.save(tmp_path / 'b.h5')
    result = run_cli('--tub', small_tub, '--model', tmp_path / 'b.h5', '--out', tmp_path / 'v.mp4')
    assert result.returncode == 2
    assert 'behavior/one_hot_state_array' in result.stderr and 'Traceback' not in result.stderr


def test_the_imu_keys_read_without_donkeycar_are_donkeycars():
    """Without donkeycar (Python 3.12) an imu pilot's inputs are the keys of KerasIMU.imu_vec, in its order."""
    pytest.importorskip('donkeycar', reason='compared with donkeycar 5.3 itself')
    from donkeycar.parts.keras import KerasIMU
    from donkey_saliency.offline.inputs import IMU_KEYS
    assert IMU_KEYS == KerasIMU.imu_vec
