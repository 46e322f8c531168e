"""Where a map's attention goes, in numbers: shares of its mass per band of rows, per third of the width, above a
row; and where the horizon lies in a camera's frames. The report's findings are made of these.

A map's attention is its mass: the map itself for unsigned maps, |map| for signed ones, divided by its sum so
that each frame counts once, whatever its map's scale. A frame whose map is blank has no attention and is left
out of every average (NaN rows here).
"""
import numpy as np

BANDS = 10  # horizontal bands, top to bottom


def mass(maps):
    """(N, H, W) maps -> each frame's attention, summing to 1 (NaN for a blank map)."""
    values = np.abs(np.asarray(maps, np.float64))
    total = values.sum(axis=(1, 2), keepdims=True)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(total > 0, values / total, np.nan)


def band_edges(height, count=BANDS):
    """Row edges of `count` bands of (nearly) equal height covering all rows."""
    return np.linspace(0, height, count + 1).round().astype(int)


def third_edges(width):
    """Column edges of the left, centre and right thirds."""
    return np.array([0, round(width / 3), round(2 * width / 3), width])


def shares(profile, edges):
    """(N, L) profiles (attention summed over rows or columns) -> (N, len(edges) - 1) shares between edges."""
    return np.add.reduceat(profile, edges[:-1], axis=1)


def horizon_row(image):
    """The horizon in a (mean) camera frame: the row that best splits the rows' mean colours into two flat parts,
    sky above and ground below (the two-segment least-squares step fit of the row profile, as change-point
    detection does), searched between a tenth and nine tenths of the height."""
    profile = np.asarray(image, np.float64).mean(axis=1).reshape(len(image), -1)  # (H, channels)
    height = len(profile)
    cumulative = np.cumsum(np.vstack([np.zeros(profile.shape[1]), profile]), axis=0)
    squares = np.cumsum(np.concatenate([[0.0], (profile ** 2).sum(axis=1)]))
    best, best_cost = None, np.inf
    for row in range(max(1, height // 10), max(2, height - height // 10)):
        above, below = cumulative[row], cumulative[height] - cumulative[row]
        cost = squares[height] - (above ** 2).sum() / row - (below ** 2).sum() / (height - row)
        if cost < best_cost - 1e-9:
            best, best_cost = row, cost
    return best


def correlation(a, b, size=(40, 30)):
    """Per-frame Pearson correlation of two stacks of attention (N, H, W), compared at a small `size` (W, H):
    how far two maps put their weight in the same places, blind to scale. NaN where either is blank or flat."""
    import cv2
    small = [np.stack([cv2.resize(np.nan_to_num(m).astype(np.float32), size, interpolation=cv2.INTER_AREA)
                       for m in stack]).reshape(len(stack), -1) for stack in (a, b)]
    x, y = (s - s.mean(axis=1, keepdims=True) for s in small)
    with np.errstate(invalid='ignore', divide='ignore'):
        r = (x * y).sum(axis=1) / np.sqrt((x ** 2).sum(axis=1) * (y ** 2).sum(axis=1))
    blank = np.isnan(a).any(axis=(1, 2)) | np.isnan(b).any(axis=(1, 2))
    return np.where(blank, np.nan, r)
