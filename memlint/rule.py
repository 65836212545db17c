"""What a rule is: its metadata, its samples, its trigger hooks, and what it reports.

A rule is one class. The engine instantiates every enabled rule once per file, calls its
``visit_<AstNode>`` / ``leave_<AstNode>`` methods during one shared walk of CPython's ``ast`` tree,
then ``finish()``, and collects what it reports. A rule asks the shared analysis (``self.file``: imports, guards,
loops, value flows, the project) instead of interpreting code itself. Tests are generated from
``VALID`` and ``INVALID`` (``tests/test_rule_samples.py``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, Mapping, Union

from memlint.rule_meta import Option  # noqa: F401  (re-exported: rule modules import it from here)

if TYPE_CHECKING:
    from memlint.analysis.file import FileAnalysis

Applicability = Literal["safe", "unsafe"]
SampleCode = Union[str, Mapping[str, str]]


@dataclass(frozen=True)
class Valid:
    """Code on which the rule must stay silent.

    ``code`` is one file's source, or a project: a mapping of file names to sources.
    """

    code: SampleCode
    why: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Invalid:
    """Code on which the rule must fire.

    ``line`` is the 1-based row of the (first) finding. ``fixed`` is the whole file after
    ``--fix --unsafe-fixes`` for this rule alone; None means the finding carries no fix.
    ``applicability`` is the expected applicability of that fix. For a project sample (``code``
    a mapping of file names to sources), ``path`` names the file the finding is in (default: the
    first one) and ``line``/``fixed`` refer to that file.
    """

    code: SampleCode
    line: int | None = None
    fixed: str | None = None
    applicability: Applicability | None = None
    count: int | None = None
    why: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    path: str | None = None


@dataclass(frozen=True)
class NodeEdit:
    """One change of a fix, on the ``ast`` node it rewrites.

    ``build(node, lookup)`` returns the libcst replacement for the libcst node at ``target``'s
    position (``statement=True``: the whole statement line holding it). ``lookup(ast_node,
    statement)`` finds the libcst node of another ``ast`` node. Builders run only when a fix is
    written (``memlint/fixes.py``), so linting never imports libcst.
    """

    target: ast.AST
    build: Callable[[Any, Callable[..., Any]], Any]
    statement: bool = False


@dataclass
class Fix:
    """A fix as data: edits on ``ast`` nodes, the modules its new code needs, the names it uses.

    ``imports``: module names the new code refers to (``"torch"`` adds ``import torch`` when the
    file does not bind ``torch``). ``uses``: top-level names the new code reads; the engine
    refuses the fix when one is unbound where the code runs.
    """

    applicability: Applicability
    message: str
    edits: tuple[NodeEdit, ...]
    imports: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()


@dataclass
class Report:
    """What a rule reports during the pass; positions are resolved afterwards."""

    rule: "type[Rule]"
    node: ast.AST
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
    # Each fix this rule can offer, by its message, with its applicability. The engine refuses a fix
    # not listed here, and a generated test compares this table with the rule's document.
    fix_kinds: ClassVar[Mapping[str, Applicability]] = {}
    # The rule runs only on files that import one of these top-level packages.
    libraries: ClassVar[frozenset[str]] = frozenset({"torch"})
    options: ClassVar[tuple[Option, ...]] = ()
    VALID: ClassVar[list[Valid]] = []
    INVALID: ClassVar[list[Invalid]] = []

    def __init__(self, file: "FileAnalysis", settings: Mapping[str, Any]) -> None:
        self.file = file
        self.settings = settings

    def report(self, node: ast.AST, message: str, fix: Fix | None = None) -> None:
        self.file.reports.append(Report(type(self), node, message, fix))

    def finish(self) -> None:
        """Called once after the walk: rules that collect triggers decide here."""

    @classmethod
    def hooks(cls) -> dict[str, str]:
        """Map ``visit_Call``-style method names this rule defines to themselves."""
        return {
            name: name
            for name in dir(cls)
            if (name.startswith("visit_") or name.startswith("leave_")) and callable(getattr(cls, name))
        }
