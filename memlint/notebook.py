"""Jupyter notebooks: the code cells are checked as one module, as the kernel runs them.

The code cells are joined in order (an evaluation loop in cell 7 sees the model built in
cell 3), with a marker comment between cells so that a fixed module can be split back.
IPython syntax is never parsed: a line magic, shell escape or help line (``%time f()``,
``!pip install``, ``x = !ls``, ``obj?``) becomes a ``pass`` placeholder with the same
indentation, so rows stay where they were, and a cell that starts with a ``%%`` cell magic
is left out altogether. Findings carry the 1-based cell number (counting every cell, as
Jupyter and ruff do) and rows and columns within that cell.

``--fix`` writes the changed cells back through nbformat; outputs, metadata and all other
cells stay as they were. Imports a fix adds go to the first code cell.
"""

from __future__ import annotations

import ast
import bisect
import difflib
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from memlint.checker import FileOutcome, FixMode, Problem
from memlint.config import Settings
from memlint.engine import Edit, FixFailure, Finding, ParseFailure, fix_text, lint_text, parse
from memlint.rule import Rule
from memlint.source import SourceError, SourceFile, atomic_write, read_source

_MARKER = "# memlint:cell-boundary {number}"
_MARKER_LINE = re.compile(r"^[ \t]*# memlint:cell-boundary (\d+)[ \t]*$")
_PLACEHOLDER = "pass  # memlint:magic {index}"
_PLACEHOLDER_LINE = re.compile(r"^([ \t]*)pass  # memlint:magic (\d+)[ \t]*$")
# `files = !ls`, `t = %timeit -o f()`: IPython's assignment forms.
_ASSIGNED_MAGIC = re.compile(r"[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[%!]")
_ADDED_IMPORT = re.compile(r"^import ([A-Za-z_][\w.]*)[ \t]*$")


class _CellsMoved(Exception):
    """A fix changed the module in a way that cannot be split back into the same cells."""


@dataclass(frozen=True)
class _Cell:
    index: int  # position in the notebook's cell list
    start_row: int  # 1-based row of the cell's first line in the joined module
    rows: int
    masked: str  # the cell's source with IPython syntax replaced by placeholders
    ends_with_newline: bool

    @property
    def number(self) -> int:
        return self.index + 1


@dataclass
class _Module:
    text: str
    cells: list[_Cell] = field(default_factory=list)
    # By placeholder index: the original line, and the indentation its placeholder was given.
    magics: list[tuple[str, str]] = field(default_factory=list)

    def locate(self, row: int) -> tuple[_Cell, int]:
        """The cell holding a module row, and the 1-based row within it."""
        starts = [cell.start_row for cell in self.cells]
        position = max(0, bisect.bisect_right(starts, row) - 1)
        cell = self.cells[position]
        return cell, row - cell.start_row + 1


