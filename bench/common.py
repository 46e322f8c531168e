"""What the benchmarks share: the machine's description, the pilot, the bare forward pass, and timing."""
import os
import platform
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from donkey_saliency import carconfig  # noqa: E402
from donkey_saliency.pilots import load_pilot  # noqa: E402
from donkey_saliency.quiet import import_tensorflow  # noqa: E402


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = re.search(r'model name\s*:\s*(.*)', f.read()).group(1)
    except (OSError, AttributeError):
        pass
    tf = import_tensorflow()
    return f'{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, TensorFlow {tf.__version__}'


def pilot_and_forward(path):
    """The pilot at `path` and a compiled bare forward pass of its model, returning numpy outputs."""
    tf = import_tensorflow()
    cfg, _ = carconfig.load(None)
    pilot = load_pilot(path, None, cfg)
    graph = tf.function(lambda x: pilot.model(x, training=False),
                        input_signature=[[tf.TensorSpec((None,) + pilot.input_size, tf.float32)]])
    return pilot, lambda inputs: [o.numpy() for o in graph(inputs)]


def frames_per_second(call, inputs, repeats=1):
    """Best of three timings of `repeats` calls, after a warm-up call; frames = length of the first input."""
    call(inputs)
    best = float('inf')
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            call(inputs)
        best = min(best, time.perf_counter() - start)
    return repeats * len(inputs[0]) / best
