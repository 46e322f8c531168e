"""Frames/s of every saliency method on the bundled pilot, next to the bare forward pass. Run by hand.

    python bench/bench_methods.py [--model FILE] [--frames 64]

Each method computes the pilot's outputs and its map for the steering angle in one compiled graph call per
batch (many-sample methods split the batch); timings are the best of three after a warm-up call.
"""
import argparse

import numpy as np

from common import frames_per_second, machine, pilot_and_forward

from donkey_saliency import sample, synthetic
from donkey_saliency.core.methods import METHODS
from donkey_saliency.quiet import import_tensorflow
from donkey_saliency.core.scores import score_functions
from donkey_saliency.kernels import prefer_onednn


def main():
    prefer_onednn()  # the command's kernels (cli.main asks for them), before TensorFlow loads
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default=sample.MODEL)
    parser.add_argument('--frames', type=int, default=64)
    args = parser.parse_args()
    tf = import_tensorflow()
    pilot, forward = pilot_and_forward(args.model)
    images = np.stack([s.image for s in synthetic.drive(args.frames, seed=1)]).astype(np.float32) / 255
    scores = score_functions(pilot.kind, xp=tf.experimental.numpy)
    calls = {'bare forward pass': forward}
    for name, method in METHODS.items():
        calls[name] = method.create(pilot.model, scores['angle'], signed=True)
    rates = frames_per_second(calls, [images], rounds=3)
    bare = rates.pop('bare forward pass')
    print(f'machine: {machine()}; pilot: {args.model} ({pilot.kind}); batch of {args.frames} frames')
    print(f'{"bare forward pass":22s} {bare:8.1f} frames/s')
    for name, rate in rates.items():
        print(f'{name:22s} {rate:8.1f} frames/s ({bare / rate:.1f}x the forward pass)')


if __name__ == '__main__':
    main()
