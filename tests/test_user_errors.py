"""Every mistake a user can make: one clear line on stderr, exit code 2, no traceback, nothing written."""
import os
import re
import signal
import subprocess
import sys

import pytest

from conftest import keras_pilot, run_cli, run_main, tree_digest
from donkey_saliency import sample

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)


def assert_user_error(result, folder, *phrases):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and 'Traceback' not in result.stderr, result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    assert os.listdir(folder) == [], os.listdir(folder)  # no video, no temporary file


@pytest.fixture
def out_dir(tmp_path):
    folder = tmp_path / 'out'
    folder.mkdir()
    return folder


@pytest.fixture(scope='module')
def odd_pilots(tmp_path_factory):
    folder = tmp_path_factory.mktemp('odd')
    small = keras_pilot('linear', IMAGE_H=90, IMAGE_W=120)
    small.interpreter.model.save(folder / 'small.h5')
    keras_pilot('imu').interpreter.model.save(folder / 'imu.h5')
    (folder / 'pilot.tflite').write_bytes(b'TFL3')
    (folder / 'notes.h5').write_text('not a model')
    return folder


def test_missing_tub_is_not_created(out_dir, tmp_path):
    result = run_cli('--tub', tmp_path / 'nope', '--model', sample.MODEL, '--out', out_dir / 'v.mp4')
    assert_user_error(result, out_dir, 'tub not found', '--tub')
    assert not (tmp_path / 'nope').exists()


def test_folder_that_is_not_a_tub(out_dir, tmp_path):
    result = run_cli('--tub', out_dir, '--model', sample.MODEL, '--out', out_dir / 'v.mp4')
    assert_user_error(result, out_dir, 'not a tub')


def test_no_tub_given(out_dir):
    assert_user_error(run_cli('--model', sample.MODEL, '--out', out_dir / 'v.mp4'), out_dir, '--tub')


def test_missing_model(out_dir, small_tub):
    result = run_cli('--tub', small_tub, '--model', out_dir / 'x.h5', '--out', out_dir / 'v.mp4')
    assert_user_error(result, out_dir, 'model not found', 'with --model')  # (the API names its argument instead)


def test_no_model_given(out_dir, small_tub):
    assert_user_error(run_cli('--tub', small_tub, '--out', out_dir / 'v.mp4'), out_dir, '--model')


def test_a_broken_tflite_file(out_dir, small_tub, odd_pilots):
    result = run_cli('--tub', small_tub, '--model', odd_pilots / 'pilot.tflite', '--out', out_dir / 'v.mp4')
    assert_user_error(result, out_dir, 'cannot load', 'TFLite')


def test_file_that_is_not_a_model(out_dir, small_tub, odd_pilots):
    result = run_cli('--tub', small_tub, '--model', odd_pilots / 'notes.h5', '--out', out_dir / 'v.mp4')
    assert_user_error(result, out_dir, 'cannot load')


def test_type_that_contradicts_the_file(out_dir, small_tub):
    result = run_cli('--tub', small_tub, '--model', sample.MODEL, '--type', 'categorical',
                     '--out', out_dir / 'v.mp4')
    assert_user_error(result, out_dir, 'contradicts', 'linear')


def test_a_tflite_type_that_contradicts_the_file_is_named_as_typed(out_dir, small_tub, sample_files):
    """The error names the type the user typed, and the one meant in the same form."""
    result = run_main('--tub', small_tub, '--model', sample_files['plain'], '--type', 'tflite_categorical',
                      '--out', out_dir / 'v.mp4')
    assert result.returncode == 2 and '--type tflite_categorical contradicts' in result.stderr, result.stderr
    assert 'pass --type tflite_linear or leave --type out' in result.stderr and list(out_dir.iterdir()) == []


def test_a_tub_without_the_keys_the_pilot_needs(out_dir, small_tub, odd_pilots):
    result = run_cli('--tub', small_tub, '--model', odd_pilots / 'imu.h5', '--out', out_dir / 'v.mp4')
    assert_user_error(result, out_dir, 'imu pilot needs imu/acl_x', 'record 0')


def test_pilot_that_takes_another_image_size(out_dir, small_tub, odd_pilots):
    result = run_cli('--tub', small_tub, '--model', odd_pilots / 'small.h5', '--out', out_dir / 'v.mp4')
    assert_user_error(result, out_dir, '120x90x3', '160x120x3', '--config')


