"""Faithfulness of saliency maps (Petsiuk et al. 2018, RISE): delete the most salient pixels first and watch the
explained output leave its value (deletion), or insert them first into an uninformative substrate and watch it
come back (insertion), beside the same curves for several random pixel orders. It works on any maps, from any
method or from elsewhere, and on any pilot file, through a predict function: the steps of several frames go
through the pilot in one batched call.

Per frame x with map m, step k of `steps` replaces (deletion) or restores (insertion) the first k/steps of the
pixels in order of decreasing |m|, the rest staying as they were (deletion) or substrate (insertion). The score of
an image y is 1 - min(1, |f(y) - f(x)| / (|f(x_full) - f(x)| + EPS)), f the explained output, x_full the frame
wholly replaced by the substrate. The AUC is the mean score over the steps 0..steps and the frames: deletion
lower is better, insertion higher is better.
"""
from dataclasses import dataclass

import numpy as np

EPS = 1e-6
SUBSTRATES = ('blur', 'mean', 'black')
RANDOM_SEED = 2018
FRAMES_PER_CALL = 4  # frames whose step images go through one predict call: 4 x 30 images at 16 steps
RANDOM_ORDERS = 5  # random baselines: the verdict must not hang on one seed (issue 16)


def substrate_of(images, kind):
    """The uninformative image each pixel is replaced by: a blurred copy (default: out-of-distribution noise is
    the known weakness of these measures, Gomez et al.), the image's mean colour, or black. images: float 0..1."""
    if kind == 'black':
        return np.zeros_like(images)
    if kind == 'mean':
        return np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape).copy()
    import cv2
    sigma = max(images.shape[1:3]) / 16
    return np.stack([cv2.GaussianBlur(image, (0, 0), sigma).reshape(image.shape) for image in images])


def pixel_order(saliency):
    """Pixels of each (H, W) map by decreasing magnitude (flat indexes), ties in index order."""
    flat = np.abs(np.asarray(saliency, np.float64)).reshape(len(saliency), -1)
    return np.argsort(-flat, axis=1, kind='stable')


