"""The stages of one video run, each a plain function of its input: load, infer, render.

`video.run` wires them into threads; keeping them here, free of threading, keeps each one testable and short.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from donkey_saliency.errors import UserError

RUN_SAMPLE = 128  # frames of the first pass that fixes --normalize run's scale
FIRST_FRAMES = 8  # frames of the first batch that go through the pilot on their own (split_first)


def split_first(batch):
    """The first batch as a few frames, then the rest: drawing and encoding start while the pilot works on the
    rest, where a whole first batch kept them waiting. The warm-up covers the sizes this makes (first_batch_sizes):
    a size left cold builds its kernels mid-run and gives back what the split gained."""
    if len(batch.frames) <= FIRST_FRAMES:
        return [batch]
    from donkey_saliency.tub.read import Batch
    return [Batch(batch.frames[:FIRST_FRAMES], batch.dropped), Batch(batch.frames[FIRST_FRAMES:], 0)]


def first_batch_sizes(first):
    """The sizes of the batches the pilot sees first when the first batch holds `first` frames: split in two
    (split_first), then whole."""
    return sorted({size for size in (min(FIRST_FRAMES, first), first - FIRST_FRAMES, first) if size > 0})


@dataclass
class Inferred:
    """A batch after the pilot: frames, records, the pilot's decoded outputs and maps (one array per requested
    map, each (N, H, W) at camera size): raw, and scaled for display."""
    frames: list
    records: list
    angle: np.ndarray
    throttle: np.ndarray
    maps: list
    raw: list
    dropped: int


@dataclass
class Rendered:
    """Video frames ready to encode, and the row for the maps file."""
    images: list
    maps_row: tuple
    dropped: int


@dataclass
class Writers:
    """The video's writer and the maps' (or None). Closed, both files are finished before either is moved into
    place, so that a failure finishing one (ffmpeg's, a full disk packing the maps, a stop) keeps neither. As a
    context, they are kept only when its block ends without an error; else every trace is removed."""
    video: object
    maps: object

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        self.close(keep=kind is None)

    def close(self, keep):
        files = [self.video] + ([self.maps] if self.maps else [])
        try:
            if keep:
                for writer in files:
                    writer.finish()
                for writer in files:
                    writer.commit()
        finally:
            for writer in files:
                writer.discard()


class VideoJob:
    """What a run needs beyond its session (offline.session: the pilot, the car's transformations, the tub reader):
    the engine, the pilot's inputs along the pass, the drawing; one stage per call. The frames it leaves out are
    counted in the reader's `skipped`, unless `counted` is False (the report's other pilots, which explain the
    same frames as its first)."""

    def __init__(self, options, session, counted=True):
        from donkey_saliency.core.engine import Engine, requests_for
        from donkey_saliency.offline.inputs import PilotInputs
        from donkey_saliency.tub.read import Skipped
        self.options, self.session = options, session
        self.pilot, self.reader = session.pilot, session.reader
        self.skipped = self.reader.skipped if counted else Skipped()
        if self.pilot:
            self.requests, self.panels = requests_for(options.method, options.target, options.layout,
                                                      options.signed)
            if options.every > 1 and self.pilot.kind in ('memory', 'rnn', '3d'):
                raise UserError(f'--every {options.every} would skip records a {self.pilot.kind} pilot needs for its '
                                'history; render every record (leave --every out), or a shorter range')
            self.engine = Engine(self.pilot, self.requests, options.settings)
            self.engine(self.pilot.zero_inputs(1))  # build the graphs before the clock runs
            self.inputs = PilotInputs(self.pilot)  # this pass's history
            self.run_scales = None  # set by fix_run_scales() for --normalize run
        else:  # a tub recorded with SALIENCY_RECORD: its overlays are the frames
            self.requests, self.panels = [], False
        self.several = len(options.tubs) > 1  # then each frame's label names its tub
        self.without_user = 0  # frames drawn without the user's line: their record has no usable angle/throttle
        self.blank = {r.title: 0 for r in self.requests}  # frames whose map is blank (all zero), per map
        self.camera_shape = None  # set by fix_camera_shape(), else by the first frame
        self.camera_image, self.pilot_input = session.camera_image, session.pilot_input
        from donkey_saliency.draw import Composer
        self.composer = Composer(options.alpha, options.scale, self.panels)  # one for the run: bands drawn once

    def fix_camera_shape(self, shape=None):
        """Fix the camera frame's shape before the pass, so that an image of another size is skipped wherever it
        lies, the first frame included: `shape` when given (a sample the caller holds), else the session's (the most
        common among a sample spread over the range). Left to the first frame when none of the sample decodes."""
        from donkey_saliency.keys import OVERLAY_KEY
        self.camera_shape = shape or self.session.camera_shape(None if self.pilot else OVERLAY_KEY)

    def warm_up(self, first):
        """Build the pilot's kernels before the clock runs for each batch size a video's first batches bring, the
        first of them holding `first` frames (a size not seen yet pauses the run while they are built). Only for maps of
        one pass a frame on a Keras pilot: many-sample methods cut batches to sizes of their own, and a .tflite
        pilot reallocates at each new size."""
        if not self.pilot or self.pilot.tflite or self.engine.samples > 1:
            return
        for size in first_batch_sizes(first):
            self.engine(self.pilot.zero_inputs(size))

    def fix_run_scales(self):
        """--normalize run: fix the scales before the first frame is drawn."""
        if self.pilot and self.options.normalize == 'run':
            self.run_scales = self._sample_scales()

    def batches(self):
        from donkey_saliency.keys import OVERLAY_KEY
        from donkey_saliency.tub.read import frame_batches
        from donkey_saliency.tub.schema import IMAGE_KEY
        end = None if self.options.end == -1 else self.options.end
        key = IMAGE_KEY if self.pilot else OVERLAY_KEY
        return frame_batches(self.reader, self.options.start, end, self.options.batch_size, key, self.options.every)

    def infer(self, batch):
        """Run the saliency graph on a batch: decoded outputs and maps resized to the camera frame."""
        frames = [f for f in map(self._camera_frame, batch.frames)
                  if self._same_camera(f.image) and self._accepted(f)]
        dropped = batch.dropped + len(batch.frames) - len(frames)
        if not frames:
            return Inferred([], [], np.zeros(0), np.zeros(0), [], [], dropped)
        records = [f.record for f in frames]
        if not self.pilot:
            angle, throttle = (np.array([r.get(k, np.nan) for r in records], np.float32)
                               for k in ('pilot/angle', 'pilot/throttle'))
            return Inferred(frames, records, angle, throttle, [], [], dropped)
        outputs, raw = self._raw_maps([f.image for f in frames], records, self.inputs)
        for request, maps in zip(self.requests, raw):
            self.blank[request.title] += int((~maps.reshape(len(maps), -1).any(axis=1)).sum())
        angle, throttle = self.pilot.decode(outputs)
        return Inferred(frames, records, angle, throttle, self._displayed(raw), raw, dropped)

    def _raw_maps(self, images, records, inputs):
        """The pilot's outputs and its raw maps at camera size for camera frames, inputs built by `inputs`."""
        seen = [self.pilot_input(image) for image in images]  # stacked straight into float32: one array less
        pilot_images = np.stack(seen, out=np.empty((len(seen),) + seen[0].shape, np.float32))
        np.divide(pilot_images, np.float32(255), out=pilot_images)
        outputs, raw = self.engine(inputs(pilot_images, records))
        return outputs, [self._camera_sized(m) for m in raw]

    def _displayed(self, raw):
        """The raw maps scaled for drawing: each frame on its own, or on the run's scale."""
        from donkey_saliency.core.display import shown
        scales = self.run_scales or ['frame'] * len(self.requests)  # (None: per frame)
        return [shown(m, r.method, r.signed, self.options.clip, scale)
                for r, m, scale in zip(self.requests, raw, scales)]

    def _sample_scales(self):
        """--normalize run: one scale per map, fixed before the first frame is drawn from a first pass over up
        to RUN_SAMPLE frames spread evenly over the range (sequence and memory pilots see each sampled frame
        without its history there). Memory stays flat: only the sample's maps are held."""
        from donkey_saliency.core.display import sample_scale
        from donkey_saliency.offline.inputs import PilotInputs
        sample, _ = self.session.sample(RUN_SAMPLE, accepts=self.inputs.accepts, shape=self.camera_shape)
        if sample is None:
            return None
        self.camera_shape = sample.shape  # (fix_camera_shape's sample held no image)
        images, records, size = sample.images, sample.records, self.options.batch_size
        inputs = PilotInputs(self.pilot)
        batches = [self._raw_maps(images[i:i + size], records[i:i + size], inputs)[1]
                   for i in range(0, len(images), size)]
        scales = [sample_scale(np.concatenate(maps), r.method, self.options.clip)
                  for r, maps in zip(self.requests, zip(*batches))]
        return scales if all(s > 0 for s in scales) else None  # a blank sample: fall back to each frame's scale

    def _camera_sized(self, maps):
        height, width = self.camera_shape[:2]
        if maps.shape[1:] != (height, width):
            maps = np.stack([cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR) for m in maps])
        return maps

    def _camera_frame(self, frame):
        frame.image = self.camera_image(frame.image)
        return frame

    def _same_camera(self, image):
        if self.camera_shape is None:
            self.camera_shape = image.shape
        if image.shape == self.camera_shape:
            return True
        from donkey_saliency.tub.read import OTHER_SIZE
        self.skipped.add(OTHER_SIZE)
        return False

    def _accepted(self, frame):
        """Whether the pilot can take the frame's record (a memory pilot needs the user's angle and throttle)."""
        if not self.pilot or self.inputs.accepts(frame.record):
            return True
        from donkey_saliency.tub.read import NO_USER_VALUES
        self.skipped.add(NO_USER_VALUES)
        return False

    def render(self, inferred):
        """Compose every video frame of a batch, with the run's one Composer (bands drawn once)."""
        from donkey_saliency.draw import MapView
        from donkey_saliency.tub.read import user_values
        o = self.options
        images = []
        for i, (frame, record) in enumerate(zip(inferred.frames, inferred.records)):
            user = user_values(record) if o.user else None
            self.without_user += o.user and user is None
            pilot = (inferred.angle[i], inferred.throttle[i]) if o.pilot and np.isfinite(inferred.angle[i]) else None
            views = [MapView(maps[i], r.signed, r.title, r.ends) for r, maps in zip(self.requests, inferred.maps)]
            images.append(self.composer(frame.image, views, record.get('_index', ''), user, pilot,
                                        record.get('_tub') if self.several else None))
        indexes = [int(r.get('_index', -1)) for r in inferred.records]
        keys = [r.key for r in self.requests]
        row = (dict(zip(keys, inferred.maps)), dict(zip(keys, inferred.raw)), indexes, inferred.angle,
               inferred.throttle, [r.get('_tub', '') for r in inferred.records])
        return Rendered(images, row, inferred.dropped)

    def open_writers(self, fps):
        from donkey_saliency.writers import MapsWriter, VideoWriter
        video = VideoWriter(self.options.out, fps)
        if not self.options.save_maps:
            return Writers(video, None)
        primary = next((r for r in self.requests if r.target is not None), self.requests[0]).key
        try:
            return Writers(video, MapsWriter(self.options.save_maps, primary))
        except BaseException:  # no temporary video left behind
            video.discard()
            raise
