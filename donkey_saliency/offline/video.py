"""The video: tub(s) + pilot -> saliency video (and optionally the maps), streamed batch by batch.

Reading/decoding, inference and rendering/encoding run overlapped in three threads joined by small bounded
queues, so memory stays flat and the slow stages hide each other.
"""
import contextlib
import os
import queue
import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np

from donkey_saliency.errors import NothingToShow, UserError
from donkey_saliency.offline.session import Request
from donkey_saliency.tub.read import NO_USER_VALUES


@dataclass
class Options(Request):
    """Everything `donkey saliency` can be asked, with the CLI's defaults: the inputs every command takes
    (offline.session.Request; no model: a video of the overlays recorded on the car), and the video's own."""
    out: str = 'saliency.mp4'  # with per_tub: the folder of the videos
    target: str = 'angle'  # --output: what an output-specific map explains (angle, throttle, all)
    layout: str = 'overlay'
    signed: bool = None  # None: steering maps signed, throttle maps unsigned
    scale: int = 2
    fps: float = None
    batch_size: int = 64
    alpha: float = 0.5
    user: bool = True
    pilot: bool = True
    save_maps: str = None   # '': beside the video (each video with per_tub), with its name and .npz
    progress: bool = True
    every: int = 1          # render every Nth record of the range
    clip: float = 99.0      # display scaling: the percentile of |map| drawn at full strength
    normalize: str = 'frame'  # 'frame': each frame on its own scale; 'run': one scale for the whole run
    per_tub: bool = False   # one video per tub (offline.batch)
    format: str = None      # mp4 or gif: per_tub's videos; else it must agree with out's suffix
    jobs: int = 1           # per_tub's worker processes


@dataclass
class Summary:
    """What a user reads at the end of a run."""
    out: str
    frames: int = 0
    skipped: object = None
    seconds: float = 0.0
    startup: float = 0.0
    maps: str = None
    fps: float = 0.0
    fps_source: str = ''
    pilot: str = ''
    config: str = ''
    size: int = 0
    without_user: int = 0  # frames drawn without the user's line
    blank: dict = field(default_factory=dict)  # map title -> frames whose map was blank (all zero)
    warnings: list = field(default_factory=list)  # what is wrong with the tubs as a whole

    @property
    def rate(self):
        """Frames per second once started (after loading TensorFlow and the pilot, and making the writers)."""
        working = self.seconds - self.startup
        return self.frames / working if working > 0 else 0.0

    def blank_lines(self):
        """One line per map that was blank (all zero) on some frames: said, rather than drawn as nothing in
        silence; the --per-tub summary says them too."""
        return [f'{count} of {self.frames} frames with a blank map (all zero), drawn without it: {title}'
                for title, count in self.blank.items() if count]

    def lines(self):
        text = [f'wrote {self.frames} frames to {self.out} ({self.size / 1e6:.1f} MB, {self.fps:g} frames/s video, '
                f'rate from {self.fps_source})',
                f'skipped records: {self.skipped}']
        if self.without_user:
            text.append(f"{self.without_user} {NO_USER_VALUES}: drawn without the user's line")
        text += self.blank_lines()
        text += [f'warning: {warning}' for warning in self.warnings]
        text += [f'car config: {self.config}',
                f'{self.seconds:.1f} s ({self.startup:.1f} s start-up), {self.rate:.0f} frames/s once started, '
                f'pilot: {self.pilot}']
        if self.maps:
            text.append(f'maps saved to {self.maps}')
        return text


def check(options):
    """Every check that needs no TensorFlow, so a mistyped flag fails in a fraction of a second; returns the
    options with --tub's folders and globs expanded to the tubs they hold, and those tubs opened."""
    from donkey_saliency.writers import VIDEO_SUFFIXES, check_destination
    options, tubs = check_inputs(options)
    if options.jobs > 1:
        raise UserError(f'--jobs {options.jobs} renders tubs side by side, one video each: add --per-tub (one '
                        'video of several tubs is rendered in order, by one process)')
    check_destination(options.out, VIDEO_SUFFIXES, options.tubs)
    if options.format and os.path.splitext(options.out)[1].lower() != f'.{options.format}':
        raise UserError(f'--format {options.format} and --out {options.out} disagree; leave one out')
    if options.save_maps == '':
        options = replace(options, save_maps=os.path.splitext(options.out)[0] + '.npz')
    if options.save_maps:
        if os.path.abspath(options.save_maps) == os.path.abspath(options.out):
            raise UserError('--save-maps and --out name the same file; choose two names')
        check_destination(options.save_maps, ('.npz',), options.tubs, '--save-maps')
    return options, tubs


