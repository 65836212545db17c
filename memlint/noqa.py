"""Suppression comments: ``# noqa``, ``# noqa: MEM001``, and file-level ``# memlint: noqa[: MEM001]``.

A line comment applies to the finding's first row, or, when that row cannot hold a comment
(it ends inside a multi-line string or with a backslash), to the row where the statement can
take one: the same row ``--add-noqa`` writes to (ruff's ``noqa_row``).

Also the unused-noqa check (MEM900, off by default): a ``MEM`` code named in a ``noqa`` comment
that suppressed nothing. The engine's noqa step calls ``unused_noqa_findings``.
"""

from __future__ import annotations

import bisect
import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from memlint.analysis.facts import TRACKED_LIBRARIES
from memlint.rule import Invalid, Rule, Valid

if TYPE_CHECKING:
    from memlint.findings import Finding

_CODES = r"(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?"
LINE_NOQA = re.compile(r"#\s*noqa" + _CODES, re.IGNORECASE)
_FILE_NOQA = re.compile(r"#\s*memlint\s*:\s*noqa" + _CODES, re.IGNORECASE)
_SPLIT = re.compile(r"[\s,]+")
# Python's own line breaks (str.splitlines also breaks at \f, \v, U+2028, ..., which Python does not).
PYTHON_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


class UnusedNoqa(Rule):
    """A `# noqa: MEMxxx` (or `# memlint: noqa: MEMxxx`) that suppresses nothing any more.

    Checked in the engine's noqa step, after every other rule: a MEM code listed in the comment
    with no finding of that code on the comment's row (or in the file, for a file-level comment).
    Codes of other tools are left alone, and so is a bare `# noqa`, which may serve flake8 or ruff.
    """

    code = "MEM900"
    name = "unused-noqa"
    summary = "A `noqa` comment names a memlint code that suppresses nothing"
    default_enabled = False
    libraries = frozenset(TRACKED_LIBRARIES)

    # The samples run this rule alone, so a MEM code in them is "non-enabled"; tests/test_noqa.py
    # runs it beside the other rules.
    VALID = [
        Valid("import torch\nx = torch.zeros(3)  # noqa: E501\n", "another tool's code"),
        Valid("import torch\nx = torch.zeros(3)  # noqa\n", "a bare noqa may serve flake8 or ruff"),
        Valid("import torch\nx = torch.zeros(3)  # NOQA\n", "a bare noqa, any case"),
        Valid("import torch\nx = torch.zeros(3)  # noqa:E501,W291\n", "other tools' codes only"),
        Valid("# memlint: noqa: E501\nimport torch\n", "file level, another tool's code"),
        Valid("import torch\nx = 1  # noqa: MEM900\n", "a noqa for this very rule"),
        Valid("import mylib\nx = 1  # noqa: MEM001\n", "no rule ran: the file imports no tracked library"),
        Valid("# memlint: noqa\nimport torch\nx = 1  # noqa: MEM001\n", "a bare file-level noqa silences MEM900 too"),
        Valid("import torch\nx = torch.zeros(3)  # type: ignore  # noqa\n", "a bare noqa after another comment"),
        Valid('import torch\nDOC = """Write `# noqa: MEM002` to silence it."""\n', "noqa text in a string"),
    ]
    INVALID = [
        Invalid("import torch\nx = torch.zeros(3)  # noqa: MEM001\n", line=2),
        Invalid("import torch\nx = torch.zeros(3)  # noqa: MEM9999\n", line=2, why="unknown code"),
        Invalid("import torch\nx = torch.zeros(3)  # noqa: E501, MEM003\n", line=2, why="mixed with another tool's"),
        Invalid("import torch\nx = torch.zeros(3)  # NOQA:MEM001\n", line=2),
        Invalid("# memlint: noqa: MEM002\nimport torch\n", line=1, why="file level"),
        Invalid("import torch\n\n\ndef f(x):\n    return x.sum()  # noqa: MEM002\n", line=5),
        Invalid("import keras\n\nfor x in xs:\n    model.predict(x)  # noqa: MEM101\n", line=4),
        Invalid('import torch\ns = """\n# noqa: MEM002\n"""\nx = 1  # noqa: MEM001\n', line=5, count=1,
                why="the text inside the string is no comment; the real comment is"),
    ]


def _codes(match: re.Match[str]) -> frozenset[str] | None:
    """None means every code."""
    codes = match.group("codes")
    if not codes:
        return None
    return frozenset(c.upper() for c in _SPLIT.split(codes.strip()) if c)


@dataclass(frozen=True)
class Directive:
    row: int
    column: int  # 1-based, where the comment starts
    end_column: int
    codes: frozenset[str] | None  # None: every code
    file_level: bool


@dataclass
class Suppressions:
    file_codes: frozenset[str] | None  # None: nothing suppressed file-wide
    file_all: bool
    lines: dict[int, frozenset[str] | None]  # row -> codes (None: all)
    directives: list[Directive] = field(default_factory=list)
    text: str = ""
    used: set[tuple[int, str]] = field(default_factory=set)  # (row, code); row 0: file level
    _comment_rows: list[int] | None = None

    def suppressed(self, code: str, row: int) -> bool:
        if self.file_all or (self.file_codes is not None and code in self.file_codes):
            self.used.add((0, code))
            return True
        if not self.lines:
            return False
        row = self.noqa_row(row)
        if row in self.lines:
            codes = self.lines[row]
            if codes is None or code in codes:
                self.used.add((row, code))
                return True
        return False

    def noqa_row(self, row: int) -> int:
        if row in self.lines:
            return row
        if self._comment_rows is None:
            self._comment_rows = comment_rows(self.text)
        return next_comment_row(self._comment_rows, row) if self._comment_rows else row


