"""memlint: find, fix and measure memory anti-patterns in PyTorch and Keras training code."""

__version__ = "0.1.0"
