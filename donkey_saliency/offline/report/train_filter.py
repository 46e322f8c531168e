"""The TRAIN_FILTER that `report --review-out` writes for the car's myconfig.py.

The source of this module's two functions is copied into that file as it stands, so it imports nothing of this package: training
may run where only donkeycar is installed. donkeycar's TubDataset calls `cfg.TRAIN_FILTER(record)` on every
TubRecord (`donkey ui` too, for what it shows): `record.base_path` is the tub's path as `--tub` gave it (relative
to where `donkey train` runs, perhaps with a trailing slash or ~) and `record.underlying['_index']` the record's
index. A tub is named by its manifest's `created_at`, which stays with it wherever it is moved or copied to and
changes when a tub is recorded anew at the same path (donkeycar 5 records into `data/` itself); by its real path
where a manifest has none, or where several tubs listed share one (copies of one tub).
"""


def tub_created_at(folder):
    """The `created_at` of the v2 tub at `folder` (its manifest's fourth line), or None."""
    import json
    import os
    try:
        with open(os.path.join(folder, 'manifest.json')) as f:
            return json.loads(f.read().splitlines()[3]).get('created_at')
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def review_filter(tubs, earlier=None):
    """donkeycar's TRAIN_FILTER (a function of a TubRecord; True keeps it) that leaves out the records listed in
    `tubs`, [(real path, manifest created_at or None, [(first _index, last _index), ...]), ...], and keeps every
    other; `earlier`: a TRAIN_FILTER set before it in myconfig.py, which still applies."""
    import os
    listed = [(os.path.normpath(path), created, [tuple(pair) for pair in ranges]) for path, created, ranges in tubs]
    known = {}  # base_path: the ranges left out of that tub

    def left_out(base_path):
        if base_path not in known:
            real = os.path.realpath(os.path.expanduser(str(base_path)))
            created = tub_created_at(real)
            same = [tub for tub in listed if created is not None and tub[1] == created]
            if len(same) == 1:
                known[base_path] = same[0][2]
            else:
                by_path = same or [tub for tub in listed if created is None or tub[1] is None]
                known[base_path] = next((tub[2] for tub in by_path if tub[0] == real), [])
        return known[base_path]

    def keep(record):
        if earlier is not None and not earlier(record):
            return False
        index = record.underlying.get('_index')
        return not any(first <= index <= last for first, last in left_out(record.base_path))

    return keep
