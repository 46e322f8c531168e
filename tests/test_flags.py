"""Every flag that shapes the maps or the video, run through the command and checked for its effect: the map
settings equal the API's with the same settings (so the flag reached the method), and the rest show in the
saved maps or in the decoded video."""
import shutil

import numpy as np
import pytest

from conftest import assert_video_size, read_video, run_main, tub_records
from donkey_saliency import sample

import donkey_saliency as ds

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

END = 5


@pytest.fixture(scope='module')
def frames(small_tub):
    """The tub's first camera frames, as the command reads them."""
    import cv2
    images = [cv2.cvtColor(cv2.imread(str(small_tub / 'images' / r['cam/image_array'])), cv2.COLOR_BGR2RGB)
              for r in tub_records(small_tub)[:END]]
    return np.stack(images)


def saved_maps(small_tub, tmp_path, *flags):
    result = run_main('--tub', small_tub, '--model', sample.MODEL, '--end', END, '--out', tmp_path / 'v.mp4',
                     '--save-maps', tmp_path / 'maps.npz', *flags)
    assert result.returncode == 0, result.stderr
    return np.load(tmp_path / 'maps.npz')


@pytest.mark.parametrize('method, flags, settings', [
    ('smoothgrad', ['--samples', '4', '--noise', '0.3'], {'samples': 4, 'noise': 0.3}),
    ('integrated-gradients', ['--steps', '4'], {'steps': 4}),
    ('occlusion', ['--window', '30', '--stride', '15'], {'window': 30, 'stride': 15}),
    ('gradcam', ['--layer', '2'], {'layer': 2}),  # (the default, 'auto', is the third conv layer here)
])
def test_method_settings_reach_the_method(small_tub, tmp_path, frames, method, flags, settings):
    maps = saved_maps(small_tub, tmp_path, '--method', method, *flags)['maps']
    pilot = ds.load_pilot(sample.MODEL)
    np.testing.assert_allclose(maps, ds.saliency(pilot, frames, method=method, **settings).maps, atol=1e-4)
    default = ds.saliency(pilot, frames, method=method).maps
    assert np.abs(maps - default).max() > 0.05  # and they change the map


def test_output_throttle_all_and_the_sign_flags(small_tub, tmp_path, frames):
    pilot = ds.load_pilot(sample.MODEL)
    throttle = saved_maps(small_tub, tmp_path, '--method', 'gradients', '--output', 'throttle')['maps']
    assert throttle.min() >= 0  # throttle maps are unsigned by default
    np.testing.assert_allclose(throttle, ds.saliency(pilot, frames, method='gradients', output='throttle').maps,
                               atol=1e-4)
    signed = saved_maps(small_tub, tmp_path, '--method', 'gradients', '--output', 'throttle', '--signed')['maps']
    assert signed.min() < 0 and np.allclose(np.abs(signed) > 0, throttle > 0)
    unsigned = saved_maps(small_tub, tmp_path, '--method', 'gradients', '--unsigned')['maps']
    assert unsigned.min() >= 0
    both = saved_maps(small_tub, tmp_path, '--method', 'gradients', '--output', 'all')
    assert both['maps'].min() < 0 and both['maps_gradients_throttle'].min() >= 0  # angle first, then throttle
    video, _ = read_video(tmp_path / 'v.mp4')
    assert_video_size(video, END, (240, 320), panels=3)  # camera | steering | throttle


def test_fps(small_tub, tmp_path):
    result = run_main('--tub', small_tub, '--model', sample.MODEL, '--end', END, '--fps', 7, '--out', tmp_path / 'a.mp4')
    assert result.returncode == 0, result.stderr
    assert read_video(tmp_path / 'a.mp4')[1] == 7


def test_the_config_found_in_the_folder_sets_the_fps(small_tub, tmp_path):
    pytest.importorskip('donkeycar', reason="the car's config.py is donkeycar 5.3's template (not on Python 3.12)")
    car = tmp_path / 'car'
    car.mkdir()
    shutil.copy(__import__('donkeycar').__file__.replace('__init__.py', 'templates/cfg_complete.py'), car / 'config.py')
    (car / 'myconfig.py').write_text('DRIVE_LOOP_HZ = 9\n')
    result = run_main('--tub', small_tub, '--model', sample.MODEL, '--end', END, '--out', 'b.mp4', cwd=car)
    assert result.returncode == 0, result.stderr
    assert read_video(car / 'b.mp4')[1] == 9  # ./config.py and its myconfig.py were read without --config


@pytest.mark.parametrize('command, typed, meant', [
    ((), '--metod', '--method'), (('report',), '--modle', '--model'), (('evaluate',), '--framez=4', '--frames'),
    ((), '--zzz', None)])
def test_a_misspelt_flag_names_the_flag_meant(command, typed, meant, tmp_path):
    """One line, exit 2, before anything is read or written; a flag close to none is named alone."""
    result = run_main(*command, '--tub', tmp_path, typed, 'x', '--out', tmp_path / 'out.mp4')
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f'unrecognized arguments: {typed}' in result.stderr
    assert ('did you mean' in result.stderr) == bool(meant) and (not meant or f'did you mean {meant}?' in result.stderr)
    assert list(tmp_path.iterdir()) == []
