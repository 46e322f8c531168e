"""core/health.py's numbers against plain loops, at their boundaries, and its Gamma fit against scipy's."""
import math

import numpy as np
import pytest

from donkey_saliency.core import health

pytestmark = pytest.mark.keras3  # numpy only: runs on donkeycar 5.4's stack too (the scipy test skips there)


def plain_numbers(maps, edge):
    """above_edge, change and strength by loops over pixels: each map's |values| over their sum."""
    above, change, strength, previous = [], [], [], None
    for m in maps:
        total = sum(abs(float(v)) for v in m.flat)
        strength.append(total / m.size)
        mass = [[abs(float(v)) / total for v in row] for row in m] if total else None
        above.append(sum(sum(row) for row in mass[:edge]) if mass else math.nan)
        if mass is None or previous is None:
            change.append(math.nan)
        else:
            change.append(sum(abs(a - b) for r, p in zip(mass, previous) for a, b in zip(r, p)) / 2)
        previous = mass
    return {'above_edge': np.array(above), 'change': np.array(change), 'strength': np.array(strength)}


def test_numbers_equal_plain_loops_and_blank_maps_give_none():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(6, 7, 5)).astype(np.float32)  # signed maps: their magnitude is the attention
    maps[3] = 0  # blank: no numbers, and the next map has no change either
    found = health.numbers(maps, 3, scale=0.5)
    expected = plain_numbers(maps, 3)
    expected['strength'] /= 0.5
    assert list(found) == list(health.NUMBERS)
    for name in health.NUMBERS:
        np.testing.assert_allclose(found[name], expected[name], rtol=1e-6)
    change = found['change']
    assert np.isnan(change[[0, 3, 4]]).all() and np.isfinite(change[[1, 2, 5]]).all()
    assert found['strength'][3] == 0 and np.isnan(found['above_edge'][3])


def test_a_series_fed_in_batches_is_the_plain_loop_of_each_tub():
    """Batches that split a tub and join two: the change runs on across batches and starts anew at a new tub; a
    blank map before a batch's end leaves the next batch's first map without one."""
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(9, 6, 4))
    maps[4] = 0
    tubs = ['a'] * 6 + ['b'] * 3
    series = health.Series(edge=6, frame_height=12)  # the edge of a 12-row frame: row 3 of these 6-row maps
    for first, end in ((0, 2), (2, 5), (5, 8), (8, 9)):
        series.add(maps[first:end], tubs[first:end])
    found = series.arrays()
    expected = {name: np.concatenate([plain_numbers(maps[:6], 3)[name], plain_numbers(maps[6:], 3)[name]])
                for name in health.NUMBERS}
    for name in health.NUMBERS:
        np.testing.assert_allclose(found[name], expected[name], rtol=1e-9)
    assert np.isnan(found['change'][[0, 4, 5, 6]]).all() and np.isfinite(found['change'][[1, 2, 3, 7, 8]]).all()


def test_number_boundaries():
    one = np.zeros((1, 4, 4))
    one[0, 0, 0] = 1  # all attention in the top row
    def above(row):
        return health.numbers(one, row)['above_edge'][0]
    assert above(0) == 0 and above(1) == 1 and above(4) == 1 and above(99) == 1
    moved = np.zeros((1, 4, 4))
    moved[0, 3, 3] = 5  # the same mass elsewhere: all of it moved, whatever the scale
    assert health.numbers(moved, 2, previous=one[0])['change'][0] == 1
    assert health.numbers(one * 7, 2, previous=one[0])['change'][0] == 0  # the same map at another scale: none moved


def test_windowed_means_equal_a_plain_loop_and_skip_blank_maps():
    values = np.array([1, 2, np.nan, 4, 5, 6, np.nan, np.nan, 9.0])
    got = health.windowed(values, 3)
    for i in range(len(values)):
        finite = [v for v in values[:i + 1] if not math.isnan(v)]
        expected = sum(finite[-3:]) / 3 if len(finite) >= 3 else math.nan
        assert (math.isnan(got[i]) and math.isnan(expected)) or got[i] == pytest.approx(expected)


