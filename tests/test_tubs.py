"""Reading tubs: read-only always, bad records skipped and counted, non-tubs refused without being created."""
import json
import os
import shutil
import time

import cv2
import numpy as np
import pytest

from conftest import car_outputs, tree_digest, tub_records, writable_tub
from donkey_saliency import synthetic
from donkey_saliency.errors import UserError
from donkey_saliency.tub.read import TubReader, check_tub, frame_batches

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)


@pytest.fixture
def tub_copy(small_tub, tmp_path):
    path = tmp_path / 'tub'
    shutil.copytree(small_tub, path)
    return path


def read_all(path, batch_size=8, start=0, end=None):
    reader = TubReader([str(path)])
    batches = list(frame_batches(reader, start, end, batch_size))
    return reader, [f for b in batches for f in b.frames], batches


def test_reads_every_record_in_order_in_batches(small_tub):
    reader, frames, batches = read_all(small_tub, batch_size=16)
    assert [f.record['_index'] for f in frames] == list(range(40))
    assert [len(b.frames) for b in batches] == [16, 16, 8]
    assert frames[0].image.shape == (120, 160, 3) and frames[0].image.dtype.name == 'uint8'
    assert reader.skipped.total == 0


def test_range_is_positions_start_inclusive_end_exclusive(small_tub):
    _, frames, _ = read_all(small_tub, start=5, end=12)
    assert [f.record['_index'] for f in frames] == list(range(5, 12))


def test_deleted_records_are_not_seen(tub_copy):
    tub = writable_tub(tub_copy)  # donkeycar's Tub, or its twin on the Keras 3 stack
    tub.delete_records([3, 5])
    tub.close()
    reader, frames, _ = read_all(tub_copy)
    assert 3 not in [f.record['_index'] for f in frames] and len(frames) == 38
    assert reader.skipped.total == 0  # deleted is not skipped: the user removed them


def test_missing_and_broken_images_are_skipped_and_counted(tub_copy):
    os.remove(tub_copy / 'images' / '7_cam_image_array_.jpg')
    (tub_copy / 'images' / '9_cam_image_array_.jpg').write_bytes(b'not a jpeg')
    reader, frames, _ = read_all(tub_copy)
    assert len(frames) == 38 and {7, 9}.isdisjoint(f.record['_index'] for f in frames)
    assert reader.skipped.reasons == {'missing or unreadable images': 2}


def test_truncated_catalog_line_is_skipped_and_counted(tub_copy):
    catalog = tub_copy / 'catalog_0.catalog'
    catalog.write_bytes(catalog.read_bytes()[:-40])
    reader, frames, _ = read_all(tub_copy)
    assert len(frames) == 39
    assert reader.skipped.reasons == {'unreadable catalog lines': 1}


def test_reading_never_changes_the_tub(small_tub):
    before = tree_digest(small_tub)
    read_all(small_tub)
    assert tree_digest(small_tub) == before


def test_a_missing_path_is_refused_and_not_created(tmp_path):
    target = tmp_path / 'no_such_tub'
    with pytest.raises(UserError, match='tub not found'):
        TubReader([str(target)])
    assert not target.exists()


