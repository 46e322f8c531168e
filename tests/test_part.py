"""The SalientPilot part: the pilot's outputs unchanged, maps from the current model, never a crash."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CarConfig, assert_maps_close, car_pilot, keras_pilot
from donkey_saliency import sample, synthetic
from donkey_saliency.part import SalientPilot

FRAMES = [s.image for s in synthetic.drive(6, seed=21)]


@pytest.fixture(scope='module')
def exported(sample_files):
    """The folder of the sample pilot's plain .tflite (pilot.tflite) and twin (pilot.saliency.tflite)."""
    return Path(sample_files['twin']).parent


@pytest.mark.parametrize('kind', ['linear', 'categorical', 'imu'])
def test_outputs_equal_the_unwrapped_pilot(kind, tmp_path):
    kl = keras_pilot(kind)
    other = [np.linspace(-1, 1, 6)] if kind == 'imu' else []
    part = SalientPilot(kl, CarConfig(SALIENCY_METHOD='gradcam'))
    for image in FRAMES:
        *outputs, overlay = part.run(image, *other)
        np.testing.assert_allclose(outputs, kl.run(image, *other), atol=1e-5)
        assert overlay.shape == (120, 160, 3) and overlay.dtype == np.uint8
    assert not part.failed


@pytest.mark.parametrize('file, method', [('pilot.saliency.tflite', 'vbp'), ('pilot.saliency.tflite', 'gradcam'),
                                          ('pilot.tflite', 'vbp')])
def test_tflite_outputs_equal_the_plain_tflite_pilot(exported, file, method):
    kl = car_pilot('tflite_linear', exported / file)
    plain = car_pilot('tflite_linear', exported / 'pilot.tflite')
    part = SalientPilot(kl, CarConfig(SALIENCY_METHOD=method), str(exported / file))
    for image in FRAMES[:3]:
        *outputs, overlay = part.run(image)
        np.testing.assert_allclose(outputs, plain.run(image), atol=1e-5)
        assert overlay.shape == (120, 160, 3)
    assert not part.failed


def test_exported_map_equals_the_offline_one(exported):
    """The map built into the .tflite is the map `donkey saliency` draws for the same frame."""
    from donkey_saliency.core.methods import METHODS
    from donkey_saliency.core.tflite import TfLiteModel
    kl = car_pilot('linear', sample.MODEL)
    x = np.stack(FRAMES[:2]).astype(np.float32) / 255
    _, offline = METHODS['vbp'].create(kl.interpreter.model)([x])
    model = TfLiteModel(str(exported / 'pilot.saliency.tflite'))
    model.run([x])
    assert_maps_close(model.maps('saliency'), offline, atol=1e-3)


def test_maps_follow_the_cars_hot_reload(tmp_path):
    kl = keras_pilot('linear')
    part = SalientPilot(kl)
    first = part.run(FRAMES[0])[2]
    kl.load(sample.MODEL)  # what the car's model reloader does: kl.interpreter.model is replaced
    *outputs, after = part.run(FRAMES[0])
    np.testing.assert_allclose(outputs, kl.run(FRAMES[0]), atol=1e-5)
    assert part.engine.model is kl.interpreter.model
    assert np.abs(after.astype(int) - first).mean() > 1  # a new model, a new map


def test_a_clip_out_of_range_stops_the_car_at_start_up():
    from donkey_saliency.errors import UserError
    with pytest.raises(UserError, match='clip is a percentile'):
        SalientPilot(car_pilot('linear', sample.MODEL), CarConfig(SALIENCY_CLIP=150))


def test_every_n_loops_the_map_is_refreshed(tmp_path):
    kl = car_pilot('linear', sample.MODEL)
    part = SalientPilot(kl, CarConfig(SALIENCY_EVERY=3))
    overlays = [part.run(image)[2] for image in FRAMES]
    same = [np.array_equal(a, b) for a, b in zip(overlays, overlays[1:])]
    assert same == [True, True, False, True, True]  # new maps on loops 0 and 3 only


