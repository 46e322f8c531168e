"""Drawing only: turn a camera frame, saliency maps and the steering values into one video frame.

Nothing here knows about models or files. Colours are RGB. Unsigned maps (0..1) use 'inferno', a perceptually
uniform colour map; signed maps (-1..1) a blue-grey-red diverging one, red where pixels push the output up
(steering right), blue where they push it down (left).
"""
import math
from dataclasses import dataclass

import cv2
import numpy as np

USER_COLOUR = (0, 220, 0)      # green, as donkeycar's makemovie
PILOT_COLOUR = (40, 120, 255)  # blue
TEXT_COLOUR = (255, 255, 255)
STRIP_COLOUR = (24, 24, 24)  # the bands above and below the pictures, where the words go
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class MapView:
    """One map of a frame and how to show it."""
    values: np.ndarray   # (H, W): 0..1, or -1..1 when signed (display-scaled)
    signed: bool = False
    title: str = ''      # the panel's label: what the map is
    ends: tuple = ('weak', 'strong')  # what the low and the high end of the colour bar mean


def colour_map(maps, signed=False):
    """Floats to RGB uint8: [0, 1] through 'inferno', or [-1, 1] through the diverging map when `signed`."""
    values = np.asarray(maps, np.float32)
    if signed:
        values = (values + 1.0) * 0.5
    levels = np.clip(np.rint(values * 255), 0, 255).astype(np.uint8)
    return (DIVERGING_RGB if signed else INFERNO_RGB)[levels]


def _inferno_table():
    ramp = np.arange(256, dtype=np.uint8).reshape(-1, 1)
    bgr = cv2.applyColorMap(ramp, cv2.COLORMAP_INFERNO).reshape(256, 3)
    return np.ascontiguousarray(bgr[:, ::-1])


def _diverging_table():
    """Blue (59, 76, 192) through light grey to red (180, 4, 38): the end colours of Moreland's cool-warm map."""
    blue, grey, red = np.array([59, 76, 192.0]), np.array([221, 221, 221.0]), np.array([180, 4, 38.0])
    t = np.linspace(0.0, 1.0, 256)[:, None]
    table = np.where(t < 0.5, blue + (grey - blue) * (t / 0.5), grey + (red - grey) * ((t - 0.5) / 0.5))
    return np.rint(table).astype(np.uint8)


INFERNO_RGB = _inferno_table()
DIVERGING_RGB = _diverging_table()


def overlay(frame, saliency, alpha, signed=False):
    """Blend the coloured map over the frame so the road stays visible.

    Unsigned: (1 - alpha) * frame + alpha * heat. Signed: the opacity grows with |value|, so pixels that push
    neither way show the camera frame untouched.
    """
    heat = colour_map(saliency, signed)
    if not signed:
        return cv2.addWeighted(frame, 1.0 - alpha, heat, alpha, 0.0)
    weight = (alpha * np.abs(np.asarray(saliency, np.float32)))[..., None]
    return np.rint(frame * (1.0 - weight) + heat * weight).astype(np.uint8)


