"""One file, end to end: read, lint or fix, write atomically, and say what happened.

``check_file`` is a pure function of its arguments so runs can be spread over processes.
The text goes through ``parsing.prepare`` first, so the engine sees a text libcst reads
(CR-only endings, mixed tabs, legacy names), and results come back in the file's own terms.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from memlint.cache import content_hash
from memlint.config import Settings
from memlint.findings import Finding
from memlint.parsing import (
    RUNNING,
    NotRestorable,
    ParseFailure,
    Prepared,
    format_version,
    prepare,
    python_syntax_error,
    recover,
)
from memlint.prefilter import rules_for_text
from memlint.source import SourceError, SourceFile, atomic_write, read_source

if TYPE_CHECKING:
    from memlint.rule import Rule


@dataclass(frozen=True)
class FixMode:
    fix: bool = False
    unsafe: bool = False
    diff: bool = False

    @property
    def fixing(self) -> bool:
        return self.fix or self.diff


@dataclass(frozen=True)
class Problem:
    """A file memlint could not check or fix; each one makes the run exit 2."""

    filename: str
    message: str
    row: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.filename
        if self.row is not None:
            where += f":{self.row}:{self.column or 1}"
        return f"{where}: {self.message}"


@dataclass
class FileOutcome:
    filename: str
    findings: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fixed: Counter = field(default_factory=Counter)
    diff: str = ""
    notes: list[str] = field(default_factory=list)  # said once, on stderr; the exit code is unchanged
    digest: str | None = None  # of the exact bytes that were analysed (what a cache entry is valid for)


def check_file(
    path: Path, settings: Settings, mode: FixMode = FixMode(), with_edits: bool = False, project: Any = None
) -> FileOutcome:
    """``project``: the ``memlint.analysis.project.Project`` the file belongs to (cross-file facts)."""
    filename = str(path)
    outcome = FileOutcome(filename)
    rules = settings.rules_for(path)
    if not rules:
        return outcome
    if path.suffix == ".ipynb":
        from memlint.notebook import check_notebook

        return check_notebook(path, settings, rules, mode, with_edits)
    too_big = size_problem(path, settings)
    if too_big is not None:
        outcome.problems.append(too_big)
        return outcome
    try:
        source = read_source(path)
    except SourceError as exc:
        outcome.problems.append(Problem(filename, str(exc)))
        return outcome
    outcome.digest = content_hash(source.raw)
    view = None
    if project is not None:
        from memlint.analysis.project import ProjectView

        view = ProjectView(project)
    try:
        _check_source(source, filename, rules, settings, mode, with_edits, outcome, view)
    except ParseFailure as exc:
        outcome.problems.append(Problem(filename, f"cannot parse: {exc.message}", exc.row, exc.column))
    except RecursionError:
        outcome.problems.append(Problem(filename, "cannot parse: too deeply nested to analyse"))
    return outcome


def size_problem(path: Path, settings: Settings) -> Problem | None:
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size <= settings.max_file_size_mb * 1_000_000:
        return None
    return Problem(
        str(path),
        f"skipped: {size / 1_000_000:.1f} MB is over max-file-size-mb ({settings.max_file_size_mb:g}); "
        "raise it in [tool.memlint] or exclude the file",
    )


def needs_analysis(text: str, rules: Sequence[type[Rule]], also: frozenset[str] = frozenset()) -> bool:
    """The engine's pre-filter: does the file (or, ``also``, its callers in the project) import a
    library some enabled rule is about?"""
    return bool(rules_for_text(text.replace("\r", "\n"), rules, also))  # a lone CR ends a line too


def prepared_for_engine(
    text: str, settings: Settings, run: Any, *args: Any, **kwargs: Any
) -> tuple[Prepared, Any]:
    """``run(prepared, *args, **kwargs)`` on the prepared text, retried once per way of recovering
    from a parse failure (mixed tabs, legacy names); returns the preparation that worked and
    ``run``'s result. Raises the ParseFailure when nothing helps."""
    target = settings.target_version
    prepared = prepare(text, target)
    tried: set[str] = set()
    while True:
        try:
            return prepared, run(prepared, *args, **kwargs)
        except ParseFailure as failure:
            if failure.kind in tried:
                raise
            tried.add(failure.kind)
            prepared = recover(prepared, failure, target)


