"""What the benchmarks share: the machine's description, the pilot, the bare forward pass, and timing."""
import os
import platform
import re
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from donkey_saliency.core import carconfig  # noqa: E402
from donkey_saliency.core.pilot import load_pilot  # noqa: E402
from donkey_saliency.quiet import import_tensorflow  # noqa: E402


SHARED_TUB = os.path.join(os.path.dirname(ROOT), 'shared', 'data', 'shimoda_realcar_v2', 'data')


def add_tub_and_model(parser):
    """--tub (the real tub in ../shared when present, else the bundled sample) and --model (the bundled pilot)."""
    from donkey_saliency import sample
    parser.add_argument('--tub', default=SHARED_TUB if os.path.isdir(SHARED_TUB) else sample.TUB)
    parser.add_argument('--model', default=sample.MODEL)


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


def frames_per_second(calls, inputs, repeats=1, rounds=7):
    """{name: frames/s} for several calls on the same inputs, each timed `rounds` times in turn (interleaved, so
    the machine's ups and downs hit all alike) over `repeats` calls; the median round counts."""
    timings = {name: [] for name in calls}
    for call in calls.values():
        call(inputs)  # warm-up: graphs are built here
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(repeats):
                call(inputs)
            timings[name].append(time.perf_counter() - start)
    return {name: repeats * len(inputs[0]) / statistics.median(times) for name, times in timings.items()}
