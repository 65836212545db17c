"""The rule registry: every ``memXXX_*.py`` module here defines one rule class.

Adding a rule means adding a module; nothing else is edited by hand.

``all_rules()`` imports the rule classes (and libcst). ``rule_catalog()`` gives their metadata
(codes, names, defaults, severities, options) without importing them, from ``catalog.json``,
which ``python -m memlint.rules`` writes. The catalog records a digest of the sources it was made
from; when a rule module changed since, the classes are imported instead, so a stale catalog only
costs time (and ``tests/test_rule_metadata.py`` says to regenerate it).
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from memlint.rule_meta import RuleInfo

if TYPE_CHECKING:
    from memlint.rule import Rule

CATALOG = Path(__file__).with_name("catalog.json")
_PACKAGE = Path(__file__).resolve().parent.parent
# Where rule metadata comes from: the rule modules, MEM900 (noqa.py), the defaults of both rule bases and
# the library sets rules may name (analysis/facts.py, prefilter.py).
_METADATA_SOURCES = ("noqa.py", "rule.py", "rule_meta.py", "analysis/facts.py", "prefilter.py")


@lru_cache(maxsize=1)
def all_rules() -> dict[str, type[Rule]]:
    """Every rule, keyed by code, in code order."""
    import importlib
    import inspect
    import pkgutil

    from memlint.rule import Rule

    found: dict[str, type[Rule]] = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("mem"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Rule) and obj is not Rule and obj.__module__ == module.__name__:
                if obj.code in found:
                    raise RuntimeError(f"rule code {obj.code} defined twice")
                found[obj.code] = obj
    from memlint.noqa import UnusedNoqa  # checked in the engine's noqa step, not by a visitor

    found[UnusedNoqa.code] = UnusedNoqa
    return dict(sorted(found.items()))


def rule_catalog() -> Mapping[str, RuleInfo]:
    """Every rule's metadata, keyed by code, in code order; imports no rule when the catalog is current."""
    if all_rules.cache_info().currsize:  # the classes are loaded (a test may have added one): they decide
        return {code: RuleInfo.of(rule) for code, rule in all_rules().items()}
    stored = _stored_catalog()
    if stored is not None:
        return stored
    return {code: RuleInfo.of(rule) for code, rule in all_rules().items()}


def sources_digest() -> str:
    """A digest of every source file the rules' metadata can come from."""
    digest = hashlib.sha256()
    rules_dir = Path(__path__[0])
    paths = sorted(rules_dir / name for name in os.listdir(rules_dir) if name.endswith(".py"))
    paths += [_PACKAGE / name for name in _METADATA_SOURCES]
    for path in paths:
        digest.update(f"{path.name}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@lru_cache(maxsize=1)
def _stored_catalog() -> dict[str, RuleInfo] | None:
    try:
        data = json.loads(CATALOG.read_text(encoding="utf-8"))
        if data.get("sources") != sources_digest():
            return None
        return {entry["code"]: RuleInfo.from_json(entry) for entry in data["rules"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_catalog() -> Path:
    """Write ``catalog.json`` from the rule classes (``python -m memlint.rules``)."""
    rules = [RuleInfo.of(rule).to_json() for rule in all_rules().values()]
    text = json.dumps({"sources": sources_digest(), "rules": rules}, indent=1, ensure_ascii=False) + "\n"
    CATALOG.write_text(text, encoding="utf-8")
    _stored_catalog.cache_clear()
    return CATALOG
