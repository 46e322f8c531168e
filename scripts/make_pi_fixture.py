"""Make tests/data/pi/: a tiny donkeycar-shaped pilot as .h5, as a plain .tflite and as an exported twin, with four
frames and the maps the Keras graph computes for them (reference.npz). The Pi-path test checks that the .tflite
files give the same outputs and maps with only a TFLite runtime (no TensorFlow), e.g. on Python 3.13 with
ai-edge-litert; another test checks that reference.npz is still what the Keras graph computes.

Usage (in the main environment: TensorFlow 2.15 and donkeycar): python scripts/make_pi_fixture.py [FOLDER]
On the Keras 3 stack (no donkeycar) `.ci/run` writes the same files into build/pi-keras3 and the Pi step checks
that twin too (DONKEY_SALIENCY_PI_DATA=build/pi-keras3 pytest tests/test_pi.py).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from donkey_saliency import synthetic  # noqa: E402
from donkey_saliency.quiet import import_tensorflow  # noqa: E402

FOLDER = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), 'tests', 'data', 'pi')
SIZE = (72, 96)  # donkeycar builds its default KerasLinear at this size too: it needs 62 rows or more
OCCLUSION = {'window': 8, 'stride': 8}


def tiny_pilot(tf):
    """A small linear-type pilot (img_in -> n_outputs0/1) with VALID convs and a pooling layer, fixed weights."""
    layers = tf.keras.layers
    tf.keras.utils.set_random_seed(7)
    image = layers.Input(SIZE + (3,), name='img_in')
    x = layers.Conv2D(8, 5, strides=2, activation='relu')(image)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(12, 3, activation='relu')(x)
    x = layers.Conv2D(12, 3, strides=2, activation='relu')(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation='relu')(x)
    return tf.keras.Model(image, [layers.Dense(1, name='n_outputs0')(x), layers.Dense(1, name='n_outputs1')(x)])


def main():
    tf = import_tensorflow()
    from donkey_saliency.car.convert import keras_to_tflite
    from donkey_saliency.car.export import export
    from donkey_saliency.core.engine import Engine, MapRequest
    from donkey_saliency.core.pilot import load_pilot
    os.makedirs(FOLDER, exist_ok=True)
    h5 = os.path.join(FOLDER, 'tiny.h5')
    tiny_pilot(tf).save(h5)
    pilot = load_pilot(h5)
    keras_to_tflite(pilot.model, os.path.join(FOLDER, 'plain.tflite'))
    export(pilot, os.path.join(FOLDER, 'twin.tflite'), gradcam=True)
    rng = np.random.default_rng(3)
    frames = np.stack([synthetic.draw(c, rng, *SIZE).image for c in (-0.7, -0.2, 0.3, 0.8)])
    requests = [MapRequest('vbp'), MapRequest('gradcam', 'angle', True), MapRequest('occlusion', 'angle', True)]
    outputs, (vbp, gradcam, occlusion) = Engine(pilot, requests, OCCLUSION)([frames.astype(np.float32) / 255])
    np.savez_compressed(os.path.join(FOLDER, 'reference.npz'), frames=frames, angle=outputs[0][:, 0],
                        throttle=outputs[1][:, 0], vbp=vbp, gradcam=gradcam, occlusion=occlusion)
    print(f'wrote {FOLDER}')


if __name__ == '__main__':
    main()
