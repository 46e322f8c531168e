"""Saliency live on the car: a donkeycar part that takes the pilot's place in the drive loop.

`SalientPilot(kl, cfg, model_path)` has the pilot's inputs and outputs plus `saliency/image_array`, an RGB
overlay of the map on the frame the pilot saw. One inference gives both, through the one engine every entry
point uses: the Keras pilot runs the methods' combined graph; a .tflite pilot runs the exported twin
(`donkey saliency export`) or, for a plain file, reads the conv outputs from the interpreter (slower, said once
in the log). Memory and sequence pilots keep their own state in donkeycar's `run()`: they run as always, and
their map is a second call on the very inputs that run built (previous outputs, frame history).

On a Pi nothing here imports TensorFlow: the .tflite path needs only numpy, OpenCV and a TFLite runtime.

myconfig.py keys (defaults):
    SALIENCY_METHOD = 'vbp'       # any method the pilot file answers (see `donkey saliency --help`)
    SALIENCY_LAYER, SALIENCY_WINDOW, ...  # a method's settings, SALIENCY_<NAME> (default: the registered one)
    SALIENCY_EVERY = 1            # compute the map every N loops; the overlay holds in between
    SALIENCY_ALPHA = 0.5          # overlay opacity
    SALIENCY_CLIP = 99.0          # display scaling, as --clip: this percentile of |map| at full strength
    SALIENCY_THREADED = False     # True: maps in a background thread; the pilot never waits for them
    SALIENCY_STREAM_PORT = 8891   # MJPEG stream of the overlay (None: no stream)
    SALIENCY_RECORD = False       # True: record the overlay into the tub as saliency/image_array
    SALIENCY_HEALTH = None        # 'health.json' (donkey saliency calibrate): saliency/above_edge, ..., alarm
    SALIENCY_GUARD_THROTTLE = None  # 0.5: the pilot's throttle times this while the alarm is on (never in user mode)
"""
import logging
import math
import sys
import threading

import numpy as np

from donkey_saliency.core import methods
from donkey_saliency.core.display import check_clip
from donkey_saliency.errors import UserError
from donkey_saliency.keys import HEALTH_KEYS, HEALTH_TYPES, OVERLAY_KEY
from donkey_saliency.tub.schema import manifest_schema

logger = logging.getLogger(__name__)

STATEFUL_KINDS = ('memory', 'rnn', '3d')  # pilots whose donkeycar run() keeps state between loops
DEFAULTS = {'SALIENCY_METHOD': 'vbp', 'SALIENCY_EVERY': 1, 'SALIENCY_ALPHA': 0.5, 'SALIENCY_CLIP': 99.0,
            'SALIENCY_THREADED': False, 'SALIENCY_STREAM_PORT': 8891, 'SALIENCY_RECORD': False,
            'SALIENCY_HEALTH': None, 'SALIENCY_GUARD_THROTTLE': None}


def setting(cfg, key):
    return getattr(cfg, key, DEFAULTS[key]) if cfg is not None else DEFAULTS[key]


def method_settings(cfg, method):
    """The chosen method's settings from the car config: SALIENCY_<NAME> for each setting it registers (None:
    the registered default)."""
    return {s.name: getattr(cfg, f'SALIENCY_{s.name.upper()}', None) for s in methods.get(method).settings}


