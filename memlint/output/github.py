"""GitHub Actions workflow commands: one ``::warning`` annotation per finding."""

from __future__ import annotations

from typing import Sequence

from memlint.engine import Finding


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def render(findings: Sequence[Finding]) -> str:
    lines = []
    for f in findings:
        props = ",".join(
            [
                f"title={_escape_property(f'memlint ({f.code})')}",
                f"file={_escape_property(f.filename)}",
                f"line={f.row}",
                f"col={f.column}",
                f"endLine={f.end_row}",
                f"endColumn={f.end_column}",
            ]
        )
        message = _escape_data(f"{f.filename}:{f.row}:{f.column}: {f.code} {f.message}")
        lines.append(f"::warning {props}::{message}")
    return "".join(line + "\n" for line in lines)
