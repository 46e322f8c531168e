"""Stopping a run: Ctrl-C, SIGTERM and a closing terminal (SIGHUP), sent to the command alone or, as a terminal
does, to its whole process group (ffmpeg and the --jobs workers included), with the command's output going to a
file, a terminal (a real pty, Ctrl-C typed into it), a pipe or /dev/null, for every command. Each run is its own
session and process group, as a shell's job is; the signal goes once the run is underway (its progress bar has
counted a frame, or, where nothing is shown, its temporary file is being written). Every case must end with the
signal's exit code, one line, and no output or temporary file. The last tests close the reader of its stdout."""
import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest

from donkey_saliency import sample
from conftest import from_a_terminal, read_video

BAR = re.compile(r'\| *[1-9][0-9]*/[0-9]+')  # the progress bar has counted a frame
SAID = {signal.SIGINT: (130, 'interrupted'), signal.SIGTERM: (143, 'terminated'), signal.SIGHUP: (129, 'hung up')}
SLOW = ['--method', 'occlusion', '--batch-size', '1']  # one frame a call: a minute of work after the first frame


def terminal_child():
    """preexec_fn of a child whose controlling terminal is its stdin (the pty), hearing its hang-up."""
    from_a_terminal()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Run:
    """`python -m donkey_saliency ARGS` in a session of its own, in `cwd`, its stdout and stderr going `where`:
    'file', 'pty' (the controlling terminal of its session, as a shell's job has), 'pipe' or 'devnull'."""

    def __init__(self, args, cwd, where):
        self.where, self.cwd, self.seen = where, cwd, b''
        command = [sys.executable, '-m', 'donkey_saliency', *map(str, args)]
        if where == 'pty':
            self.master, terminal = pty.openpty()
            fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))  # 24 rows, 100 columns
            self.process = subprocess.Popen(command, cwd=cwd, stdin=terminal, stdout=terminal, stderr=terminal,
                                            start_new_session=True, preexec_fn=terminal_child)
            os.close(terminal)
            self.reader = threading.Thread(target=self._drain, daemon=True)
            self.reader.start()
        else:
            self.log = cwd / 'log.txt'
            output = {'file': open(self.log, 'wb'), 'pipe': subprocess.PIPE, 'devnull': subprocess.DEVNULL}[where]
            self.process = subprocess.Popen(command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=from_a_terminal)
            if where == 'pipe':
                self.reader = threading.Thread(target=self._drain, daemon=True)
                self.reader.start()

    def _drain(self):
        """Read the terminal or the pipe until it closes, as a terminal or a reader would."""
        while True:
            try:
                chunk = os.read(self.master, 4096) if self.where == 'pty' else self.process.stdout.read1(4096)
            except OSError:  # EIO: the terminal's other side has gone
                return
            if not chunk:
                return
            self.seen += chunk

    def text(self):
        if self.where == 'file':
            return self.log.read_bytes().decode(errors='replace')
        return self.seen.decode(errors='replace')

    def wait_until_underway(self, out):
        """Until the bar has counted a frame, or (output to /dev/null) a temporary file in `out` holds data."""
        while True:
            assert self.process.poll() is None, self.text()
            if self.where == 'devnull':
                if any(name.startswith('.') and os.path.getsize(out / name) for name in os.listdir(out)):
                    return
            elif BAR.search(self.text()):
                return
            time.sleep(0.05)

    def stop(self, how, sent):
        """'group': the signal to the whole process group (`kill -- -PGID`, or a terminal's Ctrl-C); 'command':
        to the command alone (`kill PID`); 'keys': Ctrl-C typed into the terminal; 'hang up': the terminal
        closes (the kernel sends SIGHUP)."""
        if how == 'group':
            os.killpg(self.process.pid, sent)
        elif how == 'command':
            self.process.send_signal(sent)
        elif how == 'keys':
            os.write(self.master, b'\x03')
        else:
            os.close(self.master)
        self.process.wait(timeout=120)
        if self.where in ('pty', 'pipe') and how != 'hang up':
            self.reader.join(timeout=30)
        return self.process.returncode

    def lines(self):
        """What it printed, without the progress bar's redraws."""
        return [line.strip() for line in re.split(r'[\r\n]+|\^C', self.text())  # ^C: the terminal's echo
                if line.strip() and not line.strip().startswith(('saliency:', 'report:', 'evaluate:'))]


def leftovers(folder):
    """Every file under `folder` but the test's own log, hidden temporary files included."""
    return sorted(os.path.relpath(os.path.join(root, name), folder) for root, _, names in os.walk(folder)
                  for name in names if name != 'log.txt')


