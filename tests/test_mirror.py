"""`donkey saliency mirror`: tubs written with donkeycar's Tub, mirrored through the real command, read back with
donkeycar's Tub and compared record by record with their sources (cv2.flip, negation, an independent reading of
the source catalogs); v1 and broken sources, refusals, interrupts and a full disk."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from conftest import assert_disk_full, from_a_terminal, limited_file_size, tree_digest
from conftest import run_cli, tub_records
from donkey_saliency import synthetic

pytest.importorskip('donkeycar')

RECORDS = 30
IMU_KEYS = [f'imu/{kind}_{axis}' for kind in ('acl', 'gyr') for axis in 'xyz']


def imu_value(key):
    """A distinct value per key and frame, so that a swap of two keys shows as well as a sign."""
    base = 1 + IMU_KEYS.index(key)
    return lambda i: base + i / 100


EXTRA = {'pilot/angle': ('float', lambda i: 0.5 - i / 40), 'pilot/throttle': ('float', lambda i: 0.3),
         **{key: ('float', imu_value(key)) for key in IMU_KEYS}}
DELETED = [4, 17]


def mirror(*args, cwd=None):
    """`python -m donkey_saliency mirror --no-progress ARGS`, as a user runs it."""
    return run_cli('mirror', *args, cwd=cwd)


def image(tub, record, key='cam/image_array'):
    return cv2.imread(os.path.join(tub, 'images', record[key]))


def assert_mirror_image(mirrored, source):
    """One JPEG generation at quality 95 from the exact mirror: a fraction of a grey level on average, a few
    levels at the 99th percentile (measured: 0.7 and 7 at most on the sample tub), while the unflipped source is
    more than 15 levels away on average."""
    exact = cv2.flip(source, 1)
    error = np.abs(mirrored.astype(int) - exact)
    assert error.mean() < 1.5 and np.percentile(error, 99) <= 12, (error.mean(), np.percentile(error, 99))
    assert np.abs(mirrored.astype(int) - source).mean() > 5 * error.mean()  # a mirror, not a copy


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """A tub with the pilot's values and an IMU, two records deleted with donkeycar's Tub."""
    from donkeycar.parts.tub_v2 import Tub
    tub = synthetic.write_tub(tmp_path_factory.mktemp('source') / 'tub_1', synthetic.drive(RECORDS, seed=4),
                              hz=50.0, extra=EXTRA)
    writer = Tub(str(tub))
    writer.delete_records(DELETED)
    writer.close()
    return tub


@pytest.fixture(scope='module')
def mirrored(source, tmp_path_factory):
    out = tmp_path_factory.mktemp('mirrored') / 'tub_1_mirror'
    before = tree_digest(source)
    result = mirror('--tub', source, '--out', out)
    assert result.returncode == 0, result.stderr
    assert tree_digest(source) == before
    return out, result


def test_each_record_is_its_source_mirrored_with_time_and_order_kept(source, mirrored):
    out, result = mirrored
    originals, copies = tub_records(source), tub_records(out)
    assert [r['_index'] for r in originals] == [i for i in range(RECORDS) if i not in DELETED]
    assert len(copies) == len(originals) == RECORDS - len(DELETED)
    assert [c['_index'] for c in copies] == list(range(len(copies)))  # a new tub: no deleted record left
    for original, copy in zip(originals, copies):
        assert copy['_timestamp_ms'] == original['_timestamp_ms']
        assert copy['user/angle'] == -original['user/angle'] and copy['pilot/angle'] == -original['pilot/angle']
        assert copy['user/throttle'] == original['user/throttle'] and copy['user/mode'] == original['user/mode']
        assert copy['pilot/throttle'] == original['pilot/throttle']
        assert_mirror_image(image(out, copy), image(source, original))
    assert f'wrote {out}: {len(copies)} records mirrored from 1 tub(s)' in result.stdout.splitlines()
    assert 'skipped records: none' in result.stdout.splitlines()


def test_the_imu_lateral_axes_flip(source, mirrored):
    """A flat chip, x forward (the default): the lateral acceleration (y) and the roll and yaw rates (gyro x, z)
    change sign; forward and vertical acceleration and the pitch rate do not."""
    out, _ = mirrored
    flipped = {'imu/acl_y', 'imu/gyr_x', 'imu/gyr_z'}
    for original, copy in zip(tub_records(source), tub_records(out)):
        for key in IMU_KEYS:
            assert copy[key] == (-original[key] if key in flipped else original[key]), key


def test_another_lateral_axis_flips_its_own(source, tmp_path):
    """A chip mounted with x across the car: acl_x, gyr_y and gyr_z flip."""
    result = mirror('--tub', source, '--out', tmp_path / 'm', '--imu-lateral', 'x')
    assert result.returncode == 0, result.stderr
    original, copy = tub_records(source)[3], tub_records(tmp_path / 'm')[3]
    assert [copy[k] == -original[k] for k in IMU_KEYS] == [True, False, False, False, True, True]


def test_the_mirror_of_the_mirror_is_the_source(source, mirrored, tmp_path):
    out, _ = mirrored
    result = mirror('--tub', out, '--out', tmp_path / 'back')
    assert result.returncode == 0, result.stderr
    for original, back in zip(tub_records(source), tub_records(tmp_path / 'back')):
        assert {k: v for k, v in back.items() if not k.startswith('_') and k != 'cam/image_array'} == \
            {k: v for k, v in original.items() if not k.startswith('_') and k != 'cam/image_array'}


def test_the_api_writes_the_same_tub(source, mirrored, tmp_path):
    import donkey_saliency as ds
    found = ds.mirror(source, tmp_path / 'm', progress=False)
    assert found['records'] == RECORDS - len(DELETED) and found['skipped'] == {}
    strip = (lambda records: [{k: v for k, v in r.items() if k != '_session_id'} for r in records])
    assert strip(tub_records(tmp_path / 'm')) == strip(tub_records(mirrored[0]))


def test_a_v1_tub_keeps_its_times(tmp_path):
    """donkeycar's legacy Tub: each record's time is meta.json's start plus its milliseconds."""
    from donkeycar.parts.datastore import Tub as LegacyTub
    v1 = LegacyTub(str(tmp_path / 'v1'), inputs=['cam/image_array', 'user/angle', 'user/throttle'],
                   types=['image_array', 'float', 'float'])
    scenes = list(synthetic.drive(5, seed=2))
    for scene in scenes:
        v1.put_record({'cam/image_array': scene.image, 'user/angle': scene.angle, 'user/throttle': scene.throttle})
    before = tree_digest(tmp_path / 'v1')
    result = mirror('--tub', tmp_path / 'v1', '--out', tmp_path / 'm')
    assert result.returncode == 0, result.stderr
    meta = json.loads((tmp_path / 'v1' / 'meta.json').read_text())
    copies = tub_records(tmp_path / 'm')
    assert len(copies) == 5
    for i, copy in enumerate(copies, 1):
        record = json.loads((tmp_path / 'v1' / f'record_{i}.json').read_text())
        assert copy['_timestamp_ms'] == round(meta['start'] * 1000 + record['milliseconds'])
        assert copy['user/angle'] == -record['user/angle']
        assert_mirror_image(image(tmp_path / 'm', copy), cv2.imread(str(tmp_path / 'v1' / record['cam/image_array'])))
    assert tree_digest(tmp_path / 'v1') == before


