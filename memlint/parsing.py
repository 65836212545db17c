"""Parsing: CPython's verdict in the target version's grammar, then one libcst parse.

CPython decides what is Python: a file it refuses in the grammar of the target version
(``target-version``, default: the Python memlint runs on) is refused here, even when libcst,
which knows every grammar from 3.0 to 3.14, would read it. The message says plainly when the
file is fine for a newer Python. Only a target newer than the running Python lets libcst
alone decide (those files are checked without fixes: nothing could verify them).

``prepare`` handles the files CPython accepts and libcst does not read as they are, by giving
the engine an equivalent text and mapping results back:
- CR-only line endings (libcst drops the last one): LF for the engine, CR again on the way out;
- indentation mixing tabs and spaces the way CPython allows (libcst needs each block's
  indentation to extend its parent's): spaces of the same width for the engine; a fixed text
  gets its original indentation back and must have the same syntax tree, or no fix is written;
- ``async`` / ``await`` used as names (``x.cuda(async=True)``, valid before Python 3.7): checked
  with the names masked, reported without fixes, and a note that the file needs porting.
"""

from __future__ import annotations

import ast
import re
import sys
import tokenize
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Mapping, Sequence

from memlint.analysis.syntax import ParseFailure
from memlint.source import line_opcodes, split_lines

RUNNING: tuple[int, int] = sys.version_info[:2]
OLDEST_TARGET = (3, 7)
NEWEST_TARGET = (3, 14)
TARGET_OPTION = "target-version"  # the key under which the engine's options carry the target
_LEGACY_GRAMMAR = (3, 6)  # the last grammar where async and await were names


# ---------------------------------------------------------------------------- target versions
def parse_target_version(value: Any) -> tuple[int, int]:
    """``"3.11"`` or ``"py311"`` (ruff's spelling) -> (3, 11); ValueError with a readable reason."""
    text = str(value).strip().lower()
    match = re.fullmatch(r"(?:py)?3\.?(\d{1,2})", text)
    if not isinstance(value, str) or not match:
        raise ValueError(f"target-version must be a string such as \"3.11\" or \"py311\", not {value!r}")
    version = (3, int(match.group(1)))
    if not OLDEST_TARGET <= version <= NEWEST_TARGET:
        raise ValueError(
            f"target-version {value!r} is outside {format_version(OLDEST_TARGET)} to {format_version(NEWEST_TARGET)}"
        )
    return version


def format_version(version: Sequence[int]) -> str:
    return f"{version[0]}.{version[1]}"


def target_of(options: Mapping[str, Any] | None) -> tuple[int, int]:
    target = (options or {}).get(TARGET_OPTION)
    return tuple(target) if target else RUNNING  # type: ignore[return-value]


# ---------------------------------------------------------------------------- CPython's verdict
def python_syntax_error(text: str, target: tuple[int, int] = RUNNING) -> SyntaxError | None:
    """CPython's own verdict in the target's grammar (its parser costs about a tenth of libcst's).

    libcst's native parser can crash the process on nesting that CPython itself rejects, so
    such input stops here.
    """
    try:
        ast.parse(text, feature_version=min(target, RUNNING))
    except SyntaxError as exc:
        if "too many nested" in str(exc.msg) or "too complex" in str(exc.msg):
            raise ParseFailure("too deeply nested to analyse", exc.lineno, exc.offset, "limit") from None
        return exc
    except (RecursionError, MemoryError):
        raise ParseFailure("too deeply nested to analyse", kind="limit") from None
    except ValueError as exc:  # null bytes, on Pythons that raise ValueError for them
        return SyntaxError(str(exc))
    return None


