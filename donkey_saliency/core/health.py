"""Is the pilot still looking at the road? Three numbers per map, a short window, and nominal limits (ThirdEye,
Stocco et al., ASE 2022: attention numbers past their spread on runs that went well foretell a failure).

- above_edge: the share of the map's attention above the surface edge (attention.share_above), where a pilot
  that drives on the road has little to look at;
- change: how much of the attention moved since the previous map, half the sum of |difference| of the two maps
  normalised to sum 1 (attention.mass): the total variation distance, 0 for the same map, 1 for maps with no
  pixel in common. Chosen over 1 - correlation because it is defined for flat maps too, over the mean absolute
  difference of min-max maps because a map's scale changes it not at all, and it reads as a share, as above_edge;
- strength: the map's mean magnitude over its median on the runs that went well (1: as usual), ThirdEye's "how
  much attention": the two shares above are blind to it, and a scene darker than the pilot knows leaves the map's
  shape but takes its strength (VisualBackProp multiplies the activations of every layer);
- the alarm: the mean of the last WINDOW maps' above_edge or change above its limit, or their strength below its
  limit.

The limits come from runs that went well: a Gamma distribution fitted by maximum likelihood (location 0) to each
number's windowed means, and its CONFIDENCE quantile (1 - CONFIDENCE for strength). The fit is plain numpy
(digamma, the incomplete gamma function and its inverse below) so that calibration needs no scipy, and the car,
which only compares, needs nothing. Numbers only: no files, no TensorFlow, runs on a Pi.
"""
import collections
import itertools
import math

import numpy as np

from donkey_saliency.core import attention

WINDOW = 10        # maps: half a second at donkeycar's 20 Hz loop, a failure is foretold 1 to 3 s ahead
CONFIDENCE = 0.99  # the Gamma quantile of the nominal windowed means that a limit is (see docs/car.md for why)
NUMBERS = ('above_edge', 'change', 'strength')
LOWER = ('strength',)  # the numbers whose alarm is a mean below its limit (the others: above it)
SHARES = ('above_edge', 'change')  # the numbers that are shares, at most 1: a limit of 1 or more is never passed
TINY = 1e-6        # the smallest value a Gamma fit takes: a share of exactly 0 has no logarithm


def edge_row(edge, frame_height, map_height):
    """The surface edge, a row of frames `frame_height` tall, as a row of maps `map_height` tall."""
    return int(round(edge * map_height / frame_height))


def numbers(maps, edge, previous=None, scale=1.0):
    """{number: (N,)} of consecutive (N, H, W) maps, `edge` a row of the maps; `previous`: the mass of the map
    before the first (the first change is NaN without it); `scale`: the nominal median of the maps' mean
    magnitude. Shares are NaN where a map is blank (its strength is 0)."""
    mass = attention.mass(maps)
    before = np.concatenate([previous[None] if previous is not None else np.full_like(mass[:1], np.nan), mass[:-1]])
    return {'above_edge': attention.share_above(mass, edge),
            'change': 0.5 * np.abs(mass - before).sum(axis=(1, 2)),
            'strength': np.abs(np.asarray(maps, np.float64)).mean(axis=(1, 2)) / scale}


class Series:
    """The numbers of consecutive maps fed batch by batch in record order, strength unscaled, the change anew at
    each tub (another tub, another drive): one rule for calibrate's pass and the report's."""

    def __init__(self, edge, frame_height):
        self.edge, self.frame_height = edge, frame_height
        self.found = {name: [] for name in NUMBERS}
        self.previous, self.tub = None, object()

    def add(self, raw, tubs):
        """(N, H, W) maps of consecutive frames and the tub of each."""
        row = edge_row(self.edge, self.frame_height, raw.shape[1])
        for tub, run in itertools.groupby(range(len(tubs)), key=tubs.__getitem__):
            run = list(run)
            if tub != self.tub:
                self.previous, self.tub = None, tub
            maps = raw[run[0]:run[-1] + 1]
            for name, values in numbers(maps, row, self.previous).items():
                self.found[name].extend(values)
            last = attention.mass(maps[-1:])[0]
            self.previous = None if np.isnan(last).any() else last

    def arrays(self):
        """{number: (N,)} of every map fed."""
        return {name: np.array(values, np.float64) for name, values in self.found.items()}