class SalientPilot:
    """The car's pilot `kl` and its saliency map; add it to the loop in kl's place (see `add_saliency`).

    The engine is built here, at start-up: a method the pilot file cannot answer (or a misspelt one) stops the
    car before it drives, with one line naming the valid choices; nothing is ever silently substituted.
    """

    def __init__(self, kl, cfg=None, model_path=None):
        from donkey_saliency.core.engine import requests_for
        from donkey_saliency.core.pilot import PART_KINDS
        self.kl = kl
        self.model_path = model_path
        method = setting(cfg, 'SALIENCY_METHOD')
        self.settings = method_settings(cfg, method)
        (self.request,), _ = requests_for(method)
        self.every = max(1, int(setting(cfg, 'SALIENCY_EVERY')))
        self.alpha = float(setting(cfg, 'SALIENCY_ALPHA'))
        self.clip = float(setting(cfg, 'SALIENCY_CLIP'))
        check_clip(self.clip)  # at start-up, not on every loop
        self.engine = None
        self.input_names = []
        self.overlay = None
        self.loops = 0
        self.failed = False
        self.stateful = PART_KINDS.get(type(kl).__name__) in STATEFUL_KINDS
        self.unsupported = type(kl.interpreter).__name__ == 'TensorRT'
        if self.unsupported:
            logger.warning('saliency: TensorRT pilots are not supported; the car drives on its pilot, with no map. '
                           'Use the Keras or .tflite file of the pilot to see its saliency.')
        else:
            self.built_for = self._current_model()
            self.engine = self._build()
        threaded = bool(setting(cfg, 'SALIENCY_THREADED'))
        self.health = self._health(setting(cfg, 'SALIENCY_HEALTH'), method, threaded)
        self.worker = _Worker(self) if threaded and not self.unsupported else None

    def _health(self, path, method, threaded):
        """The health watch of SALIENCY_HEALTH for this pilot, or None (off, or said in the log why not). Its
        limits were fitted on the maps of consecutive frames (calibrate): a map every few loops, or as a
        background thread keeps up, would move the change and the window off them, and raise false alarms."""
        if not path or self.unsupported:
            return None
        from donkey_saliency.car import health
        from donkey_saliency.core.pilot import PART_KINDS
        if self.every > 1 or threaded:
            return health.off(f'its limits hold for a map every loop, as calibrate measured them: set '
                              f'SALIENCY_EVERY = 1 and SALIENCY_THREADED = False (now {self.every} and {threaded}), '
                              'or leave SALIENCY_HEALTH out')
        return health.load(path, self.model_path or '', PART_KINDS.get(type(self.kl).__name__), method)

    def run(self, img_arr, *other_arr):
        """The pilot's outputs, unchanged, plus the latest overlay (None until the first map) and, with a health
        file, the latest health numbers and alarm."""
        outputs = self._drive(img_arr, *other_arr)
        return outputs + self.health.latest if self.health else outputs

    def _drive(self, img_arr, *other_arr):
        if self.unsupported:
            return tuple(self.kl.run(img_arr, *other_arr)) + (None,)
        due = self.loops % self.every == 0
        self.loops += 1
        if not due:
            return tuple(self.kl.run(img_arr, *other_arr)) + (self.worker.overlay if self.worker else self.overlay,)
        if self.stateful:  # the pilot keeps its own state: it runs as always, and the map reads what it saw
            outputs, inputs = self._run_and_keep_inputs(img_arr, other_arr)
        else:
            outputs, inputs = None, self._inputs(img_arr, other_arr)
        if self.worker:
            self.worker.submit(img_arr, inputs)
            return tuple(outputs or self.kl.run(img_arr, *other_arr)) + (self.worker.overlay,)
        result = self._guarded(self.saliency, img_arr, inputs)
        outputs = outputs or result or self.kl.run(img_arr, *other_arr)
        return tuple(outputs) + (self.overlay,)

    def saliency(self, img_arr, inputs):
        """One inference on the model's `inputs`: update the overlay, return the pilot's decoded outputs (None
        without an engine)."""
        from donkey_saliency.core.display import shown
        from donkey_saliency.draw import overlay
        engine = self._current_engine()
        if engine is None:
            return None
        outputs, (raw,) = engine(inputs)
        if self.health:  # on the map as the engine gives it, as `donkey saliency calibrate` measures it
            self.health.step(raw[0])
        drawn = shown(raw, self.request.method, self.request.signed, self.clip)[0]  # as the video draws it
        self.overlay = overlay(_rgb(img_arr), drawn, self.alpha, self.request.signed)
        sample = outputs[0][0] if len(outputs) == 1 else [o[0] for o in outputs]
        return self.kl.interpreter_to_output(sample)

    def _inputs(self, img_arr, other_arr):
        """The model's inputs for one frame, as donkeycar's run() builds them for a stateless pilot."""
        inputs = [np.asarray(img_arr, np.float32)[None] * np.float32(1 / 255)]
        return inputs + [np.asarray(value, np.float32)[None] for value in other_arr]

    def _run_and_keep_inputs(self, img_arr, other_arr):
        """kl.run as the car calls it (its state moves on as always), and the exact inputs it built from that
        state (memory: its previous outputs; rnn, 3d: its frame history), read at its inference_from_dict."""
        seen = {}
        infer = self.kl.inference_from_dict

        def keeping_inputs(input_dict):
            seen.update(input_dict)
            return infer(input_dict)
        self.kl.inference_from_dict = keeping_inputs
        try:
            outputs = self.kl.run(img_arr, *other_arr)
        finally:
            del self.kl.inference_from_dict
        return outputs, [np.asarray(seen[name], np.float32)[None] for name in self.input_names]

    def _current_model(self):
        """What the car's hot reload replaces: the Keras model, or the TFLite interpreter."""
        interpreter = self.kl.interpreter
        return interpreter.interpreter if type(interpreter).__name__ == 'TfLite' else interpreter.model

    def _build(self):
        from donkey_saliency.core import tflite
        from donkey_saliency.core.engine import Engine
        from donkey_saliency.core.pilot import of_part
        tflite.OUTPUTS_THREADS = 1  # occlusion on a plain .tflite: the drive loop's other parts need the other cores
        pilot = of_part(self.kl, self.model_path)
        engine = Engine(pilot, [self.request], self.settings)
        self.input_names = [t.name.split(':')[0] for t in pilot.model.inputs]  # as donkeycar's input dicts name them
        if pilot.tflite and not pilot.tflite.exported:
            logger.warning(f'saliency: {self.model_path} has no map built in; reading its intermediate tensors '
                           'is about twice as slow: make a twin with `donkey saliency export`')
        return engine

    def _current_engine(self):
        """The engine for the pilot's current model, rebuilt after the car's hot reload replaced it. A rebuild that
        fails is not tried again until the model changes once more."""
        model = self._current_model()
        if model is not self.built_for:
            self.engine, self.built_for = None, model
            self.engine = self._build()
        return self.engine

    def _guarded(self, work, *args):
        """Run saliency work; a failure is logged once and never reaches the drive loop, and the overlay it
        could not refresh is dropped rather than shown as current."""
        try:
            return work(*args)
        except Exception:
            self.overlay = None
            if self.health:
                self.health.forget()
            if not self.failed:
                logger.exception('saliency failed; the car keeps driving on the pilot alone')
                self.failed = True
            return None

    def shutdown(self):
        if self.worker:
            self.worker.stop()


