"""Display scaling, checked against plain numpy written from its definition: divide by the clip-th percentile of
the map's magnitude, clip to [0, 1] (signed: [-1, 1]); per frame, or one scale for a run."""
import numpy as np
import pytest

from conftest import picture_rows, read_video, run_main
from donkey_saliency.core.display import frame_scales, run_scale, scaled


def test_the_strongest_one_percent_is_drawn_at_full_strength():
    raw = np.random.default_rng(0).gamma(0.3, size=(3, 120, 160)).astype(np.float32)  # spiky, like gradients
    shown = scaled(raw, False, frame_scales(raw))
    for r, s in zip(raw, shown):
        assert np.isclose(s, 1.0).mean() == pytest.approx(0.01, abs=0.001)
        np.testing.assert_allclose(s, np.minimum(r / np.percentile(r, 99), 1), rtol=1e-5)
    by_peak = raw / raw.max(axis=(1, 2), keepdims=True)  # scaled to the brightest pixel, as before
    assert (shown > 0.1).mean() > 2 * (by_peak > 0.1).mean()  # far more of the structure is visible


def test_signed_maps_keep_their_sign_and_zero():
    raw = np.random.default_rng(1).normal(size=(2, 40, 50)).astype(np.float32)
    raw[:, :5] = 0
    shown = scaled(raw, True, frame_scales(raw, clip=95))
    assert np.array_equal(np.sign(shown), np.sign(raw)) and shown.min() == -1 and shown.max() == 1
    for r, s in zip(raw, shown):
        np.testing.assert_allclose(s, np.clip(r / np.percentile(np.abs(r), 95), -1, 1), rtol=1e-5)


@pytest.mark.parametrize('clip', [0.5, 50, 99, 99.99, 100])
@pytest.mark.parametrize('pixels', [(1, 1), (1, 7), (3, 5), (120, 160)])
def test_the_scale_is_numpys_percentile_at_every_clip_and_size(clip, pixels):
    """The percentile taken from the two pixels at its ranks: numpy's linear rule at the ends (a one-pixel map, clip
    100: the maximum), between ranks and on ties; the maps themselves are left as they were."""
    rng = np.random.default_rng(int(clip * 100) + pixels[1])
    raw = rng.gamma(0.4, size=(4,) + pixels).astype(np.float32) - 0.3
    raw[3] = np.round(raw[3])  # ties
    kept = raw.copy()
    def expected(values):  # the percentile, or the maximum where it is zero
        level = np.percentile(np.abs(values), clip)
        return level if level > 0 else np.abs(values).max()
    for frame, value in zip(raw, frame_scales(raw, clip)):
        assert value == pytest.approx(expected(frame), rel=1e-6)
    assert run_scale(raw, clip) == pytest.approx(expected(raw), rel=1e-6)
    assert np.array_equal(raw, kept)


def guessed_threshold(rows, low):
    """The threshold display._ranked guesses for each row, recomputed from its definition: the sample's value at
    the rank MARGIN below `low`'s share."""
    from donkey_saliency.core import display
    step = rows.shape[1] // display.SAMPLE
    guess = int(len(rows[0, ::step]) * (low / rows.shape[1] - display.MARGIN))
    return np.partition(rows[:, ::step], guess, axis=-1)[:, guess], step


@pytest.mark.parametrize('clip', [95, 99])
def test_the_percentile_stays_exact_where_the_sampled_guess_misleads(clip):
    """At high clips the scale orders only the pixels at or above a threshold guessed from a strided sample; where
    too few lie there, the map is ordered whole. One batch holds maps with one pixel fewer than needed above the
    guess, exactly as many, and one more; a map whose sampled pixels are its brightest; ties; zeros; and an
    ordinary map. Each gives the values that ordering it whole gives, and numpy's percentile."""
    from donkey_saliency.core import display
    rng = np.random.default_rng(int(clip * 100))
    pixels = 120 * 160
    low = int(clip / 100 * (pixels - 1))
    assert low >= display.SAMPLED_FROM * pixels  # the sampled way is the one taken
    rows = []
    for wanted in (pixels - low - 1, pixels - low, pixels - low + 1):  # pixels at or above the guess
        row = rng.random(pixels).astype(np.float32)
        (threshold,), step = guessed_threshold(row[None], low)
        free = np.ones(pixels, bool)
        free[::step] = False  # (the sample stays as it is, and so does the guess)
        over = np.flatnonzero(free & (row >= threshold))
        under = np.flatnonzero(free & (row < threshold))
        kept = int((row >= threshold).sum())
        if kept > wanted:
            row[over[:kept - wanted]] = threshold / 2
        else:
            row[under[:wanted - kept]] = threshold + 1 + rng.random(wanted - kept).astype(np.float32)
        assert (row >= threshold).sum() == wanted
        rows.append(row)
    trap = rng.random(pixels).astype(np.float32)
    trap[::step] = 50 + rng.random(len(trap[::step]))  # the sample: the map's brightest pixels
    rows += [trap, np.round(rng.random(pixels) * 2).astype(np.float32), np.zeros(pixels, np.float32),
             rng.gamma(0.4, size=pixels).astype(np.float32)]
    rows = np.stack(rows)
    threshold, _ = guessed_threshold(rows, low)
    kept = (rows >= threshold[:, None]).sum(axis=1)
    assert list(kept[:3] - (pixels - low)) == [-1, 0, 1] and kept[3] < pixels - low  # the cases arise
    whole = np.sort(rows, axis=-1)
    at_low, at_high = display._ranked(rows.copy(), low, low + 1)
    assert np.array_equal(at_low, whole[:, low]) and np.array_equal(at_high, whole[:, low + 1])
    for frame, value in zip(rows, frame_scales(rows.reshape(-1, 120, 160), clip)):
        level = np.percentile(frame, clip)
        assert value == pytest.approx(level if level > 0 else frame.max(), rel=1e-6)


