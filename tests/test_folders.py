"""A car's data folder, globs, one video per tub, parallel jobs, interruptions and a full disk, through the real
CLI on real tubs written with donkeycar's Tub (its twin without donkeycar)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import assert_disk_full, assert_maps_close, limited_file_size, read_video, run_cli, tree_digest
from donkey_saliency import sample, synthetic
from donkey_saliency.errors import UserError
from donkey_saliency.tub.read import expand_tubs

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

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
    folder = tmp_path_factory.mktemp('car') / 'data'
    folder.mkdir()
    for name, count, seed in WRITTEN:
        synthetic.write_tub(folder / name, synthetic.drive(count, seed=seed), hz=50.0)
        time.sleep(0.05)
    (folder / 'notes.txt').write_text('not a tub')
    (folder / 'models').mkdir()
    return folder


def test_folders_and_globs_expand_to_tubs_in_time_order(data, tmp_path):
    assert expand_tubs([str(data)]) == [str(data / name) for name in TIME_ORDER]
    assert expand_tubs([str(data / 'tub_[ab]')]) == [str(data / 'tub_a'), str(data / 'tub_b')]
    assert expand_tubs([str(data / 'tub_b'), str(data / 'tub_c')]) == [str(data / 'tub_b'), str(data / 'tub_c')]
    with pytest.raises(UserError, match='no tub matches'):
        expand_tubs([str(data / 'nothing_*')])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(UserError, match='holds no tub'):
        expand_tubs([str(tmp_path / 'empty')])


def test_a_v1_tub_sorts_by_its_recording_time(data):
    """A v1 tub (record milliseconds) recorded after the v2 tubs sorts after them, though its name sorts first."""
    pytest.importorskip('donkeycar', reason="a v1 tub is written by donkeycar 5.3's legacy Tub (not on Python 3.12)")
    from donkeycar.parts.datastore import Tub as LegacyTub
    v1 = LegacyTub(str(data.parent / 'v1' / 'tub_0'), inputs=['cam/image_array'], types=['image_array'])
    v1.put_record({'cam/image_array': next(synthetic.drive(1)).image})
    os.symlink(data / 'tub_a', data.parent / 'v1' / 'tub_z')
    assert expand_tubs([str(data.parent / 'v1')]) == [str(data.parent / 'v1' / n) for n in ('tub_z', 'tub_0')]


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
    from donkey_saliency.draw import MapView, compose, label_height
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


def per_tub(data, out, *flags):
    """A --per-tub run over the data folder, its wall time printed for the report (pytest -s shows it)."""
    started = time.time()
    result = run_cli('--tub', data, '--model', sample.MODEL, '--per-tub', '--out', out, *flags)
    assert result.returncode == 0, result.stderr
    print(f'--per-tub {" ".join(map(str, flags))}: {time.time() - started:.1f} s')
    return result


@pytest.fixture(scope='module')
def per_tub_runs(data, tmp_path_factory):
    """The data folder's tubs one video each, with their maps, in a folder that did not exist: one job, then two
    worker processes."""
    base = tmp_path_factory.mktemp('per_tub')
    before = tree_digest(data)
    one = per_tub(data, base / 'one' / 'videos', '--save-maps')
    two = per_tub(data, base / 'two', '--save-maps', '--jobs', 2)
    assert tree_digest(data) == before
    return {1: (base / 'one' / 'videos', one), 2: (base / 'two', two)}


@pytest.mark.parametrize('jobs', [1, 2])
def test_per_tub_writes_one_video_and_maps_file_per_tub(per_tub_runs, jobs):
    folder, result = per_tub_runs[jobs]
    assert sorted(os.listdir(folder)) == sorted(f'{name}.{kind}' for name in SIZES for kind in ('mp4', 'npz'))
    for name, count in SIZES.items():
        frames, _ = read_video(folder / f'{name}.mp4')
        assert len(frames) == count
        saved = np.load(folder / f'{name}.npz')
        assert saved['index'].tolist() == list(range(count)) and set(saved['tub'].tolist()) == {name}
        band = frames[3, :label_band(None, 3).shape[0]].astype(int)
        error = {tub: np.abs(band - label_band(tub, 3)).mean() for tub in TIME_ORDER + [None]}
        assert min(error, key=error.get) is None, error  # one tub a video: the label says camera, as before
        assert f'{folder / name}.mp4: {count} frames' in result.stdout
    assert f'wrote 3 videos, {sum(SIZES.values())} frames' in result.stdout


def test_two_jobs_make_the_same_videos_and_maps_as_one(per_tub_runs):
    (one, _), (two, _) = per_tub_runs[1], per_tub_runs[2]
    for name in SIZES:
        a, b = np.load(one / f'{name}.npz'), np.load(two / f'{name}.npz')
        assert a['index'].tolist() == b['index'].tolist()
        np.testing.assert_allclose(a['angle'], b['angle'], atol=1e-5)
        # two jobs share the cores otherwise than one, and TensorFlow may then sum in another order, so float32
        # rounding is allowed, on each frame's own scale
        assert_maps_close(b['raw'], a['raw'], atol=1e-5)
        assert len(read_video(one / f'{name}.mp4')[0]) == len(read_video(two / f'{name}.mp4')[0])


def test_per_tub_gifs(data, tmp_path):
    import imageio.v3 as iio
    per_tub(data, tmp_path / 'gifs', '--format', 'gif', '--end', 6, '--scale', 1, '--jobs', 2)
    assert sorted(os.listdir(tmp_path / 'gifs')) == sorted(f'{name}.gif' for name in SIZES)
    for name in SIZES:
        assert len(iio.imread(tmp_path / 'gifs' / f'{name}.gif', index=None)) == 6


@pytest.mark.parametrize('flags, phrase', [
    (['--jobs', 2], 'add --per-tub'),
    (['--per-tub', '--jobs', 0], '--jobs must be'),
    (['--per-tub', '--save-maps', 'm.npz'], 'without a file name'),
    (['--per-tub', '--out', 'x.mp4'], 'names a folder'),
    (['--per-tub', '--tub', 'data/tub_a'], 'several tubs are called tub_a'),
    (['--format', 'gif', '--out', 'v.mp4'], 'disagree'),
])
def test_per_tub_mistakes_are_one_line(data, tmp_path, flags, phrase):
    os.symlink(data, tmp_path / 'data')
    (tmp_path / 'out').mkdir()
    if '--out' not in flags:
        flags = flags + ['--out', 'out']
    result = subprocess.run([sys.executable, '-m', 'donkey_saliency', '--no-progress', '--tub', 'data/tub_a',
                             '--model', sample.MODEL, *map(str, flags)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and phrase in lines[0], result.stderr
    assert os.listdir(tmp_path / 'out') == [] and sorted(os.listdir(tmp_path)) == ['data', 'out']


def processes_with(marker):
    """Pids of live processes whose environment holds `marker` (workers and encoders inherit it)."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/environ', 'rb') as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.parametrize('sent, code, word, wait, group', [
    (signal.SIGINT, 130, 'interrupted', r'\| *[1-9][0-9]*/414', False),  # as soon as frames are being written
    (signal.SIGINT, 130, 'interrupted', r'\| *[1-9][0-9]*/414', True),  # Ctrl-C in a terminal: to every process
    (signal.SIGTERM, 143, 'terminated', r'1/2 tubs', False),  # once the short tub's video is finished
])
def test_an_interrupted_jobs_run_stops_its_workers_and_leaves_nothing_partial(data, tmp_path, sent, code, word,
                                                                               wait, group):
    """Two workers: the 400-record sample tub with occlusion one frame a call (over a minute) and a 14-record
    tub. The signal goes to the command alone, as `kill` sends it (the command must stop its workers), or to
    its whole process group, as a terminal's Ctrl-C. The short tub's video may have finished by then, and then
    it stays, whole; nothing else remains."""
    marker = f'DONKEY_SALIENCY_TEST_{os.getpid()}_{code}_{group}'
    out = tmp_path / 'videos'
    process = subprocess.Popen([sys.executable, '-m', 'donkey_saliency', '--tub', sample.TUB, '--tub', data / 'tub_a',
                                '--model', sample.MODEL, '--per-tub', '--jobs', '2', '--method', 'occlusion',
                                '--batch-size', '1', '--save-maps', '--out', str(out)],
                               stderr=subprocess.PIPE, text=True, env={**os.environ, marker: '1'},
                               start_new_session=group)
    seen = ''
    while not re.search(wait, seen):
        seen += process.stderr.read(1)
        assert process.poll() is None, seen
    assert len(processes_with(marker)) >= 3  # the command and its two workers (and their encoders)
    if group:
        os.killpg(process.pid, sent)
    else:
        process.send_signal(sent)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == code, seen + rest
    lines = [line for line in re.split(r'[\r\n]+', rest) if line.strip() and not line.startswith('saliency:')]
    assert len(lines) == 1 and lines[0].startswith(f'donkey-saliency: {word}; ') and 'Traceback' not in rest, rest
    assert processes_with(marker) == []
    left = sorted(os.listdir(out)) if out.exists() else []
    assert left or sent == signal.SIGINT  # after '1/2 tubs' the short tub's files must be there
    if left:  # the short tub finished before the signal: whole, and said so
        assert left == ['tub_a.mp4', 'tub_a.npz'] and 'the 1 video finished before it is whole and kept' in lines[0]
        assert len(read_video(out / 'tub_a.mp4')[0]) == SIZES['tub_a']
        assert np.load(out / 'tub_a.npz')['index'].tolist() == list(range(SIZES['tub_a']))
    else:
        assert lines[0].endswith('no output written')


