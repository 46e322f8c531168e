"""`donkey saliency` / `donkey-saliency` / `python -m donkey_saliency`: argument parsing and exit codes only.

Exit codes: 0 done, 2 something the user can fix (one line, no traceback, no output file), 1 unexpected failure
(one line too, no output file; DONKEY_SALIENCY_TRACEBACK=1 shows the traceback), 130 interrupted (Ctrl-C), 143
terminated (SIGTERM), 129 hung up (SIGHUP: the terminal closed), all with no output file. Nothing heavy is
imported until the arguments are known, so --help is instant.
"""
import argparse
import os
import sys

from donkey_saliency.core import methods
from donkey_saliency.errors import Terminated, UserError, described, first_line

DESCRIPTION = """\
Make a video of where a donkeycar pilot looks: every frame of the tub with a saliency heat map
(bright = pixels that drive the pilot's convolution features), the user's steering/throttle (green line)
and the pilot's (blue line). Like `donkey makemovie --salient`, with the same flags."""

EPILOG = """\
examples:
  donkey saliency --tub data/tub_1 --model models/pilot.h5
  donkey saliency --tub data/tub_1 --tub data/tub_2 --model models/pilot.h5 --config config.py --out run.mp4
  donkey saliency --tub data/tub_1 --model models/pilot.h5 --start 100 --end 600 --out clip.gif
  donkey saliency --tub data --model models/pilot.h5   (every tub in the car's data folder, oldest first)
  donkey saliency --tub 'data/tub_*' --model models/pilot.h5 --per-tub --jobs 2 --out videos
  donkey saliency --demo          (the bundled sample tub and pilot)
  donkey saliency export --model models/pilot.h5   (a .tflite with the map built in, for the car)
  donkey saliency evaluate --tub data/tub_1 --model models/pilot.h5 --method all   (can the maps be trusted?)
  donkey saliency report --tub data/tub_1 --model models/pilot.h5   (where it looks, and what to change)
  donkey saliency mirror --tub data/tub_1 --out data/tub_1_mirror   (a mirrored copy to train on beside it)
  donkey saliency calibrate --tub data/tub_1 --model models/pilot.h5   (health.json: the car's alarm)

Maps that explain one output are signed for steering (red pushes right, blue pushes left).
Pilots: Keras .h5, .savedmodel and .keras files of every donkeycar type (linear, categorical, inferred, imu,
memory, behavior, localizer, rnn, 3d), and .tflite files; the inputs beyond the image come from the records.

The car's config.py (and its myconfig.py) is optional: with it, the pilot sees frames through the car's
TRANSFORMATIONS and the video runs at DRIVE_LOOP_HZ; without it, ./config.py is used when present, else the
image size comes from the model and the frame rate from the records' timestamps."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line, with exit code 2, naming the flag meant for a misspelt one."""

    def error(self, message):
        raise UserError(f'{message}{self._meant(message)} (see {self.prog} --help)')

    def _meant(self, message):
        """'; did you mean --method?' for each unknown flag close to a known one ('' when none is)."""
        import difflib
        if not message.startswith('unrecognized arguments:'):
            return ''
        known = [flag for flag in self._option_string_actions if flag.startswith('--')]
        meant = [difflib.get_close_matches(word.split('=')[0], known, n=1, cutoff=0.7)
                 for word in message.split(':', 1)[1].split() if word.startswith('--')]
        return ''.join(f'; did you mean {close[0]}?' for close in meant if close)


def methods_help():
    """The methods part of --help, from the registry."""
    lines = ['methods (--method):']
    for m in methods.METHODS.values():
        files = 'Keras or .tflite pilots' if m.tflite else 'Keras pilots'
        lines.append(f'  {m.name:21s} {m.answers} ({"one output, " if m.per_output else ""}{files})')
    return '\n'.join(lines)


