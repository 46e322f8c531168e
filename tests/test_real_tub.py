"""The real tub in ../shared (a Raspberry Pi camera on a carpet track): skipped cleanly when it is absent."""
import numpy as np
import pytest

from conftest import SHARED, SHARED_ABSENT, SHARED_READY, assert_video_size, read_video, run_main, tree_digest
from donkey_saliency import sample

TUB = SHARED / 'data'
pytestmark = pytest.mark.skipif(not SHARED_READY, reason=SHARED_ABSENT)


def test_whole_real_tub_across_its_catalogs(tmp_path):
    before = tree_digest(TUB)
    out, maps = tmp_path / 'real.mp4', tmp_path / 'maps.npz'
    result = run_main('--tub', TUB, '--model', sample.MODEL, '--out', out, '--save-maps', maps)
    assert result.returncode == 0, result.stderr
    frames, fps = read_video(out)
    assert_video_size(frames, 2526, (240, 320))
    assert 'skipped records: none' in result.stdout
    index = np.load(maps)['index']
    assert index.tolist() == list(range(2526))  # three catalogs of up to 1000 records, read in order
    assert 5 <= fps <= 60  # from the records' timestamps
    assert tree_digest(TUB) == before
