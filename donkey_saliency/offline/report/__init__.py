"""`donkey saliency report`: where pilots look over whole tubs, and what to change, as one self-contained HTML page
and a JSON file.

One streamed pass over the range: every pilot explains the same batches in lockstep through the one engine (its
maps at camera size, as the video's), beside the model-free spectral-residual control; `collect` keeps what the
findings need, `findings` turns it into numbers and advice (the JSON), `page` draws the HTML. The horizon is
found before the pass from frames spread over the range (or given with --horizon).
"""
import json
import math
import time
from dataclasses import dataclass, field

from donkey_saliency.errors import UserError

HORIZON_SAMPLE = 128   # frames whose average the horizon is found on
EVALUATE_FRAMES = 100  # frames the --evaluate table is measured on, per pilot


@dataclass
class ReportOptions:
    """Everything `donkey saliency report` can be asked, with the CLI's defaults."""
    tubs: list
    models: list
    out: str = 'report.html'
    json: str = None
    method: str = 'vbp'
    type: str = None
    config: str = None
    start: int = 0
    end: int = -1
    every: int = 1
    horizon: int = None
    evaluate: bool = False
    batch_size: int = 64
    progress: bool = True
    settings: dict = field(default_factory=dict)


def check(options):
    """Every check that needs no TensorFlow; returns the options with --tub's folders and globs expanded."""
    import os
    from dataclasses import replace
    from donkey_saliency.core import methods
    from donkey_saliency.core.pilot import check_model_path
    from donkey_saliency.offline.tubs import check_range, checked_tubs
    from donkey_saliency.offline.writers import check_destination
    options = replace(options, tubs=checked_tubs(options.tubs)[0])
    if not options.models:
        raise UserError('no pilot given; pass --model FILE (repeat it to compare pilots side by side)')
    for model in options.models:
        check_model_path(model)
    methods.get(options.method)
    methods.settings_for(options.method, options.settings)
    if options.every < 1 or options.batch_size < 1:
        raise UserError('--every and --batch-size must be whole numbers of at least 1')
    check_range(options.start, options.end)
    if options.horizon is not None and options.horizon < 1:
        raise UserError(f'--horizon is a row of the camera frame counted from the top, at least 1, not '
                        f'{options.horizon}')
    check_destination(options.out, ('.html',), options.tubs)
    if options.json:
        check_destination(options.json, ('.json',), options.tubs, '--json')
        if os.path.abspath(options.json) == os.path.abspath(options.out):
            raise UserError('--json and --out name the same file; choose two names')
    return options


def run(options):
    """Make the report; returns its JSON content. Raises UserError for anything the user can fix."""
    options = check(options)
    started = time.time()
    from donkey_saliency.core import carconfig
    from donkey_saliency.offline.report import findings, page
    from donkey_saliency.offline.stages import VideoJob
    cfg, from_car = carconfig.load(options.config)
    crop_top, cropped = _car_crop(cfg, from_car)  # (read before the jobs: donkeycar's transformer edits cfg)
    jobs = [VideoJob(_video_options(options, model, options.method), cfg, from_car) for model in options.models]
    control = VideoJob(_video_options(options, options.models[0], 'spectral-residual'), cfg, from_car)
    total = jobs[0].range_length()
    if total <= 0:
        raise UserError(f'no records in range: the tub(s) hold {jobs[0].records_available} records and --start is '
                        f'{options.start}')
    horizon, horizon_source, shape = _horizon(options, jobs[0], total)
    for job in jobs + [control]:  # all explain the same frames
        job.fix_camera_shape(shape)
    collector = _pass(options, jobs, control, horizon, total)
    result = {'frames': collector.frames, 'method': options.method, 'tubs': list(options.tubs),
              'start': options.start, 'end': options.end, 'every': options.every,
              'horizon_source': horizon_source, 'car_roi_crop_top': crop_top, 'car_crop_applied': cropped,
              'skipped': dict(jobs[0].reader.skipped.reasons), 'warnings': jobs[0].reader.warnings,
              'models': [findings.model_findings(collector, n, model, job.pilot.kind, horizon, options.method,
                                                  crop_top, cropped)
                         for n, (model, job) in enumerate(zip(options.models, jobs))],
              'between_pilots': findings.between_pilots(collector) if len(jobs) > 1 else [],
              'faithfulness': _faithfulness(options) if options.evaluate else None}
    _count_blank(result['models'], collector)
    result['seconds'] = round(time.time() - started, 1)
    _write(options, result, page.render(result, collector, [job.requests[0] for job in jobs]))
    return result


def _count_blank(models, collector):
    """Each pilot's `blank_frames`: the frames whose map was all zero (a method that saw nothing there), left out
    of every share rather than drawn as nothing in silence."""
    for model, track in zip(models, collector.tracks):
        model['blank_frames'] = track.blank


