"""Shared fixtures: real tubs written with donkeycar's Tub, real pilots from donkeycar's get_model_by_type."""
import hashlib
import os
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
    """Run `python -m donkey_saliency ARGS` as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, '-m', 'donkey_saliency', '--no-progress', *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def tree_digest(path):
    """A hash of every file's name and bytes under `path`: equal before and after means untouched."""
    digest = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(path)):
        dirs.sort()
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
