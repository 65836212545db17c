"""Jupyter notebooks: the code cells are checked as one module, as the kernel runs them.

The code cells are joined in order (an evaluation loop in cell 7 sees the model built in
cell 3), with a marker comment between cells so that a fixed module can be split back.
IPython syntax is never parsed: a line magic, shell escape or help line (``%time f()``,
``!pip install``, ``x = !ls``, ``obj?``, and automagics such as ``cd data`` or ``pip install x``)
becomes a ``pass`` placeholder with the same indentation, so rows stay where they were, and a
cell that starts with a ``%%`` cell magic is left out altogether. A cell indented as a whole is
read as IPython reads it: the first line's indentation is removed from every line. Findings carry the 1-based cell number (counting every cell, as
Jupyter and ruff do) and rows and columns within that cell.

Notebooks are read as JSON when nbformat is not installed; ``--fix`` writes the changed cells back
through nbformat (without it, fixes are not written and a note says why), with the file's line endings;
outputs, metadata and all other cells stay as they were. Imports a fix adds go to the first
code cell. A notebook in an older format (nbformat 3) is checked, never rewritten.
"""

from __future__ import annotations

import ast
import bisect
import difflib
import json
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from memlint.cache import content_hash
from memlint.checker import FileOutcome, FixMode, Problem, check_target_grammar, prepared_for_engine
from memlint.config import Settings
from memlint.engine import Edit, FixFailure, Finding, fix_text, lint_text
from memlint.parsing import NotRestorable, ParseFailure, Prepared, parse, target_of
from memlint.rule import Rule
from memlint.source import SourceError, SourceFile, atomic_write, line_opcodes, read_source

_MARKER = "# memlint:cell-boundary {number}"
_MARKER_LINE = re.compile(r"^[ \t]*# memlint:cell-boundary (\d+)[ \t]*$")
_PLACEHOLDER = "pass  # memlint:magic {index}"
_PLACEHOLDER_LINE = re.compile(r"^([ \t]*)pass  # memlint:magic (\d+)[ \t]*$")
# `files = !ls`, `t = %timeit -o f()`: IPython's assignment forms.
_ASSIGNED_MAGIC = re.compile(r"[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[%!]")
_ADDED_IMPORT = re.compile(r"^import ([A-Za-z_][\w.]*)[ \t]*$")
# Line magics and shell aliases IPython runs without `%` or `!` (automagic), e.g. `cd data`.
_AUTOMAGICS = frozenset(
    "alias autoawait autocall automagic bookmark cat cd clear colors conda config cp debug dhist dirs "
    "doctest_mode edit env gui history killbgscripts less load load_ext loadpy logoff logon logstart "
    "logstate logstop ls lsmagic macro magic man matplotlib mkdir more mv notebook page pastebin pdb "
    "pdef pdoc pfile pinfo pinfo2 pip popd pprint precision prun psearch psource pushd pwd pycat pylab "
    "quickref recall rehashx reload_ext rep rerun reset reset_selective rm rmdir run save sc set_env sx "
    "system tb time timeit unalias unload_ext who who_ls whos xdel xmode".split()
)
_AUTOMAGIC_LINE = re.compile(r"([A-Za-z_]\w*)[ \t]+(?![ \t]*=(?!=))\S")


class _CellsMoved(Exception):
    """A fix changed the module in a way that cannot be split back into the same cells."""


class _BadCell(Exception):
    """A code cell whose source is neither text nor a list of text."""


@dataclass(frozen=True)
class _Cell:
    index: int  # position in the notebook's cell list
    start_row: int  # 1-based row of the cell's first line in the joined module
    rows: int
    masked: str  # the cell's source with IPython syntax replaced by placeholders
    ends_with_newline: bool
    indent: str = ""  # the cell-wide indentation IPython removes (from the rows in `dedented`)
    dedented: frozenset[int] = frozenset()  # 1-based rows within the cell

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
    automagic = _AUTOMAGIC_LINE.match(stripped)
    if automagic and automagic.group(1) in _AUTOMAGICS and not _compiles_alone(stripped):
        return True
    _, string, _, code_end = _scan(body, 0, None)
    return string is None and body[:code_end].rstrip().endswith("?")


