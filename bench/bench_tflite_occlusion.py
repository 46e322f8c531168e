"""Frames/s of occlusion on a plain .tflite pilot (donkeycar's keras_to_tflite of the bundled pilot). Run by hand.

    python bench/bench_tflite_occlusion.py [--frames 8] [--rounds 3]

Two ways in one run, interleaved: every frame's windows (117 at the defaults, window 24 stride 12) as one batch
through the pilot's own interpreter, which keeps every intermediate tensor for VisualBackProp (what occlusion did
before), and through an interpreter of its own that keeps none (what it does now). Median of the rounds.
"""
import argparse
import functools
import os
import tempfile

import numpy as np

from common import frames_per_second, machine

from donkey_saliency import sample, synthetic
from donkey_saliency.core.methods.occlusion_numpy import occlusion, window_masks
from donkey_saliency.core.pilot import load_pilot
from donkey_saliency.core.scores import score_functions


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--frames', type=int, default=8)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    from donkeycar.parts.interpreter import keras_to_tflite
    path = os.path.join(tempfile.mkdtemp(), 'pilot.tflite')
    keras_to_tflite(load_pilot(sample.MODEL).model, path)
    model = load_pilot(path).tflite
    images = np.stack([s.image for s in synthetic.drive(args.frames, seed=1)]).astype(np.float32) / 255
    score = score_functions('linear', xp=np)['angle']
    masks = window_masks(model.input_size, 24, 12)
    base = score(model.run([images]))

    def way(run):
        return lambda inputs: occlusion(run, score, inputs, base, 0, masks, True)

    rates = frames_per_second({'pilot interpreter (before)': way(model.run),
                               'own interpreter (now)': way(functools.partial(model.run, outputs_only=True))},
                              [images], rounds=args.rounds)
    print(f'machine: {machine()}; load average {os.getloadavg()[0]:.1f}; {len(masks)} windows a frame, '
          f'{args.frames} frames')
    for name, rate in rates.items():
        print(f'{name:28s} {rate:6.2f} frames/s')


if __name__ == '__main__':
    main()