def _car_crop(cfg, from_car):
    """(ROI_CROP_TOP of the car's config or None, whether the car applies it): donkeycar 5 masks those rows only
    when 'CROP' is among its TRANSFORMATIONS or POST_TRANSFORMATIONS."""
    from donkey_saliency.core.carconfig import transformation_names
    rows = int(getattr(cfg, 'ROI_CROP_TOP', 0) or 0) if from_car else 0
    return (rows or None), bool(rows) and 'CROP' in transformation_names(cfg)


def _video_options(options, model, method):
    from donkey_saliency.offline.video import Options
    return Options(tubs=options.tubs, model=model, type=options.type, config=options.config, method=method,
                   target='angle', settings=options.settings if method == options.method else {},
                   start=options.start, end=options.end, every=options.every, batch_size=options.batch_size)


def _horizon(options, job, total):
    """The horizon row, where it came from (--horizon, else the average of frames spread over the range), and the
    camera frame's shape: the most common among those frames (images of another size are left out)."""
    import numpy as np
    from donkey_saliency.core import attention
    from donkey_saliency.offline.tubs import SHAPE_SAMPLE, TubReader, common_shape, spread_records
    count = SHAPE_SAMPLE if options.horizon is not None else HORIZON_SAMPLE  # (then only the shape is wanted)
    images = [job.camera_image(image) for image, _ in
              spread_records(TubReader(options.tubs), options.start, options.start + total, count)]
    if not images:
        raise UserError(f'no readable records in range ({job.reader.skipped}); nothing to report on')
    shape = common_shape(images)
    images = [image for image in images if image.shape == shape]
    if options.horizon is not None:
        if options.horizon >= shape[0]:
            raise UserError(f'--horizon {options.horizon} lies below the camera frame, which has {shape[0]} rows')
        return options.horizon, '--horizon', shape
    row = attention.horizon_row(np.mean(images, axis=0))
    return row, f'found on the average of {len(images)} frames spread over the range', shape


def _pass(options, jobs, control, horizon, total):
    """Every pilot and the control over the range, batch by batch, into a Collector."""
    from tqdm import tqdm
    from donkey_saliency.offline.report.collect import Collector
    from donkey_saliency.offline.video import Stage
    loaded = jobs[0].batches()

    def explain(batch):
        batch = _common(batch, jobs)
        return [job.infer(batch) for job in jobs + [control]]

    stage = Stage(loaded, explain)
    bar = tqdm(total=math.ceil(total / options.every), unit='frame', desc='report',
               disable=not options.progress, dynamic_ncols=True)
    collector = None
    stage.start()
    try:
        for inferred in stage:
            first = inferred[0]
            bar.update(len(first.frames) + first.dropped)
            if not first.frames:
                continue
            if collector is None:
                collector = Collector(len(jobs), first.frames[0].image.shape[:2], horizon,
                                      math.ceil(total / options.every))
            collector.add(first.records, [f.image for f in first.frames],
                          [(i.angle, i.throttle, i.raw[0]) for i in inferred[:-1]], inferred[-1].raw[0])
    finally:
        stage.stop()
        bar.close()
        loaded.close()
    if collector is None:
        raise UserError(f'no readable records in range ({jobs[0].reader.skipped}); nothing to report on')
    return collector


def _common(batch, jobs):
    """The batch with only the frames every pilot can take (a memory pilot needs the user's values), so that all
    pilots explain the same frames; the others are counted once."""
    from donkey_saliency.offline.tubs import NO_USER_VALUES
    kept = [f for f in batch.frames if all(job.inputs.accepts(f.record) for job in jobs)]
    if len(kept) < len(batch.frames):
        jobs[0].reader.skipped.add(NO_USER_VALUES, len(batch.frames) - len(kept))
        batch.frames, batch.dropped = kept, batch.dropped + len(batch.frames) - len(kept)
    return batch


def _faithfulness(options):
    """The evaluate table's numbers for the method, per pilot, on EVALUATE_FRAMES frames (or why not)."""
    from donkey_saliency.offline import evaluation
    results = []
    for model in options.models:
        try:
            found = evaluation.run(evaluation.EvaluateOptions(
                tubs=options.tubs, model=model, type=options.type, config=options.config, methods=[options.method],
                start=options.start, end=options.end, frames=EVALUATE_FRAMES, progress=options.progress,
                settings=options.settings))
            results.append(dict(found, model=model, table=evaluation.table(found)))
        except UserError as exc:  # e.g. a memory pilot, which evaluate does not take: said on the page
            results.append({'model': model, 'error': str(exc)})
    return results


def _write(options, result, html):
    """The page and the JSON, each whole or not at all."""
    from donkey_saliency.offline.writers import write_texts
    write_texts([(options.out, html, '--out')] +
                ([(options.json, json.dumps(result, indent=1), '--json')] if options.json else []))
