"""Faithfulness of saliency maps (Petsiuk et al. 2018, RISE): delete the most salient pixels first and watch the
explained output leave its value (deletion), or insert them first into an uninformative substrate and watch it
come back (insertion), beside the same curves for a random pixel order. It works on any maps, from any method or
from elsewhere, and on any pilot file, through a predict function: every step of a frame goes through the pilot
in one batched call.

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
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(shape[0] * shape[1]) for _ in range(count)])


def _step_images(image, substrate, order, steps, insertion):
    """(steps + 1, H, W, C): the frame with the first k/steps of `order` replaced (or, inserting, restored)."""
    height, width = image.shape[:2]
    counts = np.round(np.linspace(0, height * width, steps + 1)).astype(int)
    rank = np.empty(height * width, int)
    rank[order] = np.arange(height * width)  # each pixel's place in the order
    taken = (rank[None, :] < counts[:, None]).reshape(steps + 1, height, width, 1)
    first, second = (substrate, image) if insertion else (image, substrate)
    return np.where(taken, second[None], first[None])


@dataclass
class Curves:
    """Per-frame scores (frames, steps + 1) of deletion and insertion, and their AUCs."""
    deletion: np.ndarray
    insertion: np.ndarray

    @property
    def deletion_auc(self):
        return float(self.deletion.mean())

    @property
    def insertion_auc(self):
        return float(self.insertion.mean())

    def beats(self, chance):
        """Deletion below and insertion above `chance` (curves on the same frames), each by more than two
        standard errors of the frames' paired differences, so a tie is not taken for a win."""
        def clearly_positive(differences):
            spread = differences.std(ddof=1) / np.sqrt(len(differences)) if len(differences) > 1 else 0.0
            return differences.mean() > 2 * spread
        return bool(clearly_positive(chance.deletion.mean(axis=1) - self.deletion.mean(axis=1))
                    and clearly_positive(self.insertion.mean(axis=1) - chance.insertion.mean(axis=1)))


def curves(predict, images, orders, substrate, steps=16, extra=(), advance=None):
    """Deletion and insertion curves of `images` (N, H, W, C, floats as the pilot takes them) for pixel `orders`
    (N, H*W). predict(list of input arrays) -> (n,) explained output; `extra`: further model inputs, one row per
    frame, repeated for each step image. One predict call per frame, all its steps at once; `advance()`, when
    given, is called after each frame (a progress bar)."""
    deletion, insertion = [], []
    for i, (image, order) in enumerate(zip(images, orders)):
        batch = np.concatenate([_step_images(image, substrate[i], order, steps, False),
                                _step_images(image, substrate[i], order, steps, True)]).astype(np.float32)
        inputs = [batch] + [np.repeat(np.asarray(x[i:i + 1], np.float32), len(batch), axis=0) for x in extra]
        values = np.asarray(predict(inputs), np.float64)
        gone, back = values[:steps + 1], values[steps + 1:]
        original, empty = gone[0], gone[-1]  # deletion starts at x and ends at x_full
        span = abs(empty - original) + EPS
        deletion.append(1 - np.minimum(1, np.abs(gone - original) / span))
        insertion.append(1 - np.minimum(1, np.abs(back - original) / span))
        if advance:
            advance()
    return Curves(np.array(deletion), np.array(insertion))


def compare(pilot, frames, maps, target, steps, substrate, extra=(), advance=None):
    """{name: scores} for each set of maps explaining `target`, each beside the random order on the same frames;
    `beats_random`: deletion clearly below random and insertion clearly above it (`Curves.beats`)."""
    score = pilot.score(target, np)

    def predict(inputs):
        return score(pilot.predict(inputs))
    base = substrate_of(frames, substrate)
    chance = curves(predict, frames, random_order(len(frames), frames.shape[1:3]), base, steps, extra, advance)
    found = {}
    for name, values in maps.items():
        measured = curves(predict, frames, pixel_order(values), base, steps, extra, advance)
        found[name] = {'deletion_auc': measured.deletion_auc, 'insertion_auc': measured.insertion_auc,
                       'random_deletion_auc': chance.deletion_auc, 'random_insertion_auc': chance.insertion_auc,
                       'beats_random': measured.beats(chance)}
    return found
