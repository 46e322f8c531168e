"""From what the pass and the tests collected to the report's numbers and advice: the JSON's content.

The advice comes from asking the pilot (`core.counterfactual`), not from its map; the thresholds live here,
named, so that the page, docs/report.md and the tests say the same thing. A figure "passes" a threshold when the
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
  spectral-residual map reaches CONSPICUOUS;
- a crop's cost: the share of the floor above the crop row (the floor reaches higher in the middle of the image
  than at its sides) is said when it is above FLOOR_COST.
A test that did not run is never a clean bill: `not_tested` names it and why, and the headline says so.
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
FLOOR_COST = 0.05
MODEL_FREE = 'spectral-residual'  # the control itself: compared with itself, it would always warn


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
             'window': 1, 'not_tested': [{'test': test, 'why': 'the pilot was not asked'} for test in ('crop', 'flip')]}


def model_findings(collector, number, model, kind, lines, method, cropped=False, tests=NOT_ASKED, scenery=None,
                   edge_doubt=None):
    """The JSON entry of pilot `number`: where it looks, what its answers to the tests suggest and why, how it
    agrees with the user. `lines`: surface_edge, skyline, config_roi_crop_top (its car config's ROI_CROP_TOP);
    `cropped`: whether that car applies it; `tests`: the crop curve and the mirror test, the frames of the pilot's
    window, and the tests that could not run (`not_tested`); `scenery`: the kind of place (core.attention's
    scenery_kind), for the words of the advice; `edge_doubt`: why the surface edge found is doubtful, or None."""
    track = collector.tracks[number]
    user_angle = [r['user_angle'] for r in collector.records]
    bands, thirds, above = _mean(track.series('bands')), _mean(track.series('thirds')), _mean(track.series('above'))
    edges = track.band_edges
    found = {'model': model, 'kind': kind, 'lines': dict(lines), 'scenery': scenery, 'surface_edge_doubt': edge_doubt,
             'horizon_row': int(lines['surface_edge']),
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
    found['window'] = tests.get('window', 1)
    found['mirrored_inputs'] = list(tests.get('mirrored_inputs', []))
    found['not_tested'] = list(tests.get('not_tested', []))
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
    found['not_tested'] = found['advice']['not_tested']  # (one list: what the advice found not tested too)
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


def _swap_figures(point, window=1):
    where = f', in each of the {window} frames of the pilot\'s window,' if window > 1 else ''
    return (f'swapping the rows above {point["row"]}{where} for those of frames far away in time moves the steering '
            f'by {shown(point["steering_change"], CROP_CHANGE)} on average (SE {shown(point["steering_change_se"])}), '
            f'by more than 0.1 on {shown(point["changed_share"], percent=True)} of frames; its error against the '
            f'driver goes from {shown(point["error_original"])} to {shown(point["error_swapped"])}')


def untested(found, test):
    """Why `test` ('crop' or 'flip') did not run for this pilot, or None when it ran."""
    return next((t['why'] for t in found.get('not_tested', []) if t['test'] == test), None)


def advice(found, cropped=False):
    """The suggestions, a sentence of evidence for each finding, whether it suggests something or not, and the
    tests that did not run (`not_tested`: then no clean bill). `cropped`: whether the car applies its config's
    ROI_CROP_TOP ('CROP' among its transformations)."""
    why, roi, choices = [], None, None
    not_tested = [dict(t) for t in found.get('not_tested', [])]
    lines = found['lines']
    edge, skyline, crop_top = lines['surface_edge'], lines['skyline'], lines['config_roi_crop_top']
    at_edge = point_at(found, edge)
    if untested(found, 'crop') is None and at_edge is None:
        not_tested.append({'test': 'crop', 'why': f'the surface edge came out at row {edge}, the top of the frame: '
                                                 'the floor\'s colour seems to reach it (a sky or scenery like the '
                                                 'road); set the edge with --horizon ROW'})
    crop_why = next((t['why'] for t in not_tested if t['test'] == 'crop'), None)
    if crop_why is not None:
        why.append(f'crop not tested: {crop_why}')
    else:
        depends = passes(at_edge['steering_change'], at_edge['steering_change_se'], CROP_CHANGE)
        figures = _swap_figures(at_edge, found.get('window', 1))
        if depends and cropped and crop_top and crop_top >= edge:
            why.append(f'{figures}, although the car already crops the rows above {crop_top} '
                       '(ROI_CROP_TOP with \'CROP\'): check the config the pilot was trained with')
        elif depends:
            roi = edge
            what, then = PLACES.get(found.get('scenery'), PLACES[None])
            why.append(f'{figures}: past the {CROP_CHANGE} threshold by two standard errors: the pilot steers by '
                       f'{what.format(edge=edge)} rather than by the surface it drives on: {then}; crop it: '
                       f'ROI_CROP_TOP = {edge} with \'CROP\' in TRANSFORMATIONS, then retrain')
            walls = _walls(found, at_edge, skyline) if found.get('scenery') in ('walls', None) else None
            if walls:
                choices = [edge, skyline]
                why.append(walls)
            why.extend(_floor_cost(at_edge))
        else:
            why.append(f'{figures}: not past the {CROP_CHANGE} threshold by two standard errors: the pilot does not '
                       f'depend on what lies above the floor\'s far edge (row {edge}): no crop needed')
        why.extend(_unused(found, [edge, skyline, crop_top], crop_top if cropped else None))
    if crop_top and not cropped:
        unused = found.get('attention_above_roi_crop_top')
        why.append(f'the car config sets ROI_CROP_TOP = {crop_top}, but \'CROP\' is not in its TRANSFORMATIONS, so '
                   f'the car does not crop' + ('' if unused is None else
                                               f'; {shown(unused, percent=True)} of the attention lies above row '
                                               f'{crop_top}') +
                   (f'; the crop suggested above is at row {roi}' if roi is not None and roi != crop_top else ''))
    flip = _flip(found, why, not_tested)
    if found['conspicuous']['warning']:
        why.append(f'the attention follows the model-free conspicuity map closely (correlation '
                   f'{shown(found["conspicuous"]["correlation"], CONSPICUOUS)}, at least {CONSPICUOUS}): it may '
                   'follow what is bright or contrasty rather than the road')
    at_roi = point_at(found, roi) if roi is not None else None
    return {'roi_crop_top': roi, 'flip_augmentation': bool(flip), 'why': why, 'not_tested': not_tested,
            'crop_choices': choices, 'edge_doubtful': roi is not None and bool(found.get('surface_edge_doubt')),
            'floor_above_crop': None if at_roi is None else at_roi.get('floor_above')}


def headline(advice):
    """The one decision of a pilot's advice, in words (the page's and stdout's first line for it): the
    suggestions, then what was not tested; 'nothing to change' only when every test ran and none suggests."""
    said = []
    if advice.get('edge_doubtful'):
        said.append(f'crop at {advice["roi_crop_top"]} if the floor ends there: the surface edge found is doubtful; '
                    'look at the average picture and set it with --horizon ROW, then report again')
    elif advice.get('crop_choices'):
        edge, skyline = advice['crop_choices']
        said.append(f'crop at {edge} removes the walls it steers by; at {skyline} only the room: retrain with each '
                    'and compare')
    elif advice['roi_crop_top'] is not None:
        said.append(f'crop the top: ROI_CROP_TOP = {advice["roi_crop_top"]} with \'CROP\' in TRANSFORMATIONS')
    if advice['flip_augmentation']:
        said.append('flip-augment: mirror the tub, then train on both')
    said += [f'{t["test"]} not tested: {t["why"]}' for t in advice.get('not_tested', [])]
    return '; '.join(said) if said else 'nothing to change'


PLACES = {  # (what the pilot steers by, what then changes its steering), by the kind of place the frames show
    'walls': ('the walls above the floor\'s far edge (row {edge}) and the room beyond them',
              'where they differ (walls moved, another room, people about) its steering changes'),
    'road': ('the scenery beyond the road\'s far end (row {edge}): hills, trees, sky',
             'where that scenery differs (another track, other weather or light) its steering changes'),
    None: ('what lies above the floor\'s far edge (row {edge})',
           'where that differs (another place, other light) its steering changes')}
PLACES['open'] = PLACES[None]


def _walls(found, at_edge, skyline):
    """The walls line, or None: when most of the dependence at the edge lies between the skyline and the edge."""
    at_sky = point_at(found, skyline) if skyline else None
    if at_sky is None or at_edge['steering_change'] <= 0:
        return None
    between = 1 - at_sky['steering_change'] / at_edge['steering_change']
    if between < WALLS_SHARE:
        return None
    return (f'{shown(between, WALLS_SHARE, percent=True)} of that change comes from between the skyline (row '
            f'{skyline}) and the floor\'s far edge (row {at_edge["row"]}): walls or barriers the pilot steers by '
            f'now. Above the skyline the swap moves the steering by {shown(at_sky["steering_change"], CROP_CHANGE)} '
            f'(more than 0.1 on {shown(at_sky["changed_share"], percent=True)} of frames), above the edge by '
            f'{shown(at_edge["steering_change"], CROP_CHANGE)}: cropping at {at_edge["row"]} removes a cue the '
            f'pilot uses now; a crop at {skyline} (ROI_CROP_TOP = {skyline}) removes only the room. Retrain with each '
            'and compare them (report --model before.h5 --model after.h5) before keeping either')


def _floor_cost(point):
    """What a crop at the point's row removes of the surface the car drives on, when that is more than
    FLOOR_COST of it."""
    share = point.get('floor_above')
    if share is None or share <= FLOOR_COST:
        return []
    return [f'the crop costs some of the floor: {shown(share, FLOOR_COST, percent=True)} of the surface the car '
            f'drives on lies above row {point["row"]}, and the pilot would no longer see it']


def _unused(found, rows, masked=None):
    """Lines with much attention above them whose swap moves the steering little: the map lights up what the
    pilot does not use; or, above the pilot's own applied crop (`masked`: its ROI_CROP_TOP), rows it sees black."""
    said = []
    for row in sorted({r for r in rows if r}):
        point = point_at(found, row)
        if point is None or point['attention_above'] is None or point['attention_above'] < ATTENTION_HIGH:
            continue
        share = shown(point['attention_above'], ATTENTION_HIGH, percent=True)
        if masked and row <= masked:
            said.append(f'{share} of the attention lies above row {row}, which the pilot\'s own CROP masks '
                        f'(ROI_CROP_TOP = {masked}: those rows are black on its input): the map\'s weight there '
                        'is the method\'s, not something the pilot sees')
        elif not passes(point['steering_change'], point['steering_change_se'], CROP_CHANGE):
            said.append(f'{share} of the attention lies above row {row} (at least {ATTENTION_HIGH:.0%}), yet '
                        f'swapping those rows moves the steering by only {shown(point["steering_change"], CROP_CHANGE)}'
                        ': the map lights up what the pilot does not use')
    return said


def _flip(found, why, not_tested):
    """Whether to flip-augment, from the mirror test; the records' lean as description beside it."""
    mirror = found['mirror']
    left, right = found['steering']['left_share'], found['steering']['right_share']
    records = ('' if left is None else f' ({shown(right, percent=True)} of the records steer right, '
                                       f'{shown(left, percent=True)} left)')
    if mirror['bias'] is None:
        reason = untested(found, 'flip')
        if reason is None:
            reason = 'no frames to mirror'
            not_tested.append({'test': 'flip', 'why': reason})
        why.append(f'flip not tested: {reason}')
        return False
    bias, se = mirror['bias'], mirror['bias_se']
    side = 'right' if bias > 0 else 'left'
    window = found.get('window', 1)
    each = f'each frame of its {window}-frame window' if window > 1 else 'each frame'
    each += ''.join(f', {what}' for what in found.get('mirrored_inputs', []))
    figures = (f'shown {each} mirrored, the pilot steers on average {shown(abs(bias), FLIP_BIAS)} further '
               f'{side} than the mirror of its own answer (side bias {bias:+.3f}, SE {shown(se or 0)}, mean |d| '
               f'{shown(mirror["mean_abs"])}, {mirror["frames"]} frames)')
    if passes(abs(bias), se, FLIP_BIAS):
        why.append(f'{figures}: past the {FLIP_BIAS} threshold by two standard errors: it has learnt a {side} '
                   f'lean{records}; flip-augment: `donkey saliency mirror` writes the mirrored tub, then train on '
                   'both tubs (or drive the track the other way too)')
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
    than ERROR_SLACK; `failed` says which of the two did not hold, with the figures, and `try` what to do next."""
    changed = []
    row = first['advice']['roi_crop_top']
    own = later['lines'].get('config_roi_crop_top')  # of the two crops offered, the one the later pilot took
    row = own if own in (first['advice'].get('crop_choices') or []) else row
    before, after = point_at(first, row), point_at(later, row)
    if row is not None and before and after:
        keys = ('row', 'attention_above', 'steering_change', 'steering_change_se', 'changed_share', 'error_original',
                'error_swapped')
        still = passes(after['steering_change'], after['steering_change_se'], CROP_CHANGE)
        failed = ([f'the steering still moves by {shown(after["steering_change"], CROP_CHANGE)} (SE '
                   f'{shown(after["steering_change_se"] or 0)}) when the rows above {row} are swapped, past the '
                   f'{CROP_CHANGE} threshold by two standard errors'] if still else []) + _worse(before, after)
        changed.append(_change('crop', {k: before[k] for k in keys}, {k: after[k] for k in keys}, failed))
    if first['advice']['flip_augmentation'] and later['mirror']['bias'] is not None:
        error = {'error_original': first['crop_curve'][0]['error_original'] if first['crop_curve'] else None}, \
                {'error_original': later['crop_curve'][0]['error_original'] if later['crop_curve'] else None}
        bias, se = later['mirror']['bias'], later['mirror']['bias_se']
        still = passes(abs(bias), se, FLIP_BIAS)
        failed = ([f'the side bias is still {bias:+.3f} (SE {shown(se or 0)}), past the {FLIP_BIAS} threshold by '
                   'two standard errors'] if still else []) + _worse(*error)
        changed.append(_change('flip', dict(first['mirror'], **error[0]), dict(later['mirror'], **error[1]), failed))
    return changed


TRY = ('train longer (more epochs, or more laps of driving), then compare again; and compare on a tub neither pilot '
       'trained on, where a shortcut cannot help either')


def _change(finding, before, after, failed):
    return {'finding': finding, 'before': before, 'after': after, 'worked': not failed, 'failed': failed,
            'try': TRY if failed else None}


def _worse(before, after):
    """The error condition, as a sentence when it fails: the later pilot's error against the driver on the
    original frames more than ERROR_SLACK above the first's."""
    if before['error_original'] is None or after['error_original'] is None:
        return []  # no user angles: only the finding itself can be compared
    if after['error_original'] <= before['error_original'] + ERROR_SLACK:
        return []
    return [f'the error against the driver rose {shown(before["error_original"])} -> {shown(after["error_original"])}, '
            f'beyond the {ERROR_SLACK} allowed']


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
