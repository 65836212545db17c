"""``memlint estimate``: simulate a training step's peak memory on fake tensors, before launch.

The package is also the API: ``memlint.estimate(model, example_batch, ...)`` calls ``estimate``
below (the module is callable, so ``memlint.estimate`` works both as the subpackage that holds
the command and as the function). Nothing here imports torch until it is called.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from memlint.estimate.api import EstimateResult, estimate

__all__ = ["EstimateResult", "estimate"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> EstimateResult:
        return estimate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