def test_a_saliency_failure_is_logged_once_and_the_car_keeps_driving(caplog):
    """The car's hot reload brings a pilot no map can be made of (no conv layer): the loop keeps the pilot's own
    outputs, the old overlay is dropped rather than shown as the new pilot's, one line is logged, and the
    engine is not rebuilt on every loop; a later reload to a CNN brings the maps back."""
    from donkey_saliency.quiet import import_tensorflow
    layers = import_tensorflow().keras.layers
    kl = car_pilot('linear', sample.MODEL)
    part = SalientPilot(kl)
    assert part.run(FRAMES[0])[2] is not None
    image_in = layers.Input((120, 160, 3), name='img_in')
    flat = layers.Flatten()(image_in)
    cnn = kl.interpreter.model
    kl.interpreter.model = import_tensorflow().keras.Model(
        image_in, [layers.Dense(1, name='n_outputs0')(flat), layers.Dense(1, name='n_outputs1')(flat)])
    for image in FRAMES:
        *outputs, overlay = part.run(image)
        np.testing.assert_allclose(outputs, kl.run(image), atol=1e-5)
        assert overlay is None and part.engine is None and part.built_for is kl.interpreter.model
    assert sum('saliency failed' in r.message for r in caplog.records) == 1
    kl.interpreter.model = cnn
    assert part.run(FRAMES[0])[2] is not None and part.engine.model is cnn


def test_threaded_maps_never_hold_up_the_pilot():
    """A slow method (occlusion: 108 pilot calls a map, after building its graph) in the background: every loop
    still returns the pilot's own outputs at once, so many loops pass before the first map is ready."""
    import time
    kl = car_pilot('linear', sample.MODEL)
    part = SalientPilot(kl, CarConfig(SALIENCY_THREADED=True, SALIENCY_METHOD='occlusion'))
    loops, deadline = 0, time.time() + 120
    while part.worker.overlay is None and not part.failed and time.time() < deadline:
        image = FRAMES[loops % len(FRAMES)]
        *outputs, overlay = part.run(image)
        np.testing.assert_allclose(outputs, kl.run(image), atol=1e-5)
        loops += 1
    part.shutdown()
    assert loops > 5 and part.worker.overlay.shape == (120, 160, 3) and not part.failed


def test_the_pi_path_runs_without_tensorflow(exported):
    """In a process where importing tensorflow fails (as on a Pi with tflite-runtime only), the part drives
    with the exported .tflite, and with its health numbers, and never imports TensorFlow."""
    probe = (
        'import sys\n'
        'sys.modules["tensorflow"] = None  # import tensorflow now raises ImportError\n'
        'import numpy as np\n'
        'from donkey_saliency.quiet import import_donkeycar\n'
        'dk = import_donkeycar()\n'
        'from donkey_saliency.part import SalientPilot\n'
        'cfg = dk.config.Config()\n'
        'cfg.IMAGE_W, cfg.IMAGE_H, cfg.IMAGE_DEPTH = 160, 120, 3\n'
        f'path = {str(exported / "pilot.saliency.tflite")!r}\n'
        'kl = dk.utils.get_model_by_type("tflite_linear", cfg)\n'
        'kl.load(path)\n'
        'part = SalientPilot(kl, None, path)\n'
        'angle, throttle, overlay = part.run(np.full((120, 160, 3), 90, np.uint8))\n'
        'assert overlay.shape == (120, 160, 3) and not part.failed\n'
        'import json, os, tempfile\n'  # and its health numbers, limits set so that the alarm comes on
        'cfg.SALIENCY_HEALTH = os.path.join(tempfile.mkdtemp(), "health.json")\n'
        'json.dump({"pilot": {"file": "pilot.saliency.tflite", "type": "linear"}, "method": "vbp", "window": 10, '
        '"limits": {"above_edge": 1, "change": 1, "strength": 1e9}, "strength_scale": 1, "surface_edge": 40, '
        '"frame_height": 120}, open(cfg.SALIENCY_HEALTH, "w"))\n'
        'watched = SalientPilot(kl, cfg, path)\n'
        'seen = [watched.run(np.full((120, 160, 3), 90, np.uint8)) for _ in range(10)]\n'
        'assert [len(s) for s in seen] == [7] * 10 and [s[-1] for s in seen] == [False] * 9 + [True]\n'
        'assert sys.modules["tensorflow"] is None\n'
        'print("angle", angle)\n'
    )
    env = dict(os.environ)
    result = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    kl = car_pilot('linear', sample.MODEL)
    angle, _ = kl.run(np.full((120, 160, 3), 90, np.uint8))
    assert float(result.stdout.split('angle')[1]) == pytest.approx(angle, abs=1e-4)


