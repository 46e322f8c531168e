"""`donkey saliency report`: known answers on tubs whose content is known, checked against independent loops over
the saved maps and the records, and the page opened in a real headless Chromium."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from browser import CHROMIUM, Browser
from conftest import (SHARED, SHARED_ABSENT, SHARED_READY, assert_disk_full, limited_file_size, mirrored,
                      tub_records, run_cli, run_main, tree_digest)
from donkey_saliency import sample, synthetic

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)


@pytest.fixture(scope='module')
def sample_run(tmp_path_factory):
    """The sample tub: the video's saved maps, and the report's page and JSON."""
    folder = tmp_path_factory.mktemp('sample_report')
    video = run_main('--tub', sample.TUB, '--model', sample.MODEL, '--out', folder / 'v.mp4',
                    '--save-maps', folder / 'maps.npz')
    assert video.returncode == 0, video.stderr
    report = run_main('report', '--tub', sample.TUB, '--model', sample.MODEL, '--out', folder / 'report.html',
                     '--json', folder / 'report.json')
    assert report.returncode == 0, report.stderr
    with open(folder / 'report.json') as f:
        found = json.load(f)
    return found, np.load(folder / 'maps.npz'), folder / 'report.html', report.stdout


def test_shares_are_those_of_the_saved_maps(sample_run):
    """Bands, thirds and the share above the horizon, recomputed from the video's saved raw maps by a plain loop:
    each frame's |map| divided by its sum, summed between edges, averaged over the frames."""
    found, saved, _, _ = sample_run
    model = found['models'][0]
    raw = saved['raw'].astype(np.float64)
    assert found['frames'] == len(raw) == 400
    height, width = raw.shape[1:]
    bands, thirds, above = [], [], []
    for m in raw:
        a = np.abs(m)
        if a.sum() == 0:
            continue
        a = a / a.sum()
        bands.append([a[b['top']:b['bottom']].sum() for b in model['bands']])
        thirds.append([a[:, 0:round(width / 3)].sum(), a[:, round(width / 3):round(2 * width / 3)].sum(),
                       a[:, round(2 * width / 3):].sum()])
        above.append(a[:model['horizon_row']].sum())
    assert [b['top'] for b in model['bands']][0] == 0 and model['bands'][-1]['bottom'] == height
    assert all(a['bottom'] == b['top'] for a, b in zip(model['bands'], model['bands'][1:]))  # all rows, in order
    np.testing.assert_allclose([b['share'] for b in model['bands']], np.mean(bands, axis=0), atol=1e-4)
    assert abs(sum(b['share'] for b in model['bands']) - 1) < 1e-3
    np.testing.assert_allclose([model['columns'][k] for k in ('left', 'centre', 'right')], np.mean(thirds, axis=0),
                               atol=1e-4)
    assert model['attention_above_horizon'] == pytest.approx(np.mean(above), abs=1e-4)


def test_the_horizon_is_the_sky_line_and_a_pilot_on_the_road_needs_no_crop(sample_run):
    found, _, _, _ = sample_run
    model = found['models'][0]
    assert model['lines'] == {'surface_edge': synthetic.HORIZON, 'skyline': None, 'config_roi_crop_top': None}
    assert model['horizon_row'] == synthetic.HORIZON  # (kept for scripts: the surface edge)
    assert model['attention_above_horizon'] < 0.05  # the sample pilot looks at the lines
    assert model['advice']['roi_crop_top'] is None and 'no crop needed' in model['advice']['why'][0]
    rows = [p['row'] for p in model['crop_curve']]
    assert rows == sorted(set(rows)) and {b['bottom'] for b in model['bands']} | {synthetic.HORIZON} <= set(rows)


