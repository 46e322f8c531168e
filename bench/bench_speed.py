"""Speed of the offline job, stage by stage, on one model and one tub in one run. Run by hand, not a test.

    python bench/bench_speed.py [--tub PATH] [--model FILE] [--batch-size 64]

Reports frames/s of: the bare batched forward pass (the ceiling), forward + VisualBackProp in one graph, and
the whole `donkey saliency` command at --scale 2 (decode, saliency, render, encode) once started; and the
command's peak memory on the first 600 records and on the whole tub (flat memory: the two should match).
Defaults: the real tub in ../shared when present, else the bundled sample; the bundled KerasLinear pilot.
"""
import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile

import numpy as np

from common import add_tub_and_model, frames_per_second, machine, pilot_and_forward

from donkey_saliency.core.methods import METHODS

def run_command(args, *extra):
    """Run the whole command (and nothing else in this process's children); its peak RSS in MB and its result."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, '-m', 'donkey_saliency', '--tub', args.tub, '--model', args.model, '--scale', '2',
                   '--batch-size', str(args.batch_size), '--no-progress', '--out', os.path.join(folder, 'bench.mp4')]
        result = subprocess.run(command + list(extra), capture_output=True, text=True)
    if result.returncode:
        sys.exit(result.stderr)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, result


def main():
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
    frames = int(re.search(r'wrote (\d+) frames', result.stdout).group(1))
    whole = float(re.search(r'(\d+) frames/s once started', result.stdout).group(1))
    total = float(re.search(r'([\d.]+) s \(', result.stdout).group(1))
    print(f'machine: {machine()}')
    print(f'model: {args.model} ({pilot.kind}, input {pilot.input_size}); tub: {args.tub} ({frames} frames)')
    print(f'bare batched forward pass : {bare:7.0f} frames/s (batch {args.batch_size})')
    print(f'forward + VisualBackProp  : {vbp:7.0f} frames/s ({100 * (bare / vbp - 1):.0f}% slower than bare)')
    print(f'whole command, --scale 2  : {whole:7.0f} frames/s once started ({total:.1f} s in all)')
    print(f'peak memory of the command: {short_peak:.0f} MB on 600 records, {peak:.0f} MB on {frames}')


if __name__ == '__main__':
    main()
