"""Where a map's attention goes, in numbers: shares of its mass per band of rows, per third of the width, above a
row; and where the drivable surface ends in a camera's frames, and the skyline above it. The report's findings
are made of these.

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


FLOOR_TOLERANCE = 35.0  # RGB distance (0-255 levels) within which a pixel still looks like the floor
FLOOR_SPREAD = 5.0      # ... or this many times the floor's own median distance to its colour, when larger
SKY_STEP = 20.0         # RGB step between the rows just above and just below a skyline, at least


def surface_edge(images):
    """The far edge of the drivable surface in (N, H, W, 3) camera frames: the row above which less than half
    of the pixels look like the floor. Per frame, the floor's colour is the median of its bottom fifth (the
    surface right in front of the car) and a pixel looks like it when, smoothed over 5 columns, it lies within
    FLOOR_TOLERANCE (or FLOOR_SPREAD times the bottom fifth's own median distance, for a textured floor) of it;
    the shares are averaged over the frames and the edge is the row below the lowest band of at least a
    fifteenth of the height (8 rows of 120) where that share stays under one half. Thinner bands (a tape line
    across the lane) do not end the floor, so the edge never lies inside it; walls, furniture, scenery or sky
    do."""
    import cv2
    share = []
    for image in np.asarray(images):
        smooth = cv2.blur(np.ascontiguousarray(image), (5, 1)).astype(np.float32)  # along rows only: edges stay put
        near = smooth[int(len(smooth) * 0.8):].reshape(-1, smooth.shape[2])
        colour = np.median(near, axis=0)
        tolerance = max(FLOOR_TOLERANCE, FLOOR_SPREAD * np.median(np.linalg.norm(near - colour, axis=1)))
        share.append((np.linalg.norm(smooth - colour, axis=2) < tolerance).mean(axis=1))
    below_half = np.mean(share, axis=0) < 0.5
    thick = max(2, len(below_half) // 15)
    for bottom in range(len(below_half) - 1, thick - 2, -1):  # from the bottom up: the lowest thick band
        if below_half[bottom - thick + 1:bottom + 1].all():
            return bottom + 1
    return 0


def skyline(images, edge):
    """The top of what stands on the surface (walls, barriers, furniture), above the surface `edge`: the row of the
    strongest colour step in the average frame's row profile (the mean colour of the few rows below against the
    few above), at least SKY_STEP levels, and not within those few rows of the edge; None where there is none
    (a sky or scenery that fades into the horizon, as the synthetic road's sky)."""
    profile = np.asarray(images, np.float64).mean(axis=(0, 2))  # (H, channels)
    window = max(2, len(profile) // 30)
    steps = np.zeros(len(profile))
    for row in range(window, edge - window):
        steps[row] = np.linalg.norm(profile[row:row + window].mean(axis=0) - profile[row - window:row].mean(axis=0))
    row = int(np.argmax(steps))
    return row if steps[row] >= SKY_STEP else None


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