def test_several_tubs_follow_one_another(source, tmp_path):
    second = synthetic.write_tub(tmp_path / 'tub_2', synthetic.drive(6, seed=9), hz=50.0, extra=EXTRA)
    result = mirror('--tub', source, second, '--out', tmp_path / 'm')
    assert result.returncode == 0, result.stderr
    originals = tub_records(source) + tub_records(second)
    copies = tub_records(tmp_path / 'm')
    assert [c['_timestamp_ms'] for c in copies] == [o['_timestamp_ms'] for o in originals]
    assert [c['user/angle'] for c in copies] == [-o['user/angle'] for o in originals]


def test_a_broken_tub_gives_what_can_be_read_and_counts_the_rest(source, tmp_path):
    tub = shutil.copytree(source, tmp_path / 'tub')
    os.remove(tub / 'images' / '7_cam_image_array_.jpg')
    catalog = tub / 'catalog_0.catalog'
    lines = catalog.read_text().splitlines()
    lines[10] = re.sub(r'"user/throttle": [-0-9.e]+', '"user/throttle": NaN', lines[10])  # Python's json reads it
    lines[11] = re.sub(r'"user/angle": [-0-9.e]+', '"user/angle": NaN', lines[11])
    catalog.write_text('\n'.join(lines) + '\n')
    catalog.write_bytes(catalog.read_bytes()[:-40])  # the last record's line cut, as by a power loss
    before = tree_digest(tub)
    result = mirror('--tub', tub, '--out', tmp_path / 'm')
    assert result.returncode == 0, result.stderr
    kept = [i for i in range(RECORDS - 1) if i not in DELETED + [7]]
    copies = tub_records(tmp_path / 'm')
    assert [c['_timestamp_ms'] for c in copies] == [r['_timestamp_ms'] for r in tub_records(source)
                                                    if r['_index'] in kept]
    assert ('skipped records: 1 missing or unreadable images, 1 unreadable catalog lines'
            in result.stdout.splitlines()), result.stdout
    assert 'warning: 2 values that are not numbers, left out' in result.stdout.splitlines(), result.stdout
    by_index = {c['_index']: c for c in copies}
    assert 'user/throttle' not in by_index[kept.index(10)] and 'user/angle' not in by_index[kept.index(11)]
    assert tree_digest(tub) == before


