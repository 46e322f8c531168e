"""Colour mapping, overlay, steering lines, HUD and legend: drawing checked pixel by pixel."""
import numpy as np
import pytest

from donkey_saliency import draw as render

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)


def luminance(rgb):
    rgb = np.asarray(rgb, np.float64)
    return rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722


def test_colour_map_is_perceptually_ordered():
    colours = render.colour_map(np.linspace(0, 1, 256))
    assert colours.shape == (256, 3) and colours.dtype == np.uint8
    lum = luminance(colours)
    assert np.all(np.diff(lum) >= -1.0)  # inferno gets brighter all the way up
    assert lum[-1] - lum[0] > 200


def test_colour_map_clips_out_of_range_values():
    np.testing.assert_array_equal(render.colour_map(np.array([-3.0, 7.0])), render.colour_map(np.array([0.0, 1.0])))


@pytest.mark.parametrize('alpha', [0.0, 0.3, 1.0])
def test_overlay_blends_by_alpha(alpha):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    saliency = rng.random((12, 16))
    expected = (1 - alpha) * frame + alpha * render.colour_map(saliency).astype(np.float64)
    out = render.overlay(frame, saliency, alpha)
    assert np.abs(out.astype(np.float64) - expected).max() <= 1.0


def coloured_pixels(image, colour):
    """Pixels within a small distance of `colour` (lines are antialiased, so their core is near it)."""
    distance = np.abs(image.astype(np.int16) - np.array(colour, np.int16)).sum(axis=-1)
    return np.argwhere(distance < 40)


@pytest.mark.parametrize('angle, side', [(0.8, 1), (-0.8, -1)])
def test_steering_line_tilts_with_the_angle_and_grows_with_throttle(angle, side):
    image = np.zeros((120, 160, 3), np.uint8)
    render.steering_line(image, angle, 0.5, (0, 255, 0), side=0)
    points = coloured_pixels(image, (0, 255, 0))
    top = points[points[:, 0].argmin()]
    assert np.sign(top[1] - 80) == side  # the tip leans to the steering side
    assert 120 - top[0] == pytest.approx((0.25 + 0.65 * 0.5) * 120 * np.cos(np.radians(36)), abs=3)


def test_a_small_throttle_still_draws_a_visible_line():
    """A real car drives at throttle 0.02-0.3: its line must not vanish."""
    lengths = []
    for throttle in (0.0, 0.05, 0.3):
        image = np.zeros((120, 160, 3), np.uint8)
        render.steering_line(image, 0.0, throttle, (0, 255, 0), side=0)
        lengths.append(120 - coloured_pixels(image, (0, 255, 0))[:, 0].min())
    assert lengths[0] >= 25 and lengths[0] < lengths[1] < lengths[2]


def picture_rows(image, value):
    """The rows of the camera panel's picture: those whose first pixels are the (uniform) frame's value."""
    rows = np.flatnonzero(np.all(image[:, :8] == value, axis=(1, 2)))
    return rows.min(), rows.max() + 1


def test_nothing_is_written_over_the_camera_frame_and_every_panel_is_labelled():
    frame = np.full((60, 80, 3), 90, np.uint8)
    image = render.compose(frame, [render.MapView(np.zeros((60, 80)), title='vbp: what drives the conv features')],
                           0.0, 3, 17, user=None, pilot=None)
    top, bottom = picture_rows(image, 90)
    assert bottom - top == 180 and image.shape[1] == 240 and image.shape[0] % 2 == 0
    assert np.all(image[top:bottom] == 90)  # the picture itself: no HUD, no legend, no label on it
    header, footer = image[:top], image[bottom:]
    assert (header.min(axis=-1) > 180).sum() > 30  # the label, white on the band above
    assert (np.abs(footer.astype(int) - render.USER_COLOUR).sum(axis=-1) < 60).sum() > 30  # 'user ...' in green
    inferno = render.colour_map(np.linspace(0, 1, 5))
    for colour in inferno:  # the colour bar, low to high, in the band below
        assert (np.abs(footer.astype(int) - colour).sum(axis=-1) <= 6).any()


def test_compose_scales_the_frame_and_draws_both_lines():
    frame = np.full((60, 80, 3), 90, np.uint8)
    image = render.compose(frame, [render.MapView(np.zeros((60, 80)))], 0.0, 3, 17, user=(0.0, 1.0), pilot=(0.5, 1.0))
    top, bottom = picture_rows(image, 90)
    picture = image[top:bottom]
    assert picture.shape == (180, 240, 3)
    assert len(coloured_pixels(picture, render.USER_COLOUR)) > 50
    assert len(coloured_pixels(picture, render.PILOT_COLOUR)) > 50
    assert np.all(picture[60:120, 20:60] == 90)  # away from the lines, the camera frame unchanged (alpha 0)


