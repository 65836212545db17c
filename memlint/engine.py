"""The one engine: parse once, run every enabled rule in one pass, resolve positions, apply fixes.

Front ends (CLI, flake8 plugin, notebooks, verifier) call ``lint_text`` / ``fix_text`` and
never touch syntax trees.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from memlint.context import TRACKED_LIBRARIES, FileContext, walk
from memlint.noqa import parse_suppressions
from memlint.parsing import ParseFailure, parse, target_of
from memlint.rule import Report, Rule
from memlint.source import line_opcodes, split_lines

URL_BASE = "https://github.com/memlint/memlint/blob/main/rules/"
MAX_FIX_PASSES = 10

# The text pre-filter: a file that mentions none of these cannot import a tracked library.
_LIBRARY_IMPORT = re.compile(
    r"^[ \t]*(?:import|from)[ \t]+(" + "|".join(sorted(TRACKED_LIBRARIES)) + r")\b", re.MULTILINE
)


class FixFailure(Exception):
    """Applying fixes produced code that does not parse or compile; nothing was written."""


@dataclass(frozen=True)
class Edit:
    content: str
    row: int
    column: int
    end_row: int
    end_column: int


@dataclass(frozen=True)
class FixInfo:
    applicability: str
    message: str
    edits: tuple[Edit, ...] = ()


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    message: str
    filename: str
    row: int  # 1-based
    column: int  # 1-based
    end_row: int
    end_column: int  # 1-based, exclusive
    fix: FixInfo | None = None
    cell: int | None = None  # notebooks: 1-based cell number; row/column are then within the cell

    @property
    def sort_key(self) -> tuple[Any, ...]:
        return (self.filename, self.cell or 0, self.row, self.column, self.code)


@dataclass
class Analysis:
    module: cst.Module
    reports: list[Report]
    positions: Mapping[cst.CSTNode, Any] = field(default_factory=dict)


def libraries_mentioned(text: str) -> frozenset[str]:
    return frozenset(_LIBRARY_IMPORT.findall(text))


def rules_for_text(text: str, rules: Sequence[type[Rule]]) -> list[type[Rule]]:
    """The text pre-filter: rules whose libraries the file imports somewhere."""
    present = libraries_mentioned(text)
    if not present:
        return []
    return [rule for rule in rules if rule.libraries & present]


class _Dispatcher(cst.CSTVisitor):
    """Runs every rule's visit_/leave_ hooks in one traversal and keeps the ancestor stack."""

    def __init__(self, ctx: FileContext, rules: Iterable[Rule]) -> None:
        super().__init__()
        self.ctx = ctx
        self.on_visit_table: dict[str, list[Callable[[cst.CSTNode], Any]]] = {}
        self.on_leave_table: dict[str, list[Callable[[cst.CSTNode], Any]]] = {}
        for rule in rules:
            for method in type(rule).hooks():
                kind, _, node_type = method.partition("_")
                table = self.on_visit_table if kind == "visit" else self.on_leave_table
                table.setdefault(node_type, []).append(getattr(rule, method))

    def on_visit(self, node: cst.CSTNode) -> bool:
        ctx = self.ctx
        ctx.stack.append(node)
        name = type(node).__name__
        if (name == "Import" or name == "ImportFrom") and len(ctx.stack) > 3:
            ctx.add_local_import(node)  # type: ignore[arg-type]
        handlers = self.on_visit_table.get(name)
        if handlers:
            for handler in handlers:
                handler(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        handlers = self.on_leave_table.get(type(original_node).__name__)
        if handlers:
            for handler in handlers:
                handler(original_node)
        self.ctx.stack.pop()


def analyze(
    text: str,
    filename: str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Any] | None = None,
) -> Analysis | None:
    """Parse and run the rules. Returns None when the pre-filter skips the file."""
    active = rules_for_text(text, rules)
    if not active:
        return None
    module = parse(text, target_of(options))
    ctx = FileContext(module, filename, text)
    settings = dict(options or {})
    instances = [rule(ctx, _rule_settings(rule, settings)) for rule in active]
    try:
        walk(module, _Dispatcher(ctx, instances))
    except RecursionError:
        raise ParseFailure("too deeply nested to analyse") from None
    analysis = Analysis(module, ctx.reports)
    if ctx.reports:
        analysis.positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    return analysis


