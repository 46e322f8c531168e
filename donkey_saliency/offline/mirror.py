"""`donkey saliency mirror`: a new tub whose every frame is its source's seen in a mirror, for training.

donkeycar 5.3 trains with BRIGHTNESS and BLUR, never a flip, so a track driven one way teaches a lean. The mirror
is the augmentation written out: each readable record's camera images flipped left to right, each steering key
negated, and the keys whose meaning a mirror changes flipped where that meaning is known (the IMU's lateral
axes, the behaviour lanes of the car's BEHAVIOR_LIST); any other key that might be lateral is refused, never
copied wrong. Records keep their time and their order; the sources are only read (through tub/read.py).

The tub is written with donkeycar's own Tub where donkeycar is installed, else in exactly its format (TubWriter,
tub/write.py); records go to its Manifest directly (TubWriter.write_contents), since Tub.write_record
stamps them with the time of writing. Everything is written into a hidden folder beside --out and renamed onto it
at the end: a full disk or an interrupt leaves no half tub.
"""
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field

import numpy as np

from donkey_saliency.errors import UserError
from donkey_saliency.tub import read as tub_read
from donkey_saliency.tub import schema
from donkey_saliency.tub.write import TubWriter
from donkey_saliency.writers import check_folder, check_outside_tubs, reporting_full_disk

JPEG_QUALITY = 95      # one more JPEG generation: within a few grey levels of the exact mirror (see the tests)
STEERING = re.compile(r'^((user|pilot)/)?(angle|steering)$')   # user/angle, pilot/angle, angle, steering
UNCHANGED = {'user/throttle', 'pilot/throttle', 'throttle', 'user/mode', 'enc/speed', 'perf/cpu', 'perf/mem',
             'perf/freq'}  # keys of donkeycar's templates that a left-right mirror leaves as they are
IMU = re.compile(r'^imu/(acl|gyr)_([xyz])$')
BEHAVIOUR = ('behavior/state', 'behavior/label', 'behavior/one_hot_state_array')
SIDES = {'Left': 'Right', 'Right': 'Left', 'left': 'right', 'right': 'left', 'LEFT': 'RIGHT', 'RIGHT': 'LEFT'}
LEFT_OUT = 'values that are not numbers, left out'


@dataclass
class MirrorOptions:
    """What `donkey saliency mirror` can be asked, with the CLI's defaults."""
    tubs: list
    out: str
    config: str = None
    keep: list = field(default_factory=list)
    drop: list = field(default_factory=list)
    imu_lateral: str = 'y'
    progress: bool = True


def check_imu_lateral(lateral):
    if lateral not in ('x', 'y', 'z'):
        raise UserError(f'--imu-lateral is x, y or z, not {lateral!r}')


def imu_flips(lateral):
    """The IMU keys a left-right mirror negates when `lateral` is the chip axis pointing across the car.

    The mirror is a reflection across the car's vertical plane along its length: it negates the lateral
    component of a vector (acceleration) and, as an angular velocity is an axial vector, the two components
    about the other axes (roll and yaw for a flat chip whose x points forward; pitch is unchanged). donkeycar's
    MPU6050 part hands on the chip's own axes (mpu6050-raspberrypi's get_all_data, unremapped)."""
    others = [axis for axis in 'xyz' if axis != lateral]
    return {f'imu/acl_{lateral}'} | {f'imu/gyr_{axis}' for axis in others}


def lane_swap(labels):
    """{index: index of its mirror} for the car's BEHAVIOR_LIST: Left_Lane <-> Right_Lane, a label naming no
    side stays; a UserError when a label's mirror is not in the list."""
    def mirrored(label):
        return re.sub('|'.join(SIDES), lambda m: SIDES[m.group(0)], label)
    swap = {}
    for i, label in enumerate(labels):
        if mirrored(label) not in labels:
            raise UserError(f"BEHAVIOR_LIST holds {label!r} but not its mirror {mirrored(label)!r}; add it to the "
                            'car config, or leave the behaviour out with --drop ' + ' --drop '.join(BEHAVIOUR))
        swap[i] = labels.index(mirrored(label))
    return swap


