"""Speed and memory of `donkey saliency report`. Run by hand, not a test.

    python bench/bench_report.py [--tub PATH] [--model FILE] [--method vbp]

Times the whole command on the whole tub (target: a 2,500-frame tub with VBP in about a minute on 2 cores after
start-up), on its first 500 records, and on one record for the start-up itself; the peak resident memory of the
500-record and the whole-tub runs shows whether memory stays flat with the tub's length.
Defaults: the real tub in ../shared (2,526 records) when present, else the bundled sample; the bundled pilot.
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
    args = parser.parse_args()
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
