"""The report's advice tested on the pilot: known answers from pilots trained with donkeycar's own training on
synthetic roads whose answer is known by construction (a sky marker placed by the steering, a one-way road), the
before/after comparison with pilots trained on the advice, and the figures checked against a plain loop that
calls the pilot one frame at a time."""
import json
import os

import numpy as np
import pytest

from conftest import car_pilot, mirrored, tub_records, run_cli
from donkey_saliency import synthetic
from donkey_saliency.core import counterfactual

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

FAINT = (170, 170, 170)  # lane lines dimmer than the marker: the shortcut is the easier cue to learn
CAR = 'IMAGE_W = 160\nIMAGE_H = 120\nIMAGE_DEPTH = 3\nROI_CROP_BOTTOM = 0\nROI_CROP_LEFT = 0\nROI_CROP_RIGHT = 0\n'


def road_frames(count=40, **kwargs):
    return np.stack([scene.image for scene in synthetic.drive(count, seed=2, **kwargs)])


def test_the_surface_edge_is_where_the_synthetic_sky_ends_and_a_wall_gives_a_skyline():
    from donkey_saliency.core import attention
    frames = road_frames()
    assert attention.surface_edge(frames) == synthetic.HORIZON
    assert attention.skyline(frames, synthetic.HORIZON) is None  # the sky fades: nothing stands on the road
    walled = frames.copy()
    walled[:, 16:synthetic.HORIZON] = (200, 200, 210)  # white walls from row 16 down to the floor
    assert attention.surface_edge(walled) == synthetic.HORIZON
    assert attention.skyline(walled, synthetic.HORIZON) == 16


def test_the_surface_edge_never_lies_inside_a_floor_with_bright_lines_and_a_gradient():
    """Wide tape lines across the floor and a floor darkening towards the far edge: the strongest colour step of
    the frame (what a two-segment fit finds) lies inside the floor; the surface edge does not."""
    from donkey_saliency.core import attention
    frames = road_frames().astype(np.float64)
    frames[:, synthetic.HORIZON:] *= np.linspace(0.7, 1.0, 120 - synthetic.HORIZON)[None, :, None, None]
    frames[:, 70:76, 20:140] = 240  # a wide tape line across the lane
    frames = frames.clip(0, 255).astype(np.uint8)
    assert attention.surface_edge(frames) == synthetic.HORIZON


def test_backgrounds_come_from_frames_far_away_in_time_else_in_records():
    positions = np.arange(100)
    times = np.where(positions < 50, positions * 0.1, np.nan)  # 10 Hz for the first half, no time after
    partners = counterfactual.swap_partners(positions, times)
    for i, j in enumerate(partners):
        if i < 50 and (times[i] >= counterfactual.MIN_SECONDS or times[i] <= 4.9 - counterfactual.MIN_SECONDS):
            assert abs(times[j] - times[i]) >= counterfactual.MIN_SECONDS
        else:
            assert abs(j - i) >= counterfactual.MIN_RECORDS
    assert (partners == counterfactual.swap_partners(positions, times)).all()  # a fixed seed
    assert len(set(partners.tolist())) > 30  # chosen at random, not one frame for all
    fast = counterfactual.swap_partners(np.arange(100), np.arange(100) * 0.001)  # written at 1 kHz: none 2 s away
    assert all(abs(j - i) >= counterfactual.MIN_RECORDS for i, j in enumerate(fast))
    assert (counterfactual.swap_partners(np.arange(30)) == -1).all()  # none 40 records away: none


@pytest.mark.parametrize('times, positions, partners', [
    ([0.0, 1.5], [0, 1], [-1, -1]),      # 1.5 s apart and 1 record: no background far enough, by time or records
    ([0.0, 2.0], [0, 1], [1, 0]),        # exactly 2 s: far enough
    ([None, None], [0, 39], [-1, -1]),   # no time: 39 records apart is too close
    ([None, None], [0, 40], [1, 0]),     # 40 records: far enough
    ([0.0, 1.0, 2.5], [0, 1, 2], [2, -1, 0])])  # the middle frame is 1 and 1.5 s from the others: none