def check_inputs(options):
    """The checks of everything but the output files; returns the options with the tubs expanded, and the tubs
    opened."""
    from donkey_saliency.keys import OVERLAY_KEY
    from donkey_saliency.offline import session
    options, tubs = session.check(options)  # a skipped tub is said on stderr as it is found
    if not options.model:
        if not all(OVERLAY_KEY in tub_keys for tub_keys in tubs.keys):
            raise UserError('no pilot given; pass --model FILE (a .h5, .savedmodel, .keras or .tflite pilot), '
                            f'or a tub recorded on the car with its overlay ({OVERLAY_KEY})')
        if options.save_maps:
            raise UserError('--save-maps needs a pilot (--model): a recorded overlay holds no map values')
    if options.target not in ('angle', 'steering', 'throttle', 'all'):
        raise UserError(f'unknown --output {options.target}; choose angle (or steering), throttle or all')
    if options.layout not in ('overlay', 'panels'):
        raise UserError(f'unknown --layout {options.layout}; choose overlay or panels')
    if options.scale < 1:
        raise UserError(f'--scale must be a whole number of at least 1, not {options.scale}')
    if not 0.0 <= options.alpha <= 1.0:
        raise UserError(f'--alpha must lie between 0 and 1, not {options.alpha}')
    if options.every < 1:
        raise UserError(f'--every must be a whole number of at least 1, not {options.every}')
    if not 0 < options.clip <= 100:
        raise UserError(f'--clip is a percentile, above 0 and at most 100, not {options.clip}')
    if options.normalize not in ('frame', 'run'):
        raise UserError(f'unknown --normalize {options.normalize}; choose frame or run')
    if options.batch_size < 1:
        raise UserError(f'--batch-size must be at least 1, not {options.batch_size}')
    if options.format not in (None, 'mp4', 'gif'):
        raise UserError(f'unknown --format {options.format}; choose mp4 or gif')
    if options.jobs < 1:
        raise UserError(f'--jobs must be a whole number of at least 1, not {options.jobs}')
    if options.fps is not None and options.fps <= 0:
        raise UserError(f'--fps must be positive, not {options.fps}')
    return options, tubs


def frame_rate(options, cfg, from_car, records):
    """(frames/s, where it came from): --fps, else the car's DRIVE_LOOP_HZ, else the median spacing of the
    rendered records' timestamps, else 20. With --every N the video keeps real time: the loop rate over N."""
    if options.fps:
        return float(options.fps), '--fps'
    if from_car and getattr(cfg, 'DRIVE_LOOP_HZ', None):
        return max(float(cfg.DRIVE_LOOP_HZ) / options.every, 0.5), 'DRIVE_LOOP_HZ of the car config'
    stamps = np.array([r['_timestamp_ms'] for r in records if isinstance(r.get('_timestamp_ms'), (int, float))],
                      np.float64)
    steps = np.diff(stamps)
    steps = steps[steps > 0]
    if len(steps):
        return float(np.clip(round(1000.0 / np.median(steps), 2), 0.5, 60)), 'the records\' timestamps'
    return 20.0, 'the default (the records have no timestamps)'


class Stage(threading.Thread):
    """Runs `work(item)` for each item of `source`, putting results on a bounded queue; errors travel along."""

    END = object()

    def __init__(self, source, work):
        super().__init__(daemon=True)
        self.source, self.work = source, work
        self.results = queue.Queue(maxsize=2)
        self.stopped = threading.Event()

    def run(self):
        try:
            for item in self.source:
                if self.stopped.is_set():
                    return
                self._put(self.work(item))
            self._put(self.END)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(exc)

    def _put(self, item):
        while not self.stopped.is_set():
            try:
                self.results.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self):
        while True:
            try:
                item = self.results.get(timeout=0.1)
            except queue.Empty:
                if self.stopped.is_set():
                    return
                continue
            if item is self.END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self):
        """Ask the thread to finish its current item and end; wait for it."""
        self.stopped.set()
        if self.is_alive():
            self.join()


