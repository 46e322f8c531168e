"""Read tubs without ever changing them, and stream their frames in batches.

Tubs are read by this module alone, read-only, in the record shape donkeycar gives (the catalog line's JSON:
`_index`, `_timestamp_ms`, `_session_id` and the keys). donkeycar's `Tub(read_only=True)` writes nothing, but it
creates the tub folder and images/ where they are missing, and it cannot read past damage: an empty catalog
cannot be memory-mapped, a missing catalog or a manifest without its last line raise, and its iterator matches
deletions by line position. Whatever can be read is given; every record that cannot be is counted by cause.
"""
import collections
import copy
import glob
import json
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from donkey_saliency.errors import NothingToShow, UserError
from donkey_saliency.tub import schema
from donkey_saliency.tub.schema import IMAGE_KEY

# why a record is skipped, as the summaries print it
UNREADABLE_LINES = 'unreadable catalog lines'
MISSING_FROM_CATALOGS = 'records missing from the catalogs'
UNREADABLE_RECORD_FILES = 'unreadable record files'
BAD_IMAGES = 'missing or unreadable images'
OTHER_SIZE = 'images of another size'
NO_USER_VALUES = 'records without a user angle/throttle'

SHAPE_SAMPLE = 32  # images whose most common size is the camera frame's


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
    """Records left out, counted by reason; `bad_images`: (tub label, index) of each record whose image could not
    be read, which the report hands back for review (donkeycar's training stops on such a record)."""
    reasons: collections.Counter = field(default_factory=collections.Counter)
    bad_images: list = field(default_factory=list)

    def add(self, reason, count=1):
        if count:
            self.reasons[reason] += count

    @property
    def total(self):
        return sum(self.reasons.values())

    def __str__(self):
        return describe_skipped(self.reasons)


def describe_skipped(reasons):
    """{cause: count} as the summaries say it: '3 unreadable catalog lines, 1 ...', or 'none'."""
    return ', '.join(f'{n} {why}' for why, n in reasons.items()) if reasons else 'none'


def checked_tubs(paths):
    """(a TubReader of the tubs the --tub values name, folders and globs expanded, each checked and opened once, its
    records counted; their record keys; what was wrong with each tub skipped, for a result's `skipped_tubs`); a
    UserError unless something in them is readable.

    A tub named itself must be readable: what is wrong with it is the error. A damaged one that a folder or a glob
    brings (a car's data/ often holds a tub cut off by a power loss) is left out with a warning on stderr that
    names it and says why, and the others go on; only when none is left is that an error."""
    if not paths:
        raise UserError('no tub given; pass --tub PATH (repeat it for several tubs)')
    tubs, opened, keys, damaged = [], [], [], []
    for tub, named in _expanded(paths):
        try:
            tub_keys = check_tub(tub)
            opened.append(_open(tub))  # what only reading it further finds (a v1 tub's damaged exclude.json)
        except UserError as exc:
            if named:
                raise
            damaged.append(str(exc))
            continue
        keys.append(tub_keys)
        tubs.append(tub)
    if not tubs:
        raise UserError(f'no tub can be read: {"; ".join(damaged)}')
    for why in damaged:
        print(f'warning: skipped a tub: {why}', file=sys.stderr)
    reader = TubReader(tubs, opened)
    reader.check_readable()
    return reader, keys, damaged


def check_range(start, end):
    """A UserError unless --start and --end make a range of records (end -1: to the last)."""
    if start < 0 or (end != -1 and end <= start):
        raise UserError(f'--start {start} --end {end} is an empty range; '
                        'use 0 <= start < end, or --end -1 for the last record')


def is_tub(path):
    """Whether `path` is a tub folder as far as its files say (v2: manifest.json; v1: meta.json)."""
    return schema.is_v2(path) or schema.is_v1(path)


def expand_tubs(paths):
    """The tubs that --tub values name, in the order given: a tub stays itself; a folder of tubs (a car's data/)
    and a quoted glob become the tubs in it or matched, oldest first, so that a drive plays in the order it
    happened. Folders and files that are not tubs are left out; a value that yields no tub is a UserError."""
    return [tub for tub, _ in _expanded(paths)]


