"""Videos a person can read: every method's map visible where the pilot looks, words instead of letters, and a
command that explains itself (the summary, a bare `donkey saliency`, `donkey`'s own command list)."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import assert_video_size, picture_rows, read_video, run_cli

pytest.importorskip('donkeycar')

from donkey_saliency import sample, synthetic  # noqa: E402
from donkey_saliency.core import methods  # noqa: E402

FRAMES = 8


def pictures(path, height=120):
    """The camera pictures of a decoded --scale 1 video, found where they sit between the bands."""
    frames, fps = read_video(path)
    top, bottom = picture_rows(frames[0], height, 1)
    return frames, frames[:, top:bottom].astype(int), fps


def inferno_level(rgb):
    """The value 0..1 whose inferno colour is nearest to each pixel."""
    from donkey_saliency.offline.draw import INFERNO_RGB
    table = INFERNO_RGB.astype(int)
    flat = rgb.reshape(-1, 3)
    levels = np.concatenate([np.argmin(((chunk[:, None] - table[None]) ** 2).sum(axis=-1), axis=1)
                             for chunk in np.array_split(flat, max(1, len(flat) // 20000))])
    return (levels / 255.0).reshape(rgb.shape[:-1])


@pytest.fixture(scope='module')
def plain(tmp_path_factory):
    out = tmp_path_factory.mktemp('plain') / 'plain.mp4'
    result = run_cli('--demo', '--end', FRAMES, '--scale', 1, '--alpha', 0, '--no-user', '--no-pilot', '--out', out)
    assert result.returncode == 0, result.stderr
    return pictures(out)[1]


@pytest.mark.parametrize('method', list(methods.METHODS))
def test_every_method_is_visible_where_the_pilot_looks(method, plain, tmp_path):
    """Drawn with the defaults over the sample road, each map changes a good share of the picture, and (but for
    occlusion, whose black window is itself a feature to this pilot) far more on the lane lines than on the
    background; the model-free control too is left out of that. Before display scaling, gradients drew a few faint specks (measured: 4% of pixels above 0.1)."""
    out = tmp_path / 'm.mp4'
    result = run_cli('--demo', '--end', FRAMES, '--scale', 1, '--no-user', '--no-pilot', '--method', method,
                     '--samples', 8, '--steps', 8, '--out', out)
    assert result.returncode == 0, result.stderr
    drawn = pictures(out)[1]
    scenes = list(synthetic.drive(FRAMES, seed=2026))
    lines = np.stack([s.lines for s in scenes])
    background = ~lines & ~np.stack([s.distractors for s in scenes])
    if methods.get(method).per_output:  # signed: the colour is blended in as strongly as the map is
        strength = np.abs(drawn - plain).sum(axis=-1)
        assert (strength > 30).mean() > 0.05, (strength > 30).mean()
    else:  # unsigned: blended at --alpha 0.5 everywhere; the heat colour read back says how strong
        strength = inferno_level(np.clip(2 * drawn - plain, 0, 255))
        assert (strength > 0.5).mean() > 0.02, (strength > 0.5).mean()
    if method not in ('occlusion', 'spectral-residual'):  # the one's window is a feature, the other is model-free
        assert strength[lines].mean() > 2 * strength[background].mean()


def test_the_summary_says_what_it_read_and_wrote(small_tub, tmp_path):
    result = run_cli('--tub', small_tub, '--model', sample.MODEL, '--end', 4, '--out', tmp_path / 'v.mp4')
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'car config: none: input size from the model, frame rate from timestamps' in out
    assert "rate from the records' timestamps" in out
    size = os.path.getsize(tmp_path / 'v.mp4') / 1e6
    assert f'({size:.1f} MB,' in out
    car = tmp_path / 'car'
    car.mkdir()
    (car / 'config.py').write_text('DRIVE_LOOP_HZ = 10\n')
    result = run_cli('--tub', small_tub, '--model', sample.MODEL, '--end', 4, '--config', car / 'config.py',
                     '--out', tmp_path / 'w.mp4')
    assert f'car config: {car / "config.py"} (' in result.stdout and 'rate from DRIVE_LOOP_HZ' in result.stdout


def test_every_nth_record_keeps_real_time(small_tub, tmp_path):
    result = run_cli('--tub', small_tub, '--model', sample.MODEL, '--every', 4, '--start', 1, '--out',
                     tmp_path / 'v.mp4', '--save-maps', tmp_path / 'm.npz')
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / 'm.npz')['index'].tolist() == list(range(1, 40, 4))
    frames, fps = read_video(tmp_path / 'v.mp4')
    assert_video_size(frames, 10, (240, 320))
    full = run_cli('--tub', small_tub, '--model', sample.MODEL, '--end', 8, '--out', tmp_path / 'w.mp4')
    assert full.returncode == 0
    assert fps == pytest.approx(read_video(tmp_path / 'w.mp4')[1] / 4, rel=0.05)


def test_steering_is_another_name_for_angle(small_tub, tmp_path):
    saved = []
    for name in ('angle', 'steering'):
        result = run_cli('--tub', small_tub, '--model', sample.MODEL, '--end', 3, '--method', 'gradients',
                         '--output', name, '--out', tmp_path / f'{name}.mp4', '--save-maps', tmp_path / f'{name}.npz')
        assert result.returncode == 0, result.stderr
        saved.append(np.load(tmp_path / f'{name}.npz')['maps'])
    np.testing.assert_array_equal(*saved)


def test_a_bare_command_shows_how_to_start():
    result = run_cli()  # only --no-progress, as run_cli adds it: no tub, no model, no --demo
    bare = subprocess.run([sys.executable, '-m', 'donkey_saliency'], capture_output=True, text=True, timeout=120)
    assert bare.returncode == 2 and 'usage:' in bare.stderr and '--demo' in bare.stderr
    assert 'Traceback' not in bare.stderr and 'no tub given' not in bare.stderr
    assert result.returncode == 2 and 'no tub given' in result.stderr  # a real run without a tub says so


def test_donkey_lists_saliency_with_what_it_does():
    donkey = os.path.join(os.path.dirname(sys.executable), 'donkey')
    listing = subprocess.run([donkey], capture_output=True, text=True, timeout=120)
    assert "'makemovie'" in listing.stderr  # donkeycar's own list, as it was
    assert "['saliency']" in listing.stderr and 'where a pilot looks' in listing.stderr
