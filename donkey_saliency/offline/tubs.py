"""Read tubs without ever changing them, and stream their frames in batches.

donkeycar's `Tub` silently creates a tub (and an images/ folder) where none exists, so a path is checked to be a
real v2 tub before donkeycar sees it, and always opened read-only. Bad records are skipped and counted by reason.
"""
import collections
import glob
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from donkey_saliency.errors import UserError

IMAGE_KEY = 'cam/image_array'


@dataclass
class Frame:
    """One record worth rendering: its decoded camera image and the record itself."""
    image: np.ndarray
    record: dict


@dataclass
class Batch:
    """Frames decoded from a run of consecutive records, and how many of those records had no usable image."""
    frames: list
    dropped: int


@dataclass
class Skipped:
    """Records left out, counted by reason."""
    reasons: collections.Counter = field(default_factory=collections.Counter)

    def add(self, reason, count=1):
        if count:
            self.reasons[reason] += count

    @property
    def total(self):
        return sum(self.reasons.values())

    def __str__(self):
        return ', '.join(f'{n} {why}' for why, n in self.reasons.items()) if self.reasons else 'none'


def is_tub(path):
    """Whether `path` is a tub folder as far as its files say (v2: manifest.json; v1: meta.json)."""
    return os.path.isfile(os.path.join(path, 'manifest.json')) or os.path.isfile(os.path.join(path, 'meta.json'))


def expand_tubs(paths):
    """The tubs that --tub values name, in the order given: a tub stays itself; a folder of tubs (a car's data/)
    and a quoted glob become the tubs in it or matched, oldest first, so that a drive plays in the order it
    happened. Folders and files that are not tubs are left out; a value that yields no tub is a UserError."""
    tubs = []
    for path in paths:
        if not glob.has_magic(path) or os.path.exists(path):
            if is_tub(path) or not os.path.isdir(path):
                tubs.append(path)  # check_tub says what is wrong with a path that is neither
                continue
            found = [os.path.join(path, name) for name in os.listdir(path)]
            what = f'{path} is not a tub (no manifest.json, nor meta.json of a v1 tub) and holds no tub folder'
        else:
            found = glob.glob(path)
            what = f'no tub matches {path} (looked for folders holding manifest.json, or meta.json for a v1 tub)'
        found = sorted((p for p in found if os.path.isdir(p) and is_tub(p)), key=_time_order)
        if not found:
            raise UserError(f'{what}; pass a tub folder recorded by donkeycar, a folder of tubs, or a glob '
                            'matching tub folders')
        tubs.extend(found)
    return tubs


def _time_order(path):
    """Sort key: the tub's first record time (v2: its first catalog line's _timestamp_ms, else the manifest's
    created_at; v1: meta.json's start plus its first record's milliseconds, else the start), then its name; a tub
    without a time sorts by name, after those with one."""
    seconds = None
    try:
        if os.path.isfile(os.path.join(path, 'manifest.json')):
            with open(os.path.join(path, 'manifest.json')) as f:
                lines = f.read().splitlines()
            seconds = json.loads(lines[3]).get('created_at')
            with open(os.path.join(path, json.loads(lines[4])['paths'][0])) as f:
                seconds = json.loads(f.readline())['_timestamp_ms'] / 1000.0
        else:  # v1 milliseconds count from the tub's start, which meta.json holds
            with open(os.path.join(path, 'meta.json')) as f:
                seconds = float(json.load(f)['start'])
            first = min(int(m.group(1)) for m in map(V1Tub.RECORD.match, os.listdir(path)) if m)
            with open(os.path.join(path, f'record_{first}.json')) as f:
                seconds += json.load(f)['milliseconds'] / 1000.0
    except (OSError, ValueError, IndexError, KeyError, TypeError, AttributeError):
        pass  # a damaged tub keeps what was read (or sorts by name); check_tub refuses it later
    return seconds is None, seconds or 0.0, tub_name(path)


def tub_name(path):
    """The tub's folder name: what the video's label band and --per-tub's file names call it."""
    return os.path.basename(os.path.normpath(os.path.abspath(path)))


def check_tub(path):
    """The record keys of the donkeycar tub (v2, or v1) at `path`; a UserError unless it can be read as it is."""
    if not os.path.isdir(path):
        raise UserError(f'tub not found: {path}; pass the folder that holds manifest.json with --tub')
    manifest = os.path.join(path, 'manifest.json')
    if not os.path.isfile(manifest):
        if os.path.isfile(os.path.join(path, 'meta.json')):
            return V1Tub.check(path)
        raise UserError(f'{path} is not a tub (no manifest.json); pass a tub folder recorded by donkeycar')
    with open(manifest) as f:
        lines = f.read().splitlines()
    try:
        inputs = json.loads(lines[0])
        catalogs = json.loads(lines[4])['paths']
    except (IndexError, KeyError, ValueError):
        raise UserError(f'{manifest} is damaged (expected 5 JSON lines); the tub cannot be read') from None
    if IMAGE_KEY not in inputs:
        raise UserError(f'{path} records no camera images ({IMAGE_KEY} is not among {inputs})')
    if not os.path.isdir(os.path.join(path, 'images')):
        raise UserError(f'{path} has no images/ folder; the tub is incomplete')
    for name in catalogs:
        catalog = os.path.join(path, name)
        if not os.path.isfile(catalog):
            raise UserError(f'{path} lists {name} in its manifest but the file is missing; the tub is incomplete')
    return inputs


