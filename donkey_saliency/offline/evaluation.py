"""`donkey saliency evaluate`: faithfulness of maps on frames sampled from tubs, as a table and a JSON file.

The frames are spread evenly over the range; each method's maps come from the one engine (raw, at the pilot's
input size, so that display clipping makes no ties); maps made elsewhere come from .npz files in the layout of
--save-maps (`raw` when present, else `maps`, matched to the records by `index`). `--method all` is every method
the pilot's file can answer: on a .tflite, the ones it cannot are left out, each with the engine's reason.
"""
import collections
import json
import os
from dataclasses import dataclass, field

import numpy as np

from donkey_saliency.errors import UserError
from donkey_saliency.offline.session import Request

RANDOMISATION_FRAMES = 32  # frames the randomisation check recomputes maps on, at every stage
ALL = 'all'  # EvaluateOptions.method for every method the pilot's file can answer


@dataclass
class EvaluateOptions(Request):
    """Everything `donkey saliency evaluate` can be asked: the inputs every command takes, `method` a list of
    method names (or ALL), and the evaluation's own."""
    method: object = field(default_factory=lambda: ['vbp'])  # method names, or ALL
    target: str = 'angle'
    maps: list = field(default_factory=list)
    frames: int = 200
    steps: int = 16
    substrate: str = 'blur'
    random_orders: int = None  # None: metrics.RANDOM_ORDERS
    randomisation: bool = True
    progress: bool = True
    json: str = None

    def method_names(self):
        """The method names asked for: every registered one for ALL."""
        from donkey_saliency.core import methods
        return list(methods.METHODS) if self.method == ALL else list(self.method)


def check(options):
    """Every check that needs no TensorFlow; returns the options with --tub's folders and globs expanded, and the
    tubs opened."""
    from donkey_saliency.core import metrics
    from donkey_saliency.offline import session
    from donkey_saliency.writers import check_destination
    if not options.tubs or not options.model:
        raise UserError('evaluate needs frames and a pilot: pass --tub PATH and --model FILE')
    options, tubs = session.check(options)
    for path in options.maps:
        if not os.path.isfile(path):
            raise UserError(f'maps file not found: {path}; pass a .npz written by --save-maps')
    if options.target not in ('angle', 'steering', 'throttle', 'all'):
        raise UserError(f'unknown --output {options.target}; choose angle (or steering), throttle or all')
    if options.substrate not in metrics.SUBSTRATES:
        raise UserError(f'unknown --substrate {options.substrate}; choose {", ".join(metrics.SUBSTRATES)}')
    if options.frames < 1 or options.steps < 2:
        raise UserError('--frames must be at least 1 and --steps at least 2')
    if options.random_orders is not None and options.random_orders < 2:
        raise UserError(f'--random-orders must be at least 2 (their spread is part of the margin), not '
                        f'{options.random_orders}')
    if options.json:
        check_destination(options.json, ('.json',), options.tubs, '--json')
    return options, tubs


def run(options):
    """The evaluation's result (the JSON's content)."""
    options, tubs = check(options)
    from donkey_saliency.offline.session import Session
    session = Session(options, tubs)
    result = measured(options, session, *sampled(options, session, session.camera_shape()))
    if options.json:
        from donkey_saliency.writers import write_texts
        write_texts([(options.json, json.dumps(result, indent=1), '--json')])
    return result


def sampled(options, session, shape, spread=None):
    """(up to --frames readable records spread evenly over the range, as a session.Sample of camera images of
    `shape` (the camera frame's: the most common among a sample spread over the range); the records in the range
    left out: unreadable images, images of another size). `spread`: the session's spread, when several sessions
    share it (the report's pilots)."""
    sample, skipped = session.sample(options.frames, shape=shape, spread=spread)
    if sample is None:
        raise UserError(f'no readable image among the sampled records ({skipped}); nothing to evaluate')
    return sample, skipped


