"""`donkey saliency calibrate` and the car part's health on known answers: the bundled pilot calibrated on its own
road keeps the alarm off on nearly every frame of another drive of that road, and raises it within a second
(20 frames at 20 Hz) of a change it never saw: more distractors, markers in the sky, the light dropping."""
import json
import logging

import numpy as np
import pytest

from conftest import car_pilot, run_main
from donkey_saliency import sample, synthetic

pytest.importorskip('donkeycar', reason='the car part is driven by donkeycar 5.3 (Python 3.11)')

SECOND = 20  # frames at donkeycar's 20 Hz


@pytest.fixture(scope='module')
def calibrated(tmp_path_factory):
    """The bundled pilot's health file, made by the command on the tub it was trained on, and what it said."""
    out = tmp_path_factory.mktemp('health') / 'health.json'
    result = run_main('calibrate', '--tub', sample.TUB, '--model', sample.MODEL, '--out', out)
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_the_file_names_the_pilot_and_the_alarm_is_rare_on_its_own_tub(calibrated):
    out, said = calibrated
    found = json.loads(out.read_text())
    assert found['pilot'] == {'file': 'pilot.h5', 'type': 'linear'} and found['method'] == 'vbp'
    assert found['surface_edge'] == synthetic.true_edge(None) and found['frame_height'] == synthetic.HEIGHT
    assert found['window'] == 10 and set(found['limits']) == {'above_edge', 'change', 'strength'}
    on = found['calibrated_on']
    assert on['frames'] == 400 and on['alarm_frames'] <= 0.05 * on['frames']
    lines = said.strip().splitlines()
    assert lines[0].startswith(f'wrote {out} for pilot.h5 (linear, vbp maps): 400 frames')
    assert f'the alarm would have been on for {on["alarm_frames"]} of 400 frames' in said
    assert all(f'{s["first"]}-{s["last"]}' in said or str(s['first']) in said for s in on['alarm_records'])


def health_part(path):
    """The car part as the car makes it, watching with the health file at `path`."""
    from donkey_saliency.car.part import SalientPilot
    cfg = type('Config', (), {'SALIENCY_HEALTH': str(path), 'SALIENCY_STREAM_PORT': None})()
    return SalientPilot(car_pilot('linear', sample.MODEL), cfg, sample.MODEL)


def alarms(part, images):
    return [part.run(image)[-1] for image in images]


def test_the_road_it_knows_keeps_the_alarm_off_and_a_change_raises_it_within_a_second(calibrated):
    out, _ = calibrated
    road = [s.image for s in synthetic.drive(300, seed=5)]  # another drive of the road it was trained on
    changes = {'distractors': [s.image for s in synthetic.drive(60, seed=9, distractors=6)],
               'sky markers': [s.image for s in synthetic.drive(60, seed=9, sky='blobs')],
               'light dropping': [(s.image * 0.4).astype(np.uint8) for s in synthetic.drive(60, seed=9)]}
    nominal = alarms(health_part(out), road)
    assert np.mean(nominal) <= 0.05, np.flatnonzero(nominal)
    for name, scene in changes.items():
        part = health_part(out)
        before = alarms(part, road[:100])
        after = alarms(part, scene)
        assert not any(before[-SECOND:]), name
        assert any(after[:SECOND]) and np.mean(after[SECOND:]) > 0.5, (name, after)


def test_a_missing_or_corrupt_health_file_is_said_in_one_line_and_the_part_drives(tmp_path, caplog):
    corrupt = tmp_path / 'corrupt.json'
    corrupt.write_text('{"limits": ')
    image = next(synthetic.drive(1)).image
    for path, said in ((tmp_path / 'none.json', 'cannot read the health file'),
                       (corrupt, 'is not one `donkey saliency calibrate` wrote')):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            part = health_part(path)
        lines = [r.getMessage() for r in caplog.records if 'health off' in r.getMessage()]
        assert len(lines) == 1 and said in lines[0] and '\n' not in lines[0]
        assert part.health is None and len(part.run(image)) == 3  # angle, throttle, overlay: as without health


