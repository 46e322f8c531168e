"""The numbers the report's advice rests on, against plain loops, without TensorFlow: a signed map's attention is
its magnitude, records without a user angle count in no steering share, and a blank map counts as blank."""
import math

import numpy as np
import pytest

from donkey_saliency.core import attention
from donkey_saliency.offline.report import findings
from donkey_saliency.offline.report.collect import Collector, slim

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)


def plain_share_above(signed_map, row):
    """The share of |map| in the rows above `row`, a loop over pixels."""
    total = above = 0.0
    for r, line in enumerate(signed_map):
        for value in line:
            total += abs(value)
            above += abs(value) if r < row else 0.0
    return above / total


def test_a_signed_maps_attention_is_its_magnitude():
    """A steering map pushes left (negative) in the top rows and right below: both are attention. Taken without
    |map|, the top's -3 would cancel the bottom's +1 (or make negative shares)."""
    signed = np.zeros((3, 12, 16))
    signed[:, :4] = -3.0
    signed[:, 4:] = 1.0
    signed[1, 0, 0] = 5.0  # a mixed frame
    mass = attention.mass(signed)
    assert (mass >= 0).all() and mass.sum(axis=(1, 2)) == pytest.approx([1, 1, 1])
    for frame, frame_mass in zip(signed, mass):
        assert frame_mass[:4].sum() == pytest.approx(plain_share_above(frame, 4))
    records = [{'_index': i, '_tub': 't', 'user/angle': 0.0, 'user/throttle': 0.3} for i in range(3)]
    collector = Collector(1, (12, 16), 4, 3)
    collector.add(records, [np.zeros((12, 16, 3), np.uint8)] * 3, [(np.zeros(3), np.zeros(3), signed)],
                  np.ones((3, 12, 16)))
    found = findings.model_findings(collector, 0, 'm.h5', 'linear',
                                    {'surface_edge': 4, 'skyline': None, 'config_roi_crop_top': None}, 'gradients')
    expected = np.mean([plain_share_above(frame, 4) for frame in signed])
    assert found['attention_above_horizon'] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize('missing', [None, 'NaN', math.nan, 'left'])
def test_records_without_a_user_angle_count_in_no_steering_share(missing):
    """Four records steer (two right, one left, one straight), three have no usable angle: the shares are of the
    four, as a plain count says (2/4 right, 1/4 left), not of the seven."""
    angles = [0.5, 0.3, -0.4, 0.0]
    records = [{'user/angle': a} for a in angles] + [{'user/angle': missing}, {'user/angle': missing}, {}]
    read = [slim(r)['user_angle'] for r in records]
    known = [a for a in read if not math.isnan(a)]
    assert len(known) == 4
    shares = findings.steering_shares(read)
    assert shares == {'right_share': sum(a > findings.LEAN for a in known) / 4,
                      'left_share': sum(a < -findings.LEAN for a in known) / 4} == {'right_share': 0.5,
                                                                                   'left_share': 0.25}


def test_a_blank_map_is_counted_blank_and_the_others_not():
    """Frames whose map is all zero are counted in `blank`; a map with one non-zero pixel, or negative values
    only, is not blank."""
    maps = np.zeros((5, 12, 16))
    maps[1, 5, 5] = 1e-9
    maps[2] = -1.0
    collector = Collector(1, (12, 16), 4, 5)
    collector.add([{'_index': i} for i in range(5)], [np.zeros((12, 16, 3), np.uint8)] * 5,
                  [(np.zeros(5), np.zeros(5), maps)], np.ones((5, 12, 16)))
    assert collector.tracks[0].blank == 3 and collector.tracks[0].attended == 2
