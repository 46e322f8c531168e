"""--per-tub: one video per tub in the folder --out names, rendered here or in --jobs worker processes.

Workers are spawned, not forked (TensorFlow is not fork-safe), each with its share of the cores for
TensorFlow's and OpenCV's threads so that N of them do not oversubscribe the machine, and they report progress
and results on one queue: one progress bar, one summary. On Ctrl-C, SIGTERM or an error the workers are
stopped and each removes its unfinished files; videos already finished are whole and stay.
"""
import glob
import os
import signal
import time
from dataclasses import dataclass, replace

from donkey_saliency.errors import NothingToShow, UserError


@dataclass
class BatchSummary:
    """What a user reads at the end of a --per-tub run: a line per tub, then the totals."""
    folder: str
    summaries: list
    seconds: float
    jobs: int
    failed: list  # (tub, why) of the tubs that gave no video

    def lines(self):
        from donkey_saliency.tub.read import NO_USER_VALUES
        text = []
        for s in self.summaries:
            maps = f', maps {s.maps}' if s.maps else ''
            text.append(f'{s.out}: {s.frames} frames ({s.size / 1e6:.1f} MB), skipped records: {s.skipped}{maps}')
            if s.without_user:
                text.append(f"  {s.without_user} {NO_USER_VALUES}: drawn without the user's line")
            text += [f'  {line}' for line in s.blank_lines()]
            text += [f'  warning: {warning}' for warning in s.warnings]
        text += [f'{tub}: no video: {why}' for tub, why in self.failed]
        frames = sum(s.frames for s in self.summaries)
        videos = f'{len(self.summaries)} video{"s" if len(self.summaries) != 1 else ""}'
        text.append(f'wrote {videos}, {frames} frames, to {self.folder} in {self.seconds:.1f} s '
                    f'({self.jobs} job{"s" if self.jobs > 1 else ""})')
        return text


