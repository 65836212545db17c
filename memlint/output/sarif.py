"""SARIF 2.1.0, with rule metadata, as GitHub code scanning accepts it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from memlint import __version__
from memlint.engine import URL_BASE, Finding
from memlint.rules import all_rules

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _uri(filename: str) -> str:
    absolute = Path(os.path.abspath(filename))
    try:
        return absolute.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return absolute.as_uri()


def render(findings: Sequence[Finding]) -> str:
    rules = all_rules()
    codes = list(rules)
    driver_rules = [
        {
            "id": code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": (rule.__doc__ or rule.summary).strip()},
            "helpUri": f"{URL_BASE}{code}.md",
            "defaultConfiguration": {"level": "warning", "enabled": rule.default_enabled},
            "properties": {"fix_availability": rule.fix_availability},
        }
        for code, rule in rules.items()
    ]
    results: list[dict[str, Any]] = []
    for f in findings:
        region = {"startLine": f.row, "startColumn": f.column, "endLine": f.end_row, "endColumn": f.end_column}
        result: dict[str, Any] = {
            "ruleId": f.code,
            "level": "warning",
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(f.filename)}, "region": region}}],
        }
        if f.code in rules:
            result["ruleIndex"] = codes.index(f.code)
        results.append(result)
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
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