def test_steering_agreement_and_disagreements_follow_the_records(sample_run):
    found, saved, _, _ = sample_run
    model = found['models'][0]
    user = {r['_index']: r['user/angle'] for r in tub_records(sample.TUB)}
    angles = np.array([user[i] for i in saved['index']])
    assert model['steering'] == pytest.approx({'left_share': np.mean(angles < -0.05),
                                               'right_share': np.mean(angles > 0.05)}, abs=1e-4)
    assert model['agreement']['steering_corr'] == pytest.approx(np.corrcoef(saved['angle'], angles)[0, 1], abs=1e-3)
    assert model['agreement']['steering_mae'] == pytest.approx(np.abs(saved['angle'] - angles).mean(), abs=1e-3)
    gaps = np.abs(saved['angle'] - angles)
    listed = model['disagreements']
    assert len(listed) >= 8
    assert listed[0]['position'] == int(np.argmax(gaps))
    assert all(abs(d['pilot_angle'] - d['user_angle']) >= abs(e['pilot_angle'] - e['user_angle']) - 1e-4
               for d, e in zip(listed, listed[1:]))
    assert_distinct_moments([d['position'] for d in listed], gaps, times_of(sample.TUB))


def times_of(tub):
    return [r['_timestamp_ms'] / 1000 for r in tub_records(tub)]


def near(a, b, times):
    """Two frames of one moment: under 20 frames apart, or under a second apart where the records were written
    in real time (no car loop runs faster than 100 Hz)."""
    seconds = abs(times[a] - times[b])
    return abs(a - b) < 20 or (seconds < 1 and seconds >= abs(a - b) / 100)


def assert_distinct_moments(positions, scores, times):
    """Listed moments are pairwise apart; and a frame scoring above the smallest listed that is not listed has a
    frame of its own moment scoring at least as much (it is no event's peak)."""
    assert all(not near(a, b, times) for i, a in enumerate(positions) for b in positions[i + 1:]), positions
    floor = min(scores[p] for p in positions)
    for frame in set(range(len(scores))) - set(positions):
        if scores[frame] > floor:
            assert any(scores[other] >= scores[frame] for other in range(len(scores))
                       if other != frame and near(frame, other, times)), frame


def test_a_tub_driven_by_hand_has_no_takeovers_and_says_so(sample_run):
    found, _, page, _ = sample_run
    assert found['models'][0]['takeovers'] == []
    assert 'none: in this range the user drove throughout' in page.read_text()


def test_the_page_is_self_contained_and_small(sample_run):
    _, _, page, stdout = sample_run
    text = page.read_text()
    assert 'http://' not in text and 'https://' not in text and '<link' not in text  # nothing to fetch
    assert page.stat().st_size < 3e6
    assert stdout.startswith(f'wrote {page}')