def test_bad_input_is_one_line_and_exit_2(tmp_path, small_tub):
    for args, said in ((['--out', tmp_path / 'h.json'], '--model'),
                       (['--model', sample.MODEL, '--out', tmp_path / 'h.txt'], '.json'),
                       (['--model', sample.MODEL, '--out', tmp_path / 'h.json', '--end', 15], 'too few to calibrate'),
                       (['--model', sample.MODEL, '--out', tmp_path / 'h.json', '--window', 1], '--window')):
        result = run_main('calibrate', '--tub', small_tub, *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and said in lines[0], result.stderr
    assert not (tmp_path / 'h.json').exists()


class _Scene:
    """A camera part: black frames (a scene the pilot never saw) and the drive mode of the loop."""

    def __init__(self, mode):
        self.mode = mode

    def run(self):
        return np.zeros((synthetic.HEIGHT, synthetic.WIDTH, 3), np.uint8), self.mode


class _Keep:
    def __init__(self):
        self.seen = []

    def run(self, *values):
        self.seen.append(values)


@pytest.mark.parametrize('mode', ['local', 'user'])
def test_the_guard_scales_the_pilots_throttle_while_the_alarm_is_on_never_in_user_mode(calibrated, mode):
    """donkeycar's drive loop with add_saliency and SALIENCY_GUARD_THROTTLE: the guard runs right after the part,
    and the pilot's throttle the later parts see is the pilot's own times 0.5 once the alarm is on (the first
    window), the pilot's own before it and always in user mode."""
    from donkeycar.vehicle import Vehicle
    from donkey_saliency.part import add_saliency
    out, _ = calibrated
    kl = car_pilot('linear', sample.MODEL)
    expected_throttle = kl.run(np.zeros((synthetic.HEIGHT, synthetic.WIDTH, 3), np.uint8))[1]
    cfg = type('Config', (), {'SALIENCY_HEALTH': str(out), 'SALIENCY_STREAM_PORT': None,
                              'SALIENCY_GUARD_THROTTLE': 0.5})()
    vehicle, keep = Vehicle(), _Keep()
    vehicle.add(_Scene(mode), outputs=['cam/image_array', 'user/mode'])
    add_saliency(vehicle, cfg, kl, ['cam/image_array'], ['pilot/angle', 'pilot/throttle'], sample.MODEL,
                 run_condition=None)
    vehicle.add(keep, inputs=['pilot/throttle', 'saliency/alarm'])
    assert [type(p['part']).__name__ for p in vehicle.parts] == ['_Scene', 'SalientPilot', 'ThrottleGuard', '_Keep']
    vehicle.start(rate_hz=1000, max_loop_count=15)
    alarms = [alarm for _, alarm in keep.seen]
    assert not any(alarms[:9]) and all(alarms[10:])  # on with the first full window of black frames
    factor = 0.5 if mode == 'local' else 1.0
    for throttle, alarm in keep.seen:
        assert throttle == pytest.approx(expected_throttle * (factor if alarm else 1.0), abs=1e-5)


def test_the_stream_says_the_alarm_in_words_in_a_row_that_keeps_its_size():
    from donkey_saliency.core.engine import MapRequest
    from donkey_saliency.draw import ALARM_COLOUR, stream_picture
    request = MapRequest('vbp')
    overlay = next(synthetic.drive(1)).image

    def picture(alarm):
        return stream_picture(overlay, 0.1, 0.3, request.title, request.signed, request.ends, alarm=alarm)

    def red(image):
        return int((np.abs(image.astype(int) - ALARM_COLOUR).sum(axis=-1) < 40).sum())
    off, on, none = picture(False), picture(True), picture(None)
    assert on.shape == off.shape and none.shape[0] < off.shape[0] and none.shape[1] == off.shape[1]
    assert red(on) > 100 and red(off) == red(none) == 0


@pytest.mark.parametrize('every, threaded', [(2, False), (1, True)])
def test_health_is_off_in_one_line_unless_a_map_is_made_every_loop(calibrated, caplog, every, threaded):
    """The limits hold for the maps of consecutive frames: a map every second loop, or a background thread that
    drops frames, turns health off with one line saying the settings that bring it back; the part drives on."""
    from donkey_saliency.car.part import SalientPilot
    out, _ = calibrated
    cfg = type('Config', (), {'SALIENCY_HEALTH': str(out), 'SALIENCY_STREAM_PORT': None, 'SALIENCY_EVERY': every,
                              'SALIENCY_THREADED': threaded})()
    with caplog.at_level(logging.WARNING):
        part = SalientPilot(car_pilot('linear', sample.MODEL), cfg, sample.MODEL)
    lines = [r.getMessage() for r in caplog.records if 'health off' in r.getMessage()]
    assert part.health is None and len(lines) == 1
    assert 'SALIENCY_EVERY = 1 and SALIENCY_THREADED = False' in lines[0] and f'now {every} and {threaded}' in lines[0]
    if part.worker:
        part.shutdown()


@pytest.mark.parametrize('value', [2, -0.5, 'half'])
def test_a_guard_that_would_speed_up_or_reverse_stops_the_car_in_one_line(calibrated, capsys, value):
    from donkeycar.vehicle import Vehicle
    from donkey_saliency.part import add_saliency
    out, _ = calibrated
    cfg = type('Config', (), {'SALIENCY_HEALTH': str(out), 'SALIENCY_STREAM_PORT': None,
                              'SALIENCY_GUARD_THROTTLE': value})()
    with pytest.raises(SystemExit) as stopped:
        add_saliency(Vehicle(), cfg, car_pilot('linear', sample.MODEL), ['cam/image_array'],
                     ['pilot/angle', 'pilot/throttle'], sample.MODEL, run_condition=None)
    err = capsys.readouterr().err.strip().splitlines()
    assert stopped.value.code == 2 and len(err) == 1 and f'SALIENCY_GUARD_THROTTLE is {value!r}' in err[0]
    assert 'from 0 to 1' in err[0]
