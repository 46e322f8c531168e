"""The saliency methods, each registered here once: its name, what it answers, its settings, and which pilot
files can answer it. Everything else (the CLI flags and --help, the car's config check, docs/video.md's method
table, the engine) reads this registry. Registering imports nothing heavy: a method's module is imported only
when the method is used (the Keras module needs TensorFlow; its numpy twin, for a plain .tflite, does not).

Adding a method: one module with a class on `base.SaliencyMethod` (and, if it can run on a .tflite without
TensorFlow, a numpy twin beside it), plus one `Method(...)` line below.
"""
import importlib
from dataclasses import dataclass

from donkey_saliency.errors import UserError


@dataclass(frozen=True)
class Setting:
    """A method's setting: its flag (--NAME), car key (SALIENCY_NAME), parser, default and help."""
    name: str
    parse: object  # value as given (text or number) -> the setting's value; a UserError naming the flag if not
    default: object
    help: str
    metavar: str = 'N'


def positive(kind):
    """A parser of positive numbers of `kind` (int or float) for the setting --NAME."""
    def parse(value, name):
        try:
            parsed = kind(value)
        except (TypeError, ValueError):
            what = 'a whole number' if kind is int else 'a number'
            raise UserError(f'--{name} takes {what}, not {value!r}') from None
        if parsed <= 0:
            raise UserError(f'--{name} must be positive, not {value}')
        return parsed
    return parse


def parse_layer(value, name):
    """A target layer: 'auto' (chosen from the model's geometry, see gradcam.AUTO), a conv stage number (1 the
    first, -1 the last) or a layer name."""
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        try:
            number = int(text)
        except ValueError:
            return text
    if number == 0:
        raise UserError(f'--{name} counts conv stages from 1 (the first) or from -1 (the last); 0 is neither')
    return number


@dataclass(frozen=True)
class Method:
    """One registration. `keras`/`tflite` are 'module:Class' under this package, imported on use; `tflite` is the
    numpy twin that answers on a plain .tflite pilot (None: only a Keras file, or an exported twin that carries
    the map, can answer). `exportable`: `donkey saliency export` can build its default map into a .tflite twin
    (its graph converts to TFLite built-in ops)."""
    name: str
    answers: str          # one line for --help and docs/video.md
    shows: str            # the panel's label, a few words ({target}: steering, throttle, ...)
    per_output: bool      # True: explains one chosen output (steering or throttle)
    keras: str
    tflite: str = None
    settings: tuple = ()
    exportable: bool = False
    smoothed: bool = False

    def create(self, model, score=None, signed=False, backend='keras', **given):
        """The method on `model` (a Keras model, or a TfLiteModel for backend 'tflite'), its settings the
        registered defaults overridden by the non-None values `given`; `score` picks the output it explains."""
        module, cls = getattr(self, backend).split(':')
        options = settings_for(self.name, given)
        if self.per_output:
            options.update(score=score, signed=signed)
        return getattr(importlib.import_module(f'{__name__}.{module}'), cls)(model, **options)


LAYER = Setting('layer', parse_layer, 'auto', 'the layer explained: auto (the deepest conv stage whose map is '
                'at least a tenth of the image across and down: conv 3 of 5 on donkeycar pilots, where the last is '
                'too coarse to show the road), a conv stage number (1 the first, -1 the last) or a layer name; '
                'earlier stages are finer', 'auto|NAME|N')

METHODS = {m.name: m for m in (
    Method('vbp', 'what drives the conv features (one map for steering and throttle)',
           'what drives the conv features', False,
           'vbp:VisualBackProp', tflite='vbp_numpy:VisualBackProp', exportable=True),
    Method('gradcam', 'which regions push the chosen output, on one conv layer (--layer)',
           'regions that move the {target}', True,
           'gradcam:GradCAM', settings=(LAYER,), exportable=True),
    Method('gradients', "how each pixel's brightness moves the output (drawn lightly smoothed, display only)",
           'pixels that move the {target}', True, 'gradients:Gradients', smoothed=True),
    Method('smoothgrad', 'gradients averaged over --samples noisy copies (drawn lightly smoothed, display only)',
           'pixels that move the {target}', True, 'smoothgrad:SmoothGrad',
           settings=(Setting('samples', positive(int), 25, 'noisy samples per frame'),
                     Setting('noise', positive(float), 0.15, 'noise std-dev, image range 0..1', 'S')), smoothed=True),
    Method('integrated-gradients', 'attribution from a black frame in --steps steps (drawn lightly smoothed, display only)',
           "pixels' share of the {target}", True,
           'integrated_gradients:IntegratedGradients',
           settings=(Setting('steps', positive(int), 32, 'steps from black'),), smoothed=True),
    Method('occlusion', 'how far the output moves when a --window is blacked out; needs only the outputs',
           'the {target} moves when hidden', True,
           'occlusion:Occlusion', tflite='occlusion_numpy:Occlusion',
           settings=(Setting('window', positive(int), 24, 'window size in pixels', 'PX'),
                     Setting('stride', positive(int), 12, 'window step in pixels', 'PX'))),
    Method('spectral-residual', 'what is merely conspicuous: a model-free control that never looks at the pilot',
           'conspicuous regions (model-free)', False, 'spectral_residual:SpectralResidual',
           tflite='spectral_residual:SpectralResidual'),
)}


def get(name):
    """The registration of method `name`; a UserError naming the valid choices otherwise."""
    if name not in METHODS:
        raise UserError(f'unknown method {name!r}; choose one of {", ".join(METHODS)}')
    return METHODS[name]


def all_settings():
    """Every setting of every method, once each, in registration order: {name: (Setting, [method names])}."""
    found = {}
    for method in METHODS.values():
        for setting in method.settings:
            found.setdefault(setting.name, (setting, []))[1].append(method.name)
    return found


def settings_for(name, given):
    """Method `name`'s settings: the registered defaults, overridden by the non-None values in `given`."""
    return {s.name: s.default if given.get(s.name) is None else s.parse(given[s.name], s.name)
            for s in get(name).settings}


def markdown_table():
    """docs/video.md's table of methods, made from the registry (a test keeps the page in step)."""
    rows = ['| method | answers | settings | runs on |', '| --- | --- | --- | --- |']
    for m in METHODS.values():
        settings = ', '.join(f'`--{s.name}` ({s.default})' for s in m.settings) or '-'
        files = 'Keras' + (', .tflite' if m.tflite else '') + (', exported twin' if m.exportable else '')
        rows.append(f'| `{m.name}` | {m.answers} | {settings} | {files} |')
    return '\n'.join(rows)
