"""The Pi's path: a .tflite pilot answered with numpy and a TFLite runtime only, no TensorFlow imported.

tests/data/pi (made by scripts/make_pi_fixture.py) holds a tiny donkeycar-shaped pilot as .h5, as a plain .tflite
and as an exported twin, four frames, and the maps the Keras graph computes for them. `.ci/run` also runs this
file on Python 3.13 with ai-edge-litert and no TensorFlow, as upstream donkeycar's Pi stack has it.
"""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

# the committed files (made on Python 3.11, TensorFlow 2.15), or the same made by scripts/make_pi_fixture.py on the
# Keras 3 stack (.ci/run: Python 3.12, TensorFlow >= 2.19, into build/pi-keras3), for the Pi step to check
DATA = ROOT / os.environ.get('DONKEY_SALIENCY_PI_DATA', os.path.join('tests', 'data', 'pi'))
RUNTIMES = ('ai_edge_litert', 'tflite_runtime')

PROBE = '''
import json, sys
sys.modules['tensorflow'] = None  # as on a Pi: importing TensorFlow raises ImportError
import numpy as np
from donkey_saliency.core.engine import Engine, MapRequest
from donkey_saliency.core.pilot import load_pilot
folder = sys.argv[1]
reference = np.load(folder + '/reference.npz')
x = [reference['frames'].astype(np.float32) / 255]
result = {}
for name, requests in (('plain', [MapRequest('vbp'), MapRequest('occlusion', 'angle', True)]),
                       ('twin', [MapRequest('vbp'), MapRequest('gradcam', 'angle', True)])):
    pilot = load_pilot(f'{folder}/{name}.tflite')
    outputs, maps = Engine(pilot, requests, {'window': 8, 'stride': 8})(x)
    angle, throttle = pilot.decode(outputs)
    result[name] = {'kind': pilot.kind, 'angle': angle.tolist(), 'throttle': throttle.tolist(),
                    'maps': {r.method: m.tolist() for r, m in zip(requests, maps)}}
assert sys.modules['tensorflow'] is None
print(json.dumps(result))
'''


def test_tflite_files_give_the_keras_maps_with_no_tensorflow():
    """Outputs to 1e-4 and maps to 2e-3 of their peak from the Keras graph's, from the plain file (VBP from
    intermediate tensors, occlusion window by window) and from the exported twin (VBP and Grad-CAM built in)."""
    if not any(importlib.util.find_spec(r) for r in RUNTIMES):
        pytest.skip('no TFLite runtime without TensorFlow here (ai-edge-litert or tflite-runtime)')
    done = subprocess.run([sys.executable, '-c', PROBE, str(DATA)], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    reference = np.load(DATA / 'reference.npz')
    for name, methods in (('plain', ('vbp', 'occlusion')), ('twin', ('vbp', 'gradcam'))):
        assert result[name]['kind'] == 'linear'
        np.testing.assert_allclose(result[name]['angle'], reference['angle'], atol=1e-4)
        np.testing.assert_allclose(result[name]['throttle'], reference['throttle'], atol=1e-4)
        for method in methods:
            peak = np.abs(reference[method]).max()  # raw maps: compared on the scale of the map
            np.testing.assert_allclose(np.array(result[name]['maps'][method]) / peak, reference[method] / peak,
                                       atol=2e-3)


def test_the_reference_is_what_the_keras_graph_computes():
    """reference.npz stays in step with the code: recomputed from tiny.h5 by the Keras path."""
    pytest.importorskip('tensorflow')
    from donkey_saliency.core.engine import Engine, MapRequest
    from donkey_saliency.core.pilot import load_pilot
    reference = np.load(DATA / 'reference.npz')
    pilot = load_pilot(str(DATA / 'tiny.h5'))
    requests = [MapRequest('vbp'), MapRequest('gradcam', 'angle', True), MapRequest('occlusion', 'angle', True)]
    outputs, maps = Engine(pilot, requests, {'window': 8, 'stride': 8})([reference['frames'].astype(np.float32) / 255])
    np.testing.assert_allclose(outputs[0][:, 0], reference['angle'], atol=1e-5)
    for request, computed in zip(requests, maps):
        peak = np.abs(reference[request.method]).max()
        assert peak > 0 and np.isfinite(reference[request.method]).all()  # a map, not a blank
        np.testing.assert_allclose(computed / peak, reference[request.method] / peak, atol=1e-4)
