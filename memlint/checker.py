"""One file, end to end: read, lint or fix, write atomically, and say what happened.

``check_file`` is a pure function of its arguments so runs can be spread over processes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from memlint.config import Settings
from memlint.engine import FixFailure, Finding, ParseFailure, fix_and_lint, lint_text, unified_diff
from memlint.source import SourceError, atomic_write, read_source


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


def check_file(
    path: Path, settings: Settings, mode: FixMode = FixMode(), with_edits: bool = False, project=None  # type: ignore[no-untyped-def]
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
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    if size > settings.max_file_size_mb * 1_000_000:
        outcome.problems.append(
            Problem(
                filename,
                f"skipped: {size / 1_000_000:.1f} MB is over max-file-size-mb ({settings.max_file_size_mb:g}); "
                "raise it in [tool.memlint] or exclude the file",
            )
        )
        return outcome
    try:
        source = read_source(path)
    except SourceError as exc:
        outcome.problems.append(Problem(filename, str(exc)))
        return outcome
    text = source.text
    view = None
    if project is not None:
        from memlint.analysis.project import ProjectView

        view = ProjectView(project)
    try:
        findings = None  # the findings for `text`, once known
        if mode.fixing:
            try:
                new_text, fixed, remaining = fix_and_lint(
                    text, filename, rules, settings.options, unsafe=mode.unsafe, with_edits=with_edits, project=view
                )
            except FixFailure as exc:
                outcome.problems.append(Problem(filename, str(exc)))
                new_text, fixed, remaining = text, Counter(), None
            if new_text == text:
                findings = remaining
            elif mode.diff:
                outcome.diff = unified_diff(text, new_text, filename)
                outcome.fixed = fixed
            else:
                try:
                    atomic_write(source, new_text)
                    outcome.fixed = fixed
                    text, findings = new_text, remaining
                except SourceError as exc:
                    outcome.problems.append(Problem(filename, str(exc)))
        if findings is None:
            findings = lint_text(text, filename, rules, settings.options, with_edits=with_edits, project=view)
        outcome.findings = findings
    except ParseFailure as exc:
        outcome.problems.append(Problem(filename, f"cannot parse: {exc.message}", exc.row, exc.column))
    except RecursionError:
        outcome.problems.append(Problem(filename, "cannot parse: too deeply nested to analyse"))
    return outcome
