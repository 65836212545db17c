"""What a rule is: its metadata, its samples, its visitor methods, and what it reports.

A rule is one class. The engine instantiates every enabled rule once per file, calls its
``visit_<Node>`` / ``leave_<Node>`` methods during one shared libcst pass, and collects what
it reports. Tests are generated from ``VALID`` and ``INVALID`` (see ``tests/test_rule_samples.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Mapping, Union

import libcst as cst

from memlint.rule_meta import Option  # noqa: F401  (re-exported: rule modules import it from here)

if TYPE_CHECKING:
    from memlint.context import FileContext

Applicability = Literal["safe", "unsafe"]
Replacement = Union[cst.CSTNode, cst.RemovalSentinel, cst.FlattenSentinel]


@dataclass(frozen=True)
class Valid:
    """Code on which the rule must stay silent."""

    code: str
    why: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Invalid:
    """Code on which the rule must fire.

    ``line`` is the 1-based row of the (first) finding. ``fixed`` is the whole file after
    ``--fix --unsafe-fixes`` for this rule alone; None means the finding carries no fix.
    ``applicability`` is the expected applicability of that fix.
    """

    code: str
    line: int | None = None
    fixed: str | None = None
    applicability: Applicability | None = None
    count: int | None = None
    why: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Fix:
    """A fix as data: node replacements keyed by node identity, plus the imports they need.

    ``imports`` holds module names that the new code refers to (``"torch"`` means
    ``import torch`` is added when the file does not already bind ``torch``).
    """

    applicability: Applicability
    message: str
    replacements: Mapping[cst.CSTNode, Replacement]
    imports: tuple[str, ...] = ()


@dataclass
class Report:
    """What a rule reports during the pass; positions are resolved afterwards."""

    rule: "type[Rule]"
    node: cst.CSTNode
    message: str
    fix: Fix | None = None


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    default_enabled: ClassVar[bool] = True
    # "always", "sometimes" or "none": shown by `memlint rule --all`.
    fix_availability: ClassVar[str] = "none"
    # "error": memory grows with every iteration until the run dies; "warning": a one-off cost
    # that depends on the data or the setup. JSON, SARIF and `--fail-on` use it.
    severity: ClassVar[str] = "warning"
    # The rule runs only on files that import one of these top-level packages.
    libraries: ClassVar[frozenset[str]] = frozenset({"torch"})
    options: ClassVar[tuple[Option, ...]] = ()
    VALID: ClassVar[list[Valid]] = []
    INVALID: ClassVar[list[Invalid]] = []

    def __init__(self, ctx: "FileContext", settings: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.settings = settings

    def report(self, node: cst.CSTNode, message: str, fix: Fix | None = None) -> None:
        self.ctx.reports.append(Report(type(self), node, message, fix))

    @classmethod
    def hooks(cls) -> dict[str, str]:
        """Map ``visit_Call``-style method names this rule defines to themselves."""
        return {
            name: name
            for name in dir(cls)
            if (name.startswith("visit_") or name.startswith("leave_")) and callable(getattr(cls, name))
        }
