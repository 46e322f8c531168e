"""Saliency methods by name. Each lives in its own module and is imported only when chosen (it needs TensorFlow)."""
import importlib

METHODS = {
    'vbp': ('donkey_saliency.methods.vbp', 'VisualBackProp'),
    'gradcam': ('donkey_saliency.methods.gradcam', 'GradCAM'),
    'gradients': ('donkey_saliency.methods.gradients', 'Gradients'),
    'smoothgrad': ('donkey_saliency.methods.smoothgrad', 'SmoothGrad'),
    'integrated-gradients': ('donkey_saliency.methods.integrated_gradients', 'IntegratedGradients'),
    'occlusion': ('donkey_saliency.methods.occlusion', 'Occlusion'),
}


def get_method(name):
    """The method class registered under `name`."""
    module, cls = METHODS[name]
    return getattr(importlib.import_module(module), cls)
