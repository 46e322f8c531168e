"""`donkey saliency` end to end: run as a subprocess, decode the video back and check it frame by frame."""
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import (assert_video_size, car_outputs, keras_pilot, picture_rows, read_video, run_cli, run_main,
                      save_pilot, tree_digest, tub_records)
from donkey_saliency import sample

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)


def camera_frames(tub, indexes):
    images = [cv2.imread(str(tub / 'images' / f'{i}_cam_image_array_.jpg')) for i in indexes]
    return np.stack([cv2.cvtColor(im, cv2.COLOR_BGR2RGB) for im in images])


def recorded_rate(tub):
    """Frames per second as the records' own timestamps say (median spacing), read back from the tub: 50 as
    written, less on a loaded machine, whose writes lag behind the pacing."""
    stamps = np.array([r['_timestamp_ms'] for r in tub_records(tub)], np.float64)
    return 1000 / np.median(np.diff(stamps))


def test_video_has_one_frame_per_record_at_scaled_size(small_tub, sample_pilot_path, tmp_path):
    out = tmp_path / 'out.mp4'
    before = tree_digest(small_tub)
    result = run_cli('--tub', small_tub, '--model', sample_pilot_path, '--out', out)
    assert result.returncode == 0, result.stderr
    frames, fps = read_video(out)
    assert_video_size(frames, 40, (240, 320))
    assert fps == pytest.approx(recorded_rate(small_tub), abs=0.01)  # no config: the records' rate (2 decimals)
    assert 'wrote 40 frames' in result.stdout and 'skipped records: none' in result.stdout
    assert tree_digest(small_tub) == before


def test_freed_memory_is_kept_where_the_c_library_allows_and_nothing_fails_elsewhere(monkeypatch):
    """glibc takes both settings; where no C library is found, or it does not load, nothing is done."""
    import ctypes.util
    from donkey_saliency import heap
    assert heap.keep_freed_memory() == (sys.platform.startswith('linux') and os.confstr('CS_GNU_LIBC_VERSION')
                                        is not None)
    monkeypatch.setattr(ctypes.util, 'find_library', lambda name: None)
    assert heap.keep_freed_memory() is False
    monkeypatch.setattr(ctypes.util, 'find_library', lambda name: 'libno-such-c.so.6')
    assert heap.keep_freed_memory() is False


def test_the_command_asks_for_onednn_on_x86_64_unless_the_user_chose(monkeypatch):
    import platform
    from donkey_saliency import kernels
    monkeypatch.setattr(platform, 'machine', lambda: 'aarch64')  # (a Jetson: untried there, left alone)
    monkeypatch.delenv('TF_ENABLE_ONEDNN_OPTS', raising=False)
    assert kernels.prefer_onednn() is False and 'TF_ENABLE_ONEDNN_OPTS' not in os.environ
    for machine in ('x86_64', 'AMD64'):
        monkeypatch.setattr(platform, 'machine', lambda: machine)
        monkeypatch.delenv('TF_ENABLE_ONEDNN_OPTS', raising=False)
        assert kernels.prefer_onednn() is True and os.environ['TF_ENABLE_ONEDNN_OPTS'] == '1'
    monkeypatch.setenv('TF_ENABLE_ONEDNN_OPTS', '0')
    assert kernels.prefer_onednn() is False and os.environ['TF_ENABLE_ONEDNN_OPTS'] == '0'


DONKEY = ('sys.argv = ["donkey", "saliency"] + sys.argv[1:]\n'  # the `donkey` script's name: the hook's route
          'from donkeycar.management.base import execute_from_command_line\n'
          'execute_from_command_line()\n')


