"""Where a map's attention goes, in numbers: shares of its mass per band of rows, per third of the width, above a
row; and where the drivable surface ends in a camera's frames (with how sure that is, how much of the floor a crop
would remove, and what kind of place it is), and the skyline above it. The report's findings are made of these.

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


def share_above(mass, row):
    """(N, H, W) attention -> (N,) its share in the rows above `row` (rows 0 to row - 1)."""
    return np.asarray(mass)[:, :max(int(row), 0)].sum(axis=(1, 2))


FLOOR_TOLERANCE = 35.0   # brightness distance (RGB levels along the grey axis) within which a pixel looks like a floor
CHROMA_TOLERANCE = 15.0  # hue distance (RGB levels across the grey axis) the same: light tints a floor less than it
#                          shades it, and a grey-blue sky as bright as a grey road lies beyond it
FLOOR_SPREAD = 5.0       # ... or this many times the surface's own median distance to its colour, when larger (texture)
SURFACE_SHARE = 0.1      # a surface beside the floor counts from this share of the bottom third: grass beside a road
#                          fills far more of it, the odd object on a floor inside walls far less
EDGE_MARGIN = 0.1        # an edge in the top or bottom tenth of the frame is doubtful: the floor seems all or none
EDGE_SPREAD = 0.25       # frames whose own edges' middle half spreads over more than this share of the height disagree
#                          (one track seen near and far from its walls spreads less; frames of different places more)
SKY_STEP = 20.0          # RGB step between the rows just above and just below a skyline, at least

_AXES = (np.array([[1, 1, 1], [1, -1, 0], [1, 1, -2]]) / np.sqrt([[3], [2], [6]])).T.astype(np.float32)  # orthonormal


def _smoothed(image):
    """A frame smoothed over 5 columns (along rows only: edges stay put) in brightness (the grey axis) and two hue
    coordinates across it, all three in RGB levels (a greyscale frame has no hue)."""
    import cv2
    image = np.ascontiguousarray(image)
    if image.ndim == 2 or image.shape[2] == 1:
        image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    return cv2.blur(image, (5, 1)).astype(np.float32) @ _AXES


def _surface(pixels):
    """(colour, brightness tolerance, hue tolerance) of a surface from (M, 3) smoothed pixels of it: their median,
    FLOOR_TOLERANCE and CHROMA_TOLERANCE or FLOOR_SPREAD times their median distance to it (per axis), whichever is
    larger. Brightness and hue apart: a texture, a shadow or a gradient changes a floor's brightness and hardly its
    hue, so a textured grey road does not take in a grey-blue sky as bright as it, as one distance would."""
    colour = np.median(pixels, axis=0)
    away = np.abs(pixels - colour)
    return (colour, max(FLOOR_TOLERANCE, FLOOR_SPREAD * np.median(away[:, 0])),
            max(CHROMA_TOLERANCE, FLOOR_SPREAD * np.median(away[:, 1:], axis=0).max()))


def _looks_like(smooth, surface):
    """bool (H, W): the pixels of a smoothed frame within a surface's tolerances of its colour. A JPEG frame keeps
    hue at half the rows, so the first row of a surface takes some of the hue of what lies above it: a pixel over
    one with the surface's hue has it too when its own is less than half as far from it as that two rows up."""
    colour, bright, hue = surface
    away = smooth - colour
    distance = np.hypot(away[..., 1], away[..., 2])
    hued = distance < hue
    hued[2:-1] |= (distance[2:-1] < distance[:-3] / 2) & hued[3:]
    return (np.abs(away[..., 0]) < bright) & hued