def check_target_grammar(text: str, settings: Settings, codes: Sequence[str]) -> None:
    """A fixed text must still be valid for the target version (the engine compiles it on this Python)."""
    from memlint.fixes import FixFailure  # the engine loads only when a file is really checked

    target = settings.target_version
    if target is None or target >= RUNNING:
        return
    if python_syntax_error(text, target) is not None:
        by = f" by {', '.join(sorted(set(codes)))}" if codes else ""
        raise FixFailure(
            f"fix{by} would produce code that Python {format_version(target)} (target-version) refuses; "
            "file left unchanged"
        )


def _check_source(
    source: SourceFile,
    filename: str,
    rules: Sequence[type[Rule]],
    settings: Settings,
    mode: FixMode,
    with_edits: bool,
    outcome: FileOutcome,
    view: Any = None,
) -> None:
    from memlint.engine import unified_diff  # the engine loads only when a file is really checked

    text = source.text
    options = settings.engine_options()
    if mode.fixing:
        prepared, (new_text, fixed, remaining) = prepared_for_engine(
            text, settings, _fix, filename, rules, options, mode, with_edits, settings, outcome, view
        )
        if new_text != text:
            if mode.diff:
                outcome.diff = unified_diff(text, new_text, filename)
                outcome.fixed = fixed
            else:
                try:
                    atomic_write(source, new_text)
                    outcome.fixed = fixed
                    text = new_text
                except SourceError as exc:
                    outcome.problems.append(Problem(filename, str(exc)))
                    remaining = None
                else:
                    if prepared.transformed:
                        remaining = None  # positions of the engine's text; map the written file afresh
        if remaining is not None:
            _finish(outcome, prepared, remaining, filename)
            return
    prepared, findings = prepared_for_engine(text, settings, _lint, filename, rules, options, with_edits, view)
    _finish(outcome, prepared, findings, filename)


def _finish(outcome: FileOutcome, prepared: Prepared, findings: list[Finding], filename: str) -> None:
    outcome.findings = [prepared.map_finding(f) for f in findings]
    if prepared.note:
        outcome.notes.append(f"{filename}: {prepared.note}")


def _lint(
    prepared: Prepared,
    filename: str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Any],
    with_edits: bool,
    view: Any = None,
) -> list[Finding]:
    from memlint.engine import lint_text  # the engine loads only when a file is really checked

    notes: list[str] = []
    findings = lint_text(
        prepared.text, filename, rules, options, with_edits=with_edits and prepared.fixable, project=view, notes=notes
    )
    _engine_notes(prepared, notes)
    return findings


def _engine_notes(prepared: Prepared, notes: list[str]) -> None:
    """What the engine said about the file (no fixes for Python < 3.7 code) joins the preparation's note."""
    for note in notes:
        if note != prepared.note:
            prepared.note = f"{prepared.note}; {note}" if prepared.note else note


def _fix(
    prepared: Prepared,
    filename: str,
    rules: Sequence[type[Rule]],
    options: Mapping[str, Any],
    mode: FixMode,
    with_edits: bool,
    settings: Settings,
    outcome: FileOutcome,
    view: Any = None,
) -> tuple[str, Counter, list[Finding] | None]:
    """(the file's new text, the codes fixed, the findings on the engine's final text or None)."""
    from memlint.engine import FixFailure, fix_and_lint  # the engine loads only when a file is really checked

    if not prepared.fixable:
        return prepared.original, Counter(), _lint(prepared, filename, rules, options, with_edits, view)
    notes: list[str] = []
    try:
        engine_text, fixed, remaining = fix_and_lint(
            prepared.text, filename, rules, options, unsafe=mode.unsafe, with_edits=with_edits, project=view, notes=notes
        )
    except FixFailure as exc:
        outcome.problems.append(Problem(filename, str(exc)))
        return prepared.original, Counter(), None
    _engine_notes(prepared, notes)
    if engine_text == prepared.text:
        return prepared.original, Counter(), remaining
    try:
        new_text = prepared.restore(engine_text)
        check_target_grammar(new_text, settings, list(fixed))
    except NotRestorable as exc:
        prepared.fixable = False  # the findings below are then offered without fixes
        prepared.note = f"fixes not applied: {exc}"
        return prepared.original, Counter(), _lint(prepared, filename, rules, options, with_edits, view)
    except FixFailure as exc:
        outcome.problems.append(Problem(filename, str(exc)))
        return prepared.original, Counter(), None
    return new_text, fixed, remaining