def _accepted_by(text: str, version: tuple[int, int]) -> bool:
    try:
        ast.parse(text, feature_version=version)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _newest_syntax(module: Any) -> tuple[tuple[int, int] | None, str]:
    """The newest syntax a libcst module uses that the running Python may not know."""
    import libcst as cst

    found: list[tuple[tuple[int, int], str]] = []

    class Finder(cst.CSTVisitor):
        def visit_TypeAlias(self, node: Any) -> None:
            found.append(((3, 12), "a `type` statement"))

        def visit_TypeParameters(self, node: Any) -> None:
            found.append(((3, 12), "type parameters"))

        def visit_TemplatedString(self, node: Any) -> None:
            found.append(((3, 14), "a template string"))

        def visit_TryStar(self, node: Any) -> None:
            found.append(((3, 11), "`except*`"))

    module.visit(Finder())
    if not found:
        return None, ""
    return max(found, key=lambda item: item[0])


def _refusal(text: str, error: SyntaxError, target: tuple[int, int]) -> ParseFailure:
    """One plain line for a file CPython refuses in the target's grammar."""
    message = str(error.msg or "invalid syntax")
    row, column = error.lineno, error.offset
    if target < RUNNING and _accepted_by(text, RUNNING):
        return ParseFailure(f"{message} (target-version is {format_version(target)})", row, column)
    if _accepted_by(text, _LEGACY_GRAMMAR):
        return ParseFailure(
            "uses `async` or `await` as a name, which Python 3.7 and later refuse", row, column, "legacy"
        )
    import libcst as cst

    try:
        module = cst.parse_module(text)
    except Exception:
        return ParseFailure(message, row, column)
    needs, what = _newest_syntax(module)
    running = format_version(RUNNING)
    if needs is not None and needs > RUNNING:
        return ParseFailure(
            f"needs Python {format_version(needs)} or newer ({what}); memlint runs on Python "
            f"{running}: run it under a newer Python",
            row,
            column,
        )
    if message.startswith("f-string"):
        return ParseFailure(
            f"needs Python 3.12 or newer (an f-string Python {running} cannot read: {message}); "
            "run memlint under a newer Python",
            row,
            column,
        )
    return ParseFailure(f"{message} (Python {running} refuses this file; newer Pythons may accept it)", row, column)


def explain_refusal(text: str, failure: ParseFailure | None, target: tuple[int, int]) -> ParseFailure | None:
    """The ParseFailure to report for ``text`` in the target's grammar (plain words: "needs Python
    3.12", "target-version is 3.8", legacy ``async`` names); None when the target accepts it.
    ``failure``: what the running Python's parse raised, if it refused the text."""
    if failure is not None and failure.kind == "limit":
        return failure
    error = python_syntax_error(text, min(target, RUNNING))
    if error is None:
        return failure
    return _refusal(text, error, target)


def parse(text: str, target: tuple[int, int] | None = None) -> Any:
    """The one libcst parse of a file, or ParseFailure with Python's own message and position."""
    import libcst as cst

    target = target or RUNNING
    # Always first: no cheap heuristic catches every crashing shape (a 30,000-term sum split over
    # short lines inside one pair of brackets crashed libcst where CPython refused it cleanly).
    python_error = python_syntax_error(text, target)
    if python_error is not None and target <= RUNNING:
        raise _refusal(text, python_error, target)
    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        if python_error is not None:
            raise ParseFailure(str(python_error.msg), python_error.lineno, python_error.offset) from None
        detail = str(exc.message).strip().splitlines()[0] if exc.message else "syntax error"
        raise ParseFailure(
            f"Python accepts this file but libcst, memlint's parser, cannot read it: {detail}",
            exc.raw_line,
            exc.raw_column + 1,
            "libcst",
        ) from None
    except RecursionError:
        raise ParseFailure("too deeply nested to analyse", kind="limit") from None
    except Exception as exc:  # libcst's native parser can raise others on odd input
        raise ParseFailure(
            f"Python accepts this file but libcst, memlint's parser, cannot read it: {type(exc).__name__}: {exc}",
            kind="libcst",
        ) from None


# ---------------------------------------------------------------------------- prepared sources
class NotRestorable(Exception):
    """A fixed text cannot be put back into the file's own form without changing what it means."""