def test_a_map_with_few_non_zero_pixels_and_a_blank_one():
    raw = np.zeros((2, 50, 50), np.float32)
    raw[0, 10, 10] = 3.0  # under 1% of pixels: the percentile is 0, the maximum is used
    shown = scaled(raw, False, frame_scales(raw))
    assert shown[0, 10, 10] == 1.0 and shown[0].sum() == 1.0 and not shown[1].any()


def test_nan_pixels_are_left_out_of_the_scale_and_drawn_as_zero():
    raw = np.random.default_rng(3).gamma(0.5, size=(3, 30, 40)).astype(np.float32)
    raw[1, :4] = np.nan  # one frame with NaN pixels among frames without
    raw[2, 0, 0] = np.inf
    scales = frame_scales(raw)
    for frame, value in zip(raw, scales):  # a plain loop: the percentile of the frame's numbers alone
        finite = np.abs(frame[~np.isnan(frame)])
        assert value == pytest.approx(np.percentile(finite, 99), rel=1e-6)
    shown = scaled(raw, True, scales)
    assert not np.isnan(shown).any() and not shown[1, :4].any() and shown[2, 0, 0] == 1.0
    np.testing.assert_allclose(shown[0], np.clip(raw[0] / scales[0], -1, 1), rtol=1e-6)


def test_one_scale_for_a_run_keeps_frames_comparable():
    base = np.random.default_rng(2).random((1, 30, 40)).astype(np.float32)
    raw = np.concatenate([base, 0.25 * base])
    per_frame = scaled(raw, False, frame_scales(raw))
    np.testing.assert_allclose(per_frame[0], per_frame[1], atol=1e-6)  # frame scaling hides the difference
    per_run = scaled(raw, False, run_scale(raw))
    assert per_run[1].mean() < 0.35 * per_run[0].mean()  # one scale shows it
    assert run_scale(raw) == pytest.approx(np.percentile(raw, 99))


def test_normalize_run_in_the_video_shows_a_weak_map_weaker(tmp_path):
    """The sample road, the second half of the frames dimmed to a fifth: with --normalize run their maps are
    drawn weaker than the first half's, with the default per-frame scaling they are not; `raw` is the same."""
    pytest.importorskip('donkeycar')
    from donkey_saliency import sample, synthetic
    scenes = list(synthetic.drive(16, seed=8))
    for scene in scenes[8:]:
        scene.image = (scene.image * 0.2).astype(np.uint8)
    tub = synthetic.write_tub(tmp_path / 'tub', scenes, hz=1000)
    saved = {}
    for normalize in ('frame', 'run'):
        result = run_main('--tub', tub, '--model', sample.MODEL, '--normalize', normalize, '--out',
                         tmp_path / f'{normalize}.mp4', '--save-maps', tmp_path / f'{normalize}.npz')
        assert result.returncode == 0, result.stderr
        saved[normalize] = np.load(tmp_path / f'{normalize}.npz')
    np.testing.assert_allclose(saved['frame']['raw'], saved['run']['raw'], rtol=1e-5)
    strong, weak = (saved['run']['maps'][part].mean() for part in (slice(0, 8), slice(8, 16)))
    assert weak < 0.5 * strong
    strong, weak = (saved['frame']['maps'][part].mean() for part in (slice(0, 8), slice(8, 16)))
    assert weak > 0.5 * strong
    # and in the decoded video: the heat colour read back from the pictures is weaker on the dimmed frames
    from test_readable import inferno_level
    frames, _ = read_video(tmp_path / 'run.mp4')
    top, bottom = picture_rows(frames[0], 240, 2)
    camera = np.stack([s.image for s in scenes]).repeat(2, axis=1).repeat(2, axis=2).astype(int)
    heat = inferno_level(np.clip(2 * frames[:, top:bottom].astype(int) - camera, 0, 255))
    assert heat[8:].mean() < 0.6 * heat[:8].mean()


