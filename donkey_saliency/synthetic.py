"""A synthetic track whose answer is known: lane lines whose bend sets the steering, plus distractors.

The distractors (coloured shapes anywhere in the frame) are random and independent of the steering, so a pilot
that learned the task should look at the lines, not at them. Used to make the bundled sample and by the tests.

By default the road is a plain grey floor under a fading sky; a scenery (SCENERIES) puts it in the places cars
drive, drawn so that the far edge of the ground is known (true_edge): the Donkey simulator's road through grass,
a path outdoors, a carpeted room.
"""
import time
from dataclasses import dataclass

import cv2
import numpy as np

from donkey_saliency.tub.schema import DRIVE_INPUTS, DRIVE_TYPES, MAX_CATALOG_LEN

HEIGHT, WIDTH, HORIZON = 120, 160, 40


@dataclass
class Scene:
    """One frame, its labels, and where the lines and the distractors are."""
    image: np.ndarray
    angle: float
    throttle: float
    lines: np.ndarray        # bool (H, W): lane-line pixels
    distractors: np.ndarray  # bool (H, W): distractor pixels
    floor: np.ndarray = None  # bool (H, W): the surface driven on in view (its lines in, distractors out)


MARKER_COLOUR = (255, 200, 0)


def draw(curve, rng, height=HEIGHT, width=WIDTH, distractors=2, sides=(-1, 1), markers=(), line_colour=(235, 235, 235),
         scenery=None):
    """A frame of a road bending by `curve` in [-1, 1] (negative: left) with random distractors; `sides`: the lane
    lines drawn (-1 left, 1 right); `markers`: values in [-1, 1], each a yellow bar as tall as the sky placed
    across the width by its value as the road's bend is by `curve` (drawn after the distractors: always in view);
    `scenery`: one of SCENERIES, the place the road runs through, or None (a plain floor under a fading sky)."""
    if scenery is None:
        horizon = int(height * HORIZON / HEIGHT)
        image = np.empty((height, width, 3), np.uint8)
        sky = np.linspace(150, 210, horizon)[:, None, None] * np.array([0.6, 0.75, 1.0])
        image[:horizon] = np.clip(sky + rng.normal(0, 3, (horizon, width, 3)), 0, 255).astype(np.uint8)
        image[horizon:] = np.clip(rng.normal(70, 8, (height - horizon, width, 3)), 0, 255).astype(np.uint8)
        floor = np.repeat(np.arange(height)[:, None] >= horizon, width, axis=1)
    else:
        horizon = true_edge(scenery, height)
        image, floor = SCENERIES[scenery](curve, rng, height, width, horizon)
    lines = np.zeros((height, width), np.uint8)
    ys, centre, half = _lane(curve, height, width, horizon)
    for side in sides:
        points = np.stack([centre + side * half, ys], axis=1).round().astype(np.int32)
        cv2.polylines(lines, [points], False, 1, thickness=max(2, width // 50))
    if scenery is not None:
        lines &= floor  # lines painted on the floor only (the plain floor's lines start at its edge)
    image[lines.astype(bool)] = line_colour
    shapes = np.zeros((height, width), np.uint8)
    for _ in range(distractors):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(width // 20, width // 9))
        mask = np.zeros_like(shapes)
        if rng.random() < 0.5:
            cv2.circle(mask, (x, y), size, 1, -1)
        else:
            cv2.rectangle(mask, (x - size, y - size), (x + size, y + size), 1, -1)
        image[mask.astype(bool)] = colour
        shapes |= mask
    for value in markers:
        x, half = int(round(width / 2 + value * width * 0.4)), max(2, width // 20)
        image[horizon // 10:horizon - horizon // 10, max(0, x - half):x + half] = MARKER_COLOUR
    line_mask = lines.astype(bool) & ~shapes.astype(bool)
    throttle = 0.6 - 0.3 * abs(curve)
    return Scene(image, float(curve), float(throttle), line_mask, shapes.astype(bool), floor & ~shapes.astype(bool))


def _lane(curve, height, width, top):
    """Rows from `top` down, and the lane's centre and half width (to its lines) on each: narrowing to the top."""
    ys = np.arange(top, height)
    t = (ys - top) / (height - 1 - top)
    return ys, width / 2 + curve * width * 0.45 * (1 - t) ** 2, width * (0.05 + 0.4 * t)


def _texture(rng, height, width, sd, grain=0.0):
    """(H, W) brightness noise of `sd` levels in blobs of about `grain` pixels (none: pixel by pixel)."""
    noise = rng.normal(0, 1, (height, width)).astype(np.float32)
    if grain:
        noise = cv2.GaussianBlur(noise, (0, 0), grain)
        noise /= noise.std() + 1e-6
    return sd * noise


def _paint(image, mask, colour, rng, sd, grain=0.0, tint=3.0):
    """Fill `mask` with `colour` textured: its brightness varied by `sd` levels in blobs of about `grain` pixels
    (asphalt's grit, grass, carpet pile: all channels together, as a texture does) and each channel by `tint`."""
    height, width = mask.shape
    pixels = (np.asarray(colour, np.float32) + _texture(rng, height, width, sd, grain)[..., None]
              + rng.normal(0, tint, (height, width, 3)))
    image[mask] = np.clip(pixels[mask], 0, 255).astype(np.uint8)


def _road_mask(curve, height, width, top, margin=1.2):
    """bool (H, W): the road from row `top` down, `margin` times as wide as the lane plus two pixels."""
    ys, centre, half = _lane(curve, height, width, top)
    columns = np.arange(width)[None, :]
    mask = np.zeros((height, width), bool)
    mask[ys] = np.abs(columns - centre[:, None]) <= half[:, None] * margin + 2
    return mask


def _rows(height, width):
    """(H, W) row index of every pixel."""
    return np.repeat(np.arange(height)[:, None], width, axis=1)


def _ridge(rng, width, low, high, waves=3):
    """(W,) a skyline of hills or trees: a sum of random waves between `low` and `high` rows above the ground."""
    x = np.arange(width) / width * 2 * np.pi
    wave = sum(np.sin(k * x * rng.uniform(0.5, 1.5) + rng.uniform(0, 2 * np.pi)) / k for k in range(1, waves + 1))
    wave = (wave - wave.min()) / (np.ptp(wave) + 1e-6)
    return low + (high - low) * wave


def _simulator(curve, rng, height, width, edge):
    """The Donkey simulator's road: textured grey asphalt narrowing to the horizon, grass both sides of it up to
    the horizon, green-grey hills along it and a grey-blue sky about as bright as the asphalt (within a textured
    road's spread of brightness: only its hue tells it apart)."""
    image, rows = np.empty((height, width, 3), np.uint8), _rows(height, width)
    scale = height / HEIGHT
    hills = edge - _ridge(rng, width, 4 * scale, 16 * scale)
    sky = rows < hills[None, :]
    _paint(image, sky, (118, 130, 155), rng, 3, tint=2)
    _paint(image, ~sky & (rows < edge), (88, 112, 78), rng, 7, grain=2)
    road = _road_mask(curve, height, width, edge)
    _paint(image, (rows >= edge) & ~road, (78, 120, 52), rng, 12, grain=1)
    _paint(image, road, (112, 112, 114), rng, 18, grain=1)
    return image, road


def _outdoor(curve, rng, height, width, edge):
    """A path outdoors: light gravel on grass with patches of bare earth, narrowing to the horizon, a line of dark
    trees along it and a pale blue sky."""
    image, rows = np.empty((height, width, 3), np.uint8), _rows(height, width)
    trees = edge - _ridge(rng, width, 6 * height / HEIGHT, 26 * height / HEIGHT, waves=6)
    sky = rows < trees[None, :]
    _paint(image, sky, (150, 185, 225), rng, 4, tint=2)
    _paint(image, ~sky & (rows < edge), (44, 72, 38), rng, 14, grain=2)
    earth = _texture(rng, height, width, 1, grain=6 * height / HEIGHT) > 0.8
    path = _road_mask(curve, height, width, edge, margin=1.1)
    grass = (rows >= edge) & ~path
    _paint(image, grass & ~earth, (84, 126, 54), rng, 12, grain=1)
    _paint(image, grass & earth, (112, 92, 62), rng, 10, grain=1)
    _paint(image, path, (156, 142, 118), rng, 12, grain=1.5)
    return image, path


def _carpet(curve, rng, height, width, edge):
    """A room with a carpeted floor: textured blue-grey carpet, a far wall whose foot is the floor's far edge
    across the middle 70% of the view and side walls whose feet come down towards the frame's sides (the
    floor reaches higher in the centre than at the sides), white walls and a dark room above them with people and
    furniture."""
    image, rows = np.empty((height, width, 3), np.uint8), _rows(height, width)
    scale, off_centre = height / HEIGHT, np.abs(np.arange(width) - (width - 1) / 2)
    foot = edge + 0.8 * np.maximum(0, off_centre - 0.35 * width) * scale * WIDTH / width
    top = foot - 24 * scale - 0.8 * (foot - edge)
    room, floor = rows < top[None, :], rows >= np.ceil(foot)[None, :]
    _paint(image, room, (46, 42, 52), rng, 20, grain=3)
    for _ in range(4):  # people and furniture in the room
        x, y = int(rng.integers(0, width)), int(rng.integers(0, int(top.min()) + 1))
        box = np.zeros((height, width), np.uint8)
        cv2.rectangle(box, (x, y), (x + int(rng.integers(4, 20)), y + int(rng.integers(6, 30))), 1, -1)
        _paint(image, box.astype(bool) & room, tuple(int(c) for c in rng.integers(20, 200, 3)), rng, 10, grain=1)
    _paint(image, ~room & ~floor, (188, 186, 192), rng, 4, grain=2)
    _paint(image, floor, (80, 78, 90), rng, 14, tint=4)
    return image, floor


SCENERIES = {'simulator': _simulator, 'outdoor': _outdoor, 'carpet': _carpet}
EDGES = {'simulator': 48, 'outdoor': 50, 'carpet': 46}  # where the ground ends, in rows of 120: by construction


def true_edge(scenery, height=HEIGHT):
    """The far edge of the drivable surface in a frame of `height` rows drawn with `scenery` (None: the plain
    floor, HORIZON): the ground's first row, below which it fills the width but for lines and distractors (the
    road and the grass beside it, the path and the grass) or most of it (the carpet, whose far wall spans 70% of
    the width), and above which there is none of it (hills, trees, walls, sky)."""
    return int(height * (HORIZON if scenery is None else EDGES[scenery]) / HEIGHT)


SKIES = {'marker': lambda curve, rng: [curve],                   # a shortcut above the horizon: it tells the bend
         'lying': lambda curve, rng: [rng.uniform(-1, 1)],         # the same marker, placed at random: it lies
         'blobs': lambda curve, rng: list(rng.uniform(-1, 1, 2))}  # markers that mean nothing


def drive(count, seed=0, one_way=False, sky=None, **kwargs):
    """Scenes of a car driving a winding road: the bend changes smoothly from frame to frame. `one_way`: a track
    driven clockwise and marked by its inside line only, every bend to the right: a pilot trained there can only
    look right (the seed's case of a pilot interested in one line). `sky`: 'marker' (a sky marker placed by the
    steering), 'lying' (placed at random), 'blobs' (two at random), or None (none). Other keywords go to draw()
    (`scenery` among them)."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, 3)
    for i in range(count):
        s = i / 40.0
        curve = 0.6 * np.sin(s + phase[0]) + 0.3 * np.sin(2.7 * s + phase[1]) + 0.1 * np.sin(7.1 * s + phase[2])
        curve = float(np.clip(abs(curve) if one_way else curve, -1, 1))
        markers = SKIES[sky](curve, rng) if sky else ()
        yield draw(curve, rng, sides=(1,) if one_way else (-1, 1), markers=markers, **kwargs)


def write_tub(path, scenes, hz=20.0, extra=None, max_catalog_len=MAX_CATALOG_LEN, mode=lambda i: 'user'):
    """Record scenes into a donkeycar tub with donkeycar's own Tub (without donkeycar: this package's writer of the
    same files), each record handed to the tub at least 1/hz after the one before (a loaded machine spaces them
    further apart, never in a burst as pacing to deadlines did after a stall), a new catalog file every
    `max_catalog_len` records (donkeycar's default: 1000); into an existing tub, a new session.

    `extra`: {record key: (donkeycar type, function of the frame number)} for sensors beyond the camera; `mode`:
    the user/mode of frame i ('user', or 'local' / 'local_angle' while the pilot drives).
    """
    from donkey_saliency.tub.write import open_tub_writer
    extra = extra or {}
    tub = open_tub_writer(path, list(DRIVE_INPUTS) + list(extra),
                          list(DRIVE_TYPES) + [kind for kind, _ in extra.values()], max_catalog_len=max_catalog_len)
    written = None  # when the last record was handed to the tub
    try:
        for i, scene in enumerate(scenes):
            record = dict(zip(DRIVE_INPUTS, (scene.image, scene.angle, scene.throttle, mode(i))))
            record.update({key: values(i) for key, (_, values) in extra.items()})
            rest = 0.0 if written is None else written + 1.0 / hz - time.time()
            if rest > 0:
                time.sleep(rest)
            written = time.time()
            tub.write_record(record)
    finally:
        tub.close()
    return path