def _expanded(paths):
    """(tub, whether the --tub value named it itself) for the tubs of expand_tubs."""
    tubs = []
    for path in paths:
        if not glob.has_magic(path) or os.path.exists(path):
            if is_tub(path) or not os.path.isdir(path):
                tubs.append((path, True))  # check_tub says what is wrong with a path that is neither
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
        tubs.extend((tub, False) for tub in found)
    return tubs


def _time_order(path):
    """Sort key: the tub's first record time (v2: the first line of its first catalog, found by name, else the
    manifest's created_at; v1: meta.json's start plus its first record's milliseconds, else the start), then its
    name; a tub without a time sorts by name, after those with one. Each is read on its own, and only numbers
    count: a damaged tub still sorts, and check_tub or the reader says what is wrong with it."""
    def number(value):
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    def first_catalog_time():
        with open(os.path.join(path, schema.catalog_name(0))) as f:
            return number(json.loads(f.readline())['_timestamp_ms']) / 1000.0

    def created_at():
        return number(schema.manifest_line(path, 3, dict)['created_at'])

    def v1_time():
        start = schema.v1_start(path)
        if start is None:
            return None
        try:
            first = min(int(m.group(1)) for m in map(schema.V1_RECORD.match, os.listdir(path)) if m)
            with open(os.path.join(path, schema.v1_record_name(first))) as f:
                return start + number(json.load(f)['milliseconds']) / 1000.0
        except (OSError, ValueError, KeyError, TypeError):  # no record, or a damaged one: the tub's start
            return start

    readers = (first_catalog_time, created_at) if schema.is_v2(path) else (v1_time,)
    seconds = None
    for read in readers:
        try:
            seconds = read()
        except (OSError, ValueError, IndexError, KeyError, TypeError, AttributeError):
            continue
        if seconds is not None:
            break
    return seconds is None, seconds or 0.0, tub_name(path)


def tub_name(path):
    """The tub's folder name: what the video's label band and --per-tub's file names call it."""
    return os.path.basename(os.path.normpath(os.path.abspath(path)))


def tub_labels(paths):
    """What the label band, the maps file and the report call each tub: its folder name, or, where different tubs
    share one (donkeycar names every tub `data`), its path from the folder they have in common."""
    full = [os.path.normpath(os.path.abspath(path)) for path in paths]
    labels = []
    for path in full:
        clashing = sorted({other for other in full if os.path.basename(other) == os.path.basename(path)})
        labels.append(os.path.relpath(path, os.path.commonpath(clashing)) if len(clashing) > 1
                      else os.path.basename(path))
    return labels


def check_tub(path):
    """The record keys of the donkeycar tub (v2, or v1) at `path`; a UserError unless it can be read at all.

    Damage further in (catalogs, the manifest's last line, records, images) is left to the reader, which reads
    around it."""
    if not os.path.isdir(path):
        raise UserError(f'tub not found: {path}; pass the folder that holds manifest.json with --tub')
    manifest = os.path.join(path, schema.MANIFEST)
    if not schema.is_v2(path):
        if schema.is_v1(path):
            return V1Tub.check(path)
        raise UserError(f'{path} is not a tub (no manifest.json); pass a tub folder recorded by donkeycar')
    inputs = schema.manifest_line(path, 0, list)
    if inputs is None:
        raise UserError(f'{manifest} is damaged (its first line, the record keys, is unreadable); '
                        'the tub cannot be read')
    if IMAGE_KEY not in inputs:
        raise UserError(f'{path} records no camera images ({IMAGE_KEY} is not among {inputs})')
    if not os.path.isdir(os.path.join(path, schema.IMAGES)):
        raise UserError(f'{path} has no images/ folder; the tub is incomplete')
    return inputs


