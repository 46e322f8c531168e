"""Speed of the offline job, stage by stage, on one model and one tub in one run. Run by hand, not a test.

    python bench/bench_speed.py [--tub PATH] [--model FILE] [--batch-size 64]

Reports frames/s of: the bare batched forward pass (the ceiling), forward + VisualBackProp in one graph, and
the whole `donkey saliency` command at --scale 2 (decode, saliency, render, encode) once started; and the
command's peak memory on the first 600 records and on the whole tub (flat memory: the two should match).
Then the video beside donkeycar's `donkey makemovie --salient` on the same 600 records, same pilot, same
config (donkeycar's template), --scale 2, each once started: ours from its summary (the median of three runs),
makemovie's from the arrival of its moviepy bar's first update to moviepy's "Done" (makemovie_rate). makemovie
needs moviepy 1 (`moviepy.editor`), so it runs in .venv-makemovie, made on first use: a venv holding only
moviepy<2 (and matplotlib, which makemovie imports) that sees this environment's packages through a .pth file.
It opens its tub for writing, so it reads a copy.
Defaults: the real tub in ../shared when present, else the bundled sample; the bundled KerasLinear pilot.
"""
import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from common import add_tub_and_model, frames_per_second, machine, pilot_and_forward

from donkey_saliency.core.methods import METHODS
from donkey_saliency.kernels import prefer_onednn

MOVIE_RECORDS = 600
OUR_RUNS = 3  # ours is short beside makemovie's run on MOVIE_RECORDS, so it varies more: the median of a few
# moviepy's bar, one update: t:  99%|█████████▉| 597/599 [00:20<00:00, 29.52it/s, now=None]
BAR_UPDATE = re.compile(rb'(?:^|[\r\n])t: +\d+%\|[^|]*\| *(?P<done>\d+)/(?P<total>\d+) '
                        rb'\[(?P<minutes>\d+):(?P<seconds>\d+)[^\]]*\]')
MOVIEPY_DONE = b'Moviepy - Done !'  # printed once moviepy has closed its ffmpeg
MAKEMOVIE_VENV = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '.venv-makemovie')

def run_command(args, *extra):
    """Run the whole command (and nothing else in this process's children); its peak RSS in MB and its result."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, '-m', 'donkey_saliency', '--tub', args.tub, '--model', args.model, '--scale', '2',
                   '--batch-size', str(args.batch_size), '--no-progress', '--out', os.path.join(folder, 'bench.mp4')]
        result = subprocess.run(command + list(extra), capture_output=True, text=True)
    if result.returncode:
        sys.exit(result.stderr)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, result


def rate_once_started(result):
    """Our frames/s once started, from the command's summary."""
    return float(re.search(r'(\d+) frames/s once started', result.stdout).group(1))


def makemovie_python():
    """The interpreter of .venv-makemovie (moviepy 1 over this environment's packages), made when missing."""
    python = os.path.join(MAKEMOVIE_VENV, 'bin', 'python')
    if not os.path.exists(python):
        import sysconfig
        subprocess.run([sys.executable, '-m', 'venv', MAKEMOVIE_VENV], check=True)
        version = f'python{sys.version_info.major}.{sys.version_info.minor}'
        with open(os.path.join(MAKEMOVIE_VENV, 'lib', version, 'site-packages', 'parent.pth'), 'w') as f:
            f.write(sysconfig.get_paths()['purelib'] + '\n')
        subprocess.run([python, '-m', 'pip', 'install', '-q', 'moviepy<2', 'matplotlib'], check=True)  # makemovie's
    return python


def tub_copy(tub, folder):
    """The tub's manifest, catalogs and images, copied (makemovie opens a tub for writing)."""
    copy = os.path.join(folder, 'tub')
    shutil.copytree(tub, copy)
    return copy


