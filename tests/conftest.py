"""Shared fixtures: real tubs written with donkeycar's Tub, real pilots from donkeycar's get_model_by_type.

On upstream's Keras 3 stack (Python 3.12), where donkeycar does not install, tubs are written by this package's
writer of the same files (tub/write.py, checked against donkeycar's Tub on 3.11), and pilots are still
donkeycar's: built by get_model_by_type in a Python that has donkeycar 5.3 (tests/keras2_pilots.py), saved as
.h5 by Keras 2 as 5.3 saves them, and loaded here by Keras 3, as a 5.4 user's old pilots are.
"""
import atexit
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from donkey_saliency import sample, synthetic
from donkey_saliency.kernels import prefer_onednn

prefer_onednn()  # the kernels the command asks for (cli.main), in this process and its children, whichever runs first

# The tests stand for a user at a terminal, whose Ctrl-C reaches what they start. A suite started in the
# background by a script (`pytest &`, which a shell without job control runs with SIGINT ignored) would hand that
# ignored SIGINT to every car and command it starts, and their Ctrl-C tests would fail for no fault of theirs.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# The files whose set-up is longest (fresh venvs, pilots trained for their known answers) go first, so that the
# two workers of `pytest -n 2 --dist loadfile` (pytest.ini) start them at once and the short files fill in
# beside them, instead of one long file running alone at the end.
LONGEST_FIRST = ('test_install.py', 'test_advice_every_pilot.py', 'test_counterfactual.py', 'test_broken_tubs.py',
                 'test_model_types.py', 'test_report.py', 'test_command.py', 'test_folders.py', 'test_signals.py')


def pytest_collection_modifyitems(items):
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))  # stable: each file keeps its order