def _rule_settings(rule: type[Rule], settings: Mapping[str, Any]) -> dict[str, Any]:
    return {opt.name: settings.get(opt.name, opt.default) for opt in rule.options}


def _span(positions: Mapping[cst.CSTNode, Any], node: cst.CSTNode) -> tuple[int, int, int, int]:
    pos = positions[node]
    return pos.start.line, pos.start.column + 1, pos.end.line, pos.end.column + 1


def _unsuppressed(analysis: Analysis, text: str) -> list[Report]:
    if not analysis.reports:
        return []
    suppressions = parse_suppressions(text)
    kept = []
    for report in analysis.reports:
        row = analysis.positions[report.node].start.line
        if not suppressions.suppressed(report.rule.code, row):
            kept.append(report)
    return kept


def lint_text(
    text: str,
    filename: str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Any] | None = None,
    with_edits: bool = False,
    apply_noqa: bool = True,
    accept_fix: Callable[[str], bool] | None = None,
) -> list[Finding]:
    """Findings for one source text, noqa applied, sorted. Raises ParseFailure.

    ``apply_noqa=False`` leaves suppression to the caller (flake8 handles ``# noqa`` itself).
    ``accept_fix`` sees the text one fix alone would produce; a fix it refuses is not offered
    (notebooks refuse fixes that would move code across cells).
    """
    text = text[1:] if text.startswith("\ufeff") else text
    analysis = analyze(text, filename, rules, options)
    if analysis is None:
        return []
    return _findings(analysis, text, filename, with_edits, apply_noqa, accept_fix)


def _findings(
    analysis: Analysis,
    text: str,
    filename: str,
    with_edits: bool = False,
    apply_noqa: bool = True,
    accept_fix: Callable[[str], bool] | None = None,
) -> list[Finding]:
    findings = []
    seen: set[tuple[str, int, int]] = set()
    reports = _unsuppressed(analysis, text) if apply_noqa else analysis.reports
    for report in reports:
        row, col, end_row, end_col = _span(analysis.positions, report.node)
        if (report.rule.code, row, col) in seen:
            continue
        seen.add((report.rule.code, row, col))
        fix_info = None
        if report.fix is not None:
            fixed = _apply([report], analysis.module).code if accept_fix is not None or with_edits else ""
            if accept_fix is None or accept_fix(fixed):
                edits = line_edits(text, fixed) if with_edits else ()
                fix_info = FixInfo(report.fix.applicability, report.fix.message, edits)
        findings.append(
            Finding(report.rule.code, report.rule.name, report.message, filename, row, col, end_row, end_col, fix_info)
        )
    findings.sort(key=lambda f: f.sort_key)
    return findings


class _Replacer(cst.CSTTransformer):
    def __init__(self, replacements: Mapping[cst.CSTNode, Any]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> Any:
        return self.replacements.get(original_node, updated_node)


def _apply(reports: Sequence[Report], module: cst.Module) -> cst.Module:
    replacements: dict[cst.CSTNode, Any] = {}
    imports: set[str] = set()
    for report in reports:
        assert report.fix is not None
        replacements.update(report.fix.replacements)
        imports.update(report.fix.imports)
    new_module = module.visit(_Replacer(replacements)) if replacements else module
    if imports:
        from libcst.codemod import CodemodContext  # imported here: it costs 0.3 s at start-up
        from libcst.codemod.visitors import AddImportsVisitor, ImportItem

        new_module = AddImportsVisitor(
            CodemodContext(), [ImportItem(name) for name in sorted(imports)]
        ).transform_module(new_module)
    return new_module


def _choose_fixes(analysis: Analysis, reports: Sequence[Report], unsafe: bool) -> list[Report]:
    """Fixes that can be applied together: applicable and touching disjoint spans."""
    chosen: list[Report] = []
    taken: list[tuple[tuple[int, int], tuple[int, int]]] = []
    ordered = sorted(reports, key=lambda r: _span(analysis.positions, r.node))
    for report in ordered:
        fix = report.fix
        if fix is None or (fix.applicability == "unsafe" and not unsafe):
            continue
        spans = []
        for node in fix.replacements:
            pos = analysis.positions.get(node)
            if pos is None:
                break
            spans.append(((pos.start.line, pos.start.column), (pos.end.line, pos.end.column)))
        else:
            if any(s[0] < t[1] and t[0] < s[1] for s in spans for t in taken):
                continue
            chosen.append(report)
            taken.extend(spans)
    return chosen


def fix_text(
    text: str,
    filename: str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Any] | None = None,
    unsafe: bool = False,
    accept_fix: Callable[[str], bool] | None = None,
) -> tuple[str, Counter[str]]:
    """Apply fixes until none is left; returns the new text and the codes fixed.

    ``accept_fix``: as for ``lint_text``; refused fixes are left unapplied.

    Raises FixFailure (and returns nothing) if a fix would leave code that does not compile.
    """
    new_text, applied, _ = _fix_passes(text, filename, rules, options, unsafe, accept_fix)
    return new_text, applied


