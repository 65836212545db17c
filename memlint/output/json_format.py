"""ruff-compatible JSON: tools that read ``ruff check --output-format json`` read this."""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from memlint.engine import URL_BASE, Finding


def finding_to_dict(finding: Finding) -> dict[str, Any]:
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
        "filename": os.path.abspath(finding.filename),
        "fix": fix,
        "location": {"column": finding.column, "row": finding.row},
        "message": finding.message,
        "name": finding.name,
        "noqa_row": finding.row,
        "url": f"{URL_BASE}{finding.code}.md",
    }


def render(findings: Sequence[Finding]) -> str:
    return json.dumps([finding_to_dict(f) for f in findings], indent=2, ensure_ascii=False) + "\n"
