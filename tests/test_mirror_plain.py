"""`donkey saliency mirror` with or without donkeycar: on Python 3.12 (upstream's stack, no donkeycar 5.3) the new
tub is written by tub/write.py's TubWriter in donkeycar's format (test_mirror checks it byte for byte
against donkeycar's Tub); here the bundled sample tub, written by donkeycar's Tub, is mirrored and read back by the
project's reader, and a full disk leaves no half tub."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import assert_disk_full, limited_file_size, tree_digest
from donkey_saliency import sample

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)


def test_the_sample_tub_is_mirrored_by_donkeycar_or_in_its_format(tmp_path):
    import donkey_saliency as ds
    from donkey_saliency.offline import mirror
    from donkey_saliency.tub.read import TubReader, decode
    from donkey_saliency.tub.write import TubWriter
    try:
        import donkeycar  # noqa: F401
        expected = mirror.DonkeycarTub
    except ImportError:
        expected = TubWriter
    probe = mirror.new_tub(str(tmp_path / 'probe'), ['cam/image_array'], ['image_array'])
    assert type(probe) is expected
    probe.close()
    before = tree_digest(sample.TUB)
    found = ds.mirror(sample.TUB, tmp_path / 'm', progress=False)
    assert found['records'] == 400 and found['skipped'] == {}
    sources, copies = list(TubReader([sample.TUB]).records()), list(TubReader([str(tmp_path / 'm')]).records())
    assert len(copies) == 400
    for (source_folder, source), (copy_folder, copy) in zip(sources, copies):
        assert copy['_timestamp_ms'] == source['_timestamp_ms'] and copy['_session_id'] == source['_session_id']
        assert copy['user/angle'] == -source['user/angle']
        assert copy['user/throttle'] == source['user/throttle']
        error = np.abs(decode(copy_folder, copy).astype(int) - cv2.flip(decode(source_folder, source), 1))
        assert error.mean() < 1.5 and np.percentile(error, 99) <= 12  # one JPEG generation (see test_mirror)
    lines = (tmp_path / 'm' / 'manifest.json').read_text().splitlines()
    assert json.loads(lines[0]) == ['cam/image_array', 'user/angle', 'user/throttle', 'user/mode']
    assert json.loads(lines[4]) == {'paths': ['catalog_0.catalog'], 'current_index': 400, 'max_len': 1000,
                                    'deleted_indexes': []}
    assert tree_digest(sample.TUB) == before


def test_a_full_disk_leaves_no_half_tub(tmp_path):
    """With donkeycar or without: a 20 kB file-size limit passes the mirrored images (under 10 kB) and stops the
    catalog (about 220 bytes a record) within a hundred records, so that the tub fails half written."""
    out = tmp_path / 'out'
    out.mkdir()
    result = subprocess.run([sys.executable, '-m', 'donkey_saliency', 'mirror', '--no-progress', '--tub',
                             sample.TUB, '--out', str(out / 'm')], capture_output=True, text=True, timeout=600,
                            preexec_fn=limited_file_size(20_000))
    assert_disk_full(result, out, out / 'm')


def test_the_lanes_come_from_the_cars_myconfig_over_its_config(tmp_path):
    """With donkeycar or without, the car's config is read as every command reads it: its myconfig.py over its
    config.py. Here config.py's lane list has no mirror for Left_Lane (a refusal), and myconfig.py's does."""
    import donkey_saliency as ds
    from donkey_saliency import synthetic
    lanes = ['Left_Lane', 'Center_Lane', 'Right_Lane']
    tub = synthetic.write_tub(tmp_path / 'tub', synthetic.drive(3, seed=3), hz=200.0,
                              extra={'behavior/label': ('str', lambda i: lanes[i])})
    car = tmp_path / 'car'
    car.mkdir()
    (car / 'config.py').write_text("BEHAVIOR_LIST = ['Left_Lane', 'Center_Lane']\n")
    (car / 'myconfig.py').write_text(f'BEHAVIOR_LIST = {lanes}\n')
    ds.mirror(tub, tmp_path / 'm', config=car / 'myconfig.py', progress=False)
    labels = [json.loads(line)['behavior/label'] for line in (tmp_path / 'm' / 'catalog_0.catalog').open()]
    assert labels == ['Right_Lane', 'Center_Lane', 'Left_Lane']
