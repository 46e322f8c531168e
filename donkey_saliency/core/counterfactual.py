"""Ask the pilot, not its map: what would a crop take from it, and has it learnt the lean of its data?

Both tests edit camera frames and compare the pilot's decoded steering on the edited frames with its steering on
the originals; numpy in, numbers out. A sample item is a window: the camera frames a pilot takes for one decision
((N, T, H, W, 3) uint8, the newest last; T = 1 for a pilot of one frame, its sequence length for a sequence pilot),
and every frame of a window is edited alike. `steer(windows, which, mirrored=False)` is any function -> (N,)
steering, `which` the sample items the windows stand for, whose other inputs (IMU, past steering, behaviour) it
adds as they were recorded, or as a mirror would make them when `mirrored`; it applies the car's transformations
and calls the pilot in batches (the report builds it).

- Swap test (`crop_curve`): the rows above r are replaced, in every frame of the window, by the same rows of the
  partner window (another sample item of the same range),
  far enough away in time that the background differs. Real backgrounds keep the frames like those the pilot saw
  (black or blur would make frames it never saw), so the question answered is "would another room change my
  steering?". A crop at r would take from the pilot exactly what this test moves.
  The other inputs stay those of the item itself.
- Mirror test (`mirror_test`): d = f(x) + f(mirror(x)), every frame of the window mirrored and the other inputs as
  a mirror makes them; a pilot that treats left and right alike has d = 0, one that has learnt its data's lean
  has d of that lean's sign.
"""
import numpy as np

MOVED = 0.1          # a frame's steering moves when it changes by more than this
MIN_SECONDS = 2.0    # a background comes from a frame at least this far away by timestamp,
MIN_RECORDS = 40     # or, where no frame is that far (or records have no time), this many records away
SEED = 0


def swap_partners(positions, times=None, seed=SEED):
    """For each frame of a sample, the index (into the sample) of the frame it takes its background from: chosen
    at random (fixed seed) among those at least MIN_SECONDS away by timestamp; where none is (a tub written
    faster than real time) or the frame has no time, among those at least MIN_RECORDS positions away; -1 where
    none is either. `positions`: each frame's place in the range; `times`: seconds, NaN or None where unknown."""
    rng = np.random.default_rng(seed)
    positions = np.asarray(positions, np.int64)
    times = np.full(len(positions), np.nan) if times is None else np.array(
        [np.nan if t is None else t for t in times], np.float64)
    partners = np.full(len(positions), -1, np.int64)
    for i in range(len(positions)):
        far = np.flatnonzero(np.abs(times - times[i]) >= MIN_SECONDS) if np.isfinite(times[i]) else []
        if not len(far):
            far = np.flatnonzero(np.abs(positions - positions[i]) >= MIN_RECORDS)
        if len(far):
            partners[i] = rng.choice(far)
    return partners


def _mean_se(values):
    values = np.asarray(values, np.float64)
    if not len(values):
        return None, None
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else None
    return float(values.mean()), None if se is None else float(se)


def _error(steering, user):
    known = np.isfinite(user)
    return float(np.abs(steering[known] - user[known]).mean()) if known.any() else None


def crop_curve(steer, windows, partners, rows, user_angles):
    """Per crop row r (ascending): the mean |change| of the steering when the rows above r come from the
    partner window, its standard error, the share of frames moving by more than MOVED, and the error against the
    driver (mean |steering - user angle| over frames with one) on the swapped and the original frames. Frames
    without a partner are left out; with none at all, the curve is empty."""
    windows = np.asarray(windows)
    partners = np.asarray(partners)
    kept = np.flatnonzero(partners >= 0)
    if not len(kept):
        return []
    user = np.asarray(user_angles, np.float64)[kept]
    original = np.asarray(steer(windows[kept], kept), np.float64)
    curve = []
    for row in sorted(set(int(r) for r in rows)):
        out = windows[kept].copy()
        out[..., :row, :, :] = windows[partners[kept]][..., :row, :, :]  # every frame of the window
        moved = np.asarray(steer(out, kept), np.float64)
        change = np.abs(moved - original)
        mean, se = _mean_se(change)
        curve.append({'row': row, 'steering_change': mean, 'steering_change_se': se,
                      'changed_share': float((change > MOVED).mean()), 'error_swapped': _error(moved, user),
                      'error_original': _error(original, user), 'frames': int(len(kept))})
    return curve


def mirror_test(steer, windows):
    """The side bias: d = f(x) + f(x mirrored left to right) per item; its mean, standard error, mean |d|."""
    windows = np.asarray(windows)
    if not len(windows):
        return {'bias': None, 'bias_se': None, 'mean_abs': None, 'frames': 0}
    which = np.arange(len(windows))
    d = (np.asarray(steer(windows, which), np.float64) +
         np.asarray(steer(windows[..., ::-1, :], which, mirrored=True), np.float64))
    bias, se = _mean_se(d)
    return {'bias': bias, 'bias_se': se, 'mean_abs': float(np.abs(d).mean()), 'frames': int(len(d))}