def from_a_terminal():
    """For subprocess's preexec_fn: the child hears a hang-up, as a command started at a terminal does. A suite
    started under `nohup` ignores SIGHUP, rightly, and would hand that to what it starts, whose hang-up tests
    would fail for no fault of theirs (the suite itself keeps ignoring it: its terminal may close)."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / 'shared' / 'data' / 'shimoda_realcar_v2'
# every file the tests read from it: a partial copy skips as cleanly as a missing one
SHARED_READY = all((SHARED / name).is_file() for name in ('data/manifest.json', 'data/catalog_0.catalog',
                                                           'data/catalog_2.catalog', 'models/final_1.tflite'))
SHARED_ABSENT = '../shared/data/shimoda_realcar_v2 is not (wholly) beside this clone'


def cli_argv(args):
    """ARGS as the command takes them, without a progress bar; `evaluate ...`, `report ...`, `mirror ...`,
    `calibrate ...` and `export ...` as their subcommands (export has no bar)."""
    args = [str(arg) for arg in args]
    command = args[:1] if args[:1] in (['evaluate'], ['report'], ['mirror'], ['export'], ['calibrate']) else []
    quiet = [] if command == ['export'] else ['--no-progress']
    return [*command, *quiet, *args[len(command):]]


def run_cli(*args, cwd=None):
    """Run `python -m donkey_saliency ARGS` as a user would (cli_argv). Returns the CompletedProcess."""
    return subprocess.run([sys.executable, '-m', 'donkey_saliency', *cli_argv(args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def run_main(*args, cwd=None):
    """What run_cli runs, in this process: `cli.main(ARGS, prog='donkey-saliency')`, the call `python -m
    donkey_saliency` makes once it has checked the `donkey` hook (cli.console), its stdout and stderr captured.
    For tests whose point is what a run writes (files, its summary on stdout), not the process: each saves the
    seconds of Python and TensorFlow start-up a subprocess pays. Whatever is about the process itself (the exit
    code the OS sees, signals, stderr holding one line and nothing else, no traceback, entry points) stays with
    run_cli. Python warnings and what native code writes to the file descriptors are not in its stderr. Returns
    a CompletedProcess, as run_cli does."""
    import contextlib
    import io
    from donkey_saliency import stopping
    from donkey_saliency.cli import main
    argv, stdout, stderr, here = cli_argv(args), io.StringIO(), io.StringIO(), os.getcwd()
    handlers = {number: signal.getsignal(number) for number in stopping.STOPPING}
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            if cwd is not None:
                os.chdir(cwd)
            try:
                code = main(argv, prog='donkey-saliency')
            except SystemExit as exit:  # argparse's own refusals, as sys.exit ends the process with them
                code = exit.code
    finally:
        os.chdir(here)
        stopped = list(stopping._stopped)  # a stop leaves the signals ignored until exit: the process's, not ours
        stopping._stopped.clear()
        for number, handler in handlers.items():
            signal.signal(number, handler)
    if stopped:  # the run was stopped by a Ctrl-C (or SIGTERM) meant for the test session: stop it too
        raise KeyboardInterrupt
    return subprocess.CompletedProcess(['donkey-saliency', *argv], code, stdout.getvalue(), stderr.getvalue())


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
    from donkey_saliency.draw import label_height
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


HAS_DONKEYCAR = importlib.util.find_spec('donkeycar') is not None
DONKEYCAR_PYTHON = 'DONKEY_SALIENCY_DONKEYCAR_PYTHON'  # a Python with donkeycar 5.3, for the Keras 3 stack's tests


def donkeycar_python():
    """A Python that has donkeycar 5.3: $DONKEY_SALIENCY_DONKEYCAR_PYTHON, else this clone's .venv (the README's
    test command makes it, and .ci/run before the Keras 3 step); None when there is none."""
    probe = 'import importlib.util, sys; sys.exit(importlib.util.find_spec("donkeycar") is None)'
    for python in (os.environ.get(DONKEYCAR_PYTHON), str(ROOT / '.venv' / 'bin' / 'python')):
        if python and os.path.exists(python) and subprocess.run([python, '-c', probe]).returncode == 0:
            return python
    return None


class Keras2Pilots:
    """tests/keras2_pilots.py in the donkeycar 5.3 Python, started on first use, once per session: builds
    donkeycar's pilots as Keras 2 .h5 files (cached by type and settings) and records the 5.3 stack's answers."""

    def __init__(self):
        self.process, self.folder, self.built = None, None, {}
        self.sources = {}  # a file Keras 3 saved a pilot to -> the Keras 2 .h5 it was loaded from

    def start(self):
        if self.process is None:
            python = donkeycar_python()
            if python is None:
                pytest.skip(f'no Python with donkeycar 5.3 to build donkeycar\'s pilots: make .venv (the README\'s '
                            f'test command) or set {DONKEYCAR_PYTHON}')
            self.folder = tempfile.mkdtemp(prefix='keras2-pilots-')
            env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL='3')
            self.process = subprocess.Popen([python, str(ROOT / 'tests' / 'keras2_pilots.py')], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, text=True, env=env)
            atexit.register(self.close)

    def ask(self, **request):
        self.start()
        self.process.stdin.write(json.dumps(request) + '\n')
        self.process.stdin.flush()
        reply = ''
        while not reply.startswith(('ok', 'error')):  # anything else on its stdout is a library's chatter
            reply = self.process.stdout.readline()
            assert reply, 'tests/keras2_pilots.py ended'
        assert reply.startswith('ok'), f'donkeycar 5.3 answered {reply.strip()} to {request}'

    def h5(self, kind, **cfg_values):
        """The path of donkeycar's pilot of `kind`, built with these config values and saved by Keras 2."""
        key = json.dumps([kind, cfg_values], sort_keys=True)
        if key not in self.built:
            self.start()
            path = os.path.join(self.folder, f'{kind}-{len(self.built)}.h5')
            self.ask(build=kind, cfg=cfg_values, path=path)
            self.built[key] = path
        return self.built[key]

    def car_outputs(self, kind, path, images, **cfg_values):
        """donkeycar 5.3's part of `kind` loading `path` (or the Keras 2 file it was saved from) run on each image."""
        self.start()
        source = self.sources.get(str(Path(path).resolve()), str(path))
        names = [os.path.join(self.folder, f'run-{len(os.listdir(self.folder))}-{n}.npy') for n in ('in', 'out')]
        np.save(names[0], np.asarray(images, np.uint8))
        self.ask(run=kind, cfg=cfg_values, path=source, images=names[0], out=names[1])
        return np.load(names[1])

    def close(self):
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait(timeout=60)
            shutil.rmtree(self.folder, ignore_errors=True)
            self.process = None


