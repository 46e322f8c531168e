"""What an output-specific map explains: the pilot's steering angle or throttle, as one number per frame.

The number is the one donkeycar drives with, written as a differentiable function of the model's outputs:
linear-style heads directly, categorical heads as the expected value over their bins (not one bin), inferred
pilots through donkeycar's own throttle-from-steering formula. Bin values and constants are taken from donkeycar
where it is installed; without it (upstream's Python 3.12 stack), from their copies below, which
tests/test_keras3.py checks against donkeycar 5.3.
"""
import types

import numpy as np

from donkey_saliency.quiet import donkeycar_or_none


def linear_unbin(arr, N=15, offset=-1, R=2.0):
    """donkeycar.utils.linear_unbin: the value of the hottest of N bins, on donkeycar's own scale."""
    return np.argmax(arr) * (R / (N + offset)) + offset


# donkeycar/utils.py's inferred-throttle constants and unbinning, for where donkeycar is not installed
DONKEYCAR_UTILS = types.SimpleNamespace(STEERING_MIN=-1.0, STEERING_MAX=1.0, EXP_SCALING_FACTOR=0.5, DAMPENING=0.05,
                                        linear_unbin=linear_unbin)


def donkeycar_utils():
    """donkeycar.utils where installed, else DONKEYCAR_UTILS: the same decoding on both stacks."""
    dk = donkeycar_or_none()
    return dk.utils if dk else DONKEYCAR_UTILS


def _bin_values(count, offset, span):
    """The value donkeycar's linear_unbin gives each bin, so expectations use donkeycar's own scale."""
    utils = donkeycar_utils()
    return np.array([utils.linear_unbin(np.eye(count)[b], N=count, offset=offset, R=span) for b in range(count)],
                    np.float32)


def _column(out, index, xp):
    """Column `index` of a (batch, units) output, as a product rather than a slice (see score_functions)."""
    return xp.tensordot(out, np.eye(int(out.shape[-1]), dtype=np.float32)[index], axes=1)


def column_score(output_index, xp=np):
    """The first unit of model output `output_index`: what a map explains for a plain (non-donkeycar) model."""
    return lambda out: _column(out[output_index], 0, xp)


def score_functions(kind, throttle_range=0.8, xp=np):
    """{'angle': f, 'throttle': f}, each f mapping the model's list of outputs to a (batch,) array.

    Written against the numpy API: pass `xp=tf.experimental.numpy` for TensorFlow tensors inside a graph.
    Columns are picked with a product, not a slice, so gradients stay TFLite built-in ops at any batch size.
    """
    def column(out, index):
        return _column(out, index, xp)

    if kind in ('categorical', 'behavior'):
        angle_values = _bin_values(15, -1.0, 2.0)
        throttle_values = _bin_values(20, 0.0, throttle_range)
        return {'angle': lambda out: xp.sum(out[0] * angle_values, axis=-1),
                'throttle': lambda out: xp.sum(out[1] * throttle_values, axis=-1)}
    if kind in ('rnn', '3d'):
        return {'angle': lambda out: column(out[0], 0), 'throttle': lambda out: column(out[0], 1)}
    if kind == 'inferred':
        utils = donkeycar_utils()

        def throttle(out):
            low, high = utils.STEERING_MIN, utils.STEERING_MAX
            magnitude = (xp.clip(column(out[0], 0), low, high) - low) / (high - low)
            return xp.exp(-magnitude * utils.EXP_SCALING_FACTOR) - utils.DAMPENING * magnitude
        return {'angle': lambda out: column(out[0], 0), 'throttle': throttle}
    return {'angle': lambda out: column(out[0], 0), 'throttle': lambda out: column(out[1], 0)}
