"""The one engine: parse once, run every enabled rule in one pass over the shared analysis,
resolve positions, apply fixes.

Front ends (CLI, flake8 plugin, notebooks, verifier, language server) call ``lint_text`` /
``fix_text`` and never touch syntax trees. Linting reads CPython's ``ast``; libcst is imported
only to write a fix (``memlint/fixes.py``).
"""

from __future__ import annotations

import ast
import difflib
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from memlint import fix_safety
from memlint.analysis.facts import TRACKED_LIBRARIES  # noqa: F401 (re-exported)
from memlint.analysis.file import FileAnalysis
from memlint.analysis.syntax import (
    LEGACY_ASYNC_STANDIN,
    ParseFailure,
    SourceLines,
    cycle_collection_paused,
    legacy_async_text,
    link_parents,
    parse_python,
    walk_tree,
)
from memlint.findings import URL_BASE, Edit, Finding, FixInfo  # noqa: F401  (re-exported: engine.Finding, ...)
from memlint.fixes import FixFailure, FixWriter, fix_span
from memlint.prefilter import libraries_mentioned, rules_for_text  # noqa: F401 (re-exported)
from memlint.noqa import Suppressions, UnusedNoqa, parse_suppressions, unused_noqa_findings
from memlint.rule import Rule
from memlint.source import line_opcodes, split_lines

if TYPE_CHECKING:
    from memlint.analysis.project import ProjectView

__all__ = [
    "Analysis",
    "Edit",
    "Finding",
    "FixFailure",
    "FixInfo",
    "ParseFailure",
    "analyze",
    "fix_and_lint",
    "fix_text",
    "lint_text",
    "parse",
]

MAX_FIX_PASSES = 10
LEGACY_NOTE = (
    "uses `async` or `await` as a name (valid before Python 3.7): reported without fixes; the file needs "
    "porting (`non_blocking=True` replaced `async=True` in `.cuda()` and `.to()`)"
)

# The text pre-filter: a file that mentions none of these cannot import a tracked library.
@dataclass
class _Item:
    """A rule's report with its position."""

    rule: type
    message: str
    span: tuple[int, int, int, int]
    fix: Any
    report: Any = None


@dataclass
class Analysis:
    text: str
    lines: SourceLines
    items: list[_Item] = field(default_factory=list)
    file: FileAnalysis | None = None
    fixes_allowed: bool = True
    note: str | None = None
    codes: frozenset[str] = frozenset()  # the rules that ran (the noqa step judges MEM900 against them)


def parse(text: str, filename: str = "<unknown>") -> ast.Module:
    """CPython's parse of ``text``; raises ParseFailure."""
    return parse_python(text, filename)


def _parse_for_analysis(
    text: str, filename: str, options: Mapping[str, Any] | None = None
) -> tuple[ast.Module, str, bool]:
    """The tree to analyse, the text it was parsed from, and whether fixes may be written.

    CPython decides, in the grammar of the target version (``target-version``; default: the
    running Python). A file written for Python < 3.7 (``x.cuda(async=True)``) is read with
    ``async`` renamed: its findings are reported, and no fix is offered.
    """
    from memlint.parsing import RUNNING, explain_refusal, target_of

    target = target_of(options)
    try:
        tree = parse_python(text, filename)
    except ParseFailure as failure:
        legacy = legacy_async_text(text)
        if legacy is not None:
            try:
                return parse_python(legacy, filename), legacy, False
            except ParseFailure:
                pass
        raise explain_refusal(text, failure, target) from None
    if target < RUNNING:
        refused = explain_refusal(text, None, target)
        if refused is not None:
            raise refused
    return tree, text, True