def gaussian_numpy(image, sigma):
    """A plain numpy Gaussian blur, written from its definition: a sampled, normalised kernel of radius 4 sigma
    along the rows and then the columns, the edges mirrored (edge pixel repeated, as OpenCV's BORDER_REFLECT)."""
    radius = int(round(4 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-x ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()
    padded = np.pad(image.astype(np.float64), radius, mode='symmetric')
    rows = np.stack([np.convolve(r, kernel, mode='valid') for r in padded])
    return np.stack([np.convolve(c, kernel, mode='valid') for c in rows.T]).T


def test_pixel_maps_are_drawn_through_a_light_gaussian_and_the_others_untouched():
    """gradients, smoothgrad, integrated-gradients: smoothed for drawing by a Gaussian of sigma 1/80 of the width
    (2 pixels at 160), as plain numpy computes it; signs kept (linear); vbp, gradcam: the very same array."""
    from donkey_saliency.core import display, methods
    raw = np.random.default_rng(5).normal(size=(2, 120, 160)).astype(np.float32)
    for name in ('gradients', 'smoothgrad', 'integrated-gradients'):
        assert methods.get(name).smoothed
        drawn = display.drawable(raw, name)
        for r, d in zip(raw, drawn):
            np.testing.assert_allclose(d, gaussian_numpy(r, 2.0), atol=2e-5)
        np.testing.assert_allclose(display.drawable(-raw, name), -drawn, atol=1e-6)
    for name in ('vbp', 'gradcam', 'occlusion'):
        assert display.drawable(raw, name) is raw


def percentile_clipped(maps, level, signed):
    """The display rule in plain numpy: the maps over a percentile level, clipped to [0, 1] or [-1, 1]."""
    return np.clip(maps / level, -1 if signed else 0, 1)


@pytest.mark.parametrize('method', ['vbp', 'gradients'])
@pytest.mark.parametrize('signed', [False, True])
def test_shown_is_the_one_rule_per_frame_per_run_and_on_a_fixed_scale(method, signed):
    """`shown`, which every drawing place calls, against plain numpy: each frame over its own clip-th percentile
    of |map|, or all frames over the percentile of the whole run, or over a sample's (`sample_scale`), on the map
    as drawn (a smoothed method's blurred map); a map of no method drawn as it is."""
    from donkey_saliency.core.display import sample_scale, shown
    rng = np.random.default_rng(6)
    raw = (rng.gamma(0.4, size=(3, 60, 80)) * rng.choice([-1, 1], size=(3, 60, 80))).astype(np.float32)
    raw[1] *= 0.2  # a weak frame: per frame drawn as strong as the others, per run weaker
    sample = raw[::2] * 3
    drawn = np.stack([gaussian_numpy(r, 1.0) for r in raw]) if method == 'gradients' else raw
    drawn_sample = np.stack([gaussian_numpy(r, 1.0) for r in sample]) if method == 'gradients' else sample
    per_frame = shown(raw, method, signed, 95)
    for d, s in zip(drawn, per_frame):
        np.testing.assert_allclose(s, percentile_clipped(d, np.percentile(np.abs(d), 95), signed), atol=2e-5)
    np.testing.assert_allclose(shown(raw, method, signed, 95, 'run'),
                               percentile_clipped(drawn, np.percentile(np.abs(drawn), 95), signed), atol=2e-5)
    fixed = sample_scale(sample, method, 95)
    assert fixed == pytest.approx(np.percentile(np.abs(drawn_sample), 95), rel=1e-4)
    np.testing.assert_allclose(shown(raw, method, signed, 95, fixed),
                               percentile_clipped(drawn, np.percentile(np.abs(drawn_sample), 95), signed), atol=2e-5)
    assert shown(raw, method, signed, 95, 'run')[1].mean() < 0.5 * per_frame[1].mean()
    np.testing.assert_allclose(shown(raw, signed=signed), percentile_clipped(
        raw, np.percentile(np.abs(raw), 99, axis=(1, 2), keepdims=True), signed), rtol=1e-5)
