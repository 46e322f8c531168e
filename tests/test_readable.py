"""Videos a person can read: every method's map visible where the pilot looks, words instead of letters, and a
command that explains itself (the summary, a bare `donkey saliency`, `donkey`'s own command list)."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import assert_video_size, picture_rows, read_video, run_cli, run_main, tub_records

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
    from donkey_saliency.draw import INFERNO_RGB
    table = INFERNO_RGB.astype(int)
    flat = rgb.reshape(-1, 3)
    levels = np.concatenate([np.argmin(((chunk[:, None] - table[None]) ** 2).sum(axis=-1), axis=1)
                             for chunk in np.array_split(flat, max(1, len(flat) // 20000))])
    return (levels / 255.0).reshape(rgb.shape[:-1])


@pytest.fixture(scope='module')
def plain(tmp_path_factory):
    out = tmp_path_factory.mktemp('plain') / 'plain.mp4'
    result = run_main('--demo', '--end', FRAMES, '--scale', 1, '--alpha', 0, '--no-user', '--no-pilot', '--out', out)
    assert result.returncode == 0, result.stderr
    return pictures(out)[1]


@pytest.mark.parametrize('method', list(methods.METHODS))
def test_every_method_is_visible_where_the_pilot_looks(method, plain, tmp_path):
    """Drawn with the defaults over the sample road, each map changes a good share of the picture, and (but for
    occlusion, whose black window is itself a feature to this pilot) far more on the lane lines than on the
    background; the model-free control too is left out of that. Before display scaling, gradients drew a few faint specks (measured: 4% of pixels above 0.1)."""
    out = tmp_path / 'm.mp4'
    result = run_main('--demo', '--end', FRAMES, '--scale', 1, '--no-user', '--no-pilot', '--method', method,
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
    result = run_main('--tub', small_tub, '--model', sample.MODEL, '--end', 4, '--out', tmp_path / 'v.mp4')
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'car config: none: input size from the model, frame rate from timestamps' in out
    assert "rate from the records' timestamps" in out
    size = os.path.getsize(tmp_path / 'v.mp4') / 1e6
    assert f'({size:.1f} MB,' in out
    car = tmp_path / 'car'
    car.mkdir()
    (car / 'config.py').write_text('DRIVE_LOOP_HZ = 10\n')
    result = run_main('--tub', small_tub, '--model', sample.MODEL, '--end', 4, '--config', car / 'config.py',
                     '--out', tmp_path / 'w.mp4')
    assert f'car config: {car / "config.py"} (' in result.stdout and 'rate from DRIVE_LOOP_HZ' in result.stdout


def test_every_nth_record_keeps_real_time(small_tub, tmp_path):
    result = run_main('--tub', small_tub, '--model', sample.MODEL, '--every', 4, '--start', 1, '--out',
                     tmp_path / 'v.mp4', '--save-maps', tmp_path / 'm.npz')
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / 'm.npz')['index'].tolist() == list(range(1, 40, 4))
    frames, fps = read_video(tmp_path / 'v.mp4')
    assert_video_size(frames, 10, (240, 320))
    full = run_main('--tub', small_tub, '--model', sample.MODEL, '--end', 8, '--out', tmp_path / 'w.mp4')
    assert full.returncode == 0
    full_fps = read_video(tmp_path / 'w.mp4')[1]
    # the tub was written in real time (50 Hz), so a loaded machine spaces its records unevenly: the expected
    # rates come from its own timestamps (as donkeycar's Tub reads them), the median spacing of the records each
    # video shows, at most 60 frames/s; every 4th record's spacing is four records' time, whatever each one's was
    stamps = np.array([record['_timestamp_ms'] for record in tub_records(small_tub)])
    assert fps == pytest.approx(1000 / np.median(np.diff(stamps[1:40:4])), rel=0.01)
    assert full_fps == pytest.approx(min(60, 1000 / np.median(np.diff(stamps[:8]))), rel=0.01)
    assert fps < full_fps / 2.5


def test_steering_is_another_name_for_angle(small_tub, tmp_path):
    saved = []
    for name in ('angle', 'steering'):
        result = run_main('--tub', small_tub, '--model', sample.MODEL, '--end', 3, '--method', 'gradients',
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


# -- defaults a person can read: Grad-CAM on a layer that shows the road, gradients drawn as regions ---------

from conftest import SHARED, SHARED_ABSENT, SHARED_READY  # noqa: E402

PIXEL_METHODS = [name for name, m in methods.METHODS.items() if m.smoothed]
QUICK = {'samples': 8, 'steps': 8}  # fewer samples than the defaults: the same kind of map, sooner


def quick(method):
    """QUICK's settings that `method` takes."""
    return {k: v for k, v in QUICK.items() if k in methods.settings_for(method, {})}


def visibly_changed(frames, maps, signed):
    """(N, H, W): where the overlay at the default opacity differs visibly from the camera frame."""
    from donkey_saliency.draw import overlay
    return np.stack([np.abs(overlay(f, m, 0.5, signed).astype(int) - f).sum(axis=-1) > 30
                     for f, m in zip(frames, maps)])


def solidity(changed):
    """The share of visibly changed pixels whose 3x3 neighbourhood is (nearly: 7 of 9) changed too: near 1 for
    regions, low for scattered specks."""
    import cv2
    counts = np.stack([cv2.filter2D(c.astype(np.float32), -1, np.ones((3, 3), np.float32),
                                    borderType=cv2.BORDER_CONSTANT) for c in changed])
    return float((counts[changed] >= 7).mean())


