"""The report's two tests asked of pilots that take more than one camera frame: a sequence pilot (rnn: three
frames) and an IMU pilot (a frame and six IMU values), trained with donkeycar's own training on synthetic roads
whose answer is known by construction, each figure checked against a plain loop over the frames that calls the
Keras model itself."""
import json

import cv2
import numpy as np
import pytest

from conftest import run_cli, tub_records
from donkey_saliency import synthetic
from donkey_saliency.core import counterfactual
from donkey_saliency.offline.mirror import imu_flips

FAINT = (170, 170, 170)  # lane lines dimmer than the sky marker: the shortcut is the easier cue to learn
WINDOW = 3               # donkeycar's SEQUENCE_LENGTH


def imu(scenes):
    """IMU values as a car that steers by `angle` would feel them: a lateral acceleration (acl_y) and a yaw rate
    (gyr_z) of its steering's sign, a little roll (gyr_x), gravity and noise elsewhere."""
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 0.02, (len(scenes), 6))
    values = {'imu/acl_x': lambda a: 0.1, 'imu/acl_y': lambda a: 0.8 * a, 'imu/acl_z': lambda a: 9.8,
              'imu/gyr_x': lambda a: 0.2 * a, 'imu/gyr_y': lambda a: 0.0, 'imu/gyr_z': lambda a: a}
    return {key: ('float', lambda i, f=f, k=k: float(f(scenes[i].angle) + noise[i, k]))
            for k, (key, f) in enumerate(values.items())}


def with_imu(path, scenes):
    return synthetic.write_tub(path, scenes, hz=1000, extra=imu(scenes))


def mirrored_with_imu(source, destination):
    """The test's own mirror of a tub with IMU values: images flipped, the angle and the lateral IMU negated."""
    flips = imu_flips('y')
    records = tub_records(source)
    scenes = [synthetic.Scene(np.ascontiguousarray(cv2.imread(str(source / 'images' / r['cam/image_array']))[:, ::-1,
                                                                                                          ::-1]),
                              -r['user/angle'], r['user/throttle'], None, None) for r in records]
    extra = {key: ('float', lambda i, key=key: -records[i][key] if key in flips else records[i][key])
             for key in records[0] if key.startswith('imu/')}
    return synthetic.write_tub(destination, scenes, hz=1000, extra=extra)


@pytest.fixture(scope='session')
def pilots(tmp_path_factory):
    """A sequence pilot trained on a road whose sky marker tells the bend; a sequence pilot and an IMU pilot
    trained on a one-way road (its marker too: a cue a sequence pilot learns in a few epochs), and the same two
    trained on it and its mirror."""
    pytest.importorskip('donkeycar', reason="the pilots are trained by donkeycar 5.3's training (not on Python 3.12)")
    from donkey_saliency import training
    folder = tmp_path_factory.mktemp('every_pilot')
    marker = synthetic.write_tub(folder / 'marker', synthetic.drive(300, seed=7, sky='marker', line_colour=FAINT),
                                 hz=1000)
    one_way = with_imu(folder / 'one_way', list(synthetic.drive(300, seed=7, one_way=True, sky='marker')))
    both = [one_way, mirrored_with_imu(one_way, folder / 'one_way_mirror')]
    made = {}
    for name, kind, tubs in (('rnn_marker', 'rnn', marker), ('rnn_one_way', 'rnn', one_way),
                             ('rnn_both', 'rnn', both), ('imu_one_way', 'imu', one_way), ('imu_both', 'imu', both)):
        made[name] = folder / f'{name}.h5'
        training.train(kind, tubs, made[name], epochs=6, seed=0)
    return folder, made


def report(folder, name, tub, models):
    out = folder / name
    result = run_cli('report', '--tub', tub, '--model', *models, '--out', f'{out}.html', '--json', f'{out}.json')
    assert result.returncode == 0, result.stderr
    return json.loads(open(f'{out}.json').read()), open(f'{out}.html').read(), result.stdout


@pytest.fixture(scope='session')
def lying_report(pilots):
    """The sky-marker sequence pilot on a road whose marker lies (placed at random)."""
    folder, made = pilots
    road = synthetic.write_tub(folder / 'lying', synthetic.drive(200, seed=11, sky='lying', line_colour=FAINT),
                               hz=1000)
    return report(folder, 'lying_report', road, [made['rnn_marker']]), road, made['rnn_marker']


@pytest.fixture(scope='session')
def one_way_report(pilots):
    """The four one-way pilots side by side on a one-way road none of them saw."""
    folder, made = pilots
    road = with_imu(folder / 'road', list(synthetic.drive(200, seed=8, one_way=True, sky='marker')))
    names = ('rnn_one_way', 'rnn_both', 'imu_one_way', 'imu_both')
    return report(folder, 'one_way_report', road, [made[n] for n in names]), road, made


def frames_of(tub):
    records = tub_records(tub)
    return records, np.stack([cv2.imread(str(tub / 'images' / r['cam/image_array']))[:, :, ::-1] for r in records])


def sample(records, count=200):
    """The report's sample: records spread evenly over the range, their partners as the report draws them."""
    positions = np.linspace(0, len(records) - 1, count).astype(int)
    partners = counterfactual.swap_partners(positions, [records[p]['_timestamp_ms'] / 1000 for p in positions])
    return positions, partners