def test_compose_without_lines_draws_none():
    frame = np.full((60, 80, 3), 90, np.uint8)
    image = render.compose(frame, [render.MapView(np.zeros((60, 80)))], 0.5, 2, 1, user=None, pilot=None)
    top, bottom = picture_rows(image, render.overlay(frame, np.zeros((60, 80)), 0.5)[0, 0])
    assert len(coloured_pixels(image[top:bottom], render.USER_COLOUR)) == 0
    assert len(coloured_pixels(image[top:bottom], render.PILOT_COLOUR)) == 0


def test_legend_bar_runs_low_to_high_left_to_right():
    frame = np.full((60, 80, 3), 90, np.uint8)
    image = render.compose(frame, [render.MapView(np.zeros((60, 80)))], 0.0, 4, 1)
    bar_row = image[-8 - 1 if image.shape[0] % 2 else -8]
    lum = luminance(bar_row)
    inside = np.flatnonzero(np.abs(bar_row.astype(int) - render.STRIP_COLOUR).sum(axis=-1) > 0)
    run = lum[inside[len(inside) // 3]:inside[2 * len(inside) // 3]]
    assert run[-1] > run[0] + 50  # brighter (stronger) to the right


def test_diverging_map_is_blue_for_left_grey_at_zero_red_for_right():
    left, zero, right = render.colour_map(np.array([-1.0, 0.0, 1.0]), signed=True).astype(int)
    assert left[2] > left[0] + 100 and right[0] > right[2] + 100
    assert np.ptp(zero) < 10 and zero.mean() > 200
    lum = luminance(render.colour_map(np.linspace(-1, 1, 101), signed=True))
    assert lum[50] > lum[0] and lum[50] > lum[-1]  # both ends darker than the neutral middle


def test_signed_overlay_leaves_neutral_pixels_untouched():
    frame = np.full((10, 10, 3), 77, np.uint8)
    values = np.zeros((10, 10))
    values[:, 5:] = 1.0
    out = render.overlay(frame, values, 0.6, signed=True)
    assert np.all(out[:, :5] == 77)
    expected = 0.4 * 77 + 0.6 * render.colour_map(np.array(1.0), signed=True)
    assert np.abs(out[:, 5:].astype(float) - expected).max() <= 1.0


def test_panels_put_camera_and_each_map_side_by_side():
    frame = np.full((60, 80, 3), 90, np.uint8)
    views = [render.MapView(np.ones((60, 80)), title='vbp'),
             render.MapView(-np.ones((60, 80)), signed=True, title='gradcam', ends=('pushes left', 'pushes right'))]
    image = render.compose(frame, views, 1.0, 2, 5, user=(0.0, 0.5), pilot=None, panels=True)
    top, bottom = picture_rows(image, 90)
    assert bottom - top == 120 and image.shape[1] == 480
    assert np.all(image[top + 60:top + 100, 20:60] == 90)  # the camera panel shows the frame itself
    inferno_top = render.colour_map(np.array(1.0))
    blue = render.colour_map(np.array(-1.0), signed=True)
    assert np.abs(image[top + 60:top + 100, 180:220].astype(int) - inferno_top).max() <= 1
    assert np.abs(image[top + 60:top + 100, 340:380].astype(int) - blue).max() <= 1
    for left in (0, 160, 320):  # a label above every panel, the camera's included
        assert (image[:top, left:left + 160].min(axis=-1) > 180).sum() > 10


# -- words that are never cut, at a size that reads, and bands that are never empty ---------------------------

LONG_TITLE = 'integrated-gradients: pixels\' share of the steering'


def white_ink(image):
    """How much white text an image holds: the brightness above the band's grey of its grey pixels (the colour
    bars, the green and the blue words are coloured, so they count for nothing)."""
    image = image.astype(np.int64)
    grey = (image.max(axis=-1) - image.min(axis=-1)) < 12
    return int(np.where(grey, np.clip(image.min(axis=-1) - render.STRIP_COLOUR[0], 0, None), 0).sum())


def ink_of(texts, font):
    """The white ink of each text written alone on a band wide enough for it: what wrapping must keep."""
    total = 0
    for text in texts:
        for word in text.split():  # (spaces carry no ink; words may land on different rows)
            canvas = np.full((60, 40 + 30 * len(word) * 4, 3), render.STRIP_COLOUR, np.uint8)
            cv2.putText(canvas, word, (10, 40), render.FONT, font, (255, 255, 255), 1 if font < 0.7 else 2,
                        cv2.LINE_AA)
            total += white_ink(canvas)
    return total


import cv2  # noqa: E402


@pytest.mark.parametrize('scale', [1, 2, 3])
@pytest.mark.parametrize('panels', [False, True])
def test_every_word_is_written_whole_at_every_scale(scale, panels):
    """A 160x120 camera frame at --scale 1, 2, 3, overlay and panels: the white words drawn (the label, how to
    read the lines, the map's title, the bar's ends) hold all the ink of those words written alone at the
    band's font: nothing is cut ('pixels that move the ste..') or clipped at an edge. Before, the title at 320
    pixels ended '..'. And the words are big enough to read: capitals at least 9 pixels tall at --scale 1."""
    frame = np.full((120, 160, 3), 60, np.uint8)
    view = render.MapView(np.zeros((120, 160), np.float32), False, LONG_TITLE, ('weak', 'strong'))
    image = render.compose(frame, [view], 0.0, scale, 123456, user=None, pilot=None, panels=panels)
    top, bottom = picture_rows(image, 60)
    font = render.font_size(160 * scale)
    words = ['camera #123456', render.LINES_HELP, LONG_TITLE, 'weak', 'strong'] + ([view.name] if panels else [])
    drawn = white_ink(image[:top]) + white_ink(image[bottom:])
    assert drawn == pytest.approx(ink_of(words, font), rel=0.04)
    label_rows = np.flatnonzero(image[:top, :, :].min(axis=-1).max(axis=1) > 150)
    if scale == 1:
        assert label_rows.max() - label_rows.min() + 1 >= 9  # 'camera #...': its digits' height
    width = image.shape[1] // (2 if panels else 1)
    for edge in (0, width - 1, image.shape[1] - 1):  # no word reaches a panel's edge
        assert np.all(image[:top, edge] == render.STRIP_COLOUR) and np.all(image[bottom:, edge] == render.STRIP_COLOUR)


def test_the_values_wrap_rather_than_run_off_a_small_picture():
    """At --scale 1 the user's and the pilot's values do not fit one row of 160 pixels: they wrap, and every
    character is there (the green ink of the user's words equals that of the words written alone)."""
    frame = np.full((120, 160, 3), 60, np.uint8)
    image = render.compose(frame, [render.MapView(np.zeros((120, 160)))], 0.0, 1, 7, user=(-0.25, 0.5))
    top, bottom = picture_rows(image, 60)

    def green(picture):
        picture = picture.astype(np.int64)
        return int(np.clip(picture[..., 1] - np.maximum(picture[..., 0], picture[..., 2]), 0, None).sum())
    expected = 0
    for word in 'user steering -0.25 throttle +0.50'.split():
        canvas = np.full((60, 200, 3), render.STRIP_COLOUR, np.uint8)
        cv2.putText(canvas, word, (10, 40), render.FONT, render.font_size(160), render.USER_COLOUR, 1, cv2.LINE_AA)
        expected += green(canvas)
    assert green(image[bottom:]) == pytest.approx(expected, rel=0.04)
    rows = np.flatnonzero(np.abs(image[bottom:].astype(int) - render.USER_COLOUR).sum(axis=-1).min(axis=1) < 60)
    assert rows.max() - rows.min() > render.Band(160).row  # on two rows


@pytest.mark.parametrize('title', ['', 'gradcam on conv2d_3'])
def test_the_apis_picture_has_no_empty_band(title):
    """ds.overlay(image, map): the enlarged picture, and above and below it only bands that carry words or the
    bar, without a blank stretch; without a title, no band above (before: an empty black band)."""
    import donkey_saliency as ds
    frame = np.full((60, 80, 3), 90, np.uint8)
    picture = ds.overlay(frame, np.zeros((60, 80)), title=title)
    top, bottom = picture_rows(picture, render.overlay(frame, np.zeros((60, 80)), 0.5)[0, 0])
    assert bottom - top == 120 and picture.shape[1] == 160
    assert (top == 0) == (not title)
    for band in (picture[:top], picture[bottom:]):
        inked = (np.abs(band.astype(int) - render.STRIP_COLOUR).sum(axis=-1) > 30).any(axis=1)
        blank = max((len(run) for run in ''.join('.' if not i else '|' for i in inked).split('|')), default=0)
        assert blank <= render.Band(160).row // 2, (len(band), blank)  # no band without words or the bar


@pytest.mark.parametrize('panels', [False, True])
def test_a_runs_composer_draws_what_drawing_from_scratch_draws(panels):
    """The video's Composer draws its bands once and reuses them; frame after frame, for records that differ
    (maps, values, lines, missing values, record numbers of other lengths), it gives the very pixels that
    compose() gives drawing each frame from scratch, and the words do change with the record."""
    rng = np.random.default_rng(3)
    composer = render.Composer(0.5, 2, panels)
    drawn = []
    for index, user, pilot in [(7, (0.1, 0.2), (0.3, 0.4)), (1234, (-0.9, 0.05), None), (56, None, (1.0, -0.3)),
                               (99999, (0.0, 0.0), (-0.5, 0.5))]:
        frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
        views = [render.MapView(rng.random((120, 160)).astype(np.float32), False, 'vbp: what drives the conv features'),
                 render.MapView(rng.uniform(-1, 1, (120, 160)).astype(np.float32), True,
                                'gradcam: regions that move the steering', ('pushes left', 'pushes right'))]
        views = views if panels else views[1:]
        cached = composer(frame, views, index, user, pilot)
        np.testing.assert_array_equal(cached, render.compose(frame, views, 0.5, 2, index, user, pilot, panels))
        drawn.append(cached)
    top = render.label_height(2)
    feet = [image[top + 240:] for image in drawn]
    assert not np.array_equal(drawn[0][:top], drawn[1][:top])  # the record's number
    assert all(not np.array_equal(a, b) for a, b in zip(feet, feet[1:]))  # the values
