"""Drawing only: turn a camera frame, saliency maps and the steering values into one video frame.

Nothing here knows about models or files. Colours are RGB. Unsigned maps (0..1) use 'inferno', a perceptually
uniform colour map; signed maps (-1..1) a blue-grey-red diverging one, red where pixels push the output up
(steering right), blue where they push it down (left).

Words go on dark bands above and below the pictures, never over them, in a size that grows with the picture
(never below what reads on a 160-pixel-wide frame) and wrapped at spaces to the band's width: never cut. A
video's bands are the same in every frame but for the record's number and values, so `Composer` lays them out
and draws them once, and each frame only pastes its pictures and writes its own words.
"""
import math
import re
from dataclasses import dataclass

import cv2
import numpy as np

USER_COLOUR = (0, 220, 0)      # green, as donkeycar's makemovie
PILOT_COLOUR = (40, 120, 255)  # blue
TEXT_COLOUR = (255, 255, 255)
ALARM_COLOUR = (255, 60, 40)  # red: the car's health alarm
ALARM_WORDS = 'ALARM: attention off its nominal range'
HEALTHY_WORDS = 'attention in its nominal range'
STRIP_COLOUR = (24, 24, 24)  # the bands above and below the pictures, where the words go
FONT = cv2.FONT_HERSHEY_SIMPLEX
SMALLEST_FONT = 0.4   # capitals 9 pixels tall: the smallest that reads well (a 160-pixel frame, --scale 1)
FONT_PER_PIXEL = 1 / 700  # larger pictures, larger words: 0.46 on a 320-pixel panel, 0.69 on 480
LINES_HELP = 'lines: tilt = steering, length = throttle'


@dataclass
class MapView:
    """One map of a frame and how to show it."""
    values: np.ndarray   # (H, W): 0..1, or -1..1 when signed (display-scaled)
    signed: bool = False
    title: str = ''      # what the map is ('method: what it shows'): written with its colour bar
    ends: tuple = ('weak', 'strong')  # what the low and the high end of the colour bar mean

    @property
    def name(self):
        """The title's part before ':' (the method), the panel's label."""
        return self.title.partition(':')[0].strip()


def colour_map(maps, signed=False):
    """Floats to RGB uint8: [0, 1] through 'inferno', or [-1, 1] through the diverging map when `signed`."""
    values = np.asarray(maps, np.float32)
    table = DIVERGING_RGB if signed else INFERNO_RGB
    low, gain = (1.0, 127.5) if signed else (0.0, 255.0)
    if values.ndim != 2:  # OpenCV's look-up below, the fast one, takes pictures only
        return table[np.clip(np.rint((values + low) * gain), 0, 255).astype(np.uint8)]
    levels = cv2.convertScaleAbs(np.maximum(values, -low), alpha=gain, beta=low * gain)  # rounded, <= 255
    return cv2.LUT(cv2.cvtColor(levels, cv2.COLOR_GRAY2RGB), table.reshape(256, 1, 3))


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
    weight = alpha * np.abs(np.asarray(saliency, np.float32))
    return cv2.blendLinear(frame, heat, 1.0 - weight, weight)


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


def font_size(width):
    """The font scale for a band `width` pixels wide: larger pictures, larger words, never below SMALLEST_FONT."""
    return max(SMALLEST_FONT, width * FONT_PER_PIXEL)


def _thickness(font):
    return 1 if font < 0.7 else 2


def _text_width(text, font):
    return cv2.getTextSize(text, FONT, font, _thickness(font))[0][0]


def wrap(text, font, room):
    """`text` in lines at most `room` pixels wide, broken after spaces (a word wider than the room is broken
    between letters): every character is kept."""
    lines, line = [], ''
    for token in re.findall(r'\S+\s*|\s+', text):
        if line and _text_width((line + token).rstrip(), font) > room:
            lines.append(line.rstrip())
            line = ''
        line += token
        while len(line) > 1 and _text_width(line.rstrip(), font) > room:  # one word wider than the band
            cut = max(k for k in range(1, len(line)) if k == 1 or _text_width(line[:k], font) <= room)
            lines.append(line[:cut])
            line = line[cut:]
    return lines + [line.rstrip()] if line.strip() or not lines else lines


