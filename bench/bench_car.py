"""Per-frame latency on the car: batch 1, one thread. Run by hand, not a test.

    python bench/bench_car.py [--model FILE] [--frames 300]

Compares the plain pilot .tflite with its `donkey saliency export` twin (pilot + VisualBackProp in one invoke),
and with the plain file read through its intermediate tensors; the Keras pilot's own run() with the
SalientPilot part that wraps it (outputs + map); and the car's Pi path, donkeycar's TFLite part on the twin, alone
and wrapped by the part, without and with SALIENCY_HEALTH (the health numbers and the alarm of each map).
"""
import argparse
import json
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
        tflite_ms, twin_part_ms, health_ms = pi_path(dk, cfg, pilot.kind, plain, twin, images, folder)
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
    print(f'tflite part on the plain file, run() : {tflite_ms:6.2f} ms')
    print(f'SalientPilot(tflite part on the twin): {twin_part_ms:6.2f} ms ({twin_part_ms / tflite_ms:.2f}x)')
    print(f'  ... with SALIENCY_HEALTH           : {health_ms:6.2f} ms ({health_ms / tflite_ms:.2f}x; '
          f'{health_ms / twin_part_ms:.2f}x the part without it)')


def pi_path(dk, cfg, kind, plain, twin, images, folder):
    """ms per frame of donkeycar's TFLite part on the plain file, and of the part on the twin without and with a
    health file (its limits never reached: the cost of the numbers, the alarm staying off)."""
    def tflite_part(path):
        kl = dk.utils.get_model_by_type(f'tflite_{kind}', cfg)
        kl.load(path)
        return kl
    health = os.path.join(folder, 'health.json')
    with open(health, 'w') as f:
        json.dump({'pilot': {'file': os.path.basename(twin), 'type': kind}, 'method': 'vbp', 'window': 10,
                   'limits': {'above_edge': 1.0, 'change': 1.0, 'strength': 0.0}, 'strength_scale': 1.0,
                   'surface_edge': 40, 'frame_height': images[0].shape[0]}, f)
    with_health = carconfig.copy(cfg)
    with_health.SALIENCY_HEALTH = health
    return interleaved_ms([tflite_part(plain).run, SalientPilot(tflite_part(twin), cfg, twin).run,
                           SalientPilot(tflite_part(twin), with_health, twin).run], images)


def interleaved_ms(calls, frames):
    """The median ms of each call, the calls taking turns frame by frame: a loaded machine's ups and downs fall on
    all of them alike."""
    times = [[] for _ in calls]
    for n, frame in enumerate(frames[:10] + frames):
        for call, kept in zip(calls, times):
            start = time.perf_counter()
            call(frame)
            if n >= 10:
                kept.append(time.perf_counter() - start)
    return [1000 * statistics.median(kept) for kept in times]


if __name__ == '__main__':
    main()
