"""How often one command reads the tubs: each tub is opened once, and its records are read only by the passes the
command needs (counting them, the sample that fixes the camera's shape, the frames sampled, the pass itself),
never again for a second pilot, the --evaluate table or a check made twice. A spy around the real functions."""
import collections

import pytest

from conftest import run_main
from donkey_saliency import sample
from donkey_saliency.tub import read as tubs

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)


@pytest.fixture
def reads(monkeypatch):
    """{'opened': {tub: times}, 'passes': {tub: times its records were read from the first}}."""
    seen = {'opened': collections.Counter(), 'passes': collections.Counter()}
    real_open, real_entries = tubs._open, tubs.V2Tub.entries

    def opening(path):
        seen['opened'][str(path)] += 1
        return real_open(path)

    def entries(self):
        seen['passes'][str(self.path)] += 1
        return real_entries(self)

    monkeypatch.setattr(tubs, '_open', opening)
    monkeypatch.setattr(tubs.V2Tub, 'entries', entries)
    return seen


def test_the_video_opens_each_tub_once(reads, small_tub, tmp_path):
    result = run_main('--tub', small_tub, '--tub', sample.TUB, '--model', sample.MODEL, '--end', 50,
                      '--normalize', 'run', '--out', tmp_path / 'v.mp4', '--no-progress')
    assert result.returncode == 0, result.stderr
    assert reads['opened'] == {str(small_tub): 1, sample.TUB: 1}
    # the count, the camera shape's sample, --normalize run's sample, the pass
    assert reads['passes'] == {str(small_tub): 4, sample.TUB: 4}


def test_evaluate_opens_each_tub_once(reads, tmp_path):
    result = run_main('evaluate', '--tub', sample.TUB, '--model', sample.MODEL, '--end', 100, '--frames', 8,
                      '--no-randomisation', '--no-progress')
    assert result.returncode == 0, result.stderr
    assert reads['opened'] == {sample.TUB: 1}
    assert reads['passes'] == {sample.TUB: 3}  # the count, the camera shape's sample, the frames sampled


def test_a_report_on_two_pilots_opens_each_tub_once(reads, tmp_path):
    """Two pilots and the --evaluate table share the tubs' one opening and count."""
    result = run_main('report', '--tub', sample.TUB, '--model', sample.MODEL, '--model', sample.MODEL, '--end', 80,
                      '--frames', 12, '--evaluate', '--out', tmp_path / 'r.html', '--no-progress')
    assert result.returncode == 0, result.stderr
    assert reads['opened'] == {sample.TUB: 1}
    # the count, the report's sample, its pass, and the --evaluate table's frames, sampled once for both pilots
    assert reads['passes'] == {sample.TUB: 4}
