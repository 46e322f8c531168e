"""Where the bundled sample lives: a synthetic track tub and a small KerasLinear pilot trained on it.

Both are made by scripts/make_sample.py (tub) and scripts/train_sample.py (pilot); `donkey saliency --demo` uses them.
"""
import os

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'sample_data')
TUB = os.path.join(FOLDER, 'tub')
MODEL = os.path.join(FOLDER, 'pilot.h5')
