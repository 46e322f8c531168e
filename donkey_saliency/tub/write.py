"""Write a donkeycar v2 tub without donkeycar (upstream's Python 3.12 stack, where donkeycar 5.3 does not install).

`TubWriter` writes the files donkeycar 5.3's `Tub` writes, byte for byte but for the clock (timestamps, creation
times, the session's date), so that donkeycar's own `Tub` reads what it writes (tests/test_tub_writer.py checks
both on the same records): manifest.json (inputs, types, metadata, manifest metadata with its sessions, catalog
metadata), catalog_<n>.catalog (one JSON record per line, keys sorted, `_index`, `_session_id`, `_timestamp_ms`
added), catalog_<n>.catalog_manifest (its line lengths), and images/<index>_<key>_.jpg saved by Pillow as donkeycar
saves them. Writing into an existing tub continues it in a new session, as donkeycar does. `write_contents` takes
a catalog line's contents as they are, as donkeycar's Manifest.write_record does: for a copy whose records keep
their own time and session (the mirror), which `write_record` would stamp with the time of writing.
`open_tub_writer` gives donkeycar's own `Tub` where donkeycar is installed, this one otherwise.
"""
import json
import os
import time

import numpy as np

from donkey_saliency.tub import schema
from donkey_saliency.tub.schema import MAX_CATALOG_LEN


class TubWriter:
    """Append records to the v2 tub at `path` (created when missing) with donkeycar's `Tub.write_record` (or,
    as they are, with its `Manifest.write_record`: `write_contents`), or mark them deleted (`delete_records`); no
    `inputs` and `types`: the tub's own, as `Tub(path)` takes them."""

    def __init__(self, path, inputs=(), types=(), max_catalog_len=MAX_CATALOG_LEN):
        self.path = os.path.abspath(os.path.expanduser(str(path)))
        self.input_types = dict(zip(inputs, types))
        self.images = os.path.join(self.path, schema.IMAGES)  # donkeycar's Tub.images_base_path
        os.makedirs(self.images, exist_ok=True)
        manifest = os.path.join(self.path, schema.MANIFEST)
        if os.path.isfile(manifest) and os.path.getsize(manifest):
            self._continue(manifest, list(inputs), list(types))
        else:
            self.head = [list(inputs), list(types), {}, {'created_at': time.time()}]
            self.catalog = {'paths': [], 'current_index': 0, 'max_len': max_catalog_len, 'deleted_indexes': []}
            self._new_catalog()
        sessions = self.head[3].get('sessions')
        self.session = (sessions['last_id'] + 1) if sessions else 0
        self.session_name = f"{time.strftime('%y-%m-%d')}_{self.session}"
        self.written = False

    def _continue(self, manifest, inputs, types):
        with open(manifest) as f:
            lines = [json.loads(line) for line in f.read().splitlines()[:5]]
        if (inputs or types) and lines[:2] != [inputs, types]:
            raise ValueError(f'{self.path} holds other inputs/types ({lines[0]}, {lines[1]}) than {inputs}, {types}')
        if not inputs and not types:  # as donkeycar's Tub(path): the tub's own inputs
            self.input_types = dict(zip(lines[0], lines[1]))
        self.head, self.catalog = lines[:4], lines[4]
        name = self.catalog['paths'][-1]
        with open(self._catalog_manifest_path(name)) as f:
            self.catalog_manifest = json.loads(f.readline())

    def _catalog_manifest_path(self, name):
        return os.path.join(self.path, os.path.splitext(name)[0] + '.catalog_manifest')

    def _new_catalog(self):
        name = schema.catalog_name(len(self.catalog['paths']))
        self.catalog['paths'].append(name)
        self.catalog_manifest = {'path': os.path.basename(self._catalog_manifest_path(name)),
                                 'created_at': time.time(), 'start_index': self.catalog['current_index'],
                                 'line_lengths': []}
        open(os.path.join(self.path, name), 'a').close()
        self._write_catalog_manifest()
        self._write_manifest()

    def _write_catalog_manifest(self):
        with open(self._catalog_manifest_path(self.catalog['paths'][-1]), 'w', newline='\n') as f:
            f.write(json.dumps(self.catalog_manifest, allow_nan=False, sort_keys=True) + '\n')

    def _write_manifest(self):
        with open(os.path.join(self.path, schema.MANIFEST), 'w', newline='\n') as f:
            f.write(''.join(json.dumps(part) + '\n' for part in self.head + [self.catalog]))

    def _value(self, key, kind, value, index):
        """The record's value for `key` as donkeycar's Tub.write_record stores a value of donkeycar type `kind`."""
        if kind == 'image_array':
            from PIL import Image
            name = schema.image_file_name(index, key, kind)
            Image.fromarray(np.uint8(value)).save(os.path.join(self.images, name))
            return name
        convert = {'float': float, 'str': lambda v: v, 'int': int, 'boolean': bool, 'nparray': lambda v: v.tolist(),
                   'list': list, 'vector': list}
        if kind not in convert:
            raise ValueError(f'cannot write {key} of type {kind} into a tub')
        return convert[kind](value)

    @property
    def index(self):
        """The next record's index (donkeycar's Manifest.current_index)."""
        return self.catalog['current_index']

    def write_record(self, record):
        """As donkeycar's Tub.write_record: the inputs' values converted (images saved), stamped with now."""
        index = self.index
        contents = {key: self._value(key, self.input_types[key], value, index)
                    for key, value in record.items() if value is not None and key in self.input_types}
        contents.update(_timestamp_ms=int(round(time.time() * 1000)), _index=index, _session_id=self.session_name)
        self.write_contents(contents)

    def write_contents(self, contents):
        """As donkeycar's Manifest.write_record: `contents` is the catalog line, `_index`, `_session_id` and
        `_timestamp_ms` included (its images already in `images`)."""
        index = self.index
        if index > 0 and index % self.catalog['max_len'] == 0:
            self._new_catalog()
        line = json.dumps(contents, allow_nan=False, sort_keys=True) + '\n'
        with open(os.path.join(self.path, self.catalog['paths'][-1]), 'a', newline='\n') as f:
            f.write(line)
        self.catalog_manifest['line_lengths'].append(len(line))
        self._write_catalog_manifest()
        self.catalog['current_index'] = index + 1
        self._write_manifest()
        self.written = True

    def delete_records(self, indexes):
        """Mark records deleted, as donkeycar's tub manager does (Tub.delete_records): listed in the manifest."""
        self.catalog['deleted_indexes'] = sorted(set(self.catalog['deleted_indexes']) | set(indexes))
        self._write_manifest()

    def close(self, keep=True):
        """Record this session in the manifest (donkeycar does so only when a record was written); keep=False:
        the tub is being thrown away, nothing more is written."""
        if keep and self.written:
            sessions = self.head[3].setdefault('sessions', {'all_full_ids': []})
            sessions.update(last_id=self.session, last_full_id=self.session_name)
            sessions['all_full_ids'].append(self.session_name)
            self._write_manifest()


def open_tub_writer(path, inputs=(), types=(), max_catalog_len=MAX_CATALOG_LEN):
    """donkeycar's own Tub where donkeycar is installed (as the car writes tubs), else TubWriter."""
    from donkey_saliency.quiet import donkeycar_or_none
    if donkeycar_or_none() is None:
        return TubWriter(path, inputs, types, max_catalog_len)
    from donkeycar.parts.tub_v2 import Tub
    return Tub(str(path), inputs=list(inputs), types=list(types), max_catalog_len=max_catalog_len)
