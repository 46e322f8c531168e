"""The report's rules on hand-made inputs, without TensorFlow: the advice at each threshold, and what the pass
collects (takeovers, their window, the conspicuity comparison)."""
import numpy as np
import pytest

from donkey_saliency.offline.report import findings
from donkey_saliency.offline.report.collect import LONGEST_WINDOW, WINDOW_FRAMES, Collector


def found(above=0.05, horizon=40, left=0.4, right=0.4, look_left=0.3, look_right=0.3, **more):
    return dict({'attention_above_horizon': above, 'horizon_row': horizon,
                 'steering': {'left_share': left, 'right_share': right},
                 'columns': {'left': look_left, 'centre': 1 - look_left - look_right, 'right': look_right},
                 'conspicuous': {'correlation': 0.1, 'warning': False}}, **more)


@pytest.mark.parametrize('above, suggested', [(findings.CROP_SHARE - 0.001, None), (findings.CROP_SHARE, 40)])
def test_crop_is_suggested_from_the_threshold_on(above, suggested):
    advice = findings.advice(found(above=above))
    assert advice['roi_crop_top'] == suggested
    assert ('no crop needed' in advice['why'][0]) == (suggested is None)


def test_a_car_that_crops_below_the_horizon_already_gets_no_crop_advice():
    assert findings.advice(found(above=0.5), crop_top=45, cropped=True)['roi_crop_top'] is None
    assert 'already crops' in findings.advice(found(above=0.5), crop_top=45, cropped=True)['why'][0]
    assert findings.advice(found(above=0.5), crop_top=30, cropped=True)['roi_crop_top'] == 40  # not enough


@pytest.mark.parametrize('share, suggested', [(findings.CROP_SHARE - 0.001, None), (findings.CROP_SHARE, 45)])
def test_a_configured_crop_the_car_does_not_apply_is_said_and_suggested_when_attended(share, suggested):
    advice = findings.advice(found(attention_above_roi_crop_top=share), crop_top=45, cropped=False)
    assert advice['roi_crop_top'] == suggested
    assert 'does not crop' in advice['why'][1]
    assert ('add \'CROP\'' in advice['why'][1]) == (suggested is not None)


OVER, UNDER = 0.001, -0.001  # just past a threshold, just short of it


@pytest.mark.parametrize('steering, looking, flip', [
    ((0.3, 0.3 + findings.FLIP_STEERING + OVER), (0.2, 0.2 + findings.FLIP_ATTENTION + OVER), True),  # both right
    ((0.3 + findings.FLIP_STEERING + OVER, 0.3), (0.2 + findings.FLIP_ATTENTION + OVER, 0.2), True),  # both left
    ((0.3, 0.3 + findings.FLIP_STEERING + UNDER), (0.2, 0.2 + findings.FLIP_ATTENTION + OVER), False),  # steering
    ((0.3, 0.3 + findings.FLIP_STEERING + OVER), (0.2, 0.2 + findings.FLIP_ATTENTION + UNDER), False),  # attention
    ((0.3, 0.3 + findings.FLIP_STEERING + OVER), (0.2 + findings.FLIP_ATTENTION + OVER, 0.2), False),  # opposite
])
def test_flip_needs_steering_and_attention_leaning_the_same_way(steering, looking, flip):
    advice = findings.advice(found(left=steering[0], right=steering[1], look_left=looking[0], look_right=looking[1]))
    assert advice['flip_augmentation'] is flip
    if flip:
        side = 'right' if steering[1] > steering[0] else 'left'
        assert f'both lean {side}' in advice['why'][1] and 'flip-augment' in advice['why'][1]


def record(index, mode, time, tub='tub', angle=0.0):
    return {'_index': index, '_timestamp_ms': None if time is None else time * 1000.0, '_tub': tub,
            'user/mode': mode, 'user/angle': angle, 'user/throttle': 0.3}


