"""Output formats. Each module renders a finished run; none of them touches syntax trees.

File names reach the output as Python strings; on POSIX a name that is not valid UTF-8 holds
surrogate escapes (``\\udcff`` for the byte ``0xff``), and a name may hold a newline. The helpers
here make every format stay valid: one-line formats escape control characters and odd bytes
(``a\\nb.py``, ``caf\\xe9.py``), JSON and SARIF replace undecodable bytes with U+FFFD as ruff
does (``to_string_lossy``), and SARIF URIs percent-encode the original bytes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

FORMATS = ("concise", "full", "json", "github", "sarif")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")
_NOTEBOOK_CELL = re.compile(r"^(?P<path>.*\.ipynb):cell (?P<cell>\d+)$", re.DOTALL)


def display_path(name: str) -> str:
    """A file name on one line: control characters and undecodable bytes escaped as Python writes them."""
    if not _CONTROL.search(name):
        return name
    return _CONTROL.sub(_escape_char, name)


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if "\udc80" <= char <= "\udcff":  # an undecodable byte kept by surrogateescape
        return f"\\x{ord(char) - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii")


def lossy_path(name: str) -> str:
    """Valid Unicode for JSON: an undecodable byte becomes U+FFFD."""
    return os.fsencode(name).decode("utf-8", "replace") if _CONTROL.search(name) else name


@dataclass(frozen=True)
class ProblemEntry:
    """A file memlint could not check, in the shape machine-readable formats report it."""

    filename: str
    cell: int | None
    name: str  # syntax-error, decode-error, fix-error or io-error
    message: str
    row: int | None
    column: int | None


_PROBLEM_NAMES = (
    ("cannot parse", "syntax-error"),
    ("cannot decode", "decode-error"),
    ("fix", "fix-error"),
)


def problem_entry(problem: Any) -> ProblemEntry:
    """``checker.Problem`` (its filename may read ``nb.ipynb:cell 3``) as a ProblemEntry."""
    filename, cell = problem.filename, None
    match = _NOTEBOOK_CELL.match(filename)
    if match:
        filename, cell = match.group("path"), int(match.group("cell"))
    name = next((kind for prefix, kind in _PROBLEM_NAMES if problem.message.startswith(prefix)), "io-error")
    message = problem.message
    if name == "syntax-error":  # ruff's wording, so tools that read its JSON recognise it
        message = "SyntaxError: " + message[len("cannot parse:"):].strip()
    return ProblemEntry(filename, cell, name, message, problem.row, problem.column)
