"""The report's rules on hand-made inputs, without TensorFlow: the advice at each threshold, and what the pass
collects (takeovers, their window, the conspicuity comparison)."""
import numpy as np
import pytest

from donkey_saliency.offline.report import findings
from donkey_saliency.offline.report.collect import LONGEST_WINDOW, WINDOW_FRAMES, Collector

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)


LINES = {'surface_edge': 40, 'skyline': 16, 'config_roi_crop_top': None}


def point(row, change, se=0.01, attention=0.1, share=0.3):
    return {'row': row, 'attention_above': attention, 'steering_change': change, 'steering_change_se': se,
            'changed_share': share, 'error_swapped': 0.2, 'error_original': 0.1, 'frames': 200}


def found(edge=0.0, sky=0.0, bias=0.0, bias_se=0.01, left=0.4, right=0.4, lines=None, attention=0.1, **more):
    """A model's findings: the crop curve at the skyline (row 16) and the surface edge (row 40), the mirror test."""
    return dict({'lines': dict(LINES, **(lines or {})), 'attention_above_horizon': attention,
                 'crop_curve': [point(16, sky, attention=attention / 2), point(40, edge, attention=attention),
                                point(120, 0.5, attention=1.0)],
                 'mirror': {'bias': bias, 'bias_se': bias_se, 'mean_abs': abs(bias), 'frames': 200},
                 'steering': {'left_share': left, 'right_share': right},
                 'conspicuous': {'correlation': 0.1, 'warning': False}}, **more)


SE = 0.01
JUST_UNDER = 1e-6


@pytest.mark.parametrize('change, suggested', [
    (findings.CROP_CHANGE + 2 * SE - JUST_UNDER, None),   # the threshold, but not by two standard errors
    (findings.CROP_CHANGE + 2 * SE, 40)])                  # at it
def test_crop_is_suggested_at_the_surface_edge_from_the_threshold_and_two_standard_errors_on(change, suggested):
    advice = findings.advice(found(edge=change))
    assert advice['roi_crop_top'] == suggested
    assert ('no crop needed' in advice['why'][0]) == (suggested is None)
    assert ('ROI_CROP_TOP = 40 with \'CROP\'' in advice['why'][0]) == (suggested == 40)


def test_a_large_standard_error_holds_the_crop_back():
    assert findings.advice(found(edge=0.3))['roi_crop_top'] == 40
    assert findings.advice(dict(found(), crop_curve=[point(40, 0.3, se=0.13)]))['roi_crop_top'] is None


@pytest.mark.parametrize('sky, walls', [
    (0.2 * (1 - findings.WALLS_SHARE) + 1e-6, False),  # just under WALLS_SHARE of the change lies between
    (0.2 * (1 - findings.WALLS_SHARE), True)])          # at it
def test_the_walls_line_comes_when_most_of_the_dependence_lies_between_skyline_and_edge(sky, walls):
    why = findings.advice(found(edge=0.2, sky=sky))['why']
    said = [line for line in why if 'removes only the room' in line]
    assert bool(said) == walls
    if walls:
        assert 'row 16' in said[0] and 'row 40' in said[0] and 'a crop at 16' in said[0]
    assert findings.advice(found(edge=0.2, sky=sky))['roi_crop_top'] == 40  # one row for the decision, walls or not


@pytest.mark.parametrize('scenery, words, walls', [
    ('walls', 'the walls above the floor\'s far edge (row 40)', True), (None, 'what lies above', True),
    ('road', 'the scenery beyond the road\'s far end', False), ('open', 'what lies above', False)])
def test_the_crops_words_fit_the_place_and_hills_beside_a_road_are_not_walls(scenery, words, walls):
    """A skyline over a road through grass is hills: no walls line there, one crop."""
    advice = findings.advice(found(edge=0.2, sky=0.0, scenery=scenery))
    assert words in advice['why'][0] and 'day to day' not in advice['why'][0]
    assert (advice['crop_choices'] is not None) == walls


def test_no_walls_line_without_a_skyline():
    why = findings.advice(found(edge=0.2, sky=0.0, lines={'skyline': None}))['why']
    assert not [line for line in why if 'removes only the room' in line]


