"""How many processor cores this process may use: its affinity where the system tells it (Linux), else all of them
(macOS has no sched_getaffinity)."""
import os


def usable():
    if hasattr(os, 'sched_getaffinity'):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
