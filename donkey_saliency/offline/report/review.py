"""The report's moments as records to review in donkeycar: the JSON's `review` and the file of `--review-out`.

A moment is a stretch of records of one tub (first and last `_index`) and why it is listed: the largest
disagreements with the driver (the record the report shows), each takeover (of the seconds before it the
report draws, those the pilot drove, through the record where the driver took over), each run of records whose
image cannot be read (donkeycar's training fails on one), and, where the car recorded `saliency/alarm`, each of
its stretches. The file is a TRAIN_FILTER for the car's myconfig.py (train_filter.py) that
leaves exactly those records out of training and keeps all others; the tubs are not touched.
"""
import inspect
import os

from donkey_saliency.offline.report import train_filter
from donkey_saliency.offline.report.alarm_review import warning_words

TAKEOVER, DISAGREEMENT, BAD_IMAGE, ALARM = 'takeover', 'disagreement', 'unreadable image', 'alarm'


def moments(result, collector, bad_images):
    """The moments of a report's `result` (its pass in `collector`; `bad_images`: (tub label, index) of the records
    whose image could not be read), in tub order, then by record: [{'tub', 'first', 'last', 'kind', 'note'}]."""
    found = []
    for model in result['models']:
        name = os.path.basename(model['model'].rstrip('/'))
        for moment in model['disagreements']:
            found.append(_moment(moment['tub'], moment['index'], moment['index'], DISAGREEMENT,
                                 f'steering: user {_signed(moment["user_angle"])}, {name} '
                                 f'{_signed(moment["pilot_angle"])}'))
    for takeover, listed in zip(collector.takeovers, result['models'][0]['takeovers']):
        first, last = (collector.records[position] for position in (_piloted_from(collector, takeover),
                                                                     takeover.position))
        found.append(_moment(last['tub'], first['index'], last['index'], TAKEOVER,
                             f'the pilot drove ({takeover.mode_before}), the driver took over at {last["index"]}'
                             + warning_words(listed.get('warning'))))
    for stretch in (result.get('alarm') or {}).get('stretches', []):
        found.append(_moment(stretch['tub'], stretch['first'], stretch['last'], ALARM,
                             'the attention alarm on' + ('' if stretch['takeover'] else ', no takeover after it')))
    for tub, indexes in _by_tub(bad_images).items():
        for first, last in _merged([(i, i) for i in indexes]):
            found.append(_moment(tub, first, last, BAD_IMAGE, 'missing or cut short: donkeycar\'s training fails '
                                                              'on it'))
    order = {label: n for n, label in enumerate(_labels(result['tubs']))}
    return sorted(found, key=lambda m: (order.get(m['tub'], len(order)), m['first'], m['last']))


def records(review):
    """How many records the moments cover (each once), and in how many tubs."""
    tubs = _ranges(review)
    return sum(last - first + 1 for ranges in tubs.values() for first, last in ranges), len(tubs)


def indexes(review, tubs):
    """{tub path: the record indexes the moments cover} for the report's `tubs` (its paths, in order)."""
    paths = dict(zip(_labels(tubs), tubs))
    return {paths[label]: sorted({i for first, last in ranges for i in range(first, last + 1)})
            for label, ranges in _ranges(review).items()}


def filter_file(review, tubs, page):
    """The text of the --review-out file: the moments as comments, then the TRAIN_FILTER that leaves them out.
    `tubs`: the report's tub paths, in order; `page`: the report's page, which the comments name."""
    paths = dict(zip(_labels(tubs), tubs))
    said = []
    for label in dict.fromkeys(m['tub'] for m in review):
        said.append(f'# {paths[label]}:')
        said += [f'#   {_span(m)}: {m["kind"]}, {m["note"]}' for m in review if m['tub'] == label]
    listed = [(os.path.realpath(paths[label]), train_filter.tub_created_at(paths[label]), ranges)
              for label, ranges in _ranges(review).items()]
    entries = ''.join(f'    ({path!r}, {created!r}, {ranges!r}),\n' for path, created, ranges in listed)
    return (f'# Records to review, from the saliency report {page}. Put these lines at the end of the car\'s\n'
            '# myconfig.py (cat this-file >> myconfig.py): `donkey train` then leaves the records below out of\n'
            '# training and keeps all others (`donkey ui` shows only those kept). The tubs are not changed; remove\n'
            '# these lines to train on every record again.\n#\n' + '\n'.join(said or ['# (none)']) + '\n\n\n' +
            '\n\n'.join(inspect.getsource(f) for f in (train_filter.tub_created_at, train_filter.review_filter)) +
            f'\n\nTRAIN_FILTER = review_filter([\n{entries}], globals().get(\'TRAIN_FILTER\'))\n')


def _piloted_from(collector, takeover):
    """The first position of the takeover's seconds before from which the pilot drove without a break."""
    from donkey_saliency.offline.report.collect import PILOTED
    first = takeover.position
    while first - 1 >= takeover.before[0] and collector.records[first - 1]['mode'] in PILOTED:
        first -= 1
    return first


def _moment(tub, first, last, kind, note):
    return {'tub': tub, 'first': int(first), 'last': int(last), 'kind': kind, 'note': note}


def _span(moment):
    first, last = moment['first'], moment['last']
    return f'record {first}' if first == last else f'records {first}-{last}'


def _signed(value):
    return 'unknown' if value is None else f'{value:+.2f}'


def _labels(tubs):
    from donkey_saliency.tub.read import tub_labels
    return tub_labels(tubs)


def _by_tub(pairs):
    found = {}
    for tub, index in pairs:
        found.setdefault(tub, []).append(index)
    return found


def _ranges(review):
    """{tub label: the moments' records as (first, last) runs, overlaps merged}, in the moments' order."""
    found = {}
    for m in review:
        found.setdefault(m['tub'], []).append((m['first'], m['last']))
    return {tub: _merged(spans) for tub, spans in found.items()}


def _merged(spans):
    """(first, last) spans of whole numbers as the fewest runs covering the same numbers, in order."""
    runs = []
    for first, last in sorted(spans):
        if runs and first <= runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], max(last, runs[-1][1]))
        else:
            runs.append((first, last))
    return runs
