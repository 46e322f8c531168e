"""The attention alarm (`saliency/alarm`, recorded with SALIENCY_HEALTH, or computed from the maps with --health:
health_review.py) against the run's takeovers: the JSON's `alarm`, and each takeover's `warning` (core/alarms.py
computes them).
"""
from donkey_saliency.core import alarms
from donkey_saliency.keys import ALARM_KEY
from donkey_saliency.offline.report.health_review import NEEDS_FILE

NOT_RECORDED = (f'the alarm was not recorded ({ALARM_KEY} is in no record: on the car, SALIENCY_HEALTH with '
                f'SALIENCY_RECORD records it); {NEEDS_FILE}')


def alarm_findings(result, collector, reviewed):
    """The JSON's `alarm`: its source ('recorded', 'computed' or None), its stretches (tub, first and last index,
    seconds, whether a takeover followed), the look-back, and the summary sentence; each takeover of every pilot
    gets its `warning` ({'warned', 'seconds', 'records'} before it, or None without an alarm). `reviewed`: the
    health numbers' review (health_review.Reviewed), the alarm per frame among them."""
    alarm = reviewed.alarm
    if alarm is None:
        for model in result['models']:
            for takeover in model['takeovers']:
                takeover['warning'] = None
        return {'recorded': False, 'source': None, 'said': NOT_RECORDED}
    records = collector.records
    tubs, times = [r['tub'] for r in records], [r['time'] for r in records]
    found, warned = alarms.review(alarm, tubs, times, [t.position for t in collector.takeovers])
    for model in result['models']:
        for takeover, warning in zip(model['takeovers'], warned):
            takeover['warning'] = dict(warning, seconds=_rounded(warning['seconds']))
    said = alarms.summary(found, warned) if warned else \
        f'on for {sum(alarm)} of {len(alarm)} frames; no takeover in this range'
    if reviewed.source == 'computed':  # on a human drive, most often: no takeover to have warned of
        said = f'computed from the maps with {reviewed.found["health_file"]}: ' + \
            (f'on for {sum(alarm)} of {len(alarm)} frames; {said}' if warned else said)
    return {'recorded': reviewed.source == 'recorded', 'source': reviewed.source,
            'look_back_seconds': alarms.LOOK_BACK_SECONDS, 'look_back_records': alarms.LOOK_BACK_RECORDS,
            'stretches': [{'tub': records[s.start]['tub'], 'first': records[s.start]['index'],
                           'last': records[s.end]['index'], 'position': s.start,
                           'seconds': _rounded(s.seconds), 'takeover': s.takeover}
                          for s in found],
            'said': said}


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
