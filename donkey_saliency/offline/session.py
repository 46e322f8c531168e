"""The inputs every command takes, checked once, and opened once: the tubs read and counted, the pilot loaded.

`Request` holds what the video, evaluate and the report are all asked (the tubs, the pilot, its type, the car
config, the range, the method and its settings); `check` checks it before TensorFlow loads, so that a mistyped
flag fails in a fraction of a second, and opens the tubs (`Tubs`) for every pass the command makes over them.
A `Session` is one pilot on those tubs: the pilot and its car config loaded once, the car's transformations and
camera size, and the one way to sample frames spread over the range. The report makes one session per pilot,
all sharing one `Tubs`.
"""
from dataclasses import dataclass, field, replace

import numpy as np

from donkey_saliency.errors import NothingToShow


@dataclass
class Request:
    """The inputs every command takes, with the CLI's defaults (the CLI's ./config.py default applied, see
    `default_config`)."""
    tubs: list
    model: str = None
    type: str = None
    config: str = None
    start: int = 0
    end: int = -1
    method: str = 'vbp'
    settings: dict = field(default_factory=dict)  # method settings by name (see core.methods); None: default

    def method_names(self):
        """The methods asked for."""
        return [self.method]


def default_config(config):
    """The car config a command reads: the one given, else ./config.py when present (a car's folder is where
    `donkey` commands run), else None: donkeycar's defaults. The CLI's rule; the API takes the config it is given."""
    import os
    return config if config or not os.path.isfile('config.py') else 'config.py'


def check(request):
    """(the request with --tub's folders and globs expanded to the tubs they hold, those tubs opened), after every
    check that needs no TensorFlow."""
    tubs = Tubs.checked(request.tubs)
    request = replace(request, tubs=tubs.paths)
    check_inputs(request)
    return request, tubs


def check_inputs(request):
    """The checks of a request's pilot, config, methods and range (its tubs are Tubs.checked)."""
    from donkey_saliency.core import carconfig, methods
    from donkey_saliency.core.pilot import check_model_path
    from donkey_saliency.tub.read import check_range
    if request.model:
        check_model_path(request.model)
    for name in request.method_names():
        methods.get(name)
        methods.settings_for(name, request.settings)  # a bad setting is the user's to fix, never a method left out
    check_range(request.start, request.end)
    carconfig.resolve(request.config)


class Tubs:
    """The tubs of a command, checked, opened and their records counted once; `reader` is the pass's (its
    `skipped` is what the summary says), `another_pass()` gives a sample a reader whose counts stay apart."""

    def __init__(self, reader, keys, skipped_tubs):
        self.reader, self.keys, self.skipped_tubs = reader, keys, skipped_tubs
        self.paths = reader.paths
        self.available = len(reader)  # (counted when checked)

    @classmethod
    def checked(cls, paths):
        """The tubs --tub names (a damaged one that a folder or a glob brings is left out, said on stderr)."""
        from donkey_saliency.tub.read import checked_tubs
        return cls(*checked_tubs(paths))

    def range_length(self, start, end):
        """The records at positions start..end-1 (end -1: to the last); NothingToShow when there are none."""
        stop = self.available if end == -1 else min(end, self.available)
        if stop <= start:
            raise NothingToShow(f'no records in range: the tub(s) hold {self.available} records and --start is '
                                f'{start}')
        return stop - start

    def another_pass(self):
        return self.reader.another_pass()


@dataclass
class Sample:
    """Windows spread over the range, at camera size and of one shape, with what the report's tests need of their
    records: the user's angle, the time (seconds or None) and a place (records apart within a tub; tubs far).
    `windows` (N, T, H, W, 3): each sampled frame with the frames before it that a sequence pilot takes, oldest
    first (the first repeated where the range starts too late, as donkeycar's KerasLSTM.run does); `images` the
    newest of each; `record_windows` the records of each window, which a memory pilot takes its past from."""
    windows: object
    record_windows: list
    shape: tuple

    @property
    def images(self):
        return self.windows[:, -1]

    @property
    def records(self):
        return [records[-1] for records in self.record_windows]

    @property
    def places(self):
        from donkey_saliency.offline.report.collect import TUB_KEY
        tubs = {}
        return [tubs.setdefault(r.get(TUB_KEY, ''), len(tubs)) * 10 ** 9 + int(r.get('_index', 0))
                for r in self.records]

    @property
    def times(self):
        return [None if r.get('_timestamp_ms') is None else float(r['_timestamp_ms']) / 1000.0 for r in self.records]

    @property
    def user_angles(self):
        from donkey_saliency.offline.report.collect import slim
        return [slim(r)['user_angle'] for r in self.records]