class V2Tub:
    """A donkeycar v2 tub: manifest.json, catalog_<n>.catalog files of JSON lines (max_len records each, so
    catalog n holds records n * max_len onwards), images/. Deletions are listed in the manifest's last line."""

    def __init__(self, path):
        self.path = path
        self.images_base_path = os.path.join(path, schema.IMAGES)
        self.warnings = []
        meta = schema.manifest_line(path, 4, dict) or {}
        try:
            self.catalogs = [str(name) for name in meta['paths']]
            self.max_len, self.end = int(meta['max_len']), int(meta['current_index'])
            self.deleted = {int(i) for i in meta['deleted_indexes']}
            if self.max_len < 1:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            self._catalogs_by_name()
        for number, name in enumerate(self.catalogs):
            catalog = os.path.join(path, name)
            if not os.path.isfile(catalog):
                self.warnings.append(f'{path}: {name} is missing')
            elif os.path.getsize(catalog) == 0 and self._span(number):
                self.warnings.append(f'{path}: {name} is empty')

    def _catalogs_by_name(self):
        """Without the manifest's last line: the catalogs on disk in order, record ranges and deletions unknown."""
        self.warnings.append(f'{self.path}: manifest.json has lost its last line (the list of catalogs and of '
                             'deleted records): catalogs are read by name, and deleted records may reappear')
        numbers = sorted(int(m.group(1)) for m in map(schema.CATALOG.match, os.listdir(self.path)) if m)
        self.catalogs = [schema.catalog_name(n) for n in range(numbers[-1] + 1)] if numbers else []
        self.max_len, self.end, self.deleted = None, None, set()

    def _span(self, number):
        """The record indexes the manifest puts in catalog `number`, or None when it is not known."""
        if not self.max_len:
            return None
        return range(number * self.max_len, min((number + 1) * self.max_len, self.end))

    def entries(self):
        """(record, None) for each readable record in order, (None, cause) for each record that cannot be read;
        deleted records are left out."""
        for number, name in enumerate(self.catalogs):
            span = self._span(number)
            lines = _catalog_lines(os.path.join(self.path, name))
            for position, line in enumerate(lines):
                record = _record(line)
                by_position = span[0] + position if span else None
                if (record.get('_index', by_position) if record else by_position) in self.deleted:
                    continue
                yield (record, None) if record else (None, UNREADABLE_LINES)
            if span:  # records the manifest counts past the catalog's end (missing, empty or cut-short file)
                lost = sum(1 for index in span[len(lines):] if index not in self.deleted)
                yield from [(None, MISSING_FROM_CATALOGS)] * lost


def _catalog_lines(path):
    try:
        with open(path, 'rb') as f:
            return f.read().splitlines()
    except OSError:
        return []


def _record(line):
    """A catalog line as a record, or None when it is not a JSON object with a whole-number `_index`."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get('_index', 0), int):
        return None
    return record


class V1Tub:
    """A donkeycar v1 tub (meta.json, record_<i>.json and <i>_cam-image_array_.jpg side by side, indexes from 1,
    deletions in exclude.json), read in place, read-only, by this class alone: donkeycar's legacy reader writes
    into the tub, and its converter is not installed with it. Records look like v2 records: `_index` is the
    record's number, `_timestamp_ms` its `milliseconds`."""

    def __init__(self, path):
        self.path = self.images_base_path = path
        self.warnings = []
        excluded = set()
        exclude = os.path.join(path, 'exclude.json')
        if os.path.isfile(exclude):
            try:
                with open(exclude) as f:
                    excluded = {int(i) for i in json.load(f)}
            except (ValueError, TypeError):
                raise UserError(f'{exclude} is damaged; fix or remove it (it lists deleted records)') from None
        found = (schema.V1_RECORD.match(name) for name in os.listdir(path))
        self.indexes = sorted(int(m.group(1)) for m in found if m and int(m.group(1)) not in excluded)

    @staticmethod
    def check(path):
        inputs = schema.v1_inputs(path)
        if inputs is None:
            raise UserError(f'{os.path.join(path, schema.V1_META)} is damaged; the v1 tub cannot be read')
        if IMAGE_KEY not in inputs:
            raise UserError(f'{path} records no camera images ({IMAGE_KEY} is not among {inputs})')
        return inputs

    def entries(self):
        for index in self.indexes:
            try:
                with open(os.path.join(self.path, schema.v1_record_name(index))) as f:
                    record = json.load(f)
            except (OSError, ValueError):
                record = None
            if not isinstance(record, dict):
                yield None, UNREADABLE_RECORD_FILES
                continue
            record.setdefault('_index', index)
            if 'milliseconds' in record:
                record.setdefault('_timestamp_ms', record['milliseconds'])
            yield record, None


