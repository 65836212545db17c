"""What the language server knows about a document, without any LSP library.

A *snapshot* is the text of a Python file, or the cells of a notebook, at one version. ``lint``
turns a snapshot into findings placed in the editor's documents (a cell is its own document),
and, when asked, the new text each fix would give those documents. ``lint_document`` is the one
place where the server calls the engine; the project index plugs in there.

Positions: the engine counts 1-based rows and code-point columns; LSP counts 0-based lines and
UTF-16 code units (or UTF-8 / UTF-32 when the client negotiated that). Lines end only at
``\\r\\n``, ``\\r`` or ``\\n`` in both, unlike ``str.splitlines``, which also breaks at form feeds.
"""

from __future__ import annotations

import ast
import bisect
import difflib
import re
import sys
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from memlint.analysis.project import WarmProjects
from memlint.config import Settings
from memlint.engine import Edit, Finding, FixFailure, ParseFailure, fix_text, lint_text
from memlint.noqa import with_noqa
from memlint.source import split_lines

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LSP_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def lsp_lines(text: str) -> list[str]:
    """Lines with their endings, split where LSP splits them."""
    return _LSP_LINE.findall(text)


# ---------------------------------------------------------------------------- snapshots
@dataclass(frozen=True)
class Cell:
    uri: str
    code: bool  # False for markdown and raw cells
    text: str
    version: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """One document as the editor holds it: a Python file (``text``) or a notebook (``cells``)."""

    uri: str
    path: Path | None  # None for unsaved (untitled) documents
    version: int | None
    text: str = ""
    cells: tuple[Cell, ...] | None = None

    @property
    def filename(self) -> str:
        return str(self.path) if self.path is not None else self.uri

    def documents(self) -> dict[str, str]:
        """URI -> text of every editor document this snapshot covers."""
        if self.cells is None:
            return {self.uri: self.text}
        return {cell.uri: cell.text for cell in self.cells}

    def versions(self) -> dict[str, int | None]:
        if self.cells is None:
            return {self.uri: self.version}
        return {cell.uri: cell.version for cell in self.cells}


@dataclass(frozen=True)
class Placed:
    """A finding in one editor document; rows and columns are within that document (1-based)."""

    uri: str
    finding: Finding
    # The new text of each document the finding's fix touches (filled in when edits were asked for).
    fixed: Mapping[str, str] | None = None


@dataclass
class LintResult:
    snapshot: Snapshot
    findings: list[Placed] = field(default_factory=list)
    # A document that does not parse: its URI and the error (row/column within that document).
    failure: tuple[str, ParseFailure] | None = None
    skipped: str | None = None  # why the document was not checked (size limit)
    crash: str | None = None  # an exception from the engine or a rule, with its traceback
    with_edits: bool = False


# ---------------------------------------------------------------------------- the engine seam
def lint_document(
    path: Path | None,
    text: str,
    settings: Settings,
    *,
    with_edits: bool = False,
    accept_fix: Callable[[str], bool] | None = None,
) -> list[Finding]:
    """Findings for one document's Python text: the only call from the server into the engine.

    Notebooks arrive here as their joined module. A saved ``.py`` file is checked with its project
    (the warm index of this worker: the same cross-file facts as ``memlint check``). Raises
    ParseFailure.
    """
    rules = settings.rules_for(path)
    if not rules:
        return []
    filename = str(path) if path is not None else "untitled.py"
    project = _project_for(path, text)
    try:
        return lint_text(
            text, filename, rules, settings.options, with_edits=with_edits, accept_fix=accept_fix, project=project
        )
    finally:
        if project is not None:
            project.project.forget_analyses()  # a worker lives for the whole editing session


_WARM = WarmProjects()


def _project_for(path: Path | None, text: str) -> Any:
    """This worker's warm project index for a ``.py`` file that lives in a folder."""
    if path is None or path.suffix != ".py" or not path.parent.is_dir():
        return None
    try:
        return _WARM.view(path, text)
    except (OSError, RecursionError):
        return None


