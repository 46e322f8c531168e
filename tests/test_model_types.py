"""Every donkeycar model type, built by donkeycar's get_model_by_type, on a tub with the keys it needs."""
from pathlib import Path

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


ALL_KINDS = ['linear', 'categorical', 'inferred', 'imu', 'memory', 'behavior', 'localizer', 'rnn', '3d']


@pytest.fixture(scope='module')
def every_kind_report(tmp_path_factory):
    """One report on every model type side by side, on a tub long enough for every frame to have a partner for
    the swap test (100 records: each has one 40 or more away), with IMU and behaviour keys."""
    import json
    folder = tmp_path_factory.mktemp('every_kind')
    extra = {key: ('float', (lambda i, k=k: 0.1 * k + 0.01 * i)) for k, key in enumerate(IMU_KEYS)}
    extra['behavior/one_hot_state_array'] = ('list', lambda i: [1.0, 0.0] if i % 3 else [0.0, 1.0])
    tub = synthetic.write_tub(folder / 'tub', synthetic.drive(100, seed=4), hz=1000, extra=extra)
    tf.keras.utils.set_random_seed(3)
    paths = []
    for kind in ALL_KINDS:
        paths.append(folder / f'{kind}.h5')
        model = keras_pilot(kind, SEQUENCE_LENGTH=3, NUM_LOCATIONS=4).interpreter.model
        for layer in model.layers:  # an untrained pilot barely hears its past or its lanes: make it listen
            if layer.name.startswith('mem_') or kind == 'behavior' and getattr(layer, 'units', None) == 4:
                layer.set_weights([w * 8 for w in layer.get_weights()])
        model.save(paths[-1])
    import shutil
    import donkeycar  # its template config: the lanes a behaviour pilot's mirror swaps (Left_Lane, Right_Lane)
    shutil.copy(Path(donkeycar.__file__).parent / 'templates' / 'cfg_complete.py', folder / 'config.py')
    result = run_main('report', '--tub', tub, '--model', *paths, '--frames', 100, '--out', folder / 'r.html',
                      '--json', folder / 'r.json', '--config', folder / 'config.py')
    assert result.returncode == 0, result.stderr
    return json.loads((folder / 'r.json').read_text()), tub, paths, result.stdout


def test_every_type_gets_the_crop_curve_and_the_mirror_test(every_kind_report):
    found, _, _, stdout = every_kind_report
    assert [m['kind'] for m in found['models']] == ALL_KINDS
    for model in found['models']:
        assert model['advice']['not_tested'] == [], model['kind']
        assert len(model['crop_curve']) >= 10 and model['crop_curve'][0]['frames'] == 100, model['kind']
        assert model['mirror']['frames'] == 100 and model['mirror']['bias'] is not None, model['kind']
        assert model['window'] == (3 if model['kind'] in ('rnn', '3d') else 1)
    assert 'not tested' not in stdout


def test_a_memory_pilots_mirror_negates_its_past_steering(every_kind_report):
    """The side bias against a plain loop over the records: the previous three records' user values as
    donkeycar trains the memory pilot, the angles among them negated for the mirrored frame."""
    found, tub, paths, _ = every_kind_report
    model = found['models'][ALL_KINDS.index('memory')]
    keras = tf.keras.models.load_model(paths[ALL_KINDS.index('memory')], compile=False)
    images, records = tub_frames(tub)
    d, d_unmirrored_memory = [], []
    for position, image in enumerate(images):
        previous = [[r['user/angle'], r['user/throttle']] for r in records[max(0, position - 3):position]]
        memory = np.array([[0.0, 0.0]] * (3 - len(previous)) + previous, np.float32).reshape(1, -1)
        x = image[None].astype(np.float32) / 255

        def angle(frame, mem):
            return float(keras([frame, mem], training=False)[0].numpy()[0, 0])
        d.append(angle(x, memory) + angle(x[:, :, ::-1], memory * np.array([-1, 1] * 3, np.float32)))
        d_unmirrored_memory.append(angle(x, memory) + angle(x[:, :, ::-1], memory))
    assert model['mirror']['bias'] == pytest.approx(np.mean(d), abs=1e-4)  # (the JSON's 4 decimals)
    assert abs(np.mean(d) - np.mean(d_unmirrored_memory)) > 1e-3  # the memory's mirror changes the answer


def test_a_behaviour_pilots_mirror_swaps_its_lanes(every_kind_report):
    """The side bias against a plain loop over the records: the expected steering (softmax times the 15 bins)
    with the one-hot lanes swapped for the mirrored frame (Left_Lane <-> Right_Lane)."""
    found, tub, paths, _ = every_kind_report
    model = found['models'][ALL_KINDS.index('behavior')]
    keras = tf.keras.models.load_model(paths[ALL_KINDS.index('behavior')], compile=False)
    images, records = tub_frames(tub)
    bins = np.linspace(-1, 1, 15)

    def angle(frame, lanes):
        return float(keras([frame, lanes[None]], training=False)[0].numpy()[0] @ bins)
    d, unswapped = [], []
    for image, record in zip(images, records):
        x, lanes = image[None].astype(np.float32) / 255, np.array(record['behavior/one_hot_state_array'], np.float32)
        d.append(angle(x, lanes) + angle(x[:, :, ::-1], lanes[::-1]))
        unswapped.append(angle(x, lanes) + angle(x[:, :, ::-1], lanes))
    assert model['mirror']['bias'] == pytest.approx(np.mean(d), abs=1e-4)
    assert abs(np.mean(d) - np.mean(unswapped)) > 1e-3  # the lanes' mirror changes the answer
    assert 'its lanes swapped' in model['advice']['why'][-1]


def test_a_behaviour_pilot_without_lanes_is_not_given_a_clean_bill(sensor_tub, tmp_path):
    """A BEHAVIOR_LIST whose left lane has no right one to mirror into, or none known (no config): the flip is
    not tested, said in the headline, the JSON and on stdout, and 'no change suggested' is not said."""
    import json
    import shutil
    import donkeycar
    keras_pilot('behavior', BEHAVIOR_LIST=['left', 'right']).interpreter.model.save(tmp_path / 'b.h5')
    shutil.copy(Path(donkeycar.__file__).parent / 'templates' / 'cfg_complete.py', tmp_path / 'config.py')
    (tmp_path / 'myconfig.py').write_text("BEHAVIOR_LIST = ['Left_Lane', 'Centre']\n")
    result = run_main('report', '--tub', sensor_tub, '--model', tmp_path / 'b.h5', '--config', tmp_path / 'config.py',
                      '--out', tmp_path / 'r.html', '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    model = json.loads((tmp_path / 'r.json').read_text())['models'][0]
    tests = {t['test']: t['why'] for t in model['advice']['not_tested']}
    assert "['Left_Lane', 'Centre'] has a lane whose mirror is not in it" in tests['flip']
    assert 'crop' in tests  # (12 records: none 40 apart, no background to swap)
    assert 'no change suggested' not in result.stdout and 'flip not tested' in result.stdout
    assert 'nothing to change' not in (tmp_path / 'r.html').read_text()
    unknown = run_main('report', '--tub', sensor_tub, '--model', tmp_path / 'b.h5', '--out', tmp_path / 'u.html',
                       '--json', tmp_path / 'u.json')  # no config: donkeycar's template lanes are not this car's
    assert unknown.returncode == 0, unknown.stderr
    [flip] = [t for t in json.loads((tmp_path / 'u.json').read_text())['models'][0]['advice']['not_tested']
              if t['test'] == 'flip']
    assert "BEHAVIOR_LIST is not known: pass the car's config.py with --config" in flip['why']