@pytest.mark.parametrize('chosen, route', [(None, 'main'), ('0', 'main'), (None, 'donkey')])
def test_tensorflow_loads_with_the_kernels_setting_in_place(small_tub, sample_pilot_path, tmp_path, chosen, route):
    """The setting is read once, as TensorFlow loads: it is in place by then in a real run of the command, by
    cli.main and through donkeycar's `donkey saliency` (which imports donkeycar first), and a user's own choice is
    what TensorFlow reads."""
    import platform
    from donkey_saliency.kernels import X86_64
    if route == 'donkey':
        pytest.importorskip('donkeycar')
    watch = ('import atexit, os, sys\n'
             'class Watch:\n'
             '    def find_spec(self, name, path=None, target=None):\n'
             '        if name == "tensorflow" and not hasattr(self, "seen"):\n'
             '            self.seen = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")\n'
             'watch = Watch()\n'
             'sys.meta_path.insert(0, watch)\n'
             'atexit.register(lambda: print("tensorflow loaded with", getattr(watch, "seen", "no tensorflow")))\n' +
             (DONKEY if route == 'donkey' else 'from donkey_saliency.cli import main\nsys.exit(main(sys.argv[1:]))\n'))
    env = {k: v for k, v in os.environ.items() if k != 'TF_ENABLE_ONEDNN_OPTS'}
    if chosen is not None:
        env['TF_ENABLE_ONEDNN_OPTS'] = chosen
    result = subprocess.run([sys.executable, '-c', watch, '--tub', str(small_tub), '--model', str(sample_pilot_path),
                             '--end', '4', '--no-progress', '--out', str(tmp_path / 'v.mp4')], capture_output=True,
                            text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert 'wrote 4 frames' in result.stdout
    expected = chosen or ('1' if platform.machine().lower() in X86_64 else 'unset')
    assert f'tensorflow loaded with {expected}' in result.stdout


def test_the_writers_are_made_before_the_clock_runs(small_tub, sample_pilot_path, tmp_path, monkeypatch):
    """Finding ffmpeg (moviepy's import: a quarter of a second) and making the files is start-up, as it is for
    makemovie, whose bar starts after its writer is made: the rate once started leaves it out."""
    import time
    from donkey_saliency import writers
    from donkey_saliency.offline import video
    made = writers.VideoWriter.__init__
    monkeypatch.setattr(writers.VideoWriter, '__init__', lambda *args: time.sleep(3) or made(*args))
    summary = video.run(video.Options(tubs=[str(small_tub)], model=str(sample_pilot_path), end=12, progress=False,
                                      out=str(tmp_path / 'v.mp4')))
    assert summary.frames == 12 and summary.seconds - summary.startup < 3 <= summary.startup


def test_opencv_draws_on_each_stages_own_thread_and_gets_its_threads_back(small_tub, sample_pilot_path, tmp_path,
                                                                           monkeypatch):
    """During a video OpenCV runs on one thread (its pool's active waits take the processor time the other stages need);
    an in-process caller (the API) finds its own setting again after the run, and after a run that failed."""
    from donkey_saliency.offline.stages import VideoJob
    seen, render = [], VideoJob.render

    def watched(job, inferred):
        seen.append(cv2.getNumThreads())
        if fail:
            raise MemoryError('a failure mid-run')
        return render(job, inferred)
    monkeypatch.setattr(VideoJob, 'render', watched)
    cv2.setNumThreads(3)
    try:
        for fail in (False, True):
            result = run_main('--tub', small_tub, '--model', sample_pilot_path, '--end', 12, '--out',
                              tmp_path / f'{fail}.mp4')
            assert (result.returncode != 0) == fail, result.stderr
            assert seen and set(seen) == {1} and cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(-1)


@pytest.mark.parametrize('method, end, sizes', [
    ('vbp', 40, [1, 8, 20, 28, 8, 20, 12]),  # 40 records: 28 (8 and 20), then 12
    ('vbp', 12, [1, 4, 8, 12, 8, 4]),  # a run shorter than a batch: warmed at its own sizes
    ('smoothgrad', 12, [1, 8, 4]),  # a many-sample method cuts batches to sizes of its own: no warm-up
])
def test_the_pilot_is_warmed_up_at_the_batch_sizes_it_then_sees(small_tub, sample_pilot_path, tmp_path, monkeypatch,
                                                                method, end, sizes):
    """The first batch goes to the pilot in two (a few frames first, so drawing starts at once); the graphs are
    built on one frame, and for a one-pass method the kernels at each size the first batches bring, before the
    clock runs (--normalize frame: no first pass of its own); every record is drawn once."""
    from donkey_saliency.core.engine import Engine
    from donkey_saliency.offline.stages import FIRST_FRAMES
    seen, call = [], Engine.__call__
    monkeypatch.setattr(Engine, '__call__', lambda engine, inputs: seen.append(len(inputs[0])) or
                        call(engine, inputs))
    result = run_main('--tub', small_tub, '--model', sample_pilot_path, '--method', method, '--batch-size', 28,
                      '--end', end, '--out', tmp_path / 'v.mp4')
    assert result.returncode == 0, result.stderr
    assert f'wrote {end} frames' in result.stdout
    assert FIRST_FRAMES == 8 and seen == sizes


def test_overlay_is_present_and_first_record_is_shown(small_tub, sample_pilot_path, tmp_path):
    plain, heat = tmp_path / 'plain.mp4', tmp_path / 'heat.mp4'
    common = ['--tub', small_tub, '--model', sample_pilot_path, '--start', 3, '--end', 9, '--no-user', '--no-pilot']
    assert run_cli(*common, '--alpha', 0, '--out', plain).returncode == 0
    assert run_cli(*common, '--alpha', 0.8, '--out', heat).returncode == 0
    plain_frames, _ = read_video(plain)
    heat_frames, _ = read_video(heat)
    assert len(plain_frames) == len(heat_frames) == 6
    expected = camera_frames(small_tub, range(3, 9)).repeat(2, axis=1).repeat(2, axis=2)
    top, _ = picture_rows(plain_frames[0], 240, 2)
    # with alpha 0 the pictures are the camera frames, from record 3 on, in order, nothing written over them
    error = np.abs(plain_frames[:, top:top + 240].astype(int) - expected).mean(axis=(1, 2, 3))
    assert np.all(error < 6), error
    # with alpha 0.8 the heat map changes the picture a lot
    change = np.abs(heat_frames[:, top:top + 240].astype(int) - plain_frames[:, top:top + 240]).mean()
    assert change > 20


def test_saved_maps_match_the_pilot_and_the_records(small_tub, sample_pilot_path, tmp_path):
    maps_file = tmp_path / 'maps.npz'
    result = run_cli('--tub', small_tub, '--model', sample_pilot_path, '--out', tmp_path / 'v.mp4',
                     '--save-maps', maps_file, '--start', 10, '--end', 30, '--batch-size', 7)
    assert result.returncode == 0, result.stderr
    saved = np.load(maps_file)
    assert saved['maps'].shape == (20, 120, 160) and saved['maps'].dtype == np.float32
    assert saved['maps'].min() >= 0 and saved['maps'].max() <= 1
    assert np.allclose(saved['maps'].max(axis=(1, 2)), 1.0)
    assert saved['index'].tolist() == list(range(10, 30))
    expected = car_outputs('linear', sample_pilot_path, camera_frames(small_tub, (10, 29)))
    for position, (angle, throttle) in zip((0, 19), expected):  # donkeycar's own inference path
        assert saved['angle'][position] == pytest.approx(angle, abs=1e-4)
        assert saved['throttle'][position] == pytest.approx(throttle, abs=1e-4)


def test_gif_output(small_tub, sample_pilot_path, tmp_path):
    out = tmp_path / 'clip.gif'
    result = run_cli('--tub', small_tub, '--model', sample_pilot_path, '--out', out, '--end', 5, '--scale', 1)
    assert result.returncode == 0, result.stderr
    import imageio.v3 as iio
    frames = iio.imread(out, index=None)
    assert_video_size(frames, 5, (120, 160), scale=1)


def test_makemovie_flags_and_config(small_tub, sample_pilot_path, tmp_path):
    car = tmp_path / 'car'
    car.mkdir()
    (car / 'config.py').write_text('IMAGE_W = 160\nIMAGE_H = 120\nIMAGE_DEPTH = 3\nDRIVE_LOOP_HZ = 15\n'
                                   'TRANSFORMATIONS = []\nPOST_TRANSFORMATIONS = []\n'
                                   'MODEL_CATEGORICAL_MAX_THROTTLE_RANGE = 0.8\n')
    (car / 'myconfig.py').write_text('DRIVE_LOOP_HZ = 12\n')
    out = tmp_path / 'movie.mp4'
    result = run_cli('--tub', small_tub, '--model', sample_pilot_path, '--type', 'linear', '--salient',
                     '--config', car / 'config.py', '--start', 2, '--end', 8, '--scale', 3, '--out', out)
    assert result.returncode == 0, result.stderr
    frames, fps = read_video(out)
    assert_video_size(frames, 6, (360, 480), scale=3)
    assert fps == 12  # myconfig.py overrides config.py, as on the car


def test_car_transformations_are_what_the_pilot_sees(small_tub, sample_pilot_path, tmp_path):
    car = tmp_path / 'car'
    car.mkdir()
    (car / 'config.py').write_text("TRANSFORMATIONS = ['CROP']\nROI_CROP_TOP = 50\nROI_CROP_BOTTOM = 0\n"
                                   'ROI_CROP_LEFT = 0\nROI_CROP_RIGHT = 0\nDRIVE_LOOP_HZ = 20\n')
    maps_file = tmp_path / 'maps.npz'
    result = run_cli('--tub', small_tub, '--model', sample_pilot_path, '--config', car / 'config.py',
                     '--end', 4, '--out', tmp_path / 'v.mp4', '--save-maps', maps_file)
    assert result.returncode == 0, result.stderr
    saved = np.load(maps_file)
    from donkey_saliency.core import carconfig
    cfg, _ = carconfig.load(str(car / 'config.py'))  # donkeycar's load_config and parts, or their twins
    crop = carconfig.transformer(cfg)
    image = camera_frames(small_tub, [0])[0]
    (masked_angle, _), (plain_angle, _) = car_outputs('linear', sample_pilot_path, [crop.run(image), image])
    assert abs(masked_angle - plain_angle) > 1e-3  # the crop matters to this pilot ...
    assert saved['angle'][0] == pytest.approx(masked_angle, abs=1e-4)  # ... and the command applied it
    assert saved['maps'].shape[1:] == (120, 160)  # drawn over the full camera frame


@pytest.mark.parametrize('kind', ['categorical', 'inferred', 'savedmodel', 'keras'])
def test_other_pilot_types_and_formats(small_tub, saved_pilots, tmp_path, kind):
    if kind not in saved_pilots:
        pytest.skip(f'Keras 3 (donkeycar 5.4) has no {kind} format')
    maps_file = tmp_path / 'maps.npz'
    result = run_cli('--tub', small_tub, '--model', saved_pilots[kind], '--end', 6, '--out', tmp_path / 'v.mp4',
                     '--save-maps', maps_file)
    assert result.returncode == 0, result.stderr
    expected_kind = 'linear' if kind in ('savedmodel', 'keras') else kind
    assert f'pilot: {expected_kind} (vbp)' in result.stdout
    saved = np.load(maps_file)
    # the pilot as the car loads and runs it
    expected = car_outputs(expected_kind, saved_pilots[kind], camera_frames(small_tub, range(6)))
    np.testing.assert_allclose(saved['angle'], expected[:, 0], atol=1e-5)
    np.testing.assert_allclose(saved['throttle'], expected[:, 1], atol=1e-5)


def test_bad_records_are_skipped_and_reported(small_tub, sample_pilot_path, tmp_path):
    tub = tmp_path / 'tub'
    shutil.copytree(small_tub, tub)
    os.remove(tub / 'images' / '4_cam_image_array_.jpg')
    catalog = tub / 'catalog_0.catalog'
    catalog.write_bytes(catalog.read_bytes()[:-30])
    before = tree_digest(tub)
    out = tmp_path / 'v.mp4'
    result = run_cli('--tub', tub, '--model', sample_pilot_path, '--out', out)
    assert result.returncode == 0, result.stderr
    assert len(read_video(out)[0]) == 38
    assert '1 missing or unreadable images' in result.stdout and '1 unreadable catalog lines' in result.stdout
    assert tree_digest(tub) == before


def test_several_tubs_play_one_after_the_other(small_tub, sample_pilot_path, tmp_path):
    maps_file = tmp_path / 'maps.npz'
    result = run_cli('--tub', small_tub, '--tub', small_tub, '--model', sample_pilot_path,
                     '--out', tmp_path / 'v.mp4', '--save-maps', maps_file, '--start', 35, '--end', 45)
    assert result.returncode == 0, result.stderr
    assert np.load(maps_file)['index'].tolist() == [35, 36, 37, 38, 39, 0, 1, 2, 3, 4]


def test_demo_runs_on_the_bundled_sample(tmp_path):
    before = tree_digest(sample.TUB)
    result = run_cli('--demo', '--end', 30, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    frames, fps = read_video(tmp_path / 'demo.mp4')
    assert_video_size(frames, 30, (240, 320))
    assert fps == 20
    assert tree_digest(sample.TUB) == before


def test_entry_points_agree(tmp_path):
    pytest.importorskip('donkeycar')  # the `donkey` command is donkeycar's
    bin_dir = os.path.dirname(sys.executable)
    donkey_help = subprocess.run([os.path.join(bin_dir, 'donkey'), 'saliency', '--help'],
                                 capture_output=True, text=True, timeout=120)
    script_help = subprocess.run([os.path.join(bin_dir, 'donkey-saliency'), '--help'],
                                 capture_output=True, text=True, timeout=120)
    module_help = subprocess.run([sys.executable, '-m', 'donkey_saliency', '--help'],
                                 capture_output=True, text=True, timeout=120)
    for result in (donkey_help, script_help, module_help):
        assert result.returncode == 0 and '--save-maps' in result.stdout and '--salient' in result.stdout
    makemovie = subprocess.run([os.path.join(bin_dir, 'donkey'), 'makemovie', '--help'],
                               capture_output=True, text=True, timeout=120)
    assert makemovie.returncode == 0 and 'usage: makemovie' in makemovie.stdout
    listing = subprocess.run([os.path.join(bin_dir, 'donkey')], capture_output=True, text=True, timeout=120)
    assert "'makemovie'" in listing.stderr  # donkeycar's own commands still answer


def test_donkey_saliency_runs_a_job_through_donkey(small_tub, sample_pilot_path, tmp_path):
    pytest.importorskip('donkeycar')  # the `donkey` command is donkeycar's
    donkey = os.path.join(os.path.dirname(sys.executable), 'donkey')
    result = subprocess.run([donkey, 'saliency', '--tub', str(small_tub), '--model', str(sample_pilot_path),
                             '--end', '3', '--out', str(tmp_path / 'v.mp4'), '--no-progress'],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(read_video(tmp_path / 'v.mp4')[0]) == 3


def test_car_image_size_is_honoured(small_tub, tmp_path):
    """A car that records 160x120 but is configured for 120x90: frames are resized as donkeycar's training does."""
    save_pilot(keras_pilot('linear', IMAGE_H=90, IMAGE_W=120), tmp_path / 'p.h5')
    car = tmp_path / 'car'
    car.mkdir()
    (car / 'config.py').write_text('IMAGE_W = 120\nIMAGE_H = 90\nIMAGE_DEPTH = 3\nDRIVE_LOOP_HZ = 20\n')
    maps_file, out = tmp_path / 'maps.npz', tmp_path / 'v.mp4'
    result = run_cli('--tub', small_tub, '--model', tmp_path / 'p.h5', '--config', car / 'config.py', '--end', 4,
                     '--out', out, '--save-maps', maps_file)
    assert result.returncode == 0, result.stderr
    assert_video_size(read_video(out)[0], 4, (180, 240))
    assert np.load(maps_file)['maps'].shape == (4, 90, 120)


def test_an_odd_camera_width_makes_a_video_one_band_column_wider(small_tub, tmp_path):
    """H.264 in yuv420p takes even sizes only: a car configured for 121x91 at --scale 1 gets its video, the
    picture whole at the left and one column of the dark band at the right (it failed in the encoder before)."""
    save_pilot(keras_pilot('linear', IMAGE_H=91, IMAGE_W=121), tmp_path / 'p.h5')
    car = tmp_path / 'car'
    car.mkdir()
    (car / 'config.py').write_text('IMAGE_W = 121\nIMAGE_H = 91\nIMAGE_DEPTH = 3\nDRIVE_LOOP_HZ = 20\n')
    out = tmp_path / 'v.mp4'
    result = run_cli('--tub', small_tub, '--model', tmp_path / 'p.h5', '--config', car / 'config.py', '--end', 3,
                     '--out', out, '--scale', '1', '--alpha', '0', '--no-user', '--no-pilot')
    assert result.returncode == 0, result.stderr
    frames, _ = read_video(out)
    assert len(frames) == 3 and frames.shape[2] == 122 and frames.shape[1] % 2 == 0, frames.shape
    top, _ = picture_rows(frames[0], 91, 1)
    camera = cv2.resize(camera_frames(small_tub, [0])[0], (121, 91), interpolation=cv2.INTER_AREA)
    assert np.abs(frames[0, top:top + 91, :121].astype(int) - camera).mean() < 8  # the whole picture, in place
    brightness = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY).astype(int)  # (yuv420p shares colour by pixel pairs)
    assert np.abs(brightness[top + 4:top + 87, -1] - 24).mean() < 8  # the band's dark grey


def test_greyscale_pilot_gets_grey_frames_and_a_colour_video(small_tub, tmp_path):
    pilot = keras_pilot('linear', IMAGE_DEPTH=1)
    save_pilot(pilot, tmp_path / 'grey.h5')
    maps_file, out = tmp_path / 'maps.npz', tmp_path / 'v.mp4'
    result = run_cli('--tub', small_tub, '--model', tmp_path / 'grey.h5', '--end', 3, '--out', out,
                     '--save-maps', maps_file)
    assert result.returncode == 0, result.stderr
    image = camera_frames(small_tub, [0])[0]
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None]
    angle, _ = pilot.run(grey)
    assert np.load(maps_file)['angle'][0] == pytest.approx(angle, abs=1e-4)
    frames, _ = read_video(out)
    assert_video_size(frames, 3, (240, 320))
    assert np.abs(frames[..., 0].astype(int) - frames[..., 2]).mean() > 3


@pytest.mark.parametrize('kind', ['linear', 'rnn'])
def test_a_bad_image_mid_batch_keeps_records_outputs_and_maps_aligned(small_tub, tmp_path, kind):
    """Record 4's image is lost: every saved row still belongs to its record (index, pilot output, map), and a
    sequence pilot's history runs on over the frames that were read, as the car's part would over them."""
    tub = tmp_path / 'tub'
    shutil.copytree(small_tub, tub)
    os.remove(tub / 'images' / '4_cam_image_array_.jpg')
    model_path = tmp_path / f'{kind}.h5'
    save_pilot(keras_pilot(kind, SEQUENCE_LENGTH=3), model_path)
    result = run_cli('--tub', tub, '--model', model_path, '--end', 10, '--batch-size', 4, '--out', tmp_path / 'v.mp4',
                     '--save-maps', tmp_path / 'm.npz')
    assert result.returncode == 0, result.stderr
    saved = np.load(tmp_path / 'm.npz')
    kept = [i for i in range(10) if i != 4]
    assert saved['index'].tolist() == kept
    images = camera_frames(small_tub, kept)
    np.testing.assert_allclose(saved['angle'], car_outputs(kind, model_path, images, SEQUENCE_LENGTH=3)[:, 0],
                               atol=1e-5)
    if kind == 'linear':
        import donkey_saliency as ds
        np.testing.assert_allclose(saved['maps'], ds.saliency(ds.load_pilot(model_path), images).maps, atol=1e-4)
