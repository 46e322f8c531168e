"""Drawing only: turn a camera frame, a saliency map and the steering values into one video frame.

Nothing here knows about models or files. Colours are RGB.
"""
import math

import cv2
import numpy as np

USER_COLOUR = (0, 220, 0)      # green, as donkeycar's makemovie
PILOT_COLOUR = (40, 120, 255)  # blue
TEXT_COLOUR = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def colour_map(maps):
    """(N, H, W) or (H, W) floats in [0, 1] to RGB uint8 through 'inferno', a perceptually uniform colour map."""
    levels = np.clip(np.rint(np.asarray(maps, np.float32) * 255), 0, 255).astype(np.uint8)
    return INFERNO_RGB[levels]


def _inferno_table():
    ramp = np.arange(256, dtype=np.uint8).reshape(-1, 1)
    bgr = cv2.applyColorMap(ramp, cv2.COLORMAP_INFERNO).reshape(256, 3)
    return np.ascontiguousarray(bgr[:, ::-1])


INFERNO_RGB = _inferno_table()


def overlay(frame, saliency, alpha):
    """Blend the coloured map over the frame: (1 - alpha) * frame + alpha * heat, so the road stays visible."""
    heat = colour_map(saliency)
    return cv2.addWeighted(frame, 1.0 - alpha, heat, alpha, 0.0)


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


def legend(image):
    """A vertical colour bar in the top-right corner, high saliency at the top."""
    height, width = image.shape[:2]
    bar_h, bar_w, margin = max(20, height // 3), max(4, width // 60), 4
    ramp = np.linspace(1.0, 0.0, bar_h, dtype=np.float32)[:, None].repeat(bar_w, axis=1)
    x0, y0 = width - bar_w - margin, margin + int(height / 40) + 6
    image[y0:y0 + bar_h, x0:x0 + bar_w] = colour_map(ramp)
    cv2.rectangle(image, (x0 - 1, y0 - 1), (x0 + bar_w, y0 + bar_h), TEXT_COLOUR, 1)
    scale = height / 900.0
    _text(image, 'hi', (x0 - int(40 * scale) - 4, y0 + int(20 * scale)), scale, TEXT_COLOUR)
    _text(image, 'lo', (x0 - int(40 * scale) - 4, y0 + bar_h), scale, TEXT_COLOUR)


def compose(frame, saliency, alpha, scale, index, user=None, pilot=None):
    """The full video frame: overlay at camera size, enlarged by `scale`, then lines, HUD and legend."""
    image = overlay(frame, saliency, alpha)
    if scale != 1:
        image = cv2.resize(image, (frame.shape[1] * scale, frame.shape[0] * scale), interpolation=cv2.INTER_LINEAR)
    if user is not None:
        steering_line(image, *user, USER_COLOUR, side=-1)
    if pilot is not None:
        steering_line(image, *pilot, PILOT_COLOUR, side=+1)
    hud(image, index, user, pilot)
    legend(image)
    return image
