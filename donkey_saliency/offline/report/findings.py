"""From what the pass and the tests collected to the report's numbers and advice: the JSON's content.

The advice comes from asking the pilot (`core.counterfactual`), not from its map; the thresholds live here,
named, so that the page, the README and the tests say the same thing. A figure "passes" a threshold when the
figure minus two of its standard errors is at least the threshold (so a small or noisy sample does not pass):
- crop: the mean |steering change| when the rows above the surface edge are swapped passes CROP_CHANGE; then a
  crop at the surface edge is suggested, and when at most (1 - WALLS_SHARE) of that change comes from above the
  skyline (the rest from between skyline and edge: walls, barriers) the walls line gives both rows' figures;
- attention above a line of at least ATTENTION_HIGH whose swap does not pass CROP_CHANGE is said to be unused;
- flip: the side bias |mean(f(x) + f(mirror(x)))| passes FLIP_BIAS; records that lean (right share minus left
  share at least FLIP_STEERING either way, a record steering left / right when its user angle is below -LEAN /
  above LEAN) from a pilot without that bias are said to be fine;
- what changed (a later pilot against the first): the finding is gone (no longer passes) and the error against
  the driver on the original frames is not worse by more than ERROR_SLACK;
- attention is said to follow what is merely conspicuous when its mean per-frame correlation with the model-free
  spectral-residual map reaches CONSPICUOUS.
"""
import numpy as np

LEAN = 0.05
CROP_CHANGE = 0.05
WALLS_SHARE = 0.5
ATTENTION_HIGH = 0.2
FLIP_BIAS = 0.15
FLIP_STEERING = 0.2
ERROR_SLACK = 0.02
SE_MARGIN = 2
CONSPICUOUS = 0.5
MODEL_FREE = 'spectral-residual'  # the control itself: compared with itself, it would always warn
MIRROR_COMMAND = 'donkey saliency mirror --tub PATH --out PATH'


def _mean(values):
    values = np.asarray(values, np.float64)
    if values.size == 0 or np.isnan(values).all(axis=0).any():
        return None
    return np.nanmean(values, axis=0)


def _round(value, digits=4):
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def steering_shares(user_angles):
    """Fractions of the records with a user angle whose angle is below -LEAN (left) and above LEAN (right)."""
    angles = np.asarray(user_angles, np.float64)
    angles = angles[np.isfinite(angles)]
    if not len(angles):
        return {'left_share': None, 'right_share': None}
    return {'left_share': _round((angles < -LEAN).mean()), 'right_share': _round((angles > LEAN).mean())}


def agreement(pilot, user):
    """Correlation and mean absolute difference of the pilot's and the user's values where both are known."""
    pilot, user = np.asarray(pilot, np.float64), np.asarray(user, np.float64)
    known = np.isfinite(pilot) & np.isfinite(user)
    if known.sum() < 2:
        return None, None
    p, u = pilot[known], user[known]
    corr = np.corrcoef(p, u)[0, 1] if p.std() > 0 and u.std() > 0 else None
    return _round(corr), _round(np.abs(p - u).mean())


NOT_ASKED = {'crop_curve': [], 'mirror': {'bias': None, 'bias_se': None, 'mean_abs': None, 'frames': 0},
             'not_measured': 'the pilot was not asked'}


