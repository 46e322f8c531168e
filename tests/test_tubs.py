"""Reading tubs: read-only always, bad records skipped and counted, non-tubs refused without being created."""
import json
import os
import shutil

import pytest

from conftest import tree_digest
from donkey_saliency.errors import UserError
from donkey_saliency.offline.tubs import TubReader, check_tub, frame_batches


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
    from donkeycar.parts.tub_v2 import Tub
    tub = Tub(str(tub_copy))
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


def test_a_v1_tub_is_named_as_such(tmp_path):
    (tmp_path / 'meta.json').write_text(json.dumps({'inputs': [], 'types': []}))
    with pytest.raises(UserError, match='v1 tub'):
        check_tub(str(tmp_path))


def test_a_damaged_manifest_is_refused(tub_copy):
    manifest = tub_copy / 'manifest.json'
    manifest.write_text('\n'.join(manifest.read_text().splitlines()[:4]))
    with pytest.raises(UserError, match='damaged'):
        check_tub(str(tub_copy))


def test_a_missing_catalog_is_refused(tub_copy):
    os.remove(tub_copy / 'catalog_0.catalog')
    with pytest.raises(UserError, match='catalog_0.catalog'):
        check_tub(str(tub_copy))


def test_a_tub_without_images_folder_is_refused_and_not_repaired(tub_copy):
    shutil.rmtree(tub_copy / 'images')
    with pytest.raises(UserError, match='images'):
        TubReader([str(tub_copy)])
    assert not (tub_copy / 'images').exists()


def test_an_empty_catalog_is_a_clear_error(tub_copy):
    (tub_copy / 'catalog_0.catalog').write_bytes(b'')
    with pytest.raises(UserError, match='empty or damaged catalog'):
        len(TubReader([str(tub_copy)]))
