"""Run a car app's real drive loop (its manage.py `drive`) in this process and save what its memory held.

Usage: python car_runner.py CAR_DIR MODEL TYPE OUT.npz
Vehicle.start is wrapped only to read the vehicle's memory after the loop ends; every part runs for real.
"""
import os
import sys

import numpy as np

car, model, kind, out = sys.argv[1:5]
sys.path.insert(0, car)
os.chdir(car)
import donkeycar as dk  # noqa: E402
from donkeycar.vehicle import Vehicle  # noqa: E402

import manage  # noqa: E402

seen = {}
start = Vehicle.start


def start_and_keep_memory(self, *args, **kwargs):
    try:
        return start(self, *args, **kwargs)
    finally:
        for key in ('pilot/angle', 'pilot/throttle', 'saliency/image_array', 'cam/image_array', 'user/mode'):
            seen[key] = self.mem.get([key])[0]


Vehicle.start = start_and_keep_memory
manage.drive(dk.load_config(os.path.join(car, 'config.py')), model_path=model, model_type=kind)
np.savez(out, **{k.replace('/', '_'): np.asarray(v) for k, v in seen.items() if v is not None})
