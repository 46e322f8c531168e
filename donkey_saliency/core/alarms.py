"""The attention alarm against the takeovers of a run: numbers from per-record booleans, times and tubs.

An alarm stretch is a run of records of one tub with the alarm on. A takeover's warning is the time from the most
recent start of an alarm before it (a record earlier than the takeover's, in its tub) to the takeover, when that
start lies within LOOK_BACK_SECONDS (LOOK_BACK_RECORDS where a record has no time); otherwise it had none (an
alarm on since before the look-back says nothing new at the takeover; one starting on its record, nothing ahead). An
alarm had a takeover when one comes within that look-back after its start. The look-back is wider than the 1 to
3 s ThirdEye's alarms came ahead of failures (Stocco et al. 2022), to leave the driver's reaction time on top.
"""
from dataclasses import dataclass

LOOK_BACK_SECONDS = 5.0
LOOK_BACK_RECORDS = 100  # where a record has no time: 5 s at donkeycar's 20 Hz loop


@dataclass
class Stretch:
    """The alarm on from position `start` through `end`; `seconds` from the first to the last record's time (None
    without times); `takeover`: whether a takeover came within the look-back after its start."""
    start: int
    end: int
    seconds: float
    takeover: bool = False


def stretches(alarm, tubs, times):
    """The runs of positions with `alarm` true (None counts as off), never across two tubs."""
    from donkey_saliency.core.health import stretches as runs
    found, first = [], 0
    for end in [i for i in range(1, len(tubs)) if tubs[i] != tubs[i - 1]] + [len(tubs)]:  # each tub's records
        found += [Stretch(first + a, first + b, _apart(times, first + a, first + b))
                  for a, b in runs([bool(on) for on in alarm[first:end]])]
        first = end
    return found


def warning(start, takeover, tubs, times):
    """Whether an alarm started at position `start` warns of a takeover at position `takeover`, and how long before
    it (seconds, None without times): (warns, seconds)."""
    if not start < takeover or tubs[start] != tubs[takeover]:
        return False, None
    seconds = _apart(times, start, takeover)
    within = takeover - start <= LOOK_BACK_RECORDS if seconds is None else seconds <= LOOK_BACK_SECONDS
    return within, seconds if within else None


def review(alarm, tubs, times, takeovers):
    """(the alarm's stretches, per takeover position the warning before it: {'warned', 'seconds', 'records'}) for
    per-record `alarm`, `tubs` and `times` (seconds or None) and the takeovers' positions."""
    found = stretches(alarm, tubs, times)
    warned = []
    for takeover in takeovers:
        before = [s for s in found if warning(s.start, takeover, tubs, times)[0]]
        for stretch in before:
            stretch.takeover = True
        latest = max((s.start for s in before), default=None)
        warned.append({'warned': latest is not None,
                       'seconds': None if latest is None else warning(latest, takeover, tubs, times)[1],
                       'records': None if latest is None else takeover - latest})
    return found, warned


def summary(found, warned):
    """The sentence a user acts on: 'the alarm came on before 5 of 7 takeovers, 1.4 s ahead on average; 3 alarms
    had no takeover'."""
    ahead = [w['seconds'] for w in warned if w['seconds'] is not None]
    said = f'the alarm came on before {sum(w["warned"] for w in warned)} of {len(warned)} takeover(s)'
    if ahead:
        said += f', {sum(ahead) / len(ahead):.1f} s ahead on average'
    lone = sum(not s.takeover for s in found)
    return f'{said}; {lone} of {len(found)} alarm(s) had no takeover'


def _apart(times, first, last):
    if times[first] is None or times[last] is None:
        return None
    return times[last] - times[first]