class V1Tub:
    """A donkeycar v1 tub (meta.json, record_<i>.json and <i>_cam-image_array_.jpg side by side, indexes from 1,
    deletions in exclude.json), read in place, read-only, by this class alone: donkeycar's legacy reader writes
    into the tub, and its converter is not installed with it. Records look like v2 records: `_index` is the
    record's number, `_timestamp_ms` its `milliseconds`."""

    RECORD = re.compile(r'^record_(\d+)\.json$')
    unreadable_reason = 'unreadable record files'

    def __init__(self, path):
        self.path = self.images_base_path = path
        self.excluded = set()
        exclude = os.path.join(path, 'exclude.json')
        if os.path.isfile(exclude):
            try:
                with open(exclude) as f:
                    self.excluded = {int(i) for i in json.load(f)}
            except (ValueError, TypeError):
                raise UserError(f'{exclude} is damaged; fix or remove it (it lists deleted records)') from None
        found = (self.RECORD.match(name) for name in os.listdir(path))
        self.indexes = sorted(int(m.group(1)) for m in found if m and int(m.group(1)) not in self.excluded)

    @staticmethod
    def check(path):
        meta = os.path.join(path, 'meta.json')
        try:
            with open(meta) as f:
                inputs = json.load(f).get('inputs', [])
        except (ValueError, AttributeError):
            raise UserError(f'{meta} is damaged; the v1 tub cannot be read') from None
        if IMAGE_KEY not in inputs:
            raise UserError(f'{path} records no camera images ({IMAGE_KEY} is not among {inputs})')
        return inputs

    def __len__(self):
        return len(self.indexes)

    def __iter__(self):
        for index in self.indexes:
            try:
                with open(os.path.join(self.path, f'record_{index}.json')) as f:
                    record = json.load(f)
            except (OSError, ValueError):
                continue  # counted by the reader as unreadable
            record.setdefault('_index', index)
            if 'milliseconds' in record:
                record.setdefault('_timestamp_ms', record['milliseconds'])
            yield record

    def close(self):
        pass


class TubReader:
    """The records of one or more tubs, in order, read-only; deleted records are not seen."""

    def __init__(self, paths):
        for path in paths:
            check_tub(path)
        self.paths = list(paths)
        self.skipped = Skipped()

    def _open(self, path):
        if not os.path.isfile(os.path.join(path, 'manifest.json')):
            return V1Tub(path)
        from donkey_saliency.quiet import import_donkeycar
        import_donkeycar()
        from donkeycar.parts.tub_v2 import Tub
        try:
            return Tub(path, read_only=True)
        except ValueError as exc:  # an empty catalog file cannot be memory-mapped
            raise UserError(f'{path} has an empty or damaged catalog ({exc}); the tub cannot be read') from None

    def __len__(self):
        """Records the tubs claim to hold (deleted ones excluded)."""
        total = 0
        for path in self.paths:
            tub = self._open(path)
            total += len(tub)
            tub.close()
        return total

    def records(self):
        """(images folder, record) for every readable record; unreadable catalog lines are counted as skipped."""
        for path in self.paths:
            tub = self._open(path)
            try:
                seen = 0
                name = tub_name(path)
                for record in tub:
                    seen += 1
                    record['_tub'] = name  # which tub a frame comes from, for the label band and the maps file
                    yield tub.images_base_path, record
                self.skipped.add(getattr(tub, 'unreadable_reason', 'unreadable catalog lines'), len(tub) - seen)
            finally:
                tub.close()


def decode(images_dir, record, key=IMAGE_KEY):
    """The record's image under `key` as uint8 RGB, or None when it is absent, missing or does not decode."""
    import cv2
    name = record.get(key)
    if not name:
        return None
    image = cv2.imread(os.path.join(images_dir, name), cv2.IMREAD_COLOR)
    if image is None:
        return None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def frame_batches(reader, start, end, batch_size, key=IMAGE_KEY, every=1, workers=2):
    """Batches of the records at positions start, start + every, ... below end, decoded in a small thread pool.

    Memory holds a few batches at a time, whatever the tub's length.
    """
    def positioned():
        for position, item in enumerate(reader.records()):
            if end is not None and position >= end:
                return
            if position >= start and (position - start) % every == 0:
                yield item

    with ThreadPoolExecutor(workers) as pool:
        pending = []
        for item in positioned():
            pending.append(item)
            if len(pending) == batch_size:
                yield _decode_batch(pool, pending, reader.skipped, key)
                pending = []
        if pending:
            yield _decode_batch(pool, pending, reader.skipped, key)


def spread_records(paths, start, end, count):
    """(camera image, record) for up to `count` records spread evenly over positions start..end-1 whose image
    decodes: a first pass's sample. Its own reader, so the main pass's counts of skipped records stay its own."""
    wanted = set(np.linspace(start, end - 1, min(count, end - start)).astype(int))
    for position, (folder, record) in enumerate(TubReader(paths).records()):
        if position >= end:
            return
        image = decode(folder, record) if position in wanted else None
        if image is not None:
            yield image, record


def _decode_batch(pool, items, skipped, key):
    images = pool.map(lambda item: decode(*item, key), items)
    frames = [Frame(image, record) for (_, record), image in zip(items, images) if image is not None]
    skipped.add('missing or unreadable images', len(items) - len(frames))
    return Batch(frames, len(items) - len(frames))