def test_a_background_comes_from_two_seconds_or_forty_records_away_worked_by_hand(times, positions, partners):
    assert counterfactual.swap_partners(positions, times).tolist() == partners


def test_the_crop_curve_on_frames_whose_steering_is_their_top_row_worked_by_hand():
    """Four one-column frames whose steering is their top row's value / 100, each swapped with its neighbour:
    above row 1 as above row 4 (the rows below the top weigh nothing) the changes are 0.15, 0.15, 0.35, 0.35; so
    a mean of 0.25, an SE of std / 2, and every frame moved past 0.1."""
    windows = np.zeros((4, 1, 4, 1, 3), np.uint8)
    windows[:, 0, 0, 0, 0] = [0, 15, 40, 75]

    def steer(edited, which, mirrored=False):
        return edited[:, -1, 0, 0, 0].astype(np.float64) / 100

    [top, whole] = counterfactual.crop_curve(steer, windows, [1, 0, 3, 2], [1, 4], [0.0, 0.1, 0.4, 0.8])
    for point in (top, whole):
        assert point['steering_change'] == pytest.approx(0.25)
        assert point['steering_change_se'] == pytest.approx(np.std([0.15, 0.15, 0.35, 0.35], ddof=1) / 2)
        assert point['changed_share'] == 1.0  # all four past 0.1; past 0.2, only two would be
        assert point['error_original'] == pytest.approx((0 + 0.05 + 0 + 0.05) / 4)
        assert point['error_swapped'] == pytest.approx((0.15 + 0.10 + 0.35 + 0.40) / 4)
    windows[1, 0, 0, 0, 0] = 5  # the first pair now 0.05 apart: not moved
    assert counterfactual.crop_curve(steer, windows, [1, 0, 3, 2], [1], [0, 0, 0, 0])[0]['changed_share'] == 0.5


@pytest.fixture(scope='session')
def known(tmp_path_factory):
    """Roads with a sky marker placed by the steering, with random sky blobs, with a marker that lies; pilots
    trained on the first two with donkeycar's own training, and one on the first with donkeycar's CROP."""
    pytest.importorskip('donkeycar', reason="the pilots are trained by donkeycar 5.3's training (not on Python 3.12)")
    from donkey_saliency import training
    folder = tmp_path_factory.mktemp('known')
    (folder / 'plain.py').write_text(CAR + 'TRANSFORMATIONS = []\nROI_CROP_TOP = 0\n')
    (folder / 'crop.py').write_text(CAR + f'TRANSFORMATIONS = [\'CROP\']\nROI_CROP_TOP = {synthetic.HORIZON}\n')
    tubs = {sky: synthetic.write_tub(folder / sky, synthetic.drive(count, seed=seed, sky=sky, line_colour=FAINT),
                                     hz=1000)
            for sky, count, seed in (('marker', 300, 7), ('blobs', 300, 7), ('lying', 200, 11))}
    pilots = {}
    for name, tub, config in (('shortcut', tubs['marker'], None), ('blobs', tubs['blobs'], None),
                              ('cropped', tubs['marker'], folder / 'crop.py')):
        pilots[name] = folder / f'{name}.h5'
        training.train('linear', tub, pilots[name], epochs=8, seed=0, config=config and str(config))
    return folder, tubs, pilots


@pytest.fixture(scope='session')
def crop_report(known, tmp_path_factory):
    """One report on the lying road, which none of the pilots trained on: the shortcut pilot first, then the one
    trained with the crop (its own config), then the blob-sky one."""
    folder, tubs, pilots = known
    out = tmp_path_factory.mktemp('crop_report')
    result = run_cli('report', '--tub', tubs['lying'], '--model', pilots['shortcut'], pilots['cropped'],
                     pilots['blobs'], '--config', folder / 'plain.py', '--config', folder / 'crop.py',
                     '--config', folder / 'plain.py', '--out', out / 'r.html', '--json', out / 'r.json')
    assert result.returncode == 0, result.stderr
    return json.loads((out / 'r.json').read_text()), (out / 'r.html').read_text(), result.stdout