def _scan_tokens(text: str) -> tuple[list[int], list[tuple[int, int, str]]] | None:
    """Rows that can end with a comment, and every comment as (row, 0-based column, text).

    None when Python's tokenizer refuses the text (then lines are scanned as plain text).
    """
    rows: set[int] = set()
    comments: list[tuple[int, int, str]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text, newline=None).readline):
            if token.type in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT):
                rows.add(token.start[0])
            if token.type == tokenize.COMMENT:
                comments.append((token.start[0], token.start[1], token.string))
    except (tokenize.TokenError, SyntaxError):
        return None
    return sorted(rows), comments


def comment_rows(text: str) -> list[int]:
    """The sorted rows whose end can hold a comment (a row that ends a line of tokens)."""
    scanned = _scan_tokens(text)
    return scanned[0] if scanned is not None else []


def next_comment_row(rows: list[int], row: int) -> int:
    """The first row at or after ``row`` that can take a comment (``row`` itself when unknown)."""
    index = bisect.bisect_left(rows, row)
    return rows[index] if index < len(rows) else row


def parse_suppressions(text: str) -> Suppressions:
    """The noqa comments of a file: real comments only (``"# noqa"`` inside a string is no comment)."""
    file_all = False
    file_codes: set[str] | None = None
    lines: dict[int, frozenset[str] | None] = {}
    directives: list[Directive] = []
    if "noqa" not in text and "NOQA" not in text.upper():
        return Suppressions(None, False, lines)
    scanned = _scan_tokens(text)
    if scanned is not None:
        rows, comments = scanned
    else:  # Python cannot tokenize it (newer syntax): every `#` on a line may start a comment
        rows = []
        comments = [(row, line.index("#"), line[line.index("#"):].rstrip("\r\n"))
                    for row, line in enumerate(PYTHON_LINE.findall(text), start=1) if "#" in line]
    for row, offset, comment in comments:
        if "noqa" not in comment.lower():
            continue
        file_match = _FILE_NOQA.match(comment)  # file level: the comment starts with it (as in ruff)
        if file_match:
            codes = _codes(file_match)
            if codes is None:
                file_all = True
            else:
                file_codes = (file_codes or set()) | codes
            directives.append(Directive(row, offset + file_match.start() + 1, offset + file_match.end() + 1, codes, True))
            continue
        match = LINE_NOQA.search(comment)
        if match:
            lines[row] = _codes(match)
            directives.append(Directive(row, offset + match.start() + 1, offset + match.end() + 1, lines[row], False))
    suppressions = Suppressions(
        frozenset(file_codes) if file_codes is not None else None, file_all, lines, directives, text
    )
    suppressions._comment_rows = rows
    return suppressions


def unused_noqa_findings(suppressions: Suppressions, ran: Iterable[str], filename: str) -> list["Finding"]:
    """MEM900 findings: memlint codes named in a noqa comment that suppressed nothing.

    As ruff's RUF100 words it: ``unused`` (the rule ran and found nothing there), ``non-enabled``
    (the rule did not run on this file) or ``unknown`` (no such memlint rule). Only codes that
    start with ``MEM`` are judged; call after every finding went through ``suppressions.suppressed``.
    """
    from memlint.findings import Finding
    from memlint.rules import rule_catalog

    ran = set(ran)
    known = set(rule_catalog())
    found: list[Finding] = []
    for directive in suppressions.directives:
        if directive.codes is None:
            continue  # a bare `# noqa` may serve another tool; a bare `# memlint: noqa` silences MEM900 too
        at = 0 if directive.file_level else directive.row
        groups: dict[str, list[str]] = {}
        for code in sorted(directive.codes):
            if not code.startswith("MEM") or code == UnusedNoqa.code or (at, code) in suppressions.used:
                continue
            kind = "unused" if code in ran else "non-enabled" if code in known else "unknown"
            groups.setdefault(kind, []).append(f"`{code}`")
        if not groups:
            continue
        parts = [f"{kind}: {', '.join(codes)}" for kind, codes in groups.items()]
        message = f"Unused `noqa` directive ({'; '.join(parts)})"
        if suppressions.suppressed(UnusedNoqa.code, directive.row):
            continue
        found.append(
            Finding(
                UnusedNoqa.code, UnusedNoqa.name, message, filename,
                directive.row, directive.column, directive.row, directive.end_column,
            )
        )
    return found


def with_noqa(line: str, *codes: str) -> str:
    """``line`` (without its line ending) suppressing ``codes`` too: an existing ``# noqa: X`` gets
    the missing codes appended, otherwise ``  # noqa: CODES`` is added at the end.

    Used by ``--add-noqa`` and by the server's "suppress" code action.
    """
    match = LINE_NOQA.search(line)
    if match and not _FILE_NOQA.search(line):
        present = _codes(match)
        if present is None:
            return line
        missing = sorted(set(codes) - present)
        if not missing:
            return line
        return f"{line[: match.end()]}, {', '.join(missing)}{line[match.end():]}"
    return f"{line.rstrip()}  # noqa: {', '.join(sorted(set(codes)))}"
