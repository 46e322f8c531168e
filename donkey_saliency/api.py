"""The Python API, for notebooks: maps in three lines, through the same engine as the CLI and the car.

    import donkey_saliency as ds
    pilot = ds.load_pilot('models/pilot.h5')
    result = ds.saliency(pilot, images, method='vbp')
    picture = ds.overlay(images[0], result.maps[0])
"""
import functools
from dataclasses import dataclass

import numpy as np

from donkey_saliency.errors import UserError, as_arguments


@dataclass
class Result:
    """What `saliency` returns. `maps` (N, H, W) at camera size as drawn and as `--save-maps` saves them (display
    scaled: [0, 1], or [-1, 1] when signed); `raw` their unscaled values; `angle`/`throttle` the pilot's decoded
    outputs (None for a plain model); `outputs` the model's raw outputs; `extra` further maps (display scaled)
    by key when `output='all'`."""
    maps: np.ndarray
    raw: np.ndarray
    angle: np.ndarray
    throttle: np.ndarray
    outputs: list
    signed: bool
    extra: dict


def _in_arguments(**arguments):
    """The function's UserErrors in the API's words: the library's messages are written once, for the CLI, and name
    its flags; here each names the argument instead (errors.as_arguments; `arguments`: flag -> argument where they
    differ)."""
    def reworded(function):
        @functools.wraps(function)
        def call(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except UserError as exc:
                said = as_arguments(exc, arguments)
                if said is exc:
                    raise
                raise said.with_traceback(exc.__traceback__) from None
        return call
    return reworded


@_in_arguments(model='path')
def load_pilot(path, type=None, config=None):
    """A pilot from any file the CLI takes (.h5, .savedmodel, .keras, .tflite); its type is read from the file
    unless given; `config` is the car's config.py (optional: donkeycar's defaults otherwise)."""
    from donkey_saliency.core import carconfig
    from donkey_saliency.core.pilot import load_pilot as load
    cfg = None
    if config is not None:
        cfg, _ = carconfig.load(config)
    return load(str(path), type, cfg)


@_in_arguments()
def saliency(pilot, images, method='vbp', output='angle', signed=None, clip=99.0, normalize='frame', batch_size=64,
             inputs=None, **settings):
    """Maps for uint8 RGB camera frames `images` (N, H, W, 3) (or one frame (H, W, 3)).

    `pilot`: from `load_pilot`, or a Keras model (any image model; `output` is then the index or name of the
    model output to explain). `method`, `output` ('angle', 'throttle'; 'all' adds the throttle map to `extra`),
    `signed`, `clip`, `normalize` ('frame', or 'run': one scale for all the images) and the method settings
    (`layer`, `samples`, `noise`, `steps`, `window`, `stride`) take the CLI's names and defaults. `inputs`: the
    model's further inputs (imu, behaviour, memory), in model input order after the image, one row per frame.
    """
    from donkey_saliency.core.display import check_clip, shown
    from donkey_saliency.core.engine import Engine, requests_for
    from donkey_saliency.core.pilot import Pilot, from_model
    if not isinstance(pilot, Pilot):
        pilot = from_model(pilot)
        output = 0 if output == 'angle' else output
    images = np.asarray(images)
    if images.ndim == 3 and images.shape[-1] in (1, 3):  # one frame
        images = images[None]
    check_clip(clip)
    frames = _pilot_frames(images, pilot)
    _check_settings(settings)
    requests, _ = requests_for(method, output, 'overlay', signed)
    engine = Engine(pilot, requests, settings)
    outputs, maps = [], [[] for _ in requests]
    for start in range(0, len(frames), batch_size):
        batch = [frames[start:start + batch_size]] + [np.asarray(x, np.float32)[start:start + batch_size]
                                                       for x in (inputs or [])]
        batch_outputs, batch_maps = engine(batch)
        outputs.append(batch_outputs)
        for collected, more in zip(maps, batch_maps):
            collected.append(more)
    outputs = [np.concatenate(parts) for parts in zip(*outputs)]
    raw = [np.concatenate(m) for m in maps]
    if normalize not in ('frame', 'run'):
        raise UserError(f"normalize is 'frame' or 'run', not {normalize!r}")
    drawn = [shown(m, r.method, r.signed, clip, normalize) for r, m in zip(requests, raw)]
    angle, throttle = pilot.decode(outputs)
    return Result(drawn[0], raw[0], angle, throttle, outputs, requests[0].signed,
                  {r.key: m for r, m in zip(requests[1:], drawn[1:])})


def _check_settings(settings):
    from donkey_saliency.core import methods
    unknown = set(settings) - set(methods.all_settings())
    if unknown:
        raise UserError(f'unknown setting(s) {", ".join(sorted(unknown))}; the methods take '
                        f'{", ".join(methods.all_settings())}')


def _pilot_frames(images, pilot):
    """uint8 camera frames (N, H, W, 3), or greyscale (N, H, W[, 1]), as the pilot takes them: floats 0..1 in its
    colour depth, converted as the video converts them; one line when they cannot be."""
    from donkey_saliency.offline.inputs import pilot_view
    if images.ndim not in (3, 4) or images.dtype != np.uint8:
        raise UserError(f'images must be uint8 camera frames (N, H, W, 3), not {images.dtype} {images.shape}')
    if images.ndim == 3 and pilot.input_size[2] == 3:
        raise UserError(f'images must be RGB frames (N, H, W, 3) for this colour pilot, not {images.shape}')
    try:
        seen = [pilot_view(image, None, pilot.input_size, True) for image in images]
    except UserError:
        height, width, depth = pilot.input_size
        raise UserError(f'the pilot takes {width}x{height}x{depth} images, these are {images.shape[1:]}; resize '
                        'or crop them as the car does') from None
    return np.stack(seen).astype(np.float32) / np.float32(255)


def overlay(image, saliency_map, alpha=0.5, signed=None, title='', ends=None, scale=2):
    """uint8 RGB: the frame with the heat map over it, enlarged `scale` times, `title` above and the colour bar
    with what its ends mean below. `signed` None: a map with negative values is drawn signed (diverging
    colours); `ends` None: 'pushes left' / 'pushes right' for signed maps, 'weak' / 'strong' else."""
    from donkey_saliency.draw import MapView, labelled
    saliency_map = np.asarray(saliency_map, np.float32)
    if signed is None:
        signed = bool((saliency_map < 0).any())
    ends = ends or (('pushes left', 'pushes right') if signed else ('weak', 'strong'))
    return labelled(np.asarray(image, np.uint8), MapView(saliency_map, signed, title, ends), alpha, scale)


@_in_arguments()
def evaluate(pilot, images, maps, output='angle', steps=16, substrate='blur', inputs=None, random_orders=None):
    """How faithful maps are to the pilot: deletion and insertion AUCs (see `core.metrics`) of each set of maps
    beside `random_orders` random pixel orders (None: metrics.RANDOM_ORDERS, 5), for uint8 RGB `images`
    (N, H, W, 3) at the pilot's input size.

    `maps`: (N, H, W) maps (use `result.raw`: display clipping makes ties), or {name: maps} to compare several.
    Returns {'frames', 'steps', 'substrate', 'random_orders', 'outputs': {output: {name: {deletion_auc,
    insertion_auc, random_deletion_auc, random_insertion_auc, beats_random, blank_frames}}}}.
    """
    from donkey_saliency.core import metrics
    from donkey_saliency.offline.evaluation import scored
    from donkey_saliency.core.pilot import Pilot, from_model
    if not isinstance(pilot, Pilot):
        pilot = from_model(pilot)
        output = 0 if output == 'angle' else output
    if substrate not in metrics.SUBSTRATES:
        raise UserError(f'substrate is one of {", ".join(metrics.SUBSTRATES)}, not {substrate!r}')
    maps = maps if isinstance(maps, dict) else {'maps': maps}
    frames = _pilot_frames(np.asarray(images), pilot)
    for name, values in maps.items():
        if np.shape(values) != frames.shape[:3]:
            raise UserError(f'maps {name!r} are {np.shape(values)}, the images {frames.shape[:3]}: one map per '
                            'image, at its size')
    targets = ['angle', 'throttle'] if output == 'all' else [output]
    orders = random_orders or metrics.RANDOM_ORDERS
    return {'frames': len(frames), 'steps': steps, 'substrate': substrate, 'random_orders': orders,
            'outputs': {t: scored(pilot, frames, maps, t, steps, substrate, inputs or [], None, orders)
                        for t in targets}}


@_in_arguments(tub='tubs', model='models')
def report(tubs, models, out='report.html', json=None, method='vbp', config=None, type=None, start=0, end=-1,
           every=1, horizon=None, frames=200, evaluate=False, batch_size=64, progress=True, imu_lateral='y',
           review_out=None, health=None, **settings):
    """`donkey saliency report` from Python: writes the page `out` (and `json`, and `review_out`: the records to
    review as a TRAIN_FILTER for myconfig.py; `health`: a health file from `calibrate`, for the alarm computed from
    the maps of a tub that lacks it), returns the findings (the JSON's content). `tubs` and `models`: a
    path or a list of them; `config`: the car's config.py, or a list of them, one per model (None: donkeycar's
    defaults; the CLI's ./config.py default does not apply here); the rest take the CLI's names and defaults
    (--delete, which asks on stdin, is the CLI's alone)."""
    from donkey_saliency.offline.report import ReportOptions, run
    _check_settings(settings)
    return run(ReportOptions(tubs=_paths(tubs), models=_paths(models), out=str(out), json=json and str(json),
                             method=method, type=type, config=config, start=start, end=end, every=every,
                             horizon=horizon, frames=frames, evaluate=evaluate, batch_size=batch_size,
                             progress=progress, imu_lateral=imu_lateral, settings=settings,
                             review_out=review_out and str(review_out), health=health and str(health)))


@_in_arguments(tub='tubs')
def mirror(tubs, out, config=None, keep=(), drop=(), imu_lateral='y', progress=True):
    """`donkey saliency mirror` from Python: writes the mirrored tub `out` from `tubs` (a path or a list) and
    returns {'out', 'records', 'tubs', 'skipped', 'skipped_tubs', 'warnings'}. `config`: the car's config.py, for
    its BEHAVIOR_LIST (None: none; the CLI's ./config.py default does not apply here)."""
    import os
    from donkey_saliency.offline.mirror import MirrorOptions, run
    return run(MirrorOptions(tubs=_paths(tubs), out=os.fsdecode(out), config=config and os.fsdecode(config),
                             keep=list(keep), drop=list(drop), imu_lateral=imu_lateral, progress=progress))


def _paths(value):
    """One path (str, bytes or os.PathLike) or a list of them, as the list of str paths the options take."""
    import os
    return [os.fsdecode(p) for p in ([value] if isinstance(value, (str, bytes)) or hasattr(value, '__fspath__')
                                     else value)]