BEHAVIOURS = {'behavior/state': ('int', lambda i: i % 3),
              'behavior/label': ('str', lambda i: ['Left_Lane', 'Center_Lane', 'Right_Lane'][i % 3]),
              'behavior/one_hot_state_array': ('vector', lambda i: [float(i % 3 == j) for j in range(3)])}


@pytest.fixture(scope='module')
def behaviour_tub(tmp_path_factory):
    return synthetic.write_tub(tmp_path_factory.mktemp('behaviour') / 'tub', synthetic.drive(6, seed=3), hz=50.0,
                               extra=BEHAVIOURS)


def test_behaviour_lanes_swap_by_the_cars_list(behaviour_tub, tmp_path):
    """BEHAVIOR_LIST in an order of its own: Right_Lane first. Left and right swap, the centre stays."""
    (tmp_path / 'config.py').write_text("BEHAVIOR_LIST = ['Left_Lane', 'Center_Lane', 'Right_Lane']\n")
    result = mirror('--tub', behaviour_tub, '--out', tmp_path / 'm', '--config', tmp_path / 'config.py')
    assert result.returncode == 0, result.stderr
    for original, copy in zip(tub_records(behaviour_tub), tub_records(tmp_path / 'm')):
        expected = {'Left_Lane': 'Right_Lane', 'Right_Lane': 'Left_Lane', 'Center_Lane': 'Center_Lane'}
        assert copy['behavior/label'] == expected[original['behavior/label']]
        assert copy['behavior/state'] == [0, 1, 2][2 - original['behavior/state']]
        assert copy['behavior/one_hot_state_array'] == original['behavior/one_hot_state_array'][::-1]


