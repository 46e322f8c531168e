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


def render(result, collector, requests):
    """The whole page as text. `requests`: the map request of each pilot (signed or not, its title)."""
    pictures = _Pictures(collector, requests)
    models = result['models']
    body = [_header(result), _blank_maps(result), _advice(models),
            _section('Where the attention goes', 'The average map over the run on the average frame, its share per '
                     'band of rows (top to bottom) and per third of the width, and both along the run.',
                     [_where(pictures, collector, result, n) for n in range(len(models))]),
            _section('Left or right', 'Attention on the left and right thirds beside the share of records steering '
                     'left and right (user angle beyond ±0.05).', [_sides(n, m) for n, m in enumerate(models)]),
            _section('Pilot and user', 'Steering and throttle over the run: the user (green) and the pilot (blue); '
                     'red circles mark the largest disagreements, shown below. Click a picture, a circle or any '
                     'point of a plot to see the frame large.',
                     [_agreement(pictures, collector, n, m) for n, m in enumerate(models)]),
            _section('Takeovers', 'Each moment the driver took the car back from the pilot (user/mode from local or '
                     'local_angle back to user), with the pilot\'s view over the seconds before.',
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
        self.keyframes = {f'm{n}': [[m.position, collector.records[m.position]['index'], self.caption(m, n),
                                     self.frame(m, n, scale=1)] for m in collector.keyframes]
                          for n in range(len(requests))}

    def frame(self, moment, n, scale=2):
        """A kept frame with pilot n's map over it and the user's (green) and the pilot's (blue) steering."""
        from donkey_saliency.core.display import frame_scales, scaled
        from donkey_saliency.offline.draw import PILOT_COLOUR, USER_COLOUR, enlarge, overlay, steering_line
        raw = moment.maps[n][None]
        shown = scaled(raw, self.requests[n].signed, frame_scales(raw))[0]
        picture = enlarge(overlay(moment.image, shown, ALPHA, self.requests[n].signed), scale)
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
        """The average frame with pilot n's average attention over it (None: every map was blank)."""
        attention = self.collector.tracks[n].average
        return None if attention is None else self.attention_picture(attention)

    def attention_picture(self, attention):
        from donkey_saliency.core.display import frame_scales, scaled
        from donkey_saliency.offline.draw import enlarge, overlay
        frame = np.clip(self.collector.frame_total / self.collector.frames, 0, 255).astype(np.uint8)
        shown = scaled(attention[None], False, frame_scales(attention[None]))[0]
        return enlarge(overlay(frame, shown, ALPHA, False), 2)

    def band_strip(self, n):
        """Band shares along the run as a picture: a row per band, top to bottom, a column per frame."""
        from donkey_saliency.offline.draw import colour_map
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
    from donkey_saliency.offline.tubs import describe_skipped
    skipped = describe_skipped(result['skipped'])
    every = f', one record in {result["every"]}' if result['every'] > 1 else ''
    warnings = ''.join(f'<p class="suggest">warning: {escape(w)}</p>' for w in result['warnings'])
    return (f'<header><h1>Where the pilot looks</h1><p>{result["frames"]} frames of {escape(tubs)}{every}; method '
            f'<b>{escape(result["method"])}</b>; skipped records: {escape(skipped)}; made '
            f'{datetime.datetime.now():%Y-%m-%d %H:%M} by donkey-saliency.</p>{warnings}</header>')


def _blank_maps(result):
    """One line per pilot whose maps were blank (all zero) on some frames: those frames count in no share."""
    return ''.join(f'<p class="suggest" id="blank-{n}">{escape(_name(m))}: the map was blank (all zero) on '
                   f'{m["blank_frames"]} of {result["frames"]} frames; they are left out of every share</p>'
                   for n, m in enumerate(result['models']) if m.get('blank_frames'))


def _advice(models):
    items = []
    for n, model in enumerate(models):
        advice = model['advice']
        suggestions = []
        if advice['roi_crop_top'] is not None:
            suggestions.append(f'crop the top: <code>ROI_CROP_TOP = {advice["roi_crop_top"]}</code> with '
                               '<code>\'CROP\'</code> in <code>TRANSFORMATIONS</code>')
        if advice['flip_augmentation']:
            suggestions.append('drive the other way, or flip-augment')
        headline = '; '.join(suggestions) if suggestions else 'nothing to change on these findings'
        why = ''.join(f'<li>{escape(line)}</li>' for line in advice['why'])
        items.append(_card(model, n, f'<p class="{"suggest" if suggestions else "fine"}">{headline}</p>'
                                     f'<ul class="why">{why}</ul>'))
    return (f'<section id="advice"><h2>What to change</h2><div class="models">{"".join(items)}</div></section>')


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
    marks = [(model['horizon_row'] * 2, WARN, f'horizon (row {model["horizon_row"]})')]
    if result['car_roi_crop_top']:
        applied = '' if result['car_crop_applied'] else ' (not applied)'
        marks.append((result['car_roi_crop_top'] * 2, '#ffffff', f'ROI_CROP_TOP {result["car_roi_crop_top"]}{applied}'))
    picture = ('<p>every map was blank</p>' if average is None else charts.marked_picture(
        _uri(average), average.shape[1::-1], marks, 'average attention on the average frame'))
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
         (_smooth(track.series('above'), width), '#c92a2a', 'above the horizon')], frames,
        'attention shares along the run' + (f' (mean over {width} frames)' if width > 1 else ''), 0.0, 1.0,
        plot_id=f'm{n}',
        boundaries=_boundaries(collector))
    above = (f'<p><b>{_percent(model["attention_above_horizon"])}</b> of the attention lies above the horizon '
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
    verdict = ('<p class="suggest">both lean the same way: drive the other way too, or flip-augment (mirror the '
               'image, negate the steering)</p>' if flip else '<p class="fine">no lean that calls for flipping</p>')
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
    return _card(model, n, steering + throttle + numbers + '<p class="caption">largest disagreements, largest '
                 f'first</p><div class="thumbs">{thumbnails or "<p>no frame with the user&#39;s steering</p>"}</div>')


def _thumbnail(uri, ref, caption):
    return (f'<figure><img class="zoom" id="{ref}" src="{uri}" alt="{escape(caption)}" '
            f'data-caption="{escape(caption)}"><figcaption>{escape(caption)}</figcaption></figure>')


def _takeovers(pictures, n, model):
    takeovers = model['takeovers']
    if not takeovers:
        return _card(model, n, '<p>none: in this range the user drove throughout (user/mode never went from local '
                               'or local_angle back to user).</p>')
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
                                 (_numbers(before['attention_above_horizon']), WARN, 'attention above the horizon')],
                                len(kept.before), 'before the takeover', height=110,
                                axis=_span(pictures.collector, kept.before))
        rows.append(f'<h4>{escape(tub)}record {takeover["index"]}: back to the user after '
                    f'{escape(takeover["mode_before"])}</h4><div class="thumbs">{thumbs}</div>{plot}')
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
    rows = []
    for i, m in enumerate(moments):
        figures = ''.join(_thumbnail(pictures.frame(m, n), f'b{i}-{n}', f'{names[n]}: {pictures.caption(m, n)}')
                          for n in range(len(names)))
        rows.append(f'<div class="thumbs">{figures}</div>')
    return (f'<section><h2>Between pilots</h2><p class="explain">Where the pilots\' steering differs most, each '
            f'pilot\'s map on the same frame (largest spread first).</p>{plot}{"".join(rows)}</section>')


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
