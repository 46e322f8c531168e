"""What donkeycar's tub format is: its file names, the keys a car records, and where a tub keeps its record keys.

Written here once, so that the reader (read.py), the writer (write.py), the mirror, the car part and the synthetic
tubs agree on it. v2 (donkeycar 4 and 5): manifest.json, whose lines are the record keys, their types, the tub's
metadata, the manifest's own (its creation time, its sessions) and the catalogs' (their names, the next index, the
records per catalog, the deleted ones); catalog_<n>.catalog of JSON records; images/. v1 (donkeycar 2 and 3):
meta.json (keys, types, start time), record_<i>.json beside the images.
"""
import json
import math
import os
import re

MANIFEST = 'manifest.json'
V1_META = 'meta.json'
IMAGES = 'images'
CATALOG = re.compile(r'^catalog_(\d+)\.catalog$')
V1_RECORD = re.compile(r'^record_(\d+)\.json$')
MAX_CATALOG_LEN = 1000  # records per catalog: donkeycar's default

IMAGE_KEY = 'cam/image_array'
# the keys and types a donkeycar car records (manage.py's), the camera first
DRIVE_INPUTS = (IMAGE_KEY, 'user/angle', 'user/throttle', 'user/mode')
DRIVE_TYPES = ('image_array', 'float', 'float', 'str')
IMAGE_TYPES = {'image_array': '.jpg', 'gray16_array': '.png'}  # donkeycar's image types and their file suffixes


def catalog_name(number):
    return f'catalog_{number}.catalog'


def v1_record_name(index):
    return f'record_{index}.json'


def image_file_name(index, key, kind):
    """The file donkeycar's Tub saves record `index`'s image under `key` of type `kind` in (Tub._image_file_name)."""
    return f'{index}_{key.replace("/", "_")}_{IMAGE_TYPES[kind]}'


def is_v2(path):
    return os.path.isfile(os.path.join(path, MANIFEST))


def is_v1(path):
    """A v1 tub as its files say: meta.json, and no manifest.json (a v2 tub's manifest wins)."""
    return not is_v2(path) and os.path.isfile(os.path.join(path, V1_META))


def manifest_line(path, number, kind):
    """Line `number` of the tub's manifest.json as JSON of type `kind`, or None when it is absent or is not that;
    an OSError when the manifest cannot be opened."""
    with open(os.path.join(path, MANIFEST), 'rb') as f:
        lines = f.read().splitlines()
    try:
        value = json.loads(lines[number])
    except (IndexError, ValueError):
        return None
    return value if isinstance(value, kind) else None


def manifest_schema(path):
    """(inputs, types) of the v2 tub at `path`, the manifest's first two lines as donkeycar's Tub reads them; None
    when they cannot be read or are not two lists of one length."""
    try:
        return _checked(manifest_line(path, 0, list), manifest_line(path, 1, list))
    except OSError:
        return None


def stored_schema(path):
    """(inputs, types) of the tub at `path`: a v2 tub's manifest_schema, or a v1 tub's meta.json `inputs` and
    `types`; None when they cannot be read or are not two lists of one length."""
    if is_v2(path):
        return manifest_schema(path)
    meta = _v1_meta(path)
    return _checked(meta.get('inputs'), meta.get('types')) if meta else None


def v1_inputs(path):
    """A v1 tub's record keys: meta.json's `inputs` ([] when it names none), or None when meta.json cannot be read
    or they are not a list."""
    meta = _v1_meta(path)
    inputs = meta.get('inputs', []) if meta is not None else None
    return inputs if isinstance(inputs, list) else None


def v1_start(path):
    """A v1 tub's start (meta.json's `start`, in seconds: its records' `milliseconds` count from it), or None when
    it is not a finite number."""
    start = (_v1_meta(path) or {}).get('start')
    return float(start) if isinstance(start, (int, float)) and math.isfinite(start) else None


def _v1_meta(path):
    """meta.json as a dict, or None when it cannot be read or is not one."""
    try:
        with open(os.path.join(path, V1_META)) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _checked(inputs, types):
    if isinstance(inputs, list) and isinstance(types, list) and len(inputs) == len(types):
        return inputs, types
    return None