@pytest.mark.parametrize('flags, phrase', [
    (['--out', '{out}/v.avi'], '.mp4 or .gif'),
    (['--out', '{out}/missing/v.mp4'], 'does not exist'),
    (['--out', '{out}'], '.mp4 or .gif'),
    (['--alpha', '2'], '--alpha'),
    (['--scale', '0'], '--scale'),
    (['--batch-size', '0'], '--batch-size'),
    (['--start', '100'], 'no records in range'),
    (['--start', '5', '--end', '5'], 'empty range'),
    (['--method', 'magic'], "unknown method 'magic'; choose one of vbp, gradcam"),
    (['--config', '{out}/config.py'], 'car config not found'),
    (['--save-maps', '{out}/maps.txt'], '.npz'),
    (['--save-maps', '{out}/v.mp4'], 'same file'),
    (['--frobnicate'], 'unrecognized arguments'),
    (['--scale', 'two'], 'invalid int value'),
    (['--method', 'occlusion', '--window', '0'], '--window must be positive'),
    (['--normalize', 'run', '--start', '100'], 'no records in range'),
    (['--clip', '0'], '--clip is a percentile'),
    (['--method', 'smoothgrad', '--samples', 'two'], '--samples takes a whole number'),
])
def test_bad_flags(out_dir, small_tub, flags, phrase):
    flags = [f.format(out=out_dir) for f in flags]
    if '--out' not in flags:
        flags += ['--out', str(out_dir / 'v.mp4')]
    result = run_cli('--tub', small_tub, '--model', sample.MODEL, *flags)
    assert_user_error(result, out_dir, phrase)


@pytest.mark.parametrize('sent, code, word', [(signal.SIGINT, 130, 'interrupted'),
                                              (signal.SIGTERM, 143, 'terminated')])
def test_interrupted_run_leaves_nothing(out_dir, sent, code, word):
    """Ctrl-C or SIGTERM while frames are being written. Occlusion one frame a call keeps the run going for over a
    minute after its first frame, so the interrupt lands mid-run however fast the machine."""
    before = tree_digest(sample.TUB)
    process = subprocess.Popen([sys.executable, '-m', 'donkey_saliency', '--demo', '--batch-size', '1',
                                '--method', 'occlusion',
                                '--out', str(out_dir / 'demo.mp4'), '--save-maps', str(out_dir / 'maps.npz')],
                               stderr=subprocess.PIPE, text=True)
    seen = ''
    while not re.search(r'\| *[1-9][0-9]*/400', seen):  # wait until frames are being written
        seen += process.stderr.read(1)
        assert process.poll() is None, seen
    process.send_signal(sent)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == code, seen + rest
    assert f'{word}; no output written' in rest and 'Traceback' not in rest
    assert os.listdir(out_dir) == []
    assert tree_digest(sample.TUB) == before


def test_a_tub_with_no_readable_image(out_dir, small_tub, tmp_path):
    import shutil
    tub = tmp_path / 'tub'
    shutil.copytree(small_tub, tub)
    for image in (tub / 'images').iterdir():
        image.write_bytes(b'')
    result = run_cli('--tub', tub, '--model', sample.MODEL, '--out', out_dir / 'v.mp4', '--end', 10)
    assert_user_error(result, out_dir, 'no readable records', '10 missing or unreadable images')


def test_an_encoder_that_dies_mid_run_is_one_line_exit_1_and_no_file(out_dir, tmp_path):
    """ffmpeg stops reading after a few frames (as when it crashes or its disk fills): exit 1, one line, and
    neither the video nor the maps file nor a temporary file is left."""
    dying = tmp_path / 'ffmpeg'
    dying.write_text('#!/bin/sh\nexec head -c 300000 > /dev/null\n')
    dying.chmod(0o755)
    result = subprocess.run([sys.executable, '-m', 'donkey_saliency', '--demo', '--no-progress', '--out',
                             str(out_dir / 'demo.mp4'), '--save-maps', str(out_dir / 'maps.npz')],
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, 'FFMPEG_BINARY': str(dying)})
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('donkey-saliency: unexpected error, no output written'), lines
    assert os.listdir(out_dir) == []
