"""A whole run: find the files, check each one, gather findings, problems and fixes in order."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from memlint.checker import FileOutcome, FixMode, Problem, check_file
from memlint.config import ConfigResolver
from memlint.engine import Finding
from memlint.files import PathProblem, Target, discover


@dataclass
class RunResult:
    findings: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fixed: dict[str, Counter] = field(default_factory=dict)
    diffs: list[str] = field(default_factory=list)
    files_checked: int = 0


def run_paths(
    paths: Sequence[Path],
    resolver: ConfigResolver,
    mode: FixMode = FixMode(),
    with_edits: bool = False,
    force_exclude: bool = False,
    use_cache: bool = True,
    cache_dir: Path | None = None,
) -> RunResult:
    result = RunResult()
    targets: list[Target] = []
    for item in discover(list(paths), resolver, force_exclude=force_exclude):
        if isinstance(item, PathProblem):
            if item.message.startswith("note:"):
                result.notes.append(f"{item.path}: {item.message[len('note: '):]}")
            else:
                result.problems.append(Problem(item.path, item.message))
            continue
        targets.append(item)
    for outcome in _check_all(targets, mode, with_edits):
        _merge(result, outcome)
    result.files_checked = len(targets)
    result.findings.sort(key=lambda f: f.sort_key)
    result.problems.sort(key=lambda p: (p.filename, p.row or 0))
    return result


def _check_all(targets: list[Target], mode: FixMode, with_edits: bool) -> list[FileOutcome]:
    return [check_file(t.path, t.settings, mode, with_edits) for t in targets]


def _merge(result: RunResult, outcome: FileOutcome) -> None:
    result.findings.extend(outcome.findings)
    result.problems.extend(outcome.problems)
    if outcome.fixed:
        result.fixed[outcome.filename] = outcome.fixed
    if outcome.diff:
        result.diffs.append(outcome.diff)