def model_findings(collector, number, model, kind, lines, method, cropped=False, tests=NOT_ASKED):
    """The JSON entry of pilot `number`: where it looks, what its answers to the tests suggest and why, how it
    agrees with the user. `lines`: surface_edge, skyline, config_roi_crop_top (its car config's ROI_CROP_TOP);
    `cropped`: whether that car applies it; `tests`: the crop curve and the mirror test (or why not measured)."""
    track = collector.tracks[number]
    user_angle = [r['user_angle'] for r in collector.records]
    bands, thirds, above = _mean(track.series('bands')), _mean(track.series('thirds')), _mean(track.series('above'))
    edges = track.band_edges
    found = {'model': model, 'kind': kind, 'lines': dict(lines), 'horizon_row': int(lines['surface_edge']),
             'attention_above_horizon': _round(above),
             'bands': [{'top': int(edges[i]), 'bottom': int(edges[i + 1]),
                        'share': _round(bands[i]) if bands is not None else None} for i in range(len(edges) - 1)],
             'columns': dict(zip(('left', 'centre', 'right'),
                                 [_round(s) for s in thirds] if thirds is not None else [None] * 3)),
             'steering': steering_shares(user_angle),
             'crop_curve': [{key: _round(value) if isinstance(value, float) else value for key, value in p.items()}
                            for p in tests['crop_curve']],
             'mirror': {key: _round(value) if isinstance(value, float) else value
                        for key, value in tests['mirror'].items()}}
    found['blank_frames'] = track.blank  # maps all zero (a method that saw nothing): left out of every share
    if tests.get('not_measured'):
        found['not_measured'] = tests['not_measured']
    crop_top = lines['config_roi_crop_top']
    if crop_top:
        found['car_crop_applied'] = bool(cropped)
        average = track.average
        found['attention_above_roi_crop_top'] = None if average is None else _round(average[:crop_top].sum())
    steering_corr, steering_mae = agreement(track.series('angle'), user_angle)
    throttle_corr, throttle_mae = agreement(track.series('throttle'), [r['user_throttle'] for r in collector.records])
    found['agreement'] = {'steering_corr': steering_corr, 'steering_mae': steering_mae,
                          'throttle_corr': throttle_corr, 'throttle_mae': throttle_mae}
    conspicuous = None if method == MODEL_FREE else _mean(track.series('conspicuous'))
    found['conspicuous'] = {'correlation': _round(conspicuous), 'warning': bool(conspicuous is not None and
                                                                                 conspicuous >= CONSPICUOUS)}
    found['advice'] = advice(found, cropped)
    found['disagreements'] = [_moment(collector, m, number) for m in collector.largest(collector.user_heaps[number])]
    per_frame = track.series('angle'), track.series('above')  # once, for every takeover
    found['takeovers'] = [_takeover(collector, takeover, *per_frame) for takeover in collector.takeovers]
    return found


def passes(value, se, threshold):
    """Whether a figure passes a threshold: the figure minus SE_MARGIN standard errors is at least it (an unknown
    standard error, from a single frame, counts as infinite)."""
    return value is not None and se is not None and value - SE_MARGIN * se >= threshold


def shown(value, threshold=None, percent=False, digits=3):
    """A figure with enough digits that its comparison with `threshold` reads true (0.1998 is not '0.200' beside
    0.2): at least `digits` decimals (as a percentage: one fewer), more until the rounding keeps the side."""
    scale, unit, least = (100, '%', max(digits - 2, 0)) if percent else (1, '', digits)
    for places in range(least, 9):
        text = f'{value * scale:.{places}f}'
        if threshold is None or (float(text) >= threshold * scale) == (value >= threshold):
            return text + unit
    return f'{value * scale!r}{unit}'


def point_at(found, row):
    """The crop curve's point at `row`, or None."""
    return next((p for p in found['crop_curve'] if p['row'] == row), None)


def _swap_figures(point):
    return (f'swapping the rows above {point["row"]} for those of frames far away in time moves the steering by '
            f'{shown(point["steering_change"], CROP_CHANGE)} on average (SE {shown(point["steering_change_se"])}), '
            f'by more than 0.1 on {shown(point["changed_share"], percent=True)} of frames; its error against the '
            f'driver goes from {shown(point["error_original"])} to {shown(point["error_swapped"])}')


