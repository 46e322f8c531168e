"""`donkey saliency export`: a .tflite file with the pilot's outputs plus saliency maps as extra outputs.

The graph is the one the offline methods compile (pilot forward pass + VisualBackProp, optionally signed
Grad-CAM for steering), converted with TFLite built-in ops only, so tflite-runtime / ai-edge-litert run it on a
Raspberry Pi without TensorFlow: one invoke() gives the steering, the throttle and the map. Inputs and pilot
outputs keep the Keras names, so donkeycar's own TFLite part can drive with the file too.
"""
import contextlib
import os
import re
import tempfile

from donkey_saliency import keys
from donkey_saliency.errors import UserError, first_line


def export(pilot, out_path, gradcam=False):
    """Write the exported file for a loaded Keras pilot; returns the names of its outputs."""
    from donkey_saliency.core.engine import EXPORTABLE, Engine
    from donkey_saliency.writers import AtomicFile
    from donkey_saliency.quiet import import_tensorflow
    tf = import_tensorflow()
    if pilot.tflite:
        raise UserError(f'{pilot.path} is already a .tflite file; export needs the Keras pilot (.h5, .savedmodel, .keras)')
    model = pilot.model
    map_names = [name for name, r in EXPORTABLE.items() if r.method == 'vbp' or gradcam]
    methods = dict(zip(map_names, Engine(pilot, [EXPORTABLE[name] for name in map_names]).backend.methods))
    vbp_output = keys.map_output('vbp')
    names = [t.name.split(':')[0] for t in model.inputs]
    signature = [tf.TensorSpec((None,) + tuple(t.shape[1:]), tf.float32, name=name)
                 for t, name in zip(model.inputs, names)]

    def serve(*inputs):
        attributed = {output: method.attribute(list(inputs)) for output, method in methods.items()}
        result = dict(zip(model.output_names, attributed[vbp_output][0]))  # the pilot's outputs
        result.update({output: methods[output].shown(raw) for output, (_, raw) in attributed.items()})
        return result

    module = tf.Module()
    module.models = [method.extended for method in methods.values()]  # tracks every weight the graph reads
    # Keras 3 variables are not tf.Variables a tf.Module tracks: without their tf.Variable the SavedModel would
    # hold no weights, and the converted file would compute NaN
    module.weights = [w if isinstance(w, tf.Variable) else w.value for m in module.models for w in m.weights]
    module.serve = tf.function(serve, input_signature=signature)
    with tempfile.TemporaryDirectory() as folder:  # a SavedModel carries the named serving_default signature
        tf.saved_model.save(module, folder, signatures={'serving_default': module.serve.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        try:
            with _quiet_output():  # the converter prints a summary of its own that reads like a failure
                flat = converter.convert()
        except Exception as exc:
            ops = sorted(set(re.findall(r'callsite\((?:callsite\()*fused\["(\w+):', str(exc)))) or \
                [first_line(exc)]  # the innermost op of each failing location, else the message
            raise UserError(f'TFLite cannot convert this pilot with built-in ops only: its graph uses '
                            f'{", ".join(ops)}; the Keras file still gives every map offline and on the car') from None
    target = AtomicFile(out_path)
    try:
        with open(target.temp, 'wb') as f:
            f.write(flat)
        target.commit()
    finally:
        target.discard()
    return list(model.output_names) + list(methods)


@contextlib.contextmanager
def _quiet_output():
    """Silence what C++ code writes straight to the process's stdout and stderr (file descriptors 1 and 2)."""
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, 'w') as null:
        try:
            for fd in (1, 2):
                os.dup2(null.fileno(), fd)
            yield
        finally:
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
