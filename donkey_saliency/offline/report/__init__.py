"""`donkey saliency report`: where pilots look over whole tubs, and what to change, as one self-contained HTML page
and a JSON file.

One streamed pass over the range: every pilot explains the same batches in lockstep through the one engine (its
maps at camera size, as the video's), beside the model-free spectral-residual control; `collect` keeps what the
findings need, `findings` turns it into numbers and advice (the JSON), `page` draws the HTML. Before the pass,
frames spread over the range give the lines (the surface edge, or --horizon, and the skyline) and, after it, the
pilot's own answers to the crop and mirror tests (`core.counterfactual`), from which the advice comes.
"""
import json
import math
import time
from dataclasses import dataclass, field

from donkey_saliency.errors import UserError
from donkey_saliency.offline.session import Request

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
    config: object = None  # a car config.py, or a list of them: one per model, in the order of the models
    start: int = 0
    end: int = -1
    every: int = 1
    horizon: int = None
    imu_lateral: str = 'y'  # the IMU chip axis across the car, for an IMU pilot's mirror test (as `mirror`'s)
    frames: int = 200  # frames spread over the range the lines and the crop and mirror tests are measured on
    evaluate: bool = False
    batch_size: int = 64
    progress: bool = True
    settings: dict = field(default_factory=dict)
    review_out: str = None  # the TRAIN_FILTER file for myconfig.py that leaves the records to review out (review.py)
    delete: bool = False  # checked here for --delete (tub/delete.py), which the CLI asks to confirm after the run
    health: str = None  # a health file (`calibrate`): the alarm computed from the maps where the tub lacks it

    def requests(self):
        """What each pilot is asked, as every command's inputs (offline.session.Request): one per model."""
        return [Request(self.tubs, model, self.type, config, self.start, self.end, self.method, self.settings)
                for model, config in zip(self.models, _configs(self))]


def check(options):
    """Every check that needs no TensorFlow; returns the options with --tub's folders and globs expanded, and the
    tubs opened."""
    import os
    from dataclasses import replace
    from donkey_saliency.offline import session
    from donkey_saliency.writers import check_destination
    tubs = session.Tubs.checked(options.tubs)
    options = replace(options, tubs=tubs.paths)
    if not options.models:
        raise UserError('no pilot given; pass --model FILE (repeat it to compare pilots side by side)')
    for request in options.requests():
        session.check_inputs(request)
    if options.every < 1 or options.batch_size < 1:
        raise UserError('--every and --batch-size must be whole numbers of at least 1')
    if options.frames < 2:
        raise UserError(f'--frames must be at least 2 (the tests compare frames with each other), not '
                        f'{options.frames}')
    from donkey_saliency.offline.mirror import check_imu_lateral
    check_imu_lateral(options.imu_lateral)
    if options.horizon is not None and options.horizon < 1:
        raise UserError(f'--horizon is a row of the camera frame counted from the top, at least 1, not '
                        f'{options.horizon}')
    check_destination(options.out, ('.html',), options.tubs)
    if options.json:
        check_destination(options.json, ('.json',), options.tubs, '--json')
        if os.path.abspath(options.json) == os.path.abspath(options.out):
            raise UserError('--json and --out name the same file; choose two names')
    if options.review_out:
        check_destination(options.review_out, ('.py',), options.tubs, '--review-out')
        if os.path.abspath(options.review_out) in (os.path.abspath(options.out), os.path.abspath(options.json or '')):
            raise UserError('--review-out names the same file as --out or --json; choose another name')
    if options.delete:
        from donkey_saliency.tub import delete as soft_delete
        soft_delete.check(options.tubs)
    from donkey_saliency.offline.report import health_review
    return options, tubs, health_review.check(options)


