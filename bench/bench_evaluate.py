"""Speed of `donkey saliency evaluate`. Run by hand, not a test.

    python bench/bench_evaluate.py [--tub PATH] [--model FILE] [--frames 200]

Times the whole command for vbp, gradcam and gradients at 16 steps (target: 200 frames within 2 minutes after
start-up), with and without the randomisation check, and a one-frame run for the start-up itself.
Defaults: the real tub in ../shared when present, else the bundled sample; the bundled KerasLinear pilot.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from common import add_tub_and_model, machine


def seconds(args, *extra):
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, '-m', 'donkey_saliency', 'evaluate', '--tub', args.tub, '--model', args.model,
                   '--method', 'vbp,gradcam,gradients', '--json', os.path.join(folder, 'r.json'), *extra]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode:
            sys.exit(result.stderr)
        return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_tub_and_model(parser)
    parser.add_argument('--frames', type=int, default=200)
    args = parser.parse_args()
    startup = seconds(args, '--frames', '1', '--no-randomisation')
    plain = seconds(args, '--frames', str(args.frames), '--no-randomisation')
    checked = seconds(args, '--frames', str(args.frames))
    print(f'machine: {machine()}')
    print(f'tub: {args.tub}; model: {args.model}; vbp, gradcam, gradients; 16 steps')
    print(f'start-up (one frame)              : {startup:6.1f} s')
    print(f'{args.frames} frames, deletion + insertion  : {plain - startup:6.1f} s after start-up '
          f'({3 * args.frames / (plain - startup):.0f} frame-methods/s)')
    print(f'  and the randomisation check     : {checked - startup:6.1f} s after start-up')


if __name__ == '__main__':
    main()