def plan(options):
    """Every check, then one video.Options per tub: its video (and maps) in the folder, named after the tub."""
    from donkey_saliency.offline import video
    from donkey_saliency.tub.read import tub_name
    from donkey_saliency.writers import VIDEO_SUFFIXES, check_outside_tubs
    options, _ = video.check_inputs(options)
    folder = options.out
    if os.path.splitext(folder)[1].lower() in VIDEO_SUFFIXES:
        raise UserError(f'with --per-tub, --out names a folder for the videos, not a file like {folder}; '
                        'use --format gif for gifs')
    check_outside_tubs(folder, options.tubs)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UserError(f'cannot write into {folder}: it is a file; with --per-tub, --out names a folder')
    existing = os.path.abspath(folder)
    while not os.path.isdir(existing):
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK):
        raise UserError(f'cannot write into {folder}: {existing} is not writable; choose another --out')
    if options.save_maps:
        raise UserError('with --per-tub the maps go beside each video, as <tub>.npz: give --save-maps without a '
                        'file name')
    names = [tub_name(tub) for tub in options.tubs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UserError(f'--per-tub names each video after its tub folder, and several tubs are called '
                        f'{", ".join(twice)}; render those separately')
    suffix = options.format or 'mp4'
    return [replace(options, tubs=[tub], out=os.path.join(folder, f'{name}.{suffix}'), per_tub=False, jobs=1,
                    save_maps=os.path.join(folder, f'{name}.npz') if options.save_maps == '' else None)
            for tub, name in zip(options.tubs, names)]


def run(options):
    """Make every tub's video; returns a BatchSummary. A tub that holds nothing to show (nothing readable, nothing
    in the range) is listed and the others go on; only when no tub gives a video is that an error. Anything else
    (a pilot that does not load, a full disk, an interruption) stops the run: the exception carries `kept`, the
    videos finished before it, which are whole and stay."""
    from donkey_saliency.offline import video
    from donkey_saliency.tub.read import TubReader
    from donkey_saliency.writers import reporting_full_disk
    started = time.time()
    runs = plan(options)
    total = sum(video.shown(r, len(TubReader(r.tubs))) for r in runs)
    created = not os.path.isdir(options.out)
    with reporting_full_disk(options.out):
        os.makedirs(options.out, exist_ok=True)
    done, failed = [], []
    jobs = min(options.jobs, len(runs))
    try:
        with video.progress_bar(total, options.progress) as bar:  # closed before any line about how it ended
            if jobs == 1:
                for r in runs:
                    try:
                        done.append(video.run(r, bar))
                    except NothingToShow as exc:  # this tub only; anything else (the pilot, the disk) stops it
                        failed.append((r.tubs[0], str(exc)))
            else:
                _parallel(runs, jobs, bar, done, failed)
        if not done:
            raise UserError('no tub gave a video: ' + '; '.join(f'{tub}: {why}' for tub, why in failed))
    except BaseException as exc:
        exc.kept = [s.out for s in done]
        exc.folder = options.out
        raise
    finally:
        if created and not os.listdir(options.out):
            os.rmdir(options.out)
    by_out = {s.out: s for s in done}
    return BatchSummary(options.out, [by_out[r.out] for r in runs if r.out in by_out], time.time() - started, jobs,
                        failed)


def _parallel(runs, jobs, bar, done, failed):
    """Render `runs` in `jobs` spawned workers, a tub at a time each, appending each finished Summary to `done`
    and each tub that cannot be rendered, with why, to `failed`.
    Each worker has a pipe of its own (no shared queue, so no locks or semaphores to leave behind)."""
    import multiprocessing
    from multiprocessing.connection import wait
    context = multiprocessing.get_context('spawn')
    from donkey_saliency import cores
    threads = max(1, cores.usable() // jobs)
    pending = list(enumerate(runs))
    workers = {}
    for _ in range(jobs):
        ours, theirs = context.Pipe()
        worker = context.Process(target=_work, args=(theirs, threads), daemon=True)
        ignored = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: no Ctrl-C before the worker's setpgrp
        try:
            worker.start()
        finally:
            signal.signal(signal.SIGINT, ignored)
        theirs.close()
        workers[ours] = worker
        ours.send(pending.pop(0))
    finished = False
    busy = list(workers)  # the workers with a tub to render
    ending = set()  # the workers that end by themselves: out of tubs, or after reporting their error
    try:
        while len(done) + len(failed) < len(runs):
            for pipe in wait(busy, timeout=0.5):
                try:
                    kind, position, value = pipe.recv()
                except EOFError:
                    raise RuntimeError(f'a worker process ended (exit code {workers[pipe].exitcode}) before its tub '
                                       'was done') from None
                if kind == 'progress':
                    bar.update(value)
                elif kind in ('done', 'no video'):
                    if kind == 'done':
                        done.append(value)
                    else:
                        failed.append((runs[position].tubs[0], value))
                    bar.set_postfix_str(f'{len(done) + len(failed)}/{len(runs)} tubs')
                    if pending:
                        pipe.send(pending.pop(0))
                    else:  # it ends by itself: its pipe closes, which is no failure
                        pipe.send(None)
                        busy.remove(pipe)
                        ending.add(pipe)
                elif kind == 'user error':
                    ending.add(pipe)
                    raise UserError(f'{runs[position].tubs[0]}: {value}')
                else:
                    ending.add(pipe)
                    raise RuntimeError(f'{runs[position].tubs[0]}: {value}')
        finished = True
    finally:
        _stop(workers, runs, finished, ending)


def _stop(workers, runs, finished, ending):
    """Wait for the workers (asking those still at work to stop first, unless all are done; one that ends by
    itself is not signalled, so no SIGTERM meets it on its way out), reading what they still send so that none
    blocks on a full pipe; one that does not end in a minute is killed and its files removed here."""
    if not finished:
        for pipe, worker in workers.items():
            if pipe not in ending and worker.is_alive():
                worker.terminate()  # SIGTERM: the worker removes its unfinished files and ends
    from multiprocessing.connection import wait
    listening = list(workers)
    deadline = time.time() + 60
    while any(w.is_alive() for w in workers.values()) and time.time() < deadline:
        for pipe in wait(listening, timeout=0.1):
            try:
                pipe.recv()
            except (EOFError, OSError):
                listening.remove(pipe)
    stuck = [w for w in workers.values() if w.is_alive()]
    for worker in stuck:
        worker.kill()
        worker.join()
    for pipe in workers:
        pipe.close()
    if stuck:
        for r in runs:
            for path in filter(None, (r.out, r.save_maps)):
                folder, name = os.path.split(os.path.abspath(path))
                for temp in glob.glob(os.path.join(glob.escape(folder), f'.{glob.escape(name)}.*')):
                    os.remove(temp)


class _PipeBar:
    """A worker's progress display: frame counts sent to the parent's bar."""

    def __init__(self, pipe):
        self.pipe = pipe

    def update(self, frames):
        self.pipe.send(('progress', None, frames))


def _work(pipe, threads):
    """A worker process: its share of the cores, then the tubs the parent sends until None. SIGTERM (from the
    parent) stops it, its unfinished files removed on the way out. Ctrl-C is the parent's to handle: the worker
    and the encoders it starts run in a process group of their own, which a terminal's Ctrl-C does not reach
    (ffmpeg sets its own SIGINT handler, so ignoring the signal here would not be enough)."""
    import signal
    from donkey_saliency.errors import Terminated, described, first_line
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop_on_sigterm()
    try:
        _share_cores(threads)
        from donkey_saliency.offline import video
        bar = _PipeBar(pipe)
        while (task := pipe.recv()) is not None:
            position, options = task
            try:
                pipe.send(('done', position, video.run(options, bar)))
            except NothingToShow as exc:  # this tub gives no video; the next may
                pipe.send(('no video', position, str(exc)))
            except (UserError, PermissionError) as exc:
                pipe.send(('user error', position, str(exc) if isinstance(exc, UserError)
                           else f'permission denied: {exc.filename or first_line(exc)}'))
                return
            except Exception as exc:
                pipe.send(('error', position, described(exc)))
                return
    except (Terminated, EOFError, BrokenPipeError):  # stopped by the parent, or the parent is gone
        return
    finally:  # done: a late SIGTERM from the parent has nothing left to stop
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def stop_on_sigterm():
    """SIGTERM raises Terminated in this process; one that Python swallows, raised inside a callback (a weakref's
    while an import ends, a __del__), where an exception is only printed and the work goes on, is sent again a
    moment later and not printed: the worker still stops, and the user's terminal gets no traceback."""
    import signal
    import sys
    import threading
    from donkey_saliency.errors import Terminated, raise_terminated
    printed = sys.unraisablehook

    def hook(unraisable):
        if isinstance(unraisable.exc_value, Terminated):
            threading.Timer(0.05, os.kill, (os.getpid(), unraisable.exc_value.signum)).start()
        else:
            printed(unraisable)
    sys.unraisablehook = hook
    signal.signal(signal.SIGTERM, raise_terminated)


def _share_cores(threads):
    """TensorFlow's, OpenCV's and the TFLite occlusion's thread pools sized to this worker's share, before any
    graph is built."""
    import cv2
    from donkey_saliency.core import tflite
    from donkey_saliency.quiet import import_tensorflow
    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    cv2.setNumThreads(threads)
    tflite.OUTPUTS_THREADS = threads
