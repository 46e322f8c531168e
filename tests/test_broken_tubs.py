"""Broken tubs, as cars and disks break them: each corruption made on a copy of a real donkeycar tub and run
through the real command. Whatever can be read is rendered, the rest is counted by cause in the summary, a tub
with nothing readable is one line and exit 2, and no command ever writes into a tub or a model file."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import keras_pilot, read_video, run_cli, tree_digest
from donkey_saliency import sample, synthetic

pytest.importorskip('donkeycar')

RECORDS, CATALOG = 40, 10  # catalog_<n>.catalog holds records 10n .. 10n + 9


@pytest.fixture(scope='module')
def base(tmp_path_factory):
    """40 records of the synthetic road at 50 Hz, in four catalogs of ten, written by donkeycar's Tub."""
    path = tmp_path_factory.mktemp('broken') / 'base'
    return synthetic.write_tub(path, synthetic.drive(RECORDS, seed=7), hz=50.0, max_catalog_len=CATALOG)


@pytest.fixture
def copy(base, tmp_path):
    def make(corrupt):
        path = tmp_path / 'tub'
        shutil.copytree(base, path)
        corrupt(path)
        return path
    return make


def image(tub, index):
    return tub / 'images' / f'{index}_cam_image_array_.jpg'


def edit_records(tub, changes):
    """Rewrite catalog lines: `changes` maps a record index to a function that changes its record in place."""
    for index, change in changes.items():
        catalog = tub / f'catalog_{index // CATALOG}.catalog'
        lines = catalog.read_text().splitlines()
        record = json.loads(lines[index % CATALOG])
        change(record)
        lines[index % CATALOG] = json.dumps(record)  # NaN is written as NaN, as Python's json reads it back
        catalog.write_text('\n'.join(lines) + '\n')


def delete_records(tub, indexes):
    """Delete records as the user does, with donkeycar's own Tub (it marks them in the manifest's last line)."""
    from donkeycar.parts.tub_v2 import Tub
    writer = Tub(str(tub))
    writer.delete_records(indexes)
    writer.close()


def truncate_last_line(tub):
    catalog = tub / 'catalog_3.catalog'
    catalog.write_bytes(catalog.read_bytes()[:-40])  # record 39's line, cut mid-way as by a power loss


def empty_catalog(tub):
    (tub / 'catalog_1.catalog').write_bytes(b'')


def deleted_then_manifest_loses_last_line(tub):
    delete_records(tub, [5, 6])
    manifest = tub / 'manifest.json'
    manifest.write_text('\n'.join(manifest.read_text().splitlines()[:4]) + '\n')


def missing_middle_catalog(tub):
    os.remove(tub / 'catalog_2.catalog')  # its images stay: they are no records


