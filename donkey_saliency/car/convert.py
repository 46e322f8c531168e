"""A pilot's plain .tflite, converted as donkeycar converts it (parts/interpreter.keras_to_tflite): with donkeycar's
own function where donkeycar is installed, else with the same converter settings (upstream's Keras 3 stack)."""
from donkey_saliency.quiet import donkeycar_or_none, import_tensorflow


def keras_to_tflite(model, path):
    if donkeycar_or_none() is not None:
        from donkeycar.parts.interpreter import keras_to_tflite as convert
        return convert(model, str(path))
    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    converter.allow_custom_ops = True
    with open(path, 'wb') as f:
        f.write(converter.convert())