def _open(path):
    """The reader of the checked tub at `path`: v2 when it holds manifest.json, else v1."""
    return V2Tub(path) if schema.is_v2(path) else V1Tub(path)


class TubReader:
    """The records of one or more tubs, in order, read-only; deleted records are not seen. `skipped` counts the
    records `records()` could not give, by cause; `warnings` says what is wrong with the tubs as a whole.
    `opened`: the tubs at `paths` as checked_tubs opened them (each opened once per command)."""

    def __init__(self, paths, opened=None):
        if opened is None:
            for path in paths:
                check_tub(path)
        self.paths = list(paths)
        self.tubs = list(opened) if opened is not None else [_open(path) for path in self.paths]
        self.warnings = [warning for tub in self.tubs for warning in tub.warnings]
        self.skipped = Skipped()
        self._length = self._unreadable = None

    def entries(self):
        """(images folder, record or None, None or the cause it cannot be read) for every record, in order."""
        for name, tub in zip(tub_labels(self.paths), self.tubs):
            for record, cause in tub.entries():
                if record is not None:
                    record['_tub'] = name  # which tub a frame comes from, for the label band and the maps file
                yield tub.images_base_path, record, cause

    def __len__(self):
        """Readable records (deleted ones and unreadable catalog lines excluded): the positions --start and --end
        count."""
        if self._length is None:
            self._unreadable = Skipped()
            self._length = 0
            for _, record, cause in self.entries():
                self._length += record is not None
                self._unreadable.add(cause, cause is not None)
        return self._length

    def another_pass(self):
        """A reader of the same opened tubs, their count kept, whose `skipped` counts a pass of its own (a sample
        beside the pass whose counts a summary says)."""
        other = copy.copy(self)
        other.skipped = Skipped()
        return other

    def check_readable(self):
        """A UserError when the tubs hold no readable record at all."""
        if not len(self):
            why = str(self._unreadable) if self._unreadable.total else 'they hold no records'
            raise NothingToShow(f'nothing readable in {", ".join(map(str, self.paths))} ({why}); '
                                'pass a tub that holds records')

    def records(self, start=0, end=None):
        """(images folder, record) for the readable records at positions start..end-1 (end None: to the last);
        the records in that range that cannot be read are counted in `skipped`, the others are not.

        An unreadable record lies between two positions and belongs to the one after it: it is counted when that
        position is in the range, or, past the last readable record, when the range runs to the tubs' end."""
        position, past_end = 0, Skipped()  # past_end: the unreadable records after the range, until one is read
        for folder, record, cause in self.entries():
            if cause:
                if position >= start:
                    (past_end if end is not None and position >= end else self.skipped).add(cause)
            elif end is not None and position >= end:
                return  # a readable record after the range: what lay between belongs to it
            else:
                if position >= start:
                    yield folder, record
                position += 1
        for cause, count in past_end.reasons.items():  # no readable record after them: the range reaches the end
            self.skipped.add(cause, count)


def user_values(record):
    """The user's (angle, throttle) in a record, or None when either is missing or is not a finite number."""
    try:
        values = float(record['user/angle']), float(record['user/throttle'])
    except (KeyError, TypeError, ValueError):
        return None
    return values if all(np.isfinite(values)) else None


