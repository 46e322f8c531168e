"""TensorFlow's oneDNN kernels in a run of the command, on every x86-64 processor.

TensorFlow 2.15 and newer turn oneDNN on by themselves only on Linux, and there only on processors with
AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX (the 2-core Intel Xeon here; AMD's Zen 4 and newer); elsewhere (this
2-core AMD EPYC, AVX2 only; older Intel and AMD processors; Windows) they run Eigen's kernels, and macOS builds
have no oneDNN (the setting changes nothing there). On the AMD EPYC, the bundled pilot's forward pass with
VisualBackProp took 3.4 to 3.5 ms of processor time a frame on Eigen's kernels and 2.3 to 2.6 on oneDNN's; a
video of the real tub, in one process each, ran at 243 and 270 frames/s against 313 and 333 (in turn,
2026-12-02). TensorFlow reads the setting once, as it loads: set before it is imported, and only where it is
not set (the user's own TF_ENABLE_ONEDNN_OPTS wins). The command's process alone: a program that imports this
package (a notebook, a car's manage.py) keeps its own choice, unless it runs the command in its own process
(cli.main).
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