def behaviour_list(config):
    """The car's BEHAVIOR_LIST from its config.py (and myconfig.py), read as every command reads the car's config
    (core/carconfig.py: by donkeycar where it is installed, else as its load_config does). None without a config."""
    if config is None:
        return None
    from donkey_saliency.core import carconfig
    cfg, _ = carconfig.load(config)
    labels = getattr(cfg, 'BEHAVIOR_LIST', None)
    if not isinstance(labels, (list, tuple)) or not all(isinstance(label, str) for label in labels):
        raise UserError(f'{config} has no BEHAVIOR_LIST of lane names; add the one the car drove with')
    return list(labels)


def merged_schema(paths):
    """The keys of all the tubs in order of first appearance, with their types; a UserError when a tub's are
    unreadable, or when two tubs give one key two types."""
    merged = {}
    for path in paths:
        stored = schema.stored_schema(path)
        if stored is None:
            raise UserError(f'{path}: the record keys and their types are unreadable; the tub cannot be mirrored')
        for key, kind in zip(*stored):
            if merged.setdefault(key, kind) != kind:
                raise UserError(f'{key} is {merged[key]} in one tub and {kind} in {path}; mirror them separately')
    return merged


class Plan:
    """What becomes of each key: mirrored image, negated, lanes swapped, copied, or left out."""

    def __init__(self, keys, options):
        self.keys = {k: t for k, t in keys.items() if k not in options.drop}
        for flag, names in (('--keep', options.keep), ('--drop', options.drop)):
            for name in names:
                if name not in keys:
                    raise UserError(f'{flag} {name}: no tub records {name} (they record {", ".join(keys)})')
        if schema.IMAGE_KEY in options.drop:
            raise UserError(f'{schema.IMAGE_KEY} is the camera: it cannot be dropped')
        check_imu_lateral(options.imu_lateral)
        self.negated = {k for k in self.keys if STEERING.match(k) or k in imu_flips(options.imu_lateral)}
        self.swap = None
        lanes = [k for k in self.keys if k in BEHAVIOUR]
        if lanes:
            labels = behaviour_list(options.config)
            if labels is None:
                raise UserError(f'the records hold {lanes[0]}, whose lanes a mirror swaps; pass --config with the '
                                "car's config.py (its BEHAVIOR_LIST names them), or --drop " + ' --drop '.join(lanes))
            self.labels, self.swap = labels, lane_swap(labels)
        for key, kind in self.keys.items():
            known = (kind in schema.IMAGE_TYPES or key in self.negated or key in BEHAVIOUR or key in UNCHANGED
                     or IMU.match(key))
            if not known and key not in options.keep:
                raise UserError(f'{key}: its meaning under a left-right mirror is unknown (it may be lateral); pass '
                                f'--drop {key} to leave it out of the mirror, or --keep {key} if a mirror leaves it '
                                'unchanged')
        self.images = {k: t for k, t in self.keys.items() if t in schema.IMAGE_TYPES}
        self.left_out = 0

    def mirrored(self, record, folder, index, write_image):
        """The record's mirror as its catalog line's contents, its images written by `write_image(name, image)`;
        None when an image cannot be read."""
        contents = {}
        for key, kind in self.images.items():
            image = _read_image(folder, record.get(key), kind)
            if image is None:
                return None
            name = schema.image_file_name(index, key, kind)
            write_image(name, np.ascontiguousarray(image[:, ::-1]))
            contents[key] = name
        for key in self.keys.keys() - self.images.keys():
            value = self._value(key, record.get(key))
            if value is not None:
                contents[key] = value
        return contents

    def _value(self, key, value):
        if value is None:
            return None
        if key in self.negated:
            return self._number(value, lambda v: -v)
        if key == 'behavior/state':
            return self.swap.get(value) if isinstance(value, int) else None
        if key == 'behavior/label':
            return self.labels[self.swap[self.labels.index(value)]] if value in self.labels else None
        if key == 'behavior/one_hot_state_array':
            if not isinstance(value, list) or len(value) != len(self.labels):
                return None
            return [value[j] for j in sorted(self.swap, key=self.swap.get)]
        return self._number(value, float) if self.keys[key] == 'float' else value  # donkeycar writes no NaN

    def _number(self, value, change):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return change(float(value))
        self.left_out += 1
        return None


