"""The report's one pass: what every pilot's maps and outputs add up to over the run, kept small.

Per frame only numbers are kept (band and third shares, the share above the horizon, the pilots' outputs, the
user's values); pictures are kept for a bounded number of frames: the largest disagreements at distinct moments,
evenly spaced keyframes for the time plots (and the typical frame among them), and the seconds before each
takeover (a short ring buffer). Memory stays flat but for those numbers.
"""
import collections
import math
from dataclasses import dataclass

import numpy as np

from donkey_saliency.core import attention
from donkey_saliency.keys import ALARM_KEY, HEALTH_KEYS

THUMBNAILS = 12          # disagreements shown, per pilot and between pilots
GOLDEN = (5 ** 0.5 - 1) / 2  # the tie-break's step: its multiples' fractions spread evenly, whatever their count
CANDIDATES = 48          # distinct moments kept to choose them from (one moment that replaces two frees a place)
APART_RECORDS = 20       # disagreements kept are at least this many frames apart,
APART_SECONDS = 1.0      # and this far apart in time where the records' times allow:
FASTEST_LOOP_HZ = 100    # records closer than 1/this apart on average were not written in real time
KEYFRAMES = 120          # frames kept small, spread over the run, for clicks on the time plots
TAKEOVER_SECONDS = 3.0   # looked back before each takeover
WINDOW_FRAMES = 60       # looked back instead where records have no time
LONGEST_WINDOW = 200     # frames kept at most (3 s at 66 Hz, past any car's loop): memory stays bounded
TAKEOVER_PICTURES = 20   # takeovers kept with pictures (all are listed)
BEFORE_PICTURES = 4      # pictures per takeover, spread over the seconds before it
PILOTED = ('local', 'local_angle')  # user/mode while the pilot steers
TUB_KEY = '_tub'         # the record's tub, as the reader tags it


@dataclass
class Moment:
    """A frame kept as a picture: its place in the run (its record is the Collector's records[position]), camera
    image, and each pilot's raw map and outputs."""
    position: int
    image: np.ndarray
    maps: list
    angles: list
    throttles: list


@dataclass
class Takeover:
    """A takeover: where, the mode the pilot drove in, the positions of the frames before it (its own last), and
    up to BEFORE_PICTURES of them kept as pictures."""
    position: int
    mode_before: str
    before: list
    pictures: list


class PilotTrack:
    """One pilot over the run: per-frame attention shares and outputs, and the sum of its attention."""

    def __init__(self, shape, horizon):
        self.band_edges = attention.band_edges(shape[0])
        self.third_edges = attention.third_edges(shape[1])
        self.horizon = horizon
        self.bands, self.thirds, self.above, self.conspicuous, self.angle, self.throttle = [], [], [], [], [], []
        self.attention_total = np.zeros(shape)
        self.attended = 0  # frames whose map is not blank
        self.blank = 0  # frames whose map is blank (all zero): said on the page and in the JSON

    def add(self, raw, angle, throttle, conspicuous_mass):
        mass = attention.mass(raw)
        rows = mass.sum(axis=2)
        self.bands.append(attention.shares(rows, self.band_edges))
        self.thirds.append(attention.shares(mass.sum(axis=1), self.third_edges))
        self.above.append(attention.share_above(mass, self.horizon))
        self.conspicuous.append(attention.correlation(mass, conspicuous_mass))
        self.angle.append(np.asarray(angle, np.float64))
        self.throttle.append(np.asarray(throttle, np.float64))
        seen = ~np.isnan(mass).any(axis=(1, 2))
        self.attention_total += mass[seen].sum(axis=0)
        self.attended += int(seen.sum())
        self.blank += int((~seen).sum())

    def series(self, name):
        """A per-frame quantity over the whole run, as one array."""
        parts = getattr(self, name)
        return np.concatenate(parts) if parts else np.zeros(0)

    @property
    def average(self):
        """The average attention over the run (sums to 1), or None when every map was blank."""
        return self.attention_total / self.attended if self.attended else None