def lint(snapshot: Snapshot, settings: Settings, with_edits: bool = False) -> LintResult:
    """Never raises: a crash inside the engine or a rule is returned in ``crash``."""
    result = LintResult(snapshot, with_edits=with_edits)
    size = sum(len(text.encode("utf-8", "surrogatepass")) for text in snapshot.documents().values())
    if size > settings.max_file_size_mb * 1_000_000:
        result.skipped = (
            f"memlint skipped this file: {size / 1_000_000:.1f} MB is over max-file-size-mb "
            f"({settings.max_file_size_mb:g})"
        )
        return result
    try:
        if snapshot.cells is None:
            _lint_file(snapshot, settings, result)
        else:
            _lint_notebook(snapshot, settings, result)
    except Exception:  # a bug in a rule or the engine must not take the server down
        result.findings = []
        result.crash = _describe_crash()
    return result


def _describe_crash() -> str:
    """The exception, naming the rule module it came from when there is one."""
    text = traceback.format_exc()
    frames = traceback.extract_tb(sys.exc_info()[2])
    rule_frames = [f for f in frames if "/rules/" in f.filename.replace("\\", "/")]
    where = f" in {Path(rule_frames[-1].filename).name}:{rule_frames[-1].lineno}" if rule_frames else ""
    first = text.strip().splitlines()[-1]
    return f"internal error{where}: {first}\n{text}"


def _lint_file(snapshot: Snapshot, settings: Settings, result: LintResult) -> None:
    text = snapshot.text
    try:
        findings = lint_document(snapshot.path, text, settings, with_edits=result.with_edits)
    except ParseFailure as exc:
        result.failure = (snapshot.uri, exc)
        return
    for finding in findings:
        fixed = None
        if result.with_edits and finding.fix is not None:
            fixed = {snapshot.uri: apply_line_edits(text.removeprefix("\ufeff"), finding.fix.edits)}
            if text.startswith("\ufeff"):
                fixed[snapshot.uri] = "\ufeff" + fixed[snapshot.uri]
        result.findings.append(Placed(snapshot.uri, finding, fixed))


def _notebook_cells(cells: Sequence[Cell]) -> Any:
    from memlint.notebook import JoinedCells

    return JoinedCells([{"cell_type": "code" if c.code else "markdown", "source": c.text} for c in cells])


def _lint_notebook(snapshot: Snapshot, settings: Settings, result: LintResult) -> None:
    cells = snapshot.cells or ()
    joined = _notebook_cells(cells)
    try:
        # A notebook's fixes are computed anyway (to refuse those that move code across cells).
        findings = lint_document(snapshot.path, joined.text, settings, with_edits=True, accept_fix=joined.accept_fix)
    except ParseFailure as exc:
        index, failure = joined.blame(exc)
        uri = cells[index].uri if index is not None else cells[0].uri if cells else snapshot.uri
        result.failure = (uri, failure)
        return
    for finding in findings:
        fixed = None
        if result.with_edits and finding.fix is not None and finding.fix.edits:
            try:
                changed = joined.changed_cells(apply_line_edits(joined.text, finding.fix.edits))
            except ValueError:
                changed = {}
            fixed = {cells[index].uri: source for index, source in changed.items()} or None
        placed = joined.to_cell(finding)
        if fixed is None and placed.fix is not None and result.with_edits:
            placed = replace(placed, fix=None)  # the fix cannot be split back into cells
        result.findings.append(Placed(cells[(placed.cell or 1) - 1].uri, placed, fixed))


def apply_line_edits(text: str, edits: Sequence[Edit]) -> str:
    """The text the engine's whole-line edits (``engine.line_edits``) describe."""
    lines = split_lines(text)  # the same split that made the edits: Python's rows
    for edit in sorted(edits, key=lambda e: (e.row, e.end_row), reverse=True):
        lines[edit.row - 1 : edit.end_row - 1] = [edit.content]
    return "".join(lines)


# ---------------------------------------------------------------------------- fixes and noqa
def fix_all(snapshot: Snapshot, settings: Settings, unsafe: bool) -> dict[str, str]:
    """URI -> new text for every document that "Fix all" changes (empty when nothing applies).

    Raises FixFailure or ParseFailure, as ``memlint check --fix`` would report them.
    """
    rules = settings.rules_for(snapshot.path)
    if not rules:
        return {}
    if snapshot.cells is None:
        project = _project_for(snapshot.path, snapshot.text)
        new_text, _ = fix_text(snapshot.text, snapshot.filename, rules, settings.options, unsafe=unsafe, project=project)
        return {snapshot.uri: new_text} if new_text != snapshot.text else {}
    joined = _notebook_cells(snapshot.cells)
    new_text, _ = fix_text(
        joined.text, snapshot.filename, rules, settings.options, unsafe=unsafe, accept_fix=joined.accept_fix
    )
    if new_text == joined.text:
        return {}
    try:
        changed = joined.changed_cells(new_text)
    except ValueError as exc:
        raise FixFailure(f"fixes not applied: {exc}") from None
    return {snapshot.cells[index].uri: source for index, source in changed.items()}


