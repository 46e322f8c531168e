"""The car's attention alarm (`saliency/alarm`, recorded with SALIENCY_HEALTH) against the run's takeovers: the
JSON's `alarm`, and each takeover's `warning` (core/alarms.py computes them).
"""
from donkey_saliency.core import alarms
from donkey_saliency.keys import ALARM_KEY

NOT_RECORDED = (f'the alarm was not recorded ({ALARM_KEY} is in no record: on the car, SALIENCY_HEALTH with '
                'SALIENCY_RECORD records it)')


def alarm_findings(result, collector):
    """The JSON's `alarm`: whether it was recorded, its stretches (tub, first and last index, seconds, whether a
    takeover followed), the look-back, and the summary sentence; each takeover of every pilot gets its `warning`
    ({'warned', 'seconds', 'records'} before it, or None when the alarm was not recorded)."""
    alarm = recorded_alarm(collector)
    if alarm is None:
        for model in result['models']:
            for takeover in model['takeovers']:
                takeover['warning'] = None
        return {'recorded': False, 'said': NOT_RECORDED}
    records = collector.records
    tubs, times = [r['tub'] for r in records], [r['time'] for r in records]
    found, warned = alarms.review(alarm, tubs, times, [t.position for t in collector.takeovers])
    for model in result['models']:
        for takeover, warning in zip(model['takeovers'], warned):
            takeover['warning'] = dict(warning, seconds=_rounded(warning['seconds']))
    return {'recorded': True, 'look_back_seconds': alarms.LOOK_BACK_SECONDS,
            'look_back_records': alarms.LOOK_BACK_RECORDS,
            'stretches': [{'tub': records[s.start]['tub'], 'first': records[s.start]['index'],
                           'last': records[s.end]['index'], 'position': s.start,
                           'seconds': _rounded(s.seconds), 'takeover': s.takeover}
                          for s in found],
            'said': alarms.summary(found, warned)}


def recorded_alarm(collector):
    """Per frame of the pass, the alarm as the car recorded it (None where a record lacks it), or None when no
    record holds it: the one place an alarm computed offline from the maps, for tubs recorded without it, is to
    come in (issue 28 §4)."""
    values = [r['alarm'] for r in collector.records]
    return values if any(value is not None for value in values) else None


def warning_words(warning):
    """What the car's alarm said before a takeover, to follow its description ('' where it was not recorded)."""
    if warning is None:
        return ''
    if not warning['warned']:
        return '; no alarm before it'
    ahead = f'{warning["seconds"]:.1f} s' if warning['seconds'] is not None else f'{warning["records"]} records'
    return f'; the alarm came on {ahead} before'


def stretches_words(alarm):
    """The alarm's stretches in words, for the page ('' where it was not recorded)."""
    said = [f'{s["tub"] + " " if s["tub"] else ""}records {s["first"]}-{s["last"]}'
            + ('' if s['seconds'] is None else f' ({s["seconds"]:.1f} s)') + ('' if s['takeover'] else ', no takeover')
            for s in alarm.get('stretches', [])]
    return f'Alarm stretches: {"; ".join(said)}.' if said else ''


def _rounded(seconds):
    return None if seconds is None else round(seconds, 3)