def collect(records, pilot_maps=None, control_maps=None, shape=(12, 16)):
    """A Collector fed one batch: one pilot whose maps and outputs are given or random."""
    rng = np.random.default_rng(0)
    count = len(records)
    pilot_maps = rng.random((count,) + shape) if pilot_maps is None else pilot_maps
    control_maps = rng.random((count,) + shape) if control_maps is None else control_maps
    collector = Collector(1, shape, 4, count)
    collector.add(records, [np.zeros(shape + (3,), np.uint8)] * count,
                  [(np.zeros(count), np.full(count, 0.3), pilot_maps)], control_maps)
    return collector


def test_takeovers_and_the_three_seconds_before_them():
    """Ten records a second: the pilot drives 6 s, the user takes over, drives, the pilot again (local_angle),
    then the user: two takeovers, each with the frames of the 3 s before it, itself included."""
    modes = ['local'] * 60 + ['user'] * 10 + ['local_angle'] * 20 + ['user'] * 5
    collector = collect([record(i, mode, i / 10) for i, mode in enumerate(modes)])
    assert [(t.position, t.mode_before) for t in collector.takeovers] == [(60, 'local'), (90, 'local_angle')]
    assert collector.takeovers[0].before == list(range(30, 61))  # 3.0 s back: records 30..60
    assert collector.takeovers[1].before == list(range(60, 91))
    assert [len(t.pictures) for t in collector.takeovers] == [4, 4]


def test_no_takeover_across_tubs_or_without_the_pilot():
    records = ([record(i, 'local', i / 10, tub='a') for i in range(10)]
               + [record(i, 'user', 1 + i / 10, tub='b') for i in range(10)]  # tub b begins with the user
               + [record(10 + i, mode, 2 + i / 10, tub='b') for i, mode in enumerate(['user', None, 'local', None,
                                                                                      'user'])])
    collector = collect(records)
    assert [t.position for t in collector.takeovers] == [24]  # missing modes change nothing
    assert collector.takeovers[0].before[0] == 10  # the window stops at tub b's first record


def test_records_without_time_keep_the_last_frames_instead():
    modes = ['local'] * 100 + ['user']
    collector = collect([record(i, mode, None) for i, mode in enumerate(modes)])
    assert collector.takeovers[0].before == list(range(len(modes) - WINDOW_FRAMES, len(modes)))


def test_the_window_before_a_takeover_has_a_longest():
    """Records written faster than any car's loop (all within a second): the frames kept stay bounded."""
    modes = ['local'] * 500 + ['user']
    collector = collect([record(i, mode, i / 1000) for i, mode in enumerate(modes)])
    assert collector.takeovers[0].before == list(range(len(modes) - LONGEST_WINDOW, len(modes)))
    assert len(collector.recent) <= LONGEST_WINDOW


def test_attention_that_is_the_conspicuity_map_is_flagged_and_the_control_itself_is_not_compared():
    records = [record(i, 'user', i / 10, angle=0.1) for i in range(8)]
    maps = np.random.default_rng(1).random((8, 12, 16))
    same = collect(records, maps, maps)
    other = collect(records, maps, np.random.default_rng(2).random((8, 12, 16)))
    for collector, method, warned in ((same, 'vbp', True), (other, 'vbp', False), (same, 'spectral-residual', False)):
        conspicuous = findings.model_findings(collector, 0, 'm.h5', 'linear', 4, method)['conspicuous']
        assert conspicuous['warning'] is warned
        if method == 'spectral-residual':
            assert conspicuous['correlation'] is None
    assert findings.model_findings(same, 0, 'm.h5', 'linear', 4, 'vbp')['conspicuous']['correlation'] == 1.0


def test_blank_maps_are_left_out_of_the_shares():
    records = [record(i, 'user', i / 10) for i in range(4)]
    maps = np.zeros((4, 12, 16))
    maps[1, 0] = 1.0  # one frame with attention, all in row 0: the top band, above the horizon (row 4)
    model = findings.model_findings(collect(records, maps), 0, 'm.h5', 'linear', 4, 'vbp')
    assert model['attention_above_horizon'] == 1.0 and model['bands'][0]['share'] == pytest.approx(1.0)
    blank = findings.model_findings(collect(records, np.zeros((4, 12, 16))), 0, 'm.h5', 'linear', 4, 'vbp')
    assert blank['attention_above_horizon'] is None and blank['advice']['why'][0].startswith('every map was blank')
