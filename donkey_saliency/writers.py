"""Files a run writes: the video (mp4/gif through ffmpeg) and the optional maps .npz.

Each goes to a hidden temporary file beside its destination and is renamed into place only when complete, so a
failed or interrupted run never leaves a partial file where the user looks. A full disk (or a file-size limit,
or a quota) is the user's to fix: one line naming the file, not a corrupt video.
"""
import contextlib
import errno
import os
import signal
import tempfile
import zipfile

import numpy as np

from donkey_saliency.errors import UserError

VIDEO_SUFFIXES = ('.mp4', '.gif')
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


@contextlib.contextmanager
def reporting_full_disk(path, flag='--out'):
    """Turn running out of space while writing `path` into a UserError; ffmpeg's report of it comes as text."""
    try:
        yield
    except OSError as exc:
        if exc.errno in DISK_FULL or any(os.strerror(code) in str(exc) for code in DISK_FULL):
            raise UserError(f'no space left on device writing {path}; free some space or choose another '
                            f'{flag}') from None
        raise


def check_destination(path, suffixes, tubs=(), flag='--out'):
    """Refuse an output path with an unknown suffix, in an unwritable folder, or inside one of the `tubs` read
    (nothing is ever written into a tub), before any work is done."""
    check_outside_tubs(path, tubs, flag)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in suffixes:
        raise UserError(f'cannot write {path}: the file name must end in {" or ".join(suffixes)}')
    check_folder(path, flag)
    if os.path.isdir(path):
        raise UserError(f'cannot write {path}: it is a folder; pass a file name')


def check_folder(path, flag='--out'):
    """A UserError unless the folder `path` would be written in exists and is writable."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f'cannot write {path}: folder {folder} does not exist; create it or choose another {flag}')
    if not os.access(folder, os.W_OK):
        raise UserError(f'cannot write {path}: folder {folder} is not writable; choose another {flag}')


def check_outside_tubs(path, tubs, flag='--out'):
    """A UserError when `path` lies in one of the tub folders `tubs`."""
    where = os.path.realpath(path)
    for tub in tubs:
        if os.path.commonpath([where, os.path.realpath(tub)]) == os.path.realpath(tub):
            raise UserError(f'{path} lies inside the tub {tub}, and nothing is ever written into a tub; choose '
                            f'another {flag}')


class AtomicFile:
    """A temporary path beside `path`, moved onto `path` by commit() and deleted by discard()."""

    def __init__(self, path, flag='--out'):
        self.path = path
        folder, name = os.path.split(os.path.abspath(path))
        with reporting_full_disk(path, flag):  # a full disk may already refuse the empty file
            handle, self.temp = tempfile.mkstemp(prefix=f'.{name}.', suffix=os.path.splitext(name)[1], dir=folder)
        os.close(handle)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.temp, 0o666 & ~umask)  # mkstemp makes it private; the result should not be

    def commit(self):
        os.replace(self.temp, self.path)

    def discard(self):
        if os.path.exists(self.temp):
            os.remove(self.temp)


def write_texts(files):
    """Write (path, text, flag) files, all whole or none: each to its temporary file, then all moved into place."""
    made = []
    try:
        for path, text, flag in files:
            made.append(AtomicFile(path, flag))
            with reporting_full_disk(path, flag), open(made[-1].temp, 'w', encoding='utf-8') as f:
                f.write(text)
        for target in made:
            target.commit()
    finally:
        for target in made:
            target.discard()


class VideoWriter:
    """Streams RGB frames to an mp4 (H.264) or gif through ffmpeg (the one moviepy finds, found when the writer is
    made: moviepy's import takes a quarter of a second, which a video's first frame waited for); ffmpeg starts on
    the first frame, when the size is known.

    An mp4's frames go to ffmpeg already in yuv420p, converted by OpenCV: fed RGB, ffmpeg spends about twice the
    processor time a frame, and OpenCV's conversion costs this process a small part of that. x264 encodes on one
    thread: its frame threads cost processor time that the run's other stages need, and one thread still encodes
    faster than the rest of the run makes frames (figures: bench/README.md)."""

    def __init__(self, path, fps, preset='ultrafast'):
        from moviepy.config import FFMPEG_BINARY
        self.binary = FFMPEG_BINARY
        self.file = AtomicFile(path)
        self.fps = fps
        self.preset = preset
        self.encoder = None  # the ffmpeg process
        self.log = None  # ffmpeg's messages: what went wrong, when it fails
        self.frames = 0
        self.gif = path.lower().endswith('.gif')

    def write(self, frame):
        with reporting_full_disk(self.file.path):
            if self.encoder is None:
                self.encoder = self._open(frame.shape[1], frame.shape[0])
            if not self.gif:
                import cv2
                frame = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)
            try:
                self.encoder.stdin.write(memoryview(np.ascontiguousarray(frame)).cast('B'))
            except OSError:  # ffmpeg has ended: its log says why
                raise self._encoder_error(self.encoder.wait()) from None
        self.frames += 1

    def _open(self, width, height):
        import subprocess
        if self.gif:
            given, encoding = 'rgb24', ['-vf', 'split[a][b];[a]palettegen[p];[b][p]paletteuse']
        else:
            given, encoding = 'yuv420p', ['-vcodec', 'libx264', '-preset', self.preset, '-threads', '1',
                                          '-pix_fmt', 'yuv420p']
        command = [self.binary, '-y', '-loglevel', 'info', '-f', 'rawvideo', '-vcodec', 'rawvideo', '-s',
                   f'{width}x{height}', '-pix_fmt', given, '-r', f'{self.fps:.02f}', '-an', '-i', '-',
                   *encoding, '-f', 'gif' if self.gif else 'mp4', self.file.temp]
        from donkey_saliency.stopping import shielded
        self.log = tempfile.TemporaryFile('w+')
        with shielded():  # a Ctrl-C to the whole group is this process's to act on, not ffmpeg's
            return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.log)

    def finish(self):
        """Finish the file in its temporary place (an mp4 writes its index last); ffmpeg's failure is an OSError."""
        if self.encoder is None:
            return
        with contextlib.suppress(OSError):  # (an ended ffmpeg: its return code says why)
            self.encoder.stdin.close()
        if self.encoder.wait():
            with reporting_full_disk(self.file.path):
                raise self._encoder_error(self.encoder.returncode)

    def commit(self):
        """The finished file moved into place (none when no frame was written)."""
        if self.frames:
            self.file.commit()

    def discard(self):
        """Every trace removed: ffmpeg stopped when still running (nothing to finish, and the pipe's end is no new
        error), the temporary file, ffmpeg's log."""
        try:
            if self.encoder is not None:
                if self.encoder.poll() is None:
                    self.encoder.kill()
                with contextlib.suppress(OSError):
                    self.encoder.stdin.close()
                self.encoder.wait()
        finally:
            self.file.discard()
            if self.log:
                self.log.close()

    def _encoder_error(self, returncode):
        """The OSError that ffmpeg's end means: EFBIG when the file-size limit's signal (SIGXFSZ, which
        subprocess restores for its children) stopped it, else its log's last error line."""
        if returncode == -signal.SIGXFSZ:
            return OSError(errno.EFBIG, f'{os.strerror(errno.EFBIG)}: ffmpeg stopped by the file-size limit')
        self.log.seek(0)
        lines = [line.strip() for line in self.log.read().splitlines() if line.strip()]
        errors = [line for line in lines if 'rror' in line or any(os.strerror(c) in line for c in DISK_FULL)]
        return OSError(f'ffmpeg could not finish {self.file.path}: {(errors or lines or ["no message"])[-1]}')