@pytest.mark.parametrize('make, args, words', [
    ('behaviour', [], 'the records hold behavior/state, whose lanes a mirror swaps; pass --config'),
    ('behaviour', ['--config', '{tmp}/one_sided.py'], "BEHAVIOR_LIST holds 'Left_Lane' but not its mirror "
                                                     "'Right_Lane'"),
    ('localizer', [], 'localizer/location: its meaning under a left-right mirror is unknown (it may be lateral); '
                      'pass --drop localizer/location'),
    ('plain', ['--drop', 'nothing/here'], '--drop nothing/here: no tub records nothing/here'),
    ('plain', ['--out', '{tub}/images/m'], 'nothing is ever written into a tub'),
    ('plain', ['--out', '{tmp}'], 'exists and is not an empty folder; the mirror is a new tub'),
])
def test_refusals_are_one_line_and_write_nothing(behaviour_tub, source, tmp_path, make, args, words):
    if make == 'localizer':
        tub = synthetic.write_tub(tmp_path / 'tub', synthetic.drive(3), hz=50.0,
                                  extra={'localizer/location': ('int', lambda i: i)})
    else:
        tub = shutil.copytree(behaviour_tub if make == 'behaviour' else source, tmp_path / 'tub')
    (tmp_path / 'one_sided.py').write_text("BEHAVIOR_LIST = ['Left_Lane', 'Center_Lane']\n")
    args = [a.format(tmp=tmp_path, tub=tub) for a in args]
    before, listing = tree_digest(tub), sorted(os.listdir(tmp_path))
    result = mirror('--tub', tub, *(args if '--out' in args else args + ['--out', tmp_path / 'm']), cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and words in lines[0], result.stderr
    assert tree_digest(tub) == before and sorted(os.listdir(tmp_path)) == listing


def test_an_empty_folder_made_for_the_mirror_is_its_out(source, tmp_path):
    """`mkdir data/tub_1_mirror` first, then the mirror into it: the empty folder becomes the tub."""
    (tmp_path / 'm').mkdir()
    result = mirror('--tub', source, '--out', tmp_path / 'm')
    assert result.returncode == 0, result.stderr
    assert len(tub_records(tmp_path / 'm')) == len(tub_records(source)) and sorted(os.listdir(tmp_path)) == ['m']


def test_an_unknown_key_can_be_dropped_or_kept(tmp_path):
    tub = synthetic.write_tub(tmp_path / 'tub', synthetic.drive(3), hz=50.0,
                              extra={'localizer/location': ('int', lambda i: i + 5)})
    assert mirror('--tub', tub, '--out', tmp_path / 'dropped', '--drop', 'localizer/location').returncode == 0
    assert mirror('--tub', tub, '--out', tmp_path / 'kept', '--keep', 'localizer/location').returncode == 0
    assert all('localizer/location' not in r for r in tub_records(tmp_path / 'dropped'))
    assert [r['localizer/location'] for r in tub_records(tmp_path / 'kept')] == [5, 6, 7]


def test_plain_writer_writes_donkeycars_format(tmp_path, monkeypatch):
    """Where donkeycar is missing (Python 3.12) tub/write.py's TubWriter writes the mirror: byte for byte what
    donkeycar's Tub writes for the same records under the same clock, over several catalogs, each record keeping
    its own time and session (not the clock's, not the writer's)."""
    from donkey_saliency.offline.mirror import DonkeycarTub
    from donkey_saliency.tub.write import TubWriter
    monkeypatch.setattr(time, 'time', lambda: 1764590000.125)
    inputs, types = ['cam/image_array', 'user/angle', 'user/mode'], ['image_array', 'float', 'str']
    for name, kind in (('donkeycar', DonkeycarTub), ('plain', TubWriter)):
        writer = kind(str(tmp_path / name), inputs, types, max_catalog_len=3)
        for i in range(7):
            session = '21-06-01_3' if i < 4 else writer.session_name
            writer.write_contents({'_index': writer.index, '_session_id': session, '_timestamp_ms': 1000 + i,
                                   'cam/image_array': f'{i}_cam_image_array_.jpg', 'user/angle': i / 7,
                                   'user/mode': 'user'})
        writer.close()
    assert sorted(os.listdir(tmp_path / 'plain')) == ['catalog_0.catalog', 'catalog_0.catalog_manifest',
                                                      'catalog_1.catalog', 'catalog_1.catalog_manifest',
                                                      'catalog_2.catalog', 'catalog_2.catalog_manifest', 'images',
                                                      'manifest.json']
    assert tree_digest(tmp_path / 'plain') == tree_digest(tmp_path / 'donkeycar')
    records = tub_records(tmp_path / 'plain')
    assert [r['user/angle'] for r in records] == [i / 7 for i in range(7)]
    assert [r['_timestamp_ms'] for r in records] == [1000 + i for i in range(7)]
    assert [r['_session_id'] for r in records][3:5] == ['21-06-01_3', time.strftime('%y-%m-%d') + '_0']


@pytest.fixture(scope='module')
def long_source(tmp_path_factory):
    """Big frames, so that the mirror takes a few seconds: time to be interrupted."""
    return synthetic.write_tub(tmp_path_factory.mktemp('long') / 'tub', synthetic.drive(150, height=480, width=640),
                               hz=1000.0)


@pytest.mark.parametrize('sent, code, word', [(signal.SIGINT, 130, 'interrupted'),
                                              (signal.SIGTERM, 143, 'terminated'),
                                              (signal.SIGHUP, 129, 'hung up')])
def test_an_interrupt_leaves_no_half_tub(long_source, tmp_path, sent, code, word):
    """As every command (test_signals); sent to its whole process group, as a terminal's Ctrl-C or its closing
    does (the mirror starts no child of its own, so the command alone sees the same)."""
    out = tmp_path / 'out'
    out.mkdir()
    before = tree_digest(long_source)
    process = subprocess.Popen([sys.executable, '-m', 'donkey_saliency', 'mirror', '--tub', str(long_source),
                                '--out', str(out / 'm')], stderr=subprocess.PIPE, text=True, start_new_session=True,
                               preexec_fn=from_a_terminal)
    seen = ''
    while not re.search(r'\| *[1-9][0-9]*/150', seen):  # the progress bar has counted a record
        seen += process.stderr.read(1)
        assert process.poll() is None, seen
    os.killpg(process.pid, sent)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == code, seen + rest
    assert rest.count(f'{word}; no output written') == 1 and 'Traceback' not in rest, rest
    assert os.listdir(out) == [] and tree_digest(long_source) == before


def test_a_full_disk_leaves_no_half_tub(source, tmp_path):
    """A 3 kB file-size limit: the catalog's manifest (its line lengths) outgrows it within a few hundred
    records, and images at 95% quality are about 6 kB."""
    out = tmp_path / 'out'
    out.mkdir()
    result = subprocess.run([sys.executable, '-m', 'donkey_saliency', 'mirror', '--no-progress', '--tub',
                             str(source), '--out', str(out / 'm')], capture_output=True, text=True, timeout=600,
                            preexec_fn=limited_file_size(3_000))
    assert_disk_full(result, out, out / 'm')


def test_a_data_folder_with_one_damaged_tub_mirrors_the_others(source, tmp_path):
    """A car's data/ with a tub cut off by a power loss (a zero-byte manifest.json): skipped with a warning naming
    it, the other tub mirrored."""
    data = tmp_path / 'data'
    shutil.copytree(source, data / 'tub_1')
    damaged = synthetic.write_tub(data / 'tub_2', synthetic.drive(3), hz=50.0)
    (damaged / 'manifest.json').write_bytes(b'')
    result = mirror('--tub', data, '--out', tmp_path / 'm')
    assert result.returncode == 0, result.stderr
    assert len(tub_records(tmp_path / 'm')) == RECORDS - len(DELETED)
    assert any('tub_2' in line for line in (result.stdout + result.stderr).splitlines()), result
    import donkey_saliency as ds
    found = ds.mirror(data, tmp_path / 'again', progress=False)  # the API says it too, for scripts
    assert len(found['skipped_tubs']) == 1 and str(damaged) in found['skipped_tubs'][0], found
    only_damaged = tmp_path / 'only'
    shutil.copytree(damaged, only_damaged / 'tub_2')
    result = mirror('--tub', only_damaged, '--out', tmp_path / 'none')
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