KERAS2_PILOTS = Keras2Pilots()


def keras_pilot(kind, **cfg_values):
    """A donkeycar pilot of `kind`, built by donkeycar's get_model_by_type with its template config.

    Without donkeycar (upstream's Keras 3 stack), donkeycar 5.3 builds it in its own Python (Keras2Pilots) and
    Keras 3 loads the .h5: what is returned then holds the model where donkeycar's part does
    (`.interpreter.model`), and its `run` is donkeycar 5.3's part running that .h5."""
    if not HAS_DONKEYCAR:
        from donkey_saliency.core.pilot import keras2_layers
        from donkey_saliency.quiet import import_tensorflow
        source = KERAS2_PILOTS.h5(kind, **cfg_values)
        model = import_tensorflow().keras.models.load_model(source, compile=False, custom_objects=keras2_layers())
        return SimpleNamespace(interpreter=SimpleNamespace(model=model), source=source,
                               run=lambda image: KERAS2_PILOTS.car_outputs(kind, source, [image], **cfg_values)[0])
    from donkey_saliency.core import carconfig
    from donkeycar.utils import get_model_by_type
    cfg, _ = carconfig.load(None)
    for key, value in cfg_values.items():
        setattr(cfg, key, value)
    return get_model_by_type(kind, cfg)


def save_pilot(pilot, path):
    """Save a keras_pilot's model to `path`; on the Keras 3 stack, remember the Keras 2 file it came from, which
    car_outputs then gives donkeycar 5.3 (Keras 2 cannot read what Keras 3 writes)."""
    pilot.interpreter.model.save(path)
    if not HAS_DONKEYCAR:
        KERAS2_PILOTS.sources[str(Path(path).resolve())] = pilot.source


def car_outputs(kind, path, images, **cfg_values):
    """(N, 2) angle and throttle of donkeycar's own part of `kind` (config values as given) loading `path` and
    running each uint8 image as the car does: in this Python, or in donkeycar 5.3's where this one has none."""
    if not HAS_DONKEYCAR:
        return KERAS2_PILOTS.car_outputs(kind, path, images, **cfg_values)
    car = keras_pilot(kind, **cfg_values)
    car.load(str(path))
    return np.array([car.run(image)[:2] for image in images], np.float64)


def tub_records(path):
    """The records of the v2 tub at `path` as donkeycar's Tub(read_only=True) gives them: through it where
    donkeycar is installed, else straight from the catalogs' JSON lines, deleted records left out (a reader of
    its own, not the tool's)."""
    if HAS_DONKEYCAR:
        from donkeycar.parts.tub_v2 import Tub
        tub = Tub(str(path), read_only=True)
        records = list(tub)
        tub.close()
        return records
    lines = Path(path, 'manifest.json').read_text().splitlines()
    catalogs = json.loads(lines[4])
    records = [json.loads(line) for name in catalogs['paths']
               for line in Path(path, name).read_text().splitlines() if line]
    return [r for r in records if r['_index'] not in set(catalogs['deleted_indexes'])]