class _Dispatcher:
    """Calls every rule's visit_/leave_ hooks during one walk of the tree."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.visit: dict[str, list[Callable[[ast.AST], Any]]] = {}
        self.leave: dict[str, list[Callable[[ast.AST], Any]]] = {}
        for rule in rules:
            for method in type(rule).hooks():
                kind, _, node_type = method.partition("_")
                table = self.visit if kind == "visit" else self.leave
                table.setdefault(node_type, []).append(getattr(rule, method))
        self.leave_types = frozenset(getattr(ast, name) for name in self.leave if hasattr(ast, name))

    def on_visit(self, node: ast.AST) -> None:
        handlers = self.visit.get(type(node).__name__)
        if handlers:
            for handler in handlers:
                handler(node)

    def on_leave(self, node: ast.AST) -> None:
        for handler in self.leave.get(type(node).__name__, ()):
            handler(node)

    def run(self, tree: ast.Module) -> None:
        if self.leave:
            walk_tree(tree, self.on_visit, self.on_leave, self.leave_types)
            return
        visit = self.visit
        for node in link_parents(tree):
            handlers = visit.get(type(node).__name__)
            if handlers:
                for handler in handlers:
                    handler(node)


def analyze(
    text: str,
    filename: str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Any] | None = None,
    project: "ProjectView | None" = None,
) -> Analysis | None:
    """Parse and run the rules. Returns None when the pre-filter skips the file."""
    active = rules_for_text(text, rules, project.caller_libraries(filename) if project is not None else frozenset())
    if not active:
        return None
    tree, analysed_text, fixes_allowed = _parse_for_analysis(text, filename, options)
    settings = dict(options or {})
    analysis = Analysis(text, SourceLines(text), fixes_allowed=fixes_allowed)
    analysis.codes = frozenset(rule.code for rule in active)
    if not fixes_allowed:
        analysis.note = LEGACY_NOTE
    module_name = project.module_name(filename) if project is not None else None
    file = FileAnalysis(tree, filename, analysed_text, module_name, project)
    file.reports = []  # type: ignore[attr-defined]
    instances = [rule(file, _rule_settings(rule, settings)) for rule in active]
    try:
        _Dispatcher(instances).run(tree)
        for instance in instances:
            instance.finish()
    except RecursionError:
        raise ParseFailure("too deeply nested to analyse") from None
    analysis.file = file
    for report in file.reports:  # type: ignore[attr-defined]
        fix = report.fix if fixes_allowed else None
        if fix is not None and report.rule.fix_kinds.get(fix.message) != fix.applicability:
            fix = None  # not what the rule's document promises: never offered
        analysis.items.append(_Item(report.rule, report.message, analysis.lines.span(report.node), fix, report=report))
    return analysis


def _rule_settings(rule: type[Rule], settings: Mapping[str, Any]) -> dict[str, Any]:
    return {opt.name: settings.get(opt.name, opt.default) for opt in rule.options}


def _unsuppressed(analysis: Analysis, text: str, suppressions: Suppressions | None = None) -> list[_Item]:
    if not analysis.items:
        return []
    suppressions = suppressions or parse_suppressions(text)
    return [item for item in analysis.items if not suppressions.suppressed(item.rule.code, item.span[0])]


def lint_text(
    text: str,
    filename: str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Any] | None = None,
    with_edits: bool = False,
    apply_noqa: bool = True,
    accept_fix: Callable[[str], bool] | None = None,
    project: "ProjectView | None" = None,
    notes: list[str] | None = None,
) -> list[Finding]:
    """Findings for one source text, noqa applied, sorted. Raises ParseFailure.

    ``notes``, when given, receives what the user should hear about the file besides findings
    (a file written for Python < 3.7 is checked without fixes).

    ``apply_noqa=False`` leaves suppression to the caller (flake8 handles ``# noqa`` itself).
    ``accept_fix`` sees the text one fix alone would produce; a fix it refuses is not offered
    (notebooks refuse fixes that would move code across cells).
    """
    text = text[1:] if text.startswith("\ufeff") else text
    with cycle_collection_paused():
        analysis = analyze(text, filename, rules, options, project)
        if analysis is None:
            return []
        try:
            if notes is not None and analysis.note:
                notes.append(analysis.note)
            return _findings(analysis, filename, with_edits, apply_noqa, accept_fix)
        finally:
            analysis.file.release()  # findings are plain data: the tree is freed here, not by the GC


def _findings(
    analysis: Analysis,
    filename: str,
    with_edits: bool = False,
    apply_noqa: bool = True,
    accept_fix: Callable[[str], bool] | None = None,
) -> list[Finding]:
    text = analysis.text
    findings = []
    seen: set[tuple[str, int, int]] = set()
    # The comments are tokenized only when a finding could be suppressed or MEM900 asks for them.
    wanted = apply_noqa and (analysis.items or UnusedNoqa.code in analysis.codes)
    suppressions = parse_suppressions(text) if wanted else None
    items = _unsuppressed(analysis, text, suppressions) if wanted else analysis.items
    writer: FixWriter | None = None
    for item in items:
        row, col, end_row, end_col = item.span
        if (item.rule.code, row, col) in seen:
            continue
        seen.add((item.rule.code, row, col))
        fix_info = None
        if item.fix is not None:
            fixed = ""
            if accept_fix is not None or with_edits:
                try:
                    writer = writer or FixWriter(text)
                    fixed = writer.apply([item.fix])
                except FixFailure:
                    fixed = None  # type: ignore[assignment]
            if fixed is not None and (accept_fix is None or accept_fix(fixed)):
                edits = line_edits(text, fixed) if with_edits else ()
                fix_info = FixInfo(item.fix.applicability, item.fix.message, edits)
        findings.append(Finding(item.rule.code, item.rule.name, item.message, filename, row, col, end_row, end_col, fix_info))
    if suppressions is not None and UnusedNoqa.code in analysis.codes:
        findings.extend(unused_noqa_findings(suppressions, analysis.codes, filename))
    findings.sort(key=lambda f: f.sort_key)
    return findings


def _fix_key(item: _Item, analysis: Analysis) -> tuple[str, str, str]:
    """Identifies a finding's fix across passes (positions move as other fixes land)."""
    return (item.rule.code, item.message, analysis.lines.line(item.span[0]).strip())


def _spans(item: _Item, analysis: Analysis) -> list[tuple[tuple[int, int], tuple[int, int]]] | None:
    return fix_span(item.fix, analysis.lines)


def _choose_fixes(analysis: Analysis, items: Sequence[_Item], unsafe: bool, refused: set) -> list[_Item]:
    """Fixes that can be applied together: applicable, of one kind, and touching disjoint spans."""
    chosen: list[_Item] = []
    taken: list[tuple[tuple[int, int], tuple[int, int]]] = []
    candidates = [
        item
        for item in items
        if item.fix is not None
        and (item.fix.applicability == "safe" or unsafe)
        and _fix_key(item, analysis) not in refused
    ]
    for item in sorted(candidates, key=lambda i: i.span):
        spans = _spans(item, analysis)
        if spans is None:
            continue
        if any(s[0] < t[1] and t[0] < s[1] for s in spans for t in taken):
            continue
        chosen.append(item)
        taken.extend(spans)
    return chosen


def _write(analysis: Analysis, chosen: Sequence[_Item]) -> str:
    return FixWriter(analysis.text).apply([item.fix for item in chosen])


def _uses(items: Sequence[_Item]) -> set[str]:
    names: set[str] = set()
    for item in items:
        names.update(getattr(item.fix, "uses", ()) or ())
        names.update(module.split(".")[0] for module in getattr(item.fix, "imports", ()) or ())
    return names


def fix_text(
    text: str,
    filename: str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Any] | None = None,
    unsafe: bool = False,
    accept_fix: Callable[[str], bool] | None = None,
    project: "ProjectView | None" = None,
) -> tuple[str, Counter[str]]:
    """Apply fixes until none is left; returns the new text and the codes fixed.

    ``accept_fix``: as for ``lint_text``; refused fixes are left unapplied.

    Raises FixFailure (and returns nothing) if a fix would leave code that does not compile.
    """
    new_text, applied, _ = _fix_passes(text, filename, rules, options, unsafe, accept_fix, project)
    return new_text, applied


