"""The libcst rule base of memlint 0.1, kept only while rules move to the shared analysis.

Rules on this base (``legacy = True``) get a ``FileContext`` of libcst nodes; the engine runs them
in a second pass. Delete this module, ``memlint/context.py`` and the engine's legacy pass once no
rule module imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Union

import libcst as cst

from memlint.rule import Applicability, Invalid, Option, Valid  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from memlint.context import FileContext

Replacement = Union[cst.CSTNode, cst.RemovalSentinel, cst.FlattenSentinel]


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
    # The rule runs only on files that import one of these top-level packages.
    libraries: ClassVar[frozenset[str]] = frozenset({"torch"})
    options: ClassVar[tuple[Option, ...]] = ()
    VALID: ClassVar[list[Valid]] = []
    INVALID: ClassVar[list[Invalid]] = []
    legacy: ClassVar[bool] = True
    fix_kinds: ClassVar[Mapping[str, Applicability]] = {}

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
