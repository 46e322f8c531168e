"""The tub writer without donkeycar (tub/write.py): the files donkeycar's own Tub writes, byte for byte
under the same clock, which donkeycar's Tub and this tool's reader both read back."""
import os
import time

import numpy as np
import pytest

from donkey_saliency import synthetic
from donkey_saliency.tub.write import TubWriter
from conftest import tree_digest

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

INPUTS = ['cam/image_array', 'user/angle', 'user/throttle', 'user/mode', 'imu/acl_x', 'behavior/one_hot_state_array']
TYPES = ['image_array', 'float', 'float', 'str', 'float', 'list']


def records(count, seed):
    for i, scene in enumerate(synthetic.drive(count, seed=seed)):
        yield {'cam/image_array': scene.image, 'user/angle': np.float32(scene.angle), 'user/throttle': scene.throttle,
               'user/mode': 'user' if i % 3 else 'local', 'imu/acl_x': 0.25 * i,
               'behavior/one_hot_state_array': (0.0, 1.0), 'ignored/key': 7}


def write(make, path, sessions, deleted=()):
    """Sessions of records (a list of counts) written with the writer class `make`, one writer per session; then
    `deleted` marked deleted through a writer opened on the tub as it is (no inputs given)."""
    for n, count in enumerate(sessions):
        tub = make(str(path), INPUTS, TYPES, max_catalog_len=4)
        for record in records(count, seed=n):
            tub.write_record(record)
        tub.close()
    if deleted:
        tub = make(str(path), [], [], max_catalog_len=4)
        tub.delete_records(deleted)
        tub.close()


def test_the_files_are_donkeycars_byte_for_byte(tmp_path, monkeypatch):
    """Two sessions (the second continues the tub), 11 records across three catalogs, two of them then marked
    deleted, under a frozen clock."""
    pytest.importorskip('donkeycar')
    from donkey_saliency.quiet import import_donkeycar
    import_donkeycar()
    from donkeycar.parts.tub_v2 import Tub
    monkeypatch.setattr(time, 'time', lambda: 1764590000.125)

    def donkeycar_tub(path, inputs, types, max_catalog_len):
        return Tub(path, inputs=inputs, types=types, max_catalog_len=max_catalog_len)
    write(donkeycar_tub, tmp_path / 'theirs', [7, 4], deleted=[2, 9])
    write(TubWriter, tmp_path / 'ours', [7, 4], deleted=[2, 9])
    assert sorted(os.listdir(tmp_path / 'ours')) == sorted(os.listdir(tmp_path / 'theirs'))
    assert len(os.listdir(tmp_path / 'ours' / 'images')) == 11
    assert tree_digest(tmp_path / 'ours') == tree_digest(tmp_path / 'theirs')


def test_donkeycar_reads_what_it_writes(tmp_path):
    pytest.importorskip('donkeycar')
    from donkey_saliency.quiet import import_donkeycar
    import_donkeycar()
    from donkeycar.parts.tub_v2 import Tub
    write(TubWriter, tmp_path / 'tub', [6, 3])
    tub = Tub(str(tmp_path / 'tub'), read_only=True)
    read = list(tub)
    tub.close()
    assert [r['_index'] for r in read] == list(range(9)) and len({r['_session_id'] for r in read}) == 2
    assert read[4]['imu/acl_x'] == 1.0 and read[4]['behavior/one_hot_state_array'] == [0.0, 1.0]
    assert 'ignored/key' not in read[0]


def test_this_tools_reader_reads_it_back(tmp_path):
    """Without donkeycar too: the records and the pictures (JPEG at donkeycar's quality, so close to their own
    frame, not equal, and far from the other frames) come back in order."""
    from donkey_saliency.tub.read import TubReader, frame_batches
    write(TubWriter, tmp_path / 'tub', [6])
    frames = [f for b in frame_batches(TubReader([str(tmp_path / 'tub')]), 0, None, 4) for f in b.frames]
    kept, images = [f.record for f in frames], [f.image for f in frames]
    expected = list(records(6, seed=0))
    assert len(kept) == 6 and [r['user/mode'] for r in kept] == [e['user/mode'] for e in expected]
    assert [r['user/angle'] for r in kept] == pytest.approx([float(e['user/angle']) for e in expected])
    distance = np.array([[np.abs(image.astype(int) - record['cam/image_array']).mean() for record in expected]
                         for image in images])
    assert np.all(np.diag(distance) < 8) and np.all(distance.argmin(axis=1) == np.arange(6))


def test_a_tub_thrown_away_is_not_written_to(tmp_path):
    """close(keep=False), as the mirror closes a tub it then removes (a full disk, an interrupt): no session
    recorded, not a byte more, so that a second failure cannot hide the first."""
    write(TubWriter, tmp_path / 'tub', [2])
    before = tree_digest(tmp_path / 'tub')
    tub = TubWriter(str(tmp_path / 'tub'))
    tub.write_contents({'_index': tub.index, '_session_id': 'elsewhere_0', '_timestamp_ms': 5})
    during = tree_digest(tmp_path / 'tub')
    tub.close(keep=False)
    assert during != before and tree_digest(tmp_path / 'tub') == during
