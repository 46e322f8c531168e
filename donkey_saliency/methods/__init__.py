"""Saliency methods by name. Each lives in its own module and is imported only when chosen (it needs TensorFlow)."""
import importlib

METHODS = {
    'vbp': ('donkey_saliency.methods.vbp', 'VisualBackProp'),
}


def get_method(name):
    """The method class registered under `name`."""
    module, cls = METHODS[name]
    return getattr(importlib.import_module(module), cls)
