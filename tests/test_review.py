"""`report --review-out` and `--delete`: the records to review handed back to donkeycar. Known answers on tubs
written with donkeycar's Tub whose takeovers and unreadable images are laid out by hand; the filter file loaded
as donkeycar loads myconfig.py and applied by donkeycar's own TubDataset; the soft delete read back by donkeycar's
Tub."""
import io
import json
import os
import shutil

import pytest

from conftest import HAS_DONKEYCAR, run_cli, run_main, tree_digest, tub_records
from donkey_saliency import sample, synthetic

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini); donkeycar's parts where it is

# tub_a: pilot 10-19 -> takeover at 20; pilot 25-30 -> takeover at 31; pilot from 40 to the end (no takeover)
MODES_A = ['user'] * 10 + ['local'] * 10 + ['user'] * 5 + ['local_angle'] * 6 + ['user'] * 9 + ['local'] * 10
# tub_b: pilot 5-14 -> takeover at 15
MODES_B = ['user'] * 5 + ['local'] * 10 + ['user'] * 15
BAD_IMAGES = {'tub_a': [5, 6, 44], 'tub_b': [29]}
BY_HAND = {'tub_a': set(range(10, 21)) | set(range(25, 32)) | {5, 6, 44},  # at 50 Hz every takeover's 3 s
           'tub_b': set(range(5, 16)) | {29}}                              # look back holds its whole pilot stretch


