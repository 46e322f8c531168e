"""Inline SVG charts for the report page: text only, no plotting library, nothing fetched when the page opens.

Each function returns one <svg> element sized by its viewBox, so that it scales with the page.
"""
from html import escape

import numpy as np

WIDTH = 640
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 10, 22
MARK_LINE = 16  # a picture's mark labels are 13 units tall (svg .mark): one label per 16 units
MARK_DESCENT = 4  # and reach this far below their baseline
MAX_POINTS = 800  # points per line: more would not show on a page and would only weigh it down


def _number(value):
    return f'{value:.1f}'.rstrip('0').rstrip('.')


def bars(items, title, width=300):
    """Horizontal bars: items are (label, share in [0, 1] or None, colour); shares written beside them."""
    row = 18
    height = row * len(items) + 24
    parts = [f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img"><title>{escape(title)}</title>',
             f'<text x="0" y="12" class="caption">{escape(title)}</text>']
    room = width - 150
    for i, (label, share, colour) in enumerate(items):
        y = 22 + i * row
        length = 0 if share is None else max(0.0, float(share)) * room
        text = '-' if share is None else f'{share * 100:.0f}%'
        parts.append(f'<text x="0" y="{y + 12}" class="label">{escape(label)}</text>'
                     f'<rect x="100" y="{y + 2}" width="{_number(length)}" height="{row - 5}" fill="{colour}"/>'
                     f'<text x="{_number(104 + length)}" y="{y + 12}" class="label">{text}</text>')
    parts.append('</svg>')
    return ''.join(parts)


def time_plot(lines, frames, title, low=-1.0, high=1.0, height=150, plot_id='', markers=(), boundaries=(), axis='',
              spans=()):
    """Values over the run's frames: `lines` are (values per frame, colour, label); `markers` are (frame, value,
    data-ref) circles a click opens; `boundaries` are (frame, label) tub starts; `spans` (first frame, last frame,
    label) stretches shaded behind the lines. With a `plot_id` the plot area
    carries data-frames and data-plot so that a click on it can open the nearest kept frame; without, `axis`
    says what the horizontal axis is."""
    bottom = height - BOTTOM
    span = max(frames - 1, 1)

    def x(position):
        return LEFT + (WIDTH - LEFT - RIGHT) * position / span

    def y(value):
        return bottom - (bottom - TOP) * (float(np.clip(value, low, high)) - low) / (high - low)

    parts = [f'<svg class="chart plot" viewBox="0 0 {WIDTH} {height}" role="img"><title>{escape(title)}</title>']
    if plot_id:
        parts.append(f'<rect class="hit" x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{bottom - TOP}" '
                     f'data-plot="{plot_id}" data-frames="{frames}"/>')
    for value in (low, (low + high) / 2, high):
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_number(y(value))}" '
                     f'y2="{_number(y(value))}"/><text x="{LEFT - 4}" y="{_number(y(value) + 4)}" '
                     f'class="tick" text-anchor="end">{value:+.2g}</text>'.replace('+0<', '0<'))
    for first, last, label in spans:
        width = max(x(last) - x(first), 1.0)
        parts.append(f'<rect class="span" x="{_number(x(first))}" y="{TOP}" width="{_number(width)}" '
                     f'height="{bottom - TOP}"><title>{escape(label)}</title></rect>')
    for position, label in boundaries:
        parts.append(f'<line class="boundary" x1="{_number(x(position))}" x2="{_number(x(position))}" y1="{TOP}" '
                     f'y2="{bottom}"><title>{escape(label)}</title></line>')
    for values, colour, label in lines:
        for segment in _segments(np.asarray(values, np.float64)):
            points = ' '.join(f'{_number(x(p))},{_number(y(v))}' for p, v in segment)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.3" points="{points}">'
                         f'<title>{escape(label)}</title></polyline>')
    for position, value, ref in markers:
        parts.append(f'<circle class="marker zoom" data-ref="{ref}" cx="{_number(x(position))}" '
                     f'cy="{_number(y(value))}" r="4"/>')
    legend = ' · '.join(f'<tspan fill="{colour}">{escape(label)}</tspan>' for _, colour, label in lines)
    where = f'frames 0 to {frames - 1}; click to see one' if plot_id else axis
    parts.append(f'<text x="{LEFT}" y="{height - 5}" class="label">{legend}  <tspan class="tick">({escape(where)})'
                 '</tspan></text></svg>')
    return ''.join(parts)