def windows(images, positions):
    """Each sampled frame with the two before it, the first repeated at the start (as KerasLSTM.run does)."""
    return np.stack([images[[max(p - k, 0) for k in range(WINDOW - 1, -1, -1)]] for p in positions])


def keras(path):
    import tensorflow as tf
    model = tf.keras.models.load_model(path, compile=False)
    return lambda *inputs: model([np.asarray(x, np.float32) for x in inputs], training=False)[0].numpy()[:, 0] \
        if len(model.outputs) > 1 else model([np.asarray(x, np.float32) for x in inputs], training=False).numpy()[:, 0]


def test_a_sequence_pilot_that_steers_by_the_sky_gets_the_crop_swapped_in_its_whole_window(lying_report):
    """The crop test swaps the rows in every frame of the window; swapping only the newest frame would have
    found a fraction of the dependence (measured here by a plain loop on the Keras model: under 60% of it)."""
    (found, page, stdout), road, path = lying_report
    [model] = found['models']
    assert model['kind'] == 'rnn' and model['window'] == WINDOW and model['advice']['not_tested'] == []
    edge = synthetic.HORIZON
    at_edge = next(p for p in model['crop_curve'] if p['row'] == edge)
    assert model['advice']['roi_crop_top'] == edge and f'ROI_CROP_TOP = {edge}' in stdout
    assert f'in each of the {WINDOW} frames of the pilot\'s window' in model['advice']['why'][0]
    assert 'window of 3 frames' in page
    records, images = frames_of(road)
    positions, partners = sample(records)
    steer = keras(path)
    seen = windows(images, positions)
    original = steer(seen / 255)
    whole, newest = seen.copy(), seen.copy()
    whole[:, :, :edge] = seen[partners][:, :, :edge]
    newest[:, -1, :edge] = seen[partners][:, -1, :edge]
    whole_change = np.abs(steer(whole / 255) - original)
    newest_change = np.abs(steer(newest / 255) - original)
    assert at_edge['steering_change'] == pytest.approx(whole_change.mean(), abs=2e-3)
    assert at_edge['steering_change_se'] == pytest.approx(whole_change.std(ddof=1) / np.sqrt(200), abs=1e-3)
    assert whole_change.mean() > 0.3
    assert whole_change.mean() > 1.8 * newest_change.mean()  # the newest frame alone: under 60% of it
    d = steer(seen / 255) + steer(seen[..., ::-1, :] / 255)
    assert model['mirror']['bias'] == pytest.approx(d.mean(), abs=2e-3)


def test_one_way_pilots_get_the_flip_and_those_trained_on_the_mirror_too_do_not(one_way_report):
    (found, _, stdout), _, _ = one_way_report
    rnn_one_way, rnn_both, imu_one_way, imu_both = found['models']
    assert [m['kind'] for m in found['models']] == ['rnn', 'rnn', 'imu', 'imu']
    for one_way, both in ((rnn_one_way, rnn_both), (imu_one_way, imu_both)):
        assert one_way['advice']['not_tested'] == [] and both['advice']['not_tested'] == []
        assert one_way['mirror']['bias'] > 0.3 and one_way['advice']['flip_augmentation'] is True
        assert both['advice']['flip_augmentation'] is False
        assert abs(both['mirror']['bias']) < one_way['mirror']['bias'] / 3
    said = {line.split(': ', 1)[0]: line for line in stdout.splitlines() if '.h5: ' in line}
    assert 'flip-augment' in said['rnn_one_way.h5'] and 'flip-augment' in said['imu_one_way.h5']
    assert 'flip' not in said['rnn_both.h5'] and 'flip' not in said['imu_both.h5']
    assert imu_one_way['window'] == 1 and rnn_one_way['window'] == WINDOW


def test_the_imu_pilots_mirror_negates_its_lateral_imu(one_way_report):
    """The report's side bias is the plain loop's with acl_y, gyr_x and gyr_z negated on the mirrored frame, and
    not the one with the IMU left as recorded."""
    (found, _, _), road, made = one_way_report
    model = found['models'][2]
    records, images = frames_of(road)
    positions, _ = sample(records)
    keys = [f'imu/{f}_{x}' for f in ('acl', 'gyr') for x in 'xyz']
    values = np.array([[records[p][k] for k in keys] for p in positions], np.float32)
    signs = np.array([-1 if k in ('imu/acl_y', 'imu/gyr_x', 'imu/gyr_z') else 1 for k in keys], np.float32)
    steer = keras(made['imu_one_way'])
    seen = images[positions] / 255
    negated = (steer(seen, values) + steer(seen[:, :, ::-1], values * signs)).mean()
    as_recorded = (steer(seen, values) + steer(seen[:, :, ::-1], values)).mean()
    assert model['mirror']['bias'] == pytest.approx(negated, abs=2e-3)
    assert abs(negated - as_recorded) > 0.05  # the IMU's mirror matters to this pilot


def test_the_paste_ready_fix_names_this_tub_and_a_free_mirror_path(one_way_report):
    (found, page, stdout), road, made = one_way_report
    advice = found['models'][0]['advice']
    assert advice['commands']['mirror'] == f'donkey saliency mirror --tub {road} --out {road}_mirror'
    assert advice['commands']['train'] == (f'donkey train --tub {road},{road}_mirror --model '
                                           f'{str(made["rnn_one_way"])[:-3]}_mirrored.h5 --type rnn')
    assert advice['myconfig'] == [] and f'then: {advice["commands"]["mirror"]}' in stdout
    assert advice['commands']['mirror'] in page