def _read_image(folder, name, kind):
    import cv2
    if kind == 'image_array':
        return tub_read.decode(folder, {'k': name}, 'k')
    if not isinstance(name, str):
        return None
    image = cv2.imread(os.path.join(folder, name), cv2.IMREAD_UNCHANGED)
    return image


def _write_image(folder, name, image):
    """Each image as donkeycar names it: RGB arrays as JPEG, 16-bit depth as PNG."""
    import cv2
    if name.endswith('.jpg'):
        ok, data = cv2.imencode('.jpg', cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY,
                                                                                  JPEG_QUALITY])
    else:
        ok, data = cv2.imencode('.png', image)
    with open(os.path.join(folder, name), 'wb') as f:
        f.write(data.tobytes())


class DonkeycarTub:
    """The new tub, written by donkeycar's Tub: its manifest, catalogs and session; each record goes to its
    Manifest with the source's time (Tub.write_record would stamp the time of writing). TubWriter's interface."""

    def __init__(self, path, inputs, types, max_catalog_len=schema.MAX_CATALOG_LEN):
        from donkey_saliency.quiet import import_donkeycar
        import_donkeycar()
        from donkeycar.parts.tub_v2 import Tub
        self.tub = Tub(path, inputs=inputs, types=types, max_catalog_len=max_catalog_len)
        self.images = self.tub.images_base_path

    @property
    def index(self):
        return self.tub.manifest.current_index

    @property
    def session_name(self):
        return self.tub.manifest.session_id[1]

    def write_contents(self, contents):
        self.tub.manifest.write_record(contents)

    def close(self, keep=True):
        try:
            self.tub.close()
        except (OSError, ValueError):
            if keep:
                raise
        finally:  # no second close from donkeycar's exit hook once the folder is gone
            self.tub.manifest._is_closed = True


def new_tub(path, inputs, types):
    """A writer of the new tub: donkeycar's Tub where it is installed, else TubWriter."""
    try:
        return DonkeycarTub(path, inputs, types)
    except ImportError:
        return TubWriter(path, inputs, types)


def _empty_folder(path):
    return os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path)


def check_out(out, tubs):
    """A UserError unless `out` is a new folder, or an empty one (made for it), in a writable folder, outside
    every tub read."""
    if os.path.lexists(out) and not _empty_folder(out):
        raise UserError(f'{out} exists and is not an empty folder; the mirror is a new tub: choose a new --out (or '
                        f'remove {out})')
    check_folder(out)
    check_outside_tubs(out, tubs)


def v1_start_ms(path):
    """A v1 tub's start in milliseconds, or None: its records' `milliseconds` count from it."""
    start = schema.v1_start(path)
    return None if start is None else start * 1000.0


def run(options):
    """Write the mirror; returns {'out', 'records', 'tubs', 'skipped': {cause: count}, 'skipped_tubs': [why, ...],
    'warnings'}."""
    reader, _, skipped_tubs = tub_read.checked_tubs(options.tubs)
    paths = reader.paths
    check_out(options.out, paths)
    keys = merged_schema(paths)
    plan = Plan(keys, options)
    offsets = {tub.images_base_path: v1_start_ms(tub.path) for tub in reader.tubs if isinstance(tub, tub_read.V1Tub)}
    folder, name = os.path.split(os.path.abspath(options.out))
    with reporting_full_disk(options.out):
        temp = tempfile.mkdtemp(prefix=f'.{name}.', dir=folder)
    writer = None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o777 & ~umask)  # mkdtemp makes it private; a tub should not be
        with reporting_full_disk(options.out):
            writer = new_tub(temp, list(plan.keys), list(plan.keys.values()))
            written = _copy(reader, plan, writer, offsets, options.progress)
            writer.close()
        if not written:
            raise UserError(f'no record of {", ".join(paths)} could be mirrored ({reader.skipped}); nothing written')
        if os.path.lexists(options.out) and not _empty_folder(options.out):
            raise UserError(f'{options.out} appeared while the mirror was written; nothing written there')
        os.rename(temp, options.out)  # (onto an empty folder too: rename replaces it whole)
    except BaseException:
        if writer is not None:
            writer.close(keep=False)
        raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    warnings = list(reader.warnings) + ([f'{plan.left_out} {LEFT_OUT}'] if plan.left_out else [])
    return {'out': options.out, 'records': written, 'tubs': paths, 'skipped': dict(reader.skipped.reasons),
            'skipped_tubs': skipped_tubs, 'warnings': warnings}