@pytest.fixture(scope='module')
def road():
    """Eight frames of the synthetic road, where its lane lines are, and the bundled pilot trained on it."""
    import donkey_saliency as ds
    scenes = list(synthetic.drive(FRAMES, seed=2026))
    return (np.stack([s.image for s in scenes]), np.stack([s.lines for s in scenes]), ds.load_pilot(sample.MODEL))


def test_gradcam_by_default_explains_a_layer_that_shows_the_lane_lines(road):
    """The default layer is chosen from the model (the deepest conv stage at least a tenth of the image across
    and down: conv2d_3, 12x17, of the sample's five). Its map lies on the lane lines (measured: 3.2 times the
    background's strength) where the last layer's, the old default, is one blot (1.6) over most of the picture."""
    import donkey_saliency as ds
    from donkey_saliency.core.methods.gradcam import auto_stage
    from donkey_saliency.core.geometry import describe
    frames, lines, pilot = road
    stage = auto_stage(describe(pilot.model))
    assert stage.size == (12, 17) and [s.size for s in describe(pilot.model).stages].index(stage.size) == 2
    shown = {layer: np.abs(ds.saliency(pilot, frames, method='gradcam', layer=layer).maps) for layer in ('auto', -1)}
    on_lines = {layer: m[lines].mean() / m[~lines].mean() for layer, m in shown.items()}
    assert on_lines['auto'] > 2.5 > on_lines[-1], on_lines
    changed = visibly_changed(frames, shown['auto'], True)
    assert changed.mean() > 0.2
    np.testing.assert_array_equal(ds.saliency(pilot, frames, method='gradcam').maps,
                                  ds.saliency(pilot, frames, method='gradcam', layer=3).maps)


@pytest.mark.parametrize('method', PIXEL_METHODS)
def test_pixel_maps_are_drawn_as_regions_on_the_lane_lines(method, road):
    """Gradients, SmoothGrad and Integrated Gradients are drawn smoothed (display only): the visibly coloured
    pixels form regions, not specks (solidity measured 0.62-0.70, 0.29-0.32 before the smoothing), they are
    a visible share of the picture, and the map's strength lies on the lane lines (5 to 18 times the
    background's, 3.3 to 11 before)."""
    import donkey_saliency as ds
    frames, lines, pilot = road
    result = ds.saliency(pilot, frames, method=method, **quick(method))
    changed = visibly_changed(frames, result.maps, result.signed)
    assert solidity(changed) > 0.5, solidity(changed)
    assert changed.mean() > 0.03
    strength = np.abs(result.maps)
    assert strength[lines].mean() > 4 * strength[~lines].mean()


def test_saved_raw_maps_stay_the_methods_own(small_tub, tmp_path):
    """--save-maps: `raw` holds the method's map as computed (the API's raw on the same frames), `maps` the
    smoothed map as drawn, scaled."""
    import donkey_saliency as ds
    from donkey_saliency.core.display import drawable, frame_scales, scaled
    from donkey_saliency.tub.read import TubReader, decode
    result = run_main('--tub', small_tub, '--model', sample.MODEL, '--end', 4, '--method', 'gradients',
                     '--out', tmp_path / 'v.mp4', '--save-maps', tmp_path / 'm.npz')
    assert result.returncode == 0, result.stderr
    saved = np.load(tmp_path / 'm.npz')
    frames = np.stack([decode(folder, record, 'cam/image_array') for folder, record in TubReader([small_tub]).records(0, 4)])
    computed = ds.saliency(ds.load_pilot(sample.MODEL), frames, method='gradients')
    np.testing.assert_allclose(saved['raw'], computed.raw, rtol=1e-4, atol=1e-6 * np.abs(computed.raw).max())
    smoothed = drawable(saved['raw'], 'gradients')
    assert not np.allclose(smoothed, saved['raw'])
    np.testing.assert_allclose(saved['maps'], scaled(smoothed, True, frame_scales(smoothed)), atol=1e-5)


@pytest.mark.skipif(not SHARED_READY, reason=SHARED_ABSENT)
def test_maps_are_readable_on_the_real_tub():
    """Sixteen frames spread over the real tub in ../shared: with its own pilot (final_1.tflite, which answers
    vbp), most of the picture is coloured (measured 92%); the gradient methods need a Keras pilot, so the bundled
    one explains the same frames there: Grad-CAM colours a good share (24%), gradients form regions (solidity
    0.65-0.75 against 0.37-0.41 unsmoothed)."""
    import donkey_saliency as ds
    from donkey_saliency.tub.read import TubReader, spread_records
    frames = np.stack([image for image, _ in spread_records(TubReader([SHARED / 'data']), 0, 2526, 16)])
    own = ds.saliency(ds.load_pilot(SHARED / 'models' / 'final_1.tflite'), frames, method='vbp')
    assert visibly_changed(frames, own.maps, False).mean() > 0.5
    keras = ds.load_pilot(sample.MODEL)
    gradcam = ds.saliency(keras, frames, method='gradcam')
    assert visibly_changed(frames, gradcam.maps, True).mean() > 0.1
    for method in PIXEL_METHODS:
        result = ds.saliency(keras, frames, method=method, **quick(method))
        assert solidity(visibly_changed(frames, result.maps, True)) > 0.5, method