@pytest.mark.parametrize('attention, said', [(findings.ATTENTION_HIGH - 0.001, False), (findings.ATTENTION_HIGH, True)])
def test_attention_the_pilot_does_not_use_is_said(attention, said):
    why = findings.advice(found(edge=0.0, attention=attention))['why']
    assert any('lights up what the pilot does not use' in line and 'above row 40' in line for line in why) == said


def test_attention_the_pilot_uses_is_not_called_unused():
    why = findings.advice(found(edge=0.3, attention=0.9))['why']
    assert not any('does not use' in line and 'above row 40' in line for line in why)
    assert any('does not use' in line and 'above row 16' in line for line in why)  # the room: unused


def test_a_car_that_already_crops_gets_no_second_crop_row():
    advice = findings.advice(found(edge=0.3, lines={'config_roi_crop_top': 45}), cropped=True)
    assert advice['roi_crop_top'] is None and 'already crops' in advice['why'][0]


def test_a_configured_crop_the_car_does_not_apply_is_said_beside_the_one_crop_row():
    advice = findings.advice(found(edge=0.3, lines={'config_roi_crop_top': 45}, attention_above_roi_crop_top=0.9),
                             cropped=False)
    assert advice['roi_crop_top'] == 40
    unapplied = [line for line in advice['why'] if 'does not crop' in line]
    assert len(unapplied) == 1 and 'ROI_CROP_TOP = 45' in unapplied[0] and 'the crop suggested above is at row 40' \
        in unapplied[0]


@pytest.mark.parametrize('bias, flip', [
    (findings.FLIP_BIAS + 2 * SE - JUST_UNDER, False), (findings.FLIP_BIAS + 2 * SE, True),
    (-(findings.FLIP_BIAS + 2 * SE - JUST_UNDER), False), (-(findings.FLIP_BIAS + 2 * SE), True)])
def test_flip_is_suggested_from_the_side_bias_threshold_and_two_standard_errors_on(bias, flip):
    advice = findings.advice(found(bias=bias, bias_se=SE, left=0.4, right=0.4))  # whatever the records' lean
    assert advice['flip_augmentation'] is flip
    flip_line = advice['why'][-1]
    assert ('flip-augment: `donkey saliency mirror`' in flip_line) == flip
    if flip:
        assert f'a {"right" if bias > 0 else "left"} lean' in flip_line


def test_records_that_lean_from_an_unbiased_pilot_are_said_to_need_no_flip():
    why = findings.advice(found(bias=0.01, left=0.08, right=0.36))['why']
    assert 'the records lean right' in why[-1] and 'has not learnt the lean' in why[-1]
    why = findings.advice(found(bias=0.01, left=0.3, right=0.36))['why']
    assert 'the records lean' not in why[-1] and 'no flip needed' in why[-1]


@pytest.mark.parametrize('lean, said', [(findings.FLIP_STEERING - 1e-6, False), (findings.FLIP_STEERING, True)])
def test_records_lean_from_the_threshold_on(lean, said):
    why = findings.advice(found(bias=0.0, left=0.25, right=0.25 + lean))['why']
    assert ('the records lean right' in why[-1]) == said


@pytest.mark.parametrize('value, threshold, text', [
    (0.1998, 0.2, '19.98%'), (0.2, 0.2, '20.0%'), (0.2004, 0.2, '20.0%'), (0.0499, 0.05, '0.0499'),
    (0.05, 0.05, '0.050'), (0.123, None, '0.123')])
def test_figures_are_printed_with_enough_digits_for_the_comparison_to_read_true(value, threshold, text):
    percent = text.endswith('%')
    assert findings.shown(value, threshold, percent=percent) == text


def later(edge=0.0, bias=0.0, error=0.1, sky=0.0):
    model = found(edge=edge, bias=bias, sky=sky)
    for p in model['crop_curve']:
        p['error_original'] = error
    return model