def random_order(count, shape, seed=RANDOM_SEED):
    """(count, H*W): a random pixel order per frame, the frames' orders drawn one after the other from `seed`."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(shape[0] * shape[1]) for _ in range(count)])


def random_orders(count, shape, orders=RANDOM_ORDERS):
    """`orders` random baselines, the j-th drawn from RANDOM_SEED + j (the first is the former single baseline)."""
    return [random_order(count, shape, RANDOM_SEED + j) for j in range(orders)]


def _step_images(image, substrate, order, steps, insertion):
    """(steps - 1, H, W, C): the frame with the first k/steps of `order` replaced (or, inserting, restored), for
    the steps 0 < k < steps; the two ends are the frame and the substrate whatever the order (`ends`)."""
    height, width = image.shape[:2]
    counts = np.round(np.linspace(0, height * width, steps + 1)).astype(int)[1:-1]
    rank = np.empty(height * width, int)
    rank[order] = np.arange(height * width)  # each pixel's place in the order
    taken = (rank[None, :] < counts[:, None]).reshape(steps - 1, height, width, 1)
    first, second = (substrate, image) if insertion else (image, substrate)
    return np.where(taken, second[None], first[None])


def ends(predict, images, substrate, extra=()):
    """(f(x), f(x_full)) per frame: the explained output on the frames and on their substrate, where every curve
    starts or ends, so that they are computed once for all maps and orders."""
    values = np.asarray(predict([np.concatenate([images, substrate]).astype(np.float32)] +
                                [np.concatenate([x, x]).astype(np.float32) for x in extra]), np.float64)
    return values[:len(images)], values[len(images):]


@dataclass
class Curves:
    """Per-frame scores (frames, steps + 1) of deletion and insertion, and their AUCs: the mean over the steps
    0..steps (the unchanged frame's score included) and the frames."""
    deletion: np.ndarray
    insertion: np.ndarray

    @property
    def deletion_auc(self):
        return float(self.deletion.mean())

    @property
    def insertion_auc(self):
        return float(self.insertion.mean())


def standard_error(differences, order_aucs):
    """The standard error of the mean of the per-frame `differences` (a method against the random baselines'
    mean on the same frame), with the spread of the baselines themselves added: sqrt(s_f^2 / N + s_o^2 / K),
    s_f the standard deviation (ddof 1) of the N differences, s_o that of the K baselines' AUCs. The orders'
    noise is in both terms: counted twice on purpose, so that an edge case is not taken for a win."""
    differences, order_aucs = np.asarray(differences, np.float64), np.asarray(order_aucs, np.float64)
    frames = differences.var(ddof=1) / len(differences) if len(differences) > 1 else 0.0
    orders = order_aucs.var(ddof=1) / len(order_aucs) if len(order_aucs) > 1 else 0.0
    return float(np.sqrt(frames + orders))


def clearly_positive(differences, order_aucs):
    """Whether the mean difference exceeds two standard errors (strictly: a tie is not a win)."""
    return bool(np.mean(differences) > 2 * standard_error(differences, order_aucs))


def beats(measured, chances):
    """Deletion below and insertion above the random baselines `chances` (curves on the same frames, one per
    random order), each by more than two standard errors (`standard_error`): both, not either."""
    deletion = np.mean([c.deletion.mean(axis=1) for c in chances], axis=0) - measured.deletion.mean(axis=1)
    insertion = measured.insertion.mean(axis=1) - np.mean([c.insertion.mean(axis=1) for c in chances], axis=0)
    return (clearly_positive(deletion, [c.deletion_auc for c in chances]) and
            clearly_positive(insertion, [c.insertion_auc for c in chances]))


def curves(predict, images, orders, substrate, steps=16, extra=(), advance=None, chunk=FRAMES_PER_CALL, known=None):
    """Deletion and insertion curves of `images` (N, H, W, C, floats as the pilot takes them) for pixel `orders`
    (N, H*W). predict(list of input arrays) -> (n,) explained output; `extra`: further model inputs, one row per
    frame, repeated for each step image; `known`: `ends(...)` when already computed. The inner steps of `chunk`
    frames go through one predict call (few calls, bounded memory); `advance(n)`, when given, is called after
    each call with its frame count."""
    original, empty = known or ends(predict, images, substrate, extra)
    inner = steps - 1
    deletion, insertion = [], []
    for first in range(0, len(images), chunk):
        frames = range(first, min(first + chunk, len(images)))
        batch = np.concatenate([_step_images(images[i], substrate[i], orders[i], steps, insertion_)
                                for i in frames for insertion_ in (False, True)]).astype(np.float32)
        inputs = [batch] + [np.repeat(np.asarray(x[frames.start:frames.stop], np.float32), 2 * inner, axis=0)
                            for x in extra]
        values = np.asarray(predict(inputs), np.float64).reshape(len(frames), 2, inner)
        start, end = original[frames.start:frames.stop, None], empty[frames.start:frames.stop, None]
        gone = np.concatenate([start, values[:, 0], end], axis=1)  # deletion: from x to x_full
        back = np.concatenate([end, values[:, 1], start], axis=1)  # insertion: from x_full to x
        span = np.abs(end - start) + EPS
        deletion.extend(1 - np.minimum(1, np.abs(gone - start) / span))
        insertion.extend(1 - np.minimum(1, np.abs(back - start) / span))
        if advance:
            advance(len(frames))
    return Curves(np.array(deletion), np.array(insertion))


def compiled_forward(pilot):
    """The pilot's forward pass as one compiled graph for any batch size (a Keras model called eagerly runs layer
    by layer, markedly slower on the many small batches of step images); a .tflite pilot's own interpreter."""
    if pilot.tflite:
        return pilot.predict
    from donkey_saliency.quiet import import_tensorflow
    tf = import_tensorflow()
    model = pilot.model
    signature = [tf.TensorSpec((None,) + tuple(t.shape[1:]), tf.float32) for t in model.inputs]
    graph = tf.function(lambda inputs: model(inputs, training=False), input_signature=[signature])

    def forward(inputs):
        outputs = graph([np.asarray(x, np.float32) for x in inputs])
        return [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
    return forward


def compare(pilot, frames, maps, target, steps, substrate, extra=(), advance=None, orders=RANDOM_ORDERS):
    """{name: scores} for each set of maps explaining `target`, each beside `orders` random orders on the same
    frames (`random_*_auc`: their mean); `beats_random` as `beats` says."""
    score, forward = pilot.score(target, np), compiled_forward(pilot)

    def predict(inputs):
        return score(forward(inputs))
    base = substrate_of(frames, substrate)
    known = ends(predict, frames, base, extra)
    chances = [curves(predict, frames, order, base, steps, extra, advance, known=known)
               for order in random_orders(len(frames), frames.shape[1:3], orders)]
    random_deletion = float(np.mean([c.deletion_auc for c in chances]))
    random_insertion = float(np.mean([c.insertion_auc for c in chances]))
    found = {}
    for name, values in maps.items():
        measured = curves(predict, frames, pixel_order(values), base, steps, extra, advance, known=known)
        found[name] = {'deletion_auc': measured.deletion_auc, 'insertion_auc': measured.insertion_auc,
                       'random_deletion_auc': random_deletion, 'random_insertion_auc': random_insertion,
                       'beats_random': beats(measured, chances)}
    return found
