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
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class MapView:
    """One map of a frame and how to show it."""
    values: np.ndarray   # (H, W): 0..1, or -1..1 when signed
    signed: bool = False
    title: str = ''
    ends: tuple = ('hi', 'lo')  # legend labels, top and bottom


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
    """A line from the bottom centre: its tilt is the angle (full lock = 45 degrees), its length the throttle."""
    height, width = image.shape[:2]
    base = (width // 2 + side * 2, height - 1)
    length = float(np.clip(throttle, -1, 1)) * height * 0.9
    tilt = math.radians(float(np.clip(angle, -1, 1)) * 45.0)
    tip = (int(round(base[0] + length * math.sin(tilt))), int(round(base[1] - length * math.cos(tilt))))
    cv2.line(image, base, tip, colour, max(1, height // 120), cv2.LINE_AA)


def _text(image, text, origin, scale, colour):
    cv2.putText(image, text, origin, FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, FONT, scale, colour, 1, cv2.LINE_AA)


def hud(image, index, user, pilot):
    """Record index and the user's and pilot's (angle, throttle) in the top-left corner."""
    scale = image.shape[0] / 600.0
    step = int(30 * scale) + 4
    y = step
    _text(image, f'#{index}', (4, y), scale, TEXT_COLOUR)
    for label, values, colour in (('user', user, USER_COLOUR), ('pilot', pilot, PILOT_COLOUR)):
        if values is not None:
            y += step
            _text(image, f'{label} a{values[0]:+.2f} t{values[1]:+.2f}', (4, y), scale, colour)


def legend(image, signed=False, ends=('hi', 'lo')):
    """A vertical colour bar in the top-right corner, the top value at the top, labelled with `ends`."""
    height, width = image.shape[:2]
    bar_h, bar_w, margin = max(20, height // 3), max(4, width // 60), 4
    ramp = np.linspace(1.0, -1.0 if signed else 0.0, bar_h, dtype=np.float32)[:, None].repeat(bar_w, axis=1)
    x0, y0 = width - bar_w - margin, margin + int(height / 40) + 6
    image[y0:y0 + bar_h, x0:x0 + bar_w] = colour_map(ramp, signed)
    cv2.rectangle(image, (x0 - 1, y0 - 1), (x0 + bar_w, y0 + bar_h), TEXT_COLOUR, 1)
    scale = height / 900.0
    _text(image, ends[0], (x0 - int(40 * scale) - 4, y0 + int(20 * scale)), scale, TEXT_COLOUR)
    _text(image, ends[1], (x0 - int(40 * scale) - 4, y0 + bar_h), scale, TEXT_COLOUR)


def _enlarge(image, scale):
    if scale == 1:
        return image
    return cv2.resize(image, (image.shape[1] * scale, image.shape[0] * scale), interpolation=cv2.INTER_LINEAR)


def _map_panel(frame, view, alpha, scale):
    image = _enlarge(overlay(frame, view.values, alpha, view.signed), scale)
    legend(image, view.signed, view.ends)
    return image


def compose(frame, views, alpha, scale, index, user=None, pilot=None, panels=False):
    """The full video frame, enlarged by `scale`, with the steering lines and the HUD.

    One map without `panels`: the map over the camera frame. With `panels`: the camera frame, then one panel per
    map side by side, each titled. No map: the frame as it is (an overlay recorded on the car).
    """
    if views and not panels:
        image = _map_panel(frame, views[0], alpha, scale)
    else:
        image = _enlarge(frame.copy(), scale)
    if user is not None:
        steering_line(image, *user, USER_COLOUR, side=-1)
    if pilot is not None:
        steering_line(image, *pilot, PILOT_COLOUR, side=+1)
    hud(image, index, user, pilot)
    if not views or not panels:
        return image
    parts = [image]
    for view in views:
        panel = _map_panel(frame, view, alpha, scale)
        _text(panel, view.title, (4, panel.shape[0] - 6), panel.shape[0] / 600.0, TEXT_COLOUR)
        parts.append(panel)
    return np.concatenate(parts, axis=1)
