"""GitHub Actions workflow commands: one ``::warning`` / ``::error`` annotation per finding.

The level follows the rule's severity. A notebook finding is annotated on the file with
``cell N`` in its message (a row within a cell is not a row of the ``.ipynb`` file). Files
that could not be checked get an ``::error`` annotation, as ruff does for syntax errors.
"""

from __future__ import annotations

from typing import Any, Sequence

from memlint.findings import Finding
from memlint.output import lossy_path, problem_entry
from memlint.rules import rule_catalog


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _annotation(level: str, title: str, filename: str, cell: int | None, span: tuple, text: str) -> str:
    name = lossy_path(filename)  # workflow-command escaping keeps a newline; odd bytes cannot be named
    props = [f"title={_escape_property(title)}", f"file={_escape_property(name)}"]
    if cell is None and span[0] is not None:
        row, column, end_row, end_column = span
        props += [f"line={row}", f"col={column or 1}"]
        if end_row is not None:
            props += [f"endLine={end_row}", f"endColumn={end_column}"]
    where = name + (f":cell {cell}" if cell is not None else "")
    if span[0] is not None:
        where += f":{span[0]}:{span[1] or 1}"
    return f"::{level} {','.join(props)}::{_escape_data(f'{where}: {text}')}\n"


def render(findings: Sequence[Finding], problems: Sequence[Any] = ()) -> str:
    rules = rule_catalog()
    lines = []
    for f in findings:
        level = "error" if f.code in rules and rules[f.code].severity == "error" else "warning"
        span = (f.row, f.column, f.end_row, f.end_column)
        lines.append(_annotation(level, f"memlint ({f.code})", f.filename, f.cell, span, f"{f.code} {f.message}"))
    for problem in problems:
        entry = problem_entry(problem)
        span = (entry.row, entry.column, None, None)
        lines.append(_annotation("error", "memlint", entry.filename, entry.cell, span, entry.message))
    return "".join(lines)