class Band:
    """A dark band of text rows and colour bars, laid out once for its width. Static words and bars are drawn
    by `draw()`; a slot's words change per frame and are written by `fill()` into the drawn band (or a frame
    holding it), in the rows the slot's sample text needed."""

    def __init__(self, width, font=None):
        self.width = width
        self.font = font or font_size(width)
        (_, high), low = cv2.getTextSize('Hg', FONT, self.font, _thickness(self.font))
        self.pad = max(2, round(0.3 * high))
        self.row = high + low + 2 * self.pad
        self.baseline = self.pad + high
        self.margin = max(4, round(0.4 * high))
        self.rows = 0
        self.texts, self.bars, self.slots = [], [], []

    @property
    def room(self):
        return self.width - 2 * self.margin

    @property
    def height(self):
        return self.rows * self.row

    def _new_rows(self, count):
        first = self.rows
        self.rows += count
        return first

    def text(self, text, colour=TEXT_COLOUR):
        """Words on as many rows as they need."""
        for line in wrap(text, self.font, self.room):
            self.texts.append((self._new_rows(1), self.margin, line, colour, self.font))

    def slot(self, sample, colour=TEXT_COLOUR):
        """Rows for words given per frame, as many as `sample` needs; returns the slot's number for `fill`."""
        rows = len(wrap(sample, self.font, self.room))
        self.slots.append((self._new_rows(rows), rows, colour))
        return len(self.slots) - 1

    def bar(self, signed, ends):
        """A colour bar and what its two ends mean: beside it when there is room, else on a row below it (on two
        when one does not hold both)."""
        low, high = (_text_width(end, self.font) for end in ends)
        gap = self.margin
        if low + high + 4 * gap + max(40, self.width // 4) <= self.width:
            row = self._new_rows(1)
            x0, x1 = self.margin + low + gap, self.width - self.margin - high - gap
            self.texts += [(row, self.margin, ends[0], TEXT_COLOUR, self.font),
                           (row, x1 + gap, ends[1], TEXT_COLOUR, self.font)]
        else:
            row = self._new_rows(1)
            x0, x1 = self.margin, self.width - self.margin
            if low + high + 2 * gap <= self.room:
                words = self._new_rows(1)
                self.texts += [(words, self.margin, ends[0], TEXT_COLOUR, self.font),
                               (words, self.width - self.margin - high, ends[1], TEXT_COLOUR, self.font)]
            else:
                for end, width in zip(ends, (low, high)):
                    self.texts += [(self._new_rows(1), self.margin if end is ends[0] else
                                    self.width - self.margin - width, end, TEXT_COLOUR, self.font)]
        self.bars.append((row, x0, x1, signed))

    def pad_to(self, rows):
        self.rows = max(self.rows, rows)

    def draw(self):
        """The band with its static words and bars (slots left empty)."""
        image = np.full((self.height, self.width, 3), STRIP_COLOUR, np.uint8)
        for row, x, text, colour, font in self.texts:
            cv2.putText(image, text, (x, row * self.row + self.baseline), FONT, font, colour, _thickness(font),
                        cv2.LINE_AA)
        for row, x0, x1, signed in self.bars:
            inset = max(3, self.pad)
            ramp = np.linspace(-1.0 if signed else 0.0, 1.0, x1 - x0, dtype=np.float32)
            image[row * self.row + inset:(row + 1) * self.row - inset, x0:x1] = colour_map(ramp, signed)[None]
        return image

    def fill(self, image, number, text, top=0, left=0):
        """Write slot `number`'s `text` into `image`, where this band lies at (`top`, `left`): wrapped to the
        slot's rows, and smaller when they do not hold it (a record number or a value longer than the sample)."""
        first, rows, colour = self.slots[number]
        font = self.font
        lines = [text] if _text_width(text, font) <= self.room else wrap(text, font, self.room)
        while len(lines) > rows and font > 0.2:
            font *= 0.9
            lines = wrap(text, font, self.room)
        for k, line in enumerate(lines[:rows] if len(lines) > rows else lines):
            cv2.putText(image, line, (left + self.margin, top + (first + k) * self.row + self.baseline), FONT, font,
                        colour, _thickness(font), cv2.LINE_AA)


def label_height(scale, width=None):
    """Rows of the label band above a video's pictures (one row), at `scale` on a picture `width` wide
    (default: a 160-pixel frame): where a video's pictures begin."""
    return Band((width or 160) * scale).row


def enlarge(image, scale):
    """The picture `scale` times larger (the videos' --scale, the report's pictures)."""
    if scale == 1:
        return image
    return cv2.resize(image, (image.shape[1] * scale, image.shape[0] * scale), interpolation=cv2.INTER_LINEAR)


def _values(values):
    return f'steering {values[0]:+.2f}  throttle {values[1]:+.2f}'


def _user_words(user):
    return f'user   {_values(user)}' if user is not None else 'user   -'


def _pilot_words(pilot):
    return f'pilot  {_values(pilot)}' if pilot is not None else 'pilot  -'


SAMPLE_VALUES = (-0.5, -0.5)  # the widest the values usually are: their rows are laid out for it
SAMPLE_INDEX = 1000           # a label's rows hold a four-digit record number at full size


class _Layout:
    """Where everything of one video's frames goes, and the frame with its bands drawn."""

    def __init__(self, shape, views, scale, panels, tub):
        height, width = shape[0] * scale, shape[1] * scale
        self.overlaid = bool(views) and not panels
        self.picture = (height, width)
        heads, feet = [Band(width)], [Band(width)]
        self.label = heads[0].slot(_label(tub, SAMPLE_INDEX))
        self.user = feet[0].slot(_user_words(SAMPLE_VALUES), USER_COLOUR)
        self.pilot = feet[0].slot(_pilot_words(SAMPLE_VALUES), PILOT_COLOUR)
        feet[0].text(LINES_HELP)
        if self.overlaid:
            _legend(feet[0], views[0])
        for view in views if panels else []:
            heads.append(Band(width))
            heads[-1].text(view.name or view.title)
            feet.append(Band(width))
            _legend(feet[-1], view)
        for bands in (heads, feet):
            for band in bands:
                band.pad_to(max(b.rows for b in bands))
        self.heads, self.feet = heads, feet
        self.top = heads[0].height
        total, self.columns = self.top + height + feet[0].height, width * len(heads)
        # an even height and width, which H.264 in yuv420p needs: an odd one gets a row or a column of band
        self.template = np.full((total + total % 2, self.columns + self.columns % 2, 3), STRIP_COLOUR, np.uint8)
        for k, (head, foot) in enumerate(zip(heads, feet)):
            self.template[:self.top, k * width:(k + 1) * width] = head.draw()
            self.template[self.top + height:total, k * width:(k + 1) * width] = foot.draw()


def _label(tub, index):
    return f'{tub or "camera"} #{index}'


def _legend(band, view):
    if view.title:
        band.text(view.title)
    band.bar(view.signed, view.ends)


class Composer:
    """Draws the frames of one video: the bands, their fixed words and the colour bars are laid out and drawn
    once, on the first frame (they are the same for every frame of a run); each frame then pastes its pictures
    and writes its own words (the record's number, the values) into the rows kept for them. The same pixels as
    `compose` draws frame by frame."""

    def __init__(self, alpha, scale, panels=False):
        self.alpha, self.scale, self.panels = alpha, scale, panels
        self.layout, self.key = None, None

    def __call__(self, frame, views, index, user=None, pilot=None, tub=None):
        key = (frame.shape, tuple((v.signed, v.title, tuple(v.ends)) for v in views))
        if key != self.key:  # a run's first frame (its tub's name decides the label's rows)
            self.layout, self.key = _Layout(frame.shape, views, self.scale, self.panels, tub), key
        layout = self.layout
        top, (height, width) = layout.top, layout.picture
        image = np.empty_like(layout.template)  # the bands copied, the pictures drawn straight into place
        image[:top], image[top + height:] = layout.template[:top], layout.template[top + height:]
        image[top:top + height, layout.columns:] = STRIP_COLOUR  # (the column that makes an odd width even)
        camera = overlay(frame, views[0].values, self.alpha, views[0].signed) if layout.overlaid else frame
        if self.panels:
            picture = enlarge(camera, self.scale) if self.scale > 1 else camera.copy()
        else:  # the picture's place in the frame, which OpenCV draws into
            picture = image[top:top + height, :width]
            cv2.resize(camera, (width, height), dst=picture, interpolation=cv2.INTER_LINEAR)
        if user is not None:
            steering_line(picture, *user, USER_COLOUR, side=-1)
        if pilot is not None:
            steering_line(picture, *pilot, PILOT_COLOUR, side=+1)
        if self.panels:
            image[top:top + height, :width] = picture
        for k, view in enumerate(views if self.panels else [], start=1):
            image[top:top + height, k * width:(k + 1) * width] = enlarge(
                overlay(frame, view.values, self.alpha, view.signed), self.scale)
        layout.heads[0].fill(image, layout.label, _label(tub, index))
        foot = layout.feet[0]
        foot.fill(image, layout.user, _user_words(user), top + height)
        foot.fill(image, layout.pilot, _pilot_words(pilot), top + height)
        return image


def compose(frame, views, alpha, scale, index, user=None, pilot=None, panels=False, tub=None):
    """One video frame drawn from scratch, enlarged by `scale`: each panel labelled above, explained below,
    nothing written over the camera frame or the maps. The camera's label names the record, and its tub when
    `tub` is given (a video of several tubs).

    One map without `panels`: the map over the camera frame. With `panels`: the camera frame, then one panel per
    map side by side. No map: the frame as it is (an overlay recorded on the car). The camera panel carries the
    steering lines and, below it, the user's and the pilot's values and how to read the lines; a map panel
    carries what the map is, its colour bar and what its ends mean. A video draws its frames with one
    `Composer`, which draws the same pixels faster.
    """
    return Composer(alpha, scale, panels)(frame, views, index, user, pilot, tub)


def _framed(picture, title, foot):
    """A picture between a band with `title` above (none without a title) and the band `foot` below."""
    parts = [picture, foot.draw()]
    if title:
        head = Band(picture.shape[1])
        head.text(title)
        parts.insert(0, head.draw())
    return np.concatenate(parts)


def labelled(frame, view, alpha, scale=2):
    """The frame with one map over it, enlarged, its title above (when it has one) and its colour bar below
    (the API's picture): no empty band."""
    picture = enlarge(overlay(frame, view.values, alpha, view.signed), scale)
    foot = Band(picture.shape[1])
    foot.bar(view.signed, view.ends)
    return _framed(picture, view.title, foot)


def stream_picture(overlaid, angle, throttle, title, signed, ends, scale=2, alarm=None):
    """The car's stream frame: the overlay enlarged with the pilot's steering line, its label above, and below
    the pilot's steering and throttle in words, the health alarm's state in words (a row of its own, the same
    size whether it is on or off; None: health off, no row), and the colour bar (angle/throttle None: not known
    yet)."""
    picture = enlarge(np.asarray(overlaid, np.uint8), scale)
    known = angle is not None and throttle is not None
    if known:
        steering_line(picture, angle, throttle, PILOT_COLOUR, side=+1)
    foot = Band(picture.shape[1])
    foot.text(_pilot_words((angle, throttle) if known else None), PILOT_COLOUR)
    if alarm is not None:
        foot.text(ALARM_WORDS if alarm else HEALTHY_WORDS, ALARM_COLOUR if alarm else TEXT_COLOUR)
    foot.bar(signed, ends)
    return _framed(picture, title, foot)
