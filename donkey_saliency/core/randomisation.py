"""Model randomisation (Adebayo et al. 2018, "Sanity checks for saliency maps"): re-initialise the pilot's layers
from the top down, one more layer each stage (cascading), recompute the maps, and see how much of them is left.
Maps that survive a randomised model are not about the model (edge detectors, model-free saliency).

The measure is the median over frames of the Spearman rank correlation between the original and the randomised
map, after each stage and after all layers; a method whose maps still correlate at FLAG_AT or more after all
layers is flagged. Keras pilots only: a .tflite file cannot be re-initialised.
"""
import numpy as np

FLAG_AT = 0.9  # Adebayo et al. show gradients falling towards 0; an edge detector stays near 1
SEED = 1
EVALUATIONS = 256  # model evaluations per method and stage, at most (frames x samples per frame)
FEWEST = 8  # frames a method is checked on, at least


def average_ranks(values):
    """Ranks of the values, equal values sharing their average rank (maps have wide areas of exact zeros)."""
    _, inverse, counts = np.unique(np.ravel(values), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


def spearman(a, b):
    """Rank correlation of two maps; 0 when either is flat (a map that says nothing keeps nothing of the other)."""
    ranks = [average_ranks(m) for m in (a, b)]
    spread = ranks[0].std() * ranks[1].std()
    return float(((ranks[0] - ranks[0].mean()) * (ranks[1] - ranks[1].mean())).mean() / spread) if spread else 0.0


def _fresh_weights(layer, rng, seed):
    """New values for each of the layer's weights: from its own initializer where it has one (kernel, bias,
    gamma, ...), seeded with `seed` so that a stage's weights do not depend on what else drew random numbers
    (other methods' graphs), else the old values shuffled."""
    fresh = []
    for variable, values in zip(layer.weights, layer.get_weights()):
        kind = variable.name.split('/')[-1].split(':')[0]
        initializer = getattr(layer, f'{kind}_initializer', None)
        if initializer is not None:
            config = initializer.get_config()
            if 'seed' in config:
                initializer = type(initializer).from_config(dict(config, seed=seed))
            fresh.append(np.asarray(initializer(values.shape), values.dtype))
        else:
            fresh.append(rng.permutation(values.ravel()).reshape(values.shape))
    return fresh


def cascade(model):
    """(layer name, model) for each stage: `model` itself, changed in place, with the top 1, 2, ... weighted layers
    re-initialised; its own weights are put back when the stages end (or stop), so that the methods already
    built on it serve every stage without compiling anything again."""
    rng = np.random.default_rng(SEED)
    kept = model.get_weights()
    try:
        for number, layer in enumerate(reversed([layer for layer in model.layers if layer.weights])):
            layer.set_weights(_fresh_weights(layer, rng, SEED + number))
            yield layer.name, model
    finally:
        model.set_weights(kept)


def flagged(correlation):
    """Whether maps that keep `correlation` after all layers are re-initialised are flagged: at FLAG_AT or more."""
    return bool(correlation >= FLAG_AT)


def summary(correlations):
    """The stage's one number: the median of the frames' rank correlations (a few odd frames do not move it)."""
    return float(np.median(correlations))


def _follow(engine, model):
    """Gradient methods run on a copy of their own (the pilot with hand-written ReLUs, same layers): give it the
    stage's weights."""
    weights = None
    for method in engine.backend.methods:
        own = getattr(method, 'model', model)
        if own is not model:
            weights = weights or model.get_weights()
            own.set_weights(weights)


def frames_for(samples, available):
    """The frames a method is checked on: all `available`, but at most EVALUATIONS model evaluations a stage (and
    at least FEWEST frames): SmoothGrad's and occlusion's many samples per frame would cost the most."""
    return min(available, max(FEWEST, EVALUATIONS // samples))


def check(pilot, inputs, requests, settings, original, engines=None):
    """{method: {'stages': [...], 'layers': [...], 'rank_correlation': x, 'flagged': bool, 'frames': n}} for each
    request, whose maps on `inputs` were `original` (the same order); stage i has the top i + 1 `layers`
    re-initialised. `engines`: one Engine per request on this pilot, when the caller has them (built otherwise):
    their compiled graphs read the weights each stage changes in place (`_follow`); the pilot is whole again
    afterwards."""
    from donkey_saliency.core.engine import Engine
    engines = engines or [Engine(pilot, [request], settings) for request in requests]
    counts = [frames_for(engine.samples, len(inputs[0])) for engine in engines]
    correlations, layers = {r.method: [] for r in requests}, []
    try:
        for name, model in cascade(pilot.model):
            layers.append(name)
            for request, engine, count, before in zip(requests, engines, counts, original):
                _follow(engine, model)
                _, (after,) = engine([x[:count] for x in inputs])
                correlations[request.method].append(summary([spearman(a, b) for a, b in zip(before, after)]))
    finally:
        for engine in engines:
            _follow(engine, pilot.model)  # (the pilot's own weights back in the gradient methods' copies)
    return {method: {'stages': stages, 'layers': layers, 'rank_correlation': stages[-1],
                     'flagged': flagged(stages[-1]), 'frames': count}
            for (method, stages), count in zip(correlations.items(), counts)}