def writable_tub(path):
    """The existing tub at `path` opened to mark deletions (delete_records): donkeycar's Tub, or its twin."""
    from donkey_saliency.tub.write import open_tub_writer
    return open_tub_writer(str(path))


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
    from donkey_saliency.car.convert import keras_to_tflite
    from donkey_saliency.car.export import export
    from donkey_saliency.core.pilot import load_pilot
    folder = tmp_path_factory.mktemp('sample_files')
    pilot = load_pilot(sample.MODEL)
    keras_to_tflite(pilot.model, str(folder / 'pilot.tflite'))
    export(pilot, str(folder / 'pilot.saliency.tflite'), gradcam=True)
    return {'h5': sample.MODEL, 'plain': str(folder / 'pilot.tflite'), 'twin': str(folder / 'pilot.saliency.tflite')}


@pytest.fixture(scope='session')
def small_tub(tmp_path_factory):
    """40 records of the synthetic road at 50 Hz (written with donkeycar's Tub, or its twin without donkeycar)."""
    return synthetic.write_tub(tmp_path_factory.mktemp('tubs') / 'small', synthetic.drive(40, seed=1), hz=50.0)


@pytest.fixture(scope='session')
def sample_pilot_path():
    return sample.MODEL


@pytest.fixture(scope='session')
def saved_pilots(tmp_path_factory):
    """Untrained linear, categorical and inferred pilots saved as .h5, and the linear one as .savedmodel and
    .keras. On Keras 3: the .h5 files as Keras 2 wrote them, no .savedmodel (Keras 3 and donkeycar 5.4 dropped
    it), and .keras written by Keras 3."""
    folder = tmp_path_factory.mktemp('pilots')
    if not HAS_DONKEYCAR:
        paths = {kind: Path(KERAS2_PILOTS.h5(kind)) for kind in ('linear', 'categorical', 'inferred')}
        paths['keras'] = folder / 'linear.keras'
        save_pilot(keras_pilot('linear'), paths['keras'])
        return paths
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


def mirrored(source, destination):
    """A copy of a tub with every image mirrored and every steering angle negated, written with donkeycar's Tub
    (a plain numpy flip: the test's own, independent of any mirror command)."""
    import cv2
    scenes = []
    for record in tub_records(source):
        image = cv2.imread(os.path.join(source, 'images', record['cam/image_array']))[:, ::-1, ::-1]
        scenes.append(synthetic.Scene(np.ascontiguousarray(image), -record['user/angle'], record['user/throttle'],
                                      None, None))
    return synthetic.write_tub(destination, scenes, hz=1000)


@pytest.fixture(scope='session')
def one_way(tmp_path_factory):
    """A clockwise track marked by its inside line, and a pilot trained on it with donkeycar's own training."""
    pytest.importorskip('donkeycar', reason="the pilot is trained by donkeycar 5.3's training (not on Python 3.12)")
    from donkey_saliency import training
    folder = tmp_path_factory.mktemp('one_way')
    tub = synthetic.write_tub(folder / 'tub', synthetic.drive(400, seed=7, one_way=True), hz=1000)
    training.train('linear', tub, folder / 'pilot.h5', epochs=10, seed=0)
    return tub, folder / 'pilot.h5'


# ---- the pages' blocks, as written: tests run what the README and docs/ say --------------------------------------

def fenced_blocks(page, language):
    """The fenced ```language blocks of the markdown file `page` (a path, or one relative to the project's root:
    'README.md', 'docs/car.md'), in order, each as the text between its fences."""
    import re
    path = Path(page) if Path(page).is_absolute() else ROOT / page
    return re.findall(rf'^```{language}\n(.*?)^```', path.read_text(), re.S | re.M)


def fenced_block(page, language, holding):
    """The one fenced ```language block of `page` that holds `holding`. None, or several, fail the test: a block
    that moved to another page takes its test's page name with it (docs/inside.md, "Tests that read the docs")."""
    found = [block for block in fenced_blocks(page, language) if holding in block]
    assert len(found) == 1, f'{page} has {len(found)} ```{language} blocks holding {holding!r}, not one'
    return found[0]