def makemovie_rate(command, folder, environment):
    """(frames, frames/s, frames/s as the bar's own clock says) of makemovie run as `command`, from the arrival of
    its moviepy bar's first update (before the first frame) to moviepy's "Done" (after ffmpeg has finished the
    file, as our rate's time includes finishing ours). The bar's own clock prints whole seconds, cut short
    (tqdm's int(t)): a bar at 00:20 means 20.0 to 20.99 s, so a rate read from it runs high by up to a second's
    share of the run; the bench prints it beside the timed rate, as earlier figures in bench/README.md used it."""
    process = subprocess.Popen(command, cwd=folder, env=dict(environment, PYTHONUNBUFFERED='1'),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    updates, finished, text, read = [], None, b'', 0
    try:
        while True:
            chunk = os.read(process.stdout.fileno(), 1 << 16)
            if not chunk:
                break
            arrived = time.monotonic()
            text += chunk
            for update in BAR_UPDATE.finditer(text, read):  # (whole updates only: a read can end inside one)
                updates.append((update, arrived))
                read = update.end()
            if finished is None and MOVIEPY_DONE in text[read:]:
                finished = arrived
    finally:
        if process.poll() is None:
            process.kill()
    if process.wait() or not updates or finished is None or finished <= updates[0][1]:
        sys.exit(f'makemovie failed:\n{text[-2000:].decode(errors="replace")}')
    last = updates[-1][0]
    shown = int(last['done']) / max(1, 60 * int(last['minutes']) + int(last['seconds']))
    return int(last['total']), int(last['total']) / (finished - updates[0][1]), shown


def against_makemovie(args, environment):
    """Ours (frames/s once started, OUR_RUNS runs) and makemovie's (makemovie_rate) on the first MOVIE_RECORDS
    records, in turn; makemovie in `environment` (this one without the kernels setting this process made for
    itself: a user's makemovie runs with TensorFlow's own choice)."""
    import donkeycar
    config = os.path.join(os.path.dirname(donkeycar.__file__), 'templates', 'cfg_complete.py')
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(config, os.path.join(folder, 'config.py'))
        ours = [rate_once_started(run_command(args, '--end', str(MOVIE_RECORDS), '--config',
                                              os.path.join(folder, 'config.py'))[1]) for _ in range(OUR_RUNS)]
        donkey = ('import sys; sys.argv = ["donkey"] + sys.argv[1:]; '
                  'from donkeycar.management.base import execute_from_command_line; execute_from_command_line()')
        theirs = makemovie_rate([makemovie_python(), '-c', donkey, 'makemovie', '--tub', tub_copy(args.tub, folder),
                                 '--model', args.model, '--type', 'linear', '--salient', '--start', '0', '--end',
                                 str(MOVIE_RECORDS), '--scale', '2', '--config', 'config.py', '--out', 'movie.mp4'],
                                folder, environment)
    return ours, theirs


def main():
    environment = dict(os.environ)  # as the user's shell has it, for makemovie
    prefer_onednn()  # the command's kernels (cli.main asks for them), before TensorFlow loads
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_tub_and_model(parser)
    parser.add_argument('--batch-size', type=int, default=64)
    args = parser.parse_args()
    pilot, forward = pilot_and_forward(args.model)
    batch = [np.random.default_rng(0).random((args.batch_size,) + pilot.input_size, dtype=np.float32)]
    rates = frames_per_second({'bare': forward, 'vbp': METHODS['vbp'].create(pilot.model)}, batch, 5)
    bare, vbp = rates['bare'], rates['vbp']
    short_peak, _ = run_command(args, '--end', '600')
    peak, result = run_command(args)
    ours, (movie_frames, theirs, shown) = against_makemovie(args, environment)
    frames = int(re.search(r'wrote (\d+) frames', result.stdout).group(1))
    whole = rate_once_started(result)
    total = float(re.search(r'([\d.]+) s \(', result.stdout).group(1))
    print(f'machine: {machine()}')
    print(f'model: {args.model} ({pilot.kind}, input {pilot.input_size}); tub: {args.tub} ({frames} frames)')
    print(f'bare batched forward pass : {bare:7.0f} frames/s (batch {args.batch_size})')
    print(f'forward + VisualBackProp  : {vbp:7.0f} frames/s ({100 * (bare / vbp - 1):.0f}% slower than bare)')
    print(f'whole command, --scale 2  : {whole:7.0f} frames/s once started ({total:.1f} s in all)')
    print(f'peak memory of the command: {short_peak:.0f} MB on 600 records, {peak:.0f} MB on {frames}')
    middle = statistics.median(ours)
    print(f'beside makemovie --salient  : {middle:7.0f} frames/s (median of {", ".join(f"{r:.0f}" for r in ours)}) '
          f'against {theirs:.1f} ({movie_frames} frames, --scale 2, once started; {shown:.1f} by its bar\'s whole '
          f'seconds): {middle / theirs:.1f}x')


if __name__ == '__main__':
    main()
