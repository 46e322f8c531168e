"""The report page: the findings (the JSON's content) and the collected pictures drawn as one self-contained HTML
file. Pictures are embedded JPEG/PNG data, charts inline SVG, the script inline: it opens offline and fetches
nothing. Drawing only: every number comes from `findings`.
"""
import base64
import datetime
import json
import os
import string
from html import escape

import cv2
import numpy as np

from donkey_saliency.offline.report import charts

USER, PILOT, WARN = '#2eaa2e', '#2878ff', '#d9480f'
PILOT_COLOURS = ('#2878ff', '#e8590c', '#9c36b5', '#0b7285')  # one per pilot when several are compared
ALPHA = 0.5


def render(result, collector, requests, health):
    """The whole page as text. `requests`: the map request of each pilot (signed or not, its title); `health`: the
    health numbers and alarm per frame (health_review.Reviewed)."""
    pictures = _Pictures(collector, requests)
    models = result['models']
    body = [_header(result), _blank_maps(result), _advice(models), _what_changed(models),
            _section('What the pilot uses', 'The pilot asked directly, on frames spread over the run. Crop curve: for '
                     'each crop row, the share of the attention above it (as the map says) and how far the steering '
                     'moves when the rows above it are swapped for those of a frame far away in time (as the pilot '
                     'answers): a crop at that row would take exactly this from it. Mirror test: the pilot\'s '
                     'answer to each frame mirrored plus its answer to the frame, zero for a pilot that treats left '
                     'and right alike.', [_uses(result, n, m) for n, m in enumerate(models)]),
            _section('Where the attention goes', 'The average map over the run on a typical frame (the one closest to '
                     'the median image of frames spread over the run), its share per band of rows (top to bottom) '
                     'and per third of the width, and both along the run.',
                     [_where(pictures, collector, result, n) for n in range(len(models))]),
            _section('Left or right', 'Attention on the left and right thirds beside the share of records steering '
                     'left and right (user angle beyond ±0.05): a description; the flip advice comes from the '
                     'mirror test.', [_sides(n, m) for n, m in enumerate(models)]),
            _section('Pilot and user', 'Steering and throttle over the run: the user (green) and the pilot (blue); '
                     'red circles mark the largest disagreements, shown below. Click a picture, a circle or any '
                     'point of a plot to see the frame large.',
                     [_agreement(pictures, collector, n, m) for n, m in enumerate(models)]),
            _section('The pilot\'s health', 'The numbers the car\'s attention alarm watches, along the run, each the '
                     'mean of the last frames as the alarm compares it: the share of the attention above the surface '
                     'edge, how much of it moved since the frame before, and its strength (1: as usual); shaded: the '
                     'alarm on.', [_health(result, collector, health)]),
            _section('Takeovers', 'Each moment the driver took the car back from the pilot (user/mode from local or '
                     'local_angle back to user), with the pilot\'s view over the seconds before, and the warning the '
                     'attention alarm gave (the pilot\'s health, above).',
                     [_takeovers(pictures, n, m) for n, m in enumerate(models)]),
            _section('What is merely conspicuous', 'The pilot\'s average map beside the model-free spectral-residual '
                     'map (what stands out in the image, whatever the pilot): attention that only follows what is '
                     'bright or contrasty is a warning sign.',
                     [_conspicuous(pictures, collector, n, m) for n, m in enumerate(models)])]
    if len(models) > 1:
        body.append(_between(pictures, result))
    if result['faithfulness'] is not None:
        body.append(_faithfulness(result['faithfulness']))
    template = string.Template(_read_template())
    return template.substitute(title=escape(f'Where the pilot looks: {", ".join(_name(m) for m in models)}'),
                               columns=len(models), body='\n'.join(body),
                               keyframes=_script_json(pictures.keyframes))


def _script_json(value):
    """JSON safe inside a <script> element whatever the names in it: no '<', '>' or '&' left to end it early."""
    return json.dumps(value).replace('<', '\\u003c').replace('>', '\\u003e').replace('&', '\\u0026')


def _read_template():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'template.html'), encoding='utf-8') as f:
        return f.read()


