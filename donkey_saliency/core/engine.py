"""The one engine: a pilot (any file the tool takes) and the maps asked of it -> the pilot's outputs and the maps
for a batch. Every entry point goes through it: the video, the car part, the export and the Python API.

A request names a method (see `methods`), the target it explains and whether its map keeps its sign. The engine
checks at once that the pilot file can answer every request, and says what it can answer when it cannot:
- a Keras pilot answers every method, in one compiled graph with its forward pass;
- a .tflite pilot answers the methods that have a numpy twin (VisualBackProp from its intermediate tensors,
  occlusion from its outputs), and every map an exported twin (`donkey saliency export`) carries.
"""
from dataclasses import dataclass

import numpy as np

from donkey_saliency import keys
from donkey_saliency.core import methods
from donkey_saliency.errors import UserError

TARGETS = ('angle', 'throttle')  # what a donkeycar pilot's output-specific map explains
TARGET_WORDS = {'angle': 'steering', 'throttle': 'throttle'}
TARGET_ALIASES = {'steering': 'angle'}


@dataclass(frozen=True)
class MapRequest:
    """One map to compute: `method`, the `target` it explains ('angle' or 'throttle' for a donkeycar pilot, a
    model output's index or name for a plain model; None for methods that explain no particular output), and
    whether it is `signed` (positive where the pixels push the target up)."""
    method: str
    target: object = None
    signed: bool = False

    @property
    def key(self):
        return self.method.replace('-', '_') + (f'_{self.target}' if self.target is not None else '')

    @property
    def title(self):
        """The panel's label: the method and what its map shows, in words."""
        target = TARGET_WORDS.get(self.target, f'output {self.target}')
        return f'{self.method}: {methods.get(self.method).shows.format(target=target)}'

    @property
    def ends(self):
        """What the low and the high end of the colour bar mean."""
        if not self.signed:
            return 'weak', 'strong'
        return {'angle': ('pushes left', 'pushes right'), 'throttle': ('slows', 'speeds up')}.get(
            self.target, ('lowers', 'raises'))


def requests_for(method, target='angle', layout='overlay', signed=None):
    """(requests, panels) for the user's choices (`target` 'all': angle and throttle); `signed` None means the
    default per target: steering maps signed (right vs left), others unsigned. The panels layout puts
    VisualBackProp beside the method."""
    target = TARGET_ALIASES.get(target, target)
    if not methods.get(method).per_output:
        chosen = [MapRequest(method)]
    else:
        targets = list(TARGETS) if target == 'all' else [target]
        chosen = [MapRequest(method, t, (t == 'angle') if signed is None else signed) for t in targets]
        if layout == 'panels':
            chosen = [MapRequest('vbp')] + chosen
    return chosen, layout == 'panels' or len(chosen) > 1


# the maps `donkey saliency export` can build into a .tflite twin (default target and settings), by output name
EXPORTABLE = {keys.map_output(r.key): r for r in (requests_for(m.name)[0][0] for m in methods.METHODS.values()
                                                  if m.exportable)}


def answerable(pilot):
    """The method names the pilot's file can answer."""
    if not pilot.tflite:
        return list(methods.METHODS)
    carried = {EXPORTABLE[name].method for name in pilot.tflite.map_names if name in EXPORTABLE}
    return [name for name, m in methods.METHODS.items() if m.tflite or name in carried]


class Engine:
    """`engine(inputs) -> (outputs, [maps per request])`; maps (N, H, W) at the pilot's input size, raw and
    unscaled (`core.display` scales them for drawing). Inputs are float arrays in model input order, images
    scaled to 0..1."""

    def __init__(self, pilot, requests, settings=None):
        self.pilot = pilot
        backend = _TfLiteMaps if pilot.tflite else _KerasMaps
        self.backend = backend(pilot, list(requests), settings or {})
        self.model = pilot.model  # what the maps were built for (the car's hot reload replaces the pilot's)

    def __call__(self, inputs):
        return self.backend(inputs)

    @property
    def samples(self):
        """Model evaluations per frame of the costliest map asked (SmoothGrad's samples, occlusion's windows)."""
        return max([getattr(m, 'samples', 1) for m in getattr(self.backend, 'methods', [])] or [1])


def _create(pilot, request, settings, backend, xp):
    """Request's method on the pilot's model for `backend`, explaining the request's target."""
    score = pilot.score(request.target, xp) if request.target is not None else None
    return methods.get(request.method).create(pilot.model, score, request.signed, backend, **settings)


class _KerasMaps:
    """Every request as a method on the Keras model, each one compiled graph with the forward pass."""

    def __init__(self, pilot, requests, settings):
        self.methods = [_create(pilot, r, settings, 'keras', pilot.array_api) for r in requests]

    def __call__(self, inputs):
        outputs, maps = None, []
        for method in self.methods:
            method_outputs, method_maps = method(inputs)
            outputs = outputs if outputs is not None else method_outputs
            maps.append(method_maps)
        return outputs, maps


class _ExportedMap:
    """A map an exported twin computes in the same invoke() as the outputs."""

    reads_last_run = True

    def __init__(self, model, name):
        self.model, self.name = model, name

    def maps(self, inputs, outputs):
        return self.model.maps(self.name)


class _TfLiteMaps:
    """One invoke() for the outputs; maps read from it (exported or intermediate tensors) or from more invokes."""

    def __init__(self, pilot, requests, settings):
        model = pilot.tflite
        self.model = model
        self.computers = []
        for request in requests:
            name = keys.map_output(request.key)
            if name in model.map_names and EXPORTABLE.get(name) == request and \
                    methods.settings_for(request.method, settings) == methods.settings_for(request.method, {}):
                self.computers.append(_ExportedMap(model, name))
            elif methods.get(request.method).tflite:
                self.computers.append(_create(pilot, request, settings, 'tflite', np))
            else:
                raise UserError(_cannot(pilot, request))
        # maps read from the last invoke() first: the others invoke the interpreter again
        self.order = sorted(range(len(requests)), key=lambda i: not self.computers[i].reads_last_run)

    def __call__(self, inputs):
        outputs = self.model.run(inputs)
        maps = [None] * len(self.computers)
        for i in self.order:
            maps[i] = self.computers[i].maps(inputs, outputs)
        return outputs, maps


def _cannot(pilot, request):
    what = f'{request.method} for {request.target}' if request.target is not None else request.method
    exported = f' or export a twin that carries it (donkey saliency export --{request.method})' \
        if methods.get(request.method).exportable else ''
    return (f'{what} cannot be computed from {pilot.path}, a .tflite pilot: it answers '
            f'{", ".join(answerable(pilot))}; pass the Keras file (.h5, .savedmodel, .keras){exported}')