def decode(images_dir, record, key=IMAGE_KEY):
    """The record's image under `key` as uint8 RGB, or None when it is absent, missing, cut short or does not
    decode.

    Read as bytes and decoded in memory, so that a missing file is not reported on stderr by OpenCV."""
    import cv2
    name = record.get(key)
    if not isinstance(name, str) or not name:
        return None
    try:
        with open(os.path.join(images_dir, name), 'rb') as f:
            data = np.frombuffer(f.read(), np.uint8)
    except OSError:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size and not cut_short(data) else None
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def cut_short(data):
    """Whether the bytes of a JPEG or PNG file lack their end (a write cut off by a power loss): OpenCV decodes
    such a JPEG without complaint, its missing part grey. A JPEG ends with its EOI marker (FF D9), a PNG with its
    IEND chunk; a few bytes after them (padding) are allowed."""
    tail = data[-64:].tobytes()
    if data[:2].tobytes() == b'\xff\xd8':
        return b'\xff\xd9' not in tail
    if data[:4].tobytes() == b'\x89PNG':
        return b'IEND' not in tail
    return False


def frame_batches(reader, start, end, batch_size, key=IMAGE_KEY, every=1, workers=2):
    """Batches of the records at positions start, start + every, ... below end, decoded in a small thread pool.

    Memory holds a few batches at a time, whatever the tub's length.
    """
    def positioned():
        for offset, item in enumerate(reader.records(start, end)):
            if offset % every == 0:
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


def spread_records(reader, start, end, count, key=IMAGE_KEY):
    """(image under `key`, record) for up to `count` records spread evenly over positions start..end-1 whose
    image decodes: a first pass's sample. Give it a reader of its own when another pass's counts must stay apart."""
    for images, records in spread_windows(reader, start, end, count, 0, key):
        yield images[0], records[0]


def spread_windows(reader, start, end, count, before, key=IMAGE_KEY, accepts=None):
    """(images, records) for up to `count` records spread evenly over positions start..end-1, each with the
    `before` records before it in the range and in its tub (fewer near either's start), oldest first: the windows
    a sequence or memory pilot takes for one decision, as donkeycar collates them (never across two drives).
    `accepts(record)`: the records a window may hold (a memory pilot's need user values), as a pass skips the
    others. Only the windows are decoded; one whose images do not all decode is left out (counted once)."""
    wanted = set(np.linspace(start, end - 1, min(count, end - start)).astype(int))
    previous = collections.deque(maxlen=before)
    for position, (folder, record) in enumerate(reader.records(start, end), start):
        if previous and previous[-1][0] != folder:
            previous.clear()  # another tub: another drive
        if accepts is not None and not accepts(record):
            continue
        if position in wanted:
            window = list(previous) + [(folder, record)]
            images = [decode(f, r, key) for f, r in window]
            if any(image is None for image in images):
                reader.skipped.add(BAD_IMAGES)
            else:
                yield images, [r for _, r in window]
        if before:
            previous.append((folder, record))


def common_shape(images):
    """The most common shape among `images` (of those as common, the first met), or None for no image: the camera
    frame's shape, which a few images of another size (resized by hand, from another camera) do not set."""
    counts = collections.Counter(image.shape for image in images)
    return counts.most_common(1)[0][0] if counts else None


def sampled_shape(reader, start, end, key=IMAGE_KEY, resize=None, count=SHAPE_SAMPLE):
    """The most common shape of the images under `key` (after `resize`, when given) among up to `count` records
    spread over positions start..end-1 of the reader's tubs, or None when none decodes. Only the sample is
    decoded, one image at a time, in a pass of its own: the reader's counts are left alone."""
    images = spread_records(reader.another_pass(), start, end, count, key)
    return common_shape(resize(image) if resize else image for image, _ in images)


def _decode_batch(pool, items, skipped, key):
    images = pool.map(lambda item: decode(*item, key), items)
    images = list(images)
    frames = [Frame(image, record) for (_, record), image in zip(items, images) if image is not None]
    skipped.add(BAD_IMAGES, len(items) - len(frames))
    skipped.bad_images += [(record.get('_tub', ''), record.get('_index')) for (_, record), image in zip(items, images)
                           if image is None]
    return Batch(frames, len(items) - len(frames))
