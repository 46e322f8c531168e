"""Run a car app's `python manage.py drive --model MODEL --type TYPE` in this process, for real, and save what its
memory held and how logging was set up around the saliency part.

Usage: python car_runner.py CAR_DIR MODEL TYPE OUT.npz    (logging's states go to OUT.json)
manage.py runs as __main__ with that command line, importing as it always does. Two functions are wrapped only
to look: Vehicle.start, to read the vehicle's memory after the loop ends, and add_saliency, to read the state of
the loggers just before and after it; every part runs for real.
"""
import json
import logging
import os
import runpy
import sys

import numpy as np

car, model, kind, out = sys.argv[1:5]
sys.path.insert(0, car)
os.chdir(car)
from donkeycar.vehicle import Vehicle  # noqa: E402 (manage.py's first import too: donkeycar before the part)

import donkey_saliency.part  # noqa: E402

WATCHED = ('tensorflow', 'absl', '__main__')  # with the root logger and every donkeycar logger


def logging_state():
    """Every watched logger's level, handlers (the very objects, their levels and formats), propagate, disabled."""
    loggers = {'root': logging.root}
    loggers.update({name: logger for name, logger in logging.root.manager.loggerDict.items()
                    if isinstance(logger, logging.Logger) and (name in WATCHED or name.split('.')[0] == 'donkeycar')})
    return {name: {'level': logger.level, 'propagate': logger.propagate, 'disabled': logger.disabled,
                   'handlers': [f'{type(h).__name__} {id(h)} level {h.level} format {h.formatter and h.formatter._fmt}'
                                for h in logger.handlers]}
            for name, logger in loggers.items()}


seen, states = {}, {}
start, add_saliency = Vehicle.start, donkey_saliency.part.add_saliency


def start_and_keep_memory(self, *args, **kwargs):
    try:
        return start(self, *args, **kwargs)
    finally:
        for key in ('pilot/angle', 'pilot/throttle', 'saliency/image_array', 'cam/image_array', 'user/mode',
                    'saliency/above_edge', 'saliency/change', 'saliency/strength', 'saliency/alarm'):
            seen[key] = self.mem.get([key])[0]
        states['after the loop'] = logging_state()


def add_saliency_and_keep_logging(*args, **kwargs):
    states['before the part'] = logging_state()
    try:
        return add_saliency(*args, **kwargs)
    finally:
        states['after the part'] = logging_state()


Vehicle.start = start_and_keep_memory
donkey_saliency.part.add_saliency = add_saliency_and_keep_logging  # manage.py imports it from there
sys.argv = ['manage.py', 'drive', '--model', model, '--type', kind]
try:
    runpy.run_path('manage.py', run_name='__main__')
finally:
    with open(os.path.splitext(out)[0] + '.json', 'w') as f:
        json.dump(states, f)
np.savez(out, **{k.replace('/', '_'): np.asarray(v) for k, v in seen.items() if v is not None})
