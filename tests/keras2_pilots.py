"""Run by a Python that has donkeycar 5.3 (Keras 2, TensorFlow 2.15): builds pilots with donkeycar's own
get_model_by_type for the tests of upstream's Keras 3 stack, where donkeycar does not install, and records what the
5.3 stack answers on them.

One request per stdin line (JSON), one reply per stdout line ("ok" or "error: ..."):
  {"build": KIND, "cfg": {KEY: VALUE}, "path": FILE.h5}   the pilot of KIND, saved by Keras 2 as .h5
  {"run": KIND, "cfg": {...}, "path": FILE, "images": FILE.npy, "out": FILE.npy}
                                                          donkeycar's part of KIND loading FILE, run on each image
                                                          as the car runs it: its (angle, throttle) per image
  {"answers": FILE.h5, "out": FILE.npz, "count": N}       N frames of model inputs, the raw outputs, donkeycar's
                                                          decoded angle and throttle, this tool's maps and geometry
"""
import json
import sys

import numpy as np


def part(kind, cfg_values):
    from donkey_saliency.core import carconfig
    from donkeycar.utils import get_model_by_type
    cfg, _ = carconfig.load(None)
    for key, value in cfg_values.items():
        setattr(cfg, key, value)
    return get_model_by_type(kind, cfg)


def build(kind, cfg_values, path):
    part(kind, cfg_values).interpreter.model.save(path)


def run(kind, cfg_values, path, images, out):
    car = part(kind, cfg_values)
    car.load(path)
    np.save(out, np.array([car.run(image)[:2] for image in np.load(images)], np.float64))


METHODS = ('vbp', 'gradcam')


def inputs_for(model, count):
    """Model inputs in model input order: frames of the synthetic road (in sequences for rnn/3d), the others
    random in [0, 1) (imu, behaviour, memory), from fixed seeds."""
    from donkey_saliency import synthetic
    rng = np.random.default_rng(3)
    result = []
    for tensor in model.inputs:
        shape = (count,) + tuple(int(v) for v in tensor.shape[1:])
        if len(shape) >= 4:
            height, width, depth = shape[-3:]
            frames = [s.image for s in synthetic.drive(int(np.prod(shape[:-3])), seed=5, height=height, width=width)]
            frames = np.stack(frames).astype(np.float32) / np.float32(255)
            frames = frames if depth == 3 else frames.mean(axis=-1, keepdims=True)
            result.append(frames.reshape(shape))
        else:
            result.append(rng.random(shape, dtype=np.float32))
    return result


def answers(path, out, count):
    from donkey_saliency.core import geometry
    from donkey_saliency.core.engine import Engine, requests_for
    from donkey_saliency.core.pilot import load_pilot
    pilot = load_pilot(path)
    inputs = inputs_for(pilot.model, count)
    outputs = pilot.predict(inputs)
    angle, throttle = pilot.decode(outputs)
    steps = [[layer.kind == 'conv'] + [getattr(axis, f) for axis in (layer.rows, layer.cols)
                                       for f in ('kernel', 'stride', 'pad', 'dilation', 'n_in', 'n_out')]
             for layer in geometry.describe(pilot.model).layers]
    saved = {'kind': pilot.kind, 'angle': angle, 'throttle': throttle, 'geometry': np.array(steps)}
    saved.update({f'input_{i}': x for i, x in enumerate(inputs)})
    saved.update({f'output_{i}': y for i, y in enumerate(outputs)})
    for method in METHODS:
        requests, _ = requests_for(method, 'angle', 'overlay', None)
        saved[f'map_{method}'] = Engine(pilot, requests, {})(inputs)[1][0]
    np.savez(out, **saved)


def main():
    from donkey_saliency.quiet import import_donkeycar
    import_donkeycar()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if 'build' in request:
                build(request['build'], request['cfg'], request['path'])
            elif 'run' in request:
                run(request['run'], request['cfg'], request['path'], request['images'], request['out'])
            else:
                answers(request['answers'], request['out'], request['count'])
            print('ok', flush=True)
        except Exception as exc:  # the test that asked says what failed
            print(f'error: {type(exc).__name__}: {exc}'.replace('\n', ' '), flush=True)


if __name__ == '__main__':
    main()
