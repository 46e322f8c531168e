"""Colour mapping, overlay, steering lines, HUD and legend: drawing checked pixel by pixel."""
import numpy as np
import pytest

from donkey_saliency.offline import draw as render


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
