"""Frames/s of occlusion on a plain .tflite pilot (donkeycar's keras_to_tflite of the bundled pilot). Run by hand.

    python bench/bench_tflite_occlusion.py [--frames 8] [--rounds 3]

Three ways in one run, interleaved, each frame's windows (117 at the defaults, window 24 stride 12) in one batch:
through the pilot's own interpreter, which keeps every intermediate tensor for VisualBackProp (what occlusion did
first); through an interpreter that keeps none, handed copies of the frame multiplied by the masks (what it did
next); and through that interpreter, the copies written straight into its input buffer (what it does now).
The maps of the last two are checked equal to 1e-5 first. Median of the rounds.
"""
import argparse
import os
import tempfile

import numpy as np

from common import frames_per_second, machine

from donkey_saliency import sample, synthetic
from donkey_saliency.core.methods.occlusion_numpy import Windows, occlusion
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
    windows = Windows(model.input_size, 24, 12)
    base = score(model.run([images]))

    def multiplied(run):
        """Occlusion as it was before: each frame's copies multiplied by the masks into an array of their own,
        handed over (copied) to `run`'s interpreter."""
        keep = (1.0 - windows.masks)[..., None]
        coverage = np.maximum(windows.masks.sum(axis=0), 1.0)
        return lambda inputs: np.stack([np.tensordot(base[frame] - score(run([inputs[0][frame] * keep])),
                                                     windows.masks, axes=1) / coverage
                                        for frame in range(len(inputs[0]))])

    lean = load_pilot(path).tflite  # its run() on an interpreter that keeps nothing, as the outputs-only one
    lean.interpreter = lean._outputs_interpreter  # (the package's internals: the bench, not the API, swaps them)
    now = lambda inputs: occlusion(model.run_filled, score, inputs, base, 0, windows, True)  # noqa: E731
    np.testing.assert_allclose(now([images]), multiplied(lean.run)([images]), atol=1e-5)
    rates = frames_per_second({'pilot interpreter (first)': multiplied(model.run),
                               'copies multiplied (before)': multiplied(lean.run),
                               'written in place (now)': now},
                              [images], rounds=args.rounds)
    print(f'machine: {machine()}; load average {os.getloadavg()[0]:.1f}; {len(windows.corners)} windows a frame, '
          f'{args.frames} frames')
    for name, rate in rates.items():
        print(f'{name:28s} {rate:6.2f} frames/s')


if __name__ == '__main__':
    main()