def steering_line(image, angle, throttle, colour, side):
    """A line from the bottom centre: its tilt is the angle (full lock = 45 degrees), its length grows with |throttle|
    from a quarter of the height (so that a real car's 0.02-0.3 still shows) to 0.9 of it at full (reverse is
    read from the values below the picture)."""
    height, width = image.shape[:2]
    base = (width // 2 + side * 2, height - 1)
    length = (0.25 + 0.65 * abs(float(np.clip(throttle, -1, 1)))) * height
    tilt = math.radians(float(np.clip(angle, -1, 1)) * 45.0)
    tip = (int(round(base[0] + length * math.sin(tilt))), int(round(base[1] - length * math.cos(tilt))))
    cv2.line(image, base, tip, colour, max(1, height // 120), cv2.LINE_AA)


def _text(image, text, origin, scale, colour):
    cv2.putText(image, text, origin, FONT, scale, colour, 1, cv2.LINE_AA)


class _Strip:
    """Text rows drawn on a dark band beside the picture, never over it."""

    def __init__(self, width, rows, scale):
        self.font = 0.35 * scale / 2
        self.row = int(22 * self.font) + 8
        self.image = np.full((self.row * rows, width, 3), STRIP_COLOUR, np.uint8)

    def text(self, row, text, colour=TEXT_COLOUR, x=4):
        """Write `text` in `row`, shortened (ending '..') to fit the band's width."""
        room = self.image.shape[1] - x - 4
        while len(text) > 2 and cv2.getTextSize(text, FONT, self.font, 1)[0][0] > room:
            text = text[:-3] + '..'
        _text(self.image, text, (x, self.row * (row + 1) - 5), self.font, colour)

    def bar(self, row, signed, ends):
        """A horizontal colour bar with what its two ends mean written at either side."""
        width = self.image.shape[1]
        (low_w, _), _ = cv2.getTextSize(ends[0], FONT, self.font, 1)
        (high_w, _), _ = cv2.getTextSize(ends[1], FONT, self.font, 1)
        x0, x1 = low_w + 8, width - high_w - 8
        if x1 - x0 < 8:  # too narrow for labels beside it: the bar alone
            x0, x1 = 4, width - 4
        else:
            self.text(row, ends[0], x=4)
            self.text(row, ends[1], x=x1 + 4)
        ramp = np.linspace(-1.0 if signed else 0.0, 1.0, x1 - x0, dtype=np.float32)[None].repeat(self.row - 6, 0)
        self.image[self.row * row + 3:self.row * (row + 1) - 3, x0:x1] = colour_map(ramp, signed)


def label_height(scale):
    """Rows of the label band above every picture, at `scale` (where a video's pictures begin)."""
    return _Strip(1, 1, scale).row


def enlarge(image, scale):
    """The picture `scale` times larger (the videos' --scale, the report's pictures)."""
    if scale == 1:
        return image
    return cv2.resize(image, (image.shape[1] * scale, image.shape[0] * scale), interpolation=cv2.INTER_LINEAR)


def _panel(picture, title, footer, scale):
    """A picture with its label in a band above and its footer band below."""
    header = _Strip(picture.shape[1], 1, scale)
    header.text(0, title)
    return np.concatenate([header.image, picture, footer.image])


def _values(values):
    return f'steering {values[0]:+.2f}  throttle {values[1]:+.2f}'


def compose(frame, views, alpha, scale, index, user=None, pilot=None, panels=False, tub=None):
    """The full video frame, enlarged by `scale`: each panel labelled above, explained below, nothing written
    over the camera frame or the maps. The camera's label names the record, and its tub when `tub` is given
    (a video of several tubs).

    One map without `panels`: the map over the camera frame. With `panels`: the camera frame, then one panel per
    map side by side. No map: the frame as it is (an overlay recorded on the car). The camera panel carries the
    steering lines and, below it, the user's and the pilot's values and how to read the lines; a map panel
    carries its colour bar and what its ends mean.
    """
    overlaid = views and not panels
    camera = enlarge(overlay(frame, views[0].values, alpha, views[0].signed) if overlaid else frame.copy(), scale)
    if user is not None:
        steering_line(camera, *user, USER_COLOUR, side=-1)
    if pilot is not None:
        steering_line(camera, *pilot, PILOT_COLOUR, side=+1)
    rows = 3 + (1 if overlaid else 0)
    footer = _Strip(camera.shape[1], rows, scale)
    footer.text(0, f'user   {_values(user)}' if user is not None else 'user   -', USER_COLOUR)
    footer.text(1, f'pilot  {_values(pilot)}' if pilot is not None else 'pilot  -', PILOT_COLOUR)
    footer.text(2, 'lines: tilt = steering, length = throttle')
    if overlaid:
        footer.bar(3, views[0].signed, views[0].ends)
    title = f'{tub or "camera"} #{index}' + (f' + {views[0].title}' if overlaid else '')
    parts = [_panel(camera, title, footer, scale)]
    for view in views if panels else []:
        picture = enlarge(overlay(frame, view.values, alpha, view.signed), scale)
        legend_strip = _Strip(picture.shape[1], rows, scale)
        legend_strip.bar(0, view.signed, view.ends)
        parts.append(_panel(picture, view.title, legend_strip, scale))
    image = np.concatenate(parts, axis=1)
    if image.shape[0] % 2:  # H.264 in yuv420p needs an even height
        image = np.concatenate([image, np.full((1,) + image.shape[1:], STRIP_COLOUR, np.uint8)])
    return image


def labelled(frame, view, alpha, scale=2):
    """The frame with one map over it, enlarged, its label above and its colour bar below (the API's picture)."""
    picture = enlarge(overlay(frame, view.values, alpha, view.signed), scale)
    legend_strip = _Strip(picture.shape[1], 1, scale)
    legend_strip.bar(0, view.signed, view.ends)
    return _panel(picture, view.title, legend_strip, scale)


def stream_picture(overlaid, angle, throttle, title, signed, ends, scale=2):
    """The car's stream frame: the overlay enlarged with the pilot's steering line, its label above, and below
    the pilot's steering and throttle in words and the colour bar (angle/throttle None: not known yet)."""
    picture = enlarge(np.asarray(overlaid, np.uint8), scale)
    known = angle is not None and throttle is not None
    if known:
        steering_line(picture, angle, throttle, PILOT_COLOUR, side=+1)
    strip = _Strip(picture.shape[1], 2, scale)
    strip.text(0, f'pilot  {_values((angle, throttle))}' if known else 'pilot  -', PILOT_COLOUR)
    strip.bar(1, signed, ends)
    return _panel(picture, title, strip, scale)
