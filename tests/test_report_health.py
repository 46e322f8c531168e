"""`report --health`: on tubs recorded without the car's numbers, the numbers and the alarm computed from the
report's maps as the car computes them. Known answers, as test_calibrate's: the bundled pilot, calibrated on its
own tub, keeps the alarm off on nearly all of that tub's frames, and raises it on most frames of scenes it never
saw (the light dropping, distractors); the offline numbers are core/health.numbers run in a plain loop over the
maps of the same frames; a health file for another pilot is refused in one line."""
import json

import numpy as np
import pytest
from PIL import Image

from conftest import run_main, tub_records
from donkey_saliency import api, sample, synthetic
from donkey_saliency.core import attention, health

pytest.importorskip('donkeycar', reason='calibrate reads the car config as donkeycar 5.3 does (Python 3.11)')


@pytest.fixture(scope='module')
def health_file(tmp_path_factory):
    """The bundled pilot's health file, made on the tub it was trained on."""
    from donkey_saliency.offline import calibrate
    out = tmp_path_factory.mktemp('health') / 'health.json'
    calibrate.run(calibrate.CalibrateOptions(tubs=[str(sample.TUB)], model=str(sample.MODEL), out=str(out),
                                             progress=False))
    return out


def dark(scenes):
    for scene in scenes:
        scene.image = (scene.image * 0.4).astype(np.uint8)
        yield scene


@pytest.fixture(scope='module')
def unseen(tmp_path_factory):
    """Two tubs of scenes the pilot never saw: the light dropped to 40%, and six distractors."""
    folder = tmp_path_factory.mktemp('unseen')
    return [synthetic.write_tub(folder / 'dark', dark(synthetic.drive(80, seed=9)), hz=200),
            synthetic.write_tub(folder / 'busy', synthetic.drive(80, seed=9, distractors=6), hz=200)]


def report(tmp_path, tubs, health_path, **options):
    found = api.report(tubs, sample.MODEL, out=tmp_path / 'r.html', health=health_path, progress=False, **options)
    return found, (tmp_path / 'r.html').read_text()


def test_on_its_own_tub_the_computed_alarm_is_rare(tmp_path, health_file):
    found, page = report(tmp_path, sample.TUB, health_file)
    computed = found['health']
    assert computed['source'] == 'computed' and computed['health_file'] == str(health_file)
    file = json.loads(health_file.read_text())
    assert computed['limits'] == file['limits'] and computed['window'] == file['window']
    assert computed['alarm_frames'] <= 0.05 * found['frames'] and found['frames'] == 400
    assert computed['alarm_frames'] == file['calibrated_on']['alarm_frames']  # the same maps, the same rule
    assert found['alarm']['source'] == 'computed' and not found['alarm']['recorded']
    assert found['alarm']['said'] == (f'computed from the maps with {health_file}: on for {computed["alarm_frames"]} '
                                      'of 400 frames; no takeover in this range')
    assert page.count('<title>its limit</title>') == 3  # each number's limit beside it


def test_scenes_it_never_saw_raise_it_and_the_numbers_are_the_cars_rule_in_a_plain_loop(tmp_path, health_file,
                                                                                        unseen):
    found, page = report(tmp_path, unseen, health_file, horizon=50)  # the report's lines elsewhere: the numbers
    # are measured at the health file's surface edge (40), as the car measures them
    computed = found['health']
    assert computed['alarm_frames'] > 0.5 * found['frames'] and found['frames'] == 160
    file = json.loads(health_file.read_text())
    pilot = api.load_pilot(sample.MODEL)
    numbers = {name: [] for name in health.NUMBERS}
    for tub in unseen:  # each tub another drive: the change starts anew
        images = np.stack([np.asarray(Image.open(f'{tub}/images/{r["cam/image_array"]}')) for r in tub_records(tub)])
        maps = api.saliency(pilot, images).raw
        row = health.edge_row(file['surface_edge'], file['frame_height'], maps.shape[1])
        previous = None
        for one in maps:
            for name, values in health.numbers(one[None], row, previous, file['strength_scale']).items():
                numbers[name].extend(values)
            previous = attention.mass(one[None])[0]
    numbers = {name: np.array(values) for name, values in numbers.items()}
    for name, values in numbers.items():
        known = values[np.isfinite(values)]
        summary = computed['numbers'][name]
        assert summary['frames'] == len(known), name
        for key, q in (('median', 50), ('p05', 5), ('p95', 95)):
            assert summary[key] == pytest.approx(np.percentile(known, q), rel=1e-4, abs=1e-6), (name, key)
    alarm = np.concatenate([health.alarms({name: values[part] for name, values in numbers.items()}, file['limits'],
                                          file['window']) for part in (slice(0, 80), slice(80, 160))])
    assert not alarm[80:80 + file['window'] - 1].any()  # each tub another drive: its own first window
    on = [s['position'] + i for s in found['alarm']['stretches'] for i in range(s['last'] - s['first'] + 1)]
    assert on == list(np.flatnonzero(alarm))  # the stretches, frame by frame, as the plain loop's alarm
    assert computed['alarm_frames'] == int(alarm.sum())


def test_a_health_file_for_another_pilot_is_refused_in_one_line(tmp_path, health_file, small_tub):
    other = tmp_path / 'other.json'
    content = json.loads(health_file.read_text())
    content['pilot']['file'] = 'other_pilot.h5'
    other.write_text(json.dumps(content))
    corrupt = tmp_path / 'corrupt.json'
    corrupt.write_text('{"limits": ')
    for path, said in ((other, 'was made for other_pilot.h5 (linear, vbp maps), and the report explains pilot.h5'),
                       (corrupt, 'is not one `donkey saliency calibrate` wrote'),
                       (tmp_path / 'none.json', 'cannot read the health file')):
        result = run_main('report', '--tub', small_tub, '--model', sample.MODEL, '--out', tmp_path / 'r.html',
                         '--health', path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and said in lines[0], result.stderr
    assert not (tmp_path / 'r.html').exists()
