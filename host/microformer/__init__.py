"""microformer: train, quantize, inspect and evaluate tiny int8 transformers for MicroPython boards.

Importing this package (or `microformer.cli`) never imports TensorFlow; only the training
paths (`microformer.models`, `microformer.training`, `microformer.convert`) do, lazily.
"""

__version__ = "0.1.0"