class _Worker(threading.Thread):
    """Computes maps from the latest submitted frame in the background; frames that arrive meanwhile replace it."""

    def __init__(self, part):
        super().__init__(daemon=True, name='saliency')
        self.part = part
        self.overlay = None
        self.pending = None
        self.ready = threading.Condition()
        self.stopped = False
        self.start()

    def submit(self, img_arr, inputs):
        with self.ready:
            self.pending = (np.array(img_arr), [np.array(x) for x in inputs])
            self.ready.notify()

    def run(self):
        while True:
            with self.ready:
                while self.pending is None and not self.stopped:
                    self.ready.wait()
                if self.stopped:
                    return
                img_arr, inputs = self.pending
                self.pending = None
            self.part._guarded(self.part.saliency, img_arr, inputs)
            self.overlay = self.part.overlay

    def stop(self):
        with self.ready:
            self.stopped = True
            self.ready.notify()


def _rgb(img_arr):
    """The pilot's frame as uint8 RGB (greyscale pilots see one channel)."""
    frame = np.asarray(img_arr, np.uint8)
    frame = frame[..., None] if frame.ndim == 2 else frame
    return np.repeat(frame, 3, axis=2) if frame.shape[2] == 1 else frame


def add_saliency(V, cfg, kl, inputs, outputs, model_path=None, run_condition='run_pilot'):
    """Put a SalientPilot in kl's place in the vehicle `V` (same inputs, outputs + saliency/image_array) and,
    when SALIENCY_STREAM_PORT is set, an MJPEG stream on that port (donkeycar's WebFpv page) of the overlay with
    its label, colour bar and the pilot's steering and throttle. With a usable SALIENCY_HEALTH file the part also
    outputs the health keys (the stream shows the alarm), and SALIENCY_GUARD_THROTTLE adds the throttle guard
    right after it: on the pilot's own throttle, before the parts that override it (the stop sign's brake, the
    launch) and DriveMode, which picks the user's throttle in user mode."""
    try:
        part = SalientPilot(kl, cfg, model_path)
    except UserError as exc:  # before the car drives: one line, no traceback
        _stop_the_car(f'{exc} (check the SALIENCY_* keys in myconfig.py)')
    health = list(HEALTH_KEYS) if part.health else []
    V.add(part, inputs=inputs, outputs=list(outputs) + [OVERLAY_KEY] + health, run_condition=run_condition)
    guard = guard_factor(setting(cfg, 'SALIENCY_GUARD_THROTTLE'))
    if guard is not None and health:
        from donkey_saliency.car.health import ThrottleGuard
        V.add(ThrottleGuard(guard), inputs=['user/mode', outputs[1], HEALTH_KEYS[-1]], outputs=[outputs[1]])
    port = setting(cfg, 'SALIENCY_STREAM_PORT')
    if port:
        from donkey_saliency.car.stream import SaliencyStream
        stream = SaliencyStream(int(port), part.request.title, part.request.signed, part.request.ends)
        V.add(stream, inputs=[OVERLAY_KEY] + list(outputs[:2]) + health[-1:], threaded=True)
    return part