def run(options):
    """Make the report; returns its JSON content. Raises UserError for anything the user can fix."""
    options, tubs, health_file = check(options)
    started = time.time()
    from donkey_saliency.core import attention, carconfig
    from donkey_saliency.offline.report import alarm_review, findings, fix, health_review, page, review
    from donkey_saliency.offline.session import Session
    from donkey_saliency.offline.stages import VideoJob
    configs = _configs(options)
    sessions = [Session(request, tubs) for request in options.requests()]  # all share the tubs' one opening
    crops = [_car_crop(s.cfg, s.from_car) for s in sessions]
    steps = [list(getattr(s.cfg, 'TRANSFORMATIONS', None) or []) for s in sessions]
    jobs = [VideoJob(_video_options(options, options.method), s, counted=n == 0) for n, s in enumerate(sessions)]
    control = VideoJob(_video_options(options, 'spectral-residual'), sessions[0], counted=False)
    total = sessions[0].length
    sample = _sample(options, sessions, jobs)
    edge, skyline, horizon_source, doubt, scenery = _lines(options, sample)
    for job in jobs + [control]:  # all explain the same frames
        job.fix_camera_shape(sample.shape)
    watch = health_review.watch(options, health_file, sessions, edge, sample.shape[0])
    collector = _pass(options, jobs, control, edge, total, watch)
    floor = {row: attention.floor_above(sample.images, row) for row in (edge, skyline) if row}  # (the same for all)
    models = []
    for n, (model, job, (crop_top, cropped)) in enumerate(zip(options.models, jobs, crops)):
        lines = {'surface_edge': edge, 'skyline': skyline, 'config_roi_crop_top': crop_top}
        tests = _tests(options, job, sample, lines, collector.tracks[n], floor, _lanes(job, configs[n]))
        found = findings.model_findings(collector, n, model, job.pilot.kind, lines, options.method, cropped, tests,
                                        scenery, doubt)
        run = {'tubs': options.tubs, 'config': carconfig.resolve(configs[n]), 'transformations': steps[n],
               'type': options.type, 'imu_lateral': options.imu_lateral, 'start': options.start, 'end': options.end}
        found['advice'].update(fix.fix(found['advice'], model, job.pilot.kind, run))
        models.append(found)
    for later in models[1:]:
        later['what_changed'] = findings.what_changed(models[0], later)
    crop_top, cropped = crops[0]
    result = {'configs': [carconfig.used(config) for config in configs],
              'frames': collector.frames, 'method': options.method, 'tubs': list(options.tubs),
              'start': options.start, 'end': options.end, 'every': options.every,
              'horizon_source': horizon_source, 'surface_edge_doubt': doubt, 'scenery': scenery,
              'car_roi_crop_top': crop_top, 'car_crop_applied': cropped,
              'skipped': dict(jobs[0].reader.skipped.reasons), 'skipped_tubs': tubs.skipped_tubs,
              'warnings': jobs[0].reader.warnings,
              'models': models,
              'between_pilots': findings.between_pilots(collector) if len(jobs) > 1 else [],
              'faithfulness': _faithfulness(options, sessions, sample.shape) if options.evaluate else None}
    health = health_review.review(collector, watch, models)
    result['health'] = health.found
    result['alarm'] = alarm_review.alarm_findings(result, collector, health)
    result['review'] = review.moments(result, collector, jobs[0].reader.skipped.bad_images)
    result['seconds'] = round(time.time() - started, 1)
    _write(options, result, page.render(result, collector, [job.requests[0] for job in jobs], health))
    return result


def _car_crop(cfg, from_car):
    """(ROI_CROP_TOP of the car's config or None, whether the car applies it): donkeycar 5 masks those rows only
    when 'CROP' is among its TRANSFORMATIONS or POST_TRANSFORMATIONS."""
    from donkey_saliency.core.carconfig import transformation_names
    rows = int(getattr(cfg, 'ROI_CROP_TOP', 0) or 0) if from_car else 0
    return (rows or None), bool(rows) and 'CROP' in transformation_names(cfg)


def _configs(options):
    """The car config of each model: one given for all, or one per model in the same order."""
    configs = options.config if isinstance(options.config, (list, tuple)) else [options.config]
    if len(configs) == 1:
        return list(configs) * len(options.models)
    if len(configs) != len(options.models):
        raise UserError(f'{len(configs)} --config for {len(options.models)} --model: give one config for all '
                        'pilots, or one per pilot in the order of --model')
    return list(configs)


def _video_options(options, method):
    """What a pilot's explaining in the pass takes of the video's options (the method, the batches)."""
    from donkey_saliency.offline.video import Options
    return Options(tubs=options.tubs, method=method, target='angle',
                   settings=options.settings if method == options.method else {},
                   start=options.start, end=options.end, every=options.every, batch_size=options.batch_size)


