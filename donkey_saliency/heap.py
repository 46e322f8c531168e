"""Keep freed memory in the process's heap (glibc), for the offline runs whose big arrays come and go every batch.

glibc hands a freed block above its mapping threshold (128 KB at first, rising with the blocks it has freed) back
to the system, and the next batch's arrays (TensorFlow's activations, the frames) are mapped anew and zero-filled
page by page: a video pays page faults and kernel time every batch so. Raising the two thresholds keeps those
blocks for reuse: less kernel time and a faster video, for a somewhat higher peak memory (bench/README.md). It
holds for the rest of the process: the CLI's, which ends with the run. Without
glibc's mallopt (macOS) nothing is done.
"""
import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
KEPT = 1 << 30  # free memory at the heap's top kept up to this size
# blocks of at least this size are still mapped on their own: glibc's documented ceiling, 32 MB (512 KB on 32 bits)
MAPPED = 1 << 25 if ctypes.sizeof(ctypes.c_void_p) == 8 else 1 << 19


def keep_freed_memory():
    """Ask the C library to keep freed blocks for reuse; True when it took both settings."""
    name = ctypes.util.find_library('c')
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    kept = [bool(mallopt(M_MMAP_THRESHOLD, MAPPED)), bool(mallopt(M_TRIM_THRESHOLD, KEPT))]  # each on its own
    return all(kept)