def _name(model):
    return os.path.basename(str(model['model']).rstrip('/'))


def _uri(image, kind='.jpg'):
    params = [cv2.IMWRITE_JPEG_QUALITY, 80] if kind == '.jpg' else []
    ok, data = cv2.imencode(kind, cv2.cvtColor(np.asarray(image, np.uint8), cv2.COLOR_RGB2BGR), params)
    mime = 'jpeg' if kind == '.jpg' else 'png'
    return f'data:image/{mime};base64,{base64.b64encode(data.tobytes()).decode()}'


class _Pictures:
    """The pictures of the page, drawn from the collected frames and maps."""

    def __init__(self, collector, requests):
        self.collector, self.requests = collector, requests
        self.typical = collector.typical()
        self.keyframes = {f'm{n}': [[m.position, collector.records[m.position]['index'], self.caption(m, n),
                                     self.frame(m, n, scale=1)] for m in collector.keyframes]
                          for n in range(len(requests))}

    def frame(self, moment, n, scale=2):
        """A kept frame with pilot n's map over it and the user's (green) and the pilot's (blue) steering."""
        from donkey_saliency.core.display import shown
        from donkey_saliency.draw import PILOT_COLOUR, USER_COLOUR, enlarge, overlay, steering_line
        drawn = shown(moment.maps[n][None], signed=self.requests[n].signed)[0]
        picture = enlarge(overlay(moment.image, drawn, ALPHA, self.requests[n].signed), scale)
        record = self.collector.records[moment.position]
        if np.isfinite(record['user_angle']) and np.isfinite(record['user_throttle']):
            steering_line(picture, record['user_angle'], record['user_throttle'], USER_COLOUR, side=-1)
        if np.isfinite(moment.angles[n]):
            steering_line(picture, moment.angles[n], moment.throttles[n], PILOT_COLOUR, side=+1)
        return _uri(picture)

    def caption(self, moment, n):
        record = self.collector.records[moment.position]
        tub = f'{record["tub"]} ' if record['tub'] else ''
        return (f'{tub}record {record["index"]} (frame {moment.position}): user steering '
                f'{_signed(record["user_angle"])}, pilot {_signed(moment.angles[n])}')

    def average(self, n):
        """The typical frame with pilot n's average attention over it (None: every map was blank)."""
        attention = self.collector.tracks[n].average
        return None if attention is None else self.attention_picture(attention)

    def attention_picture(self, attention):
        from donkey_saliency.core.display import shown
        from donkey_saliency.draw import enlarge, overlay
        return enlarge(overlay(self.typical.image, shown(attention[None])[0], ALPHA, False), 2)

    def typical_caption(self):
        record = self.collector.records[self.typical.position]
        tub = f'{record["tub"]} ' if record['tub'] else ''
        return (f'on {tub}record {record["index"]} (frame {self.typical.position}): the frame closest to the median '
                f'image of {len(self.collector.keyframes)} frames spread over the run')

    def band_strip(self, n):
        """Band shares along the run as a picture: a row per band, top to bottom, a column per frame."""
        from donkey_saliency.draw import colour_map
        shares = self.collector.tracks[n].series('bands').T
        peak = np.nanmax(shares) if np.isfinite(shares).any() else 1.0
        picture = colour_map(np.nan_to_num(shares / max(peak, 1e-9)))
        return _uri(cv2.resize(picture, (charts.WIDTH - charts.LEFT - charts.RIGHT, 100),
                               interpolation=cv2.INTER_AREA if picture.shape[1] > 600 else cv2.INTER_NEAREST),
                    '.png')


def _signed(value):
    return '-' if value is None or not np.isfinite(value) else f'{value:+.2f}'


def _smooth(values, width):
    """The mean over `width` frames around each (NaN frames left out), so that a share's drift shows through
    frame-to-frame noise."""
    if width <= 1:
        return values
    values = np.asarray(values, np.float64)
    kernel = np.ones(width)
    known = np.isfinite(values)
    with np.errstate(invalid='ignore'):
        return (np.convolve(np.where(known, values, 0.0), kernel, 'same')
                / np.convolve(known.astype(float), kernel, 'same'))