def _beside(smooth, floor):
    """The surface beside the floor low in the frame, or None: what is not floor in the rows of the bottom third
    that hold some floor (beside it, not above it), in regions wider and taller than a sixteenth of the width (not
    lines or tape on the floor) reaching the frame's left or right side (grass beside a road, not an object on the
    floor), when they cover SURFACE_SHARE of that third; its colour from their inside (not the pixels that a
    camera's compression blends with the floor's)."""
    import cv2
    low = smooth[len(smooth) - len(smooth) // 3:]
    size = max(3, low.shape[1] // 16)
    like = _looks_like(low, floor)
    other = (~like & (like.sum(axis=1) >= size)[:, None]).astype(np.uint8)
    square = np.ones((size, size), np.uint8)
    labels = cv2.connectedComponents(cv2.morphologyEx(other, cv2.MORPH_OPEN, square), connectivity=4)[1]
    other = np.isin(labels, np.setdiff1d(np.concatenate([labels[:, 0], labels[:, -1]]), [0])).astype(np.uint8)
    inside = cv2.erode(other, square) > 0
    return _surface(low[inside]) if other.mean() >= SURFACE_SHARE and inside.any() else None


def _reaching_the_bottom(mask):
    """The pixels of a bool (H, W) mask connected to its bottom fifth, across bands thinner than a fifteenth of the
    height (a tape line across the lane does not cut the floor beyond it off)."""
    import cv2
    height = len(mask)
    bridged = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((max(2, height // 15) | 1, 1), np.uint8))
    labels = cv2.connectedComponents(bridged, connectivity=4)[1]
    return np.isin(labels, np.setdiff1d(labels[int(height * 0.8):], [0])) & mask


def _masks(image):
    """(floor, ground), bool (H, W), of one frame: the floor is the pixels that look like the bottom fifth (the
    surface right in front of the car) connected to it; the ground adds the surface beside it (grass beside a
    road)."""
    smooth = _smoothed(image)
    floor = _surface(smooth[int(len(smooth) * 0.8):].reshape(-1, 3))
    like = _looks_like(smooth, floor)
    beside = _beside(smooth, floor)
    ground = like if beside is None else like | _looks_like(smooth, beside)
    return _reaching_the_bottom(like), _reaching_the_bottom(ground)


def _edge(share):
    """The row below the lowest band of rows, at least a fifteenth of the height thick, whose share of ground stays
    under one half (0 when there is none)."""
    below_half = np.asarray(share) < 0.5
    thick = max(2, len(below_half) // 15)
    for bottom in range(len(below_half) - 1, thick - 2, -1):  # from the bottom up: the lowest thick band
        if below_half[bottom - thick + 1:bottom + 1].all():
            return bottom + 1
    return 0


def _ground_shares(images):
    """(N, H) each frame's share of ground per row."""
    return np.array([ground.mean(axis=1) for _, ground in map(_masks, np.asarray(images))])


def surface_edge(images):
    """The far edge of the drivable surface in (N, H, W, 3) camera frames: the row above which less than half of
    the pixels are ground, on average over the frames (the edge of the lowest band of at least a fifteenth of the
    height, 8 rows of 120, where that share stays under one half). The ground is the floor, what looks like the
    bottom fifth (within FLOOR_TOLERANCE in brightness and CHROMA_TOLERANCE in hue, or FLOOR_SPREAD times its
    own spread for a textured floor), with the surface beside it low in the frame (grass beside a road, which bounds
    a road narrowing to the horizon at its sides, not at its far end), connected to the bottom fifth. Thinner bands
    (a tape line across the lane) do not end it, so the edge never lies inside the floor; walls, furniture, hills,
    trees or sky do."""
    return _edge(_ground_shares(images).mean(axis=0))


def frame_edges(images):
    """(N,) the surface edge of each frame alone (surface_edge's rule on one frame)."""
    return np.array([_edge(share) for share in _ground_shares(images)])


def edge_doubt(images, edge):
    """None, or why the surface `edge` of (N, H, W, 3) frames is doubtful, in words for the user: it lies in the
    top or bottom EDGE_MARGIN of the frame (the floor's colour takes in nearly all of it, or hardly any of it looks
    like floor), or the frames' own edges disagree, their middle half (interquartile range) spreading over more
    than EDGE_SPREAD of the height (frames of different places, or a floor found in some of them only)."""
    height = np.asarray(images).shape[1]
    if edge < height * EDGE_MARGIN:
        return (f'the surface edge (row {edge}) lies in the top {EDGE_MARGIN:.0%} of the frame: what looks like the '
                'floor may take in the sky or the walls')
    if edge >= height * (1 - EDGE_MARGIN):
        return (f'the surface edge (row {edge}) lies in the bottom {EDGE_MARGIN:.0%} of the frame: hardly any of it '
                'looks like the floor in front of the car')
    low, high = np.percentile(frame_edges(images), [25, 75])
    if high - low > height * EDGE_SPREAD:
        return (f'the frames disagree on the surface edge: the middle half of them put it between rows {low:.0f} and '
                f'{high:.0f}, more than {EDGE_SPREAD:.0%} of the frame apart')
    return None


def floor_above(images, row):
    """The share (0..1) of the floor that lies above `row` (in rows 0 to row - 1) in (N, H, W, 3) frames: what a
    crop at `row` would remove of the surface the car drives on. A frame's floor is its pixels that look like its
    bottom fifth (the surface right in front of the car) connected to it, not the surface beside it; each frame
    with a floor counts once (its share, averaged); NaN when none has one."""
    shares = [floor[:max(row, 0)].sum() / floor.sum() for floor, _ in map(_masks, np.asarray(images)) if floor.any()]
    return float(np.mean(shares)) if shares else float('nan')


def scenery_kind(images, edge, skyline):
    """A word for the place in (N, H, W, 3) frames, from what they show: 'road' when a surface lies beside the floor
    low in most frames (a road through grass: the ground goes on beyond the road's sides), else 'walls' when there
    is a `skyline` above the surface `edge` (the top of walls or barriers bounding the floor), else 'open' (a floor
    under a sky or scenery that fades into the horizon). Whether the place is fixed (a track driven again and
    again) is not in the pictures."""
    smooths = [_smoothed(image) for image in np.asarray(images)]
    beside = [_beside(s, _surface(s[int(len(s) * 0.8):].reshape(-1, 3))) is not None for s in smooths]
    if np.mean(beside) > 0.5:
        return 'road'
    return 'walls' if skyline is not None and skyline < edge else 'open'


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
