"""The Python API, for notebooks: maps in three lines, through the same engine as the CLI and the car.

    import donkey_saliency as ds
    pilot = ds.load_pilot('models/pilot.h5')
    result = ds.saliency(pilot, images, method='vbp')
    picture = ds.overlay(images[0], result.maps[0])
"""
from dataclasses import dataclass

import numpy as np

from donkey_saliency.errors import UserError


@dataclass
class Result:
    """What `saliency` returns. `maps` (N, H, W) at camera size, as `--save-maps` saves them: in [0, 1], or
    [-1, 1] when signed; `angle`/`throttle` the pilot's decoded outputs (None for a plain model); `outputs` the
    model's raw outputs; `extra` further maps by key when `output='all'`."""
    maps: np.ndarray
    angle: np.ndarray
    throttle: np.ndarray
    outputs: list
    signed: bool
    extra: dict


def load_pilot(path, type=None, config=None):
    """A pilot from any file the CLI takes (.h5, .savedmodel, .keras, .tflite); its type is read from the file
    unless given; `config` is the car's config.py (optional: donkeycar's defaults otherwise)."""
    from donkey_saliency.core import carconfig
    from donkey_saliency.core.pilot import load_pilot as load
    cfg = None
    if config is not None:
        cfg, _ = carconfig.load(config)
    return load(str(path), type, cfg)


def saliency(pilot, images, method='vbp', output='angle', signed=None, batch_size=64, inputs=None, **settings):
    """Maps for uint8 RGB camera frames `images` (N, H, W, 3) (or one frame (H, W, 3)).

    `pilot`: from `load_pilot`, or a Keras model (any image model; `output` is then the index or name of the
    model output to explain). `method`, `output` ('angle', 'throttle'; 'all' adds the throttle map to `extra`),
    `signed` and the method settings (`layer`, `samples`, `noise`, `steps`, `window`, `stride`) take the CLI's
    names and defaults. `inputs`: the model's further inputs (imu, behaviour, memory), in model input order
    after the image, one row per frame.
    """
    from donkey_saliency.core.engine import Engine, requests_for
    from donkey_saliency.core.pilot import Pilot, from_model
    from donkey_saliency.core import methods
    if not isinstance(pilot, Pilot):
        pilot = from_model(pilot)
        output = 0 if output == 'angle' else output
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.dtype != np.uint8:
        raise UserError(f'images must be uint8 RGB frames (N, H, W, 3), not {images.dtype} {images.shape}')
    unknown = set(settings) - set(methods.all_settings())
    if unknown:
        raise UserError(f'unknown setting(s) {", ".join(sorted(unknown))}; the methods take '
                        f'{", ".join(methods.all_settings())}')
    requests, _ = requests_for(method, output, 'overlay', signed)
    engine = Engine(pilot, requests, settings)
    height, width, depth = pilot.input_size
    if images.shape[1:3] != (height, width):
        raise UserError(f'the pilot takes {width}x{height} images, these are {images.shape[2]}x{images.shape[1]}; '
                        'resize or crop them as the car does')
    frames = images.astype(np.float32) * np.float32(1 / 255)
    if depth == 1:
        frames = frames.mean(axis=-1, keepdims=True)
    outputs, maps = [], [[] for _ in requests]
    for start in range(0, len(frames), batch_size):
        batch = [frames[start:start + batch_size]] + [np.asarray(x, np.float32)[start:start + batch_size]
                                                       for x in (inputs or [])]
        batch_outputs, batch_maps = engine(batch)
        outputs.append(batch_outputs)
        for collected, more in zip(maps, batch_maps):
            collected.append(more)
    outputs = [np.concatenate(parts) for parts in zip(*outputs)]
    maps = [np.concatenate(m) for m in maps]
    angle, throttle = pilot.decode(outputs)
    return Result(maps[0], angle, throttle, outputs, requests[0].signed,
                  {r.key: m for r, m in zip(requests[1:], maps[1:])})


def overlay(image, saliency_map, alpha=0.5, signed=None):
    """uint8 RGB: the frame with the heat map over it and its legend. `signed` None: a map with negative values
    is drawn signed (diverging colours), else unsigned."""
    from donkey_saliency.offline.draw import legend, overlay as blend
    saliency_map = np.asarray(saliency_map, np.float32)
    if signed is None:
        signed = bool((saliency_map < 0).any())
    picture = blend(np.asarray(image, np.uint8), saliency_map, alpha, signed)
    legend(picture, signed, ('R', 'L') if signed else ('hi', 'lo'))
    return picture