COMMANDS = {
    'mp4': ['--demo', '--out', 'out/demo.mp4', '--save-maps'],
    'slow mp4': ['--demo', '--out', 'out/demo.mp4', *SLOW],
    'gif': ['--demo', '--out', 'out/demo.gif'],
    'per-tub': ['--tub', sample.TUB, '--model', sample.MODEL, '--per-tub', '--out', 'out/videos', *SLOW],
    'jobs': ['--tub', sample.TUB, '--tub', '{small}', '--model', sample.MODEL, '--per-tub', '--jobs', '2',
             '--out', 'out/videos', *SLOW],
    'evaluate': ['evaluate', '--tub', sample.TUB, '--model', sample.MODEL, '--method', 'occlusion', '--frames', '30',
                 '--no-randomisation', '--json', 'out/e.json'],
    'report': ['report', '--tub', sample.TUB, '--model', sample.MODEL, *SLOW, '--out', 'out/r.html',
               '--json', 'out/r.json'],
}


@pytest.mark.parametrize('command, where, how, sent', [
    ('mp4', 'file', 'group', signal.SIGINT),  # issue 17: exit 1, "unexpected error ... Broken pipe"
    ('mp4', 'pty', 'keys', signal.SIGINT),  # Ctrl-C typed in a terminal
    ('slow mp4', 'pty', 'hang up', signal.SIGHUP),  # the terminal window closed
    ('mp4', 'devnull', 'group', signal.SIGHUP),
    ('gif', 'pipe', 'group', signal.SIGTERM),
    ('slow mp4', 'file', 'command', signal.SIGINT),
    ('per-tub', 'file', 'group', signal.SIGINT),
    ('per-tub', 'pipe', 'group', signal.SIGTERM),
    ('jobs', 'pty', 'keys', signal.SIGINT),
    ('evaluate', 'file', 'group', signal.SIGINT),
    ('evaluate', 'pty', 'keys', signal.SIGINT),
    ('report', 'file', 'group', signal.SIGTERM),
    ('report', 'pty', 'keys', signal.SIGINT),
])
def test_a_stopped_run_says_so_in_one_line_and_leaves_nothing(tmp_path, small_tub, command, where, how, sent):
    (tmp_path / 'out').mkdir()
    args = [arg.format(small=small_tub) for arg in COMMANDS[command]]
    run = Run(['--no-progress'] * (where == 'devnull') + args, tmp_path, where)
    run.wait_until_underway(tmp_path / 'out')
    code, word = SAID[sent]
    assert run.stop(how, sent) == code, run.text()
    assert leftovers(tmp_path) == []
    if how != 'hang up' and where != 'devnull':  # nobody is left to read a closed terminal
        assert run.lines() == [f'donkey-saliency: {word}; no output written'], run.text()


def test_a_second_ctrl_c_does_not_cut_the_clean_up_short(tmp_path):
    """Impatient users press Ctrl-C twice: the second one, during the clean-up, must not leave a file behind."""
    (tmp_path / 'out').mkdir()
    run = Run(COMMANDS['per-tub'], tmp_path, 'file')
    run.wait_until_underway(tmp_path / 'out')
    os.killpg(run.process.pid, signal.SIGINT)
    time.sleep(0.05)
    assert run.stop('group', signal.SIGINT) == 130, run.text()
    assert leftovers(tmp_path) == []
    assert run.lines() == ['donkey-saliency: interrupted; no output written'], run.text()


def test_a_reader_that_goes_away_costs_nothing(tmp_path):
    """`donkey saliency ... | head -1`, with a reader gone before the summary is printed: the work is done and
    its file whole; the lines nobody reads are dropped, without a traceback, and the command exits 0."""
    script = (f'{sys.executable} -m donkey_saliency --no-progress --demo --end 40 --out demo.mp4 2> errors.txt '
              '| true; echo "${PIPESTATUS[0]}" > status.txt')
    subprocess.run(['bash', '-c', script], cwd=tmp_path, timeout=600, check=True)
    assert (tmp_path / 'errors.txt').read_text() == ''
    assert (tmp_path / 'status.txt').read_text().strip() == '0'
    frames, _ = read_video(tmp_path / 'demo.mp4')
    assert len(frames) == 40


def test_nohup_keeps_the_run_going_through_a_hang_up(tmp_path):
    """`nohup donkey saliency ... &` starts it with SIGHUP ignored: the terminal closing must not stop it."""
    process = subprocess.Popen([sys.executable, '-m', 'donkey_saliency', '--demo', '--end', '40', '--batch-size',
                                '4', '--out', 'demo.mp4'], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    seen = b''
    while not re.search(rb'\| *[1-9][0-9]*/40', seen):
        seen += process.stderr.read(1)
        assert process.poll() is None, seen
    os.killpg(process.pid, signal.SIGHUP)
    _, rest = process.communicate(timeout=600)
    assert process.returncode == 0, seen + rest
    assert len(read_video(tmp_path / 'demo.mp4')[0]) == 40
