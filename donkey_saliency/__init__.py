"""donkey-saliency: where a donkeycar pilot looks.

    import donkey_saliency as ds
    pilot = ds.load_pilot('models/pilot.h5')          # any file the CLI takes; type detected
    result = ds.saliency(pilot, images, method='vbp')  # images: uint8 RGB camera frames (N, H, W, 3)
    picture = ds.overlay(images[0], result.maps[0])    # the frame with the heat map and its legend
    findings = ds.report('data/tub_1', 'models/pilot.h5', out='report.html')  # where it looks over a tub
    ds.mirror('data/tub_1', 'data/tub_1_mirror')       # the tub seen in a mirror, to train on beside it

Light on purpose: importing the package imports no TensorFlow; the API is loaded on first use. The parts:
`core` (the engine, methods, geometry, scores), `offline` (the video), `car` (the part and the export).
"""
__version__ = '0.1.0'
__all__ = ['load_pilot', 'saliency', 'overlay', 'evaluate', 'report', 'mirror', 'Result', 'METHODS']


def __getattr__(name):
    if name in ('load_pilot', 'saliency', 'overlay', 'evaluate', 'report', 'mirror', 'Result'):
        from donkey_saliency import api
        return getattr(api, name)
    if name == 'METHODS':
        from donkey_saliency.core.methods import METHODS
        return METHODS
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
