"""`donkey saliency calibrate`: the health file the car's part watches the pilot with (core/health.py).

A pass over a tub the pilot drives well, in record order (the change needs consecutive maps): each frame's map
from the engine, with the method the car's config asks for (SALIENCY_METHOD and its settings, as the car part
reads them), as the video computes it; the surface edge found on frames spread over the range (or --horizon);
the limits fitted on the windowed numbers; and how often, and where, the alarm would have been on over that tub.
The file names the pilot's file and type and the method, so that the car refuses it for another pilot.
"""
import json
import os
from dataclasses import dataclass

import numpy as np

from donkey_saliency.errors import UserError

FORMAT = 1          # the health file's layout
EDGE_FRAMES = 200   # frames spread over the range on which the surface edge is found, as the report's


@dataclass
class CalibrateOptions:
    tubs: list
    model: str
    out: str = 'health.json'
    type: str = None
    config: str = None
    horizon: int = None
    window: int = None  # None: health.WINDOW
    start: int = 0
    end: int = -1
    batch_size: int = 64
    progress: bool = True


def check(options):
    """Every check that needs no TensorFlow, the one all commands make (offline.session) and calibrate's own;
    returns the options with --tub's folders and globs expanded, and the tubs opened (session.Tubs)."""
    from dataclasses import replace
    from donkey_saliency.offline import session
    from donkey_saliency.writers import check_destination
    if not options.tubs or not options.model:
        raise UserError('calibrate needs a tub the pilot drives well and the pilot: pass --tub PATH and --model FILE')
    request, tubs = session.check(session.Request(tubs=options.tubs, model=options.model, type=options.type,
                                                  config=options.config, start=options.start, end=options.end))
    check_destination(options.out, ('.json',), tubs.paths)
    if options.window is not None and options.window < 2:
        raise UserError(f'--window is a number of frames, at least 2, not {options.window}')
    if options.horizon is not None and options.horizon < 1:
        raise UserError(f'--horizon is a row of the camera frame counted from the top, at least 1, not '
                        f'{options.horizon}')
    if options.batch_size < 1:
        raise UserError(f'--batch-size must be at least 1, not {options.batch_size}')
    return replace(options, tubs=tubs.paths), request, tubs


def run(options):
    """Write the health file; returns its content."""
    options, request, tubs = check(options)
    from dataclasses import replace
    from donkey_saliency.car.part import method_settings, setting
    from donkey_saliency.core import carconfig, health
    from donkey_saliency.offline.session import Session
    from donkey_saliency.offline.stages import VideoJob
    from donkey_saliency.offline.video import Options
    cfg, from_car = carconfig.load(options.config)
    method = setting(cfg, 'SALIENCY_METHOD')
    window = options.window or health.WINDOW
    request = replace(request, method=method, settings=method_settings(cfg, method))
    session = Session(request, tubs, car=(cfg, from_car))
    job = VideoJob(Options(**vars(request), batch_size=options.batch_size), session)
    job.fix_camera_shape()
    edge, edge_source, doubt = _edge(options, session, job)
    found, records = _numbers(job, session.length, edge, options.progress)
    scale = float(np.median(found['strength']))
    if not scale > 0:
        raise UserError(f'the pilot\'s {method} maps are blank on most frames of this tub: there is no attention to '
                        'watch; try another SALIENCY_METHOD')
    found['strength'] = found['strength'] / scale
    if len(records) < 2 * window:
        raise UserError(f'{len(records)} readable frames are too few to calibrate on with a window of {window}: '
                        f'pass a longer tub (a lap or more), at least {2 * window} frames')
    limits = health.limits(found, window)
    alarm = health.alarms(found, limits, window)
    medians = {name: _median(values) for name, values in found.items()}
    result = {
        'format': FORMAT,
        'pilot': {'file': os.path.basename(options.model.rstrip('/')), 'type': job.pilot.kind},
        'method': method, 'window': window, 'confidence': health.CONFIDENCE, 'limits': limits,
        'strength_scale': scale,
        'surface_edge': int(edge), 'frame_height': int(job.camera_shape[0]), 'surface_edge_source': edge_source,
        'calibrated_on': {'tubs': [str(t) for t in options.tubs], 'frames': len(records),
                          'alarm_frames': int(alarm.sum()),
                          'alarm_records': [_span(records, a, b) for a, b in health.stretches(alarm)],
                          'median': medians},
        'warnings': ([doubt] if doubt else []) + _unreachable(limits, medians, edge) + list(job.reader.warnings),
        'skipped': dict(job.reader.skipped.reasons),
    }
    from donkey_saliency.writers import write_texts
    write_texts([(options.out, json.dumps(result, indent=1), '--out')])
    return result


