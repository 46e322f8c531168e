"""The car's attention alarm against takeovers (core/alarms.py): lead times worked out by hand on a layout of
alarm stretches and takeovers, at the look-back's boundary; then through `report` on a tub written with
donkeycar's Tub with user/mode switches and the car's health numbers and saliency/alarm laid out by hand."""
import json
import re

import numpy as np
import pytest

from conftest import run_main, tub_records
from donkey_saliency import sample, synthetic
from donkey_saliency.core import alarms

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

ON = [(10, 14), (40, 41), (45, 47), (70, 72), (149, 150), (250, 252), (295, 299), (300, 301)]
TAKEOVERS = [30, 50, 120, 200, 250, 302]


def layout(times=True):
    """320 records at 10 Hz (time = position / 10, exact in binary at the boundary), tub a then tub b from 300."""
    alarm = [any(first <= i <= last for first, last in ON) for i in range(320)]
    tubs = ['a' if i < 300 else 'b' for i in range(320)]
    return alarm, tubs, [i / 10 if times else None for i in range(320)]


def test_stretches_and_lead_times_by_hand():
    found, warned = alarms.review(*layout(), TAKEOVERS)
    # 295-299 and 300-301 touch, but across two tubs: two stretches
    assert [(s.start, s.end) for s in found] == ON
    assert [s.seconds for s in found] == pytest.approx([0.4, 0.1, 0.2, 0.2, 0.1, 0.2, 0.4, 0.1])
    # 30: the alarm from 10, 2 s before. 50: of 10 (4 s), 40 (1 s) and 45, the latest start, 45: 0.5 s.
    # 120: 70 is 5.0 s before, on the look-back: counted. 200: 149 is 5.1 s before: none. 250: the alarm starts
    # at the takeover's own record: none. 302 (tub b): 300, 0.2 s; 295 lies in tub a.
    assert [w['warned'] for w in warned] == [True, True, True, False, False, True]
    assert [w['seconds'] for w in warned] == pytest.approx([2.0, 0.5, 5.0, None, None, 0.2])
    assert [w['records'] for w in warned] == [20, 5, 50, None, None, 2]
    assert [s.takeover for s in found] == [True, True, True, True, False, False, False, True]
    assert alarms.summary(found, warned) == ('the alarm came on before 4 of 6 takeover(s), 1.9 s ahead on average; '
                                             '3 of 8 alarm(s) had no takeover')


def test_without_times_the_look_back_counts_records():
    alarm, tubs, times = layout(times=False)
    found, warned = alarms.review(alarm, tubs, times, [249, 250])  # 149 is 100 records before 249, 101 before 250
    assert [(w['warned'], w['seconds'], w['records']) for w in warned] == [(True, None, 100), (False, None, None)]
    assert alarms.summary(found, warned).startswith('the alarm came on before 1 of 2 takeover(s); ')
    assert found[0].seconds is None


def test_an_alarm_on_for_longer_than_the_look_back_is_no_warning():
    """The most recent start counts: an alarm on since 6 s says nothing new at the takeover."""
    alarm = [True] * 60 + [False] * 10
    found, warned = alarms.review(alarm, ['a'] * 70, [i / 10 for i in range(70)], [65])
    assert warned == [{'warned': False, 'seconds': None, 'records': None}] and not found[0].takeover


# user/mode and saliency/alarm by hand, at 20 Hz: pilot 10-29 -> takeover at 30, the alarm on 20-24 (0.5 s
# ahead, by the records' own times); pilot 40-149 -> takeover at 150, no alarm start in the 5 s (100 records or
# more) before it; the alarm on 160-164 while the driver drives, no takeover after it. The numbers as the car
# records them: above the edge 0.6 while the alarm is on and 0.05 else, the change 0.1 + (i % 5) / 100 (none for
# the first record: the car leaves it out), the strength 0.4 while the alarm is on and 1 else.
MODES = ['user'] * 10 + ['local'] * 20 + ['user'] * 10 + ['local'] * 110 + ['user'] * 20
ALARM_ON = [(20, 24), (160, 164)]


def on(i):
    return any(a <= i <= b for a, b in ALARM_ON)


NUMBERS = {'above_edge': lambda i: 0.6 if on(i) else 0.05, 'change': lambda i: None if i == 0 else 0.1 + i % 5 / 100,
           'strength': lambda i: 0.4 if on(i) else 1.0}


@pytest.fixture(scope='module')
def alarmed(tmp_path_factory):
    folder = tmp_path_factory.mktemp('alarm')
    tub = synthetic.write_tub(folder / 'tub', synthetic.drive(len(MODES), seed=5), hz=20, mode=lambda i: MODES[i],
                              extra={'saliency/alarm': ('boolean', on),
                                     **{f'saliency/{name}': ('float', f) for name, f in NUMBERS.items()}})
    result = run_main('report', '--tub', tub, '--model', sample.MODEL, '--out', folder / 'r.html', '--json',
                      folder / 'r.json', '--review-out', folder / 'review.py')
    assert result.returncode == 0, result.stderr
    return tub, json.loads((folder / 'r.json').read_text()), result.stdout, (folder / 'r.html').read_text()