def test_a_tensorrt_pilot_gets_a_clear_line_and_no_saliency(caplog):
    """TensorRT is out of scope: donkeycar's own TensorRT pilot object (no engine can be built here) is
    recognised, one line says so, and the part will only pass the pilot's outputs through."""
    from donkeycar.parts.interpreter import TensorRT
    from donkeycar.parts.keras import KerasLinear
    part = SalientPilot(KerasLinear(interpreter=TensorRT()), CarConfig(SALIENCY_THREADED=True))
    assert part.unsupported and part.worker is None and part.engine is None
    assert sum('TensorRT pilots are not supported' in r.message for r in caplog.records) == 1


def test_occlusion_reads_a_twin_like_the_plain_file(exported):
    """Occlusion needs only the outputs: on the exported twin it equals occlusion on the plain .tflite."""
    from donkey_saliency.core.engine import Engine, MapRequest
    from donkey_saliency.core.pilot import load_pilot
    x = [np.stack(FRAMES[:2]).astype(np.float32) / 255]
    request = MapRequest('occlusion', 'angle', signed=True)
    (twin,) = Engine(load_pilot(str(exported / 'pilot.saliency.tflite')), [request])(x)[1]
    (plain,) = Engine(load_pilot(str(exported / 'pilot.tflite')), [request])(x)[1]
    assert_maps_close(twin, plain, atol=2e-3)


class _Frames:
    """A camera for the drive loop: the synthetic road, one frame a loop, with the sensors some pilots read."""

    def __init__(self):
        self.scenes = [s.image for s in synthetic.drive(12, seed=5)]
        self.loop = 0

    def run(self):
        image = self.scenes[self.loop % len(self.scenes)]
        self.loop += 1
        return image, np.linspace(-0.5, 0.5, 6) * self.loop, np.array([1.0, 0.0] if self.loop % 2 else [0.0, 1.0])


class _Keep:
    """Keeps what the loop's memory held for the given keys, loop after loop."""

    def __init__(self):
        self.seen = []

    def run(self, *values):
        self.seen.append(values)


@pytest.mark.parametrize('kind', ['linear', 'categorical', 'inferred', 'imu', 'memory', 'behavior', 'localizer',
                                  'rnn', '3d'])