def test_the_monitor_gives_the_offline_numbers_and_alarm_map_by_map():
    """The car's map-by-map Monitor and the calibration's arrays follow one rule, at the window's boundary too:
    the alarm needs a full window past a limit, and goes when the window's mean comes back."""
    rng = np.random.default_rng(1)
    maps = rng.random((40, 12, 8)).astype(np.float32)
    maps[15:25, :4] += 3  # attention moves up for ten maps
    maps[30] = 0
    maps[33:] *= 0.1  # and the attention fades from the 34th map: the strength's alarm, from a full window of it
    limits = {'above_edge': 0.55, 'change': 0.9, 'strength': 0.2}
    found = health.numbers(maps, 4, scale=0.5)
    offline = health.alarms(found, limits, window=5)
    monitor = health.Monitor(limits, scale=0.5, edge=8, frame_height=24, window=5)  # frames twice the map's size
    stepped = [monitor.step(m) for m in maps]
    for name in health.NUMBERS:
        np.testing.assert_allclose([numbers[name] for numbers, _ in stepped], found[name], rtol=1e-5)
    assert [alarm for _, alarm in stepped] == list(offline)
    # above_edge is about 1/3, and 14/18 for the ten maps: the mean of 5 passes 0.55 with the third of them (17)
    # and comes back with the eighth after them (27)
    assert health.stretches(offline) == [(17, 26), (37, 39)]
    assert health.stretches([True, False, True, True]) == [(0, 0), (2, 3)]


def test_limits_are_the_gamma_quantiles_of_the_windowed_means():
    rng = np.random.default_rng(2)
    found = {'above_edge': rng.gamma(4, 0.01, 2000), 'change': rng.gamma(9, 0.02, 2000),
             'strength': rng.gamma(30, 1 / 30, 2000)}
    limits = health.limits(found, window=4, confidence=0.9)
    for name, side in (('above_edge', 0.9), ('change', 0.9), ('strength', 0.1)):  # strength: the lower tail
        means = health.windowed(found[name], 4)[3:]
        assert limits[name] == health.gamma_quantile(side, *health.gamma_fit(means))
        assert np.mean(health.past(name, means, limits[name])) == pytest.approx(0.1, abs=0.03)


@pytest.mark.parametrize('shape, scale, count', [(0.4, 2.0, 400), (2.0, 0.1, 200), (60.0, 0.01, 1000),
                                                 (1.0, 1.0, 12), (9.0, 0.003, 30)])
def test_the_gamma_fit_and_quantile_equal_scipys(shape, scale, count):
    stats = pytest.importorskip('scipy.stats', reason='scipy, the independent implementation, is on Python 3.11')
    values = np.maximum(np.random.default_rng(3).gamma(shape, scale, count), health.TINY)
    a, b = health.gamma_fit(values)
    expected_a, _, expected_b = stats.gamma.fit(values, floc=0)
    assert a == pytest.approx(expected_a, rel=1e-7) and b == pytest.approx(expected_b, rel=1e-7)
    for q in (0.05, 0.5, 0.95, 0.999):
        assert health.gamma_quantile(q, a, b) == pytest.approx(stats.gamma.ppf(q, a, scale=b), rel=1e-9)


def test_the_incomplete_gamma_function_equals_scipys_across_both_branches():
    special = pytest.importorskip('scipy.special', reason='scipy, the independent implementation, is on Python 3.11')
    for a in (0.05, 0.7, 1, 3.5, 40, 400):
        for x in (1e-4, 0.3, 1, a, a + 1.5, 10, 60, 800):
            assert health.incomplete_gamma(a, x) == pytest.approx(special.gammainc(a, x), rel=1e-10, abs=1e-14)


def test_a_run_with_no_spread_gives_limits_at_its_value():
    assert health.gamma_fit([0.2] * 10) == (math.inf, 0.0)
    flat = {'above_edge': np.full(30, 0.1), 'change': np.full(30, 0.0), 'strength': np.full(30, 1.0)}
    assert health.limits(flat, window=3) == {'above_edge': pytest.approx(0.1), 'change': 0.0,
                                             'strength': pytest.approx(1.0)}


def test_the_car_keys_name_the_numbers():
    from donkey_saliency.keys import HEALTH_KEYS, HEALTH_TYPES
    assert HEALTH_KEYS == tuple(f'saliency/{name}' for name in health.NUMBERS) + ('saliency/alarm',)
    assert HEALTH_TYPES == ('float',) * len(health.NUMBERS) + ('boolean',)