def guard_factor(value):
    """SALIENCY_GUARD_THROTTLE as a factor from 0 to 1 (None: no guard); anything else stops the car before it
    drives, in one line: a factor above 1 would speed the car up on an alarm, a negative one reverse it."""
    if value is None:
        return None
    try:
        factor = float(value)
    except (TypeError, ValueError):
        factor = math.nan
    if not 0 <= factor <= 1:
        _stop_the_car(f'SALIENCY_GUARD_THROTTLE is {value!r}: the share of the pilot\'s throttle kept while the '
                      'alarm is on, from 0 to 1 (e.g. 0.5), or None for no guard')
    return factor


def record_saliency(cfg, inputs, types, tub_path=None):
    """The TubWriter's inputs and types, plus the overlay when SALIENCY_RECORD is set (and the health keys with
    SALIENCY_HEALTH: where the health file turns out unusable, the part leaves them empty and the tub records
    none of them).

    donkeycar appends to an existing tub only with the very inputs it was created with, and otherwise stops the
    car with an AssertionError; when SALIENCY_RECORD is what differs, say so and what to do, before it. The tub
    is `tub_path` (manage.py's), else the one manage.py picks: a new folder with AUTO_CREATE_NEW_TUB, DATA_PATH
    otherwise."""
    recorded = bool(setting(cfg, 'SALIENCY_RECORD'))
    watched = recorded and bool(setting(cfg, 'SALIENCY_HEALTH'))
    inputs = list(inputs) + [OVERLAY_KEY] * recorded + list(HEALTH_KEYS) * watched
    types = list(types) + ['image_array'] * recorded + list(HEALTH_TYPES) * watched
    if tub_path is None and not getattr(cfg, 'AUTO_CREATE_NEW_TUB', False):
        tub_path = getattr(cfg, 'DATA_PATH', None)
    stored = _stored_inputs(tub_path)
    if stored and stored != (inputs, types) and _without_saliency(*stored) == _without_saliency(inputs, types):
        differ = [key for key in SALIENCY_KEYS if (key in inputs) != (key in stored[0])]
        added = [key for key in differ if key in inputs]
        back = f'SALIENCY_RECORD back to {not recorded}' if OVERLAY_KEY in differ else \
            f'SALIENCY_HEALTH back to {"None" if added else "the health file it was recorded with"}'
        _stop_the_car(f'the tub {tub_path} was recorded {"without" if added else "with"} {", ".join(added or differ)}, '
                      'and donkeycar adds records to a tub only with the inputs it was created with: drive into a new '
                      f'tub folder (AUTO_CREATE_NEW_TUB = True in myconfig.py, or move {tub_path} away), or set {back}')
    return inputs, types


def _stored_inputs(tub_path):
    """(inputs, types) of the tub at `tub_path`: its manifest's first two lines, as donkeycar reads them; None
    where there is no readable tub (donkeycar then creates one, or says what is wrong)."""
    return None if tub_path is None else manifest_schema(tub_path)


SALIENCY_KEYS = (OVERLAY_KEY,) + HEALTH_KEYS  # what the part adds to a tub's inputs


def _without_saliency(inputs, types):
    return [(i, t) for i, t in zip(inputs, types) if i not in SALIENCY_KEYS]


def _stop_the_car(line):
    """A set-up the car cannot start with: one line on stderr, no traceback, exit code 2."""
    print(f'donkey-saliency: {line}', file=sys.stderr)
    raise SystemExit(2)
