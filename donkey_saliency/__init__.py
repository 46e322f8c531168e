"""donkey-saliency: where a donkeycar pilot looks.

Light on purpose: importing the package imports no TensorFlow. The pieces live in their modules:
`methods.get_method('vbp')(keras_model)(inputs) -> (outputs, maps)`, `movie.run(movie.Options(...))`.
"""
__version__ = '0.1.0'
