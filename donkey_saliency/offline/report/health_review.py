"""The pilot's health numbers (core/health.py) along the run, and the alarm they raise: the car's, where the tub
recorded them (SALIENCY_HEALTH with SALIENCY_RECORD), else computed from the maps the report's pass makes anyway,
so that a human drive shows where a pilot's attention would have gone astray on the next lap.

Offline, the numbers are the car's rule on one pilot's maps in record order (health.Series), the change and the
alarm's window anew at each tub (another drive). Limits come only from a health file (--health, `donkey saliency
calibrate`), refused as the car refuses it when made for another pilot; with it the numbers are measured at its
surface edge, on its strength scale and window, as the car would; without it the strength is relative to the
run's own median and there is no alarm.
"""
import itertools
import os
from dataclasses import dataclass

import numpy as np

from donkey_saliency.core import health
from donkey_saliency.errors import UserError

NEEDS_FILE = ('to compute it from the maps, pass --health FILE (a health file from `donkey saliency calibrate` for '
              'the pilot)')


@dataclass
class Watch:
    """What the pass computes the numbers of: the pilot (its place among --model) and its series, and the health
    file (car/health.read's values; None without --health)."""
    pilot: int
    series: health.Series
    file: dict = None
    path: str = None


def check(options):
    """The health file of --health read (a missing or corrupt one refused in one line), or None; it compares
    consecutive frames, so not with --every."""
    if not options.health:
        return None
    if options.every > 1:
        raise UserError(f'--health compares consecutive frames, as the car does: leave --every {options.every} out')
    from donkey_saliency.car.health import read
    return read(options.health)


def watch(options, file, sessions, edge, frame_height):
    """The Watch of the pass: the pilot the health file was made for (refused in one line when it is none of
    --model), measured as the file says; without one, the first pilot at the report's surface edge."""
    if file is None:
        return Watch(0, health.Series(edge, frame_height))
    from donkey_saliency.car.health import refusal
    refused = [refusal(file, options.health, model, session.pilot.kind, options.method, 'the report explains')
               for model, session in zip(options.models, sessions)]
    if all(refused):
        raise UserError(refused[0])
    return Watch(refused.index(None), health.Series(file['surface_edge'], file['frame_height']), file,
                 options.health)


@dataclass
class Reviewed:
    """The JSON's `health` (`found`), the numbers per frame (for the page), and the alarm per frame (None where no
    record holds it and it cannot be computed) with its source ('recorded', 'computed' or None)."""
    found: dict
    numbers: dict
    alarm: list = None
    source: str = None


def review(collector, watch, models):
    """The numbers recorded where any record holds them (or the alarm), else computed; the alarm recorded, or
    computed with the health file's limits."""
    records = collector.records
    recorded = {name: np.array([r[name] for r in records], np.float64) for name in health.NUMBERS}
    alarm = [r['alarm'] for r in records]
    if any(value is not None for value in alarm) or any(np.isfinite(v).any() for v in recorded.values()):
        unused = f' (--health {watch.path} is not used: the tub holds them)' if watch.path else ''
        found = {'source': 'recorded', 'pilot': None, 'health_file': None, 'window': health.WINDOW, 'limits': None,
                 'numbers': _summary(recorded), 'said': f'as the car recorded them{unused}'}
        alarm = alarm if any(value is not None for value in alarm) else None
        return Reviewed(found, recorded, alarm, 'recorded' if alarm else None)
    numbers = watch.series.arrays()
    file = watch.file or {}
    scale = file.get('strength_scale') or _median(numbers['strength'])
    numbers['strength'] = numbers['strength'] / scale if scale else np.full_like(numbers['strength'], np.nan)
    window = file.get('window', health.WINDOW)
    model = models[watch.pilot]['model']
    name = os.path.basename(model.rstrip('/'))
    found = {'source': 'computed', 'pilot': model, 'health_file': watch.path, 'window': window,
             'surface_edge': int(watch.series.edge), 'strength_scale': scale,
             'strength_relative_to': 'the health file' if watch.file else 'the median of this run',
             'limits': file.get('limits'), 'numbers': _summary(numbers)}
    if not watch.file:
        found['said'] = f'computed from {name}\'s maps, the strength relative to this run\'s median'
        return Reviewed(found, numbers)
    on = _alarms(numbers, file['limits'], window, [r['tub'] for r in records])
    found['alarm_frames'] = int(on.sum())
    found['said'] = f'computed from {name}\'s maps as the car would with {watch.path}'
    return Reviewed(found, numbers, [bool(v) for v in on], 'computed')


def _alarms(numbers, limits, window, tubs):
    """The alarm per frame, its window anew at each tub (another drive: the car starts its window anew too)."""
    on = []
    for _, run in itertools.groupby(range(len(tubs)), key=tubs.__getitem__):
        run = list(run)
        on.extend(health.alarms({name: values[run[0]:run[-1] + 1] for name, values in numbers.items()}, limits,
                                window))
    return np.array(on, bool)


def _summary(numbers):
    """{number: {median, p05, p95, frames}} over the frames where it is known."""
    found = {}
    for name, values in numbers.items():
        known = values[np.isfinite(values)]
        found[name] = {'frames': int(len(known)), **{key: (float(np.percentile(known, q)) if len(known) else None)
                                                     for key, q in (('median', 50), ('p05', 5), ('p95', 95))}}
    return found


def _median(values):
    known = values[np.isfinite(values)]
    return float(np.median(known)) if len(known) else None