def _plain(value):
    return '-' if value is None else f'{value:.2f}'


def _percent(value):
    return '-' if value is None else f'{value:.0%}'


def _section(title, explanation, cards):
    return (f'<section><h2>{escape(title)}</h2><p class="explain">{escape(explanation)}</p>'
            f'<div class="models">{"".join(cards)}</div></section>')


def _card(model, n, inner):
    return f'<div class="card"><h3 style="color:{PILOT_COLOURS[n % 4]}">{escape(_name(model))}</h3>{inner}</div>'


def _header(result):
    tubs = ', '.join(os.path.basename(str(t).rstrip('/')) for t in result['tubs'])
    from donkey_saliency.tub.read import describe_skipped
    skipped = describe_skipped(result['skipped'])
    every = f', one record in {result["every"]}' if result['every'] > 1 else ''
    warnings = ''.join(f'<p class="suggest">warning: {escape(w)}</p>' for w in
                       [f'skipped a tub: {why}' for why in result['skipped_tubs']] + result['warnings'] +
                       ([result['surface_edge_doubt']] if result.get('surface_edge_doubt') else []))
    return (f'<header><h1>Where the pilot looks</h1><p>{result["frames"]} frames of {escape(tubs)}{every}; method '
            f'<b>{escape(result["method"])}</b>; skipped records: {escape(skipped)}; made '
            f'{datetime.datetime.now():%Y-%m-%d %H:%M} by donkey-saliency.</p>{warnings}</header>')


def _blank_maps(result):
    """One line per pilot whose maps were blank (all zero) on some frames: those frames count in no share."""
    return ''.join(f'<p class="suggest" id="blank-{n}">{escape(_name(m))}: the map was blank (all zero) on '
                   f'{m["blank_frames"]} of {result["frames"]} frames; they are left out of every share</p>'
                   for n, m in enumerate(result['models']) if m.get('blank_frames'))


def _advice(models):
    from donkey_saliency.offline.report.findings import headline
    items = []
    for n, model in enumerate(models):
        advice = model['advice']
        suggests = advice['roi_crop_top'] is not None or advice['flip_augmentation']
        kind = 'suggest' if suggests or advice['not_tested'] else 'fine'
        paste, commands = '', dict(advice.get('commands', {}))
        if 'keep' in commands:
            paste += ('<p>first, keep the config the pilot was trained with:</p><pre class="paste">' +
                      escape(commands.pop('keep')) + '</pre>')
        if advice.get('myconfig'):
            paste += ('<p>in myconfig.py:</p><pre class="paste">' + escape('\n'.join(advice['myconfig'])) +
                      '</pre>')
        if advice.get('myconfig_alternative'):
            paste += ('<p>or, for the other crop:</p><pre class="paste">' +
                      escape('\n'.join(advice['myconfig_alternative'])) + '</pre>')
        if commands:
            paste += ('<p>then, from where this report ran:</p><pre class="paste">' +
                      escape('\n'.join(commands.values())) + '</pre><p class="explain">compare them on a tub '
                      'neither pilot trained on, if you have one</p>')
        why = ''.join(f'<li>{escape(line)}</li>' for line in advice['why'])
        items.append(_card(model, n, f'<p class="{kind}">{escape(headline(advice))}</p>{paste}'
                                     f'<ul class="why">{why}</ul>'))
    return (f'<section id="advice"><h2>What to change</h2><div class="models">{"".join(items)}</div></section>')


