"""The car app template, driven for real: donkeycar's drive loop with its image-list camera replaying the sample tub's
pictures, as docs/car.md's try-it steps say, with the bundled trained pilot and with an exported twin."""
import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from glob import glob
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from conftest import ROOT, fenced_block, keras_pilot, tree_digest
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


CAR_PAGE = 'docs/car.md'  # its "Try it at your desk" steps, run as written


def page_block(language, holding):
    """The fenced `language` block of the car's page that holds `holding` (its try-it-at-your-desk steps)."""
    return fenced_block(CAR_PAGE, language, holding)


def page_env():
    """The environment the page's shell lines run in: its `python` is this environment's."""
    return {**os.environ, 'PATH': os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH']}


def page_pilot():
    """The pilot file the page's drive command names, as the shell expands its --model."""
    command = page_block('bash', 'manage.py drive')
    model = re.search(r'--model ("\$\(.*?\)"|\S+)', command).group(1)
    return subprocess.run(['bash', '-c', f'echo {model}'], check=True, capture_output=True, text=True, timeout=60,
                          env=page_env()).stdout.strip()


def make_car(folder, config):
    """A car made by `donkey createcar`, the template's manage.py in it, `config` appended to its myconfig.py."""
    car = folder / 'mycar'
    donkey = os.path.join(os.path.dirname(sys.executable), 'donkey')
    subprocess.run([donkey, 'createcar', '--path', str(car)], check=True, capture_output=True, timeout=120)
    shutil.copy(ROOT / 'templates' / 'manage.py', car / 'manage.py')
    with open(car / 'myconfig.py', 'a') as f:
        f.write('\n' + config)
    return car


def drive(folder, model, kind, extra_config='', browser=False, records=RECORDS):
    """What the car's page says to try at a desk, for real: its myconfig lines (on free ports), `manage.py drive` with
    the pilot, the stream read by three viewers, its script pressing record, Ctrl-C once the tub holds `records`
    records. The car's memory at the end, its log and the loggers' states around the part come back."""
    stream, web = free_port(), free_port()
    car = make_car(folder, page_block('python', "CAMERA_TYPE = 'IMAGE_LIST'") +
                   f'WEB_CONTROL_PORT = {web}\nSALIENCY_STREAM_PORT = {stream}\n{extra_config}')
    memory = car / 'memory.npz'
    process = subprocess.Popen([sys.executable, str(ROOT / 'tests' / 'car_runner.py'), str(car), str(model), kind,
                                str(memory)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        frames, page, viewers = read_stream(stream, web, process)
        screenshot = browse(stream, car) if browser and CHROMIUM else None
        recorded = wait_for_records(car / 'data', process, records)
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C, as a driver stops the car: donkeycar shuts its parts down
        log, _ = process.communicate(timeout=300)
    assert recorded and process.returncode == 0, f'fewer than {records} records, or a failure:\n{log}'
    states = json.loads((car / 'memory.json').read_text())
    return SimpleNamespace(car=car, model=model, kind=kind, memory=np.load(memory), frames=frames, page=page,
                           viewers=viewers, log=log, screenshot=screenshot, logging=states)


@pytest.fixture(scope='module')
def health_file(tmp_path_factory):
    """The bundled pilot's health file, calibrated on its own tub."""
    from donkey_saliency.offline import calibrate
    path = tmp_path_factory.mktemp('health') / 'health.json'
    calibrate.run(calibrate.CalibrateOptions([sample.TUB], sample.MODEL, str(path), progress=False))
    return path


@pytest.fixture(scope='module')
def car_run(tmp_path_factory, health_file):
    """The pilot the page names (the bundled Keras pilot) driving, recording its overlay and its health numbers
    (its health file calibrated on the very tub whose pictures the camera replays), its stream watched (by a
    browser too)."""
    return drive(tmp_path_factory.mktemp('car'), page_pilot(), 'linear', f"SALIENCY_HEALTH = '{health_file}'\n",
                 browser=True)


@pytest.fixture(scope='module')
def twin_run(tmp_path_factory, health_file):
    """A categorical pilot's exported twin driving as `tflite_categorical`, recording without the overlay, given
    the health file of another pilot (the bundled one)."""
    from donkey_saliency.car.export import export
    from donkey_saliency.core.pilot import load_pilot
    folder = tmp_path_factory.mktemp('twin')
    keras_pilot('categorical').interpreter.model.save(folder / 'categorical.h5')
    export(load_pilot(str(folder / 'categorical.h5')), str(folder / 'categorical.saliency.tflite'))
    return drive(folder, folder / 'categorical.saliency.tflite', 'tflite_categorical',
                 f"SALIENCY_RECORD = False\nSALIENCY_HEALTH = '{health_file}'\n")


def wait_for_records(tub, process, records, timeout=300):
    """Whether the tub's catalogs came to hold `records` lines while the car drove (it records once the test has
    pressed record)."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if sum(len(open(c).read().splitlines()) for c in tub.glob('catalog_*.catalog')) >= records:
            return True
        time.sleep(0.5)
    return False


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
            press_record(web)
            page = urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=5).read().decode()
            viewers = [urllib.request.urlopen(f'http://127.0.0.1:{port}/video', timeout=10) for _ in range(3)]
            frames = [later_jpeg(v) for v in viewers]
            for v in viewers:
                v.close()  # viewers that leave: the loop must keep running to the end
            return frames, page, len(viewers)
        except (OSError, ValueError, subprocess.CalledProcessError):  # the car is not listening yet
            time.sleep(0.5)
    return [], '', 0


def press_record(port):
    """The car page's script that presses record (a message on the drive websocket), run as it says, on `port`."""
    script = page_block('bash', '/wsDrive').replace('localhost:8887', f'localhost:{port}')
    subprocess.run(['bash', '-c', script], check=True, capture_output=True, timeout=60, env=page_env())


def later_jpeg(response, skip=40, timeout=120):
    """The first JPEG frame after `skip` others that is not the placeholder donkeycar streams (160x120) until the
    part's first overlay (the pilot's first inference can take seconds on a loaded machine)."""
    data, seen, deadline = b'', 0, time.time() + timeout
    while time.time() < deadline:
        data += response.read(4096)
        start, end = data.find(b'\xff\xd8'), data.find(b'\xff\xd9')
        if start >= 0 and end > start:
            image = cv2.imdecode(np.frombuffer(data[start:end + 2], np.uint8), cv2.IMREAD_COLOR)
            data = data[end + 2:]
            seen += 1
            if image is not None and seen > skip and image.shape[:2] != (120, 160):
                return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    raise AssertionError(f'the stream showed only its placeholder for {timeout} s')


def replayed_images():
    """The sample tub's images in the order the page says the camera plays them: by the record number their names
    begin with (0, 1, 2, ..., not 0, 1, 10, 100), as PIL reads them."""
    from PIL import Image
    paths = sorted(glob(os.path.join(sample.TUB, 'images', '*.jpg')),
                   key=lambda path: int(os.path.basename(path).split('_')[0]))
    return np.stack([np.asarray(Image.open(path)) for path in paths])


def sample_pilot():
    """The sample pilot as donkeycar's own part, as the car's config builds it."""
    from donkeycar.utils import get_model_by_type
    cfg, _ = carconfig.load(None)
    kl = get_model_by_type('linear', cfg)
    kl.load(sample.MODEL)
    return kl


@pytest.fixture(scope='module')
def recorded(car_run):
    """The car's tub, record by record: the camera frame it recorded and which replayed image that frame is (the
    nearest; neighbouring images differ by far more than a JPEG's re-encoding), the pilot's outputs, the overlay."""
    from donkeycar.parts.tub_v2 import Tub
    tub = Tub(str(car_run.car / 'data'), read_only=True)
    records = list(tub)
    tub.close()

    def picture(name):
        return cv2.cvtColor(cv2.imread(str(car_run.car / 'data' / 'images' / name)), cv2.COLOR_BGR2RGB)
    images = replayed_images().astype(np.int16)
    frames = [picture(r['cam/image_array']).astype(np.int16) for r in records]
    distances = np.array([np.abs(images - frame).mean(axis=(1, 2, 3)) for frame in frames])
    return SimpleNamespace(records=records, images=images.astype(np.uint8), sources=distances.argmin(axis=1),
                           distances=distances, overlays=[picture(r['saliency/image_array']) for r in records],
                           angles=np.array([r['pilot/angle'] for r in records]),
                           throttles=np.array([r['pilot/throttle'] for r in records]),
                           alarms=[r['saliency/alarm'] for r in records])


def test_the_camera_replays_the_sample_tubs_images_in_record_order(car_run, recorded):
    """Every recorded frame is one of the sample tub's images, and the next record's is the next image by record
    number (going round after the last), as the page says: one image per loop, in recorded order."""
    assert f'{len(recorded.images)} images loaded.' in car_run.log
    rows = np.arange(len(recorded.sources))
    nearest, second = np.sort(recorded.distances, axis=1)[:, :2].T
    assert (nearest < 3).all() and (second > 2 * nearest + 4).all(), (nearest.max(), second.min())
    steps = np.diff(recorded.sources) % len(recorded.images)
    assert (steps == 1).all(), recorded.sources[rows[1:][steps != 1]]


def test_the_pilot_steers_by_the_pictures(recorded):
    """The pilot's outputs in every record are donkeycar's own part's on the replayed image that loop showed, and
    they vary with the road: the steering is not one value."""
    kl = sample_pilot()
    expected = np.array([kl.run(recorded.images[source]) for source in recorded.sources])
    assert recorded.angles == pytest.approx(expected[:, 0], abs=1e-4)
    assert recorded.throttles == pytest.approx(expected[:, 1], abs=1e-4)
    assert np.ptp(recorded.angles) > 0.2, recorded.angles


def test_memory_holds_the_overlay(car_run):
    memory, log = car_run.memory, car_run.log
    overlay = memory['saliency_image_array']
    assert overlay.shape == (120, 160, 3) and overlay.dtype == np.uint8
    assert 'saliency failed' not in log


def test_the_tub_records_the_overlay_of_each_picture(recorded):
    """Every record holds an overlay; each is the part's overlay of the picture that loop showed (a sample of the
    records, drawn again here by the part), far brighter than its overlay of a black frame (the map's colours at
    half strength alone), and no two neighbouring records' overlays are alike."""
    from donkey_saliency.car.part import SalientPilot
    assert len(recorded.records) >= RECORDS  # recording starts once the test has pressed record
    assert all('saliency/image_array' in r for r in recorded.records)
    overlays = np.array(recorded.overlays, int)
    assert overlays.shape[1:] == (120, 160, 3)
    part = SalientPilot(sample_pilot())
    for index in range(0, len(overlays), 6):
        drawn = part.run(recorded.images[recorded.sources[index]])[-1]
        assert np.abs(overlays[index] - drawn).mean() < 5, index  # a neighbouring picture's overlay is further
    black = part.run(np.zeros((120, 160, 3), np.uint8))[-1]
    assert (overlays.mean(axis=(1, 2, 3)) > 1.5 * black.mean()).all()
    assert (np.abs(np.diff(overlays, axis=0)).mean(axis=(1, 2, 3)) > 3).all()


def stream_pictures(recorded):
    """The stream's picture of each recorded loop, drawn as the car part draws it (vbp, the default method)."""
    from donkey_saliency.core.engine import MapRequest
    from donkey_saliency.draw import stream_picture
    request = MapRequest('vbp')
    return np.array([stream_picture(overlay, angle, throttle, request.title, request.signed, request.ends, alarm=alarm)
                     for overlay, angle, throttle, alarm in zip(recorded.overlays, recorded.angles, recorded.throttles,
                                                                recorded.alarms)], int)


def test_the_stream_serves_the_overlay_to_several_viewers(car_run, recorded):
    """Each viewer gets the overlay enlarged, with its label, the pilot's steering line and values, and the
    colour bar: a JPEG of the very picture the part draws of one recorded loop (the viewers look while the car
    records)."""
    frames, page, viewers = car_run.frames, car_run.page, car_run.viewers
    assert viewers == 3 and len(frames) == 3
    assert '/video' in page
    pictures = stream_pictures(recorded)
    for frame in frames:
        assert frame.shape == pictures.shape[1:]
        assert np.abs(pictures - frame).mean(axis=(1, 2, 3)).min() < 6  # JPEG of the same picture, not a neighbour


@pytest.fixture(scope='module')
def dark_run(tmp_path_factory, health_file):
    """The same pilot and health file on the MOCK camera's black frames: a scene the pilot never saw."""
    return drive(tmp_path_factory.mktemp('dark'), page_pilot(), 'linear',
                 f"CAMERA_TYPE = 'MOCK'\nSALIENCY_HEALTH = '{health_file}'\n")


def health_records(run):
    """The records of the run's tub, and whether its manifest types the health numbers as float and boolean."""
    from donkeycar.parts.tub_v2 import Tub
    from donkey_saliency.keys import HEALTH_KEYS
    tub = Tub(str(run.car / 'data'), read_only=True)
    records, manifest = list(tub), tub.manifest
    tub.close()
    types = dict(zip(manifest.inputs, manifest.types))
    assert [types.get(key) for key in HEALTH_KEYS] == ['float', 'float', 'float', 'boolean']
    assert len(records) >= RECORDS
    assert all(isinstance(r[key], float) for r in records for key in HEALTH_KEYS[:-1])
    return records


def test_on_the_pictures_it_was_calibrated_on_the_alarm_stays_off_and_each_start_is_logged_once(car_run):
    """The camera replays the very tub the health file was calibrated on: the alarm is off on nearly every
    recorded loop (the limits are the 0.99 point of that tub's windowed numbers), and the log says each start
    and each end once, not every loop."""
    alarms = [r['saliency/alarm'] for r in health_records(car_run)]
    assert sum(alarms) <= 0.1 * len(alarms), alarms
    starts, ends = car_run.log.count('saliency: alarm on'), car_run.log.count('saliency: alarm off')
    assert starts - ends in (0, 1) and starts >= sum(1 for a, b in zip([False] + alarms, alarms) if b and not a)


def test_on_a_scene_it_never_saw_the_alarm_comes_on_and_is_logged_once(dark_run):
    """The MOCK camera's black frames: their maps have none of the strength of its road's, so the alarm comes on
    within the first window, is said once in donkeycar's log, and stays on."""
    records = health_records(dark_run)
    alarms = [r['saliency/alarm'] for r in records]
    first = alarms.index(True)  # the recording may start within the first window
    assert first < 10 and alarms == [False] * first + [True] * (len(alarms) - first)
    assert all(r['saliency/strength'] < 0.1 for r in records)
    assert dark_run.log.count('saliency: alarm on') == 1 and 'saliency: alarm off' not in dark_run.log
    assert bool(dark_run.memory['saliency_alarm'])


def test_a_health_file_for_another_pilot_is_refused_in_one_line_and_the_car_drives(twin_run):
    lines = [line for line in twin_run.log.splitlines() if 'saliency: health off' in line]
    assert len(lines) == 1 and 'was made for pilot.h5 (linear, vbp maps)' in lines[0], twin_run.log[-3000:]
    assert 'categorical.saliency.tflite (categorical, vbp maps)' in lines[0]
    assert 'saliency_alarm' not in twin_run.memory and 'saliency: alarm on' not in twin_run.log
    assert twin_run.memory['saliency_image_array'].shape == (120, 160, 3)  # it drove, maps and all


def test_a_recorded_tub_renders_without_a_model(car_run, tmp_path):
    from conftest import assert_video_size, read_video, run_cli
    car = car_run.car
    result = run_cli('--tub', car / 'data', '--out', tmp_path / 'car.mp4', '--scale', 1)
    assert result.returncode == 0, result.stderr
    frames, _ = read_video(tmp_path / 'car.mp4')
    assert len(frames) >= RECORDS
    assert_video_size(frames, len(frames), (120, 160), scale=1)  # the recorded overlays, at --scale 1


@pytest.mark.skipif(not CHROMIUM and not os.environ.get('CI'), reason='needs Debian chromium (.ci/run installs it)')
def test_a_browser_shows_the_overlay_its_legend_and_the_pilot(car_run, recorded):
    screenshot = car_run.screenshot
    assert screenshot is not None
    pictures = stream_pictures(recorded)
    height, width = pictures.shape[1:3]
    # the page scales the stream to the window: find the stream's look in the picture, not the placeholder's
    small = cv2.resize(screenshot, (width, height), interpolation=cv2.INTER_AREA).astype(int)
    placeholder = cv2.imread(os.path.join(os.path.dirname(__import__('donkeycar').__file__), 'parts',
                                          'web_controller', 'templates', 'static', 'img_placeholder.jpg'))
    placeholder = cv2.resize(cv2.cvtColor(placeholder, cv2.COLOR_BGR2RGB), (width, height)).astype(int)
    assert np.abs(pictures - small).mean(axis=(1, 2, 3)).min() < np.abs(small - placeholder).mean() / 2
    from donkey_saliency.draw import colour_map
    for colour in colour_map(np.linspace(0.2, 1, 5)):  # the colour bar, from weak to strong, on the page
        assert (np.abs(screenshot.astype(int) - colour).sum(axis=-1) < 30).sum() > 20


def test_a_method_the_pilot_cannot_answer_stops_the_car_before_it_drives(tmp_path):
    """manage.py drive with a misspelt SALIENCY_METHOD: one line naming the choices, no traceback, no loop."""
    car = make_car(tmp_path, "CAMERA_TYPE = 'MOCK'\nDRIVE_TRAIN_TYPE = 'MOCK'\nMAX_LOOPS = 20\n"
                             "SALIENCY_METHOD = 'occlusoin'\n")
    result = subprocess.run([sys.executable, 'manage.py', 'drive', '--model', sample.MODEL, '--type', 'linear'],
                            cwd=car, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and 'Traceback' not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("donkey-saliency: unknown method 'occlusoin'; choose one of vbp, gradcam")
    assert 'Starting vehicle' not in result.stdout + result.stderr


FRESH = {'level': logging.NOTSET, 'propagate': True, 'disabled': False, 'handlers': []}  # a logger nobody set


@pytest.mark.parametrize('run', ['car_run', 'twin_run'])
def test_the_car_logs_as_without_the_part(run, request):
    """The car's own log goes on after the part is added (a Keras pilot; an exported twin as tflite_categorical):
    the parts added after it, the start of the loop, and at Ctrl-C the timing table with the part's row; and
    the root logger and every donkeycar logger are as they were before the part, and after the loop."""
    run = request.getfixturevalue(run)
    for line in ('Adding part SalientPilot.', 'Adding part SaliencyStream.', 'Adding part TubWriter.',
                 'Starting vehicle at 20 Hz', 'Part Profile Summary'):
        assert line in run.log, line
    assert re.search(r'^\| +SalientPilot +\| +[0-9.]+ +\|', run.log, re.M), run.log[-3000:]
    states = run.logging
    assert states['before the part']['root']['handlers'], 'donkeycar set up logging at import'
    names = set().union(*states.values())
    for name in names:
        before = states['before the part'].get(name, FRESH)
        assert states['after the part'].get(name, FRESH) == before, name
        assert states['after the loop'].get(name, FRESH) == before, name


def test_the_twin_drives_and_records_without_the_overlay(twin_run):
    """With SALIENCY_RECORD = False the tub holds the car's usual keys; the overlay is in memory and streamed."""
    from donkeycar.parts.tub_v2 import Tub
    tub = Tub(str(twin_run.car / 'data'), read_only=True)
    records, inputs = list(tub), tub.manifest.inputs
    tub.close()
    assert len(records) >= RECORDS and 'saliency/image_array' not in inputs and 'pilot/angle' in inputs
    assert twin_run.memory['saliency_image_array'].shape == (120, 160, 3)
    assert len(twin_run.frames) == 3 and 'saliency failed' not in twin_run.log


def test_saliency_record_turned_on_for_a_tub_says_what_to_do_and_keeps_it(twin_run, tmp_path):
    """Drive again into the tub recorded without the overlay, now with SALIENCY_RECORD = True: one line naming
    the tub and both ways out, before donkeycar's AssertionError, exit code 2, the tub untouched. (Turned off
    for a tub recorded with it: tests/test_part.py.)"""
    car = tmp_path / 'mycar'
    shutil.copytree(twin_run.car, car, ignore=shutil.ignore_patterns('memory.*'))
    with open(car / 'myconfig.py', 'a') as f:
        f.write(f'SALIENCY_RECORD = True\nSALIENCY_STREAM_PORT = {free_port()}\nWEB_CONTROL_PORT = {free_port()}\n')
    before = tree_digest(car / 'data')
    result = subprocess.run([sys.executable, 'manage.py', 'drive', '--model', str(twin_run.model), '--type',
                             twin_run.kind], cwd=car, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert 'Traceback' not in result.stderr and 'AssertionError' not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f'donkey-saliency: the tub {car / "data"} was recorded without saliency/image_array')
    assert 'AUTO_CREATE_NEW_TUB = True' in last and 'SALIENCY_RECORD back to False' in last, last
    assert 'Starting vehicle' not in result.stdout + result.stderr
    assert tree_digest(car / 'data') == before