def test_every_pilot_type_gets_a_map_each_loop_in_the_drive_loop(kind):
    """donkeycar's own drive loop (Vehicle.start) with the part in the pilot's place: every loop yields the map,
    and the outputs are those of an unwrapped twin of the pilot fed the same frames (the same weights, its own
    state), so the map disturbs neither the outputs nor the state of memory and sequence pilots."""
    from donkeycar.vehicle import Vehicle
    from donkey_saliency.quiet import import_tensorflow
    import_tensorflow().keras.utils.set_random_seed(3)
    settings = dict(SEQUENCE_LENGTH=3, BEHAVIOR_LIST=['left', 'right'], NUM_LOCATIONS=4)
    kl, twin = keras_pilot(kind, **settings), keras_pilot(kind, **settings)
    twin.interpreter.model.set_weights(kl.interpreter.model.get_weights())
    extra = {'imu': ['imu'], 'behavior': ['behavior']}.get(kind, [])
    outputs = ['pilot/angle', 'pilot/throttle'] + (['pilot/loc'] if kind == 'localizer' else [])
    vehicle, keep = Vehicle(), _Keep()
    vehicle.add(_Frames(), outputs=['cam/image_array', 'imu', 'behavior'])
    part = SalientPilot(kl, CarConfig(SALIENCY_METHOD='gradcam'))
    vehicle.add(part, inputs=['cam/image_array'] + extra, outputs=outputs + ['saliency/image_array'])
    vehicle.add(keep, inputs=['cam/image_array'] + extra + outputs + ['saliency/image_array'])
    vehicle.start(rate_hz=1000, max_loop_count=8)
    assert len(keep.seen) == 8 and not part.failed
    for image, *rest in keep.seen:
        sensors, values, overlay = rest[:len(extra)], rest[len(extra):-1], rest[-1]
        expected = twin.run(image, *sensors)
        np.testing.assert_allclose(np.array(values[:2], float), np.array(expected[:2], float), atol=1e-5)
        assert overlay.shape == (120, 160, 3) and overlay.dtype == np.uint8
        assert np.abs(overlay.astype(int) - image).mean() > 1  # a map is drawn over the frame


@pytest.mark.parametrize('threaded', [False, True])
def test_a_map_that_fails_while_driving_is_logged_once_and_never_stops_the_car(exported, caplog, threaded):
    """The part is handed another file than the pilot's (a 72x96 pilot for a 120x160 car): the engine builds,
    and every map then fails at inference, in the loop or in the background worker. The car drives on the
    pilot's own outputs, no overlay is shown, and one line is logged."""
    import time
    from conftest import ROOT
    kl = car_pilot('tflite_linear', exported / 'pilot.tflite')
    another = ROOT / 'tests' / 'data' / 'pi' / 'plain.tflite'
    part = SalientPilot(kl, CarConfig(SALIENCY_THREADED=threaded), str(another))
    deadline = time.time() + 60
    loops = 0
    while (loops < len(FRAMES) or not part.failed) and time.time() < deadline:
        image = FRAMES[loops % len(FRAMES)]
        *outputs, overlay = part.run(image)
        np.testing.assert_allclose(outputs, kl.run(image), atol=1e-5)
        assert overlay is None
        loops += 1
    part.shutdown()
    assert part.failed and sum('saliency failed' in r.message for r in caplog.records) == 1


CAR_INPUTS, CAR_TYPES = ['cam/image_array', 'user/angle', 'user/throttle'], ['image_array', 'float', 'float']


def tub_with(path, inputs, types):
    """An empty tub created by donkeycar's Tub with these inputs, as a car's TubWriter leaves it."""
    from donkeycar.parts.tub_v2 import Tub
    Tub(str(path), inputs, types).close()
    return path


@pytest.mark.parametrize('stored_with, setting', [(False, True), (True, False)])
def test_record_saliency_stops_before_a_tub_it_cannot_add_to(tmp_path, capsys, stored_with, setting):
    """A tub created with(out) the overlay and SALIENCY_RECORD toggled: exit code 2 and one line naming the tub
    and both ways out, before donkeycar's TubWriter would raise its AssertionError; the tub stays as it was."""
    from conftest import tree_digest
    from donkey_saliency.part import record_saliency
    inputs, types = CAR_INPUTS + ['saliency/image_array'] * stored_with, CAR_TYPES + ['image_array'] * stored_with
    tub = tub_with(tmp_path / 'data', inputs, types)
    before = tree_digest(tub)
    with pytest.raises(SystemExit) as stop:
        record_saliency(CarConfig(SALIENCY_RECORD=setting), CAR_INPUTS, CAR_TYPES, str(tub))
    assert stop.value.code == 2 and tree_digest(tub) == before
    (line,) = capsys.readouterr().err.splitlines()
    assert f'the tub {tub} was recorded {"with" if stored_with else "without"} saliency/image_array' in line
    assert 'AUTO_CREATE_NEW_TUB = True' in line and f'SALIENCY_RECORD back to {stored_with}' in line


