"""SARIF 2.1.0, with rule metadata, as GitHub code scanning accepts it.

Files that could not be checked become ``toolExecutionNotifications`` of the run's invocation
(``executionSuccessful`` is then false), as ruff reports its syntax errors. A notebook finding
names its cell in the message and carries no region: rows within a cell are not rows of the
``.ipynb`` file, so a region would point a reader at the wrong line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

from memlint import __version__
from memlint.findings import URL_BASE, Finding
from memlint.output import lossy_path, problem_entry
from memlint.rules import rule_catalog

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {"error": "error", "warning": "warning"}


def _uri(filename: str) -> str:
    """Relative to the working directory when inside it, else a file URI; odd bytes percent-encoded."""
    absolute = Path(os.path.abspath(filename))
    try:
        relative = absolute.relative_to(Path.cwd())
    except ValueError:
        return "file://" + quote(os.fsencode(absolute.as_posix()))
    return quote(os.fsencode(relative.as_posix()))


def _location(filename: str, cell: int | None, row: int | None, column: int | None, end: tuple | None = None):
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(filename)}}
    if cell is None and row is not None:
        region = {"startLine": row, "startColumn": column or 1}
        if end is not None:
            region.update(endLine=end[0], endColumn=end[1])
        physical["region"] = region
    return {"physicalLocation": physical}


def _where(cell: int | None, row: int | None, column: int | None) -> str:
    return "" if cell is None else f"cell {cell}, line {row or 1}, column {column or 1}: "


def render(findings: Sequence[Finding], problems: Sequence[Any] = ()) -> str:
    rules = rule_catalog()
    codes = list(rules)
    driver_rules = [
        {
            "id": code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.doc or rule.summary},
            "helpUri": f"{URL_BASE}{code}.md",
            "defaultConfiguration": {"level": _LEVELS.get(rule.severity, "warning"), "enabled": rule.default_enabled},
            "properties": {"fix_availability": rule.fix_availability, "severity": rule.severity},
        }
        for code, rule in rules.items()
    ]
    results: list[dict[str, Any]] = []
    for f in findings:
        severity = rules[f.code].severity if f.code in rules else "warning"
        result: dict[str, Any] = {
            "ruleId": f.code,
            "level": _LEVELS.get(severity, "warning"),
            "message": {"text": _where(f.cell, f.row, f.column) + f.message},
            "locations": [_location(f.filename, f.cell, f.row, f.column, (f.end_row, f.end_column))],
        }
        if f.cell is not None:
            result["properties"] = {"cell": f.cell}
        if f.code in rules:
            result["ruleIndex"] = codes.index(f.code)
        results.append(result)
    notifications = []
    for problem in problems:
        entry = problem_entry(problem)
        notifications.append(
            {
                "level": "error",
                "message": {"text": f"{lossy_path(entry.filename)}: {_where(entry.cell, entry.row, entry.column)}"
                            f"{entry.message}"},
                "locations": [_location(entry.filename, entry.cell, entry.row, entry.column)],
                "descriptor": {"id": entry.name},
            }
        )
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "memlint",
                        "version": __version__,
                        "informationUri": "https://github.com/memlint/memlint",
                        "rules": driver_rules,
                    }
                },
                "invocations": [
                    {"executionSuccessful": not notifications, "toolExecutionNotifications": notifications}
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
