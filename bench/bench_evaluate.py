"""Speed and peak memory of `donkey saliency evaluate` on the case a user met (issue 17 §5). Run by hand, not a test.

    python bench/bench_evaluate.py [--tub PATH] [--model FILE] [--method all] [--frames 60] [--profile]

Runs the whole command, `evaluate --method all --frames 60` with the randomisation check, under /usr/bin/time
(its peak resident memory, %M), and a one-frame run without the check for the start-up alone (target: under
3 minutes and 1.5 GB on the 2-core machine). Defaults: a data folder holding three copies of the real tub in
../shared (3 x 2,526 = 7,578 records, the size of the tub the user ran it on) and an untrained KerasCategorical
pilot (120x160) built by donkeycar's get_model_by_type: speed and memory do not depend on what it learnt.
--profile: instead, one run in this process under cProfile, the functions that took the most time.
"""
import argparse
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time

from common import SHARED_TUB, machine

COPIES = 3


def data_folder(folder):
    """A car's data folder with COPIES copies of the shared tub (each a whole tub of its own)."""
    data = os.path.join(folder, 'data')
    for n in range(COPIES):
        shutil.copytree(SHARED_TUB, os.path.join(data, f'tub_{n + 1}'))
    return data


def categorical_pilot(folder):
    """An untrained KerasCategorical pilot at donkeycar's default 120x160, built by donkeycar."""
    from donkey_saliency.core import carconfig
    from donkeycar.utils import get_model_by_type
    cfg, _ = carconfig.load(None)
    path = os.path.join(folder, 'categorical.h5')
    get_model_by_type('categorical', cfg).interpreter.model.save(path)
    return path


def command(args, folder, *extra):
    return [sys.executable, '-m', 'donkey_saliency', 'evaluate', '--no-progress', '--tub', args.tub, '--model',
            args.model, '--method', args.method, '--json', os.path.join(folder, 'r.json'), *extra]


def timed(args, folder, *extra):
    """(seconds, peak resident MB) of one run of the command."""
    start = time.perf_counter()
    result = subprocess.run(['/usr/bin/time', '-f', '%M'] + command(args, folder, *extra), capture_output=True,
                            text=True)
    elapsed = time.perf_counter() - start
    if result.returncode:
        sys.exit(result.stderr)
    return elapsed, int(result.stderr.strip().splitlines()[-1]) / 1024


def profile(args):
    from donkey_saliency.cli import main
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as folder:
        profiler.runcall(main, command(args, folder, "--frames", str(args.frames))[3:])
    pstats.Stats(profiler).sort_stats('cumulative').print_stats(40)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--tub', help=f'default: a data folder with {COPIES} copies of the shared tub')
    parser.add_argument('--model', help='default: an untrained KerasCategorical pilot')
    parser.add_argument('--method', default='all')
    parser.add_argument('--frames', type=int, default=60)
    parser.add_argument('--profile', action='store_true', help='profile one run in this process instead')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        args.tub = args.tub or data_folder(folder)
        args.model = args.model or categorical_pilot(folder)
        if args.profile:
            return profile(args)
        startup, _ = timed(args, folder, '--frames', '1', '--no-randomisation')
        seconds, peak = timed(args, folder, '--frames', str(args.frames))
    print(f'machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the end')
    print(f'tub: {args.tub}; model: {args.model}; --method {args.method} --frames {args.frames}, 16 steps, '
          'randomisation check on')
    print(f'start-up (one frame, no randomisation): {startup:6.1f} s')
    print(f'the whole command                      : {seconds:6.1f} s, peak resident memory {peak:.0f} MB')


if __name__ == '__main__':
    main()