def _edge(options, session, job):
    """(surface edge, where it came from, why it is doubtful or None): --horizon, else found on frames spread
    over the range (core.attention), as the report finds it."""
    from donkey_saliency.core import attention
    height = job.camera_shape[0] if job.camera_shape else None
    if options.horizon is not None:
        if height and options.horizon >= height:
            raise UserError(f'--horizon {options.horizon} lies below the camera frame, which has {height} rows')
        return options.horizon, '--horizon', None
    sample, _ = session.sample(EDGE_FRAMES, shape=job.camera_shape)
    images = None if sample is None else sample.images
    if images is None:
        raise UserError(f'no readable images in range ({job.reader.skipped}); nothing to calibrate on')
    edge = attention.surface_edge(images)
    doubt = attention.edge_doubt(images, edge)
    return (edge, f'the far edge of the floor, found on {len(images)} frames spread over the range',
            doubt and doubt + '; set the edge with --horizon ROW where the floor ends')


def _numbers(job, length, edge, progress):
    """({number: (N,)}, records) of every readable frame in record order, strength unscaled (health.Series)."""
    from tqdm import tqdm
    from donkey_saliency.core import health
    series, records = health.Series(edge, job.camera_shape[0]), []
    with tqdm(total=length, unit='frame', desc='calibrate', disable=not progress,
              dynamic_ncols=True) as bar:
        for batch in job.batches():
            inferred = job.infer(batch)
            bar.update(len(inferred.records) + inferred.dropped)
            if inferred.records:
                series.add(inferred.raw[0], [record.get('_tub') for record in inferred.records])
                records += inferred.records
    if not records:
        raise UserError(f'no readable records in range ({job.reader.skipped}); nothing to calibrate on')
    return series.arrays(), records


def _unreachable(limits, medians, edge):
    """Why a share's limit can never raise the alarm: it is 1 or more, and a share is at most 1 (a pilot that
    keeps nearly all its attention above the surface edge on a good run)."""
    from donkey_saliency.core.health import SHARES
    return [f'the limit of {name} is {limits[name]:.3f}, and a share is at most 1: it can never raise the alarm for '
            f'this pilot (median {medians[name]:.3f} on this tub), which rests on the other numbers'
            + (f'; if the floor does not end at row {edge}, pass --horizon ROW' if name == 'above_edge' else '')
            for name in SHARES if limits[name] >= 1]


def _span(records, first, last):
    """A stretch of frames as the records it covers: {tub, first, last} (record indexes, as donkey ui shows)."""
    return {'tub': records[first].get('_tub'), 'first': records[first].get('_index', first),
            'last': records[last].get('_index', last)}


def _median(values):
    values = np.asarray(values)[np.isfinite(values)]
    return float(np.median(values)) if len(values) else None


def summary(result, out):
    """What the user reads: where the file went, the limits, and how often and where the alarm would have been
    on over the tub it was calibrated on."""
    on = result['calibrated_on']
    share = on['alarm_frames'] / on['frames']
    spans = on['alarm_records']
    where = ', '.join(f'{s["first"]}-{s["last"]}' if s['first'] != s['last'] else f'{s["first"]}' for s in spans[:12])
    more = f' and {len(spans) - 12} more' if len(spans) > 12 else ''
    limits, median = result['limits'], on['median']
    lines = [f'wrote {out} for {result["pilot"]["file"]} ({result["pilot"]["type"]}, {result["method"]} maps): '
             f'{on["frames"]} frames, window {result["window"]} frames',
             f'limits (median in brackets): attention above the surface edge (row {result["surface_edge"]}) at most '
             f'{limits["above_edge"]:.3f} ({median["above_edge"]:.3f}), its change from frame to frame at most '
             f'{limits["change"]:.3f} ({median["change"]:.3f}), its strength at least {limits["strength"]:.2f} '
             f'(1 by definition)',
             f'the alarm would have been on for {on["alarm_frames"]} of {on["frames"]} frames ({share:.1%})'
             + (f', at records {where}{more}' if spans else '')]
    if share > 0.1:
        lines.append('warning: that is often for a run the pilot drives well: calibrate on a tub it drives well, '
                     'or a longer one')
    lines += [f'warning: {warning}' for warning in result['warnings']]
    return lines