def test_what_changed_says_the_crop_worked_when_the_dependence_is_gone_and_the_error_not_worse():
    first = later(edge=0.3)
    first['advice'] = findings.advice(first)
    [crop] = findings.what_changed(first, later(edge=0.0, error=0.1 + findings.ERROR_SLACK))
    assert crop['finding'] == 'crop' and crop['worked'] is True and crop['before']['row'] == 40
    assert crop['before']['steering_change'] == 0.3 and crop['after']['steering_change'] == 0.0
    assert findings.what_changed(first, later(edge=0.0, error=0.1 + findings.ERROR_SLACK + 0.001))[0]['worked'] is False
    assert findings.what_changed(first, later(edge=0.3))[0]['worked'] is False  # still depends


def test_what_changed_says_the_flip_worked_when_the_bias_is_gone():
    first = later(bias=0.5)
    first['advice'] = findings.advice(first)
    [flip] = findings.what_changed(first, later(bias=0.05))
    assert flip['finding'] == 'flip' and flip['worked'] is True and flip['before']['bias'] == 0.5
    assert findings.what_changed(first, later(bias=0.4))[0]['worked'] is False


def test_what_changed_names_the_condition_that_failed_with_its_figures_and_what_to_try():
    first = later(edge=0.3)
    first['advice'] = findings.advice(first)
    [worse] = findings.what_changed(first, later(edge=0.0, error=0.1 + findings.ERROR_SLACK + 0.001))
    assert worse['failed'] == ['the error against the driver rose 0.100 -> 0.121, beyond the 0.02 allowed']
    assert 'train longer' in worse['try'] and 'neither pilot trained on' in worse['try']
    [still] = findings.what_changed(first, later(edge=0.3))
    [still_there] = still['failed']
    assert 'still moves by 0.300' in still_there and 'above 40' in still_there
    [fine] = findings.what_changed(first, later(edge=0.0))
    assert fine['failed'] == [] and fine['try'] is None
    flipped = later(bias=0.5)
    flipped['advice'] = findings.advice(flipped)
    [flip] = findings.what_changed(flipped, later(bias=0.4, error=0.5))
    assert flip['failed'][0].startswith('the side bias is still +0.400') and 'rose 0.100 -> 0.500' in flip['failed'][1]


def test_a_test_that_did_not_run_is_the_headline_never_a_clean_bill():
    ran = findings.advice(found())
    assert ran['not_tested'] == [] and findings.headline(ran) == 'nothing to change'
    short = findings.advice(found(not_tested=[{'test': 'crop', 'why': 'too short'}]))
    assert short['not_tested'] == [{'test': 'crop', 'why': 'too short'}] and short['roi_crop_top'] is None
    assert findings.headline(short) == 'crop not tested: too short' and short['why'][0] == 'crop not tested: too short'
    unmirrored = dict(found(), mirror={'bias': None, 'bias_se': None, 'mean_abs': None, 'frames': 0})
    assert findings.headline(findings.advice(unmirrored)) == 'flip not tested: no frames to mirror'
    both = findings.advice(found(edge=0.3, sky=0.3, bias=0.5, not_tested=[]))
    assert findings.headline(both).startswith('crop the top: ROI_CROP_TOP = 40') and 'flip-augment' in \
        findings.headline(both)


def test_an_edge_at_the_top_row_is_not_a_crop_test():
    advice = findings.advice(found(edge=0.3, lines={'surface_edge': 0}))
    assert advice['roi_crop_top'] is None and advice['not_tested'][0]['test'] == 'crop'
    assert '--horizon ROW' in advice['not_tested'][0]['why'] and 'nothing to change' not in findings.headline(advice)


def test_where_the_walls_line_applies_the_headline_gives_both_crops():
    advice = findings.advice(found(edge=0.2, sky=0.0))
    assert advice['crop_choices'] == [40, 16] and advice['roi_crop_top'] == 40
    assert findings.headline(advice) == ('crop at 40 removes the walls it steers by; at 16 only the room: retrain '
                                         'with each and compare')
    assert findings.advice(found(edge=0.2, sky=0.2))['crop_choices'] is None  # the room moves it as much


@pytest.mark.parametrize('share, said', [(findings.FLOOR_COST, False), (findings.FLOOR_COST + 1e-6, True)])
def test_the_crops_cost_in_floor_is_said_when_over_its_threshold(share, said):
    model = found(edge=0.3)
    model['crop_curve'][1]['floor_above'] = share
    advice = findings.advice(model)
    assert advice['floor_above_crop'] == share
    assert any('of the surface the car drives on lies above row 40' in line for line in advice['why']) == said


