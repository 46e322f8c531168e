"""The real car's pilot watched in donkeycar's drive loop (issue 28, section 6): the real tub in ../shared replayed
by donkeycar's image-list camera, its TFLite pilot driving with a health file calibrated on that very tub (its maps
VisualBackProp read from the plain file's intermediate tensors), then the same car shown a scene the pilot never
saw. Skipped cleanly when ../shared is absent."""
import json
from glob import glob
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import SHARED, SHARED_ABSENT, SHARED_READY, run_cli
from donkey_saliency import sample
from test_car import drive, health_records

pytestmark = pytest.mark.skipif(not SHARED_READY, reason=SHARED_ABSENT)

TUB, PILOT, CONFIG = SHARED / 'data', SHARED / 'models' / 'final_1.tflite', SHARED / 'config.py'
KIND = 'tflite_linear'  # models/database.json: a KerasLinear pilot
OWN, UNSEEN = 200, 100  # records kept of each drive: 10 s and 5 s of the 20 Hz loop


@pytest.fixture(scope='module')
def calibrated(tmp_path_factory):
    """The real pilot's health file, calibrated on its own tub with its car's config, as docs/car.md says."""
    out = tmp_path_factory.mktemp('health') / 'health.json'
    result = run_cli('calibrate', '--tub', TUB, '--model', PILOT, '--config', CONFIG, '--out', out, '--no-progress')
    assert result.returncode == 0, result.stderr
    return SimpleNamespace(path=out, found=json.loads(out.read_text()), said=result.stdout)


def car_lines(health, path_mask):
    """The myconfig lines of the desk try-out's car for the real pilot: the camera replaying `path_mask` at the
    real car's image size (its config.py's IMAGE_W and IMAGE_H), the health file, the numbers recorded."""
    from donkey_saliency.core.carconfig import read_config
    cfg = read_config(str(CONFIG))
    return (f"PATH_MASK = '{path_mask}'\nIMAGE_W = {cfg.IMAGE_W}\nIMAGE_H = {cfg.IMAGE_H}\n"
            f"SALIENCY_HEALTH = '{health}'\n")


@pytest.fixture(scope='module')
def own_run(tmp_path_factory, calibrated):
    """The real pilot driving on its own tub's pictures, replayed in record order."""
    return drive(tmp_path_factory.mktemp('own'), PILOT, KIND, car_lines(calibrated.path, f'{TUB}/images/*.jpg'),
                 records=OWN)


@pytest.fixture(scope='module')
def unseen_run(tmp_path_factory, calibrated):
    """The real pilot, trained on a carpet track, shown the synthetic road's pictures (the bundled sample tub's,
    at the real car's image size): a scene it never saw."""
    return drive(tmp_path_factory.mktemp('unseen'), PILOT, KIND,
                 car_lines(calibrated.path, f'{sample.TUB}/images/*.jpg'), records=UNSEEN)


def test_calibrated_on_its_own_tub_the_alarm_would_be_rare(calibrated):
    """calibrate on a .tflite pilot (its maps from the plain file's intermediate tensors): the whole tub, the file
    named, the alarm on at most 10% of the frames (past that calibrate warns that it is often), and one warning:
    this pilot keeps nearly all its attention above the floor's far edge, so that share can never raise the alarm."""
    on = calibrated.found['calibrated_on']
    assert calibrated.found['pilot'] == {'file': 'final_1.tflite', 'type': 'linear'}
    assert on['frames'] == 2526 and on['alarm_frames'] <= 0.1 * on['frames'], calibrated.said
    warnings = [line for line in calibrated.said.splitlines() if line.startswith('warning')]
    assert len(warnings) == 1 and warnings[0].startswith('warning: the limit of above_edge is 1.'), warnings
    assert 'can never raise the alarm' in warnings[0] and '--horizon ROW' in warnings[0]


def tub_images():
    """The real tub's images in the order the camera plays them, by record number (each file is its record's)."""
    from PIL import Image
    paths = sorted(glob(str(TUB / 'images' / '*.jpg')), key=lambda path: int(path.split('/')[-1].split('_')[0]))
    return np.stack([np.asarray(Image.open(path)) for path in paths])


def sources(run, records, images):
    """Which of the tub's images each record's frame is: the one nearest its first frame (a JPEG re-encoding away,
    neighbouring images much further), then one image per loop, as the camera plays them; checked on a sample."""
    from PIL import Image

    def distances(record, candidates):
        frame = np.asarray(Image.open(run.car / 'data' / 'images' / record['cam/image_array']), np.int16)
        return np.array([np.abs(images[c].astype(np.int16) - frame).mean() for c in candidates])
    first = int(distances(records[0], range(len(images))).argmin())
    playing = (first + np.arange(len(records))) % len(images)
    for index in range(0, len(records), 25):
        here = distances(records[index], [playing[index] - 1, playing[index], (playing[index] + 1) % len(images)])
        assert here[1] < 3 and here[1] < here[[0, 2]].min(), (index, here)
    return playing


def test_on_its_own_tubs_pictures_the_alarm_stays_off_on_nearly_all_frames(own_run, calibrated):
    """The car replays the tub it was calibrated on, in record order: the health file is taken (no 'health off'
    line), the alarm is on where calibrate said it would be on that tub's records (the window apart, the car's
    float32 and calibrate's float64 may part on a number at its limit: 2% of the loops), and off on at least 95% of
    the recorded loops. That bound: the limits are the 0.99 Gamma quantiles of this very tub's windowed numbers,
    and calibrate measured the alarm on 1% of its frames, in stretches of up to 6; 10 s of it (200 loops) may hold
    one or two of them."""
    images = tub_images()
    assert f'{len(images)} images loaded.' in own_run.log
    assert 'saliency: health off' not in own_run.log, own_run.log[-3000:]
    records = health_records(own_run)
    playing = sources(own_run, records, images)
    predicted = np.zeros(len(images), bool)
    for stretch in calibrated.found['calibrated_on']['alarm_records']:
        predicted[stretch['first']:stretch['last'] + 1] = True
    alarms = np.array([r['saliency/alarm'] for r in records])
    assert (alarms == predicted[playing]).mean() >= 0.98, (playing[alarms], np.flatnonzero(predicted))
    if predicted[playing].any():  # agreement alone would hold for an alarm that never comes on
        assert alarms[predicted[playing]].mean() >= 0.5, (playing[alarms], np.flatnonzero(predicted))
    assert alarms.mean() <= 0.05, playing[alarms]


def test_on_a_scene_it_never_saw_the_alarm_is_on_far_more_often_than_on_its_own_tub(unseen_run):
    """The synthetic road's pictures, a scene the real pilot (a carpet track) never saw. Issue 28 asks for the
    alarm on most loops; for this pilot it is on for about a quarter of them, several times as often as on its
    own tub (at most 5%, above), and that is what is asserted, not more: 96% of its attention lies above the
    floor's far edge on its own tub, so the limit of that share is past 1 and it never raises the alarm
    (calibrate warns so, above), and an unseen scene makes its maps stronger, not weaker (the synthetic road's
    3x, black frames' 11x): only the change is left to raise it. docs/car.md says so."""
    assert 'saliency: health off' not in unseen_run.log, unseen_run.log[-3000:]
    alarms = [r['saliency/alarm'] for r in health_records(unseen_run)]
    assert sum(alarms) >= 0.15 * len(alarms), alarms