def _what_changed(models):
    """A box per later pilot: each advised finding of the first pilot, before and after, and whether it worked."""
    from donkey_saliency.offline.report.findings import shown
    cards = []
    for n, model in enumerate(models[1:], 1):
        rows = []
        for change in model['what_changed']:
            before, after = change['before'], change['after']
            if change['finding'] == 'crop':
                figures = (f'above row {before["row"]}: steering change {shown(before["steering_change"])} before, '
                           f'{shown(after["steering_change"])} after; attention above '
                           f'{shown(before["attention_above"], percent=True)} before, '
                           f'{shown(after["attention_above"], percent=True)} after')
            else:
                figures = f'side bias {before["bias"]:+.3f} before, {after["bias"]:+.3f} after'
            error = (f'; error against the driver {_error(before)} before, {_error(after)} after')
            verdict = 'the advice worked' if change['worked'] else 'the advice did not work (yet)'
            failed = ('' if change['worked'] else
                      f' ({escape("; ".join(change["failed"]))}; {escape(change["try"])})')
            rows.append(f'<li><b>{change["finding"]}</b>: {escape(figures + error)}: <span class='
                        f'"{"fine" if change["worked"] else "suggest"}">{verdict}</span>{failed}</li>')
        inner = (f'<ul class="why">{"".join(rows)}</ul>' if rows else
                 '<p>the first pilot was advised nothing to compare</p>')
        cards.append(_card(model, n, f'<p>against {escape(_name(models[0]))}, on the same frames:</p>{inner}'))
    if not cards:
        return ''
    return (f'<section id="what-changed"><h2>What changed</h2><p class="explain">Each later pilot against the '
            'first, on the same frames: the dependence or bias the first pilot was advised on, and its error '
            f'against the driver.</p><div class="models">{"".join(cards)}</div></section>')


def _error(figures):
    return _plain(figures.get('error_original'))


def _uses(result, n, model):
    """The crop curve as one chart, the lines of the frame marked, and the mirror test's figures (or why a test
    did not run)."""
    from donkey_saliency.offline.report.findings import shown, untested
    window = (f'<p class="explain">the pilot decides from a window of {model["window"]} frames: the swap and the '
              'mirror edit every frame of it</p>' if model.get('window', 1) > 1 else '')
    if model['crop_curve']:
        chart = window + _crop_chart(result, n, model)
    else:
        chart = (f'<p>crop not tested: '
                 f'{escape(untested(model["advice"], "crop") or "no frames to swap")}</p>')
    m = model['mirror']
    mirror = (f'<p>flip not tested: {escape(untested(model["advice"], "flip") or "no frames")}</p>'
              if m['bias'] is None else
              f'<p>mirror test on {m["frames"]} frames: side bias <b>{m["bias"]:+.3f}</b> (SE '
              f'{shown(m["bias_se"] or 0)}), mean |d| {shown(m["mean_abs"])}; the records steer right '
              f'{_percent(model["steering"]["right_share"])}, left {_percent(model["steering"]["left_share"])}</p>')
    return _card(model, n, chart + mirror)


def _crop_chart(result, n, model):
    """The crop curve with the frame's lines marked."""
    curve, lines = model['crop_curve'], model['lines']
    rows = [p['row'] for p in curve]
    marks = [(lines['surface_edge'], WARN, f'surface edge {lines["surface_edge"]}')]
    if lines['skyline'] is not None:
        marks.append((lines['skyline'], '#5f3dc4', f'skyline {lines["skyline"]}'))
    if lines['config_roi_crop_top']:
        marks.append((lines['config_roi_crop_top'], '#495057', f'ROI_CROP_TOP {lines["config_roi_crop_top"]}'))
    height = result['models'][n]['bands'][-1]['bottom']
    return charts.row_plot([(rows, [p['attention_above'] for p in curve], PILOT, 'attention above the row'),
                            (rows, [p['steering_change'] for p in curve], WARN, 'steering change (mean |Δ|)'),
                            (rows, [p['changed_share'] for p in curve], '#868e96', 'share of frames moved > 0.1')],
                           height, marks, 'the crop curve')


def _boundaries(collector):
    """(frame, label) where each tub begins, when there are several."""
    starts, previous = [], None
    for position, record in enumerate(collector.records):
        if record['tub'] != previous:
            starts.append((position, f'{record["tub"]} begins'))
            previous = record['tub']
    return starts if len(starts) > 1 else []