# ---------------------------------------------------------------------------- masking
def _split_lines(text: str) -> list[str]:
    """Lines with their ``\\n``; unlike str.splitlines, form feeds and the like stay inside a line."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _scan(body: str, depth: int, string: str | None) -> tuple[int, str | None, bool, int]:
    """Python's bracket depth and open string after one line; also whether it continues with a
    backslash and where its code ends (a comment starts)."""
    i, n, code_end = 0, len(body), len(body)
    while i < n:
        char = body[i]
        if string is not None:
            if char == "\\":
                i += 2
                continue
            if body.startswith(string, i):
                i += len(string)
                string = None
                continue
            i += 1
            continue
        if char == "#":
            code_end = i
            break
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif char in "'\"":
            string = char * 3 if body.startswith(char * 3, i) else char
            i += len(string)
            continue
        i += 1
    continued = code_end == n and body.endswith("\\")
    if string is not None and len(string) == 1 and not continued:
        string = None  # an unterminated one-line string is a syntax error; do not carry it on
    return depth, string, continued, code_end


def _is_magic(body: str) -> bool:
    """IPython-only syntax at the start of a statement (never valid Python there)."""
    stripped = body.lstrip()
    if not stripped:
        return False
    if stripped[0] in "%!?":
        return True
    if _ASSIGNED_MAGIC.match(stripped):
        return True
    _, string, _, code_end = _scan(body, 0, None)
    return string is None and body[:code_end].rstrip().endswith("?")


def _mask(source: str, magics: list[tuple[str, str]]) -> str:
    out: list[str] = []
    depth, string, continued, masking, indent = 0, None, False, False, ""
    for line in _split_lines(source):
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        if masking or (depth == 0 and string is None and not continued and _is_magic(body)):
            if not masking:  # a continuation line keeps the indentation of the magic it continues
                indent = body[: len(body) - len(body.lstrip())]
            out.append(indent + _PLACEHOLDER.format(index=len(magics)) + ending)
            magics.append((body, indent))
            masking = body.rstrip().endswith("\\")  # a magic continued on the next line
            continue
        depth, string, continued, _ = _scan(body, depth, string)
        out.append(line)
    return "".join(out)


def _is_cell_magic(source: str) -> bool:
    for line in source.splitlines():
        if line.strip():
            return line.lstrip().startswith("%%")
    return False


def _join(cells: Sequence[Any]) -> _Module:
    """One module from the code cells, with a marker line between cells."""
    module = _Module("")
    parts: list[str] = []
    row = 1
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if not isinstance(source, str):
            source = "".join(source)
        if _is_cell_magic(source):
            continue
        if module.cells:
            parts.append(_MARKER.format(number=index + 1) + "\n")
            row += 1
        masked = _mask(source, module.magics)
        ends_with_newline = masked.endswith("\n")
        if masked and not ends_with_newline:
            masked += "\n"
        rows = masked.count("\n")
        module.cells.append(_Cell(index, row, rows, masked, ends_with_newline))
        parts.append(masked)
        row += rows
    module.text = "".join(parts)
    return module


# ---------------------------------------------------------------------------- splitting back
def _split(module: _Module, new_text: str) -> list[str]:
    """The fixed module's text per cell (still masked); raises _CellsMoved."""
    chunks: list[list[str]] = [[]]
    numbers: list[int] = []
    for line in _split_lines(new_text):
        match = _MARKER_LINE.match(line.rstrip("\r\n"))
        if match:
            if line[0] in " \t":
                raise _CellsMoved("a fix moved a cell boundary into a block")
            numbers.append(int(match.group(1)))
            chunks.append([])
        else:
            chunks[-1].append(line)
    if numbers != [cell.number for cell in module.cells[1:]]:
        raise _CellsMoved("a fix removed or reordered a cell boundary")
    placeholders = sorted(int(m.group(2)) for m in map(_PLACEHOLDER_LINE.match, new_text.split("\n")) if m)
    if placeholders != list(range(len(module.magics))):
        raise _CellsMoved("a fix removed or duplicated an IPython magic line")
    return ["".join(chunk) for chunk in chunks]


def _keeps_cells(module: _Module) -> Callable[[str], bool]:
    """The engine's ``accept_fix``: refuse a fix that would move code across cells (MEM001 wrapping
    the rest of a script in ``with torch.no_grad():`` would swallow the following cells)."""

    def accept(new_text: str) -> bool:
        try:
            _split(module, new_text)
        except _CellsMoved:
            return False
        return True

    return accept


def _move_added_imports(module: _Module, texts: list[str]) -> list[str]:
    """AddImportsVisitor puts a new ``import x`` after the module's last leading import, which
    may be in a later cell, or at the very top, above a leading ``!pip install``; put such lines
    after the first code cell's imports instead."""
    moved: list[str] = []
    texts = list(texts)
    for position in range(len(texts)):
        old = _split_lines(module.cells[position].masked)
        new = _split_lines(texts[position])
        kept: list[str] = []
        matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag not in ("insert", "replace"):
                kept.extend(new[j1:j2])
                continue
            before = set(old[i1:i2])
            after_import = False
            for line in new[j1:j2]:
                if line not in before and _ADDED_IMPORT.match(line.rstrip("\r\n")):
                    moved.append(line)
                    after_import = True
                elif after_import and not line.strip():
                    continue  # the blank line AddImportsVisitor puts after its import
                else:
                    after_import = False
                    kept.append(line)
        texts[position] = "".join(kept)
    if moved:
        texts[0] = _insert_imports(texts[0], moved)
    return texts


def _insert_imports(text: str, imports: list[str]) -> str:
    """Put import lines after the leading imports of a cell (or at its top)."""
    lines = _split_lines(text)
    insert_at = 0
    depth, string, continued = 0, None, False
    in_import = False
    for number, line in enumerate(lines):
        body = line.rstrip("\r\n")
        starts_statement = depth == 0 and string is None and not continued
        if starts_statement:
            stripped = body.strip()
            if body.startswith(("import ", "from ")):
                in_import = True
            elif not stripped or stripped.startswith("#") or _PLACEHOLDER_LINE.match(body):
                in_import = False  # blank lines, comments and magics (`!pip install`) may come first
            else:
                break
        depth, string, continued, _ = _scan(body, depth, string)
        if in_import and depth == 0 and string is None and not continued:
            insert_at = number + 1
            in_import = False
    if insert_at and not lines[insert_at - 1].endswith("\n"):
        lines[insert_at - 1] += "\n"
    imports = [line if line.endswith("\n") else line + "\n" for line in imports]
    return "".join(lines[:insert_at] + imports + lines[insert_at:])