def _compiles_alone(line: str) -> bool:
    try:
        compile(line, "<cell line>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


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
        source = _cell_source(cell, index)
        if _is_cell_magic(source):
            continue
        if module.cells:
            parts.append(_MARKER.format(number=index + 1) + "\n")
            row += 1
        indent, dedented, source = _dedent(source)
        masked = _mask(source, module.magics)
        ends_with_newline = masked.endswith("\n")
        if masked and not ends_with_newline:
            masked += "\n"
        rows = masked.count("\n")
        module.cells.append(_Cell(index, row, rows, masked, ends_with_newline, indent, dedented))
        parts.append(masked)
        row += rows
    module.text = "".join(parts)
    return module


def _cell_source(cell: Any, index: int) -> str:
    """A cell's source as text: nbformat allows a string or a list of strings; null is read as empty."""
    source = cell.get("source")
    if source is None:
        return ""
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        return "".join(source)
    raise _BadCell(f"cell {index + 1}: source is {type(source).__name__}, not text")


def _code_sources(cells: Sequence[Any]) -> list[str]:
    """Every cell's source as text, by cell index ("" for cells that are not code)."""
    return [_cell_source(cell, index) if cell.get("cell_type") == "code" else "" for index, cell in enumerate(cells)]


def _dedent(source: str) -> tuple[str, frozenset[int], str]:
    """IPython's reading of a cell indented as a whole: the first non-blank line's indentation
    comes off every line that starts with it. Returns (indent, rows it came off, new source)."""
    lines = _split_lines(source)
    first = next((line for line in lines if line.strip()), "")
    indent = first[: len(first) - len(first.lstrip(" \t"))]
    if not indent:
        return "", frozenset(), source
    rows = frozenset(number for number, line in enumerate(lines, start=1) if line.startswith(indent))
    return indent, rows, "".join(line[len(indent):] if line.startswith(indent) else line for line in lines)


def _indent_cell(original: str, old: str, new: str, indent: str) -> str:
    """A fixed, dedented cell in the cell's own indentation: unchanged lines as they were, the
    lines a fix wrote with the indentation IPython removes put back."""
    if not indent:
        return new
    original_lines, old_lines, new_lines = _split_lines(original), _split_lines(old), _split_lines(new)
    out: list[str] = []
    for tag, i1, i2, j1, j2 in line_opcodes(old_lines, new_lines):
        if tag == "equal":
            out.extend(original_lines[i1:i2])
        else:
            out.extend(indent + line if line.strip() else line for line in new_lines[j1:j2])
    return "".join(out)


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
        for tag, i1, i2, j1, j2 in line_opcodes(old, new):
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


def _fixed_sources(module: _Module, new_text: str, originals: Sequence[str]) -> dict[int, str]:
    """Cell index -> new source, for the cells a fix changed (``originals``: every cell's source)."""
    texts = _move_added_imports(module, _split(module, new_text))
    changed: dict[int, str] = {}
    for cell, text in zip(module.cells, texts):
        if text == cell.masked:
            continue
        source = _trim_added_blank_lines(cell.masked, _unmask(text, module.magics))
        if not cell.ends_with_newline and source.endswith("\n"):
            source = source[:-1]
        old = _unmask(cell.masked, module.magics)
        if not cell.ends_with_newline and old.endswith("\n"):
            old = old[:-1]
        changed[cell.index] = _indent_cell(originals[cell.index], old, source, cell.indent)
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


def _read_notebook(source: SourceFile) -> tuple[Any, Any]:
    """The notebook as nbformat 4, and the format version the file is written in. Read with
    nbformat when it is installed, else as the JSON it is (nbformat 4, or 3 by its worksheets)."""
    try:
        import nbformat
    except ImportError:
        notebook, version = _read_json_notebook(source.text)
    else:
        notebook = nbformat.reader.reads(source.text)
        version = notebook.get("nbformat")
        if version != 4:
            notebook = nbformat.convert(notebook, 4)
    if not isinstance(notebook.get("cells"), list):
        raise ValueError("no list of cells")
    return notebook, version


class _Node(dict):  # type: ignore[type-arg]
    """A JSON object read with attribute access, as nbformat's nodes allow (``notebook.cells``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _read_json_notebook(text: str) -> tuple[Any, Any]:
    try:
        data = json.loads(text, object_hook=_Node)
    except ValueError as exc:
        raise ValueError(f"Notebook does not appear to be JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("Notebook does not appear to be JSON: not an object")
    version = data.get("nbformat")
    if version == 3:  # cells live in worksheets; a code cell's text is its "input"
        cells = []
        for sheet in data.get("worksheets") or []:
            for cell in (sheet or {}).get("cells") or []:
                if not isinstance(cell, dict):
                    raise ValueError("a cell is not an object")
                kind = cell.get("cell_type")
                text_key = "input" if kind == "code" else "source"
                cells.append(_Node(cell_type=kind if kind in ("code", "raw") else "markdown", source=cell.get(text_key)))
        data = _Node(data, cells=cells, metadata=data.get("metadata") or _Node())
    elif version != 4:
        raise ValueError(f"unsupported nbformat version {version!r}")
    return data, version


def _can_write() -> bool:
    try:
        import nbformat  # noqa: F401
    except ImportError:
        return False
    return True


def _write_notebook(notebook: Any, original: str) -> str:
    """nbformat 4 JSON with the original's line endings and final newline."""
    from nbformat import v4

    text = v4.writes(notebook)
    text = text + "\n" if original.endswith("\n") and not text.endswith("\n") else text
    return text.replace("\n", "\r\n") if "\r\n" in original else text


def _to_cell_finding(module: _Module, finding: Finding) -> Finding:
    cell, row = module.locate(finding.row)
    end_row = finding.end_row - cell.start_row + 1
    fix = finding.fix
    if fix is not None and fix.edits:
        edits = []
        for edit in fix.edits:
            edit_cell, edit_row = module.locate(edit.row)
            content = _unmask(edit.content, module.magics)
            if edit_cell.indent:
                content = "".join(edit_cell.indent + line if line.strip() else line for line in _split_lines(content))
            edits.append(Edit(content, edit_row, edit.column, edit.end_row - edit_cell.start_row + 1, edit.end_column))
        fix = replace(fix, edits=tuple(edits))
    shift = len(cell.indent)
    column = finding.column + (shift if row in cell.dedented else 0)
    end_column = finding.end_column + (shift if end_row in cell.dedented else 0)
    return replace(finding, row=row, end_row=end_row, column=column, end_column=end_column, cell=cell.number, fix=fix)


def _blame_cell(
    module: _Module, exc: ParseFailure, target: tuple[int, int] | None = None
) -> tuple[_Cell | None, ParseFailure]:
    """The first cell that does not parse on its own, else the cell of the error's row; with the
    error's position within that cell. libcst's limits belong to the whole module: the row's cell."""
    if exc.kind not in ("libcst", "limit"):
        for cell in module.cells:
            try:
                parse(cell.masked, target)
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
        return cell, ParseFailure(exc.message, row, exc.column, exc.kind)
    return None, exc


def _parse_problem(filename: str, module: _Module, exc: ParseFailure, settings: Settings) -> Problem:
    cell, failure = _blame_cell(module, exc, target_of(settings.engine_options()))
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


def _cell_diff(filename: str, module: _Module, originals: Sequence[str], changed: dict[int, str]) -> str:
    parts = []
    for index, new_source in sorted(changed.items()):
        name = f"{filename}:cell {index + 1}"
        old_source = originals[index]
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
    outcome.digest = content_hash(source.raw)
    try:
        notebook, version = _read_notebook(source)
    except Exception as exc:  # nbformat raises NotJSONError, ValidationError, KeyError, ...
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        outcome.problems.append(Problem(filename, f"not a readable notebook: {detail}"))
        return outcome
    if not _is_python(notebook):
        return outcome
    try:
        module = _join(notebook.cells)
    except _BadCell as exc:
        outcome.problems.append(Problem(filename, f"not a readable notebook: {exc}"))
        return outcome
    options = settings.engine_options()
    try:
        if mode.fixing and not _can_write():
            outcome.notes.append(
                f"{filename}: fixes are not written: writing notebooks needs nbformat "
                "(pip install 'memlint-ml[notebook]')"
            )
        elif mode.fixing and version != 4:
            outcome.notes.append(
                f"{filename}: nbformat {version} notebook: fixes are not written (memlint writes nbformat 4 "
                "only); convert it with `jupyter nbconvert --to notebook --inplace`"
            )
        elif mode.fixing:
            _fix(filename, source, notebook, module, settings, rules, mode, outcome)
            module = _join(notebook.cells) if outcome.fixed and not mode.diff else module
        prepared, findings = prepared_for_engine(
            module.text, settings, _lint, filename, rules, options, with_edits, _keeps_cells(module)
        )
        if prepared.note:
            outcome.notes.append(f"{filename}: {prepared.note}")
        outcome.findings = [_to_cell_finding(module, prepared.map_finding(f)) for f in findings]
    except ParseFailure as exc:
        outcome.problems.append(_parse_problem(filename, module, exc, settings))
    return outcome


def _lint(
    prepared: Prepared,
    filename: str,
    rules: Sequence[type[Rule]],
    options: Any,
    with_edits: bool,
    accept_fix: Callable[[str], bool],
) -> list[Finding]:
    return lint_text(
        prepared.text, filename, rules, options, with_edits=with_edits and prepared.fixable, accept_fix=accept_fix
    )


def _fix_text(
    prepared: Prepared, filename: str, rules: Sequence[type[Rule]], options: Any, unsafe: bool, module: _Module
) -> tuple[str, Counter]:
    if not prepared.fixable:
        return prepared.original, Counter()
    new_text, fixed = fix_text(prepared.text, filename, rules, options, unsafe=unsafe, accept_fix=_keeps_cells(module))
    return (prepared.restore(new_text), fixed) if new_text != prepared.text else (prepared.original, fixed)


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
        _, (new_text, fixed) = prepared_for_engine(
            module.text, settings, _fix_text, filename, rules, settings.engine_options(), mode.unsafe, module
        )
        if new_text != module.text:
            check_target_grammar(new_text, settings, list(fixed))
    except FixFailure as exc:
        outcome.problems.append(Problem(filename, str(exc)))
        return
    except NotRestorable as exc:
        outcome.notes.append(f"{filename}: fixes not applied: {exc}")
        return
    if new_text == module.text:
        return
    originals = _code_sources(notebook.cells)
    try:
        changed = _fixed_sources(module, new_text, originals)
    except _CellsMoved as exc:
        outcome.problems.append(Problem(filename, f"fixes not applied: {exc}; notebook left unchanged"))
        return
    if not changed:
        return
    if mode.diff:
        outcome.diff = _cell_diff(filename, module, originals, changed)
        outcome.fixed = fixed
        return
    before = {index: notebook.cells[index].source for index in changed}
    for index, new_source in changed.items():
        notebook.cells[index].source = new_source
    try:
        atomic_write(source, _write_notebook(notebook, source.text))
    except SourceError as exc:
        outcome.problems.append(Problem(filename, str(exc)))
        for index, old_source in before.items():  # the notebook on disk is unchanged
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
        try:
            self._module = _join(cells)
        except _BadCell as exc:
            raise ValueError(str(exc)) from None
        self._originals = _code_sources(cells)
        self.text = self._module.text
        self.accept_fix = _keeps_cells(self._module)

    def to_cell(self, finding: Finding) -> Finding:
        """A module finding with its cell number and rows within that cell (fix edits dropped)."""
        return _to_cell_finding(self._module, replace(finding, fix=finding.fix and replace(finding.fix, edits=())))

    def changed_cells(self, fixed_text: str) -> dict[int, str]:
        """Cell index -> new source for a fixed module text; raises ValueError when a fix moved
        code across cells."""
        try:
            return _fixed_sources(self._module, fixed_text, self._originals)
        except _CellsMoved as exc:
            raise ValueError(str(exc)) from None

    def blame(self, exc: ParseFailure) -> tuple[int | None, ParseFailure]:
        """Which cell (0-based index) a parse failure belongs to, with the position in that cell."""
        cell, failure = _blame_cell(self._module, exc)
        return (None if cell is None else cell.index), failure