@pytest.mark.parametrize('limit, flags, written', [(20_000, [], 'v.mp4'), (600_000, ['--save-maps'], 'v.npz')])
def test_a_file_size_limit_is_exit_2_and_no_file(data, tmp_path, limit, flags, written):
    """20 kB stops the 36-frame video; 600 kB lets the video (about 90 kB) through and stops the maps (5.5 MB
    spilled before they are packed)."""
    out = tmp_path / 'out'
    out.mkdir()
    result = subprocess.run([sys.executable, '-m', 'donkey_saliency', '--no-progress', '--tub', str(data), '--model',
                             sample.MODEL, '--out', str(out / 'v.mp4'), *flags], capture_output=True,
                            text=True, timeout=600, preexec_fn=limited_file_size(limit))
    assert_disk_full(result, out, out / written)


def test_a_failure_packing_the_maps_keeps_no_video_either(data, tmp_path):
    """Both files are finished before either is moved into place: a file-size limit that the video and each
    spilled map fit under, and the packed .npz does not, stops the run with neither kept (the video used to be
    moved into place before the maps were packed)."""
    out = tmp_path / 'out'
    out.mkdir()
    command = [sys.executable, '-m', 'donkey_saliency', '--no-progress', '--tub', str(data), '--model', sample.MODEL,
               '--out', str(out / 'v.mp4'), '--save-maps']
    whole = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr
    spilled = np.load(out / 'v.npz')['maps'].nbytes  # each array spilled to a file of its own as it comes
    packed = (out / 'v.npz').stat().st_size  # the two arrays, maps and raw, in one file
    assert (out / 'v.mp4').stat().st_size < spilled < packed
    for name in os.listdir(out):
        os.remove(out / name)
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            preexec_fn=limited_file_size((spilled + packed) // 2))
    assert_disk_full(result, out, out / 'v.npz')


def test_a_file_size_limit_in_a_worker_is_exit_2_naming_the_tub(data, tmp_path):
    out = tmp_path / 'out'
    result = subprocess.run([sys.executable, '-m', 'donkey_saliency', '--no-progress', '--tub', str(data), '--model',
                             sample.MODEL, '--per-tub', '--jobs', '2', '--out', str(out)], capture_output=True,
                            text=True, timeout=600, preexec_fn=limited_file_size(5_000))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert re.search(r'error: \S*tub_[abc]: no space left on device writing \S*tub_[abc]\.mp4', lines[0]), lines
    assert not out.exists()  # made by the run, and left empty: removed


def test_a_file_size_limit_on_evaluate_json(data, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    result = subprocess.run([sys.executable, '-m', 'donkey_saliency', 'evaluate', '--no-progress', '--tub',
                             str(data / 'tub_c'), '--model', sample.MODEL, '--frames', '4', '--steps', '2',
                             '--no-randomisation', '--json', str(out / 'r.json')], capture_output=True, text=True,
                            timeout=600, preexec_fn=limited_file_size(300))
    assert_disk_full(result, out, out / 'r.json')


def mounted_tmpfs(folder, options):
    """A small tmpfs at `folder`, where this container lets root mount one (the file-size limit above always
    runs); skips otherwise."""
    folder.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs', str(folder)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f'cannot mount a tmpfs here: {mounted.stderr.decode().strip()}')
    return folder


@pytest.fixture
def small_disk(tmp_path):
    """A 48 kB file system."""
    yield mounted_tmpfs(tmp_path / 'small_disk', 'size=48k')
    subprocess.run(['umount', str(tmp_path / 'small_disk')], check=True)


@pytest.fixture
def no_inode_left(tmp_path):
    """A file system where not even an empty file can be made: the full disk meets the output's creation."""
    yield mounted_tmpfs(tmp_path / 'full', 'size=64k,nr_inodes=1')
    subprocess.run(['umount', str(tmp_path / 'full')], check=True)


@pytest.mark.parametrize('command, target, written', [
    ([], ['--out', '{full}/v.mp4'], 'v.mp4'),
    ([], ['--per-tub', '--out', '{full}/videos'], 'videos'),
    (['evaluate'], ['--frames', '2', '--steps', '2', '--no-randomisation', '--json', '{full}/e.json'], 'e.json'),
    (['report'], ['--end', '4', '--out', '{full}/r.html'], 'r.html'),
])
def test_a_disk_full_before_the_first_byte_is_exit_2(data, no_inode_left, command, target, written):
    result = run_cli(*command, '--tub', data / 'tub_c', '--model', sample.MODEL,
                     *[a.format(full=no_inode_left) for a in target])
    assert_disk_full(result, no_inode_left, no_inode_left / written)


@pytest.mark.parametrize('suffix', ['mp4', 'gif'])
def test_a_full_disk_is_exit_2_and_no_file(data, small_disk, suffix):
    """ffmpeg meets ENOSPC (the 36-frame video takes about 90 kB) and says so in its log."""
    result = run_cli('--tub', data, '--model', sample.MODEL, '--out', small_disk / f'v.{suffix}')
    assert_disk_full(result, small_disk, small_disk / f'v.{suffix}')


def test_a_worker_that_runs_out_of_tubs_ends_while_the_other_works(data, tmp_path):
    """The short tub's worker is told there is nothing left and ends long before the sample tub's worker is
    done (gradients: a few seconds for 400 records); its closing pipe is no failure."""
    result = run_cli('--tub', sample.TUB, '--tub', data / 'tub_c', '--model', sample.MODEL, '--per-tub', '--jobs', 2,
                     '--method', 'gradients', '--out', tmp_path / 'videos')
    assert result.returncode == 0, result.stderr
    assert len(read_video(tmp_path / 'videos' / 'tub.mp4')[0]) == 400
    assert len(read_video(tmp_path / 'videos' / 'tub_c.mp4')[0]) == SIZES['tub_c']


@pytest.mark.parametrize('jobs', [1, 2])
def test_per_tub_goes_on_past_a_tub_without_a_video_and_says_what_is_wrong_with_each(data, tmp_path, jobs):
    """A car started and stopped without driving leaves an empty tub; a tub whose manifest lost its last line
    is rendered with its warning. The others' videos are made; the empty one is listed."""
    folder = tmp_path / 'data'
    shutil.copytree(data, folder)
    synthetic.write_tub(folder / 'tub_d', [])
    manifest = folder / 'tub_a' / 'manifest.json'
    manifest.write_text('\n'.join(manifest.read_text().splitlines()[:4]) + '\n')
    result = run_cli('--tub', folder, '--model', sample.MODEL, '--per-tub', '--out', tmp_path / 'out',
                     '--jobs', jobs)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path / 'out')) == sorted(f'{name}.mp4' for name in SIZES)
    lines = result.stdout.splitlines()
    assert any(line.startswith(f'{folder / "tub_d"}: no video: nothing readable') for line in lines), lines
    assert f'  warning: {folder / "tub_a"}: manifest.json has lost its last line' in '\n'.join(lines)
    assert lines[-1].startswith(f'wrote 3 videos, {sum(SIZES.values())} frames')