def run(options, bar=None):
    """Make the video; returns a Summary. Raises UserError for anything the user can fix. `bar`: a progress
    display that several runs share (--per-tub), fed the frames done; by default the run shows its own."""
    options, tubs = check(options)
    started = time.time()
    from donkey_saliency import heap
    heap.keep_freed_memory()
    from donkey_saliency.offline.session import Session
    from donkey_saliency.offline.stages import VideoJob, split_first
    session = Session(options, tubs)
    job = VideoJob(options, session)
    summary = Summary(out=options.out, pilot=f'{job.pilot.kind} ({options.method})' if job.pilot
                      else 'none (overlays recorded on the car)',
                      config=f'{options.config} (transformations, image size and loop rate from it)'
                      if session.from_car else 'none: input size from the model, frame rate from timestamps')
    job.fix_camera_shape()
    job.fix_run_scales()
    loaded = job.batches()
    try:
        first = next(loaded, None)
        if first is None:
            raise NothingToShow(f'no readable records in range ({job.reader.skipped}); nothing to render')
        job.warm_up(len(first.frames))  # the size the first batch has, its unreadable images left out
        summary.fps, summary.fps_source = frame_rate(options, session.cfg, session.from_car,
                                                     [f.record for f in first.frames])
        # a bar of its own is closed on every way out (an interrupt too), so that the line about a stop starts
        # a line of its own; a shared bar is its owner's to close
        shown_bar = progress_bar(shown(options, tubs.available), options.progress) if bar is None \
            else contextlib.nullcontext(bar)
        # the writers are made before the start-up ends, as makemovie's moviepy makes its own before its bar starts
        with shown_bar as bar, job.open_writers(summary.fps) as writers:
            summary.startup = time.time() - started
            with _opencv_on_one_thread():
                summary.frames = _write(job, _chain(split_first(first), loaded), writers, bar)
    finally:
        loaded.close()  # after the threads have stopped: closes the tub
    summary.skipped = job.reader.skipped
    summary.warnings = job.reader.warnings
    summary.without_user = job.without_user
    summary.blank = job.blank
    summary.seconds = time.time() - started
    summary.maps = options.save_maps
    summary.size = os.path.getsize(options.out)
    return summary


def _write(job, batches, writers, bar):
    """Reading, inference and rendering in three threads, writing on this one; the number of frames written."""
    load = Stage(batches, _as_read)
    infer = Stage(load, job.infer)
    render = Stage(infer, job.render)
    for stage in (load, infer, render):
        stage.start()
    try:
        for rendered in render:
            for image in rendered.images:
                writers.video.write(image)
            if writers.maps and rendered.images:
                writers.maps.add(*rendered.maps_row)
            bar.update(len(rendered.images) + rendered.dropped)
        if not writers.video.frames:
            raise NothingToShow(f'no readable records in range ({job.reader.skipped}); nothing to render')
        return writers.video.frames
    finally:
        for stage in (render, infer, load):  # all told first: none waits to hand one more item to a stopped one
            stage.stopped.set()
        for stage in (render, infer, load):
            stage.stop()


@contextlib.contextmanager
def _opencv_on_one_thread():
    """OpenCV's calls each on its stage's own thread while the stages run: they keep the cores busy already, and
    OpenCV's own pool, whose threads wait actively, takes their time (a video runs slower with it:
    bench/README.md). Put back after the run (as a count: OpenCV tells no "default"), for an
    in-process caller."""
    import cv2
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def _as_read(batch):
    return batch


def _chain(first, rest):
    yield from first
    yield from rest


def progress_bar(total, enabled):
    from tqdm import tqdm
    return tqdm(total=total, unit='frame', disable=not enabled, dynamic_ncols=True, desc='saliency')


def shown(options, available):
    """Frames a run of `options` shows from tubs holding `available` records (--start, --end, --every)."""
    end = available if options.end == -1 else min(options.end, available)
    return max(0, -(-(end - options.start) // options.every))