def test_attention_above_the_pilots_own_crop_is_said_to_be_masked_not_unused():
    masked = findings.advice(found(edge=0.0, attention=0.5, lines={'config_roi_crop_top': 40}), cropped=True)['why']
    assert any('the pilot\'s own CROP masks (ROI_CROP_TOP = 40' in line and 'above row 40' in line for line in masked)
    assert not any('does not use' in line and 'above row 40' in line for line in masked)
    unmasked = findings.advice(found(edge=0.0, attention=0.5, lines={'config_roi_crop_top': 40}), cropped=False)['why']
    assert any('does not use' in line and 'above row 40' in line for line in unmasked)


def record(index, mode, time, tub='tub', angle=0.0):
    return {'_index': index, '_timestamp_ms': None if time is None else time * 1000.0, '_tub': tub,
            'user/mode': mode, 'user/angle': angle, 'user/throttle': 0.3}


SMALL = {'surface_edge': 4, 'skyline': None, 'config_roi_crop_top': None}


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
        conspicuous = findings.model_findings(collector, 0, 'm.h5', 'linear', SMALL, method)['conspicuous']
        assert conspicuous['warning'] is warned
        if method == 'spectral-residual':
            assert conspicuous['correlation'] is None
    assert findings.model_findings(same, 0, 'm.h5', 'linear', SMALL, 'vbp')['conspicuous']['correlation'] == 1.0


def test_blank_maps_are_left_out_of_the_shares():
    records = [record(i, 'user', i / 10) for i in range(4)]
    maps = np.zeros((4, 12, 16))
    maps[1, 0] = 1.0  # one frame with attention, all in row 0: the top band, above the horizon (row 4)
    model = findings.model_findings(collect(records, maps), 0, 'm.h5', 'linear', SMALL, 'vbp')
    assert model['attention_above_horizon'] == 1.0 and model['bands'][0]['share'] == pytest.approx(1.0)
    blank = findings.model_findings(collect(records, np.zeros((4, 12, 16))), 0, 'm.h5', 'linear', SMALL, 'vbp')
    assert blank['attention_above_horizon'] is None


def test_tied_disagreements_spread_over_the_run():
    """Bang-bang steering: the pilot steers 0 and the driver always +1, every disagreement ties at 1.0; the
    twelve moments shown spread over the 2,000 records (no quarter of the run without one), where taking the
    first ties put them all in its first 240."""
    count = 2000
    collector = collect([record(i, "user", None, angle=1.0) for i in range(count)])
    positions = sorted(m.position for m in collector.largest(collector.user_heaps[0]))
    assert len(positions) == 12
    assert all(b - a >= 20 for a, b in zip(positions, positions[1:]))  # distinct moments still
    assert all(any(q * count / 4 <= p < (q + 1) * count / 4 for p in positions) for q in range(4)), positions


def test_a_crop_on_a_doubtful_edge_is_said_as_doubtful():
    advice = findings.advice(found(edge=0.3, surface_edge_doubt='the frames disagree'))
    assert advice['roi_crop_top'] == 40 and advice['edge_doubtful'] is True
    assert findings.headline(advice).startswith('crop at 40 if the floor ends there: the surface edge found is '
                                                'doubtful') and '--horizon ROW' in findings.headline(advice)
    assert findings.advice(found(edge=0.3))['edge_doubtful'] is False


def test_of_the_two_crops_the_later_pilot_is_judged_at_the_one_it_took():
    first = later(edge=0.2)  # the walls line: crops at 40 and 16
    first['advice'] = findings.advice(first)
    assert first['advice']['crop_choices'] == [40, 16]
    at_sky = later(edge=0.2, sky=0.0)
    at_sky['lines']['config_roi_crop_top'] = 16
    [crop] = findings.what_changed(first, at_sky)
    assert crop['before']['row'] == 16 and crop['worked'] is True  # nothing above 16 moves it
    [crop] = findings.what_changed(first, later(edge=0.2))
    assert crop['before']['row'] == 40 and crop['worked'] is False