def _where(pictures, collector, result, n):
    model = result['models'][n]
    track = collector.tracks[n]
    average = pictures.average(n)
    lines = model['lines']
    marks = [(lines['surface_edge'] * 2, WARN, f'surface edge (row {lines["surface_edge"]})')]
    if lines['skyline'] is not None:
        marks.append((lines['skyline'] * 2, '#ffd43b', f'skyline (row {lines["skyline"]})'))
    if lines['config_roi_crop_top']:
        applied = '' if model['car_crop_applied'] else ' (not applied)'
        marks.append((lines['config_roi_crop_top'] * 2, '#ffffff',
                      f'ROI_CROP_TOP {lines["config_roi_crop_top"]}{applied}'))
    picture = ('<p>every map was blank</p>' if average is None else charts.marked_picture(
        _uri(average), average.shape[1::-1], marks, 'average attention on a typical frame') +
        f'<p class="caption typical">average attention {escape(pictures.typical_caption())}</p>')
    bands = charts.bars([(f'rows {b["top"]}-{b["bottom"] - 1}', b['share'], PILOT)
                         for b in model['bands']], 'attention per band of rows, top to bottom')
    columns = model['columns']
    thirds = charts.bars([(side, columns[side], PILOT) for side in ('left', 'centre', 'right')],
                         'attention per third of the width')
    frames = collector.frames
    width = max(1, frames // 100)
    over_time = charts.time_plot(
        [(_smooth(track.series('thirds')[:, 0], width) if frames else [], '#1c7ed6', 'left third'),
         (_smooth(track.series('thirds')[:, 2], width) if frames else [], '#f59f00', 'right third'),
         (_smooth(track.series('above'), width), '#c92a2a', 'above the surface edge')], frames,
        'attention shares along the run' + (f' (mean over {width} frames)' if width > 1 else ''), 0.0, 1.0,
        plot_id=f'm{n}',
        boundaries=_boundaries(collector))
    above = (f'<p><b>{_percent(model["attention_above_horizon"])}</b> of the attention lies above the surface edge '
             f'(row {model["horizon_row"]}, {escape(result["horizon_source"])}).</p>')
    strip = (f'<p class="caption">bands along the run (top band on top; bright = more attention)</p>'
             f'<img class="strip" alt="band shares along the run" src="{pictures.band_strip(n)}">')
    return _card(model, n, f'<div class="row"><div>{picture}{above}</div><div>{bands}{thirds}</div></div>'
                           f'{strip}{over_time}')


def _sides(n, model):
    columns, steering = model['columns'], model['steering']
    chart = charts.bars([('attention left', columns['left'], PILOT), ('attention right', columns['right'], PILOT),
                         ('steering left', steering['left_share'], USER),
                         ('steering right', steering['right_share'], USER)], 'left and right')
    flip = model['advice']['flip_augmentation']
    verdict = ('<p class="suggest">the pilot has learnt a side bias (the mirror test, under What the pilot '
               'uses): flip-augment (mirror the image, negate the steering)</p>' if flip else
               '<p class="fine">no side bias that calls for flipping (the mirror test, under What the pilot uses)</p>')
    return _card(model, n, chart + verdict)


def _agreement(pictures, collector, n, model):
    user_angle = np.array([r['user_angle'] for r in collector.records])
    user_throttle = np.array([r['user_throttle'] for r in collector.records])
    track = collector.tracks[n]
    moments = collector.largest(collector.user_heaps[n])
    markers = [(m.position, m.angles[n], f'd{n}-{i}') for i, m in enumerate(moments)]
    steering = charts.time_plot([(user_angle, USER, 'user steering'), (track.series('angle'), PILOT, 'pilot steering')],
                                collector.frames, 'steering along the run', plot_id=f'm{n}', markers=markers,
                                boundaries=_boundaries(collector))
    throttle = charts.time_plot([(user_throttle, USER, 'user throttle'),
                                 (track.series('throttle'), PILOT, 'pilot throttle')], collector.frames,
                                'throttle along the run', plot_id=f'm{n}', boundaries=_boundaries(collector))
    a = model['agreement']
    numbers = (f'<p>steering: correlation {_signed(a["steering_corr"])}, mean difference '
               f'{_plain(a["steering_mae"])}; throttle: correlation {_signed(a["throttle_corr"])}, mean difference '
               f'{_plain(a["throttle_mae"])}</p>')
    thumbnails = ''.join(_thumbnail(pictures.frame(m, n), f'd{n}-{i}', pictures.caption(m, n))
                         for i, m in enumerate(moments))
    return _card(model, n, steering + throttle + numbers + '<p class="caption">largest disagreements at distinct '
                 f'moments ({_apart()}), largest first</p><div class="thumbs">{thumbnails or "<p>no frame with the user&#39;s steering</p>"}</div>')


def _apart():
    from donkey_saliency.offline.report.collect import APART_RECORDS, APART_SECONDS
    return f'at least {APART_RECORDS} frames and, where the records\' times allow, {APART_SECONDS:g} s apart'


def _thumbnail(uri, ref, caption):
    return (f'<figure><img class="zoom" id="{ref}" src="{uri}" alt="{escape(caption)}" '
            f'data-caption="{escape(caption)}"><figcaption>{escape(caption)}</figcaption></figure>')


def _health(result, collector, health):
    """The health numbers along the run (windowed, as the alarm compares them; a health file's limits beside them
    in a lighter colour), the alarm's stretches shaded, and the alarm in words."""
    from donkey_saliency.core.health import stretches, windowed
    found, frames = result['health'], collector.frames
    window, limits = found['window'], found['limits'] or {}
    spans = [(a, b, 'the alarm on') for a, b in stretches([bool(on) for on in health.alarm or []])]

    def lines(name, colour, light, label):
        drawn = [(windowed(health.numbers[name], window), colour, label)]
        return drawn + ([(np.full(frames, limits[name]), light, 'its limit')] if name in limits else [])
    models = [m['model'] for m in result['models']]
    n = models.index(found['pilot']) if found['pilot'] in models else 0
    title = f'the health numbers along the run (mean of the last {window} frames)'
    shares = charts.time_plot(lines('above_edge', '#c92a2a', '#ffa8a8', 'above the surface edge')
                              + lines('change', '#1c7ed6', '#a5d8ff', 'change since the frame before'), frames,
                              title, 0.0, 1.0, plot_id=f'm{n}', boundaries=_boundaries(collector), spans=spans)
    strength = charts.time_plot(lines('strength', '#2f9e44', '#b2f2bb', 'strength (1: as usual)'), frames,
                                'the strength of the attention along the run', 0.0, 2.0, height=110, plot_id=f'm{n}',
                                boundaries=_boundaries(collector), spans=spans)
    typical = '; '.join(f'{name.replace("_", " ")} {_plain(q["median"])} ({_plain(q["p05"])} to {_plain(q["p95"])})'
                        + (f', limit {limits[name]:.3f}' if name in limits else '')
                        for name, q in found["numbers"].items())
    said = (f'<p>The numbers: {escape(found["said"])}. Median (5th to 95th percentile) per frame: {escape(typical)}.'
            f'</p><p>The alarm: {escape(_alarm(result))}</p>')
    inner = said + shares + strength
    if found['source'] == 'recorded':
        return f'<div class="card"><h3>recorded by the car</h3>{inner}</div>'
    return _card(result['models'][n], n, inner)


def _alarm(result):
    """The alarm's summary and stretches (core/alarms.py), or that it was not recorded."""
    from donkey_saliency.offline.report.alarm_review import stretches_words
    alarm = result['alarm']
    return f'{alarm["said"]}. {stretches_words(alarm)}'.strip()


def _takeovers(pictures, n, model):
    takeovers = model['takeovers']
    if not takeovers:
        return _card(model, n, '<p>none: in this range the user drove throughout (user/mode never went from local '
                               'or local_angle back to user).</p>')
    from donkey_saliency.offline.report.alarm_review import warning_words
    from donkey_saliency.offline.report.collect import TAKEOVER_PICTURES
    rows = [f'<p>{len(takeovers)} takeover(s)' + (f'; the first {TAKEOVER_PICTURES} drawn' if len(takeovers) >
                                                 TAKEOVER_PICTURES else '') + '</p>']
    for t, (takeover, kept) in enumerate(zip(takeovers[:TAKEOVER_PICTURES], pictures.collector.takeovers)):
        thumbs = ''.join(_thumbnail(pictures.frame(m, n), f't{n}-{t}-{i}', pictures.caption(m, n))
                         for i, m in enumerate(kept.pictures))
        tub = f'{takeover["tub"]} ' if takeover['tub'] else ''
        before = takeover['before']
        plot = charts.time_plot([(_numbers(before['user_angle']), USER, 'user steering'),
                                 (_numbers(before['pilot_angle']), PILOT, 'pilot steering'),
                                 (_numbers(before['attention_above_horizon']), WARN,
                                  'attention above the surface edge')],
                                len(kept.before), 'before the takeover', height=110,
                                axis=_span(pictures.collector, kept.before))
        rows.append(f'<h4>{escape(tub)}record {takeover["index"]}: back to the user after '
                    f'{escape(takeover["mode_before"])}{escape(warning_words(takeover.get("warning")))}</h4>'
                    f'<div class="thumbs">{thumbs}</div>{plot}')
    return _card(model, n, ''.join(rows))


def _numbers(values):
    return np.array([np.nan if v is None else v for v in values], np.float64)


def _span(collector, positions):
    """What a takeover plot's horizontal axis covers."""
    times = [collector.records[p]['time'] for p in positions]
    if None in times or len(times) < 2:
        return f'the last {len(positions)} frames, oldest first'
    return f'the {len(positions)} frames of the last {times[-1] - times[0]:.1f} s, oldest first'


def _conspicuous(pictures, collector, n, model):
    average = pictures.average(n)
    control = pictures.attention_picture(collector.conspicuous_total / max(collector.frames, 1))
    c = model['conspicuous']
    if c['correlation'] is None:
        verdict = '<p>no comparison: the method is the model-free map itself, or every map was blank</p>'
    else:
        verdict = (f'<p class="{"suggest" if c["warning"] else "fine"}">mean per-frame correlation '
                   f'{_signed(c["correlation"])}' + (': the attention may follow what is merely conspicuous'
                                                     if c['warning'] else ': the pilot looks at more than what '
                                                     'stands out') + '</p>')
    pilot = '' if average is None else f'<figure><img src="{_uri(average)}" alt="pilot"><figcaption>the pilot' \
                                       '</figcaption></figure>'
    return _card(model, n, f'<div class="thumbs wide">{pilot}<figure><img src="{_uri(control)}" alt="model-free">'
                           f'<figcaption>spectral residual (model-free)</figcaption></figure></div>{verdict}')


def _between(pictures, result):
    collector = pictures.collector
    moments = collector.largest(collector.between_heap)
    names = [_name(m) for m in result['models']]
    plot = charts.time_plot([(collector.tracks[n].series('angle'), PILOT_COLOURS[n % 4], f'{names[n]} steering')
                             for n in range(len(names))], collector.frames, 'the pilots\' steering', plot_id='m0',
                            boundaries=_boundaries(collector))
    pairs = []
    for i, m in enumerate(moments):
        figures = ''.join(_thumbnail(pictures.frame(m, n), f'b{i}-{n}', f'{names[n]}: {pictures.caption(m, n)}')
                          for n in range(len(names)))
        pairs.append(f'<div class="thumbs pair">{figures}</div>')
    grid = f'grid-template-columns: repeat(auto-fill, minmax({170 * len(names)}px, 1fr))'  # the pairs fill the width
    return (f'<section><h2>Between pilots</h2><p class="explain">Where the pilots\' steering differs most, each '
            f'pilot\'s map on the same frame (largest spread first, at distinct moments: {_apart()}).</p>{plot}'
            f'<div class="pairs" style="{grid}">{"".join(pairs)}</div></section>')


def _faithfulness(results):
    parts = []
    for found in results:
        name = os.path.basename(str(found['model']).rstrip('/'))
        if 'error' in found:
            parts.append(f'<h3>{escape(name)}</h3><p>not measured: {escape(found["error"])}</p>')
        else:
            parts.append(f'<h3>{escape(name)}</h3><pre>{escape(chr(10).join(found["table"]))}</pre>')
    return ('<section><h2>Can these maps be trusted?</h2><p class="explain">Deletion and insertion against a '
            'random pixel order, and model randomisation, as <code>donkey saliency evaluate</code> measures '
            f'them.</p>{"".join(parts)}</section>')
