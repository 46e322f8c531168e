"""`donkey saliency export`: a .tflite file with the pilot's outputs plus saliency maps as extra outputs.

The graph is the one the offline methods compile (pilot forward pass + VisualBackProp, optionally signed
Grad-CAM for steering), converted with TFLite built-in ops only, so tflite-runtime / ai-edge-litert run it on a
Raspberry Pi without TensorFlow: one invoke() gives the steering, the throttle and the map. Inputs and pilot
outputs keep the Keras names, so donkeycar's own TFLite part can drive with the file too.
"""
import tempfile

from donkey_saliency.errors import UserError

VBP_OUTPUT = 'saliency'
GRADCAM_OUTPUT = 'saliency_gradcam_angle'
MAP_OUTPUTS = (VBP_OUTPUT, GRADCAM_OUTPUT)


def export(pilot, out_path, gradcam=False):
    """Write the exported file for a loaded Keras pilot; returns the names of its outputs."""
    from donkey_saliency.methods import get_method
    from donkey_saliency.output import AtomicFile
    from donkey_saliency.quiet import import_tensorflow
    from donkey_saliency.targets import score_functions
    tf = import_tensorflow()
    if pilot.tflite:
        raise UserError(f'{pilot.path} is already a .tflite file; export needs the Keras pilot (.h5, .savedmodel, .keras)')
    model = pilot.model
    vbp = get_method('vbp')(model)
    gradcam_method = None
    if gradcam:
        score = score_functions(pilot.kind, getattr(pilot.part, 'throttle_range', 0.8), tf.experimental.numpy)
        gradcam_method = get_method('gradcam')(model, score=score['angle'], signed=True)
    names = [t.name.split(':')[0] for t in model.inputs]
    signature = [tf.TensorSpec((None,) + tuple(t.shape[1:]), tf.float32, name=name)
                 for t, name in zip(model.inputs, names)]

    def serve(*inputs):
        outputs, raw = vbp.attribute(list(inputs))
        result = dict(zip(model.output_names, outputs))
        result[VBP_OUTPUT] = vbp.finish(raw)
        if gradcam_method:
            _, raw = gradcam_method.attribute(list(inputs))
            result[GRADCAM_OUTPUT] = gradcam_method.finish(raw)
        return result

    module = tf.Module()
    module.models = [m.extended for m in (vbp, gradcam_method) if m]  # tracks every weight the graph reads
    module.serve = tf.function(serve, input_signature=signature)
    with tempfile.TemporaryDirectory() as folder:  # a SavedModel carries the named serving_default signature
        tf.saved_model.save(module, folder, signatures={'serving_default': module.serve.get_concrete_function()})
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        try:
            flat = converter.convert()
        except Exception as exc:
            raise UserError(f'TFLite cannot convert this pilot with built-in ops only '
                            f'({str(exc).splitlines()[0]})') from None
    target = AtomicFile(out_path)
    try:
        with open(target.temp, 'wb') as f:
            f.write(flat)
        target.commit()
    finally:
        target.discard()
    return list(model.output_names) + [VBP_OUTPUT] + ([GRADCAM_OUTPUT] if gradcam else [])