def build_parser(prog):
    p = _Parser(prog=prog, description=DESCRIPTION, epilog=methods_help() + '\n\n' + EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_inputs(p, notes={'--tub': ', each frame labelled with its tub', '--config': ' (and the loop rate)',
                         '--method': '; see below', '--start': '; with --per-tub, in each tub'})
    p.add_argument('--out', help='video to write, .mp4 or .gif (default: saliency.mp4, demo.mp4 with --demo); with '
                   '--per-tub the folder of the videos, created when missing (default: saliency)')
    p.add_argument('--per-tub', action='store_true', help='one video per tub, <tub folder name>.mp4 (or .gif), in '
                   'the folder --out names')
    p.add_argument('--format', choices=('mp4', 'gif'), help='the videos\' format with --per-tub (default mp4); '
                   'without it, --out\'s suffix says')
    p.add_argument('--jobs', type=int, default=1, metavar='N', help='with --per-tub: render N tubs at a time in '
                   'worker processes sharing the cores (default 1)')
    p.add_argument('--output', default='angle', help='what an output-specific method explains: angle (default; '
                   'steering means the same), throttle, or all (one panel each)')
    p.add_argument('--layout', default='overlay', help='overlay (default): the map over the camera frame; panels: '
                   'camera | vbp | the chosen method, side by side')
    sign = p.add_mutually_exclusive_group()
    sign.add_argument('--signed', dest='signed', action='store_true', default=None,
                      help='signed maps for every output (default: steering signed, throttle unsigned)')
    sign.add_argument('--unsigned', dest='signed', action='store_false', help='unsigned maps for every output')
    p.add_argument('--every', type=int, default=1, metavar='N', help='render every Nth record (long tubs, small '
                   'gifs); the video keeps real time (default 1: every record)')
    p.add_argument('--scale', type=int, default=2, help='enlarge the camera frame this many times (default 2)')
    p.add_argument('--fps', type=float, help='video frame rate (default: DRIVE_LOOP_HZ or the recorded rate)')
    p.add_argument('--batch-size', type=int, default=64, metavar='N', help='frames per pilot call (default 64)')
    p.add_argument('--alpha', type=float, default=0.5, metavar='A', help='heat map opacity, 0 to 1 (default 0.5)')
    p.add_argument('--clip', type=float, default=99.0, metavar='PCT', help='display scaling: this percentile of '
                   'the map\'s magnitude is drawn at full strength (default 99: the strongest 1%% of pixels)')
    p.add_argument('--normalize', default='frame', choices=('frame', 'run'), help='scale each frame\'s map on its '
                   'own (frame, default) or all on one scale fixed from a first pass over up to 128 frames '
                   'spread over the run (run: strength comparable from frame to frame)')
    p.add_argument('--no-user', dest='user', action='store_false', help='do not draw the user\'s steering line')
    p.add_argument('--no-pilot', dest='pilot', action='store_false', help='do not draw the pilot\'s steering line')
    p.add_argument('--save-maps', nargs='?', const='', metavar='FILE.npz', help='also save the maps, record '
                   'indexes and pilot outputs; without a file name beside the video, with its name (with --per-tub: '
                   'beside each video)')
    p.add_argument('--no-progress', dest='progress', action='store_false', help='no progress bar')
    p.add_argument('--demo', action='store_true', help='run on the sample tub and pilot shipped with this package')
    p.add_argument('--salient', action='store_true', help='accepted for makemovie compatibility (always on)')
    return p


def add_inputs(p, several=False, method_help=None, own=(), notes=None):
    """The flags every command takes (--tub --model --type --config --start --end --method and the methods'
    settings), declared once; `inputs_from` reads them back. `several`: --model and --config repeated (the
    report's pilots side by side); `method_help` the command's own --method wording; `own`: settings whose flag the
    command declares for itself (evaluate's --steps); `notes`: words a command adds to a flag's help."""
    notes = notes or {}
    p.add_argument('--tub', action='extend', nargs='+', metavar='PATH', help='tub folder to read (repeat for several '
                   'tubs), a folder of tubs (a car\'s data/) or a quoted glob (\'data/tub_*\'): their tubs, oldest '
                   f'first{notes.get("--tub", "")}')
    p.add_argument('--model', action='extend' if several else 'store', nargs='+' if several else None,
                   metavar='FILE', help='the pilot: .h5, .savedmodel, .keras or .tflite, as donkeycar saves them'
                   + ('; repeat to compare pilots side by side' if several else ''))
    p.add_argument('--type', help='pilot type (linear, categorical, inferred, imu, memory, behavior, localizer, rnn, '
                   '3d, with tflite_ allowed); default: read from the model file')
    p.add_argument('--config', action='append' if several else 'store', help='the car\'s config.py (default: '
                   f'./config.py when present): its TRANSFORMATIONS and image size{notes.get("--config", "")}, as on '
                   'the car' + ('; once for all pilots, or once per --model in the same order (a pilot trained with '
                                'other transformations, e.g. the crop)' if several else ''))
    p.add_argument('--method', default='vbp', help=method_help or f'saliency method: {", ".join(methods.METHODS)} '
                   f'(default vbp{notes.get("--method", "")})')
    for name, (setting, users) in methods.all_settings().items():
        if name not in own:
            p.add_argument(f'--{name}', metavar=setting.metavar,
                           help=f'{", ".join(users)}: {setting.help} (default {setting.default})')
    p.add_argument('--start', type=int, default=0, metavar='N', help='first record, counted from 0 (default 0'
                   f'{notes.get("--start", "")})')
    p.add_argument('--end', type=int, default=-1, metavar='N', help='stop before this record; -1 = to the end '
                   '(default)')


def inputs_from(args, own=()):
    """The flags of `add_inputs` as the fields of offline.session.Request, the car config ./config.py by default
    (session.default_config)."""
    from donkey_saliency.offline.session import default_config
    return dict(tubs=args.tub or [], model=args.model, type=args.type, config=default_config(args.config),
                start=args.start, end=args.end, method=args.method,
                settings={k: getattr(args, k) for k in methods.all_settings() if k not in own})


def options_from(args):
    """Turn parsed arguments into video.Options, filling the demo's inputs and the default config."""
    from donkey_saliency.offline.video import Options
    inputs = inputs_from(args)
    out = args.out or ('saliency' if args.per_tub else f'{"demo" if args.demo else "saliency"}.{args.format or "mp4"}')
    if args.demo:
        from donkey_saliency import sample
        if args.tub or args.model:
            raise UserError('--demo uses the bundled sample; leave out --tub and --model')
        inputs.update(tubs=[sample.TUB], model=sample.MODEL, config=args.config)  # (the sample's, not ./config.py)
    return Options(**inputs, out=out, target=args.output, layout=args.layout, signed=args.signed,
                   scale=args.scale, fps=args.fps,
                   batch_size=args.batch_size, alpha=args.alpha, user=args.user, pilot=args.pilot,
                   save_maps=args.save_maps, progress=args.progress, clip=args.clip, normalize=args.normalize,
                   every=args.every, per_tub=args.per_tub, format=args.format, jobs=args.jobs)


EXPORT_DESCRIPTION = """\
Make a .tflite twin of a Keras pilot with the saliency map built in: its outputs are the pilot's, plus
`saliency` (VisualBackProp) and, with --gradcam, `saliency_gradcam_angle` (signed Grad-CAM for steering), raw
and unscaled, as the engine computes them. Built-in TFLite ops only: it runs with tflite-runtime or
ai-edge-litert on a Raspberry Pi, where the SalientPilot part reads the map from the same invoke() that steers
the car."""


def build_export_parser(prog):
    p = _Parser(prog=f'{prog} export', description=EXPORT_DESCRIPTION,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', required=True, metavar='FILE', help='the Keras pilot (.h5, .savedmodel, .keras)')
    p.add_argument('--out', metavar='FILE', help='the .tflite to write (default: next to the model, '
                   'NAME.saliency.tflite)')
    p.add_argument('--type', help='pilot type; default: read from the model file')
    p.add_argument('--gradcam', action='store_true', help='also export signed Grad-CAM for steering')
    return p


EVALUATE_DESCRIPTION = """\
Can these maps be trusted? Deletion and insertion (Petsiuk et al. 2018) on frames sampled from the tubs: the
most salient pixels are replaced by a blurred copy first (deletion: the pilot's output should leave its value
fast, lower AUC is better) or restored first into the blurred frame (insertion: higher is better), beside the
same measures for several random pixel orders. A method that does not clearly beat them (deletion below and
insertion above, each by more than two standard errors) is flagged, and so is one whose maps are blank on some
frames. Exit 0 whenever the evaluation ran: a flagged method is a finding, not an error."""


EVALUATE_OWN = ('steps',)  # evaluate's --steps is the evaluation's; integrated gradients keeps its default there


def build_evaluate_parser(prog):
    p = _Parser(prog=f'{prog} evaluate', description=EVALUATE_DESCRIPTION,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_inputs(p, own=EVALUATE_OWN, notes={'--tub': ', frames sampled from them'},
               method_help=f'comma-separated methods, or all ({", ".join(methods.METHODS)}): every one the pilot file '
               'can answer (a .tflite: those it cannot are named, with why); default vbp')
    p.add_argument('--output', default='angle', help='what the maps explain: angle (default), throttle, or all')
    p.add_argument('--maps', action='extend', nargs='+', default=[], metavar='FILE.npz',
                   help='maps made elsewhere, in the layout of --save-maps, evaluated on the same frames')
    p.add_argument('--frames', type=int, default=200, metavar='N', help='frames spread over the range (default 200)')
    p.add_argument('--steps', type=int, default=16, metavar='N', help='steps from 0%% to 100%% of the pixels (16)')
    p.add_argument('--substrate', default='blur', help='what replaces pixels: blur (default), mean or black')
    p.add_argument('--random-orders', type=int, metavar='N', help='random pixel orders the maps are compared with '
                   '(default 5, at least 2: their spread is part of the margin)')
    p.add_argument('--json', metavar='FILE.json', help='also write the results as JSON')
    p.add_argument('--no-randomisation', dest='randomisation', action='store_false',
                   help='skip the model randomisation check (Keras pilots; on by default)')
    p.add_argument('--no-progress', dest='progress', action='store_false', help='no progress bar')
    return p


def run_evaluate(argv, prog):
    """`donkey saliency evaluate ...`: returns the lines to print."""
    args = build_evaluate_parser(prog).parse_args(argv)
    from donkey_saliency.offline import evaluation
    inputs = inputs_from(args, own=EVALUATE_OWN)
    inputs['method'] = evaluation.ALL if args.method == 'all' else [m.strip() for m in args.method.split(',')
                                                                     if m.strip()]
    options = evaluation.EvaluateOptions(
        **inputs, target=args.output, maps=args.maps, frames=args.frames, steps=args.steps,
        substrate=args.substrate, random_orders=args.random_orders, json=args.json, randomisation=args.randomisation,
        progress=args.progress)
    lines = evaluation.table(evaluation.run(options))
    return lines + ([f'results saved to {args.json}'] if args.json else [])


REPORT_DESCRIPTION = """\
Where does the pilot look over whole tubs, and what should change? One self-contained HTML page (it opens
offline; plots and pictures are embedded) and optionally JSON for scripts: the average map on a typical frame,
attention per band of rows and per third of the width along the run; the surface edge (the far edge of the
floor, found on the images, or --horizon), the skyline and the config's ROI_CROP_TOP as lines; the pilot asked
what a crop would take (the rows above each line swapped for another frame's: the crop curve) and whether it
has learnt a lean (each frame mirrored: the side bias), and from those, ROI_CROP_TOP = <row> or the flip
augmentation (donkey saliency mirror); the pilot's steering and throttle against the user's, with the largest
disagreements at distinct moments as pictures; every takeover (user/mode from local back to user) with the
seconds before it; the model-free spectral-residual map beside the pilot's. Several --model: side by side, the
frames where the pilots disagree most, and each later pilot against the first (did the advice work?)."""


def build_report_parser(prog):
    p = _Parser(prog=f'{prog} report', description=REPORT_DESCRIPTION,
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog='example:\n  donkey saliency report --tub data/tub_1 --model models/pilot.h5 --config config.py '
                       '--out report.html --json report.json')
    add_inputs(p, several=True, notes={'--config': ', and its ROI_CROP_TOP'})
    p.add_argument('--every', type=int, default=1, metavar='N', help='look at every Nth record (default 1: all)')
    p.add_argument('--horizon', type=int, metavar='ROW', help='the far edge of the drivable surface, as a row of the '
                   'camera frame counted from the top (default: found on the test frames: the row above which less '
                   'than half of the pixels look like the floor in front of the car)')
    p.add_argument('--frames', type=int, default=200, metavar='N', help='frames spread over the range on which the '
                   'lines are found and the pilot is asked what a crop or a mirror would change (default 200)')
    p.add_argument('--imu-lateral', default='y', choices=('x', 'y', 'z'), help='an IMU pilot\'s mirror test, as '
                   '`donkey saliency mirror`: the IMU chip axis that points across the car (default y: the chip flat, '
                   'x forward); imu/acl_<it> is negated, and the two other gyro axes')
    p.add_argument('--evaluate', action='store_true', help='add the faithfulness table of `donkey saliency evaluate` '
                   'for the method, on 100 frames per pilot')
    p.add_argument('--out', default='report.html', help='the page to write (default report.html)')
    p.add_argument('--json', metavar='FILE.json', help='also write the findings as JSON')
    p.add_argument('--review-out', metavar='FILE.py', help='also write the records to review (largest disagreements, '
                   'takeovers, unreadable images, the car\'s alarms) as a TRAIN_FILTER for the car\'s myconfig.py '
                   'that leaves them out of training; the tubs are not touched')
    p.add_argument('--delete', action='store_true', help='after the report, mark those records deleted in the tubs '
                   '(donkeycar\'s soft delete, restorable in donkey ui), on a confirmation line typed on stdin')
    p.add_argument('--yes', action='store_true', help='with --delete: no confirmation asked (for scripts)')
    p.add_argument('--health', metavar='FILE.json', help='a health file from `donkey saliency calibrate` for the '
                   'pilot: on a tub recorded without the car\'s alarm (a human drive), the alarm computed from the '
                   'maps with its limits (without it: the numbers only)')
    p.add_argument('--batch-size', type=int, default=64, metavar='N', help='frames per pilot call (default 64)')
    p.add_argument('--no-progress', dest='progress', action='store_false', help='no progress bar')
    return p


def run_report(argv, prog):
    """`donkey saliency report ...`: returns the lines to print."""
    args = build_report_parser(prog).parse_args(argv)
    if args.yes and not args.delete:
        raise UserError('--yes answers --delete\'s question; pass it with --delete, or leave it out')
    from donkey_saliency.offline import report
    inputs = inputs_from(args)
    inputs['models'] = inputs.pop('model') or []
    options = report.ReportOptions(
        **inputs, out=args.out, json=args.json, every=args.every, horizon=args.horizon, frames=args.frames,
        imu_lateral=args.imu_lateral, evaluate=args.evaluate, batch_size=args.batch_size, progress=args.progress,
        review_out=args.review_out, delete=args.delete, health=args.health)
    result = report.run(options)
    from donkey_saliency.offline.report.findings import headline
    from donkey_saliency.tub.read import describe_skipped
    skipped = describe_skipped(result['skipped'])
    lines = [f'wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB): {result["frames"]} frames, '
             f'{len(result["models"])} pilot(s), {result["seconds"]:.0f} s', f'skipped records: {skipped}']
    lines += [f'car config: {used}' for used in dict.fromkeys(result['configs'])]
    lines += [f'warning: {warning}' for warning in result['warnings']]
    if result['surface_edge_doubt']:
        lines.append(f'warning: {result["surface_edge_doubt"]}')
    for model in result['models']:
        advice = model['advice']
        name = os.path.basename(model['model'].rstrip('/'))
        said = headline(advice)
        lines.append(f'{name}: {"no change suggested" if said == "nothing to change" else said}')
        commands = dict(advice.get('commands', {}))
        lines += [f'  first, keep the config the pilot was trained with: {commands.pop("keep")}'] if 'keep' in \
            commands else []
        lines += [f'  in myconfig.py: {line}' for line in advice.get('myconfig', [])]
        lines += [f'  or, for the other crop: {line}' for line in advice.get('myconfig_alternative', [])]
        lines += [f'  then: {command}' for command in commands.values()]
        if model['blank_frames']:  # as the video's summary and the page say it
            lines.append(f'{name}: the map was blank (all zero) on {model["blank_frames"]} of {result["frames"]} '
                         'frames; they are left out of every share')
        for change in model.get('what_changed', []):
            lines.append(f'{name} against the first pilot: the {change["finding"]} advice '
                         + ('worked' if change['worked'] else
                            f'did not work: {"; ".join(change["failed"])}; {change["try"]}'))
    lines.append(f'health numbers: {result["health"]["said"]}')
    lines.append(f'alarm: {result["alarm"]["said"]}')
    lines += _review_lines(result, args)
    return lines + ([f'findings saved to {args.json}'] if args.json else [])


def _review_lines(result, args):
    """The records to review on stdout, where --review-out put their filter, and --delete's question and answer."""
    from donkey_saliency.offline.report import review
    count, tubs = review.records(result['review'])
    lines = [f'records to review: {count} in {tubs} tub(s), at {len(result["review"])} moment(s)' +
             (f'; the TRAIN_FILTER that leaves them out of training is in {args.review_out} (for myconfig.py)'
              if args.review_out else '; --review-out FILE.py writes a TRAIN_FILTER that leaves them out of training')]
    if args.delete:
        from donkey_saliency.tub import delete as soft_delete
        lines += soft_delete.confirmed_delete(review.indexes(result['review'], result['tubs']), args.yes,
                                              sys.stdin.readline, lambda line: _say(line, sys.stderr))
    return lines


MIRROR_DESCRIPTION = """\
Write a new tub that is the sources seen in a mirror: the flip augmentation donkeycar 5.3's training does not
have. Each readable record's camera image(s) flipped left to right, user/angle and every other steering key
(pilot/angle, ...) negated, the IMU's lateral axes flipped (see --imu-lateral) and the behaviour lanes swapped
(Left_Lane <-> Right_Lane, from the car's BEHAVIOR_LIST: --config), the rest copied; times and order kept,
deleted and unreadable records left out. A key whose meaning a mirror would change in an unknown way is refused
(--drop or --keep it). The sources are only read; the new tub appears whole, or not at all. Then train on both:
donkey train --tub data/tub_1,data/tub_1_mirror --model models/both.h5"""


def build_mirror_parser(prog):
    p = _Parser(prog=f'{prog} mirror', description=MIRROR_DESCRIPTION,
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog='example:\n  donkey saliency mirror --tub data/tub_1 --out data/tub_1_mirror --config config.py')
    p.add_argument('--tub', action='extend', nargs='+', metavar='PATH', help='tub folder(s) to mirror (v2 or v1), '
                   'data folders of tubs or quoted globs, written one after the other into the new tub')
    p.add_argument('--out', required=True, metavar='PATH', help='the new tub folder: one that does not exist, or an '
                   'empty one')
    p.add_argument('--config', help='the car\'s config.py, for its BEHAVIOR_LIST (default: ./config.py when '
                   'present); needed only when the records hold behaviour keys')
    p.add_argument('--imu-lateral', default='y', choices=('x', 'y', 'z'), help='the IMU chip axis that points '
                   'across the car (default y: the chip flat, x forward): imu/acl_<it> is negated, and the two '
                   'other gyro axes (roll and yaw for a flat chip)')
    p.add_argument('--drop', action='append', default=[], metavar='KEY', help='leave this record key out of '
                   'the mirror (repeat for several)')
    p.add_argument('--keep', action='append', default=[], metavar='KEY', help='copy this record key unchanged: '
                   'you know a left-right mirror does not change it (repeat for several)')
    p.add_argument('--no-progress', dest='progress', action='store_false', help='no progress bar')
    return p


def run_mirror(argv, prog):
    """`donkey saliency mirror ...`: returns the lines to print."""
    args = build_mirror_parser(prog).parse_args(argv)
    from donkey_saliency.offline import mirror
    from donkey_saliency.tub.read import describe_skipped
    from donkey_saliency.offline.session import default_config
    result = mirror.run(mirror.MirrorOptions(tubs=args.tub or [], out=args.out, config=default_config(args.config),
                                             keep=args.keep,
                                             drop=args.drop, imu_lateral=args.imu_lateral, progress=args.progress))
    return ([f'wrote {result["out"]}: {result["records"]} records mirrored from {len(result["tubs"])} tub(s)',
             f'skipped records: {describe_skipped(result["skipped"])}'] +
            [f'warning: {warning}' for warning in result['warnings']])


CALIBRATE_DESCRIPTION = """\
Make the health file the car watches its pilot with (SALIENCY_HEALTH = 'health.json' in myconfig.py): on a tub
the pilot drives well (its training tub, or a lap it drove), per frame the share of the map's attention above the
surface edge and how much of it moved since the previous frame, their means over a short window, and limits past
which the car raises its alarm: the 0.99 quantile of a Gamma fitted to those means (ThirdEye, Stocco et al. 2022,
use 0.95; see docs/car.md), and the same for the map's strength against its median (the lower tail).
The maps are the car's: the method of the car config's SALIENCY_METHOD (default vbp). The file names the pilot
file and type it was made for; the car refuses it for another. Says how often, and where, the alarm would have
been on over that tub."""


def build_calibrate_parser(prog):
    p = _Parser(prog=f'{prog} calibrate', description=CALIBRATE_DESCRIPTION,
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog='example:\n  donkey saliency calibrate --tub data/tub_1 --model models/pilot.h5 '
                       '--config config.py --out health.json')
    p.add_argument('--tub', action='extend', nargs='+', metavar='PATH', help='tub folder(s) the pilot drives well, '
                   'data folders of tubs or quoted globs, as the video takes them')
    p.add_argument('--model', metavar='FILE', help='the pilot file the car drives (.h5, .keras, .savedmodel or '
                   '.tflite: the car checks the name)')
    p.add_argument('--type', help='pilot type; default: read from the model file')
    p.add_argument('--config', help='the car\'s config.py (default: ./config.py when present): its TRANSFORMATIONS '
                   'and SALIENCY_METHOD, as the car uses them')
    p.add_argument('--out', default='health.json', help='the health file to write (default health.json)')
    p.add_argument('--window', type=int, metavar='N', help='frames whose numbers are averaged (default 10: half a '
                   'second at 20 Hz)')
    p.add_argument('--horizon', type=int, metavar='ROW', help='the surface edge, a row of the camera frame counted '
                   'from the top (default: found on the frames, as the report finds it)')
    p.add_argument('--start', type=int, default=0, metavar='N', help='first record, counted from 0 (default 0)')
    p.add_argument('--end', type=int, default=-1, metavar='N', help='stop before this record (default: the end)')
    p.add_argument('--batch-size', type=int, default=64, metavar='N', help='frames per pilot call (default 64)')
    p.add_argument('--no-progress', dest='progress', action='store_false', help='no progress bar')
    return p


def run_calibrate(argv, prog):
    """`donkey saliency calibrate ...`: returns the lines to print."""
    args = build_calibrate_parser(prog).parse_args(argv)
    from donkey_saliency.offline import calibrate
    from donkey_saliency.offline.session import default_config
    config = default_config(args.config)
    options = calibrate.CalibrateOptions(
        tubs=args.tub or [], model=args.model, out=args.out, type=args.type, config=config, horizon=args.horizon,
        window=args.window, start=args.start, end=args.end, batch_size=args.batch_size, progress=args.progress)
    return calibrate.summary(calibrate.run(options), args.out)


def run_export(argv, prog):
    """`donkey saliency export ...`: returns the lines to print."""
    args = build_export_parser(prog).parse_args(argv)
    from donkey_saliency.core import carconfig
    from donkey_saliency.car.export import export
    from donkey_saliency.writers import check_destination
    from donkey_saliency.core.pilot import check_model_path, load_pilot
    out = args.out or os.path.splitext(args.model.rstrip('/'))[0] + '.saliency.tflite'
    check_model_path(args.model)
    check_destination(out, ('.tflite',))
    cfg, _ = carconfig.load(None)
    outputs = export(load_pilot(args.model, args.type, cfg), out, gradcam=args.gradcam)
    return [f'wrote {out} with outputs {", ".join(outputs)}',
            'built-in TFLite ops only: it runs with tflite-runtime or ai-edge-litert, without TensorFlow']


def _kept(exc, before=''):
    """What a --per-tub run had finished when it stopped (videos whole, left in place), or ''."""
    kept = getattr(exc, 'kept', None)
    if not kept:
        return ''
    return (f'{before}no partial file written; the {len(kept)} video{"s" if len(kept) > 1 else ""} finished before '
            f'it {"are" if len(kept) > 1 else "is"} whole and kept in {exc.folder}')


def main(argv=None, prog='donkey saliency'):
    """Run the command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    from donkey_saliency.kernels import prefer_onednn
    prefer_onednn()  # before TensorFlow loads, as it reads the setting then
    import threading
    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        return _main(argv, prog)
    from donkey_saliency.stopping import stopped_by_signals
    with stopped_by_signals():
        return _main(argv, prog)


def _main(argv, prog):
    if not argv:  # a bare command: how to start, rather than an error about a missing tub
        build_parser(prog).print_usage(sys.stderr)
        print(f'{prog}: start with `{prog} --demo` (the bundled sample), or `{prog} --tub data/tub_1 --model '
              f'models/pilot.h5`; `{prog} --help` explains every flag', file=sys.stderr)
        return 2
    try:
        if argv[:1] == ['export']:
            lines = run_export(argv[1:], prog)
        elif argv[:1] == ['evaluate']:
            lines = run_evaluate(argv[1:], prog)
        elif argv[:1] == ['report']:
            lines = run_report(argv[1:], prog)
        elif argv[:1] == ['mirror']:
            lines = run_mirror(argv[1:], prog)
        elif argv[:1] == ['calibrate']:
            lines = run_calibrate(argv[1:], prog)
        else:
            options = options_from(build_parser(prog).parse_args(argv))
            if options.per_tub:
                from donkey_saliency.offline.batch import run
            else:
                from donkey_saliency.offline.video import run
            lines = run(options).lines()
    except UserError as exc:
        _say(f'{prog}: error: {exc}{_kept(exc, "; ")}', sys.stderr)
        return 2
    except PermissionError as exc:  # a tub, a model or an output folder this user may not read or write
        _say(f'{prog}: error: permission denied: {exc.filename or first_line(exc)}; check who owns it, or run as '
             f'its owner{_kept(exc, "; ")}', sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        _say(f'{prog}: interrupted; {_kept(exc) or "no output written"}', sys.stderr)
        return 130
    except Terminated as exc:
        _say(f'{prog}: {exc.said}; {_kept(exc) or "no output written"}', sys.stderr)
        return 128 + exc.signum
    except Exception as exc:  # a bug or a broken tool underneath (ffmpeg, TensorFlow): one line, no partial file
        if os.environ.get('DONKEY_SALIENCY_TRACEBACK'):
            raise
        _say(f'{prog}: unexpected error, {_kept(exc) or "no output written"}: {described(exc)} (set '
             'DONKEY_SALIENCY_TRACEBACK=1 for the details, and please report it)', sys.stderr)
        return 1
    for line in lines:
        _say(line, sys.stdout)
    return 0


def _say(line, stream):
    """Print a line. A reader that has gone (`| head -1`, a closed terminal) takes nothing more, and that is no
    failure of the run: the rest goes to /dev/null, so that the interpreter's last flush does not fail either."""
    try:
        print(line, file=stream, flush=True)
    except OSError:  # EPIPE from a closed pipe, EIO from a closed terminal
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def console():
    """Entry point of the `donkey-saliency` script and of `python -m donkey_saliency`, which can tell the user
    when `donkey saliency` does not reach them (donkeycar's own `donkey` cannot)."""
    from donkey_saliency.hookcheck import missing_hook_line
    line = missing_hook_line('donkey-saliency')
    if line:
        print(line, file=sys.stderr)
    sys.exit(main(prog='donkey-saliency'))