@pytest.mark.parametrize('jobs', [1, 2])
def test_per_tub_stops_at_a_pilot_that_does_not_load(data, tmp_path, jobs):
    """Only a tub with nothing to show is passed over; a broken pilot file would fail every tub alike."""
    broken = tmp_path / 'pilot.h5'
    broken.write_bytes(b'not a model')
    result = run_cli('--tub', data, '--model', broken, '--per-tub', '--out', tmp_path / 'out', '--jobs', jobs)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert 'cannot load' in lines[0] and 'no tub gave a video' not in lines[0]
    assert not (tmp_path / 'out').exists()


def test_a_sigterm_python_swallows_in_a_callback_still_stops_a_worker_without_a_traceback():
    """A worker told to stop while it imports TensorFlow can meet SIGTERM inside a callback (importlib's module
    locks are weakrefs with one), where Python prints the exception and goes on: the user's terminal got a
    six-line traceback after the one line, and the worker ran on until killed. The signal is sent again and the
    worker stops, printing nothing. A real SIGTERM, landing in a real weakref callback."""
    script = '\n'.join([
        'import os, signal, time, weakref',
        'from donkey_saliency.errors import Terminated',
        'from donkey_saliency.offline.batch import stop_on_sigterm',
        'stop_on_sigterm()',
        'class Thing: pass',
        'def callback(ref):',
        '    os.kill(os.getpid(), signal.SIGTERM)',
        '    sum(range(100000))  # Python code: the handler runs here, inside the callback',
        'thing = Thing()',
        'ref = weakref.ref(thing, callback)',
        'try:',
        '    del thing',
        '    for _ in range(100):',
        '        time.sleep(0.05)',
        "    print('went on')",
        'except Terminated:',
        "    print('stopped')",
    ])
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
    assert (result.stdout, result.stderr) == ('stopped\n', ''), result.stdout + result.stderr