def test_a_folder_that_is_not_a_tub_is_refused_and_left_alone(tmp_path):
    (tmp_path / 'notes.txt').write_text('hello')
    with pytest.raises(UserError, match='not a tub'):
        check_tub(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ['notes.txt']


def test_a_v1_tub_without_camera_images_is_refused(tmp_path):
    (tmp_path / 'meta.json').write_text(json.dumps({'inputs': ['user/angle'], 'types': ['float']}))
    with pytest.raises(UserError, match='records no camera images'):
        check_tub(str(tmp_path))


@pytest.fixture
def v1_tub(tmp_path):
    """A v1 tub written by donkeycar's own legacy Tub (donkeycar.parts.datastore), paced at about 20 Hz, with
    record 3 deleted in exclude.json as donkeycar's tub tools record deletions."""
    pytest.importorskip('donkeycar')  # 5.3's legacy writer: the Keras 3 stack has no v1 writer
    from donkeycar.parts.datastore import Tub as LegacyTub
    path = tmp_path / 'tub_v1'
    writer = LegacyTub(str(path), inputs=['cam/image_array', 'user/angle', 'user/throttle', 'user/mode'],
                       types=['image_array', 'float', 'float', 'str'])
    for scene in synthetic.drive(8, seed=3):
        writer.put_record({'cam/image_array': scene.image, 'user/angle': scene.angle,
                           'user/throttle': scene.throttle, 'user/mode': 'user'})
        time.sleep(0.05)
    (path / 'exclude.json').write_text('[3]')
    return path


def test_a_v1_tub_is_read_in_place_like_a_v2_tub(v1_tub, tmp_path):
    """Indexes from 1, the deleted record left out, --start/--end counting readable records from 0, the pilot's
    outputs those of donkeycar's own part on each image, and nothing written into the tub."""
    from conftest import run_cli
    from donkey_saliency import sample
    before = tree_digest(v1_tub)
    result = run_cli('--tub', v1_tub, '--model', sample.MODEL, '--out', tmp_path / 'v.mp4', '--save-maps',
                     tmp_path / 'm.npz')
    assert result.returncode == 0, result.stderr
    saved = np.load(tmp_path / 'm.npz')
    assert saved['index'].tolist() == [1, 2, 4, 5, 6, 7, 8]
    images = [cv2.cvtColor(cv2.imread(str(v1_tub / f'{i}_cam-image_array_.jpg')), cv2.COLOR_BGR2RGB)
              for i in saved['index']]
    np.testing.assert_allclose(saved['angle'], car_outputs('linear', sample.MODEL, images)[:, 0], atol=1e-5)
    part = run_cli('--tub', v1_tub, '--model', sample.MODEL, '--start', 1, '--end', 3, '--out', tmp_path / 'w.mp4',
                   '--save-maps', tmp_path / 'n.npz')
    assert part.returncode == 0, part.stderr
    assert np.load(tmp_path / 'n.npz')['index'].tolist() == [2, 4]
    assert tree_digest(v1_tub) == before


def test_a_manifest_without_its_record_keys_is_refused(tub_copy):
    manifest = tub_copy / 'manifest.json'
    manifest.write_text('\n'.join(['["cam/image_arr'] + manifest.read_text().splitlines()[1:]))
    with pytest.raises(UserError, match='manifest.json is damaged'):
        check_tub(str(tub_copy))


@pytest.mark.parametrize('damage', ['remove', 'empty'])
def test_a_tub_whose_only_catalog_is_lost_has_nothing_readable(tub_copy, damage):
    catalog = tub_copy / 'catalog_0.catalog'
    catalog.unlink() if damage == 'remove' else catalog.write_bytes(b'')
    reader = TubReader([str(tub_copy)])
    assert len(reader) == 0
    with pytest.raises(UserError, match='nothing readable .*40 records missing from the catalogs'):
        reader.check_readable()
    assert reader.warnings == [f'{tub_copy}: catalog_0.catalog is {"missing" if damage == "remove" else "empty"}']


def test_records_are_those_donkeycar_gives(tmp_path):
    """On a sound tub of several catalogs and two sessions, with deletions, the reader gives exactly the records
    donkeycar's own Tub gives, in its order (on the Keras 3 stack: the catalogs' lines as tub_records reads them)."""
    path = synthetic.write_tub(tmp_path / 'tub', synthetic.drive(25, seed=4), hz=200.0, max_catalog_len=10)
    synthetic.write_tub(path, synthetic.drive(10, seed=5), hz=200.0, max_catalog_len=10)
    writer = writable_tub(path)
    writer.delete_records([0, 12, 34])
    writer.close()
    expected = tub_records(path)
    reader = TubReader([str(path)])
    assert [record for _, record in reader.records()] == [dict(r, _tub='tub') for r in expected]  # + its tub
    assert len(reader) == len(expected) == 32
    assert reader.skipped.total == 0 and reader.warnings == []


def test_a_tub_without_images_folder_is_refused_and_not_repaired(tub_copy):
    shutil.rmtree(tub_copy / 'images')
    with pytest.raises(UserError, match='images'):
        TubReader([str(tub_copy)])
    assert not (tub_copy / 'images').exists()


def test_the_synthetic_road_never_writes_records_closer_than_its_rate(tmp_path):
    """A stall while recording (a loaded machine) spaces the records further apart, never in a burst: each record
    is handed to the tub at least 1/hz after the one before. Paced to deadlines instead, the records after a stall
    came 2 to 5 ms apart (a 50 Hz tub read as 500 Hz under load, and its video as 60 frames/s)."""
    def stalling(scenes):
        for i, scene in enumerate(scenes):
            if i == 2:
                time.sleep(0.3)
            yield scene
    path = synthetic.write_tub(tmp_path / 'tub', stalling(synthetic.drive(12, seed=1)), hz=50.0)
    stamps = np.array([r['_timestamp_ms'] for r in tub_records(path)], np.int64)
    steps = np.diff(stamps)
    assert len(stamps) == 12 and steps.max() >= 290, steps  # the stall is where it was
    # the tub stamps a record once its image is saved: a few ms of jitter, and the first save is the slowest
    assert np.median(steps) >= 19 and steps[1:].min() >= 15, steps


def test_windows_stay_within_a_tub_and_hold_only_records_accepted(tmp_path):
    """A sequence or memory pilot's window: the records before it in its own tub (another tub is another drive,
    as donkeycar collates), of those the pilot takes."""
    from donkey_saliency.tub.read import TubReader, spread_windows
    first = synthetic.write_tub(tmp_path / 'a', synthetic.drive(5, seed=1), hz=1000)
    second = synthetic.write_tub(tmp_path / 'b', synthetic.drive(5, seed=2), hz=1000)
    windows = list(spread_windows(TubReader([first, second]), 0, 10, 10, 2))
    assert [[r['_index'] for r in records] for _, records in windows] == [
        [0], [0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [0], [0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4]]
    assert all(len(images) == len(records) for images, records in windows)
    odd = list(spread_windows(TubReader([first]), 0, 5, 5, 2, accepts=lambda r: r['_index'] % 2 == 0))
    assert [[r['_index'] for r in records] for _, records in odd] == [[0], [0, 2], [0, 2, 4]]
