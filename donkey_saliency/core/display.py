"""Display scaling: raw maps -> the maps that are drawn, one rule for the video, the .npz, the API and the car.

Raw maps span very different ranges per method and frame (gradients are spiky: scaled to their single brightest
pixel, a few specks show). As in PAIR saliency and tf-keras-vis, a map is divided by a high percentile of its
magnitude (`clip`, default 99: the strongest 1% of pixels are drawn at full strength) and clipped, to [0, 1],
or to [-1, 1] for signed maps, which keep their sign and their zero. The scale is per frame, or one for a whole
run (`run_scale`), so that strength is comparable from frame to frame. `shown` is the rule whole (smoothing, scale,
clipping): every place that draws a map calls it, so the video, the API, the car and the report draw alike.

Maps with one value per pixel (input gradients, SmoothGrad, Integrated Gradients: registered `smoothed`) show
as sparse specks even so: next to each other, pixels of one lane line get gradients of very different size. For
drawing only, `drawable` smooths them lightly first (a Gaussian, sigma SMOOTHING of the image's width: 2 pixels
on a 160-pixel frame). That keeps the map's meaning: the smoothed gradient is exactly the output's change when a
small blob around the pixel brightens (the gradient is linear), signed maps keep their sign, and unsigned maps
are smoothed magnitudes. The `raw` maps (`--save-maps`, the API's `result.raw`, evaluate) stay the method's own.
"""
import numpy as np

DEFAULT_CLIP = 99.0
SMOOTHING = 1 / 80  # the display smoothing's sigma, as a share of the map's width
SAMPLE = 1024  # pixels a map's threshold guess is taken from (_ranked)
MARGIN = 0.02  # how far below the clip the guess aims: the share of pixels kept above it, beyond 1 - clip
SAMPLED_FROM = 0.9  # the clip (as a share) from which _ranked orders a sample's top: below, most of a map is kept


def _percentile(magnitudes, clip):
    """The clip-th percentile over the last axis, or the maximum where that percentile is zero (a map with fewer
    non-zero pixels than 1 - clip is still drawn). `magnitudes` is a scratch array: its rows may be reordered.

    NaN pixels are left out; numpy's nanpercentile goes frame by frame in Python, so it is kept for maps that hold
    one. The others take numpy's own rule (linear between the two ranks around clip% of the way) from the two
    pixels at those ranks (`_ranked`)."""
    peak = magnitudes.max(axis=-1)  # (NaN where a map holds one)
    if np.isnan(peak).any():
        level = np.nanpercentile(magnitudes, clip, axis=-1)
        peak = np.nanmax(magnitudes, axis=-1)
    else:
        where = clip / 100 * (magnitudes.shape[-1] - 1)
        low = int(where)
        high = min(low + 1, magnitudes.shape[-1] - 1)
        rows = magnitudes.reshape(-1, magnitudes.shape[-1])
        below, above = (v.reshape(magnitudes.shape[:-1]).astype(np.float64) for v in _ranked(rows, low, high))
        level = below + (above - below) * (where - low)
    return np.where(level > 0, level, peak)


def _ranked(rows, low, high):
    """The values at ranks `low` and `high` (ascending) of each row of float `rows`, exactly. At high clips a row's
    top pixels alone are put in order: those at or above a threshold guessed from a strided sample of about SAMPLE
    pixels, when at least the `pixels - low` pixels from rank low up lie there (they are then the top of the row's
    order, ties and all); any other row is partitioned whole, in place. At high clips ordering the few top pixels
    is cheaper than partitioning the row; at low clips most of the row lies above the guess and the sampled way
    costs more than it saves, hence SAMPLED_FROM (figures: bench/README.md)."""
    count, pixels = rows.shape
    step = pixels // SAMPLE
    if step < 2 or low < SAMPLED_FROM * pixels or not count:  # small maps, lower clips: each row whole
        rows.partition(sorted({low, high}), axis=-1)
        return rows[:, low], rows[:, high]
    sample = rows[:, ::step].copy()
    guess = int(sample.shape[1] * (low / pixels - MARGIN))
    sample.partition(guess, axis=-1)
    mask = rows >= sample[:, guess, None]
    kept = mask.sum(axis=1)
    # each row's kept pixels at the end of a row of `width`, after -inf: rank k of a row is rank k + width - pixels
    width = kept.max()
    columns = np.arange(kept.sum()) - np.repeat(np.cumsum(kept) - kept, kept) + np.repeat(width - kept, kept)
    top = np.full((count, width), -np.inf, rows.dtype)
    top[np.repeat(np.arange(count), kept), columns] = rows[mask]
    fits = kept >= pixels - low
    at_low, at_high = np.empty(count, rows.dtype), np.empty(count, rows.dtype)
    if fits.any():
        shifted = sorted({low + width - pixels, high + width - pixels})
        top.partition(shifted, axis=-1)
        at_low[fits], at_high[fits] = top[fits, shifted[0]], top[fits, shifted[-1]]
    for row in np.flatnonzero(~fits):  # the guess was too high: the whole row
        rows[row].partition(sorted({low, high}))
        at_low[row], at_high[row] = rows[row, low], rows[row, high]
    return at_low, at_high


