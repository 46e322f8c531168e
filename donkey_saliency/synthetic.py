"""A synthetic track whose answer is known: lane lines whose bend sets the steering, plus distractors.

The distractors (coloured shapes anywhere in the frame) are random and independent of the steering, so a pilot
that learned the task should look at the lines, not at them. Used to make the bundled sample and by the tests.
"""
import time
from dataclasses import dataclass

import cv2
import numpy as np

HEIGHT, WIDTH, HORIZON = 120, 160, 40


@dataclass
class Scene:
    """One frame, its labels, and where the lines and the distractors are."""
    image: np.ndarray
    angle: float
    throttle: float
    lines: np.ndarray        # bool (H, W): lane-line pixels
    distractors: np.ndarray  # bool (H, W): distractor pixels


MARKER_COLOUR = (255, 200, 0)


def draw(curve, rng, height=HEIGHT, width=WIDTH, distractors=2, sides=(-1, 1), markers=(), line_colour=(235, 235, 235)):
    """A frame of a road bending by `curve` in [-1, 1] (negative: left) with random distractors; `sides`: the lane
    lines drawn (-1 left, 1 right); `markers`: values in [-1, 1], each a yellow bar as tall as the sky placed
    across the width by its value as the road's bend is by `curve` (drawn after the distractors: always in view)."""
    horizon = int(height * HORIZON / HEIGHT)
    image = np.empty((height, width, 3), np.uint8)
    sky = np.linspace(150, 210, horizon)[:, None, None] * np.array([0.6, 0.75, 1.0])
    image[:horizon] = np.clip(sky + rng.normal(0, 3, (horizon, width, 3)), 0, 255).astype(np.uint8)
    image[horizon:] = np.clip(rng.normal(70, 8, (height - horizon, width, 3)), 0, 255).astype(np.uint8)
    lines = np.zeros((height, width), np.uint8)
    ys = np.arange(horizon, height)
    t = (ys - horizon) / (height - 1 - horizon)
    centre = width / 2 + curve * width * 0.45 * (1 - t) ** 2
    half = width * (0.05 + 0.4 * t)
    for side in sides:
        points = np.stack([centre + side * half, ys], axis=1).round().astype(np.int32)
        cv2.polylines(lines, [points], False, 1, thickness=max(2, width // 50))
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
    return Scene(image, float(curve), float(throttle), line_mask, shapes.astype(bool))


SKIES = {'marker': lambda curve, rng: [curve],                   # a shortcut above the horizon: it tells the bend
         'lying': lambda curve, rng: [rng.uniform(-1, 1)],         # the same marker, placed at random: it lies
         'blobs': lambda curve, rng: list(rng.uniform(-1, 1, 2))}  # markers that mean nothing


def drive(count, seed=0, one_way=False, sky=None, **kwargs):
    """Scenes of a car driving a winding road: the bend changes smoothly from frame to frame. `one_way`: a track
    driven clockwise and marked by its inside line only, every bend to the right: a pilot trained there can only
    look right (the seed's case of a pilot interested in one line). `sky`: 'marker' (a sky marker placed by the
    steering), 'lying' (placed at random), 'blobs' (two at random), or None (none)."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, 3)
    for i in range(count):
        s = i / 40.0
        curve = 0.6 * np.sin(s + phase[0]) + 0.3 * np.sin(2.7 * s + phase[1]) + 0.1 * np.sin(7.1 * s + phase[2])
        curve = float(np.clip(abs(curve) if one_way else curve, -1, 1))
        markers = SKIES[sky](curve, rng) if sky else ()
        yield draw(curve, rng, sides=(1,) if one_way else (-1, 1), markers=markers, **kwargs)


def write_tub(path, scenes, hz=20.0, extra=None, max_catalog_len=1000, mode=lambda i: 'user'):
    """Record scenes into a donkeycar tub with donkeycar's own Tub (without donkeycar: this package's writer of the
    same files), each record handed to the tub at least 1/hz after the one before (a loaded machine spaces them
    further apart, never in a burst as pacing to deadlines did after a stall), a new catalog file every
    `max_catalog_len` records (donkeycar's default: 1000); into an existing tub, a new session.

    `extra`: {record key: (donkeycar type, function of the frame number)} for sensors beyond the camera; `mode`:
    the user/mode of frame i ('user', or 'local' / 'local_angle' while the pilot drives).
    """
    from donkey_saliency.offline.tub_writer import open_tub_writer
    extra = extra or {}
    tub = open_tub_writer(path, ['cam/image_array', 'user/angle', 'user/throttle', 'user/mode'] + list(extra),
                          ['image_array', 'float', 'float', 'str'] + [kind for kind, _ in extra.values()],
                          max_catalog_len=max_catalog_len)
    written = None  # when the last record was handed to the tub
    try:
        for i, scene in enumerate(scenes):
            record = {'cam/image_array': scene.image, 'user/angle': scene.angle,
                      'user/throttle': scene.throttle, 'user/mode': mode(i)}
            record.update({key: values(i) for key, (_, values) in extra.items()})
            rest = 0.0 if written is None else written + 1.0 / hz - time.time()
            if rest > 0:
                time.sleep(rest)
            written = time.time()
            tub.write_record(record)
    finally:
        tub.close()
    return path