def noqa_edit(snapshot: Snapshot, uri: str, row: int, code: str) -> str | None:
    """The new text of document ``uri`` with ``# noqa: CODE`` on ``row``, or None when that
    comment cannot go there (the line continues with a backslash, or ends inside a string)."""
    documents = snapshot.documents()
    text = documents[uri]
    lines = lsp_lines(text)
    if not 1 <= row <= len(lines):
        return None
    line = lines[row - 1]
    body = line.rstrip("\r\n")
    new_body = with_noqa(body, code)
    if new_body == body:
        return None
    lines[row - 1] = new_body + line[len(body):]
    new_text = "".join(lines)
    module = new_text
    if snapshot.cells is not None:
        module = _notebook_cells([Cell(c.uri, c.code, new_text if c.uri == uri else c.text) for c in snapshot.cells]).text
    try:
        ast.parse(module.removeprefix("\ufeff"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return new_text


# ---------------------------------------------------------------------------- positions and edits
class PositionMap:
    """Engine rows/columns and text offsets -> LSP (line, character) in the negotiated encoding."""

    def __init__(self, text: str, encoding: str = "utf-16") -> None:
        self.text = text
        self.encoding = encoding
        self.starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]
        self._bom = 1 if text.startswith("\ufeff") else 0

    def _line_body(self, line: int) -> str:
        start = self.starts[line]
        end = self.starts[line + 1] if line + 1 < len(self.starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n")

    def units(self, chars: str) -> int:
        if self.encoding == "utf-8":
            return len(chars.encode("utf-8", "surrogatepass"))
        if self.encoding == "utf-32":
            return len(chars)
        return len(chars.encode("utf-16-le", "surrogatepass")) // 2

    def position(self, row: int | None, column: int | None) -> tuple[int, int]:
        """A 1-based engine row and code-point column, clamped into the document."""
        line = min(max((row or 1) - 1, 0), len(self.starts) - 1)
        body = self._line_body(line)
        chars = max((column or 1) - 1, 0) + (self._bom if line == 0 else 0)
        return line, self.units(body[: min(chars, len(body))])

    def at_offset(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        return line, self.units(self.text[self.starts[line] : offset])

    def line_end(self, line: int) -> tuple[int, int]:
        line = min(max(line, 0), len(self.starts) - 1)
        return line, self.units(self._line_body(line))

    def offset(self, line: int, character: int) -> int:
        """LSP position -> offset in the text (for ranges the client sends)."""
        if line >= len(self.starts):
            return len(self.text)
        body = self._line_body(max(line, 0))
        count = 0
        for index, char in enumerate(body):
            if count >= character:
                return self.starts[line] + index
            count += self.units(char)
        return self.starts[line] + len(body)


@dataclass(frozen=True)
class TextChange:
    """An LSP text edit: replace [start, end) with ``text``; positions are (line, character)."""

    start: tuple[int, int]
    end: tuple[int, int]
    text: str


def text_changes(old: str, new: str, encoding: str = "utf-16") -> list[TextChange]:
    """Whole-line edits that turn ``old`` into ``new``; none when they are equal."""
    if old == new:
        return []
    positions = PositionMap(old, encoding)
    old_lines, new_lines = lsp_lines(old), lsp_lines(new)
    offsets = [0]
    for line in old_lines:
        offsets.append(offsets[-1] + len(line))
    changes = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            start, end = positions.at_offset(offsets[i1]), positions.at_offset(offsets[i2])
            changes.append(TextChange(start, end, "".join(new_lines[j1:j2])))
    return changes


def iter_rule_sections(document: str, names: Sequence[str]) -> Iterator[tuple[str, str]]:
    """``## Name`` sections of a rule document, in the order asked for."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in document.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    for name in names:
        body = "\n".join(sections.get(name, ())).strip()
        if body:
            yield name, body