def _unmask(text: str, magics: list[tuple[str, str]]) -> str:
    out = []
    for line in _split_lines(text):
        body = line.rstrip("\r\n")
        match = _PLACEHOLDER_LINE.match(body)
        if match:
            original, indent = magics[int(match.group(2))]
            line = _reindent(original, indent, match.group(1)) + line[len(body):]
        out.append(line)
    return "".join(out)


def _reindent(line: str, old_indent: str, new_indent: str) -> str:
    """Shift a restored magic line as a fix shifted its placeholder (``with`` wrapping adds a level)."""
    if new_indent == old_indent:
        return line
    if new_indent.startswith(old_indent):
        return new_indent[len(old_indent):] + line
    if old_indent.startswith(new_indent) and line.startswith(old_indent[len(new_indent):]):
        return line[len(old_indent) - len(new_indent):]
    return new_indent + line.lstrip()


def _fixed_sources(module: _Module, new_text: str) -> dict[int, str]:
    """Cell index -> new source, for the cells a fix changed."""
    texts = _move_added_imports(module, _split(module, new_text))
    changed: dict[int, str] = {}
    for cell, text in zip(module.cells, texts):
        if text == cell.masked:
            continue
        source = _trim_added_blank_lines(cell.masked, _unmask(text, module.magics))
        if not cell.ends_with_newline and source.endswith("\n"):
            source = source[:-1]
        changed[cell.index] = source
    return changed


# ---------------------------------------------------------------------------- the front end
def _is_python(nb: Any) -> bool:
    metadata = nb.get("metadata", {}) or {}
    for language in (
        (metadata.get("kernelspec") or {}).get("language"),
        (metadata.get("language_info") or {}).get("name"),
    ):
        if isinstance(language, str) and language and not language.lower().startswith(("python", "ipython")):
            return False
    return True


def _read_notebook(source: SourceFile) -> Any:
    import nbformat

    notebook = nbformat.reader.reads(source.text)
    if notebook.get("nbformat") != 4:
        notebook = nbformat.convert(notebook, 4)
    if not isinstance(notebook.get("cells"), list):
        raise ValueError("no list of cells")
    return notebook


def _write_notebook(notebook: Any, original: str) -> str:
    from nbformat import v4

    text = v4.writes(notebook)
    return text + "\n" if original.endswith("\n") and not text.endswith("\n") else text


def _to_cell_finding(module: _Module, finding: Finding) -> Finding:
    cell, row = module.locate(finding.row)
    end_row = finding.end_row - cell.start_row + 1
    fix = finding.fix
    if fix is not None and fix.edits:
        edits = []
        for edit in fix.edits:
            edit_cell, edit_row = module.locate(edit.row)
            content = _unmask(edit.content, module.magics)
            edits.append(Edit(content, edit_row, edit.column, edit.end_row - edit_cell.start_row + 1, edit.end_column))
        fix = replace(fix, edits=tuple(edits))
    return replace(finding, row=row, end_row=end_row, cell=cell.number, fix=fix)