class Collector:
    """Everything the report needs from the pass, fed batch by batch in record order."""

    def __init__(self, models, shape, horizon, expected, watch=None):
        self.watch = watch  # health_review.Watch: the health numbers of one pilot's maps, in record order
        self.tracks = [PilotTrack(shape, horizon) for _ in range(models)]
        self.conspicuous_total = np.zeros(shape)
        self.records = []  # slim copies: index, tub, user values, mode, time
        self.keyframes = []
        self.stride = max(1, math.ceil(expected / KEYFRAMES))
        self.user_heaps = [Distinct(self.records) for _ in range(models)]
        self.between_heap = Distinct(self.records)
        self.takeovers = []
        self.recent = collections.deque()
        self.piloted = None  # the mode the pilot drove in since the user last did, in the current tub
        self.tub = None

    @property
    def frames(self):
        return len(self.records)

    def add(self, records, images, outputs, conspicuous_raw):
        """One batch: its records and camera images, (angle, throttle, raw maps) per pilot, and the model-free
        conspicuity maps of the same frames."""
        conspicuous = attention.mass(conspicuous_raw)
        self.conspicuous_total += np.nan_to_num(conspicuous).sum(axis=0)
        for track, (angle, throttle, raw) in zip(self.tracks, outputs):
            track.add(raw, angle, throttle, conspicuous)
        if self.watch:
            self.watch.series.add(outputs[self.watch.pilot][2], [record.get(TUB_KEY, '') for record in records])
        for i, (record, image) in enumerate(zip(records, images)):
            moment = Moment(len(self.records), image, [raw[i].copy() for _, _, raw in outputs],
                            [float(angle[i]) for angle, _, _ in outputs],
                            [float(throttle[i]) for _, throttle, _ in outputs])
            self.records.append(slim(record))
            self._keep(moment)

    def _keep(self, moment):
        user = self.records[-1]['user_angle']
        if moment.position % self.stride == 0:
            self.keyframes.append(moment)
        for heap, angle in zip(self.user_heaps, moment.angles):
            heap.push(abs(angle - user), moment)
        if len(moment.angles) > 1:
            self.between_heap.push(max(moment.angles) - min(moment.angles), moment)
        self._follow_mode(moment)

    def _follow_mode(self, moment):
        """Takeovers: the first record in `user` mode after records the pilot drove, within one tub. Only the
        positions of the frames before each are kept, and pictures for the first TAKEOVER_PICTURES."""
        record = self.records[-1]
        if record['tub'] != self.tub:
            self.tub, self.piloted = record['tub'], None
            self.recent.clear()
        self.recent.append(moment)
        self._forget_before(record['time'])
        mode = record['mode']
        if mode in PILOTED:
            self.piloted = mode
        elif mode == 'user' and self.piloted:
            window = list(self.recent)
            chosen = np.unique(np.linspace(0, len(window) - 1, BEFORE_PICTURES).round().astype(int))
            pictures = [window[i] for i in chosen] if len(self.takeovers) < TAKEOVER_PICTURES else []
            self.takeovers.append(Takeover(moment.position, self.piloted, [m.position for m in window], pictures))
            self.piloted = None

    def _forget_before(self, now):
        """Keep the frames of the last TAKEOVER_SECONDS (the last WINDOW_FRAMES where a time is missing), and
        never more than LONGEST_WINDOW."""
        while len(self.recent) > 1:
            then = self.records[self.recent[0].position]['time']
            old = now - then > TAKEOVER_SECONDS if None not in (now, then) else len(self.recent) > WINDOW_FRAMES
            if not old and len(self.recent) <= LONGEST_WINDOW:
                return
            self.recent.popleft()

    def largest(self, heap):
        """The kept moments of a Distinct, largest score first."""
        return heap.largest()

    def typical(self):
        """The keyframe closest (mean absolute difference) to the per-pixel median of the keyframes: a real
        frame a person recognises, where the average of the run is a blur."""
        images = np.stack([m.image for m in self.keyframes]).astype(np.int16)
        median = np.median(images, axis=0)
        return self.keyframes[int(np.abs(images - median).mean(axis=(1, 2, 3)).argmin())]


class Distinct:
    """The THUMBNAILS largest scores at distinct moments, fed in run order: a moment near a kept one (fewer
    than APART_RECORDS frames, or, in one tub recorded in real time, less than APART_SECONDS apart) replaces it
    when larger and is dropped otherwise; the CANDIDATES largest are kept. Twelve pictures show twelve events,
    each at its peak (a stretch of ever larger disagreement is one event). Equal scores (bang-bang steering makes
    many ties at 1.0) are ranked by the golden-ratio sequence of their positions, frac(position x 0.618...), whose
    largest values lie spread evenly over any run: the moments kept spread over it too, not its first ties."""

    def __init__(self, records):
        self.records = records  # the Collector's slim records, for the moments' tubs and times
        self.kept = []  # (score, tie-break, moment)

    def push(self, score, moment):
        if not np.isfinite(score):
            return
        item = (score, (moment.position * GOLDEN) % 1.0, moment)
        near = [kept for kept in self.kept if self._near(kept[2], moment)]
        if any(kept[:2] >= item[:2] for kept in near):
            return
        self.kept = [kept for kept in self.kept if all(kept is not other for other in near)] + [item]
        if len(self.kept) > CANDIDATES:
            self.kept.remove(min(self.kept, key=lambda kept: kept[:2]))

    def _near(self, a, b):
        frames = abs(a.position - b.position)
        if frames < APART_RECORDS:
            return True
        first, second = self.records[a.position], self.records[b.position]
        if first['tub'] != second['tub'] or None in (first['time'], second['time']):
            return False
        seconds = abs(first['time'] - second['time'])
        return seconds < APART_SECONDS and seconds >= frames / FASTEST_LOOP_HZ

    def largest(self):
        return [moment for _, _, moment in sorted(self.kept, key=lambda item: (-item[0], -item[1]))][:THUMBNAILS]


def slim(record):
    """The few record values the report keeps for every frame (the car's health numbers, NaN where not recorded,
    and `alarm`, None where not recorded)."""
    def number(key):
        try:
            value = float(record[key])
        except (KeyError, TypeError, ValueError):
            return math.nan
        return value

    time, alarm = record.get('_timestamp_ms'), record.get(ALARM_KEY)
    return {'index': int(record.get('_index', -1)), 'tub': record.get(TUB_KEY, ''),
            'user_angle': number('user/angle'), 'user_throttle': number('user/throttle'),
            'mode': record.get('user/mode'), 'time': None if time is None else float(time) / 1000.0,
            'alarm': None if alarm is None else bool(alarm),
            **{key.split('/')[-1]: number(key) for key in HEALTH_KEYS if key != ALARM_KEY}}