class Session:
    """One pilot on a command's tubs: the car config and the pilot loaded once (no pilot: a video of the overlays
    recorded on the car), its inputs, the car's transformations and camera size, the range, and `sample`, the one
    way to sample frames spread over it. `pilot_input` is the array the pilot sees for a camera frame."""

    def __init__(self, request, tubs, car=None):
        """`car`: (cfg, from_car) already loaded for this request's config (carconfig.load)."""
        from donkey_saliency.core import carconfig
        from donkey_saliency.core.pilot import load_pilot
        from donkey_saliency.offline.inputs import PilotInputs
        self.request, self.tubs, self.reader = request, tubs, tubs.reader
        self.length = tubs.range_length(request.start, request.end)
        self.end = request.start + self.length
        self.cfg, self.from_car = car or carconfig.load(request.config)
        self.pilot = load_pilot(request.model, request.type, self.cfg) if request.model else None
        self.inputs = PilotInputs(self.pilot) if self.pilot else None  # (a pass's history: an instance of its own)
        self.transform = carconfig.transformer(self.cfg)
        # the car's IMAGE_W x IMAGE_H is the camera frame, as donkeycar's training resizes tub images to it
        size = getattr(self.cfg, 'IMAGE_W', None), getattr(self.cfg, 'IMAGE_H', None)
        self.camera_size = tuple(map(int, size)) if self.from_car and None not in size else None

    def camera_image(self, image):
        """A tub image at the car's camera size (donkeycar's training resizes to IMAGE_W x IMAGE_H too)."""
        import cv2
        if self.camera_size and image.shape[1::-1] != self.camera_size:
            return cv2.resize(image, self.camera_size, interpolation=cv2.INTER_AREA)
        return image

    def pilot_input(self, image):
        """The array the pilot sees for one camera frame: the car's transformations, then its colour depth."""
        from donkey_saliency.offline.inputs import pilot_view
        return pilot_view(image, self.transform, self.pilot.input_size, self.from_car)

    def camera_shape(self, key=None):
        """The camera frame's shape: the most common among up to tubs.SHAPE_SAMPLE images under `key` (the camera
        image) spread over the range, at the car's camera size; None when none of them decodes."""
        from donkey_saliency.tub.read import IMAGE_KEY, sampled_shape
        return sampled_shape(self.reader, self.request.start, self.end, key or IMAGE_KEY, self.camera_image)

    def sample(self, count, before=0, accepts=None, shape=None, spread=None):
        """(up to `count` windows spread evenly over the range, each record with the `before` records before it
        (see tubs.spread_windows), whose images decode, at camera size, of `shape` (None: the most common among the
        newest images), of records `accepts` takes, as a Sample, or None when none is left; the records left out, by
        cause). `spread`: what `spread` gave, for a sample several sessions share."""
        from donkey_saliency.tub.read import OTHER_SIZE, Skipped, common_shape
        found, skipped = spread or self.spread(count, before, accepts)
        skipped = Skipped(skipped.reasons.copy())  # (a spread several sessions share keeps its own)
        found = [([self.camera_image(image) for image in images], records) for images, records in found]
        shape = shape or common_shape([images[-1] for images, _ in found])
        kept = [([images[0]] * (before + 1 - len(images)) + images, records) for images, records in found
                if all(image.shape == shape for image in images)]
        skipped.add(OTHER_SIZE, len(found) - len(kept))
        if not kept:
            return None, skipped
        return Sample(np.stack([np.stack(images) for images, _ in kept]), [records for _, records in kept],
                      shape), skipped

    def spread(self, count, before=0, accepts=None):
        """(the windows `sample` takes, as read from the tubs, before the camera's size; the records skipped: those
        whose images do not decode), read in a pass of its own."""
        from donkey_saliency.tub.read import spread_windows
        reader = self.tubs.another_pass()
        return list(spread_windows(reader, self.request.start, self.end, count, before, accepts=accepts)), \
            reader.skipped
