"""From what the pass collected to the report's numbers and advice: the JSON's content.

The thresholds live here, named, so that the page, the README and the tests say the same thing:
- a record steers left / right when its user angle is below -LEAN / above LEAN;
- cropping is suggested when at least CROP_SHARE of the attention lies above the horizon (the car's ROI_CROP_TOP,
  when a config gives one, not already below it);
- flip augmentation is suggested when the records lean one way (right share minus left share at least
  FLIP_STEERING, or at most minus it) and the attention leans the same way (right third's share minus the left
  third's at least FLIP_ATTENTION, same sign);
- attention is said to follow what is merely conspicuous when its mean per-frame correlation with the model-free
  spectral-residual map reaches CONSPICUOUS.
"""
import numpy as np

LEAN = 0.05
CROP_SHARE = 0.2
FLIP_STEERING = 0.2
FLIP_ATTENTION = 0.1
CONSPICUOUS = 0.5
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


def model_findings(collector, number, model, kind, horizon, method, crop_top=None, cropped=False):
    """The JSON entry of pilot `number`: where it looks, what that suggests and why, how it agrees with the user.
    `crop_top`, `cropped`: the car config's ROI_CROP_TOP and whether the car applies it."""
    track = collector.tracks[number]
    user_angle = [r['user_angle'] for r in collector.records]
    bands, thirds, above = _mean(track.series('bands')), _mean(track.series('thirds')), _mean(track.series('above'))
    edges = track.band_edges
    found = {'model': model, 'kind': kind, 'horizon_row': int(horizon),
             'attention_above_horizon': _round(above),
             'bands': [{'top': int(edges[i]), 'bottom': int(edges[i + 1]),
                        'share': _round(bands[i]) if bands is not None else None} for i in range(len(edges) - 1)],
             'columns': dict(zip(('left', 'centre', 'right'),
                                 [_round(s) for s in thirds] if thirds is not None else [None] * 3)),
             'steering': steering_shares(user_angle)}
    if crop_top:
        average = track.average
        found['attention_above_roi_crop_top'] = None if average is None else _round(average[:crop_top].sum())
    steering_corr, steering_mae = agreement(track.series('angle'), user_angle)
    throttle_corr, throttle_mae = agreement(track.series('throttle'), [r['user_throttle'] for r in collector.records])
    found['agreement'] = {'steering_corr': steering_corr, 'steering_mae': steering_mae,
                          'throttle_corr': throttle_corr, 'throttle_mae': throttle_mae}
    conspicuous = None if method == MODEL_FREE else _mean(track.series('conspicuous'))
    found['conspicuous'] = {'correlation': _round(conspicuous), 'warning': bool(conspicuous is not None and
                                                                                 conspicuous >= CONSPICUOUS)}
    found['advice'] = advice(found, crop_top, cropped)
    found['disagreements'] = [_moment(collector, m, number) for m in collector.largest(collector.user_heaps[number])]
    per_frame = track.series('angle'), track.series('above')  # once, for every takeover
    found['takeovers'] = [_takeover(collector, takeover, *per_frame) for takeover in collector.takeovers]
    return found


def advice(found, crop_top=None, cropped=False):
    """The suggestions, and a sentence of evidence for each finding, whether it suggests something or not.
    `crop_top`: the car config's ROI_CROP_TOP (None: no config, or none set); `cropped`: whether the car applies
    it ('CROP' among its transformations)."""
    why = []
    above, horizon = found['attention_above_horizon'], found['horizon_row']
    roi = None
    if above is None:
        why.append('every map was blank: no finding on where the pilot looks')
    elif above >= CROP_SHARE and cropped and crop_top >= horizon:
        why.append(f'{above:.0%} of the attention lies above the horizon (row {horizon}), but the car already crops '
                   f'the rows above {crop_top} (ROI_CROP_TOP)')
    elif above >= CROP_SHARE:
        roi = horizon
        why.append(f'{above:.0%} of the attention lies above the horizon (row {horizon}), at least the '
                   f'{CROP_SHARE:.0%} threshold: the pilot uses what is above the road (walls, people, the sky), '
                   f'which changes from day to day; crop it away: ROI_CROP_TOP = {horizon} with \'CROP\' in '
                   'TRANSFORMATIONS, then retrain')
    else:
        why.append(f'{above:.0%} of the attention lies above the horizon (row {horizon}), under the '
                   f'{CROP_SHARE:.0%} threshold: no crop needed')
    unused = found.get('attention_above_roi_crop_top')
    if crop_top and not cropped and unused is not None:
        unapplied = (f'the car config sets ROI_CROP_TOP = {crop_top}, but \'CROP\' is not in its TRANSFORMATIONS, so '
                     f'the car does not crop; {unused:.0%} of the attention lies above row {crop_top}')
        if unused >= CROP_SHARE:
            roi = horizon if roi is not None else crop_top
            why.append(f'{unapplied}, at least the {CROP_SHARE:.0%} threshold: add \'CROP\' to TRANSFORMATIONS, '
                       'then retrain')
        else:
            why.append(unapplied)
    flip = False
    left, right = found['steering']['left_share'], found['steering']['right_share']
    columns = found['columns']
    if left is not None and columns['left'] is not None:
        steer_lean, look_lean = right - left, columns['right'] - columns['left']
        side = 'right' if steer_lean > 0 else 'left'
        evidence = (f'{right:.0%} of the records steer right and {left:.0%} left; the attention is '
                    f'{columns["left"]:.0%} on the left third and {columns["right"]:.0%} on the right')
        flip = abs(steer_lean) >= FLIP_STEERING and abs(look_lean) >= FLIP_ATTENTION and steer_lean * look_lean > 0
        if flip:
            why.append(f'{evidence}: both lean {side} (past {FLIP_STEERING:.0%} and {FLIP_ATTENTION:.0%}); the pilot '
                       f'has learnt {side} bends and the {side} side: drive the track the other way too, or '
                       'flip-augment (mirror each image and negate its steering)')
        else:
            why.append(f'{evidence}: they do not both lean one way past {FLIP_STEERING:.0%} and '
                       f'{FLIP_ATTENTION:.0%}: no flip needed')
    if found['conspicuous']['warning']:
        why.append(f'the attention follows the model-free conspicuity map closely (correlation '
                   f'{found["conspicuous"]["correlation"]:.2f}, at least {CONSPICUOUS}): it may follow what is '
                   'bright or contrasty rather than the road')
    return {'roi_crop_top': roi, 'flip_augmentation': bool(flip), 'why': why}


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
