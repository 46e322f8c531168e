"""Speed and memory of `donkey saliency report`. Run by hand, not a test.

    python bench/bench_report.py [--tub PATH] [--model FILE] [--method vbp] [--piloted 2500]

Times the whole command on the whole tub (target: a 2,500-frame tub with VBP in about a minute on 2 cores after
start-up), on its first 500 records, and on one record for the start-up itself; the peak resident memory of the
500-record and the whole-tub runs shows whether memory stays flat with the tub's length.
Defaults: the real tub in ../shared (2,526 records) when present, else the bundled sample; the bundled pilot.
--piloted N: instead, a synthetic tub of N records where the pilot and the user take turns every 20 records
(a takeover every 40), written at 1 kHz, so that the frames kept before each takeover are the most there are.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from common import add_tub_and_model, machine


def run(args, *extra):
    """(seconds, frames, page MB, peak resident MB of the command so far) of one report."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, '-m', 'donkey_saliency', 'report', '--no-progress', '--tub', args.tub, '--model',
                   args.model, '--method', args.method, '--out', os.path.join(folder, 'r.html'),
                   '--json', os.path.join(folder, 'r.json'), *extra]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if result.returncode:
            sys.exit(result.stderr)
        with open(os.path.join(folder, 'r.json')) as f:
            frames = json.load(f)['frames']
        size = os.path.getsize(os.path.join(folder, 'r.html')) / 1e6
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest run so far: run small first
    return elapsed, frames, size, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_tub_and_model(parser)
    parser.add_argument('--method', default='vbp')
    parser.add_argument('--piloted', type=int, metavar='N', help='bench a synthetic tub of N records the pilot '
                        'drove, with takeovers')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.piloted:
            from donkey_saliency import synthetic
            args.tub = os.path.join(folder, 'piloted')
            synthetic.write_tub(args.tub, synthetic.drive(args.piloted, seed=11), hz=1000,
                                mode=lambda i: 'local' if (i // 20) % 2 == 0 else 'user')
        measure(args)


def measure(args):
    """Start-up, the first 500 records and the whole tub, smallest first (the peak memory reading is cumulative)."""
    startup, _, _, _ = run(args, '--end', '1')
    part, part_frames, _, part_peak = run(args, '--end', '500')
    whole, frames, size, peak = run(args)
    print(f'machine: {machine()}')
    print(f'tub: {args.tub}; model: {args.model}; method {args.method}')
    print(f'start-up (one record)   : {startup:6.1f} s')
    print(f'{part_frames:5d} frames            : {part - startup:6.1f} s after start-up, peak {part_peak:.0f} MB')
    print(f'{frames:5d} frames (whole tub): {whole - startup:6.1f} s after start-up '
          f'({frames / (whole - startup):.0f} frames/s), peak {peak:.0f} MB, page {size:.1f} MB')


if __name__ == '__main__':
    main()
