"""Build a pilot's inputs from tub frames and records, as donkeycar encodes them for that model type.

- imu: `imu_in` from the record's `imu/acl_*` and `imu/gyr_*` (donkeycar's KerasIMU.imu_vec);
- behavior: `xbehavior_in` from `behavior/one_hot_state_array` (KerasBehavioral.x_transform);
- memory: `mem_in` from the previous records' user angle and throttle, as donkeycar trains it
  (before the first record: angle 0, throttle 0, as the car starts); a record without them is not accepted;
- rnn / 3d: the last SEQUENCE_LENGTH frames, the newest last (the first frame repeated until there are enough,
  as KerasLSTM.run does on the car).
History runs on across batches within a tub (another tub, another drive: it starts anew, as donkeycar collates
records only within a tub), so batches must come in record order; `of_windows` builds the same inputs for
sampled windows instead, each from its own records (the report's tests).
"""
import collections

import numpy as np

from donkey_saliency.errors import UserError
from donkey_saliency.tub.read import user_values

BEHAVIOR_KEY = 'behavior/one_hot_state_array'
IMU_KEYS = [f'imu/{f}_{x}' for f in ('acl', 'gyr') for x in 'xyz']  # KerasIMU.imu_vec, for a pilot without donkeycar


def _record_values(record, keys, kind):
    missing = [k for k in keys if k not in record]
    if missing:
        raise UserError(f'a {kind} pilot needs {", ".join(missing)} in every record, and record '
                        f'{record.get("_index", "?")} of this tub lacks it; record the tub with that sensor on, '
                        'or use a pilot type that does not need it')
    return [record[k] for k in keys]


def pilot_view(image, transform, input_size, from_config):
    """The array the pilot sees for one camera frame: the car's transformations, then its colour depth."""
    import cv2
    seen = transform.run(image) if transform else image
    height, width, depth = input_size
    if depth == 1 and seen.ndim == 3 and seen.shape[2] == 3:
        seen = cv2.cvtColor(seen, cv2.COLOR_RGB2GRAY)
    if seen.ndim == 2:
        seen = seen[:, :, None]
    if seen.shape != (height, width, depth):
        hint = '' if from_config else '; pass your car\'s config.py with --config'
        raise UserError(f'the pilot takes {width}x{height}x{depth} images but sees {seen.shape[1]}x'
                        f'{seen.shape[0]}x{seen.shape[2]} from this tub{hint}')
    return seen


class PilotInputs:
    """Callable: (images, records) of a batch -> the model's input arrays in model input order."""

    def __init__(self, pilot):
        self.pilot = pilot
        self.names = [t.name.split(':')[0] for t in pilot.model.inputs]
        shapes = {name: tuple(t.shape[1:]) for name, t in zip(self.names, pilot.model.inputs)}
        self.sequence = len(shapes['img_in']) == 4 if 'img_in' in shapes else False
        self.length = shapes['img_in'][0] if self.sequence else 1
        self.memory = shapes['mem_in'][0] // 2 if 'mem_in' in shapes else 0
        self.tub = None  # the tub the history comes from: another tub is another drive, whose history starts anew
        self._start()

    def _start(self):
        self.frames = collections.deque(maxlen=max(self.length - 1, 0))
        self.previous = collections.deque([[0.0, 0.0]] * self.memory, maxlen=self.memory)

    def _same_drive(self, record):
        """Start the history anew where the records pass into another tub."""
        if record.get('_tub') != self.tub:
            self.tub = record.get('_tub')
            self._start()

    def __call__(self, images, records):
        values = {'img_in': self._images(images, records), **self._sensors(records)}
        if 'mem_in' in self.names:
            values['mem_in'] = self._memory(records)
        missing = [name for name in self.names if name not in values]
        if missing:
            raise UserError(f'the pilot has inputs {missing} that donkeycar does not fill from a tub; '
                            'it is not a donkeycar model type this tool knows')
        return [values[name] for name in self.names]

    @property
    def history(self):
        """How many records before a frame its inputs need: the sequence's older frames, the memory's records."""
        return max(self.length - 1, self.memory)

    def of_windows(self, seen, record_windows):
        """The model's inputs for sampled windows, each on its own: `seen` (N, T, h, w, d) the pilot's views of each
        window's frames, newest last (T at least the sequence length), `record_windows` each window's records,
        newest last. As for a frame in a run: the IMU and the behaviour of the newest record, the user values of the
        records before it (angle 0, throttle 0 where the window starts too late)."""
        seen = np.asarray(seen, np.float32)
        values = {'img_in': seen[:, -self.length:] if self.sequence else seen[:, -1],
                  **self._sensors([records[-1] for records in record_windows])}
        if 'mem_in' in self.names:
            rows = []
            for records in record_windows:
                past = [v for v in map(user_values, records[:-1]) if v is not None][-self.memory:]
                rows.append(np.array([[0.0, 0.0]] * (self.memory - len(past)) + past, np.float32).reshape(-1))
            values['mem_in'] = np.stack(rows)
        return [values[name] for name in self.names]

    def _sensors(self, records):
        """The IMU and behaviour inputs the pilot takes, from each record."""
        values = {}
        if 'imu_in' in self.names:
            values['imu_in'] = np.array([_record_values(r, self.imu_keys, 'imu') for r in records], np.float32)
        if 'xbehavior_in' in self.names:
            values['xbehavior_in'] = np.array([_record_values(r, [BEHAVIOR_KEY], 'behavior')[0] for r in records],
                                              np.float32)
        return values

    @property
    def imu_keys(self):
        """The record keys of `imu_in`, in its order (donkeycar's KerasIMU.imu_vec)."""
        return self.pilot.part.imu_vec if self.pilot.part is not None else IMU_KEYS

    def accepts(self, record):
        """False for a record a memory pilot cannot take: without the user's angle and throttle, the next
        records' history would have a hole."""
        return not self.memory or user_values(record) is not None

    def _images(self, images, records):
        if not self.sequence:
            return images
        stacks = []
        for image, record in zip(images, records):
            self._same_drive(record)
            while len(self.frames) < self.length - 1:
                self.frames.append(image)
            stacks.append(np.stack(list(self.frames) + [image]))
            self.frames.append(image)
        return np.stack(stacks)

    def _memory(self, records):
        rows = []
        for record in records:
            self._same_drive(record)
            rows.append(np.array(self.previous, np.float32).reshape(-1))
            self.previous.append(user_values(record))
        return np.stack(rows)