def _segments(values):
    """(position, value) runs between missing values, thinned to at most MAX_POINTS points overall."""
    step = max(1, len(values) // MAX_POINTS)
    positions = np.arange(0, len(values), step)
    run = []
    for p in positions:
        if np.isfinite(values[p]):
            run.append((int(p), float(values[p])))
        elif run:
            yield run
            run = []
    if run:
        yield run


def marked_picture(uri, size, rows, title):
    """A picture with horizontal marks across it: `rows` are (row in picture pixels, colour, label). Each label
    sits just above its line, or, when lines (nearly) share a row, below the labels already there, or above them
    where the picture ends: inside the picture, and never over another label while there is room."""
    width, height = size
    parts = [f'<svg class="picture" viewBox="0 0 {width} {height}" role="img"><title>{escape(title)}</title>',
             f'<image href="{uri}" width="{width}" height="{height}"/>']
    placed = []  # the labels' baselines
    for row, colour, label in rows:
        y = _label_baseline(row, placed, height)
        placed.append(y)
        parts.append(f'<line x1="0" x2="{width}" y1="{row}" y2="{row}" stroke="{colour}" stroke-width="2" '
                     f'stroke-dasharray="8 4"/><text x="4" y="{y}" fill="{colour}" '
                     f'class="mark">{escape(label)}</text>')
    parts.append('</svg>')
    return ''.join(parts)


def _label_baseline(row, placed, height):
    """A mark label's baseline: just above its line at `row`, else the nearest free place below it, else above
    it, inside the picture (its descenders too: MARK_DESCENT); where none is free (more labels than rows), just
    above its line after all."""
    first, lowest = max(row - 4, MARK_LINE), height - MARK_DESCENT
    below = range(first, lowest + 1, MARK_LINE)
    above = range(first - MARK_LINE, MARK_LINE - 1, -MARK_LINE)
    return next((y for y in (*below, *above) if all(abs(y - other) >= MARK_LINE for other in placed)), first)


def row_plot(lines, height_rows, marks, title, high=1.0, height=170):
    """Values against the crop row (0 = top of the frame, left; the frame's bottom, right): `lines` are (rows,
    values, colour, label); `marks` are (row, colour, label), drawn as vertical lines (the lines of the frame)."""
    bottom = height - BOTTOM - 12

    def x(row):
        return LEFT + (WIDTH - LEFT - RIGHT) * row / max(height_rows, 1)

    def y(value):
        return bottom - (bottom - TOP) * float(np.clip(value, 0.0, high)) / high

    parts = [f'<svg class="chart plot" viewBox="0 0 {WIDTH} {height}" role="img"><title>{escape(title)}</title>']
    for value in (0.0, high / 2, high):
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_number(y(value))}" '
                     f'y2="{_number(y(value))}"/><text x="{LEFT - 4}" y="{_number(y(value) + 4)}" class="tick" '
                     f'text-anchor="end">{value:.2g}</text>')
    for row, colour, label in marks:
        parts.append(f'<line x1="{_number(x(row))}" x2="{_number(x(row))}" y1="{TOP}" y2="{bottom}" stroke="{colour}" '
                     f'stroke-dasharray="4 3"><title>{escape(label)}</title></line>')
    for rows, values, colour, label in lines:
        points = ' '.join(f'{_number(x(r))},{_number(y(v))}' for r, v in zip(rows, values) if v is not None)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{points}">'
                     f'<title>{escape(label)}</title></polyline>')
    for i, (row, colour, label) in enumerate(marks):  # one below the other (lines may share a row), over the curves,
        # in the colour of their line (a style: the class's grey would win over a fill attribute)
        parts.append(f'<text x="{_number(x(row) + 3)}" y="{TOP + 10 + 12 * i}" class="tick halo" '
                     f'style="fill:{colour}">{escape(label)}</text>')
    legend = ' · '.join(f'<tspan fill="{colour}">{escape(label)}</tspan>' for _, _, colour, label in lines)
    parts.append(f'<text x="{LEFT}" y="{height - 20}" class="tick">crop row: 0 (top) to {height_rows} (bottom)</text>'
                 f'<text x="{LEFT}" y="{height - 5}" class="label">{legend}</text></svg>')
    return ''.join(parts)