def fix_and_lint(
    text: str,
    filename: str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Any] | None = None,
    unsafe: bool = False,
    with_edits: bool = False,
) -> tuple[str, Counter[str], list[Finding]]:
    """``fix_text``, plus what ``lint_text`` would report on the fixed text.

    The fix loop's last pass has already analysed the final text (it found nothing more to
    apply), so the findings come from that analysis instead of a second parse and rule pass.
    """
    new_text, applied, last = _fix_passes(text, filename, rules, options, unsafe, None)
    if last is None:
        return new_text, applied, lint_text(new_text, filename, rules, options, with_edits=with_edits)
    analysis, analysed_text = last
    findings = [] if analysis is None else _findings(analysis, analysed_text, filename, with_edits)
    return new_text, applied, findings


def _fix_passes(
    text: str,
    filename: str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Any] | None,
    unsafe: bool,
    accept_fix: Callable[[str], bool] | None,
) -> tuple[str, Counter[str], tuple[Analysis | None, str] | None]:
    """The fix loop. Also returns (analysis, text) of the final text when its last pass saw it."""
    applied: Counter[str] = Counter()
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    current = text[len(bom):]
    for _ in range(MAX_FIX_PASSES):
        analysis = analyze(current, filename, rules, options)
        if analysis is None:
            return bom + current, applied, (None, current)
        reports = _unsuppressed(analysis, current)
        if accept_fix is not None:
            reports = [r for r in reports if r.fix is None or accept_fix(_apply([r], analysis.module).code)]
        chosen = _choose_fixes(analysis, reports, unsafe)
        if not chosen:
            return bom + current, applied, (analysis, current)
        new_text = _apply(chosen, analysis.module).code
        if new_text == current:
            return bom + current, applied, (analysis, current)
        check_compiles(new_text, filename, [r.rule.code for r in chosen])
        applied.update(r.rule.code for r in chosen)
        current = new_text
    return bom + current, applied, None


def check_compiles(text: str, filename: str, codes: Sequence[str] = ()) -> None:
    try:
        cst.parse_module(text)
        compile(text, filename, "exec", dont_inherit=True)
    except Exception as exc:  # SyntaxError, ParserSyntaxError, ValueError, RecursionError
        by = f" by {', '.join(sorted(set(codes)))}" if codes else ""
        raise FixFailure(f"fix{by} would produce invalid code ({type(exc).__name__}); file left unchanged") from None


def line_edits(old: str, new: str) -> tuple[Edit, ...]:
    """Whole-line edits that turn ``old`` into ``new`` (1-based rows as Python counts them, column 1)."""
    old_lines = split_lines(old)
    new_lines = split_lines(new)
    edits = []
    for tag, i1, i2, j1, j2 in line_opcodes(old_lines, new_lines):
        if tag == "equal":
            continue
        edits.append(Edit("".join(new_lines[j1:j2]), i1 + 1, 1, i2 + 1, 1))
    return tuple(edits)


def unified_diff(old: str, new: str, filename: str) -> str:
    return "".join(
        difflib.unified_diff(
            split_lines(old), split_lines(new), fromfile=filename, tofile=filename
        )
    )