def test_a_mirrored_tub_swaps_the_steering_shares(sample_run, tmp_path):
    found, _, _, _ = sample_run
    tub = mirrored(sample.TUB, tmp_path / 'mirrored')
    result = run_main('report', '--tub', tub, '--model', sample.MODEL, '--out', tmp_path / 'r.html',
                     '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    mirror = json.loads((tmp_path / 'r.json').read_text())['models'][0]
    original = found['models'][0]
    assert mirror['steering']['left_share'] == original['steering']['right_share']
    assert mirror['steering']['right_share'] == original['steering']['left_share']
    assert mirror['steering'] != original['steering']  # the sample leans a little right, so a swap shows


def test_a_one_way_pilot_gets_the_flip_advice_and_the_balanced_sample_does_not(sample_run, one_way, tmp_path):
    tub, pilot = one_way
    result = run_main('report', '--tub', tub, '--model', pilot, '--out', tmp_path / 'r.html',
                     '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    model = json.loads((tmp_path / 'r.json').read_text())['models'][0]
    assert model['steering']['right_share'] > 0.9  # every bend goes right
    assert model['mirror']['bias'] > 0.3  # and the pilot, shown a left bend, steers less left than right
    assert model['advice']['flip_augmentation'] is True
    assert 'flip-augment' in result.stdout
    balanced = sample_run[0]['models'][0]  # the sample: a road bending both ways
    assert abs(balanced['mirror']['bias']) < 0.05 and balanced['advice']['flip_augmentation'] is False


def test_a_horizon_given_low_in_the_frame_gets_the_crop_advice(tmp_path):
    """Row 100 leaves most of the road above it: the pilot steers by what lies above that 'surface edge'."""
    result = run_main('report', '--tub', sample.TUB, '--model', sample.MODEL, '--horizon', 100, '--end', 64,
                     '--out', tmp_path / 'r.html', '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / 'r.json').read_text())
    model = found['models'][0]
    assert found['horizon_source'] == '--horizon' and model['horizon_row'] == 100
    assert model['attention_above_horizon'] > 0.9 and model['lines']['surface_edge'] == 100
    assert model['advice']['roi_crop_top'] == 100 and 'ROI_CROP_TOP = 100' in result.stdout


MODES = ['user'] * 10 + ['local'] * 10 + ['user'] * 5 + ['local_angle'] * 6 + ['user'] * 9 + ['local'] * 10


@pytest.fixture(scope='module')
def driven_by_pilot(tmp_path_factory):
    """A tub recorded while the pilot drove, with two takeovers (records 20 and 31), ending while the pilot drives;
    and a copy of it, so that the second tub begins in user mode right after the first ended in local."""
    folder = tmp_path_factory.mktemp('takeovers')
    tub = synthetic.write_tub(folder / 'tub_a', synthetic.drive(len(MODES), seed=3), hz=50,
                              mode=lambda i: MODES[i])
    copy = shutil.copytree(tub, folder / 'tub_b')
    return tub, copy


def test_takeovers_are_listed_exactly_with_the_seconds_before(driven_by_pilot, tmp_path):
    """Through the data folder that holds both tubs (equal times: tub_a, then tub_b, by name)."""
    tub, _ = driven_by_pilot
    result = run_main('report', '--tub', tub.parent, '--model', sample.MODEL, '--out', tmp_path / 'r.html',
                     '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    takeovers = json.loads((tmp_path / 'r.json').read_text())['models'][0]['takeovers']
    expected = [(20, 'local'), (31, 'local_angle')]
    assert [(t['index'], t['mode_before']) for t in takeovers] == expected * 2  # and none where tub_b begins
    assert [t['position'] for t in takeovers] == [20, 31, 20 + len(MODES), 31 + len(MODES)]
    for t in takeovers:
        before = t['before']['positions']
        assert before[-1] == t['position'] and before == list(range(before[0], t['position'] + 1))
        assert before[0] == t['position'] - t['index']  # the whole tub so far lies within the 3 seconds (50 Hz)
        assert len(t['before']['pilot_angle']) == len(before)
    page = (tmp_path / 'r.html').read_text()
    assert page.count('back to the user after') == 4
    assert 'attention above the surface edge' in page and 'horizon' not in page.lower()  # one name for one line


def test_takeovers_with_every_come_from_the_rendered_records(driven_by_pilot, tmp_path):
    """Every second record: 20 is the first user record rendered after local, 32 after local_angle (31 is not
    rendered)."""
    result = run_main('report', '--tub', driven_by_pilot[0], '--model', sample.MODEL, '--every', 2,
                     '--out', tmp_path / 'r.html', '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / 'r.json').read_text())
    assert found['frames'] == len(MODES) // 2
    assert [(t['index'], t['mode_before']) for t in found['models'][0]['takeovers']] == [(20, 'local'),
                                                                                       (32, 'local_angle')]


def test_tubs_of_one_name_stay_apart(driven_by_pilot, tmp_path):
    """donkeycar names every tub data: two of them are told apart by their folders, and the second's first
    record, in user mode after the first ended in local, is no takeover."""
    for car in ('car_a', 'car_b'):
        shutil.copytree(driven_by_pilot[0], tmp_path / car / 'data')
    result = run_main('report', '--tub', tmp_path / 'car_a' / 'data', tmp_path / 'car_b' / 'data', '--model',
                     sample.MODEL, '--out', tmp_path / 'r.html', '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    takeovers = json.loads((tmp_path / 'r.json').read_text())['models'][0]['takeovers']
    assert [(t['tub'], t['index']) for t in takeovers] == [('car_a/data', 20), ('car_a/data', 31),
                                                           ('car_b/data', 20), ('car_b/data', 31)]
    assert all(t['before']['positions'][0] >= (len(MODES) if t['tub'] == 'car_b/data' else 0) for t in takeovers)


def test_a_memory_pilot_beside_a_linear_one_explains_the_same_frames(tmp_path):
    """The memory pilot cannot take records without the user's values; the linear one could, but both must
    explain the same frames, so those records are left out for both and counted once."""
    from conftest import keras_pilot
    keras_pilot('memory').interpreter.model.save(tmp_path / 'memory.h5')
    scenes = list(synthetic.drive(30, seed=5))
    for i in (4, 8, 12):
        scenes[i].angle = None  # (donkeycar's writer refuses NaN; null is what a lost value becomes)
    tub = synthetic.write_tub(tmp_path / 'tub', scenes, hz=1000)
    result = run_main('report', '--tub', tub, '--model', sample.MODEL, tmp_path / 'memory.h5',
                     '--out', tmp_path / 'r.html', '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / 'r.json').read_text())
    assert found['frames'] == 27 and found['skipped'] == {'records without a user angle/throttle': 3}
    assert [m['kind'] for m in found['models']] == ['linear', 'memory']
    for model in found['models']:
        assert {d['index'] for d in model['disagreements']}.isdisjoint({4, 8, 12})


def test_the_model_free_method_is_not_compared_with_itself(tmp_path):
    result = run_main('report', '--tub', sample.TUB, '--model', sample.MODEL, '--method', 'spectral-residual',
                     '--end', 64, '--out', tmp_path / 'r.html', '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    conspicuous = json.loads((tmp_path / 'r.json').read_text())['models'][0]['conspicuous']
    assert conspicuous == {'correlation': None, 'warning': False}


def test_several_pilots_side_by_side(one_way, tmp_path):
    tub, pilot = one_way
    result = run_main('report', '--tub', sample.TUB, '--model', sample.MODEL, pilot, '--end', 120,
                     '--out', tmp_path / 'r.html', '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / 'r.json').read_text())
    assert [m['model'] for m in found['models']] == [sample.MODEL, str(pilot)]  # in the order of --model
    saved = {}
    for n, model in enumerate((sample.MODEL, pilot)):
        video = run_main('--tub', sample.TUB, '--model', model, '--end', 120, '--out', tmp_path / f'{n}.mp4',
                        '--save-maps', tmp_path / f'{n}.npz')
        assert video.returncode == 0, video.stderr
        saved[n] = np.load(tmp_path / f'{n}.npz')
    spread = np.abs(saved[0]['angle'] - saved[1]['angle'])
    listed = found['between_pilots']
    assert len(listed) >= 2 and listed[0]['position'] == int(np.argmax(spread))  # 6 s of one bend after another
    assert all(abs(np.subtract(*a['pilot_angles'])) >= abs(np.subtract(*b['pilot_angles'])) - 1e-4
               for a, b in zip(listed, listed[1:]))
    assert_distinct_moments([b['position'] for b in listed], spread, times_of(sample.TUB)[:120])
    page = (tmp_path / 'r.html').read_text()
    assert 'Between pilots' in page and 'pilot.h5' in page and page.count('class="card"') >= 2 * 6


def test_evaluate_adds_the_faithfulness_table(tmp_path):
    result = run_main('report', '--tub', sample.TUB, '--model', sample.MODEL, '--end', 100, '--evaluate',
                     '--out', tmp_path / 'r.html', '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    faithfulness = json.loads((tmp_path / 'r.json').read_text())['faithfulness']
    assert len(faithfulness) == 1 and faithfulness[0]['model'] == sample.MODEL
    vbp = faithfulness[0]['outputs']['angle']['vbp']
    assert vbp['deletion_auc'] < vbp['random_deletion_auc']  # VBP beats random on the sample (see test_evaluate)
    assert 'Can these maps be trusted?' in (tmp_path / 'r.html').read_text()


def test_the_python_api_writes_the_same_findings(sample_run, tmp_path):
    import donkey_saliency as ds
    found = ds.report(sample.TUB, sample.MODEL, out=tmp_path / 'r.html', progress=False)
    assert (tmp_path / 'r.html').is_file()
    for key in ('bands', 'columns', 'steering', 'attention_above_horizon', 'horizon_row'):
        assert found['models'][0][key] == sample_run[0]['models'][0][key], key


@pytest.mark.parametrize('args, words', [
    (['--out', 'r.txt'], 'must end in .html'),
    (['--horizon', '500'], '--horizon 500 lies below the camera frame'),
    (['--horizon', '0'], '--horizon is a row'),
    (['--json', 'r.html'], 'must end in .json'),
    (['--method', 'nope'], 'nope'),
    (['--config', 'a.py', '--config', 'b.py'], '2 --config for 1 --model'),
    (['--frames', '1'], '--frames must be at least 2'),
    (['--config', 'car/myconfig.py'], 'car/myconfig.py is a myconfig.py, which donkeycar reads over the config.py'),
])
def test_bad_input_is_one_line_and_writes_nothing(args, words, tmp_path):
    (tmp_path / 'car').mkdir()
    (tmp_path / 'car' / 'myconfig.py').write_text('ROI_CROP_TOP = 30\n')  # (a myconfig.py alone)
    result = run_cli('report', '--tub', sample.TUB, '--model', sample.MODEL, *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == ['car'] and os.listdir(tmp_path / 'car') == ['myconfig.py']


def test_a_myconfig_given_is_read_over_the_config_beside_it_and_the_config_used_is_said(sample_run, tmp_path):
    """As donkeycar reads a car's settings: its myconfig.py (here ROI_CROP_TOP = 30) over its config.py
    (donkeycar's template); the report and evaluate name the files on stdout and in the JSON, and a run without
    --config says it used donkeycar's defaults."""
    pytest.importorskip('donkeycar', reason="the car's config.py is donkeycar's own template")
    import donkeycar
    car = tmp_path / 'car'
    car.mkdir()
    shutil.copy(os.path.join(os.path.dirname(donkeycar.__file__), 'templates', 'cfg_complete.py'), car / 'config.py')
    (car / 'myconfig.py').write_text('ROI_CROP_TOP = 30\n')
    used = f'{car / "config.py"} with {car / "myconfig.py"}'
    report = run_main('report', '--tub', sample.TUB, '--model', sample.MODEL, '--config', car / 'myconfig.py',
                      '--frames', 20, '--out', tmp_path / 'r.html', '--json', tmp_path / 'r.json')
    assert report.returncode == 0, report.stderr
    found = json.loads((tmp_path / 'r.json').read_text())
    assert found['car_roi_crop_top'] == 30 and found['configs'] == [used]
    assert f'car config: {used}' in report.stdout.splitlines()
    evaluated = run_main('evaluate', '--tub', sample.TUB, '--model', sample.MODEL, '--config', car / 'myconfig.py',
                         '--frames', 4, '--json', tmp_path / 'e.json')
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads((tmp_path / 'e.json').read_text())['config'] == used
    assert f'car config: {used}' in evaluated.stdout.splitlines()
    found, _, _, stdout = sample_run
    assert found['configs'] == ["none (donkeycar's defaults; pass the car's config.py with --config)"]
    assert "car config: none (donkeycar's defaults; pass the car's config.py with --config)" in stdout


def test_a_full_disk_is_exit_2_and_neither_file(tmp_path):
    """A 100 kB file-size limit stops the page (about 530 kB for 64 frames): one line, and neither the page nor
    the JSON (a few kB, written only with the page) is left."""
    out = tmp_path / 'out'
    out.mkdir()
    result = subprocess.run([sys.executable, '-m', 'donkey_saliency', 'report', '--no-progress', '--tub', sample.TUB,
                             '--model', sample.MODEL, '--end', '64', '--out', str(out / 'r.html'),
                             '--json', str(out / 'r.json')],
                            capture_output=True, text=True, timeout=600, preexec_fn=limited_file_size(100_000))
    assert_disk_full(result, out, out / 'r.html')


def test_nothing_is_written_into_the_tub_or_the_model(driven_by_pilot, tmp_path):
    tub, _ = driven_by_pilot
    model = shutil.copy(sample.MODEL, tmp_path / 'pilot.h5')
    before = tree_digest(tub), tree_digest(tmp_path)
    result = run_cli('report', '--tub', tub, '--model', model, '--out', tmp_path / 'out' / 'r.html')
    assert result.returncode == 2  # the folder does not exist
    os.mkdir(tmp_path / 'out')
    result = run_main('report', '--tub', tub, '--model', model, '--out', tmp_path / 'out' / 'r.html')
    assert result.returncode == 0, result.stderr
    shutil.rmtree(tmp_path / 'out')
    assert (tree_digest(tub), tree_digest(tmp_path)) == before


@pytest.mark.skipif(not CHROMIUM and not os.environ.get('CI'), reason='needs Debian chromium (.ci/run installs it)')
def test_the_page_in_a_browser_shows_plots_and_thumbnails_and_clicks_open_frames(driven_by_pilot, tmp_path):
    """Headless Chromium: every picture decodes, the plots are drawn, a click on a thumbnail opens it large,
    a click on the steering plot opens the frame nearest to that point, and nothing is fetched."""
    import cv2
    tub = shutil.copytree(driven_by_pilot[0], tmp_path / 'tub<!--<script>')  # a name that could end the script
    result = run_main('report', '--tub', tub, '--model', sample.MODEL, '--out', tmp_path / 'r.html')
    assert result.returncode == 0, result.stderr
    browser = Browser(tmp_path / 'profile')
    try:
        browser.open(f'file://{tmp_path / "r.html"}')
        pictures = '[...document.images].filter(i => i.id !== "lightbox-image")'  # (empty until a click)
        assert browser.evaluate(f'{pictures}.every(i => i.complete && i.naturalWidth > 0)')
        # one disagreement (the tub's 50 records at 50 Hz are one moment), the takeovers' 8 pictures, the pilot's
        # and the model-free averages, the band strip
        assert browser.evaluate(f'{pictures}.length') == 1 + 8 + 2 + 1
        assert browser.evaluate('document.querySelectorAll("svg polyline").length') >= 6
        shot = cv2.imdecode(np.frombuffer(browser.screenshot(), np.uint8), cv2.IMREAD_COLOR)
        assert shot.std() > 20  # a drawn page, not a blank one

        browser.evaluate('document.getElementById("d0-0").scrollIntoView({block: "center"})')
        box = browser.evaluate('(() => { const r = document.getElementById("d0-0").getBoundingClientRect(); '
                               'return [r.left + r.width / 2, r.top + r.height / 2]; })()')
        assert browser.evaluate('document.getElementById("lightbox").hidden')
        browser.click(*box)
        assert not browser.evaluate('document.getElementById("lightbox").hidden')
        assert browser.evaluate('document.getElementById("lightbox-image").src === '
                                'document.getElementById("d0-0").src')
        large = browser.evaluate('document.getElementById("lightbox-image").getBoundingClientRect().width')
        assert large > 2 * browser.evaluate('document.getElementById("d0-0").getBoundingClientRect().width')
        opened = cv2.imdecode(np.frombuffer(browser.screenshot(), np.uint8), cv2.IMREAD_COLOR)
        assert opened.mean() < shot.mean() - 30  # the dark backdrop over the page
        browser.click(5, 5)  # anywhere closes it
        assert browser.evaluate('document.getElementById("lightbox").hidden')

        plot = ('document.querySelectorAll(".hit")[1]')  # the steering plot of the first pilot
        browser.evaluate(f'{plot}.scrollIntoView({{block: "center"}})')
        left, top, width, height = browser.evaluate(f'(() => {{ const r = {plot}.getBoundingClientRect(); '
                                                    'return [r.left, r.top, r.width, r.height]; })()')
        x, y = left + width * 0.75, top + 2  # near +1: no disagreement's circle there
        assert browser.evaluate(f'document.elementFromPoint({x}, {y}).classList.contains("hit")')
        browser.click(x, y)
        caption = browser.evaluate('document.getElementById("lightbox-caption").textContent')
        assert caption.startswith('tub<!--<script> record ')
        position = int(caption.split('(frame ')[1].split(')')[0])
        assert abs(position - 0.75 * (len(MODES) - 1)) <= 2  # the nearest kept frame (all are kept: under 120)
        assert not [url for url in browser.requests if not url.startswith(('file:', 'data:', 'about:'))]
        assert browser.errors == []
    finally:
        browser.close()


@pytest.mark.skipif(not SHARED_READY, reason=SHARED_ABSENT)
def test_on_the_real_tub(tmp_path):
    """The car's own pilot on its whole tub (every 4th record for the attention; the tests on 200 frames spread
    over all of it): the carpet ends at the walls' base near row 45, the walls' top near row 16; the pilot
    steers by the walls and has learnt the records' right lean."""
    before = tree_digest(SHARED)
    result = run_main('report', '--tub', SHARED / 'data', '--model', SHARED / 'models' / 'final_1.tflite',
                     '--config', SHARED / 'config.py', '--every', 4, '--out', tmp_path / 'r.html',
                     '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / 'r.json').read_text())
    model = found['models'][0]
    assert abs(sum(b['share'] for b in model['bands']) - 1) < 1e-3
    assert model['agreement']['steering_corr'] > 0.3  # the car's own pilot follows its driver
    lines = model['lines']
    assert abs(lines['surface_edge'] - 45) <= 3 and abs(lines['skyline'] - 16) <= 3
    assert lines['config_roi_crop_top'] == 45 and found['car_crop_applied'] is False
    edge = next(p for p in model['crop_curve'] if p['row'] == lines['surface_edge'])
    sky = next(p for p in model['crop_curve'] if p['row'] == lines['skyline'])
    assert edge['steering_change'] > 0.15 and edge['steering_change'] > 2 * sky['steering_change']
    why = model['advice']['why']
    assert model['advice']['roi_crop_top'] == lines['surface_edge']
    assert any('removes only the room' in line for line in why)  # the walls line
    assert any('does not crop' in line for line in why)  # the config's crop, not applied, said once
    assert model['mirror']['bias'] > 0.2 and model['advice']['flip_augmentation'] is True
    assert model['steering']['right_share'] > model['steering']['left_share'] + 0.2
    assert tree_digest(SHARED) == before


@pytest.mark.parametrize('transformations', [[], ['CROP']])
def test_the_car_config_crop_is_marked_and_taken_into_account(transformations, tmp_path):
    """ROI_CROP_TOP counts only when 'CROP' is among the car's transformations (donkeycar 5 masks rows then)."""
    car = tmp_path / 'car'
    car.mkdir()
    (car / 'config.py').write_text('IMAGE_W = 160\nIMAGE_H = 120\nIMAGE_DEPTH = 3\nROI_CROP_TOP = 20\n'
                                   'ROI_CROP_BOTTOM = 0\nROI_CROP_LEFT = 0\nROI_CROP_RIGHT = 0\n'
                                   f'TRANSFORMATIONS = {transformations!r}\n')
    result = run_main('report', '--tub', sample.TUB, '--model', sample.MODEL, '--config', car / 'config.py',
                     '--horizon', 100, '--end', 64, '--out', tmp_path / 'r.html', '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / 'r.json').read_text())
    assert found['car_roi_crop_top'] == 20 and found['car_crop_applied'] == bool(transformations)
    why = found['models'][0]['advice']['why']
    assert any('does not crop' in line for line in why) == (not transformations)
    assert found['models'][0]['advice']['roi_crop_top'] == 100  # cropping 20 rows is not cropping 100
    page = (tmp_path / 'r.html').read_text()
    assert ('ROI_CROP_TOP 20 (not applied)' in page) == (not transformations) and 'ROI_CROP_TOP 20' in page
