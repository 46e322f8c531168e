"""The stages of one video run, each a plain function of its input: load, infer, render.

`video.run` wires them into threads; keeping them here, free of threading, keeps each one testable and short.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from donkey_saliency.errors import UserError


@dataclass
class Inferred:
    """A batch after the pilot: frames, records, the pilot's decoded outputs and maps (one array per requested
    map, each (N, H, W) at camera size)."""
    frames: list
    records: list
    angle: np.ndarray
    throttle: np.ndarray
    maps: list
    dropped: int


@dataclass
class Rendered:
    """Video frames ready to encode, and the row for the maps file."""
    images: list
    maps_row: tuple
    dropped: int


@dataclass
class Writers:
    video: object
    maps: object

    def close(self, keep):
        try:
            self.video.close(keep)
        finally:
            if self.maps:
                self.maps.close(keep)


class VideoJob:
    """Holds what a run needs (pilot, engine, car transformations, tub reader) and does one stage per call."""

    def __init__(self, options, cfg, from_car):
        from donkey_saliency.core import carconfig
        from donkey_saliency.core.engine import Engine, requests_for
        from donkey_saliency.core.pilot import load_pilot
        from donkey_saliency.offline.inputs import PilotInputs
        from donkey_saliency.offline.tubs import TubReader
        self.options = options
        self.pilot = load_pilot(options.model, options.type, cfg) if options.model else None
        if self.pilot:
            self.requests, self.panels = requests_for(options.method, options.target, options.layout,
                                                      options.signed)
            self.engine = Engine(self.pilot, self.requests, options.settings)
            self.engine(self.pilot.zero_inputs(1))  # build the graphs before the clock runs
            self.inputs = PilotInputs(self.pilot)
        else:  # a tub recorded with SALIENCY_RECORD: its overlays are the frames
            self.requests, self.panels = [], False
        self.transform = carconfig.transformer(cfg)
        self.reader = TubReader(options.tubs)
        self.records_available = len(self.reader)
        self.camera_shape = None
        # the car's IMAGE_W x IMAGE_H is the camera frame, as donkeycar's training resizes tub images to it
        size = getattr(cfg, 'IMAGE_W', None), getattr(cfg, 'IMAGE_H', None)
        self.camera_size = tuple(map(int, size)) if from_car and None not in size else None

    def range_length(self):
        end = self.records_available if self.options.end == -1 else min(self.options.end, self.records_available)
        return end - self.options.start

    def batches(self):
        from donkey_saliency.keys import OVERLAY_KEY
        from donkey_saliency.offline.tubs import IMAGE_KEY, frame_batches
        end = None if self.options.end == -1 else self.options.end
        key = IMAGE_KEY if self.pilot else OVERLAY_KEY
        return frame_batches(self.reader, self.options.start, end, self.options.batch_size, key)

    def pilot_input(self, image):
        """The array the pilot sees for one camera frame: the car's transformations, then its colour depth."""
        seen = self.transform.run(image) if self.transform else image
        height, width, depth = self.pilot.input_size
        if depth == 1 and seen.ndim == 3 and seen.shape[2] == 3:
            seen = cv2.cvtColor(seen, cv2.COLOR_RGB2GRAY)
        if seen.ndim == 2:
            seen = seen[:, :, None]
        if seen.shape != (height, width, depth):
            hint = '' if self.options.config else '; pass your car\'s config.py with --config'
            raise UserError(f'the pilot takes {width}x{height}x{depth} images but sees {seen.shape[1]}x'
                            f'{seen.shape[0]}x{seen.shape[2]} from this tub{hint}')
        return seen

    def infer(self, batch):
        """Run the saliency graph on a batch: decoded outputs and maps resized to the camera frame."""
        frames = [f for f in map(self._camera_frame, batch.frames) if self._same_camera(f.image)]
        dropped = batch.dropped + len(batch.frames) - len(frames)
        if not frames:
            return Inferred([], [], np.zeros(0), np.zeros(0), [], dropped)
        records = [f.record for f in frames]
        if not self.pilot:
            angle, throttle = (np.array([r.get(k, np.nan) for r in records], np.float32)
                               for k in ('pilot/angle', 'pilot/throttle'))
            return Inferred(frames, records, angle, throttle, [], dropped)
        images = np.stack([self.pilot_input(f.image) for f in frames]).astype(np.float32) * np.float32(1 / 255)
        outputs, maps = self.engine(self.inputs(images, records))
        angle, throttle = self.pilot.decode(outputs)
        return Inferred(frames, records, angle, throttle, [self._camera_sized(m) for m in maps], dropped)

    def _camera_sized(self, maps):
        height, width = self.camera_shape[:2]
        if maps.shape[1:] != (height, width):
            maps = np.stack([cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR) for m in maps])
        return maps

    def _camera_frame(self, frame):
        if self.camera_size and frame.image.shape[1::-1] != self.camera_size:
            frame.image = cv2.resize(frame.image, self.camera_size, interpolation=cv2.INTER_AREA)
        return frame

    def _same_camera(self, image):
        if self.camera_shape is None:
            self.camera_shape = image.shape
        if image.shape == self.camera_shape:
            return True
        self.reader.skipped.add('images of another size')
        return False

    def render(self, inferred):
        """Compose every video frame of a batch."""
        from donkey_saliency.offline.draw import MapView, compose
        o = self.options
        images = []
        for i, (frame, record) in enumerate(zip(inferred.frames, inferred.records)):
            user = _user_values(record) if o.user else None
            pilot = (inferred.angle[i], inferred.throttle[i]) if o.pilot and np.isfinite(inferred.angle[i]) else None
            views = [MapView(maps[i], r.signed, r.title, r.ends) for r, maps in zip(self.requests, inferred.maps)]
            images.append(compose(frame.image, views, o.alpha, o.scale, record.get('_index', ''), user, pilot,
                                  self.panels))
        indexes = [int(r.get('_index', -1)) for r in inferred.records]
        maps = dict(zip((r.key for r in self.requests), inferred.maps))
        return Rendered(images, (maps, indexes, inferred.angle, inferred.throttle), inferred.dropped)

    def open_writers(self, fps):
        from donkey_saliency.offline.writers import MapsWriter, VideoWriter
        video = VideoWriter(self.options.out, fps)
        if not self.options.save_maps:
            return Writers(video, None)
        primary = next((r for r in self.requests if r.target is not None), self.requests[0]).key
        return Writers(video, MapsWriter(self.options.save_maps, primary))


def _user_values(record):
    if 'user/angle' not in record or 'user/throttle' not in record:
        return None
    return float(record['user/angle']), float(record['user/throttle'])