def fix_and_lint(
    text: str,
    filename: str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Any] | None = None,
    unsafe: bool = False,
    with_edits: bool = False,
    project: "ProjectView | None" = None,
    notes: list[str] | None = None,
) -> tuple[str, Counter[str], list[Finding]]:
    """``fix_text``, plus what ``lint_text`` would report on the fixed text.

    The fix loop's last pass has already analysed the final text (it found nothing more to
    apply), so the findings come from that analysis instead of a second parse and rule pass.
    """
    new_text, applied, last = _fix_passes(text, filename, rules, options, unsafe, None, project)
    if last is None:
        findings = lint_text(new_text, filename, rules, options, with_edits=with_edits, project=project, notes=notes)
        return new_text, applied, findings
    if notes is not None and last.note:
        notes.append(last.note)
    findings = _findings(last, filename, with_edits)
    return new_text, applied, findings


def fix_each(
    text: str,
    filename: str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Any] | None = None,
    unsafe: bool = False,
    project: "ProjectView | None" = None,
) -> list[tuple[Finding, str]]:
    """Each applicable fix on its own: its finding and the text with only that fix applied.

    ``memlint verify`` runs each such text to say which finding's fix produced which part of a
    reduction. Only the first pass's fixes (what the findings offer now); a fix whose result
    would not compile, or that the safety check refuses, is left out.
    """
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    current = text[len(bom):]
    analysis = analyze(current, filename, rules, options, project)
    if analysis is None:
        return []
    results = []
    for item in sorted(_unsuppressed(analysis, current), key=lambda i: i.span):
        fix = item.fix
        if fix is None or (fix.applicability != "safe" and not unsafe):
            continue
        try:
            new_text = _write(analysis, [item])
            check_compiles(new_text, filename, [item.rule.code])
        except FixFailure:
            continue
        if new_text == current or fix_safety.refusal(analysis.text, new_text, _uses([item]), filename) is not None:
            continue
        row, col, end_row, end_col = item.span
        finding = Finding(
            item.rule.code, item.rule.name, item.message, filename, row, col, end_row, end_col,
            FixInfo(fix.applicability, fix.message),
        )
        results.append((finding, bom + new_text))
    return results


