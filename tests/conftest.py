"""Shared fixtures: real tubs written with donkeycar's Tub, real pilots from donkeycar's get_model_by_type."""
import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from donkey_saliency import sample, synthetic

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / 'shared' / 'data' / 'shimoda_realcar_v2'
# every file the tests read from it: a partial copy skips as cleanly as a missing one
SHARED_READY = all((SHARED / name).is_file() for name in ('data/manifest.json', 'data/catalog_0.catalog',
                                                           'data/catalog_2.catalog', 'models/final_1.tflite'))
SHARED_ABSENT = '../shared/data/shimoda_realcar_v2 is not (wholly) beside this clone'


def run_cli(*args, cwd=None):
    """Run `python -m donkey_saliency ARGS` as a user would, without a progress bar; `evaluate ...`,
    `report ...`, `mirror ...` and `export ...` as their subcommands (export has no bar). Returns the
    CompletedProcess."""
    args = [str(arg) for arg in args]
    command = args[:1] if args[:1] in (['evaluate'], ['report'], ['mirror'], ['export']) else []
    quiet = [] if command == ['export'] else ['--no-progress']
    return subprocess.run([sys.executable, '-m', 'donkey_saliency', *command, *quiet, *args[len(command):]],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def assert_maps_close(actual, expected, atol):
    """Raw maps (unscaled) compared on each frame's own scale: both divided by the expected frame's peak."""
    expected = np.asarray(expected, np.float64)
    peak = np.abs(expected).reshape(len(expected), -1).max(axis=1).reshape(-1, 1, 1)
    assert np.all(peak > 0), 'an expected map is blank'
    np.testing.assert_allclose(np.asarray(actual, np.float64) / peak, expected / peak, atol=atol)


def tree_digest(path):
    """A hash of every folder's name and every file's name and bytes under `path`: equal before and after means
    untouched (an empty folder made inside counts too)."""
    digest = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        digest.update(b'folder:' + os.path.relpath(folder, path).encode())
        for name in sorted(files):
            full = os.path.join(folder, name)
            digest.update(os.path.relpath(full, path).encode())
            with open(full, 'rb') as f:
                digest.update(f.read())
    return digest.hexdigest()


def read_video(path):
    """Decode a video back into (frames (N, H, W, 3) uint8, fps)."""
    import imageio_ffmpeg
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta['size']
    frames = [np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader]
    return np.stack(frames), meta['fps']


def picture_rows(frame, height, scale):
    """(top, bottom) of the pictures in a video frame, below the label band whose height the layout gives."""
    from donkey_saliency.offline.draw import label_height
    top = label_height(scale)
    assert frame.shape[0] > top + height, frame.shape
    return top, top + height


def assert_video_size(frames, count, picture, panels=1, scale=2):
    """`count` frames of `panels` pictures side by side, each `picture` (height, width) at `scale`, between a
    label band above (uniform but for its text, which never reaches the frame's outer columns) and a band of
    words below."""
    height, width = picture
    assert len(frames) == count and frames.shape[2] == panels * width, frames.shape
    top, bottom = picture_rows(frames[0], height, scale)
    label_edges = np.concatenate([frames[0, :top - 3, :3], frames[0, :top - 3, -3:]], axis=1).astype(int)
    assert np.abs(label_edges - 24).max() <= 12  # the band's dark grey (a few rows of codec blur left out)
    assert frames.shape[1] > bottom + 8, frames.shape  # room for the words below


def keras_pilot(kind, **cfg_values):
    """A donkeycar pilot of `kind`, built by donkeycar's get_model_by_type with its template config.

    In the Keras 3 environment (no donkeycar: upstream's stack) the tests that need one are skipped there; they
    run in the main environment."""
    pytest.importorskip('donkeycar')
    from donkey_saliency.core import carconfig
    from donkeycar.utils import get_model_by_type
    cfg, _ = carconfig.load(None)
    for key, value in cfg_values.items():
        setattr(cfg, key, value)
    return get_model_by_type(kind, cfg)


class CarConfig:
    """A car config holding just the keys given (the car part reads the rest from its defaults)."""

    def __init__(self, **keys):
        self.__dict__.update(keys)


def car_pilot(kind, path):
    """The pilot as the car builds and loads it: donkeycar's part of `kind` (tflite_... for a .tflite)."""
    from donkeycar.utils import get_model_by_type
    from donkey_saliency.core import carconfig
    cfg, _ = carconfig.load(None)
    kl = get_model_by_type(kind, cfg)
    kl.load(str(path))
    return kl


@pytest.fixture(scope='session')
def sample_files(tmp_path_factory):
    """The sample pilot as .h5, as donkeycar's plain .tflite, and as a twin exported with --gradcam."""
    pytest.importorskip('donkeycar')
    from donkeycar.parts.interpreter import keras_to_tflite
    from donkey_saliency.car.export import export
    from donkey_saliency.core.pilot import load_pilot
    folder = tmp_path_factory.mktemp('sample_files')
    pilot = load_pilot(sample.MODEL)
    keras_to_tflite(pilot.model, str(folder / 'pilot.tflite'))
    export(pilot, str(folder / 'pilot.saliency.tflite'), gradcam=True)
    return {'h5': sample.MODEL, 'plain': str(folder / 'pilot.tflite'), 'twin': str(folder / 'pilot.saliency.tflite')}


@pytest.fixture(scope='session')
def small_tub(tmp_path_factory):
    """40 records of the synthetic road at 50 Hz."""
    pytest.importorskip('donkeycar')  # tubs are written with donkeycar's Tub
    return synthetic.write_tub(tmp_path_factory.mktemp('tubs') / 'small', synthetic.drive(40, seed=1), hz=50.0)


@pytest.fixture(scope='session')
def sample_pilot_path():
    return sample.MODEL


@pytest.fixture(scope='session')
def saved_pilots(tmp_path_factory):
    """Untrained linear, categorical and inferred pilots saved as .h5, and the linear one as .savedmodel and
    .keras."""
    folder = tmp_path_factory.mktemp('pilots')
    paths = {}
    for kind in ('linear', 'categorical', 'inferred'):
        pilot = keras_pilot(kind)
        paths[kind] = folder / f'{kind}.h5'
        pilot.interpreter.model.save(paths[kind])
    paths['savedmodel'] = folder / 'linear.savedmodel'
    keras_pilot('linear').interpreter.model.save(paths['savedmodel'])
    paths['keras'] = folder / 'linear.keras'
    keras_pilot('linear').interpreter.model.save(paths['keras'])
    return paths


def limited_file_size(limit):
    """For subprocess's preexec_fn: files of at most `limit` bytes, and SIGXFSZ ignored, so that a write past it
    fails with EFBIG as on a full disk: works everywhere, where mounting a small file system may not."""
    def limit_files():
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limit_files


def assert_disk_full(result, folder, written):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and f'no space left on device writing {written}' in lines[0], result.stderr
    assert os.listdir(folder) == []


def records_of(tub):
    """Every record of a tub, read with donkeycar's Tub."""
    from donkeycar.parts.tub_v2 import Tub
    opened = Tub(str(tub), read_only=True)
    records = list(opened)
    opened.close()
    return records


def mirrored(source, destination):
    """A copy of a tub with every image mirrored and every steering angle negated, written with donkeycar's Tub
    (a plain numpy flip: the test's own, independent of any mirror command)."""
    import cv2
    scenes = []
    for record in records_of(source):
        image = cv2.imread(os.path.join(source, 'images', record['cam/image_array']))[:, ::-1, ::-1]
        scenes.append(synthetic.Scene(np.ascontiguousarray(image), -record['user/angle'], record['user/throttle'],
                                      None, None))
    return synthetic.write_tub(destination, scenes, hz=1000)


@pytest.fixture(scope='session')
def one_way(tmp_path_factory):
    """A clockwise track marked by its inside line, and a pilot trained on it with donkeycar's own training."""
    pytest.importorskip('donkeycar')
    from donkey_saliency import training
    folder = tmp_path_factory.mktemp('one_way')
    tub = synthetic.write_tub(folder / 'tub', synthetic.drive(400, seed=7, one_way=True), hz=1000)
    training.train('linear', tub, folder / 'pilot.h5', epochs=10, seed=0)
    return tub, folder / 'pilot.h5'