def bad_images(tub):
    os.remove(image(tub, 3))
    image(tub, 7).write_bytes(b'')
    image(tub, 11).write_bytes(b'GIF89a not a jpeg')
    whole = image(tub, 13).read_bytes()
    image(tub, 13).write_bytes(whole[:len(whole) // 2])  # cut in the middle: OpenCV would draw a grey lower half


def images_of_another_size(tub):
    for index in (15, 16):
        small = cv2.resize(cv2.imread(str(image(tub, index))), (80, 60))
        cv2.imwrite(str(image(tub, index)), small)


def first_image_larger(tub):
    """Record 0's image resized by hand to 320x240 in a 160x120 tub: it, not the others, is of another size."""
    cv2.imwrite(str(image(tub, 0)), cv2.resize(cv2.imread(str(image(tub, 0))), (320, 240)))


def no_user_values(tub):
    edit_records(tub, {4: lambda r: r.update({'user/angle': float('nan')}),
                       8: lambda r: r.pop('user/throttle'),
                       12: lambda r: r.update({'user/angle': None})})


def deleted(tub):
    delete_records(tub, [2, 25])


def everything_but(*gone):
    return [i for i in range(RECORDS) if i not in gone]


# corruption, the records rendered, the summary's skipped line, its other lines that must be there
CASES = {
    'truncated last catalog line': (truncate_last_line, everything_but(39), '1 unreadable catalog lines', []),
    'empty catalog': (empty_catalog, everything_but(*range(10, 20)), '10 records missing from the catalogs',
                      ['warning: {tub}: catalog_1.catalog is empty']),
    'manifest missing its last line': (deleted_then_manifest_loses_last_line, everything_but(), 'none',
                                       ['warning: {tub}: manifest.json has lost its last line (the list of catalogs '
                                        'and of deleted records): catalogs are read by name, and deleted records '
                                        'may reappear']),
    'missing middle catalog': (missing_middle_catalog, everything_but(*range(20, 30)),
                               '10 records missing from the catalogs',
                               ['warning: {tub}: catalog_2.catalog is missing']),
    'missing, zero-byte, half and non-JPEG images': (bad_images, everything_but(3, 7, 11, 13),
                                                     '4 missing or unreadable images', []),
    'images of another size': (images_of_another_size, everything_but(15, 16), '2 images of another size', []),
    'first image of another size': (first_image_larger, everything_but(0), '1 images of another size', []),
    'NaN or missing angle/throttle': (no_user_values, everything_but(), 'none',
                                      ["3 records without a user angle/throttle: drawn without the user's line"]),
    'deleted records': (deleted, everything_but(2, 25), 'none', []),
}


@pytest.mark.parametrize('case', CASES)
def test_a_broken_tub_renders_what_can_be_read_and_counts_the_rest(copy, tmp_path, case):
    corrupt, rendered, skipped, lines = CASES[case]
    tub = copy(corrupt)
    before = tree_digest(tub)
    out, maps = tmp_path / 'v.mp4', tmp_path / 'm.npz'
    result = run_cli('--tub', tub, '--model', sample.MODEL, '--out', out, '--save-maps', maps)
    assert result.returncode == 0, result.stderr
    assert np.load(maps)['index'].tolist() == rendered
    assert len(read_video(out)[0]) == len(rendered)
    summary = result.stdout.splitlines()
    lines = [line.format(tub=tub) for line in lines]
    assert f'skipped records: {skipped}' in summary, result.stdout
    assert all(line in summary for line in lines), result.stdout
    warnings = [line for line in summary if line.startswith('warning:')]
    assert warnings == [line for line in lines if line.startswith('warning:')], result.stdout
    assert tree_digest(tub) == before


def test_a_memory_pilot_skips_records_without_user_values(copy, tmp_path):
    """Its input is the previous records' user angle and throttle: a record without them is skipped and counted,
    and the history runs on over the records that have them."""
    keras_pilot('memory').interpreter.model.save(tmp_path / 'memory.h5')
    tub = copy(no_user_values)
    before = tree_digest(tub)
    result = run_cli('--tub', tub, '--model', tmp_path / 'memory.h5', '--out', tmp_path / 'v.mp4',
                     '--save-maps', tmp_path / 'm.npz')
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / 'm.npz')['index'].tolist() == everything_but(4, 8, 12)
    assert 'skipped records: 3 records without a user angle/throttle' in result.stdout.splitlines()
    assert tree_digest(tub) == before


def remove_all_catalogs(tub):
    for catalog in tub.glob('catalog_*.catalog'):
        os.remove(catalog)


@pytest.mark.parametrize('command', [[], ['evaluate']])
@pytest.mark.parametrize('corrupt, phrase', [(remove_all_catalogs, '(40 records missing from the catalogs)'),
                                             (empty_catalog, None)])
def test_a_tub_with_nothing_readable_is_one_line_and_exit_2(copy, tmp_path, command, corrupt, phrase):
    """All catalogs gone: nothing readable. A fresh tub (no records; its one catalog empty, as donkeycar leaves
    it) is the same error; with one catalog of four emptied (the empty_catalog case above) there is something."""
    if corrupt is empty_catalog:
        tub = synthetic.write_tub(tmp_path / 'tub', [])
        phrase = '(they hold no records)'
    else:
        tub = copy(corrupt)
    before = tree_digest(tub)
    out = tmp_path / 'out'
    out.mkdir()
    target = ['--json', out / 'r.json'] if command else ['--out', out / 'v.mp4']
    result = run_cli(*command, '--tub', tub, '--model', sample.MODEL, *target)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and 'Traceback' not in result.stderr, result.stderr
    assert f'nothing readable in {tub} {phrase}' in lines[0]
    assert os.listdir(out) == [] and tree_digest(tub) == before


def several_faults(tub):
    missing_middle_catalog(tub)
    image(tub, 5).write_bytes(b'')
    cv2.imwrite(str(image(tub, 33)), np.zeros((60, 80, 3), np.uint8))


def test_evaluate_samples_what_can_be_read_and_counts_the_rest(copy, tmp_path):
    """30 readable records (catalog_2's ten are gone), all sampled: record 5's image is empty and record 33's of
    another size, so 28 frames are evaluated, and the skipped ones are counted by cause."""
    tub = copy(several_faults)
    before = tree_digest(tub)
    result = run_cli('evaluate', '--tub', tub, '--model', sample.MODEL, '--frames', 30, '--steps', 4,
                     '--no-randomisation', '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / 'r.json').read_text())
    assert found['frames'] == 28
    assert found['skipped'] == {'records missing from the catalogs': 10, 'missing or unreadable images': 1,
                                'images of another size': 1}
    assert found['warnings'] == [f'{tub}: catalog_2.catalog is missing']
    assert f'warning: {tub}: catalog_2.catalog is missing' in result.stdout.splitlines()
    assert tree_digest(tub) == before


@pytest.fixture
def inputs(copy, tmp_path):
    """A broken tub and a copy of the pilot file, and their hashes."""
    tub = copy(several_faults)
    (tmp_path / 'models').mkdir()
    model = tmp_path / 'models' / 'pilot.h5'
    shutil.copyfile(sample.MODEL, model)
    return tub, model, (tree_digest(tub), tree_digest(model.parent))


def untouched(tub, model, before):
    """Whether the tub and the pilot's folder (the pilot file, nothing added beside it) hash as before."""
    return (tree_digest(tub), tree_digest(model.parent)) == before


def test_no_command_writes_into_the_tub_or_the_model(inputs, tmp_path):
    tub, model, before = inputs
    runs = {'video': ['--tub', tub, '--model', model, '--out', tmp_path / 'v.mp4', '--normalize', 'run'],
            'evaluate': ['evaluate', '--tub', tub, '--model', model, '--frames', 8, '--steps', 4],
            'export': ['export', '--model', model, '--out', tmp_path / 'twin.tflite'],
            'report': ['report', '--tub', tub, '--model', model, '--out', tmp_path / 'r.html', '--evaluate']}
    for name, args in runs.items():
        result = run_cli(*args)
        assert result.returncode == 0, (name, result.stderr)
        assert untouched(tub, model, before), name


@pytest.mark.parametrize('command', ['video', 'evaluate', 'report'])
@pytest.mark.parametrize('sent, code', [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_writes_nothing_into_the_tub_or_the_model(inputs, tmp_path, command, sent, code):
    """Interrupted once frames are being processed: occlusion, one frame a call, keeps every command busy for
    seconds after its first frame. No output appears, whole or partial, nor any temporary file."""
    tub, model, before = inputs
    args = {'video': ['--out', tmp_path / 'v.mp4', '--batch-size', 1],
            'evaluate': ['evaluate', '--frames', 30, '--no-randomisation', '--json', tmp_path / 'e.json'],
            'report': ['report', '--out', tmp_path / 'r.html', '--json', tmp_path / 'r.json', '--batch-size', 1]}[command]
    process = subprocess.Popen([sys.executable, '-m', 'donkey_saliency', *map(str, args), '--tub', str(tub),
                                '--model', str(model), '--method', 'occlusion'], stderr=subprocess.PIPE, text=True)
    seen = ''
    while not re.search(r'\| *[1-9][0-9]*/[0-9]+', seen):  # the progress bar has counted a frame
        seen += process.stderr.read(1)
        assert process.poll() is None, seen
    process.send_signal(sent)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == code, seen + rest
    assert untouched(tub, model, before)
    written = [name for name in os.listdir(tmp_path) if name.lstrip('.').split('.')[0] in ('v', 'e', 'r')]
    assert written == [], written


@pytest.mark.parametrize('command, target', [
    ([], ['--out', '{tub}/images/v.mp4']),
    ([], ['--out', '{tmp}/v.mp4', '--save-maps', '{tub}/m.npz']),
    ([], ['--per-tub', '--out', '{tub}/videos']),
    (['evaluate'], ['--frames', '4', '--json', '{tub}/e.json']),
    (['report'], ['--out', '{tub}/r.html']),
])
def test_no_output_may_land_inside_a_tub(copy, tmp_path, command, target):
    tub = copy(lambda path: None)
    before = tree_digest(tub)
    args = [a.format(tub=tub, tmp=tmp_path) for a in target]
    result = run_cli(*command, '--tub', tub, '--model', sample.MODEL, *args)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and 'nothing is ever written into a tub' in lines[0], lines
    assert tree_digest(tub) == before and not os.path.exists(tmp_path / 'v.mp4')


def test_a_v1_meta_without_a_list_of_inputs_is_one_line(tmp_path):
    tub = tmp_path / 'v1'
    tub.mkdir()
    (tub / 'meta.json').write_text('{"inputs": null, "types": null}')
    result = run_cli('--tub', tub, '--model', sample.MODEL, '--out', tmp_path / 'v.mp4')
    assert result.returncode == 2 and 'meta.json is damaged' in result.stderr, result.stderr


def test_time_order_survives_damaged_manifests(tmp_path):
    """A created_at that is not a number, and a manifest cut to its first lines (a power loss while donkeycar
    rewrote it): the tubs still sort, by their first catalog line's time."""
    from donkey_saliency.tub.read import expand_tubs
    data = tmp_path / 'data'
    for name, seed in (('c_early', 1), ('a_late', 2), ('b_later', 3)):
        synthetic.write_tub(data / name, synthetic.drive(3, seed=seed), hz=50.0)
    manifest = data / 'c_early' / 'manifest.json'
    lines = manifest.read_text().splitlines()
    manifest.write_text('\n'.join(lines[:2]) + '\n')  # lost lines 3-5
    manifest = data / 'a_late' / 'manifest.json'
    lines = manifest.read_text().splitlines()
    lines[3] = json.dumps(dict(json.loads(lines[3]), created_at='2024-01-01'))
    manifest.write_text('\n'.join(lines) + '\n')
    assert [os.path.basename(t) for t in expand_tubs([str(data)])] == ['c_early', 'a_late', 'b_later']
    (data / 'a_late' / 'catalog_0.catalog').write_text('')  # now only the string created_at is left: no time
    assert [os.path.basename(t) for t in expand_tubs([str(data)])] == ['c_early', 'b_later', 'a_late']


@pytest.mark.parametrize('command', ['evaluate', 'report'])
def test_a_first_image_of_another_size_is_skipped_by_evaluate_and_report(copy, tmp_path, command):
    """The camera frame is the most common size over the range, not the first image's: record 0's image, larger,
    is skipped and counted, the other 39 are evaluated, or reported on (the report's horizon sample fixes the size
    for every pilot)."""
    tub = copy(first_image_larger)
    args = {'evaluate': ['--frames', RECORDS, '--steps', 4, '--no-randomisation'],
            'report': ['--out', tmp_path / 'r.html']}[command]
    result = run_cli(command, '--tub', tub, '--model', sample.MODEL, *args, '--json', tmp_path / 'r.json')
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / 'r.json').read_text())
    assert found['frames'] == RECORDS - 1
    assert found['skipped'] == {'images of another size': 1}


UNREADABLE = (3, 4, 13, 14, 15, 16, 39)  # catalog lines made unreadable; the readable records keep their order
READABLE = everything_but(*UNREADABLE)   # record READABLE[p] is at position p, as --start and --end count


def unreadable_lines(tub):
    for index in UNREADABLE:
        catalog = tub / f'catalog_{index // CATALOG}.catalog'
        lines = catalog.read_text().splitlines()
        lines[index % CATALOG] = '{"_index": 1' if index == 39 else 'not a record'  # 39: cut, as by a power loss
        catalog.write_text('\n'.join(lines) + '\n')


def unreadable_in(start, end):
    """The unreadable lines inside positions start..end-1: each lies before the readable record after it, at that
    record's position; those after the last readable record lie inside a range that runs to the end."""
    last = len(READABLE) if end == -1 else end
    positions = [sum(i < index for i in READABLE) for index in UNREADABLE]
    return sum(start <= p < last or p == last == len(READABLE) for p in positions)


@pytest.mark.parametrize('start, end', [(20, 25), (8, 14), (30, -1), (8, 11), (11, 14), (30, 33)])
def test_only_records_inside_the_range_are_counted(copy, tmp_path, start, end):
    """Lines 3-4 and 13-16 are unreadable, and 39 is cut: 20..25 holds none of them, 8..14 holds 13-16 (between
    records 12 and 17, at positions 10 and 11), and 30 to the end holds 39 alone; at the edges, 8..11 stops just
    before 13-16 and 11..14 starts with them, and 30..33 ends with the last readable record, so with the tub."""
    tub = copy(unreadable_lines)
    result = run_cli('--tub', tub, '--model', sample.MODEL, '--out', tmp_path / 'v.mp4', '--save-maps',
                     tmp_path / 'm.npz', '--start', start, '--end', end)
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / 'm.npz')['index'].tolist() == READABLE[start:None if end == -1 else end]
    counted = unreadable_in(start, end)
    assert counted == {(20, 25): 0, (8, 14): 4, (30, -1): 1, (8, 11): 0, (11, 14): 4, (30, 33): 1}[start, end]
    skipped = f'{counted} unreadable catalog lines' if counted else 'none'
    assert f'skipped records: {skipped}' in result.stdout.splitlines(), result.stdout


@pytest.mark.parametrize('start, end', [(20, 25), (8, 14), (30, -1)])
def test_evaluate_counts_only_records_inside_its_range(copy, tmp_path, start, end):
    """Its JSON's `skipped` as the video's summary: the lines 13-16 inside 8..14, none inside 20..25, the cut
    last line in a range that runs to the end."""
    tub = copy(unreadable_lines)
    frames = (len(READABLE) if end == -1 else end) - start
    result = run_cli('evaluate', '--tub', tub, '--model', sample.MODEL, '--frames', frames, '--steps', 4,
                     '--no-randomisation', '--json', tmp_path / 'r.json', '--start', start, '--end', end)
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / 'r.json').read_text())
    assert found['frames'] == frames
    counted = unreadable_in(start, end)
    assert found['skipped'] == ({'unreadable catalog lines': counted} if counted else {})
