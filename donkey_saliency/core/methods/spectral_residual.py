"""Spectral residual saliency (Hou and Zhang 2007, in the lineage of Itti, Koch and Niebur 1998): a model-free
control. It never looks at the pilot, so it shows what is merely conspicuous (bright, contrasty); the randomisation
check must flag it, and attention that only follows it is a warning sign. It runs on any pilot file, without
TensorFlow: the pilot only gives its outputs.

The steps are those of OpenCV contrib's `StaticSaliencySpectralResidual` (grey at 64 x 64; the log of 1 + the
amplitude spectrum minus its 3 x 3 mean, back with the phase; a 5 x 5 Gaussian of sigma 8, squared, scaled to a
peak of 1; resized back), made of OpenCV's main-module calls, so that the plain `opencv-python-headless`
albumentations (donkeycar's training) depends on serves it too: no contrib build, one OpenCV. Its maps are
contrib's, bit for bit under the same OpenCV (tests/test_spectral_residual.py, against maps contrib 4.9 wrote).
"""
import numpy as np

SIZE = 64  # the spectrum's side, as contrib's resImWidth and resImHeight


def spectral_residual_map(image):
    """(H, W) float32 map of one uint8 image (H, W, 3), read as BGR as contrib reads it, or (H, W[, 1])."""
    import cv2
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 and image.shape[2] == 3 else image
    small = cv2.resize(grey, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR_EXACT).astype(np.float64)
    spectrum = cv2.dft(np.dstack([small, np.zeros_like(small)]))
    amplitude, phase = cv2.cartToPolar(spectrum[..., 0], spectrum[..., 1])
    log_amplitude = cv2.log(amplitude + 1)  # + 1: no log(0) where the spectrum has a zero
    residual = cv2.exp(log_amplitude - cv2.blur(log_amplitude, (3, 3)))
    real, imaginary = cv2.polarToCart(residual, phase)
    back = cv2.dft(np.dstack([real, imaginary]), flags=cv2.DFT_INVERSE)
    magnitude, _ = cv2.cartToPolar(back[..., 0], back[..., 1])
    magnitude = cv2.GaussianBlur(magnitude, (5, 5), 8)
    magnitude = magnitude * magnitude
    magnitude = (magnitude * (1.0 / magnitude.max())).astype(np.float32)  # OpenCV's Mat / s multiplies by 1 / s
    return cv2.resize(magnitude, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR_EXACT)


def spectral_residual(images):
    """(N, H, W) maps for images (N, H, W, C) in 0..1 (sequences: the newest frame is used)."""
    images = np.asarray(images, np.float32)
    if images.ndim == 5:
        images = images[:, -1]
    return np.stack([spectral_residual_map(np.clip(image * 255, 0, 255).astype(np.uint8)) for image in images])


class SpectralResidual:
    """The same call shapes as the other methods: `method(inputs) -> (outputs, maps)` on a Keras model, and
    `maps(inputs, outputs)` after a .tflite pilot's run."""

    reads_last_run = True  # reads only the inputs: any order will do

    def __init__(self, model):
        self.model = model

    def __call__(self, inputs):
        outputs = self.model([np.asarray(x, np.float32) for x in inputs], training=False)
        outputs = [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
        return outputs, self.maps(inputs, outputs)

    def maps(self, inputs, outputs):
        return spectral_residual(inputs[0])
