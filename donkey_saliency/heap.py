"""Keep freed memory in the process's heap (glibc), for the offline runs whose big arrays come and go every batch.

glibc hands a freed block of more than 128 KB back to the system, and the next batch's arrays (TensorFlow's
activations, the frames) are mapped anew and zero-filled page by page: on the 2-core machine a video paid about
25 page faults and 0.1 ms of kernel time a frame so. Raising the two thresholds keeps those blocks for reuse: on
the real tub sys time 1.08 to 1.11 s against 1.33 to 1.70, and 482 to 520 frames/s against 433 to 471, the peak
memory 30 to 50 MB higher. Elsewhere (macOS, musl) nothing is done.
"""
import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
KEPT = 1 << 30  # free memory at the heap's top kept up to this size
MAPPED = 1 << 25  # blocks of at least this size are still mapped on their own (32 MB: glibc's documented ceiling)


def keep_freed_memory():
    """Ask glibc to keep freed blocks for reuse; True when it was asked."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c'))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MAPPED)) and bool(mallopt(M_TRIM_THRESHOLD, KEPT))