def advice(found, cropped=False):
    """The suggestions, and a sentence of evidence for each finding, whether it suggests something or not.
    `cropped`: whether the car applies its config's ROI_CROP_TOP ('CROP' among its transformations)."""
    why, roi = [], None
    lines = found['lines']
    edge, skyline, crop_top = lines['surface_edge'], lines['skyline'], lines['config_roi_crop_top']
    at_edge = point_at(found, edge)
    if at_edge is None:
        why.append(f'crop not tested: {found.get("not_measured", "no point of the crop curve at the edge")}')
    else:
        depends = passes(at_edge['steering_change'], at_edge['steering_change_se'], CROP_CHANGE)
        if depends and cropped and crop_top and crop_top >= edge:
            why.append(f'{_swap_figures(at_edge)}, although the car already crops the rows above {crop_top} '
                       '(ROI_CROP_TOP with \'CROP\'): check the config the pilot was trained with')
        elif depends:
            roi = edge
            why.append(f'{_swap_figures(at_edge)}: past the {CROP_CHANGE} threshold by two standard errors: the '
                       f'pilot steers by what lies above the floor\'s far edge (row {edge}), which changes from '
                       f'room to room and day to day; crop it: ROI_CROP_TOP = {edge} with \'CROP\' in '
                       'TRANSFORMATIONS, then retrain')
            why.extend(_walls(found, at_edge, skyline))
        else:
            why.append(f'{_swap_figures(at_edge)}: not past the {CROP_CHANGE} threshold by two standard errors: the '
                       f'pilot does not depend on what lies above the floor\'s far edge (row {edge}): no crop needed')
        why.extend(_unused(found, [edge, skyline, crop_top]))
    if crop_top and not cropped:
        unused = found.get('attention_above_roi_crop_top')
        why.append(f'the car config sets ROI_CROP_TOP = {crop_top}, but \'CROP\' is not in its TRANSFORMATIONS, so '
                   f'the car does not crop' + ('' if unused is None else
                                               f'; {shown(unused, percent=True)} of the attention lies above row '
                                               f'{crop_top}') +
                   (f'; the crop suggested above is at row {roi}' if roi is not None and roi != crop_top else ''))
    flip = _flip(found, why)
    if found['conspicuous']['warning']:
        why.append(f'the attention follows the model-free conspicuity map closely (correlation '
                   f'{shown(found["conspicuous"]["correlation"], CONSPICUOUS)}, at least {CONSPICUOUS}): it may '
                   'follow what is bright or contrasty rather than the road')
    return {'roi_crop_top': roi, 'flip_augmentation': bool(flip), 'why': why}


def _walls(found, at_edge, skyline):
    """The walls line: when most of the dependence at the edge lies between the skyline and the edge."""
    at_sky = point_at(found, skyline) if skyline else None
    if at_sky is None or at_edge['steering_change'] <= 0:
        return []
    between = 1 - at_sky['steering_change'] / at_edge['steering_change']
    if between < WALLS_SHARE:
        return []
    return [f'{shown(between, WALLS_SHARE, percent=True)} of that change comes from between the skyline (row '
            f'{skyline}) and the floor\'s far edge (row {at_edge["row"]}): walls or barriers the pilot steers by '
            f'now. Above the skyline the swap moves the steering by {shown(at_sky["steering_change"], CROP_CHANGE)} '
            f'(more than 0.1 on {shown(at_sky["changed_share"], percent=True)} of frames), above the edge by '
            f'{shown(at_edge["steering_change"], CROP_CHANGE)}: cropping at {at_edge["row"]} removes a cue the '
            f'pilot uses now; a crop at {skyline} removes only the room. Retrain with each and compare them '
            '(report --model before.h5 --model after.h5) before keeping either']


def _unused(found, rows):
    """Lines with much attention above them whose swap moves the steering little: the map lights up what the
    pilot does not use."""
    said = []
    for row in sorted({r for r in rows if r}):
        point = point_at(found, row)
        if point is None or point['attention_above'] is None or point['attention_above'] < ATTENTION_HIGH:
            continue
        if not passes(point['steering_change'], point['steering_change_se'], CROP_CHANGE):
            said.append(f'{shown(point["attention_above"], ATTENTION_HIGH, percent=True)} of the attention lies '
                        f'above row {row} (at least {ATTENTION_HIGH:.0%}), yet swapping those rows moves the '
                        f'steering by only {shown(point["steering_change"], CROP_CHANGE)}: the map lights up what '
                        'the pilot does not use')
    return said


