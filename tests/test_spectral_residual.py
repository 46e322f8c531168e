"""The spectral residual, built from OpenCV's main modules, gives the maps OpenCV contrib's
StaticSaliencySpectralResidual gives (which it replaced, so that one OpenCV distribution serves this package and
albumentations alike).

tests/data/spectral_residual_reference.npz holds two real frames (records 300 and 1200 of shimoda_realcar_v2,
../shared/data, MIT) and the maps contrib 4.9.0.80 (opencv-contrib-python-headless, the version the `pc` extra had)
computed for them through the old `spectral_residual` (the frames as 0..1 floats, back to uint8): as they are, in
grey (H, W, 1), cut to an odd size, and for a black frame (a spectrum of zeros). `python
tests/test_spectral_residual.py` rewrites it, in an environment with contrib. Measured: this implementation equals
contrib bit for bit under 4.9.0, 4.14.0 and 5.1.0 (152 frames of the sample and the real tub), and moves by at
most 1.2e-7 (one float32 step) from one of these versions to another.
"""
from pathlib import Path

import numpy as np
import pytest

from donkey_saliency.core.methods.spectral_residual import spectral_residual

pytestmark = pytest.mark.keras3  # runs on donkeycar 5.4's stack too (pytest.ini)

REFERENCE = Path(__file__).parent / 'data' / 'spectral_residual_reference.npz'
ATOL = 1e-6  # across OpenCV versions (above); 0 under 4.9


def cases(frames):
    """{name: the method's input (N, H, W, C) in 0..1} for the reference's frames."""
    images = frames.astype(np.float32) / 255
    return {'colour': images, 'grey': images[:1].mean(-1, keepdims=True), 'odd': images[1:, 3:100, 7:150],
            'black': np.zeros((1, 120, 160, 3), np.float32)}


@pytest.fixture(scope='module')
def reference():
    return np.load(REFERENCE)


@pytest.mark.parametrize('case', ['colour', 'grey', 'odd', 'black'])
def test_maps_equal_opencv_contribs(reference, case):
    expected = reference[case]
    maps = spectral_residual(cases(reference['frames'])[case])
    assert maps.dtype == np.float32 and maps.shape == expected.shape
    assert np.isfinite(maps).all()
    np.testing.assert_allclose(maps, expected, rtol=0, atol=ATOL)


def test_a_sequence_gives_its_newest_frames_map(reference):
    images = cases(reference['frames'])['colour']
    sequences = np.stack([images[::-1], images])  # (2, 2, H, W, 3): rnn and 3d pilots' inputs
    maps = spectral_residual(sequences)
    np.testing.assert_array_equal(maps, spectral_residual(images[[0, 1]]))


def write_reference():
    """The reference, as contrib computes it (needs opencv-contrib-python-headless) and ../shared/data."""
    import cv2
    images = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'shimoda_realcar_v2' / 'data' / 'images'
    frames = np.stack([cv2.cvtColor(cv2.imread(str(images / f'{index}_cam_image_array_.jpg')), cv2.COLOR_BGR2RGB)
                       for index in (300, 1200)])
    detector = cv2.saliency.StaticSaliencySpectralResidual_create()

    def contrib(inputs):
        return np.stack([detector.computeSaliency(np.clip(image * 255, 0, 255).astype(np.uint8))[1]
                         for image in inputs]).astype(np.float32)

    np.savez_compressed(REFERENCE, frames=frames, **{name: contrib(x) for name, x in cases(frames).items()},
                        opencv=np.array(cv2.__version__))


if __name__ == '__main__':
    write_reference()
