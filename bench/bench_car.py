"""Per-frame latency on the car: batch 1, one thread. Run by hand, not a test.

    python bench/bench_car.py [--model FILE] [--frames 300]

Compares the plain pilot .tflite with its `donkey saliency export` twin (pilot + VisualBackProp in one invoke),
and with the plain file read through its intermediate tensors; and the Keras pilot's own run() with the
SalientPilot part that wraps it (outputs + map).
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from common import machine

from donkey_saliency import sample, synthetic
from donkey_saliency.core import carconfig
from donkey_saliency.car.export import export
from donkey_saliency.part import SalientPilot
from donkey_saliency.core.pilot import load_pilot
from donkey_saliency.quiet import import_donkeycar


def median_ms(call, frames):
    for frame in frames[:10]:
        call(frame)
    times = []
    for frame in frames:
        start = time.perf_counter()
        call(frame)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def invoker(path, preserve=False):
    """One-thread interpreter of donkeycar's TFLite runtime: a function of one image that invokes it."""
    from donkeycar.parts.interpreter import get_tflite_interpreter
    interpreter = get_tflite_interpreter()(model_path=path, num_threads=1, experimental_preserve_all_tensors=preserve)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]['index']

    def call(image):
        interpreter.set_tensor(index, image[None])
        interpreter.invoke()
    return call


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default=sample.MODEL)
    parser.add_argument('--frames', type=int, default=300)
    args = parser.parse_args()
    dk = import_donkeycar()
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    images = [s.image for s in synthetic.drive(args.frames, seed=2)]
    floats = [(i.astype(np.float32) / 255) for i in images]
    cfg, _ = carconfig.load(None)
    pilot = load_pilot(args.model, None, cfg)
    with tempfile.TemporaryDirectory() as folder:
        plain, twin = os.path.join(folder, 'pilot.tflite'), os.path.join(folder, 'pilot.saliency.tflite')
        dk.parts.interpreter.keras_to_tflite(pilot.model, plain)
        export(pilot, twin)
        plain_ms = median_ms(invoker(plain), floats)
        twin_ms = median_ms(invoker(twin), floats)
        preserved_ms = median_ms(invoker(plain, preserve=True), floats)
    kl = dk.utils.get_model_by_type(pilot.kind, cfg)
    kl.load(args.model)
    keras_ms = median_ms(kl.run, images)
    part = SalientPilot(kl, cfg)
    wrapped_ms = median_ms(part.run, images)
    print(f'machine: {machine()}; one thread, batch 1, median of {args.frames} frames')
    print(f'plain pilot .tflite                  : {plain_ms:6.2f} ms')
    print(f'exported twin (pilot + VBP)          : {twin_ms:6.2f} ms ({100 * (twin_ms / plain_ms - 1):+.0f}%)')
    print(f'plain .tflite, intermediate tensors  : {preserved_ms:6.2f} ms ({100 * (preserved_ms / plain_ms - 1):+.0f}%)'
          ' (before the numpy VBP)')
    print(f'Keras pilot, kl.run()                : {keras_ms:6.2f} ms')
    print(f'SalientPilot(kl).run() (outputs+map) : {wrapped_ms:6.2f} ms')


if __name__ == '__main__':
    main()