def windowed(values, window=WINDOW):
    """(N,) the mean of the last `window` finite values up to each frame, NaN until there are `window` of them
    (blank maps give no share: they neither raise nor lower it)."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    kept = values[finite]
    sums = np.concatenate([[0.0], np.cumsum(kept)])
    count = np.cumsum(finite)  # finite values up to each frame
    means = (sums[count] - sums[np.maximum(count - window, 0)]) / window
    return np.where(count >= window, means, np.nan)


def past(name, mean, limit):
    """Whether a windowed mean of the number `name` is past its limit (NaN: not yet)."""
    with np.errstate(invalid='ignore'):
        return np.asarray(mean < limit if name in LOWER else mean > limit)


def alarms(found, limits, window=WINDOW):
    """bool (N,): the alarm at each frame of the numbers `found`, any windowed mean past its limit."""
    return np.any([past(name, windowed(found[name], window), limits[name]) for name in NUMBERS], axis=0)


def limits(found, window=WINDOW, confidence=CONFIDENCE):
    """{number: limit}: the `confidence` quantile (1 - it for strength) of a Gamma fitted to each number's windowed
    means on a run that went well (their value, when they are all the same)."""
    result = {}
    for name in NUMBERS:
        means = windowed(found[name], window)
        means = means[np.isfinite(means)]
        if len(means) < 2:
            raise ValueError(f'too few maps for a window of {window}: {len(means)} windowed means')
        flat = np.ptp(means) <= 1e-9 * np.abs(means).max()  # (rounding apart)
        q = 1 - confidence if name in LOWER else confidence
        result[name] = float(means.max()) if flat else gamma_quantile(q, *gamma_fit(means))
    return result


class Monitor:
    """The numbers and the alarm map by map, as the car computes them: the rule of `numbers` and `alarms`, for one
    map in float32 (a fraction of a millisecond of the car's loop; the tests hold the two to the same values)."""

    def __init__(self, limits, scale, edge, frame_height, window=WINDOW):
        self.limits, self.scale, self.edge, self.frame_height = limits, scale, edge, frame_height
        self.recent = {name: collections.deque(maxlen=window) for name in NUMBERS}
        self.previous = None

    def step(self, raw):
        """One (H, W) map -> ({number: value}, alarm)."""
        magnitude = np.abs(np.asarray(raw, np.float32))
        total = float(magnitude.sum())
        found = {'above_edge': math.nan, 'change': math.nan, 'strength': total / magnitude.size / self.scale}
        mass = magnitude * np.float32(1 / total) if total > 0 else None
        if mass is not None:
            row = edge_row(self.edge, self.frame_height, mass.shape[0])
            found['above_edge'] = float(attention.share_above(mass[None], row)[0])
            if self.previous is not None:
                found['change'] = 0.5 * float(np.abs(mass - self.previous).sum())
        self.previous = mass
        alarm = False
        for name, value in found.items():
            recent = self.recent[name]
            if math.isfinite(value):
                recent.append(value)
            alarm |= len(recent) == recent.maxlen and bool(past(name, sum(recent) / len(recent), self.limits[name]))
        return found, alarm


def stretches(flags):
    """[(first, last)] positions of each run of True in a bool sequence."""
    flags = np.concatenate([[False], np.asarray(flags, bool), [False]])
    edges = np.flatnonzero(np.diff(flags.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


# ---- the Gamma distribution, in numpy ---------------------------------------------------------------------------

def gamma_fit(values):
    """(shape, scale) of the Gamma distribution with location 0 that fits positive `values` best (maximum
    likelihood: log(shape) - digamma(shape) = log(mean) - mean(log), solved by Newton's method from Minka's
    start; scale = mean / shape). Values below TINY count as TINY."""
    x = np.maximum(np.asarray(values, np.float64), TINY)
    mean = x.mean()
    s = math.log(mean) - np.log(x).mean()
    if s <= 0:  # all values equal: a distribution with no spread
        return math.inf, 0.0
    a = (3 - s + math.sqrt((s - 3) ** 2 + 24 * s)) / (12 * s)
    for _ in range(100):
        step = (math.log(a) - digamma(a) - s) / (1 / a - trigamma(a))
        a = max(a - step, a / 10)
        if abs(step) < 1e-12 * a:
            break
    return a, mean / a


def gamma_quantile(q, shape, scale):
    """The `q` quantile of the Gamma(shape, scale) distribution: P(shape, x / scale) = q, solved by bisection on
    the regularised lower incomplete gamma function."""
    low, high = 0.0, max(1.0, shape)
    while incomplete_gamma(shape, high) < q:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if incomplete_gamma(shape, middle) < q else (low, middle)
        if high - low <= 1e-14 * high:
            break
    return (low + high) / 2 * scale


def incomplete_gamma(a, x):
    """The regularised lower incomplete gamma function P(a, x): its series below a + 1, else 1 - the continued
    fraction of the upper one (Numerical Recipes, 6.2)."""
    if x <= 0:
        return 0.0
    front = math.exp(a * math.log(x) - x - math.lgamma(a))
    if x < a + 1:
        term = total = 1 / a
        n = a
        while abs(term) > abs(total) * 1e-16:
            n += 1
            term *= x / n
            total += term
        return min(1.0, front * total)
    tiny = 1e-300
    b, c, d = x + 1 - a, 1 / tiny, 1 / (x + 1 - a)
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-16:
            break
    return max(0.0, 1 - front * h)


def digamma(a):
    """ψ(a) for a > 0: the recurrence up to 6, then the asymptotic series."""
    total = 0.0
    while a < 6:
        total -= 1 / a
        a += 1
    f = 1 / (a * a)
    return total + math.log(a) - 0.5 / a - f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))))


def trigamma(a):
    """ψ'(a) for a > 0: the recurrence up to 6, then the asymptotic series."""
    total = 0.0
    while a < 6:
        total += 1 / (a * a)
        a += 1
    f = 1 / (a * a)
    return total + 1 / a + f / 2 + f / a * (1 / 6 - f * (1 / 30 - f * (1 / 42 - f / 30)))