def test_a_pilot_that_steers_by_the_sky_gets_the_crop_and_one_that_ignores_it_does_not(crop_report):
    found, _, stdout = crop_report
    shortcut, _, blobs = found['models']
    assert shortcut['lines']['surface_edge'] == synthetic.HORIZON  # (the marker's top makes a skyline at row 4)
    assert shortcut['lines']['config_roi_crop_top'] is None
    at_edge = next(p for p in shortcut['crop_curve'] if p['row'] == synthetic.HORIZON)
    assert at_edge['steering_change'] > 0.1 and at_edge['changed_share'] > 0.5
    assert at_edge['error_original'] > 0.3  # the lying marker misleads it
    assert shortcut['advice']['roi_crop_top'] == synthetic.HORIZON
    assert f'ROI_CROP_TOP = {synthetic.HORIZON}' in stdout
    blob_edge = next(p for p in blobs['crop_curve'] if p['row'] == synthetic.HORIZON)
    assert blob_edge['steering_change'] < 0.03 and blob_edge['error_original'] < 0.15  # it steers by the road
    assert blobs['advice']['roi_crop_top'] is None


def test_the_pilot_trained_with_the_crop_fixes_it_and_what_changed_says_so(crop_report):
    found, page, stdout = crop_report
    shortcut, cropped, _ = found['models']
    assert 'what_changed' not in shortcut
    assert cropped['lines']['config_roi_crop_top'] == synthetic.HORIZON  # its own config
    [change] = cropped['what_changed']
    assert change['finding'] == 'crop' and change['before']['row'] == synthetic.HORIZON
    assert change['after']['steering_change'] < 0.01  # the car masks those rows: nothing left to move it
    assert change['after']['error_original'] < change['before']['error_original']  # the sky lies on this road
    assert change['worked'] is True
    assert 'What changed' in page and 'the advice worked' in page
    assert 'cropped.h5 against the first pilot: the crop advice worked' in stdout


@pytest.fixture(scope='session')
def flip_report(one_way, tmp_path_factory):
    """The one-way pilot, and one trained on its tub plus that tub mirrored, on a one-way road neither saw."""
    from donkey_saliency import training
    tub, pilot = one_way
    folder = tmp_path_factory.mktemp('flip')
    both = folder / 'both.h5'
    training.train('linear', [tub, mirrored(tub, folder / 'mirrored')], both, epochs=8, seed=0)
    road = synthetic.write_tub(folder / 'road', synthetic.drive(200, seed=8, one_way=True), hz=1000)
    result = run_cli('report', '--tub', road, '--model', pilot, both, '--out', folder / 'r.html',
                     '--json', folder / 'r.json')
    assert result.returncode == 0, result.stderr
    return json.loads((folder / 'r.json').read_text()), road, pilot, result.stdout


def test_a_one_way_pilot_gets_the_flip_and_one_trained_on_its_mirror_too_cuts_the_bias(flip_report):
    found, road, _, stdout = flip_report
    one_way, both = found['models']
    assert one_way['mirror']['bias'] > 0.3 and one_way['advice']['flip_augmentation'] is True
    assert f'then: donkey saliency mirror --tub {road} --out {road}_mirror' in stdout  # this tub, ready to paste
    assert abs(both['mirror']['bias']) < one_way['mirror']['bias'] / 3
    assert both['advice']['flip_augmentation'] is False
    [change] = both['what_changed']
    assert change['finding'] == 'flip' and change['worked'] is True
    assert change['before']['bias'] == one_way['mirror']['bias'] and change['after']['bias'] == both['mirror']['bias']


