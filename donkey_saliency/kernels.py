"""TensorFlow's oneDNN kernels in a run of the command, on every x86-64 processor.

TensorFlow 2.15 and newer turn oneDNN on by themselves only on Linux, and there only on processors with
AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX (recent Intel Xeons; AMD's Zen 4 and newer); elsewhere (AVX2-only
processors, older Intel and AMD ones; Windows) they run Eigen's kernels, and macOS builds have no oneDNN (the
setting changes nothing there). On such processors too oneDNN's kernels run the pilot's forward pass with
VisualBackProp, and so a whole video, faster than Eigen's (bench/README.md: an AMD EPYC). TensorFlow reads the
setting once, as it loads: set before it is imported, and only where it is not set (the user's own
TF_ENABLE_ONEDNN_OPTS wins). The command's process alone: a program that imports this package (a notebook, a car's
manage.py) keeps its own choice, unless it runs the command in its own process (cli.main).
"""
import os
import platform

X86_64 = ('x86_64', 'amd64')  # (what platform.machine() says on Linux and macOS, and on Windows)


def prefer_onednn():
    """Ask TensorFlow for oneDNN's kernels when it loads, on x86-64 where nobody chose; True when asked."""
    if platform.machine().lower() not in X86_64 or 'TF_ENABLE_ONEDNN_OPTS' in os.environ:
        return False
    os.environ['TF_ENABLE_ONEDNN_OPTS'] = '1'
    return True
