"""Spectral residual saliency (Hou and Zhang 2007; OpenCV contrib's static saliency, in the lineage of Itti, Koch
and Niebur 1998): a model-free control. It never looks at the pilot, so it shows what is merely conspicuous
(bright, contrasty); the randomisation check must flag it, and attention that only follows it is a warning sign.
It runs on any pilot file, without TensorFlow: the pilot only gives its outputs.
"""
import numpy as np


def spectral_residual(images):
    """(N, H, W) maps for images (N, H, W, C) in 0..1 (sequences: the newest frame is used)."""
    import cv2
    images = np.asarray(images, np.float32)
    if images.ndim == 5:
        images = images[:, -1]
    detector = cv2.saliency.StaticSaliencySpectralResidual_create()
    maps = []
    for image in images:
        found, saliency = detector.computeSaliency(np.clip(image * 255, 0, 255).astype(np.uint8))
        maps.append(np.asarray(saliency, np.float32) if found else np.zeros(image.shape[:2], np.float32))
    return np.stack(maps)


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