def measured(options, session, sample, skipped):
    """The evaluation's result on the sampled frames of one session's pilot."""
    from donkey_saliency.core import carconfig, metrics
    from donkey_saliency.core.engine import TARGET_ALIASES
    from donkey_saliency.offline.inputs import PilotInputs
    pilot = session.pilot
    if pilot.kind in ('memory', 'rnn', '3d') or len(pilot.model.inputs[0].shape) != 4:
        raise UserError(f'evaluate takes pilots that see one camera frame as their first input, not a {pilot.kind} '
                        'pilot (its history would be made of the sampled frames); use a linear-type pilot')
    records = sample.records
    frames = np.stack([session.pilot_input(image) for image in sample.images])
    frames = frames.astype(np.float32) / np.float32(255)
    inputs = PilotInputs(pilot)(frames, records)
    target = TARGET_ALIASES.get(options.target, options.target)
    targets = ['angle', 'throttle'] if target == 'all' else [target]
    orders = options.random_orders or metrics.RANDOM_ORDERS
    names = options.method_names()
    result = {'config': carconfig.used(options.config),
              'frames': len(frames), 'steps': options.steps, 'substrate': options.substrate, 'random_orders': orders,
              'skipped': dict(skipped.reasons), 'skipped_tubs': session.tubs.skipped_tubs,
              'warnings': session.reader.warnings, 'left_out': [], 'outputs': {}}
    from tqdm import tqdm
    external = {_name(path, options.maps): _external_maps(path, records, frames.shape[1:3]) for path in options.maps}
    # closed on the way out of an interrupt too, so that the line about the stop starts a line of its own
    with tqdm(total=len(targets) * (len(names) + len(options.maps) + orders) * len(frames), unit='frame',
              desc='evaluate', disable=not options.progress, dynamic_ncols=True) as bar:
        for t in targets:
            pilot.score(t)  # an output the pilot has not is the user's error, never a method left out
            kept, requests, engines, left_out = _engines(pilot, names, t, options.settings, options.method == ALL)
            if left_out:
                result['left_out'] += left_out
                bar.total -= len(left_out) * len(frames)
                bar.refresh()
            raw = [engine(inputs)[1][0] for engine in engines]
            maps = dict(external if t == targets[0] else {}, **dict(zip(kept, raw)))  # files: 1st output
            result['outputs'][t] = scored(pilot, frames, maps, t, options.steps, options.substrate, inputs[1:],
                                          bar.update, orders)
            if t == targets[0]:
                result['randomisation'] = _randomisation(options, pilot, inputs, requests, raw, engines)
    return result


def _engines(pilot, names, target, settings, every=False):
    """(names, requests, engines, left out): the methods `names` for `target` that can be computed, one engine
    each (the randomisation check reuses them), and those left out. With `every` (--method all) a .tflite pilot's file leaves out each method
    it cannot answer: {method, output, why}, `why` the engine's refusal; a Keras file answers every method. Any
    other refusal (a method named, an unknown --layer) is the user's error, raised; so is nothing left to run."""
    from donkey_saliency.core.engine import Engine, requests_for
    kept, requests, engines, left_out = [], [], [], []
    for name in names:
        request = requests_for(name, target)[0][0]
        try:
            engine = Engine(pilot, [request], settings)
        except UserError as exc:
            if not (every and pilot.tflite):
                raise
            left_out.append({'method': name, 'output': target, 'why': str(exc)})
            continue
        kept.append(name)
        requests.append(request)
        engines.append(engine)
    if left_out and not kept:
        raise UserError(f'no method can be computed from {pilot.path} for {target}: every one was left out '
                        f'({", ".join(item["method"] for item in left_out)}); {left_out[0]["method"]}: '
                        f'{left_out[0]["why"]}')
    return kept, requests, engines, left_out


def scored(pilot, frames, maps, target, steps, substrate, extra=(), advance=None, orders=None):
    """`metrics.compare`'s scores of each set of maps, with how many of its frames are blank."""
    from donkey_saliency.core import metrics
    found = metrics.compare(pilot, frames, maps, target, steps, substrate, extra, advance,
                            orders or metrics.RANDOM_ORDERS)
    return {name: dict(scores, blank_frames=blank_frames(maps[name])) for name, scores in found.items()}


def blank_frames(maps):
    """How many of the (N, H, W) maps are blank (all zero: the method saw nothing there, e.g. a dead last conv for
    VBP); their pixel order is the index order, which says nothing."""
    return int((~np.asarray(maps).reshape(len(maps), -1).any(axis=1)).sum())


def _randomisation(options, pilot, inputs, requests, raw, engines):
    """The cascading randomisation check on up to RANDOMISATION_FRAMES of the frames, through the engines that
    made the maps; None when skipped or for a .tflite pilot (which cannot be re-initialised)."""
    from donkey_saliency.core import randomisation
    if not options.randomisation or pilot.tflite or not requests:
        return None
    count = min(RANDOMISATION_FRAMES, len(inputs[0]))
    return randomisation.check(pilot, [x[:count] for x in inputs], requests, options.settings,
                               [maps[:count] for maps in raw], engines)