@pytest.fixture(scope='module')
def car(tmp_path_factory):
    """A car folder: data/tub_a and data/tub_b (two recordings, two manifests) with images removed, and the
    report run from there on them by relative paths, with --review-out; its JSON and stdout."""
    folder = tmp_path_factory.mktemp('car')
    for name, modes, seed in (('tub_a', MODES_A, 3), ('tub_b', MODES_B, 4)):
        synthetic.write_tub(folder / 'data' / name, synthetic.drive(len(modes), seed=seed), hz=50,
                            mode=lambda i, modes=modes: modes[i])
        for index in BAD_IMAGES[name]:
            os.remove(folder / 'data' / name / 'images' / f'{index}_cam_image_array_.jpg')
    result = run_main('report', '--tub', 'data/tub_a', 'data/tub_b', '--model', sample.MODEL, '--out', 'r.html',
                      '--json', 'r.json', '--review-out', 'review.py', cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder, json.loads((folder / 'r.json').read_text()), result.stdout


def listed(found):
    """{tub: the records the report lists to review}: by hand, and the disagreements the report found."""
    expected = {tub: set(indexes) for tub, indexes in BY_HAND.items()}
    for model in found['models']:
        for moment in model['disagreements']:
            expected[moment['tub']].add(moment['index'])
    return expected


def test_the_moments_are_the_takeovers_unreadable_images_and_disagreements(car):
    folder, found, stdout = car
    review = found['review']
    takeovers = [(m['tub'], m['first'], m['last']) for m in review if m['kind'] == 'takeover']
    assert takeovers == [('tub_a', 10, 20), ('tub_a', 25, 31), ('tub_b', 5, 15)]
    assert [(m['tub'], m['first'], m['last']) for m in review if m['kind'] == 'unreadable image'] == [
        ('tub_a', 5, 6), ('tub_a', 44, 44), ('tub_b', 29, 29)]
    disagreements = {(m['tub'], m['first']) for m in review if m['kind'] == 'disagreement'}
    assert disagreements == {(d['tub'], d['index']) for d in found['models'][0]['disagreements']} != set()
    count = sum(len(records) for records in listed(found).values())
    assert f'records to review: {count} in 2 tub(s), at {len(review)} moment(s)' in stdout
    text = (folder / 'review.py').read_text()
    assert '#   records 10-20: takeover' in text and '#   record 44: unreadable image' in text


def trained_on(car_folder, tubs, myconfig):
    """{tub folder name: the _index of every record donkeycar's training would use}: the car's config.py
    (donkeycar's template) with `myconfig` as its myconfig.py, loaded by donkeycar's load_config, and its
    TubDataset over `tubs` (as `donkey train --tub` passes them, from the car folder)."""
    import donkeycar
    from donkeycar.pipeline.types import TubDataset
    shutil.copy(os.path.join(os.path.dirname(donkeycar.__file__), 'templates', 'cfg_complete.py'),
                car_folder / 'config.py')
    (car_folder / 'myconfig.py').write_text(myconfig)
    here = os.getcwd()
    os.chdir(car_folder)
    try:
        cfg = donkeycar.load_config(str(car_folder / 'config.py'))
        dataset = TubDataset(config=cfg, tub_paths=[os.path.expanduser(tub) for tub in tubs])
        kept = {}
        for record in dataset.get_records():
            kept.setdefault(os.path.basename(os.path.normpath(record.base_path)), set()).add(
                record.underlying['_index'])
        dataset.close()
    finally:
        os.chdir(here)
    return kept


def everything(tub_folders):
    return {os.path.basename(tub): {r['_index'] for r in tub_records(tub)} for tub in tub_folders}


@pytest.mark.skipif(not HAS_DONKEYCAR, reason="donkeycar's own training pipeline reads the filter")
@pytest.mark.parametrize('tubs', [['data/tub_a', 'data/tub_b'], ['./data/tub_b/', 'data/../data/tub_a']])
def test_donkeycars_training_leaves_out_exactly_the_listed_records(car, tubs):
    """The file as myconfig.py: donkeycar's TubDataset keeps every record but the listed ones, whatever the form
    of the tub paths; the tubs are untouched."""
    folder, found, _ = car
    before = tree_digest(folder / 'data')
    kept = trained_on(folder, tubs, (folder / 'review.py').read_text())
    every = everything([folder / 'data' / 'tub_a', folder / 'data' / 'tub_b'])
    assert kept == {tub: every[tub] - left_out for tub, left_out in listed(found).items()}
    assert all(kept[tub] and left_out <= every[tub] for tub, left_out in listed(found).items())
    assert tree_digest(folder / 'data') == before


@pytest.mark.skipif(not HAS_DONKEYCAR, reason="donkeycar's own training pipeline reads the filter")
def test_the_filter_follows_a_moved_tub_and_keeps_a_filter_set_before_it(car, tmp_path):
    """A tub moved (another car folder, a home-relative path): its manifest still names it. A TRAIN_FILTER set
    earlier in myconfig.py still applies."""
    folder, found, _ = car
    moved = tmp_path / 'laptop'
    shutil.copytree(folder / 'data', moved / 'data')
    earlier = "TRAIN_FILTER = lambda record: record.underlying['user/mode'] == 'user'\n"
    kept = trained_on(moved, ['data/tub_a', str(moved / 'data' / 'tub_b')],
                      earlier + (folder / 'review.py').read_text())
    users = {'tub_a': {i for i, mode in enumerate(MODES_A) if mode == 'user'},
             'tub_b': {i for i, mode in enumerate(MODES_B) if mode == 'user'}}
    every = everything([moved / 'data' / 'tub_a', moved / 'data' / 'tub_b'])
    assert kept == {tub: (every[tub] & users[tub]) - left_out for tub, left_out in listed(found).items()}


@pytest.mark.skipif(not HAS_DONKEYCAR, reason="donkeycar's own training pipeline reads the filter")
def test_a_new_recording_at_a_listed_path_keeps_every_record(tmp_path):
    """donkeycar 5 records into data/ itself: a tub recorded anew where a listed one was is another tub."""
    from donkey_saliency.offline.report.review import filter_file
    tub = synthetic.write_tub(tmp_path / 'data', synthetic.drive(8, seed=1), hz=50)
    text = filter_file([{'tub': 'data', 'first': 2, 'last': 4, 'kind': 'takeover', 'note': 'by hand'}], [str(tub)],
                       'r.html')
    assert trained_on(tmp_path, ['data'], text) == {'data': {0, 1, 5, 6, 7}}
    shutil.rmtree(tub)
    synthetic.write_tub(tmp_path / 'data', synthetic.drive(8, seed=2), hz=50)
    assert trained_on(tmp_path, ['data'], text) == {'data': set(range(8))}


def test_copies_of_one_tub_are_told_apart_by_their_paths(tmp_path):
    """Two copies share a manifest (created_at): the filter tells them apart by their real paths."""
    from donkey_saliency.offline.report.train_filter import review_filter, tub_created_at
    first = synthetic.write_tub(tmp_path / 'car_a' / 'data', synthetic.drive(6, seed=1), hz=50)
    second = shutil.copytree(first, tmp_path / 'car_b' / 'data')
    created = tub_created_at(first)
    assert created is not None and created == tub_created_at(second)
    keep = review_filter([(str(first), created, [(1, 2)]), (str(second), created, [(4, 4)])])

    class Record:  # donkeycar's TubRecord as the filter reads it: base_path and underlying
        def __init__(self, base_path, index):
            self.base_path, self.underlying = base_path, {'_index': index}

    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert [keep(Record('car_a/data', i)) for i in range(6)] == [True, False, False, True, True, True]
        assert [keep(Record('car_b/data/', i)) for i in range(6)] == [True, True, True, True, False, True]
    finally:
        os.chdir(here)


def deleted_indexes(tub):
    return json.loads((tub / 'manifest.json').read_text().splitlines()[4])['deleted_indexes']


def test_delete_without_confirmation_changes_nothing(car, tmp_path, monkeypatch):
    folder, _, _ = car
    data = shutil.copytree(folder / 'data', tmp_path / 'data')
    before = tree_digest(data)
    monkeypatch.setattr('sys.stdin', io.StringIO('no\n'))
    result = run_main('report', '--tub', data / 'tub_b', '--model', sample.MODEL, '--out', tmp_path / 'r.html',
                      '--delete')
    assert result.returncode == 0, result.stderr
    assert 'close `donkey ui` on these tubs first' in result.stderr and 'type yes to delete them' in result.stderr
    assert '--delete: not confirmed, nothing deleted' in result.stdout
    assert tree_digest(data) == before


def test_delete_confirmed_marks_exactly_the_listed_records_and_the_tub_then_skips_them(car, tmp_path, monkeypatch):
    """Confirmed on stdin: the listed records of each tub join its manifest's deleted_indexes (as donkeycar's
    tub screen marks them), and donkeycar's Tub (or the reader of the catalogs) no longer gives them."""
    folder, _, _ = car
    data = shutil.copytree(folder / 'data', tmp_path / 'data')
    every = everything([data / 'tub_a', data / 'tub_b'])
    monkeypatch.setattr('sys.stdin', io.StringIO('yes\n'))
    result = run_main('report', '--tub', data, '--model', sample.MODEL, '--out', tmp_path / 'r.html',
                      '--json', tmp_path / 'r.json', '--delete')
    assert result.returncode == 0, result.stderr
    found = json.loads((tmp_path / 'r.json').read_text())
    for tub, left_out in listed(found).items():
        assert deleted_indexes(data / tub) == sorted(left_out)
        assert {r['_index'] for r in tub_records(data / tub)} == every[tub] - left_out
    assert 'deleted ' in result.stdout and 'restorable in donkey ui' in result.stdout


@pytest.mark.skipif(not HAS_DONKEYCAR, reason='compares with donkeycar 5.3 itself')
def test_without_donkeycar_the_manifest_is_written_as_donkeycar_writes_it(car, tmp_path, monkeypatch):
    """The soft delete through donkeycar's Tub.delete_records and through this package's twin (as on the Python
    3.12 stack, where donkeycar is absent) leave the same bytes in the tub, on a tub with deletions already."""
    from donkey_saliency.tub import delete as soft_delete
    folder, _, _ = car
    theirs, ours = (shutil.copytree(folder / 'data' / 'tub_a', tmp_path / name) for name in ('theirs', 'ours'))
    for tub in (theirs, ours):
        (tub / 'manifest.json').write_text((tub / 'manifest.json').read_text().replace(
            '"deleted_indexes": []', '"deleted_indexes": [3, 47]'))
    soft_delete.delete({str(theirs): [12, 11, 3, 30]})
    monkeypatch.setattr('donkey_saliency.quiet.donkeycar_or_none', lambda: None)
    soft_delete.delete({str(ours): [12, 11, 3, 30]})
    assert deleted_indexes(ours) == [3, 11, 12, 30, 47]
    assert (ours / 'manifest.json').read_bytes() == (theirs / 'manifest.json').read_bytes()
    assert tree_digest(ours) == tree_digest(theirs)


def v1_tub(path):
    """A v1 tub of one record, written by hand in donkeycar's v1 layout."""
    os.makedirs(path)
    (path / 'meta.json').write_text(json.dumps({'inputs': ['cam/image_array', 'user/angle'],
                                                'types': ['image_array', 'float']}))
    (path / 'record_1.json').write_text(json.dumps({'cam/image_array': '1_cam-image_array_.jpg', 'user/angle': 0.0}))
    shutil.copy(os.path.join(sample.TUB, 'images', '0_cam_image_array_.jpg'), path / '1_cam-image_array_.jpg')
    return path


@pytest.mark.parametrize('args, words', [
    (['--review-out', 'r.txt'], 'cannot write r.txt: the file name must end in .py'),
    (['--yes'], '--yes answers --delete'),
    (['--delete', '--tub', 'v1'], 'is a v1 tub (donkeycar 5 trains on v2 tubs only); leave out --delete'),
])
def test_bad_input_is_one_line_and_changes_nothing(args, words, tmp_path):
    v1 = v1_tub(tmp_path / 'v1')
    before = tree_digest(tmp_path)
    result = run_cli('report', '--tub', sample.TUB, '--model', sample.MODEL, *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert tree_digest(tmp_path) == before and os.path.isdir(v1)
