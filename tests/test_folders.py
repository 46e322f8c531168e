"""A car's data folder, globs, one video per tub, parallel jobs, interruptions and a full disk, through the real
CLI on real tubs written with donkeycar's Tub."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import read_video, run_cli, tree_digest
from donkey_saliency import sample, synthetic
from donkey_saliency.errors import UserError
from donkey_saliency.offline.tubs import expand_tubs

# written in this order, so that time order (c, a, b) differs from name order (a, b, c); sizes tell them apart
WRITTEN = (('tub_c', 10, 11), ('tub_a', 14, 12), ('tub_b', 12, 13))
TIME_ORDER = [name for name, _, _ in WRITTEN]
SIZES = {name: count for name, count, _ in WRITTEN}


def command(*args):
    """The CLI as run_cli runs it, with --no-progress after a subcommand's name (evaluate)."""
    if args[:1] == ('evaluate',):
        return subprocess.run([sys.executable, '-m', 'donkey_saliency', *map(str, args), '--no-progress'],
                              capture_output=True, text=True, timeout=600)
    return run_cli(*args)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """A car's data/ folder: three tubs recorded one after the other, and things that are not tubs."""
    pytest.importorskip('donkeycar')
    folder = tmp_path_factory.mktemp('car') / 'data'
    folder.mkdir()
    for name, count, seed in WRITTEN:
        synthetic.write_tub(folder / name, synthetic.drive(count, seed=seed), hz=50.0)
        time.sleep(0.05)
    (folder / 'notes.txt').write_text('not a tub')
    (folder / 'models').mkdir()
    return folder


def test_folders_and_globs_expand_to_tubs_in_time_order(data, tmp_path):
    from donkeycar.parts.datastore import Tub as LegacyTub
    assert expand_tubs([str(data)]) == [str(data / name) for name in TIME_ORDER]
    assert expand_tubs([str(data / 'tub_[ab]')]) == [str(data / 'tub_a'), str(data / 'tub_b')]
    assert expand_tubs([str(data / 'tub_b'), str(data / 'tub_c')]) == [str(data / 'tub_b'), str(data / 'tub_c')]
    # a v1 tub (record milliseconds) recorded after the v2 tubs sorts after them, though its name sorts first
    v1 = LegacyTub(str(data.parent / 'v1' / 'tub_0'), inputs=['cam/image_array'], types=['image_array'])
    v1.put_record({'cam/image_array': next(synthetic.drive(1)).image})
    os.symlink(data / 'tub_a', data.parent / 'v1' / 'tub_z')
    assert expand_tubs([str(data.parent / 'v1')]) == [str(data.parent / 'v1' / n) for n in ('tub_z', 'tub_0')]
    with pytest.raises(UserError, match='no tub matches'):
        expand_tubs([str(data / 'nothing_*')])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(UserError, match='holds no tub'):
        expand_tubs([str(tmp_path / 'empty')])


@pytest.fixture(scope='module')
def folder_run(data, tmp_path_factory):
    """One video of the whole data folder, with its maps."""
    out = tmp_path_factory.mktemp('folder_run')
    before = tree_digest(data)
    result = run_cli('--tub', data, '--model', sample.MODEL, '--out', out / 'v.mp4', '--save-maps', out / 'm.npz')
    assert result.returncode == 0, result.stderr
    assert tree_digest(data) == before
    return out, result


def test_a_data_folder_makes_one_video_in_time_order(folder_run):
    out, result = folder_run
    frames, _ = read_video(out / 'v.mp4')
    assert len(frames) == sum(SIZES.values())
    saved = np.load(out / 'm.npz')
    assert saved['tub'].tolist() == [name for name in TIME_ORDER for _ in range(SIZES[name])]
    assert saved['index'].tolist() == [i for name in TIME_ORDER for i in range(SIZES[name])]
    assert f'wrote {sum(SIZES.values())} frames' in result.stdout


def label_band(tub, index, scale=2):
    """The label band above the picture as draw renders it for this record of this tub (vbp over the frame)."""
    from donkey_saliency.core.engine import requests_for
    from donkey_saliency.offline.draw import MapView, compose, label_height
    request = requests_for('vbp', 'angle', 'overlay', None)[0][0]
    frame = np.zeros((120, 160, 3), np.uint8)
    view = MapView(np.zeros((120, 160), np.float32), request.signed, request.title, request.ends)
    return compose(frame, [view], 0.5, scale, index, tub=tub)[:label_height(scale) - 2].astype(int)


def test_each_frame_names_its_tub_in_the_label_band(folder_run):
    out, _ = folder_run
    frames, _ = read_video(out / 'v.mp4')
    start = 0
    for name in TIME_ORDER:
        for index in (0, 5):
            band = frames[start + index, :label_band(name, index).shape[0]].astype(int)
            error = {tub: np.abs(band - label_band(tub, index)).mean() for tub in TIME_ORDER + [None]}
            assert min(error, key=error.get) == name, error  # closest to its own tub's label, not another's
        start += SIZES[name]


def test_evaluate_takes_a_data_folder_and_its_maps(data, folder_run, tmp_path):
    """Every readable record of every tub is sampled (--frames above their number), and the maps of a
    --save-maps run over the folder are matched to their records by tub and index."""
    out, _ = folder_run
    result = command('evaluate', '--tub', data, '--model', sample.MODEL, '--frames', 1000, '--steps', 4,
                     '--no-randomisation', '--maps', out / 'm.npz', '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / 'r.json').read_text())
    assert found['frames'] == sum(SIZES.values())
    scores = found['outputs']['angle']
    # the saved maps are vbp's on the same frames: the same scores as vbp computed now, to float noise
    assert scores['maps']['deletion_auc'] == pytest.approx(scores['vbp']['deletion_auc'], abs=0.02)
    assert scores['maps']['insertion_auc'] == pytest.approx(scores['vbp']['insertion_auc'], abs=0.02)


@pytest.mark.parametrize('sub, out', [([], ['--out', 'v.mp4']), (['evaluate'], ['--json', 'r.json'])])
@pytest.mark.parametrize('what, phrase', [('glob', 'no tub matches'), ('empty', 'holds no tub')])
def test_a_glob_matching_nothing_or_an_empty_folder_is_one_line(tmp_path, sub, out, what, phrase):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'out').mkdir()
    tub = str(tmp_path / 'tub_*') if what == 'glob' else tmp_path / 'empty'
    result = command(*sub, '--tub', tub, '--model', sample.MODEL, out[0], tmp_path / 'out' / out[1])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and phrase in lines[0] and 'Traceback' not in result.stderr
    assert os.listdir(tmp_path / 'out') == []