def _name(path, paths):
    return 'maps' if len(paths) == 1 else os.path.splitext(os.path.basename(path))[0]


def _external_maps(path, records, size):
    """The maps of a --save-maps file for these records, at the pilot's input size."""
    import cv2
    saved = np.load(path)
    key = 'raw' if 'raw' in saved else 'maps'
    if key not in saved or 'index' not in saved:
        raise UserError(f'{path} has no maps and index arrays; pass a .npz written by --save-maps')
    several = 'tub' in saved and len(set(saved['tub'].tolist())) > 1  # then records are told apart by tub too

    def record_key(tub, index):
        return (str(tub), int(index)) if several else int(index)

    tubs = saved['tub'].tolist() if several else [''] * len(saved['index'])
    keys = [record_key(tub, index) for tub, index in zip(tubs, saved['index'])]
    if len(set(keys)) != len(keys):
        raise UserError(f'{path} holds several maps for one record (a tub given twice?): evaluate its maps on one tub')
    where = {k: n for n, k in enumerate(keys)}
    wanted = [record_key(r.get('_tub', ''), r.get('_index', -1)) for r in records]
    missing = [k for k in wanted if k not in where]
    if missing:
        raise UserError(f'{path} has no maps for records {missing[:5]}; make it from the same tubs and range')
    maps = saved[key][[where[k] for k in wanted]]
    return np.stack([cv2.resize(m, size[::-1], interpolation=cv2.INTER_AREA) for m in maps])


def _reads_true(value, threshold, digits=4):
    """`value` with enough digits that it compares with `threshold` as it is (0.89996 is not shown as 0.9000)."""
    while digits < 12 and (round(value, digits) >= threshold) != (value >= threshold):
        digits += 1
    return f'{value:.{digits}f}'


def table(result):
    """The terminal table: per output and maps, deletion and insertion against random, the verdict."""
    from donkey_saliency.core.randomisation import FLAG_AT
    checked = result.get('randomisation') or {}
    frames = result['frames']
    lines = [f'{frames} frames, {result["steps"]} steps, substrate {result["substrate"]}, random: the mean of '
             f'{result["random_orders"]} random orders; deletion: lower is better, insertion: higher is better; '
             'randomised: rank correlation with the maps of the pilot with all layers re-initialised (high: not '
             'about the model); blank: frames whose map is all zero',
             f'{"output":8s} {"maps":22s} {"deletion (random)":>18s} {"insertion (random)":>19s} {"randomised":>10s}'
             f' {"blank":>6s}  verdict']
    first = next(iter(result['outputs']), None)
    for target, found in result['outputs'].items():
        for name, s in found.items():
            check = checked.get(name) if target == first else None  # the check ran on the first output
            flags = [] if s['beats_random'] else ['not better than the random orders']
            if check and check['flagged']:
                flags.append('survives randomising the pilot')
            if s['blank_frames']:
                flags.append(f'blank map on {s["blank_frames"]} of {frames} frames')
            verdict = 'FLAGGED: ' + '; '.join(flags) if flags else 'ok'
            randomised = f'{_reads_true(check["rank_correlation"], FLAG_AT):>10s}' if check else f'{"-":>10s}'
            lines.append(f'{target:8s} {name:22s} {s["deletion_auc"]:8.4f} ({s["random_deletion_auc"]:.4f})  '
                         f'{s["insertion_auc"]:9.4f} ({s["random_insertion_auc"]:.4f}) {randomised} '
                         f'{s["blank_frames"]:6d}  {verdict}')
    lines += [f'left out {item["method"]} ({item["output"]}): {item["why"]}' for item in result.get('left_out', [])]
    if result.get('randomisation') is None:
        lines.append('randomisation check: not run (--no-randomisation, or a .tflite pilot: it needs the Keras file)')
    from donkey_saliency.tub.read import Skipped
    lines.append(f'skipped records: {Skipped(collections.Counter(result.get("skipped", {})))}')
    lines += [f'car config: {result["config"]}'] if 'config' in result else []
    return lines + [f'warning: {warning}' for warning in result.get('warnings', [])]