def test_the_report_gives_the_alarm_before_each_takeover(alarmed):
    tub, found, stdout, page = alarmed
    seconds = {r['_index']: r['_timestamp_ms'] / 1000 for r in tub_records(tub)}
    takeovers = found['models'][0]['takeovers']
    assert [t['index'] for t in takeovers] == [30, 150]
    first, second = (t['warning'] for t in takeovers)
    assert first['warned'] and first['records'] == 10
    assert first['seconds'] == pytest.approx(seconds[30] - seconds[20], abs=1e-3) and first['seconds'] >= 0.5 - 1e-3
    assert second == {'warned': False, 'seconds': None, 'records': None}
    alarm = found['alarm']
    assert alarm['recorded'] and [(s['first'], s['last'], s['takeover']) for s in alarm['stretches']] == [
        (20, 24, True), (160, 164, False)]
    said = (f'the alarm came on before 1 of 2 takeover(s), {first["seconds"]:.1f} s ahead on average; 1 of 2 '
            'alarm(s) had no takeover')
    assert alarm['said'] == said and f'alarm: {said}' in stdout.splitlines() and said in page
    assert f'the alarm came on {first["seconds"]:.1f} s before' in page and 'no alarm before it' in page
    assert [(m['first'], m['last']) for m in found['review'] if m['kind'] == 'alarm'] == ALARM_ON


def test_the_recorded_numbers_are_drawn_along_the_run_with_the_alarm_stretches(alarmed):
    """The JSON's `health` summarises the numbers as recorded (the change's first record left out), and the page
    draws them (windowed) with one shaded span per stretch as laid out, in both of its health charts."""
    _, found, stdout, page = alarmed
    health = found['health']
    assert health['source'] == 'recorded' and health['limits'] is None
    for name, f in NUMBERS.items():
        laid_out = np.array([v for v in map(f, range(len(MODES))) if v is not None])
        summary = health['numbers'][name]
        assert summary['frames'] == len(laid_out), name
        assert summary['median'] == pytest.approx(np.median(laid_out)), name
        assert summary['p95'] == pytest.approx(np.percentile(laid_out, 95)), name
    assert found['alarm']['source'] == 'recorded'
    assert f'health numbers: {health["said"]}' in stdout.splitlines()
    start = page.index('The pilot&#x27;s health</h2>')
    section = page[start:page.index('</section>', start)]
    spans = re.findall(r'<rect class="span" x="([\d.]+)" y="\d+" width="([\d.]+)"', section)
    assert len(spans) == 2 * len(ALARM_ON)  # the shares' chart and the strength's
    width, frames = 640 - 44 - 10, len(MODES) - 1  # charts.WIDTH - LEFT - RIGHT over the frames
    for (x, w), (first, last) in zip(spans, ALARM_ON * 2):
        assert float(x) == pytest.approx(44 + width * first / frames, abs=0.1)
        assert float(w) == pytest.approx(width * (last - first) / frames, abs=0.1)
    for label in ('above the surface edge', 'change since the frame before', 'strength (1: as usual)'):
        assert f'<title>{label}</title></polyline>' in section, label


def test_a_tub_without_the_alarm_says_it_was_not_recorded(tmp_path):
    tub = synthetic.write_tub(tmp_path / 'tub', synthetic.drive(30, seed=5), hz=50,
                              mode=lambda i: 'local' if 10 <= i < 20 else 'user')
    result = run_main('report', '--tub', tub, '--model', sample.MODEL, '--out', tmp_path / 'r.html', '--json',
                      tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / 'r.json').read_text())
    said = ('the alarm was not recorded (saliency/alarm is in no record: on the car, SALIENCY_HEALTH with '
            'SALIENCY_RECORD records it); to compute it from the maps, pass --health FILE (a health file from '
            '`donkey saliency calibrate` for the pilot)')
    assert found['alarm'] == {'recorded': False, 'source': None, 'said': said}
    assert [t['warning'] for t in found['models'][0]['takeovers']] == [None]
    page = (tmp_path / 'r.html').read_text()
    assert result.stdout.count('--health FILE') == 1 and f'alarm: {said}' in result.stdout.splitlines()
    assert page.count('--health FILE') == 1 and 'the alarm was not recorded' in page
    health = found['health']  # the numbers computed from the maps, without limits
    assert health['source'] == 'computed' and health['limits'] is None and 'alarm_frames' not in health
    assert health['numbers']['change']['frames'] == 29 and health['numbers']['strength']['median'] == \
        pytest.approx(1.0)


def test_a_recorded_alarm_on_a_stretch_without_takeovers_says_how_often_it_was_on(alarmed, tmp_path):
    """Records 150-169: the driver drives all of them, the alarm is on at 160-164 (ALARM_ON): no '0 of 0
    takeover(s)', but how often it was on."""
    tub = alarmed[0]
    result = run_main('report', '--tub', tub, '--model', sample.MODEL, '--out', tmp_path / 'r.html', '--json',
                      tmp_path / 'r.json', '--start', 150, '--end', 170)
    assert result.returncode == 0, result.stderr
    said = json.loads((tmp_path / 'r.json').read_text())['alarm']['said']
    assert said == 'on for 5 of 20 frames; no takeover in this range', said