@dataclass
class Prepared:
    """The text the engine analyses for one file, and the way back to the file's own form."""

    original: str
    text: str
    fixable: bool = True
    note: str | None = None
    cr_only: bool = False
    # Rows whose indentation the engine sees as spaces: row -> (original indent, engine indent).
    indents: dict[int, tuple[str, str]] = field(default_factory=dict)

    @property
    def transformed(self) -> bool:
        return self.text != self.original

    def restore(self, engine_text: str) -> str:
        """The file's text for a fixed engine text; raises NotRestorable."""
        if not self.transformed:
            return engine_text
        text = engine_text
        if self.indents:
            text = self._restore_indentation(text)
        if self.cr_only:
            if "\r" in text:
                raise NotRestorable("a fix wrote a line ending other than CR")
            text = text.replace("\n", "\r")
        return text

    def _restore_indentation(self, fixed: str) -> str:
        engine_lines = split_lines(self.text)
        original_lines = split_lines(self.original if not self.cr_only else self.original.replace("\r", "\n"))
        fixed_lines = split_lines(fixed)
        by_width = self._indent_by_width()
        out: list[str] = []
        for tag, i1, i2, j1, j2 in line_opcodes(engine_lines, fixed_lines):
            if tag == "equal":
                out.extend(original_lines[i1:i2])
                continue
            for line in fixed_lines[j1:j2]:
                body = line.lstrip(" ")
                width = len(line) - len(body)
                if width == 0 or not body.strip():
                    out.append(line)
                    continue
                base = max((w for w in by_width if w <= width), default=0)
                out.append(by_width.get(base, "") + " " * (width - base) + body)
        restored = "".join(out)
        try:
            same = ast.dump(ast.parse(restored)) == ast.dump(ast.parse(fixed))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            same = False
        if not same:
            raise NotRestorable("the fixed code cannot keep this file's mix of tabs and spaces")
        return restored

    def _indent_by_width(self) -> dict[int, str]:
        by_width: dict[int, str] = {}
        for original, engine in self.indents.values():
            by_width.setdefault(len(engine), original)
        return by_width

    def column(self, row: int, column: int) -> int:
        """A 1-based column of the engine's text, in the file's own text."""
        indents = self.indents.get(row)
        if indents is None:
            return column
        original, engine = indents
        if column - 1 >= len(engine):
            return column - len(engine) + len(original)
        return min(column, len(original) + 1)

    def map_finding(self, finding: Any) -> Any:
        """A Finding in the file's own rows, columns and line endings; fixes dropped when not fixable."""
        if not self.transformed and self.fixable:
            return finding
        fix = finding.fix if self.fixable else None
        if fix is not None and fix.edits:
            fix = replace(fix, edits=tuple(replace(e, content=self._edit_content(e.content)) for e in fix.edits))
        return replace(
            finding,
            column=self.column(finding.row, finding.column),
            end_column=self.column(finding.end_row, finding.end_column),
            fix=fix,
        )

    def _edit_content(self, content: str) -> str:
        if self.indents:
            by_width = self._indent_by_width()
            lines = []
            for line in split_lines(content):
                body = line.lstrip(" ")
                width = len(line) - len(body)
                base = max((w for w in by_width if w <= width), default=0)
                lines.append(by_width.get(base, "") + " " * (width - base) + body if width else line)
            content = "".join(lines)
        return content.replace("\n", "\r") if self.cr_only else content


_TAB_INDENT = re.compile(r"^[ \t\f]*\t", re.MULTILINE)


def prepare(text: str, target: tuple[int, int] | None = None) -> Prepared:
    """The cheap, always-needed part: CR-only endings; a target newer than this Python."""
    target = target or RUNNING
    prepared = Prepared(text, text)
    if "\r" in text and "\n" not in text:
        prepared.text = text.replace("\r", "\n")
        prepared.cr_only = True
    if target > RUNNING and python_syntax_error(prepared.text, RUNNING) is not None:
        prepared.fixable = False
        prepared.note = (
            f"checked for Python {format_version(target)} (target-version) without fixes: memlint runs on "
            f"Python {format_version(RUNNING)}, which cannot verify fixed code for it"
        )
    return prepared


