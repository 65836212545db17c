"""``memlint check --add-noqa``: suppress today's findings, so memlint can be adopted on a big codebase.

Each finding gets ``# noqa: CODE`` on its noqa row (the row its suppression is read from: the
first row of the finding, or the end of the string or backslash continuation it starts in),
through ``noqa.with_noqa`` as the server's quick fix does: an existing ``# noqa: X`` gains the
codes. Files are written through the same atomic writer as ``--fix``: encoding, BOM and line
endings stay, and a file that changed meanwhile is left alone. A second run adds nothing,
because every finding is then suppressed.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from memlint.noqa import PYTHON_LINE, comment_rows, next_comment_row, with_noqa


def add_noqa_comments(text: str, codes_by_row: dict[int, set[str]]) -> tuple[str, int]:
    """``text`` with the codes added on their noqa rows; also how many rows changed."""
    lines = PYTHON_LINE.findall(text)
    rows = comment_rows(text)
    wanted: dict[int, set[str]] = defaultdict(set)
    for row, codes in codes_by_row.items():
        wanted[next_comment_row(rows, row)] |= codes
    changed = 0
    for row, codes in sorted(wanted.items()):
        if not 0 < row <= len(lines):
            continue
        line = lines[row - 1]
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        new_body = with_noqa(body, *codes)
        if new_body != body:
            lines[row - 1] = new_body + ending
            changed += 1
    return "".join(lines), changed


def run_add_noqa(args: argparse.Namespace, resolver: Any) -> int:
    from memlint.checker import FixMode, Problem
    from memlint.cli import EXIT_CLEAN, EXIT_ERROR, problem_line
    from memlint.output import display_path
    from memlint.runner import run_paths
    from memlint.source import SourceError, atomic_write, read_source

    result = run_paths(
        list(args.paths or [Path(".")]),
        resolver,
        FixMode(),
        force_exclude=args.force_exclude,
        use_cache=not args.no_cache,
        cache_dir=args.cache_dir,
    )
    problems: list[Any] = list(result.problems)
    by_file: dict[str, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    skipped_notebooks: set[str] = set()
    for finding in result.findings:
        if finding.cell is not None:
            skipped_notebooks.add(finding.filename)
            continue
        by_file[finding.filename][finding.row].add(finding.code)
    added = 0
    for filename, codes_by_row in by_file.items():
        try:
            source = read_source(Path(filename))
            new_text, count = add_noqa_comments(source.text, codes_by_row)
            if count and not _still_parses(source.text, new_text):
                raise SourceError("adding noqa comments would break the file; left as it is")
            if count:
                atomic_write(source, new_text)
                added += count
        except SourceError as exc:
            problems.append(Problem(filename, str(exc)))
    for note in result.notes:
        sys.stderr.write(f"memlint: {display_path(note)}\n")
    for filename in sorted(skipped_notebooks):
        sys.stderr.write(f"memlint: {display_path(filename)}: notebooks get no noqa comments; left as it is\n")
    for problem in _sorted(problems):
        sys.stderr.write(problem_line(problem) + "\n")
    if not args.quiet:
        sys.stderr.write(f"Added {added} noqa directive{'' if added == 1 else 's'}.\n")
    return EXIT_ERROR if problems else EXIT_CLEAN


def _still_parses(old: str, new: str) -> bool:
    """A comment at a row's end never changes the code; check anyway that Python reads the result."""
    try:
        ast.parse(old)
    except (SyntaxError, ValueError):
        return True  # Python of this version cannot judge this file (newer syntax): nothing to compare
    try:
        ast.parse(new)
    except (SyntaxError, ValueError):
        return False
    return True


def _sorted(problems: Sequence[Any]) -> list[Any]:
    return sorted(problems, key=lambda p: (p.filename, p.row or 0))