def _flip(found, why):
    """Whether to flip-augment, from the mirror test; the records' lean as description beside it."""
    mirror = found['mirror']
    left, right = found['steering']['left_share'], found['steering']['right_share']
    records = ('' if left is None else f' ({shown(right, percent=True)} of the records steer right, '
                                       f'{shown(left, percent=True)} left)')
    if mirror['bias'] is None:
        why.append(f'flip not tested: {found.get("not_measured", "no frames")}')
        return False
    bias, se = mirror['bias'], mirror['bias_se']
    side = 'right' if bias > 0 else 'left'
    figures = (f'shown each frame mirrored, the pilot steers on average {shown(abs(bias), FLIP_BIAS)} further '
               f'{side} than the mirror of its own answer (side bias {bias:+.3f}, SE {shown(se or 0)}, mean |d| '
               f'{shown(mirror["mean_abs"])}, {mirror["frames"]} frames)')
    if passes(abs(bias), se, FLIP_BIAS):
        why.append(f'{figures}: past the {FLIP_BIAS} threshold by two standard errors: it has learnt a {side} '
                   f'lean{records}; flip-augment: `{MIRROR_COMMAND}` writes the mirrored tub, then train on both '
                   'tubs (or drive the track the other way too)')
        return True
    lean = None if left is None else right - left
    if lean is not None and abs(lean) >= FLIP_STEERING:
        why.append(f'the records lean {"right" if lean > 0 else "left"}{records}, but {figures}: not past the '
                   f'{FLIP_BIAS} threshold by two standard errors: the pilot has not learnt the lean; no flip needed')
    else:
        why.append(f'{figures}: not past the {FLIP_BIAS} threshold by two standard errors{records}: no flip needed')
    return False


def what_changed(first, later):
    """For each finding the first pilot was advised on, its figures for the first pilot and for `later` on the
    same frames, and whether the advice worked: the finding gone, the error against the driver not worse by more
    than ERROR_SLACK."""
    changed = []
    row = first['advice']['roi_crop_top']
    before, after = point_at(first, row), point_at(later, row)
    if row is not None and before and after:
        keys = ('row', 'attention_above', 'steering_change', 'steering_change_se', 'changed_share', 'error_original',
                'error_swapped')
        gone = not passes(after['steering_change'], after['steering_change_se'], CROP_CHANGE)
        changed.append({'finding': 'crop', 'before': {k: before[k] for k in keys}, 'after': {k: after[k] for k in keys},
                        'worked': bool(gone and _not_worse(before, after))})
    if first['advice']['flip_augmentation'] and later['mirror']['bias'] is not None:
        error = {'error_original': first['crop_curve'][0]['error_original'] if first['crop_curve'] else None}, \
                {'error_original': later['crop_curve'][0]['error_original'] if later['crop_curve'] else None}
        gone = not passes(abs(later['mirror']['bias']), later['mirror']['bias_se'], FLIP_BIAS)
        changed.append({'finding': 'flip', 'before': dict(first['mirror'], **error[0]),
                        'after': dict(later['mirror'], **error[1]), 'worked': bool(gone and _not_worse(*error))})
    return changed


def _not_worse(before, after):
    if before['error_original'] is None or after['error_original'] is None:
        return True  # no user angles: only the finding itself can be compared
    return after['error_original'] <= before['error_original'] + ERROR_SLACK


def _moment(collector, moment, number):
    record = collector.records[moment.position]
    return {'index': record['index'], 'tub': record['tub'], 'position': moment.position,
            'user_angle': _round(record['user_angle']), 'pilot_angle': _round(moment.angles[number]),
            'user_throttle': _round(record['user_throttle']), 'pilot_throttle': _round(moment.throttles[number])}


def _takeover(collector, takeover, angle, above):
    """A takeover, with the pilot's steering (`angle`) and attention above the horizon (`above`, both per frame
    of the run) over the frames before it."""
    record = collector.records[takeover.position]
    before = takeover.before
    return {'index': record['index'], 'tub': record['tub'], 'position': takeover.position,
            'mode_before': takeover.mode_before,
            'before': {'positions': before, 'pilot_angle': [_round(angle[p]) for p in before],
                       'user_angle': [_round(collector.records[p]['user_angle']) for p in before],
                       'attention_above_horizon': [_round(above[p]) for p in before]}}


def between_pilots(collector):
    """The frames where the pilots' steering differs most (largest spread first)."""
    return [{'index': collector.records[m.position]['index'], 'tub': collector.records[m.position]['tub'],
             'position': m.position, 'pilot_angles': [_round(a) for a in m.angles]}
            for m in collector.largest(collector.between_heap)]
