"""The car app template, driven for real: donkeycar's drive loop with a MOCK camera and the bundled trained pilot."""
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
import pytest

from conftest import ROOT
from donkey_saliency import sample
from donkey_saliency.core import carconfig

RECORDS = 60  # the car drives until its tub holds this many records, then it is stopped as a driver would
CHROMIUM = shutil.which('chromium')


def free_port():
    """A free port below Linux's ephemeral range (32768-60999): the port the OS hands out for port 0 is a guess
    that any other process's next connection can take before the car binds it; these it never hands out."""
    rng = random.Random()
    while True:
        port = rng.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port))
            except OSError:
                continue
            return port


@pytest.fixture(scope='module')
def car_run(tmp_path_factory):
    """Create a car with `donkey createcar`, put the template's manage.py in, drive it, watch the stream."""
    car = tmp_path_factory.mktemp('car') / 'mycar'
    donkey = os.path.join(os.path.dirname(sys.executable), 'donkey')
    subprocess.run([donkey, 'createcar', '--path', str(car)], check=True, capture_output=True, timeout=120)
    shutil.copy(ROOT / 'templates' / 'manage.py', car / 'manage.py')
    stream, web = free_port(), free_port()
    with open(car / 'myconfig.py', 'a') as f:
        f.write(f"\nCAMERA_TYPE = 'MOCK'\nDRIVE_TRAIN_TYPE = 'MOCK'\nMAX_LOOPS = 1000000\nDRIVE_LOOP_HZ = 20\n"
                f"WEB_INIT_MODE = 'local'\nWEB_CONTROL_PORT = {web}\nRECORD_DURING_AI = True\n"
                f"AUTO_RECORD_ON_THROTTLE = False\nSALIENCY_STREAM_PORT = {stream}\nSALIENCY_RECORD = True\n")
    memory = car / 'memory.npz'
    process = subprocess.Popen([sys.executable, str(ROOT / 'tests' / 'car_runner.py'), str(car), sample.MODEL,
                                'linear', str(memory)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    frames, page, viewers = read_stream(stream, web, process)
    screenshot = browse(stream, car) if CHROMIUM else None
    wait_for_records(car / 'data', process)
    process.send_signal(signal.SIGINT)  # Ctrl-C, as a driver stops the car: donkeycar shuts its parts down
    log, _ = process.communicate(timeout=300)
    assert process.returncode == 0, log
    return car, np.load(memory), frames, page, viewers, log, screenshot


def wait_for_records(tub, process, timeout=300):
    """Until the tub's catalogs hold RECORDS lines (the car records once the test pressed record)."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        lines = sum(len(open(c).read().splitlines()) for c in tub.glob('catalog_*.catalog'))
        if lines >= RECORDS:
            return
        time.sleep(0.5)
    raise AssertionError(f'the car stopped or recorded fewer than {RECORDS} records in {timeout} s')


def browse(port, folder):
    """A real headless Chromium opens the overlay page while the car drives; its screenshot, as RGB."""
    shot = folder / 'page.png'
    subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                    '--disable-background-networking', '--disable-component-update', '--disable-sync',
                    f'--user-data-dir={folder / "chromium"}', '--window-size=640,600', '--timeout=4000',
                    f'--screenshot={shot}', f'http://127.0.0.1:{port}/'], capture_output=True, timeout=120)
    image = cv2.imread(str(shot))
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_stream(port, web, process):
    """Once the loop runs: press record on the car's web controller, then read the overlay page, and the first
    JPEG frame seen by each of three viewers at once."""
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        try:
            asyncio.run(press_record(web))
            page = urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=5).read().decode()
            viewers = [urllib.request.urlopen(f'http://127.0.0.1:{port}/video', timeout=10) for _ in range(3)]
            frames = [later_jpeg(v) for v in viewers]
            for v in viewers:
                v.close()  # viewers that leave: the loop must keep running to the end
            return frames, page, len(viewers)
        except (OSError, ValueError):
            time.sleep(0.5)
    return [], '', 0


async def press_record(port):
    """What the record button of the car's web page does: a message on its drive websocket."""
    from tornado.websocket import websocket_connect
    socket_ = await websocket_connect(f'ws://127.0.0.1:{port}/wsDrive')
    await socket_.write_message(json.dumps({'recording': True}))
    await asyncio.sleep(0.3)
    socket_.close()


def later_jpeg(response, skip=40):
    """The JPEG frame after `skip` others (the very first ones may show the placeholder of an empty stream)."""
    data, seen = b'', 0
    while True:
        data += response.read(4096)
        start, end = data.find(b'\xff\xd8'), data.find(b'\xff\xd9')
        if start >= 0 and end > start:
            image = cv2.imdecode(np.frombuffer(data[start:end + 2], np.uint8), cv2.IMREAD_COLOR)
            data = data[end + 2:]
            seen += 1
            if image is not None and seen > skip:
                return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def expected_pilot():
    """The plain pilot on the MOCK camera's frame (black), computed by donkeycar's own part."""
    from donkeycar.utils import get_model_by_type
    cfg, _ = carconfig.load(None)
    kl = get_model_by_type('linear', cfg)
    kl.load(sample.MODEL)
    return kl.run(np.zeros((120, 160, 3), np.uint8))


def test_memory_holds_the_pilots_outputs_and_the_overlay(car_run):
    _, memory, _, _, _, log, _ = car_run
    angle, throttle = expected_pilot()
    assert float(memory['pilot_angle']) == pytest.approx(angle, abs=1e-5)
    assert float(memory['pilot_throttle']) == pytest.approx(throttle, abs=1e-5)
    overlay = memory['saliency_image_array']
    assert overlay.shape == (120, 160, 3) and overlay.dtype == np.uint8
    assert 'saliency failed' not in log


def test_the_tub_records_the_overlay(car_run):
    car, memory, _, _, _, _, _ = car_run
    from donkeycar.parts.tub_v2 import Tub
    tub = Tub(str(car / 'data'), read_only=True)
    records = list(tub)
    tub.close()
    assert len(records) >= RECORDS  # recording starts once the test has pressed record
    with_overlay = [r for r in records if 'saliency/image_array' in r]
    assert len(with_overlay) == len(records)
    image = cv2.imread(str(car / 'data' / 'images' / with_overlay[-1]['saliency/image_array']))
    assert image.shape == (120, 160, 3)
    assert np.abs(cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(int) - memory['saliency_image_array']).mean() < 8


def expected_stream(memory):
    """The stream's picture of the last loop, drawn as the car part draws it (vbp, the default method)."""
    from donkey_saliency.core.engine import MapRequest
    from donkey_saliency.offline.draw import stream_picture
    request = MapRequest('vbp')
    return stream_picture(memory['saliency_image_array'], float(memory['pilot_angle']),
                          float(memory['pilot_throttle']), request.title, request.signed, request.ends)


def test_the_stream_serves_the_overlay_to_several_viewers(car_run):
    """Each viewer gets the overlay enlarged, with its label, the pilot's steering line and values, and the
    colour bar: a JPEG of the very picture the part draws from the loop's memory."""
    _, memory, frames, page, viewers, _, _ = car_run
    assert viewers == 3 and len(frames) == 3
    assert '/video' in page
    expected = expected_stream(memory)
    for frame in frames:
        assert frame.shape == expected.shape
        assert np.abs(frame.astype(int) - expected).mean() < 8  # JPEG of the same picture


def test_a_recorded_tub_renders_without_a_model(car_run, tmp_path):
    from conftest import assert_video_size, read_video, run_cli
    car = car_run[0]
    result = run_cli('--tub', car / 'data', '--out', tmp_path / 'car.mp4', '--scale', 1)
    assert result.returncode == 0, result.stderr
    frames, _ = read_video(tmp_path / 'car.mp4')
    assert len(frames) >= RECORDS
    assert_video_size(frames, len(frames), (120, 160), scale=1)  # the recorded overlays, at --scale 1


@pytest.mark.skipif(not CHROMIUM and not os.environ.get('CI'), reason='needs Debian chromium (.ci/run installs it)')
def test_a_browser_shows_the_overlay_its_legend_and_the_pilot(car_run):
    memory, screenshot = car_run[1], car_run[6]
    assert screenshot is not None
    expected = expected_stream(memory)
    height, width = expected.shape[:2]
    # the page scales the stream to the window: find the stream's look in the picture, not the placeholder's
    small = cv2.resize(screenshot, (width, height), interpolation=cv2.INTER_AREA).astype(int)
    placeholder = cv2.imread(os.path.join(os.path.dirname(__import__('donkeycar').__file__), 'parts',
                                          'web_controller', 'templates', 'static', 'img_placeholder.jpg'))
    placeholder = cv2.resize(cv2.cvtColor(placeholder, cv2.COLOR_BGR2RGB), (width, height)).astype(int)
    assert np.abs(small - expected).mean() < np.abs(small - placeholder).mean() / 2
    from donkey_saliency.offline.draw import colour_map
    for colour in colour_map(np.linspace(0.2, 1, 5)):  # the colour bar, from weak to strong, on the page
        assert (np.abs(screenshot.astype(int) - colour).sum(axis=-1) < 30).sum() > 20


def test_a_method_the_pilot_cannot_answer_stops_the_car_before_it_drives(tmp_path):
    """manage.py drive with a misspelt SALIENCY_METHOD: one line naming the choices, no traceback, no loop."""
    car = tmp_path / 'mycar'
    donkey = os.path.join(os.path.dirname(sys.executable), 'donkey')
    subprocess.run([donkey, 'createcar', '--path', str(car)], check=True, capture_output=True, timeout=120)
    shutil.copy(ROOT / 'templates' / 'manage.py', car / 'manage.py')
    with open(car / 'myconfig.py', 'a') as f:
        f.write("\nCAMERA_TYPE = 'MOCK'\nDRIVE_TRAIN_TYPE = 'MOCK'\nMAX_LOOPS = 20\nSALIENCY_METHOD = 'occlusoin'\n")
    result = subprocess.run([sys.executable, 'manage.py', 'drive', '--model', sample.MODEL, '--type', 'linear'],
                            cwd=car, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and 'Traceback' not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("donkey-saliency: unknown method 'occlusoin'; choose one of vbp, gradcam")
    assert 'Starting vehicle' not in result.stdout + result.stderr