def test_the_figures_are_those_of_a_plain_loop_over_the_frames(flip_report):
    """The report's sample (records spread over the range), its partners, and each edited frame given to
    donkeycar's own part one frame at a time (`run` normalises and decodes as on the car)."""
    import cv2
    found, road, pilot, _ = flip_report
    model = found['models'][0]
    records = tub_records(road)
    chosen = [records[i] for i in np.linspace(0, len(records) - 1, 200).astype(int)]
    frames = [cv2.imread(str(road / 'images' / r['cam/image_array']))[:, :, ::-1].copy() for r in chosen]
    partners = counterfactual.swap_partners([r['_index'] for r in chosen], [r['_timestamp_ms'] / 1000 for r in chosen])
    kl = car_pilot('linear', pilot)
    steer = [kl.run(frame)[0] for frame in frames]
    user = [r['user/angle'] for r in chosen]
    for point in model['crop_curve'][::3]:
        row, changes, errors = point['row'], [], []
        for i, j in enumerate(partners):
            edited = frames[i].copy()
            edited[:row] = frames[j][:row]
            angle = kl.run(edited)[0]
            changes.append(abs(angle - steer[i]))
            errors.append(abs(angle - user[i]))
        assert point['steering_change'] == pytest.approx(np.mean(changes), abs=2e-3), row
        assert point['steering_change_se'] == pytest.approx(np.std(changes, ddof=1) / np.sqrt(200), abs=1e-3), row
        assert point['changed_share'] == pytest.approx(np.mean(np.array(changes) > 0.1), abs=0.011), row
        assert point['error_swapped'] == pytest.approx(np.mean(errors), abs=2e-3), row
        assert point['error_original'] == pytest.approx(np.mean(np.abs(np.subtract(steer, user))), abs=2e-3)
    d = [kl.run(frame)[0] + kl.run(frame[:, ::-1].copy())[0] for frame in frames]
    assert model['mirror']['bias'] == pytest.approx(np.mean(d), abs=2e-3)
    assert model['mirror']['bias_se'] == pytest.approx(np.std(d, ddof=1) / np.sqrt(len(d)), abs=1e-3)
    assert model['mirror']['mean_abs'] == pytest.approx(np.mean(np.abs(d)), abs=2e-3)
    assert model['mirror']['frames'] == 200


def test_a_categorical_pilot_is_asked_for_its_expected_steering_not_its_argmax_bin(saved_pilots, small_tub, tmp_path):
    """The mirror test against a plain loop over the frames: the angle head's softmax times the bins' values
    (15 bins from -1 to 1). The 40 records of the small tub lie within 40 records and 2 s of each other: no
    background to swap, which the report says."""
    import cv2
    import tensorflow as tf
    result = run_cli('report', '--tub', small_tub, '--model', saved_pilots['categorical'], '--frames', 40,
                     '--out', tmp_path / 'r.html', '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    model = json.loads((tmp_path / 'r.json').read_text())['models'][0]
    assert model['crop_curve'] == [] and 'records apart' in model['not_measured']
    [short] = model['advice']['not_tested']  # a tub too short for partners: never a clean bill
    assert short['test'] == 'crop' and 'records apart' in short['why']
    name = os.path.basename(str(saved_pilots['categorical']))
    assert f'{name}: crop not tested: no two of the 40 frames lie 2 s or 40 records apart' in result.stdout
    assert 'no change suggested' not in result.stdout and 'nothing to change' not in (tmp_path / 'r.html').read_text()
    keras = tf.keras.models.load_model(saved_pilots['categorical'], compile=False)
    bins = np.linspace(-1, 1, 15)

    def expected(frame):
        return float(keras(frame[None].astype(np.float32) / 255, training=False)[0].numpy()[0] @ bins)

    frames = [cv2.imread(str(small_tub / 'images' / r['cam/image_array']))[:, :, ::-1] for r in tub_records(small_tub)]
    d = [expected(f) + expected(f[:, ::-1]) for f in frames]
    assert model['mirror']['frames'] == 40
    assert model['mirror']['bias'] == pytest.approx(np.mean(d), abs=1e-3)
    assert model['mirror']['mean_abs'] == pytest.approx(np.mean(np.abs(d)), abs=1e-3)