def _blame_cell(module: _Module, exc: ParseFailure) -> tuple[_Cell | None, ParseFailure]:
    """The first cell that does not parse on its own, else the cell of the error's row; with the
    error's position within that cell."""
    for cell in module.cells:
        try:
            parse(cell.masked)
        except ParseFailure as own:
            try:  # Python's own message and position are usually the clearer ones
                compile(cell.masked, "<notebook cell>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
            except SyntaxError as error:
                return cell, ParseFailure(error.msg, error.lineno, error.offset)
            except (ValueError, RecursionError, MemoryError):
                pass
            return cell, own
    if exc.row is not None and module.cells:
        cell, row = module.locate(exc.row)
        return cell, ParseFailure(exc.message, row, exc.column)
    return None, exc


def _parse_problem(filename: str, module: _Module, exc: ParseFailure) -> Problem:
    cell, failure = _blame_cell(module, exc)
    where = filename if cell is None else f"{filename}:cell {cell.number}"
    return Problem(where, f"cannot parse: {failure.message}", failure.row, failure.column)


def _trim_added_blank_lines(old: str, new: str) -> str:
    """A fix may leave blank lines at the end of a cell (an import block's spacing); keep the old count."""
    def trailing(text: str) -> int:
        return len(text) - len(text.rstrip("\n"))

    excess = trailing(new) - max(trailing(old), 1)
    return new[: len(new) - excess] if excess > 0 and new.strip() else new


def _diff_lines(source: str) -> list[str]:
    lines = _split_lines(source)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def _cell_diff(filename: str, module: _Module, notebook: Any, changed: dict[int, str]) -> str:
    parts = []
    for index, new_source in sorted(changed.items()):
        name = f"{filename}:cell {index + 1}"
        old_source = notebook.cells[index].source
        old, new = _diff_lines(old_source), _diff_lines(new_source)
        parts.append("".join(difflib.unified_diff(old, new, fromfile=name, tofile=name)))
    return "".join(parts)


def check_notebook(
    path: Path, settings: Settings, rules: Sequence[type[Rule]], mode: FixMode, with_edits: bool = False
) -> FileOutcome:
    filename = str(path)
    outcome = FileOutcome(filename)
    try:
        source = read_source(path)
    except SourceError as exc:
        outcome.problems.append(Problem(filename, str(exc)))
        return outcome
    try:
        notebook = _read_notebook(source)
    except ImportError:
        outcome.problems.append(Problem(filename, "checking notebooks needs nbformat: pip install 'memlint-ml[notebook]'"))
        return outcome
    except Exception as exc:  # nbformat raises NotJSONError, ValidationError, KeyError, ...
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        outcome.problems.append(Problem(filename, f"not a readable notebook: {detail}"))
        return outcome
    if not _is_python(notebook):
        return outcome
    module = _join(notebook.cells)
    try:
        if mode.fixing:
            _fix(filename, source, notebook, module, settings, rules, mode, outcome)
            module = _join(notebook.cells) if outcome.fixed and not mode.diff else module
        findings = lint_text(
            module.text, filename, rules, settings.options, with_edits=with_edits, accept_fix=_keeps_cells(module)
        )
        outcome.findings = [_to_cell_finding(module, f) for f in findings]
    except ParseFailure as exc:
        outcome.problems.append(_parse_problem(filename, module, exc))
    return outcome


def _fix(
    filename: str,
    source: SourceFile,
    notebook: Any,
    module: _Module,
    settings: Settings,
    rules: Sequence[type[Rule]],
    mode: FixMode,
    outcome: FileOutcome,
) -> None:
    try:
        new_text, fixed = fix_text(
            module.text, filename, rules, settings.options, unsafe=mode.unsafe, accept_fix=_keeps_cells(module)
        )
    except FixFailure as exc:
        outcome.problems.append(Problem(filename, str(exc)))
        return
    if new_text == module.text:
        return
    try:
        changed = _fixed_sources(module, new_text)
    except _CellsMoved as exc:
        outcome.problems.append(Problem(filename, f"fixes not applied: {exc}; notebook left unchanged"))
        return
    if not changed:
        return
    if mode.diff:
        outcome.diff = _cell_diff(filename, module, notebook, changed)
        outcome.fixed = fixed
        return
    originals = {index: notebook.cells[index].source for index in changed}
    for index, new_source in changed.items():
        notebook.cells[index].source = new_source
    try:
        atomic_write(source, _write_notebook(notebook, source.text))
    except SourceError as exc:
        outcome.problems.append(Problem(filename, str(exc)))
        for index, old_source in originals.items():  # the notebook on disk is unchanged
            notebook.cells[index].source = old_source
        return
    outcome.fixed = Counter(fixed)


# ---------------------------------------------------------------------------- cells held in memory
class JoinedCells:
    """Notebook cells that live in an editor rather than in a file (``memlint server``).

    ``cells`` are nbformat-shaped mappings (``cell_type``, ``source``) in notebook order, markdown
    cells included, so cell numbers count every cell as ``memlint check`` does. The caller lints
    ``text`` with ``accept_fix`` and maps what it gets back with the methods below.
    """

    def __init__(self, cells: Sequence[Any]) -> None:
        self._module = _join(cells)
        self.text = self._module.text
        self.accept_fix = _keeps_cells(self._module)

    def to_cell(self, finding: Finding) -> Finding:
        """A module finding with its cell number and rows within that cell (fix edits dropped)."""
        return _to_cell_finding(self._module, replace(finding, fix=finding.fix and replace(finding.fix, edits=())))

    def changed_cells(self, fixed_text: str) -> dict[int, str]:
        """Cell index -> new source for a fixed module text; raises ValueError when a fix moved
        code across cells."""
        try:
            return _fixed_sources(self._module, fixed_text)
        except _CellsMoved as exc:
            raise ValueError(str(exc)) from None

    def blame(self, exc: ParseFailure) -> tuple[int | None, ParseFailure]:
        """Which cell (0-based index) a parse failure belongs to, with the position in that cell."""
        cell, failure = _blame_cell(self._module, exc)
        return (None if cell is None else cell.index), failure