class MapsWriter:
    """Collects maps batch by batch in temporary files (flat memory) and packs the .npz at the end.

    The npz holds `maps` (N, H, W) float32, the run's main map as drawn (display-scaled: [0, 1], or [-1, 1] when
    signed), `raw` the same map's unscaled values, one `maps_<method>[_<output>]` and `raw_<method>[_<output>]`
    for each further map, `index` (record _index), `tub` (the record's tub folder name: several tubs repeat
    indexes), `angle` and `throttle`.
    """

    def __init__(self, path, primary):
        self.file = AtomicFile(path, '--save-maps')
        self.folder = os.path.dirname(os.path.abspath(path))  # spilled beside it: one disk to fill, not two
        self.primary = primary
        self.spilled = {}
        self.shape = None
        self.count = 0
        self.columns = {'index': [], 'angle': [], 'throttle': [], 'tub': []}

    def add(self, maps, raw, index, angle, throttle, tub):
        """maps, raw: {key: (n, H, W) array} for n frames."""
        for prefix, arrays in (('maps', maps), ('raw', raw)):
            for key, values in arrays.items():
                values = np.ascontiguousarray(values, dtype=np.float32)
                self.shape = values.shape[1:]
                name = prefix if key == self.primary else f'{prefix}_{key}'
                with reporting_full_disk(self.file.path, '--save-maps'):
                    if name not in self.spilled:
                        self.spilled[name] = tempfile.TemporaryFile(dir=self.folder)
                    self.spilled[name].write(values.tobytes())
        self.count += len(index)
        for key, values in (('index', index), ('angle', angle), ('throttle', throttle), ('tub', tub)):
            self.columns[key].extend(values)

    def finish(self):
        """The maps packed into the temporary .npz."""
        if self.count:
            with reporting_full_disk(self.file.path, '--save-maps'):
                self._pack()

    def commit(self):
        if self.count:
            self.file.commit()

    def discard(self):
        for spilled in self.spilled.values():
            spilled.close()
        self.file.discard()

    def _pack(self):
        dtypes = {'index': np.int64, 'angle': np.float32, 'throttle': np.float32, 'tub': str}
        header = {'descr': np.lib.format.dtype_to_descr(np.dtype(np.float32)), 'fortran_order': False,
                  'shape': (self.count,) + tuple(self.shape)}
        with zipfile.ZipFile(self.file.temp, 'w', zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            for name, spilled in self.spilled.items():
                with archive.open(f'{name}.npy', 'w', force_zip64=True) as member:
                    np.lib.format.write_array_header_2_0(member, header)
                    spilled.seek(0)
                    while chunk := spilled.read(1 << 22):
                        member.write(chunk)
            for key, values in self.columns.items():
                with archive.open(f'{key}.npy', 'w') as member:
                    np.lib.format.write_array(member, np.asarray(values, dtypes[key]))
