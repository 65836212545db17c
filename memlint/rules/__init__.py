"""The rule registry: every ``memXXX_*.py`` module here defines one rule class.

Adding a rule means adding a module; nothing else is edited.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import lru_cache

from memlint.legacy_rule import Rule as LegacyRule
from memlint.rule import Rule


@lru_cache(maxsize=1)
def all_rules() -> dict[str, type[Rule]]:
    """Every rule, keyed by code, in code order."""
    found: dict[str, type[Rule]] = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("mem"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, (Rule, LegacyRule)) and obj not in (Rule, LegacyRule) and obj.__module__ == module.__name__:
                if obj.code in found:
                    raise RuntimeError(f"rule code {obj.code} defined twice")
                found[obj.code] = obj
    return dict(sorted(found.items()))
