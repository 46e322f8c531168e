"""One damaged tub in a car's data folder (or a glob): left out with a warning naming it and why, the others
rendered, evaluated and reported; an error only when no tub can be read, or when the damaged tub is named itself.
Real tubs written with donkeycar's Tub (its twin without donkeycar), damaged on a copy, through the real CLI."""
import json
import os
import shutil

import numpy as np
import pytest

from conftest import read_video, run_cli
from donkey_saliency import sample, synthetic

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

GOOD = (('tub_1', 10, 21), ('tub_3', 12, 23))  # name, records, seed


def zero_byte_manifest(tub):
    (tub / 'manifest.json').write_bytes(b'')


def truncated_first_manifest_line(tub):
    manifest = tub / 'manifest.json'
    manifest.write_bytes(manifest.read_bytes()[:20])  # cut inside the list of record keys, as by a power loss


def no_images_folder(tub):
    shutil.rmtree(tub / 'images')


DAMAGE = {zero_byte_manifest: 'manifest.json is damaged (its first line, the record keys, is unreadable)',
          truncated_first_manifest_line: 'manifest.json is damaged (its first line, the record keys, is unreadable)',
          no_images_folder: 'has no images/ folder; the tub is incomplete'}


@pytest.fixture(scope='module')
def tubs(tmp_path_factory):
    """Two good tubs and one more (tub_2), written by donkeycar's Tub or its twin, for each test's data/."""
    folder = tmp_path_factory.mktemp('written')
    for name, count, seed in GOOD + (('tub_2', 8, 22),):
        synthetic.write_tub(folder / name, synthetic.drive(count, seed=seed), hz=50.0)
    return folder


@pytest.fixture
def data(tubs, tmp_path):
    """data/ with tub_1, tub_3 and tub_2 damaged by `damage`; returns (data, the damaged tub)."""
    def make(damage, good=True):
        folder = tmp_path / 'data'
        for name in ('tub_1', 'tub_2', 'tub_3') if good else ('tub_2',):
            shutil.copytree(tubs / name, folder / name)
        damage(folder / 'tub_2')
        return folder, folder / 'tub_2'
    return make


def warnings(stderr):
    return [line for line in stderr.splitlines() if line.startswith('warning:')]


def assert_skipped(result, tub, damage):
    """Exit 0, and exactly one warning: the damaged tub's path and what is wrong with it."""
    assert result.returncode == 0, result.stderr
    lines = warnings(result.stderr)
    assert len(lines) == 1 and lines[0].startswith('warning: skipped a tub: ') and str(tub) in lines[0] \
        and DAMAGE[damage] in lines[0], result.stderr


@pytest.mark.parametrize('damage', list(DAMAGE))
def test_a_video_of_a_data_folder_skips_the_damaged_tub(data, tmp_path, damage):
    folder, broken = data(damage)
    result = run_cli('--tub', folder, '--model', sample.MODEL, '--out', tmp_path / 'v.mp4', '--save-maps')
    assert_skipped(result, broken, damage)
    frames, _ = read_video(tmp_path / 'v.mp4')
    assert len(frames) == sum(count for _, count, _ in GOOD)
    assert np.load(tmp_path / 'v.npz')['tub'].tolist() == ['tub_1'] * 10 + ['tub_3'] * 12


def test_a_glob_and_per_tub_skip_it_too(data, tmp_path):
    folder, broken = data(zero_byte_manifest)
    result = run_cli('--tub', f'{folder}/tub_*', '--model', sample.MODEL, '--per-tub', '--out', tmp_path / 'videos')
    assert_skipped(result, broken, zero_byte_manifest)
    assert sorted(os.listdir(tmp_path / 'videos')) == ['tub_1.mp4', 'tub_3.mp4']


def test_evaluate_and_report_skip_it(data, tmp_path):
    folder, broken = data(no_images_folder)
    result = run_cli('evaluate', '--tub', folder, '--model', sample.MODEL, '--frames', 6, '--steps', 4,
                     '--no-randomisation', '--json', tmp_path / 'e.json')
    assert_skipped(result, broken, no_images_folder)
    found = json.loads((tmp_path / 'e.json').read_text())
    assert found['frames'] == 6 and skipped_tubs_named(found, broken)
    result = run_cli('report', '--tub', folder, '--model', sample.MODEL, '--out', tmp_path / 'r.html',
                     '--json', tmp_path / 'r.json')
    assert_skipped(result, broken, no_images_folder)
    found = json.loads((tmp_path / 'r.json').read_text())
    assert found['frames'] == sum(count for _, count, _ in GOOD) and skipped_tubs_named(found, broken)
    assert f'warning: skipped a tub: {broken}' in (tmp_path / 'r.html').read_text()  # the page, read later, too


def skipped_tubs_named(found, tub):
    """The JSON's `skipped_tubs`: the one damaged tub, by path, and why."""
    return len(found['skipped_tubs']) == 1 and found['skipped_tubs'][0].startswith(str(tub)) \
        and DAMAGE[no_images_folder] in found['skipped_tubs'][0]


@pytest.mark.parametrize('command, out', [([], '--out'), (['evaluate'], '--json'), (['report'], '--out')])
def test_no_readable_tub_at_all_is_one_line_and_exit_2(data, tmp_path, command, out):
    folder, broken = data(zero_byte_manifest, good=False)
    shutil.copytree(broken, folder / 'tub_5')
    (folder / 'tub_4').mkdir()  # no tub at all: not listed
    result = run_cli(*command, '--tub', folder, '--model', sample.MODEL, out,
                     tmp_path / {'--out': 'o.mp4' if not command else 'r.html', '--json': 'e.json'}[out])
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].count('manifest.json is damaged') == 2 and 'no tub can be read' in lines[0], lines
    assert str(broken) in lines[0] and str(folder / 'tub_5') in lines[0] and 'tub_4' not in lines[0]
    assert sorted(os.listdir(tmp_path)) == ['data']


def test_a_damaged_tub_named_itself_is_still_its_one_line(data, tmp_path):
    folder, broken = data(truncated_first_manifest_line)
    result = run_cli('--tub', folder / 'tub_1', '--tub', broken, '--model', sample.MODEL, '--out', tmp_path / 'v.mp4')
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and str(broken) in lines[0], result.stderr
    assert DAMAGE[truncated_first_manifest_line] in lines[0] and not os.path.exists(tmp_path / 'v.mp4')