def recover(prepared: Prepared, failure: ParseFailure, target: tuple[int, int] | None = None) -> Prepared:
    """A second preparation after the engine could not parse ``prepared.text``; re-raises when none helps."""
    target = target or RUNNING
    if failure.kind == "libcst" and _TAB_INDENT.search(prepared.text):
        expanded, indents = _spaces_for_tabs(prepared.text)
        if indents:
            return replace(prepared, text=expanded, indents=indents)
    if failure.kind == "legacy":
        masked = _mask_legacy_names(prepared.text)
        if masked is not None and python_syntax_error(masked, target) is None:
            return replace(
                prepared,
                text=masked,
                fixable=False,
                note="uses `async` or `await` as a name (valid before Python 3.7): reported without fixes; "
                "the file needs porting (`non_blocking=True` replaced `async=True` in `.cuda()` and `.to()`)",
            )
    raise failure


def _indent_width(indent: str) -> int:
    """CPython's column for an indentation: tabs to the next multiple of 8, form feed resets."""
    width = 0
    for char in indent:
        if char == "\t":
            width = (width // 8 + 1) * 8
        elif char == "\f":
            width = 0
        else:
            width += 1
    return width


def _tokens(text: str) -> Iterator[tokenize.TokenInfo]:
    """Python's tokens, with rows counted as CPython and libcst count them (a lone CR ends a line)."""
    lines = iter([line.rstrip("\r\n") + "\n" for line in split_lines(text)])
    return tokenize.generate_tokens(lambda: next(lines, ""))


def _logical_line_rows(text: str) -> set[int]:
    """Rows (1-based) where a statement or a comment line between statements starts."""
    rows: set[int] = set()
    depth = 0
    at_start = True
    try:
        for token in _tokens(text):
            kind = token.type
            if kind in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                at_start = True
                continue
            if kind == tokenize.NL:
                if depth == 0:
                    at_start = True
                continue
            if at_start and depth == 0 and kind != tokenize.ENDMARKER:
                rows.add(token.start[0])
            at_start = False
            if kind == tokenize.OP:
                if token.string in "([{":
                    depth += 1
                elif token.string in ")]}":
                    depth = max(0, depth - 1)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return set()
    return rows


def _spaces_for_tabs(text: str) -> tuple[str, dict[int, tuple[str, str]]]:
    """Indentation with tabs, at statement starts only, as spaces of CPython's width."""
    rows = _logical_line_rows(text)
    lines = split_lines(text)
    indents: dict[int, tuple[str, str]] = {}
    for row in sorted(rows):
        line = lines[row - 1]
        body = line.lstrip(" \t\f")
        indent = line[: len(line) - len(body)]
        if "\t" in indent or "\f" in indent:
            spaces = " " * _indent_width(indent)
            lines[row - 1] = spaces + body
            indents[row] = (indent, spaces)
    return "".join(lines), indents


_KEYWORD_NEXT = {"async": {"def", "with", "for"}}
_NAME_NEIGHBOURS = {"=", ")", ",", ".", ":", "]", "}", "(", "+=", "-=", "*=", "/=", "=="}


def _mask_legacy_names(text: str) -> str | None:
    """``async`` / ``await`` used as names, replaced by names of the same length (columns stay)."""
    try:
        tokens = list(_tokens(text))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    lines = split_lines(text)
    spots: list[tuple[int, int, str]] = []
    for index, token in enumerate(tokens):
        if token.type != tokenize.NAME or token.string not in ("async", "await"):
            continue
        before = tokens[index - 1].string if index else ""
        after = tokens[index + 1] if index + 1 < len(tokens) else None
        after_text = after.string if after is not None else ""
        if token.string == "async":
            is_name = after_text not in _KEYWORD_NEXT["async"]
        else:
            is_name = (
                before in (".", "def", "class", "import", "as")
                or after is None
                or after_text in _NAME_NEIGHBOURS - {"("}
                or after.type in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)
            )
        if is_name:
            spots.append((token.start[0], token.start[1], token.string))
    if not spots:
        return None
    for row, column, name in reversed(spots):
        line = lines[row - 1]
        lines[row - 1] = line[:column] + name[:4] + "_" + line[column + len(name):]
    return "".join(lines)