@pytest.mark.parametrize('stored_with', [False, True])
def test_record_saliency_lets_the_car_add_to_a_tub_of_the_same_inputs(tmp_path, stored_with):
    """The same setting as the tub was recorded with: the inputs donkeycar's TubWriter then accepts."""
    from donkeycar.parts.tub_v2 import TubWriter
    from donkey_saliency.part import record_saliency
    inputs, types = CAR_INPUTS + ['saliency/image_array'] * stored_with, CAR_TYPES + ['image_array'] * stored_with
    tub = tub_with(tmp_path / 'data', inputs, types)
    got = record_saliency(CarConfig(SALIENCY_RECORD=stored_with), CAR_INPUTS, CAR_TYPES, str(tub))
    assert got == (inputs, types)
    TubWriter(str(tub), *got).close()  # no AssertionError


def test_record_saliency_leaves_other_differences_to_donkeycar(tmp_path):
    """A tub that differs in another key too (RECORD_DURING_AI toggled as well): not the overlay's doing, so no
    line blaming it; donkeycar's own assertion speaks."""
    from donkey_saliency.part import record_saliency
    tub = tub_with(tmp_path / 'data', CAR_INPUTS + ['pilot/angle'], CAR_TYPES + ['float'])
    assert record_saliency(CarConfig(SALIENCY_RECORD=True), CAR_INPUTS, CAR_TYPES, str(tub))[0][-1] == \
        'saliency/image_array'


def test_record_saliency_reads_the_tub_manage_py_picks(tmp_path):
    """Called as earlier manage.py files call it (no tub path): DATA_PATH is checked, unless AUTO_CREATE_NEW_TUB
    gives the drive a new folder."""
    from donkey_saliency.part import record_saliency
    tub = tub_with(tmp_path / 'data', CAR_INPUTS, CAR_TYPES)
    with pytest.raises(SystemExit):
        record_saliency(CarConfig(SALIENCY_RECORD=True, DATA_PATH=str(tub)), CAR_INPUTS, CAR_TYPES)
    new = CarConfig(SALIENCY_RECORD=True, DATA_PATH=str(tub), AUTO_CREATE_NEW_TUB=True)
    assert len(record_saliency(new, CAR_INPUTS, CAR_TYPES)[0]) == 4


def test_record_saliency_stops_before_a_tub_recorded_without_the_health_keys(tmp_path, capsys):
    """SALIENCY_HEALTH turned on for a tub recorded with the overlay alone: one line naming the keys and the ways
    out; the same tub with the health keys: the inputs donkeycar's TubWriter accepts, health keys after the
    overlay, typed float and boolean."""
    from donkeycar.parts.tub_v2 import TubWriter
    from donkey_saliency.keys import HEALTH_KEYS, HEALTH_TYPES
    from donkey_saliency.part import record_saliency
    config = CarConfig(SALIENCY_RECORD=True, SALIENCY_HEALTH='health.json')
    tub = tub_with(tmp_path / 'data', CAR_INPUTS + ['saliency/image_array'], CAR_TYPES + ['image_array'])
    with pytest.raises(SystemExit):
        record_saliency(config, CAR_INPUTS, CAR_TYPES, str(tub))
    (line,) = capsys.readouterr().err.splitlines()
    assert f'the tub {tub} was recorded without {", ".join(HEALTH_KEYS)}' in line
    assert 'AUTO_CREATE_NEW_TUB = True' in line and 'SALIENCY_HEALTH back to None' in line
    inputs, types = CAR_INPUTS + ['saliency/image_array', *HEALTH_KEYS], CAR_TYPES + ['image_array', *HEALTH_TYPES]
    other = tub_with(tmp_path / 'other', inputs, types)
    assert record_saliency(config, CAR_INPUTS, CAR_TYPES, str(other)) == (inputs, types)
    TubWriter(str(other), inputs, types).close()  # no AssertionError
