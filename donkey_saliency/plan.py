"""Which maps a run draws, from the user's choice of method, output and layout; and computing them for a batch.

VisualBackProp explains the conv features, so it draws one map whatever the output. Output-specific methods draw
one map per requested output: steering maps signed (right vs left) and throttle maps unsigned unless asked
otherwise. The panels layout puts VisualBackProp next to the chosen method; several maps always need panels.
"""
import inspect
from dataclasses import dataclass

SETTINGS = ('samples', 'noise', 'steps', 'window', 'stride')


@dataclass(frozen=True)
class MapRequest:
    method: str
    output: str = None  # 'angle' / 'throttle'; None for methods that explain no particular output
    signed: bool = False

    @property
    def key(self):
        return self.method.replace('-', '_') + (f'_{self.output}' if self.output else '')

    @property
    def title(self):
        return self.method + (f' {self.output}' if self.output else '')

    @property
    def ends(self):
        """Legend labels, top and bottom."""
        if not self.signed:
            return 'hi', 'lo'
        return ('R', 'L') if self.output == 'angle' else ('+', '-')


def requests(method, output='angle', layout='overlay', signed=None):
    """(requests, panels) for the user's choices; `signed` None means the default per output."""
    from donkey_saliency.methods import per_output
    if not per_output(method):
        chosen = [MapRequest(method)]
    else:
        outputs = ['angle', 'throttle'] if output == 'all' else [output]
        chosen = [MapRequest(method, o, (o == 'angle') if signed is None else signed) for o in outputs]
        if layout == 'panels':
            chosen = [MapRequest('vbp')] + chosen
    return chosen, layout == 'panels' or len(chosen) > 1


class MapMaker:
    """The method instances of a run; one call computes the pilot's outputs and every requested map."""

    def __init__(self, pilot, chosen, settings):
        from donkey_saliency.targets import score_functions
        scores = score_functions(pilot.kind, getattr(pilot.part, 'throttle_range', 0.8), pilot.array_api)
        self.methods = []
        for request in chosen:
            cls = pilot.method_class(request.method)
            accepted = inspect.signature(cls.__init__).parameters
            options = {k: v for k, v in settings.items() if k in accepted and v is not None}
            if request.output:
                options.update(score=scores[request.output], signed=request.signed)
            self.methods.append(cls(pilot.model, **options))

    def __call__(self, inputs):
        """(outputs of the pilot, [maps per request]), maps (N, H, W) at the pilot's input size."""
        outputs, maps = None, []
        for method in self.methods:
            method_outputs, method_maps = method(inputs)
            outputs = outputs if outputs is not None else method_outputs
            maps.append(method_maps)
        return outputs, maps