def _copy(reader, plan, writer, offsets, progress):
    """Every readable record's mirror, in the sources' order; returns how many were written."""
    from tqdm import tqdm
    with tqdm(total=len(reader), unit='record', desc='mirror', disable=not progress, dynamic_ncols=True) as bar:
        for folder, record in reader.records():
            bar.update(1)
            index = writer.index
            contents = plan.mirrored(record, folder, index, lambda n, image: _write_image(writer.images, n, image))
            if contents is None:
                reader.skipped.add(tub_read.BAD_IMAGES)
                continue
            time_ms = record.get('_timestamp_ms')
            if folder in offsets:  # v1: `milliseconds` from the tub's start
                time_ms = None if offsets[folder] is None or time_ms is None else offsets[folder] + time_ms
            if isinstance(time_ms, (int, float)) and math.isfinite(time_ms):
                contents['_timestamp_ms'] = int(round(time_ms))
            contents['_index'] = index
            contents['_session_id'] = record.get('_session_id', writer.session_name)
            writer.write_contents(contents)
    return writer.index


class InputsMirror:
    """What a left-right mirror makes of a pilot's inputs other than the camera (`inputs`: its PilotInputs), as
    this command makes it of a tub: the IMU's lateral axes negated (`imu_lateral`: the chip axis across the car),
    the past steering of a memory pilot negated, a behaviour pilot's lanes swapped (`lanes`: the car's
    BEHAVIOR_LIST, None when not known). `missing` says why a mirror cannot be made (a behaviour pilot whose lanes
    are not known or have no mirror), else None; `changed` names what it changes besides the camera."""

    def __init__(self, inputs, imu_lateral='y', lanes=None):
        self.names = inputs.names
        self.imu_signs = (np.array([-1.0 if k in imu_flips(imu_lateral) else 1.0 for k in inputs.imu_keys],
                                   np.float32) if 'imu_in' in self.names else None)
        self.missing, self.swap = None, None
        if 'xbehavior_in' in self.names:
            self.swap, self.missing = self._lanes(inputs, lanes)
        flipped = ', '.join(sorted(imu_flips(imu_lateral)))
        self.changed = [what for name, what in (('imu_in', f'its IMU\'s lateral axes ({flipped}) negated'),
                                                ('mem_in', 'its past steering negated'),
                                                ('xbehavior_in', 'its lanes swapped')) if name in self.names]

    @staticmethod
    def _lanes(inputs, lanes):
        """(the lanes' swap, None) or (None, why there is none)."""
        width = int(inputs.pilot.model.inputs[inputs.names.index('xbehavior_in')].shape[-1])
        if not lanes:
            return None, ('a behaviour pilot\'s mirror swaps its lanes, and the car\'s BEHAVIOR_LIST is not known: '
                          'pass the car\'s config.py with --config')
        if len(lanes) != width:
            return None, (f'the config\'s BEHAVIOR_LIST holds {len(lanes)} lanes and the pilot takes {width}: pass '
                          'the config the pilot was trained with')
        try:
            return lane_swap(list(lanes)), None
        except UserError:
            return None, (f'the config\'s BEHAVIOR_LIST {list(lanes)} has a lane whose mirror is not in it: add it, '
                          'so that each lane has a mirror')

    def __call__(self, values):
        """The inputs (model input order, the camera's already mirrored) with the others as a mirror makes them."""
        out = []
        for name, value in zip(self.names, values):
            if name == 'imu_in':
                value = value * self.imu_signs
            elif name == 'mem_in':
                value = value * np.tile(np.array([-1.0, 1.0], np.float32), value.shape[1] // 2)
            elif name == 'xbehavior_in':
                value = value[:, [self.swap[j] for j in range(value.shape[1])]]  # lane j shows its mirror's value
            out.append(value)
        return out