def frame_scales(raw, clip=DEFAULT_CLIP):
    """(N,): each frame's scale."""
    raw = np.asarray(raw, np.float32)
    return _percentile(np.abs(raw).reshape(len(raw), -1), clip)


def run_scale(raw, clip=DEFAULT_CLIP):
    """One scale for all frames of `raw` (N, H, W): the percentile over every pixel of every frame."""
    return float(_percentile(np.abs(np.asarray(raw, np.float32)).reshape(-1), clip))


def check_clip(clip):
    """A UserError unless `clip` is a percentile above 0 and at most 100."""
    from donkey_saliency.errors import UserError
    if not 0 < float(clip) <= 100:
        raise UserError(f'clip is a percentile, above 0 and at most 100, not {clip}')


def scaled(raw, signed, scale):
    """raw / scale (a number, or one per frame), clipped to [0, 1] or, signed, [-1, 1]; zero scale: zeros;
    NaN pixels are drawn as zero."""
    raw = np.asarray(raw, np.float32)
    scale = np.broadcast_to(np.asarray(scale, np.float32), (len(raw),)).reshape(-1, 1, 1)
    with np.errstate(invalid='ignore'):  # (an infinite scale: inf / inf is NaN, drawn as zero below)
        maps = raw / scale if (scale > 0).all() else np.divide(raw, scale, out=np.zeros_like(raw), where=scale > 0)
    np.clip(maps, -1.0 if signed else 0.0, 1.0, out=maps)  # (infinities end at the ends, as numbers would)
    nan = np.isnan(maps)
    if nan.any():
        maps[nan] = 0.0
    return maps


def drawable(raw, method):
    """The raw maps (N, H, W) of `method` (its name) as they are drawn before scaling: lightly smoothed for the
    methods registered `smoothed`, the very same array for the others."""
    from donkey_saliency.core import methods
    if not methods.get(method).smoothed:
        return raw
    import cv2
    raw = np.nan_to_num(np.asarray(raw, np.float32))
    sigma = SMOOTHING * raw.shape[-1]
    return np.stack([cv2.GaussianBlur(m, (0, 0), sigma, borderType=cv2.BORDER_REFLECT) for m in raw])


def shown(raw, method=None, signed=False, clip=DEFAULT_CLIP, scale='frame'):
    """The maps drawn (N, H, W) from the raw maps of `method` (its name; None: maps of no method, drawn unsmoothed):
    `drawable`, then `scaled` by each frame's own scale ('frame'), by one for all of `raw` ('run'), or by a run's
    scale fixed beforehand (a number from `sample_scale`)."""
    drawn = drawable(raw, method) if method else raw
    if isinstance(scale, str):
        scale = run_scale(drawn, clip) if scale == 'run' else frame_scales(drawn, clip)
    return scaled(drawn, signed, scale)


def sample_scale(raw, method, clip=DEFAULT_CLIP):
    """One scale for a run, from a sample of its raw maps of `method`: the scale `shown` takes to draw the whole run
    as `shown(..., scale='run')` draws the sample."""
    return run_scale(drawable(raw, method), clip)
