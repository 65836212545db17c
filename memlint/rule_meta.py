"""A rule's metadata without the rule: what configuration, output and `--help` need (no libcst).

``RuleInfo`` mirrors the class attributes of ``memlint.rule.Rule``; the registry
(``memlint.rules.rule_catalog``) serves them from ``memlint/rules/catalog.json`` so that a run whose
results come from the cache never imports a rule module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_TYPES = {t.__name__: t for t in (int, float, bool, str, list, tuple)}


@dataclass(frozen=True)
class Option:
    """A per-rule setting, read from ``[tool.memlint]`` (kebab-case key) and from flake8 options."""

    name: str
    type: type
    default: Any
    help: str


@dataclass(frozen=True)
class RuleInfo:
    code: str
    name: str
    summary: str
    default_enabled: bool
    fix_availability: str
    severity: str
    libraries: frozenset[str]
    options: tuple[Option, ...]
    doc: str

    @classmethod
    def of(cls, rule: Any) -> "RuleInfo":
        """The metadata of a rule class."""
        import inspect

        return cls(
            rule.code, rule.name, rule.summary, rule.default_enabled, rule.fix_availability, rule.severity,
            frozenset(rule.libraries), tuple(rule.options), inspect.cleandoc(rule.__doc__ or ""),
        )

    def to_json(self) -> dict[str, Any]:
        for o in self.options:
            if o.type.__name__ not in _TYPES:  # from_json could not read it back
                raise ValueError(f"{self.code} option {o.name}: type {o.type.__name__} is not one of {sorted(_TYPES)}")
        return {
            "code": self.code, "name": self.name, "summary": self.summary, "default_enabled": self.default_enabled,
            "fix_availability": self.fix_availability, "severity": self.severity,
            "libraries": sorted(self.libraries), "doc": self.doc,
            "options": [
                {"name": o.name, "type": o.type.__name__,
                 "default": list(o.default) if isinstance(o.default, tuple) else o.default, "help": o.help}
                for o in self.options
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RuleInfo":
        options = []
        for o in data["options"]:
            kind = _TYPES[o["type"]]
            default = tuple(o["default"]) if kind is tuple and o["default"] is not None else o["default"]
            options.append(Option(o["name"], kind, default, o["help"]))
        return cls(
            data["code"], data["name"], data["summary"], data["default_enabled"], data["fix_availability"],
            data["severity"], frozenset(data["libraries"]), tuple(options), data["doc"],
        )
