"""memlint: find, fix and measure memory anti-patterns in PyTorch and Keras training code."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``memlint.estimate(model, batch, ...)``: imported on first use, so ``import memlint`` stays cheap."""
    if name == "estimate":
        import importlib

        return importlib.import_module("memlint.estimate")
    raise AttributeError(f"module 'memlint' has no attribute {name!r}")
