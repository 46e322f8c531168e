"""The pilot's health on the car: the numbers of core/health.py for each map the part computes, the alarm said
in donkeycar's log when it starts and when it stops (once each, never every loop), and the throttle guard.

The health file (`donkey saliency calibrate`) is the car's only source of limits: one made for another pilot file,
type or method, a missing one or a corrupt one turns health off with one line in the log, and the car drives on,
as without it. No TensorFlow here: the numbers are numpy on the map the pilot's one inference gave.
"""
import json
import logging
import math
import os
import time

from donkey_saliency.errors import UserError, described, first_line

logger = logging.getLogger(__name__)


def load(path, pilot_file, kind, method):
    """The health file at `path` checked against the pilot the car drives (its file's name, its type, the map
    method), or None, said in one line on the log, when it cannot be used."""
    try:
        found = read(path)
    except UserError as exc:
        return off(str(exc))
    refused = refusal(found, path, pilot_file, kind, method)
    if refused:
        return off(refused)
    return Health(found['limits'], found['strength_scale'], found['surface_edge'], found['frame_height'],
                  found['window'])


def read(path):
    """The health file at `path`, its values typed and in range; a UserError says in one line why it cannot be
    used (a missing file, a corrupt one)."""
    from donkey_saliency.core.health import NUMBERS
    try:
        with open(path) as f:
            found = json.load(f)
        checked = {'limits': {name: float(found['limits'][name]) for name in NUMBERS},
                   'window': int(found['window']), 'surface_edge': int(found['surface_edge']),
                   'frame_height': int(found['frame_height']), 'strength_scale': float(found['strength_scale']),
                   'pilot': dict(found['pilot']), 'method': found.get('method')}
        if checked['window'] < 1 or checked['frame_height'] < 1 or not checked['strength_scale'] > 0 or \
                not all(math.isfinite(v) for v in checked['limits'].values()):
            raise ValueError('its window, frame height, strength scale or limits are out of range')
    except OSError as exc:
        raise UserError(f'cannot read the health file {path} ({exc.strerror or first_line(exc)}); make it with '
                        '`donkey saliency calibrate --tub TUB --model MODEL --out health.json`') from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f'the health file {path} is not one `donkey saliency calibrate` wrote ({described(exc)}); '
                        'make it again') from None
    return checked


def refusal(found, path, pilot_file, kind, method, user='the car drives'):
    """The one line that refuses a health file (from `read`) made for another pilot file, type or method than the
    one `user` (the car, the report) explains, or None."""
    pilot = found['pilot']
    made_for = (pilot.get('file'), pilot.get('type'), found['method'])
    drives = (os.path.basename(str(pilot_file).rstrip('/')), kind, method)
    if made_for == drives:
        return None
    return (f'the health file {path} was made for {made_for[0]} ({made_for[1]}, {made_for[2]} maps), and {user} '
            f'{drives[0]} ({drives[1]}, {drives[2]} maps); calibrate this pilot: `donkey saliency calibrate --tub TUB '
            f'--model {pilot_file} --out {path}`')


def off(line):
    """Health off, said once on the car's log: None, the part's health."""
    logger.warning(f'saliency: health off: {line}')
    return None


class Health:
    """The numbers map by map, and the alarm's start and end in the log. `latest` is what the part puts in the
    vehicle's memory under keys.HEALTH_KEYS: the numbers (None where the map was blank, or for the first map's change)
    and the alarm."""

    def __init__(self, limits, scale, edge, frame_height, window):
        from donkey_saliency.core.health import Monitor
        self.monitor = Monitor(limits, scale, edge, frame_height, window)
        self.latest = (None,) * (len(limits)) + (False,)
        self.since = None  # when the alarm came on

    def step(self, raw):
        found, alarm = self.monitor.step(raw)
        if alarm and self.since is None:
            self.since = time.monotonic()
            logger.warning('saliency: alarm on: the pilot\'s attention left the range it keeps on a good run ('
                           + ', '.join(f'{name} {value:.3f}' for name, value in found.items()) + ')')
        elif not alarm and self.since is not None:
            logger.warning(f'saliency: alarm off after {time.monotonic() - self.since:.1f} s')
            self.since = None
        self.latest = tuple(_number(value) for value in found.values()) + (alarm,)

    def forget(self):
        """The map could not be computed: no numbers, and the alarm as it was (it is said when it ends)."""
        self.latest = (None,) * (len(self.latest) - 1) + self.latest[-1:]


def _number(value):
    return value if math.isfinite(value) else None


class ThrottleGuard:
    """A part after the pilot: its throttle times `factor` while the alarm is on, never in user mode (the user's
    own throttle is DriveMode's, and stays theirs). Inputs user/mode, pilot/throttle, saliency/alarm."""

    def __init__(self, factor):
        self.factor = float(factor)

    def run(self, mode, throttle, alarm):
        if throttle is None or mode == 'user' or not alarm:
            return throttle
        return throttle * self.factor