def _sample(options, sessions, jobs):
    """options.frames windows spread over the range whose images decode, of the most common shape (windows with an
    image of another size are left out), long enough for every pilot's history, of records every pilot takes."""
    sample, _ = sessions[0].sample(options.frames, max(s.inputs.history for s in sessions),
                                   accepts=lambda record: all(s.inputs.accepts(record) for s in sessions))
    if sample is None:
        raise UserError(f'no readable records in range ({jobs[0].reader.skipped}); nothing to report on')
    return sample


def _lines(options, sample):
    """(surface edge, skyline, where the edge came from, why it is doubtful or None, the kind of place):
    --horizon, else found on the sample's frames (core.attention)."""
    from donkey_saliency.core import attention
    if options.horizon is not None:
        if options.horizon >= sample.shape[0]:
            raise UserError(f'--horizon {options.horizon} lies below the camera frame, which has {sample.shape[0]} '
                            'rows')
        edge, source, doubt = options.horizon, '--horizon', None
    else:
        edge = attention.surface_edge(sample.images)
        source = f'the far edge of the floor, found on {len(sample.images)} frames spread over the range'
        doubt = attention.edge_doubt(sample.images, edge)
        if doubt:
            doubt += '; look at the average picture, and set the edge with --horizon ROW where the floor ends'
    skyline = attention.skyline(sample.images, edge)
    return edge, skyline, source, doubt, attention.scenery_kind(sample.images, edge, skyline)


def _lanes(job, config):
    """A behaviour pilot's lanes for its mirror: the BEHAVIOR_LIST of the car config given (as `donkey saliency
    mirror` reads it), or None without one: donkeycar's template lanes are not this car's."""
    if 'xbehavior_in' not in job.inputs.names or not config:
        return None
    from donkey_saliency.offline.mirror import behaviour_list
    try:
        return behaviour_list(config)
    except UserError:  # a config without lanes: the mirror test says it cannot run, the report goes on
        return None


def _tests(options, job, sample, lines, track, floor, lanes=None):
    """The crop curve and the mirror test of one pilot on the sample's windows (`core.counterfactual`), and each
    test that could not run with the reason why (`not_tested`). `floor`: {row: share of the floor above it} for
    the rows a crop may be suggested at; `lanes`: the car's BEHAVIOR_LIST, for a behaviour pilot's mirror."""
    import numpy as np
    from donkey_saliency.core import attention, counterfactual
    from donkey_saliency.offline.mirror import InputsMirror
    window = job.inputs.length
    score = job.pilot.score('angle')  # a categorical pilot's expected value, not its argmax bin
    mirror = InputsMirror(job.inputs, options.imu_lateral, lanes)
    windows = sample.windows[:, -window:]

    def steer(edited, which, mirrored=False):
        steering = []
        for i in range(0, len(edited), options.batch_size):
            chunk = edited[i:i + options.batch_size]
            seen = np.stack([[job.pilot_input(frame) for frame in frames] for frames in chunk]).astype(np.float32)
            inputs = job.inputs.of_windows(seen / np.float32(255),
                                           [sample.record_windows[j] for j in which[i:i + options.batch_size]])
            steering.append(np.asarray(score(job.pilot.predict(mirror(inputs) if mirrored else inputs))))
        return np.concatenate(steering)

    untested = {}
    rows = set(attention.band_edges(sample.shape[0])[1:]) | {row for row in lines.values() if row}
    partners = counterfactual.swap_partners(sample.places, sample.times)
    curve = counterfactual.crop_curve(steer, windows, partners, sorted(rows), sample.user_angles)
    average = track.average
    for point in curve:
        point['attention_above'] = None if average is None else float(average[:point['row']].sum())
        if point['row'] in floor:
            point['floor_above'] = floor[point['row']]
    if not curve:
        untested['crop'] = (f'no two of the {len(sample.images)} frames lie {counterfactual.MIN_SECONDS:g} s or '
                            f'{counterfactual.MIN_RECORDS} records apart, so no frame has a background to swap in; '
                            'report on a longer range')
    if mirror.missing:
        untested['flip'] = mirror.missing
    found = _untested(untested, window)
    found['crop_curve'] = curve
    found['mirrored_inputs'] = mirror.changed
    if not mirror.missing:
        found['mirror'] = counterfactual.mirror_test(steer, windows)
    return found