def _fix_passes(
    text: str,
    filename: str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Any] | None,
    unsafe: bool,
    accept_fix: Callable[[str], bool] | None,
    project: "ProjectView | None" = None,
) -> tuple[str, Counter[str], Analysis | None]:
    """The fix loop. Also returns the analysis of the final text when its last pass saw it."""
    applied: Counter[str] = Counter()
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    current = text[len(bom):]
    refused: set[tuple[str, str, str]] = set()
    for _ in range(MAX_FIX_PASSES):
        analysis = analyze(current, filename, rules, options, project)
        if analysis is None:
            return bom + current, applied, None
        items = _unsuppressed(analysis, current)
        chosen = _choose_fixes(analysis, items, unsafe, refused)
        if accept_fix is not None:
            kept = []
            for item in chosen:
                try:
                    ok = accept_fix(_write(analysis, [item]))
                except FixFailure:
                    ok = False
                if ok:
                    kept.append(item)
                else:
                    refused.add(_fix_key(item, analysis))
            chosen = kept
        if not chosen:
            _drop_refused_fixes(analysis, refused)
            return bom + current, applied, analysis
        new_text, written = _checked_write(analysis, chosen, filename, refused)
        if new_text is None or new_text == current:
            refused.update(_fix_key(item, analysis) for item in written)
            continue
        applied.update(item.rule.code for item in written)
        current = new_text
    return bom + current, applied, None


def _checked_write(
    analysis: Analysis, chosen: list[_Item], filename: str, refused: set
) -> tuple[str | None, list[_Item]]:
    """Write the chosen fixes; a fix the safety check refuses is left out (and never tried again).
    Returns the new text (None when every fix was refused) and the fixes it holds.

    Raises FixFailure when fixed code would not compile."""
    new_text = _write(analysis, chosen)
    check_compiles(new_text, filename, [item.rule.code for item in chosen])
    if fix_safety.refusal(analysis.text, new_text, _uses(chosen), filename) is None:
        return new_text, list(chosen)
    # Find the culprits one by one; apply the first fix that passes.
    for item in chosen:
        single = _write(analysis, [item])
        check_compiles(single, filename, [item.rule.code])
        if fix_safety.refusal(analysis.text, single, _uses([item]), filename) is None:
            return single, [item]
        refused.add(_fix_key(item, analysis))
    return None, []


def _drop_refused_fixes(analysis: Analysis, refused: set) -> None:
    for item in analysis.items:
        if item.fix is not None and _fix_key(item, analysis) in refused:
            item.fix = None


def fix_refusal(text: str, fixed: str, uses: Sequence[str] = ()) -> str | None:
    """Why ``fixed`` must not replace ``text`` (see ``memlint/fix_safety.py``), or None."""
    return fix_safety.refusal(text, fixed, uses)


def check_compiles(text: str, filename: str, codes: Sequence[str] = ()) -> None:
    try:
        compile(text, filename, "exec", dont_inherit=True)
    except Exception as exc:  # SyntaxError, ValueError, RecursionError
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


assert LEGACY_ASYNC_STANDIN  # imported for readers: see analysis/syntax.py
