"""ruff-compatible JSON: tools that read ``ruff check --output-format json`` read this.

Files that could not be checked are entries too, as ruff writes its syntax errors: ``code``
and ``url`` null, ``name`` such as ``syntax-error``, ``message`` starting ``SyntaxError:``.
Each entry also carries ``severity`` (``error`` or ``warning``; see ``memlint rule --all``).
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from memlint.findings import URL_BASE, Finding
from memlint.output import ProblemEntry, lossy_path, problem_entry
from memlint.rules import rule_catalog


def finding_to_dict(finding: Finding, severity: str = "warning") -> dict[str, Any]:
    fix = None
    if finding.fix is not None:
        fix = {
            "applicability": finding.fix.applicability,
            "edits": [
                {
                    "content": edit.content,
                    "end_location": {"column": edit.end_column, "row": edit.end_row},
                    "location": {"column": edit.column, "row": edit.row},
                }
                for edit in finding.fix.edits
            ],
            "message": finding.fix.message,
        }
    return {
        "cell": finding.cell,
        "code": finding.code,
        "end_location": {"column": finding.end_column, "row": finding.end_row},
        "filename": lossy_path(os.path.abspath(finding.filename)),
        "fix": fix,
        "location": {"column": finding.column, "row": finding.row},
        "message": finding.message,
        "name": finding.name,
        "noqa_row": finding.row,
        "severity": severity,
        "url": f"{URL_BASE}{finding.code}.md",
    }


def problem_to_dict(entry: ProblemEntry) -> dict[str, Any]:
    row, column = entry.row or 1, entry.column or 1
    return {
        "cell": entry.cell,
        "code": None,
        "end_location": {"column": column, "row": row},
        "filename": lossy_path(os.path.abspath(entry.filename)),
        "fix": None,
        "location": {"column": column, "row": row},
        "message": entry.message,
        "name": entry.name,
        "noqa_row": None,
        "severity": "error",
        "url": None,
    }


def render(findings: Sequence[Finding], problems: Sequence[Any] = ()) -> str:
    rules = rule_catalog()
    entries = [
        finding_to_dict(f, rules[f.code].severity if f.code in rules else "warning") for f in findings
    ]
    entries += [problem_to_dict(problem_entry(p)) for p in problems]
    entries.sort(key=lambda e: (e["filename"], e["cell"] or 0, e["location"]["row"], e["location"]["column"]))
    return json.dumps(entries, indent=2, ensure_ascii=False) + "\n"


def render_statistics(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(rows), indent=2, ensure_ascii=False) + "\n"