def _untested(why, window):
    """A pilot's test results with nothing measured yet, and `why` ({test: reason}) the tests that cannot run."""
    from donkey_saliency.core import counterfactual
    found = {'crop_curve': [], 'mirror': counterfactual.mirror_test(None, []), 'window': window,
             'not_tested': [{'test': test, 'why': reason} for test, reason in why.items()]}
    if 'crop' in why:
        found['not_measured'] = why['crop']  # (the key scripts read before not_tested)
    return found


def _pass(options, jobs, control, horizon, total, watch):
    """Every pilot and the control over the range, batch by batch, into a Collector (and `watch`'s health
    numbers)."""
    from tqdm import tqdm
    from donkey_saliency.offline.report.collect import Collector
    from donkey_saliency.offline.video import Stage
    loaded = jobs[0].batches()

    def explain(batch):
        batch = _common(batch, jobs)
        return [job.infer(batch) for job in jobs + [control]]

    stage = Stage(loaded, explain)
    collector = None
    try:  # the bar is closed on every way out (an interrupt too), so that the line about a stop starts its own line
        with tqdm(total=math.ceil(total / options.every), unit='frame', desc='report',
                  disable=not options.progress, dynamic_ncols=True) as bar:
            stage.start()
            for inferred in stage:
                first = inferred[0]
                bar.update(len(first.frames) + first.dropped)
                if not first.frames:
                    continue
                if collector is None:
                    collector = Collector(len(jobs), first.frames[0].image.shape[:2], horizon,
                                          math.ceil(total / options.every), watch)
                collector.add(first.records, [f.image for f in first.frames],
                              [(i.angle, i.throttle, i.raw[0]) for i in inferred[:-1]], inferred[-1].raw[0])
    finally:
        stage.stop()
        loaded.close()
    if collector is None:
        raise UserError(f'no readable records in range ({jobs[0].reader.skipped}); nothing to report on')
    return collector


def _common(batch, jobs):
    """The batch with only the frames every pilot can take (a memory pilot needs the user's values), so that all
    pilots explain the same frames; the others are counted once."""
    from donkey_saliency.tub.read import NO_USER_VALUES
    kept = [f for f in batch.frames if all(job.inputs.accepts(f.record) for job in jobs)]
    if len(kept) < len(batch.frames):
        jobs[0].reader.skipped.add(NO_USER_VALUES, len(batch.frames) - len(kept))
        batch.frames, batch.dropped = kept, batch.dropped + len(batch.frames) - len(kept)
    return batch


def _faithfulness(options, sessions, shape):
    """The evaluate table's numbers for the method, per pilot, on EVALUATE_FRAMES frames of the camera's `shape`
    (or why not), the frames read once for all pilots."""
    from donkey_saliency.offline import evaluation
    spread = sessions[0].spread(EVALUATE_FRAMES)
    results = []
    for session in sessions:
        request = session.request
        asked = evaluation.EvaluateOptions(
            tubs=options.tubs, model=request.model, type=options.type, config=request.config,
            method=[options.method], start=options.start, end=options.end, frames=EVALUATE_FRAMES,
            progress=options.progress, settings=options.settings)
        try:
            found = evaluation.measured(asked, session, *evaluation.sampled(asked, session, shape, spread))
            results.append(dict(found, model=request.model, table=evaluation.table(found)))
        except UserError as exc:  # e.g. a memory pilot, which evaluate does not take: said on the page
            results.append({'model': request.model, 'error': str(exc)})
    return results


def _write(options, result, html):
    """The page, the JSON and the review file, each whole or not at all."""
    from donkey_saliency.offline.report.review import filter_file
    from donkey_saliency.writers import write_texts
    write_texts([(options.out, html, '--out')] +
                ([(options.json, json.dumps(result, indent=1), '--json')] if options.json else []) +
                ([(options.review_out, filter_file(result['review'], result['tubs'], options.out), '--review-out')]
                 if options.review_out else []))
