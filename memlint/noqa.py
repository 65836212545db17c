"""Suppression comments: ``# noqa``, ``# noqa: MEM001``, and file-level ``# memlint: noqa[: MEM001]``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from memlint.source import split_lines

_LINE_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_FILE_NOQA = re.compile(
    r"#\s*memlint\s*:\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE
)
_SPLIT = re.compile(r"[\s,]+")


def _codes(match: re.Match[str]) -> frozenset[str] | None:
    """None means every code."""
    codes = match.group("codes")
    if not codes:
        return None
    return frozenset(c.upper() for c in _SPLIT.split(codes.strip()) if c)


@dataclass
class Suppressions:
    file_codes: frozenset[str] | None  # None: nothing suppressed file-wide
    file_all: bool
    lines: dict[int, frozenset[str] | None]  # row -> codes (None: all)

    def suppressed(self, code: str, row: int) -> bool:
        if self.file_all or (self.file_codes is not None and code in self.file_codes):
            return True
        if row in self.lines:
            codes = self.lines[row]
            return codes is None or code in codes
        return False


def parse_suppressions(text: str) -> Suppressions:
    file_all = False
    file_codes: set[str] | None = None
    lines: dict[int, frozenset[str] | None] = {}
    if "noqa" not in text and "NOQA" not in text.upper():
        return Suppressions(None, False, lines)
    for row, line in enumerate(split_lines(text), start=1):  # Python's rows: not split at \f or U+2028
        if "#" not in line:
            continue
        lowered = line.lower()
        if "noqa" not in lowered:
            continue
        file_match = _FILE_NOQA.search(line)
        if file_match:
            codes = _codes(file_match)
            if codes is None:
                file_all = True
            else:
                file_codes = (file_codes or set()) | codes
            continue
        match = _LINE_NOQA.search(line)
        if match:
            lines[row] = _codes(match)
    return Suppressions(frozenset(file_codes) if file_codes is not None else None, file_all, lines)


def with_noqa(line: str, code: str) -> str:
    """``line`` (without its line ending) suppressing ``code`` too: an existing
    ``# noqa: X`` gets the code appended, otherwise ``  # noqa: CODE`` is added at the end."""
    match = _LINE_NOQA.search(line)
    if match and not _FILE_NOQA.search(line):
        codes = _codes(match)
        if codes is None or code in codes:
            return line
        return f"{line[: match.end()]}, {code}{line[match.end():]}"
    return f"{line.rstrip()}  # noqa: {code}"
