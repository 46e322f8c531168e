"""Saliency methods by name. Each lives in its own module and is imported only when chosen (it needs TensorFlow).

Per method: its module, its class, and whether its map explains one chosen output (known without importing).
"""
import importlib

METHODS = {
    'vbp': ('donkey_saliency.methods.vbp', 'VisualBackProp', False),
    'gradcam': ('donkey_saliency.methods.gradcam', 'GradCAM', True),
    'gradients': ('donkey_saliency.methods.gradients', 'Gradients', True),
    'smoothgrad': ('donkey_saliency.methods.smoothgrad', 'SmoothGrad', True),
    'integrated-gradients': ('donkey_saliency.methods.integrated_gradients', 'IntegratedGradients', True),
    'occlusion': ('donkey_saliency.methods.occlusion', 'Occlusion', True),
}


def get_method(name):
    """The method class registered under `name`."""
    module, cls, _ = METHODS[name]
    return getattr(importlib.import_module(module), cls)


def per_output(name):
    """True when the method's map explains one chosen output (angle or throttle)."""
    return METHODS[name][2]
