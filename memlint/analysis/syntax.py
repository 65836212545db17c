"""CPython's own parse of a file, positions in code points, parent links and an iterative walk.

Rules read ``ast`` trees: CPython's parser is about ten times faster than libcst's, accepts exactly
what the interpreter accepts, and is the tree flake8 already hands its plugins. libcst is used only
to write fixes (``memlint/fixes.py``), so a lint run never imports it.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import io
import re
import tokenize
from typing import Callable, Iterator

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# ``x.cuda(async=True)`` was valid before Python 3.7; ``async`` became a keyword. Such files are
# read with the name spelled ``_sync`` (same length, so every position stays where it was).
LEGACY_ASYNC_STANDIN = "_sync"


class ParseFailure(Exception):
    """The source is not Python memlint can read; carries a 1-based row and column.

    ``kind``: "syntax" (Python refuses it), "legacy" (valid only in Python 3.6's grammar),
    "libcst" (Python accepts it, libcst cannot read it to write a fix), "limit" (too deeply nested).
    """

    def __init__(self, message: str, row: int | None = None, column: int | None = None, kind: str = "syntax") -> None:
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column
        self.kind = kind


def parse_python(text: str, filename: str = "<unknown>") -> ast.Module:
    """CPython's verdict on ``text``; raises ParseFailure with its message and position."""
    try:
        return ast.parse(text, filename)
    except SyntaxError as exc:
        message = str(exc.msg)
        if "too many nested" in message or "too complex" in message:
            raise ParseFailure("too deeply nested to analyse", exc.lineno, exc.offset, "limit") from None
        raise ParseFailure(message, exc.lineno, exc.offset) from None
    except (RecursionError, MemoryError):
        raise ParseFailure("too deeply nested to analyse", kind="limit") from None
    except ValueError as exc:  # null bytes
        raise ParseFailure(str(exc)) from None


def legacy_async_text(text: str) -> str | None:
    """``text`` with ``async`` used as a name (``cuda(async=True)``, Python < 3.7) renamed, or None.

    Returns None when there is no such use. Only NAME tokens followed by ``=`` inside brackets, or
    preceded by ``.``, are renamed: real ``async def`` / ``async for`` / ``async with`` are kept.
    """
    if "async" not in text:
        return None
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]
    spans: list[int] = []
    depth = 0
    for index, token in enumerate(tokens):
        if token.type == tokenize.OP:
            if token.string in "([{":
                depth += 1
            elif token.string in ")]}":
                depth -= 1
        if token.type != tokenize.NAME or token.string != "async":
            continue
        after = tokens[index + 1] if index + 1 < len(tokens) else None
        before = tokens[index - 1] if index else None
        as_keyword_arg = depth > 0 and after is not None and after.string == "="
        as_attribute = before is not None and before.string == "."
        if as_keyword_arg or as_attribute:
            row, col = token.start
            spans.append(starts[row - 1] + col)
    if not spans:
        return None
    pieces = []
    last = 0
    for offset in spans:
        pieces.append(text[last:offset])
        pieces.append(LEGACY_ASYNC_STANDIN)
        last = offset + len("async")
    pieces.append(text[last:])
    return "".join(pieces)


class SourceLines:
    """Python's own line numbering of a text (rows split at CR, LF and CRLF only, never at form
    feeds or U+2028), and the conversion of ``ast``'s UTF-8 byte columns to code points."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]

    def line(self, row: int) -> str:
        """Row ``row`` (1-based) without its line ending."""
        if row < 1 or row > len(self.starts):
            return ""
        start = self.starts[row - 1]
        end = self.starts[row] if row < len(self.starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n")

    def column(self, row: int, byte_offset: int) -> int:
        """0-based code-point column of a UTF-8 byte offset on ``row``."""
        line = self.line(row)
        if line.isascii():
            return byte_offset
        return len(line.encode("utf-8")[:byte_offset].decode("utf-8", errors="replace"))

    def span(self, node: ast.AST) -> tuple[int, int, int, int]:
        """1-based (row, column, end row, end column) of a node; end column exclusive."""
        row = node.lineno  # type: ignore[attr-defined]
        end_row = getattr(node, "end_lineno", None) or row
        end_col = getattr(node, "end_col_offset", None)
        column = self.column(row, node.col_offset) + 1  # type: ignore[attr-defined]
        end_column = self.column(end_row, end_col) + 1 if end_col is not None else column
        return row, column, end_row, end_column

    def rows_text(self, node: ast.AST) -> str:
        """The full rows a node spans (a cheap text gate before walking a big node)."""
        row = node.lineno  # type: ignore[attr-defined]
        end_row = getattr(node, "end_lineno", None) or row
        start = self.starts[row - 1] if row <= len(self.starts) else len(self.text)
        end = self.starts[end_row] if end_row < len(self.starts) else len(self.text)
        return self.text[start:end]

    def offset(self, row: int, column: int) -> int:
        """Character offset in the text of a 1-based row and 0-based code-point column."""
        return self.starts[row - 1] + column


def parent(node: ast.AST) -> ast.AST | None:
    """The node's parent, once ``link_parents`` (or the engine's walk) has run over its tree."""
    return getattr(node, "_ml_parent", None)


def ancestors(node: ast.AST) -> Iterator[ast.AST]:
    """Parents of ``node``, innermost first."""
    current = getattr(node, "_ml_parent", None)
    while current is not None:
        yield current
        current = getattr(current, "_ml_parent", None)


_FIELDS: dict[type, tuple[str, ...]] = {}
# Load/Store/Del and the operators are objects CPython's parser shares between all trees: they are
# not walked (no rule asks for them), so no parent link ever ties one tree to a shared object.
_SHARED_FIELDS = frozenset({"ctx", "op", "ops"})


# Fields that hold a name, a number or a string, never a node: not looked at when walking.
_SCALAR_FIELDS = frozenset({"type_comment", "kind", "conversion", "is_async", "simple", "level", "module", "asname", "tag"})
_SCALAR_FIELDS_OF = {
    ast.FunctionDef: {"name"}, ast.AsyncFunctionDef: {"name"}, ast.ClassDef: {"name"}, ast.ExceptHandler: {"name"},
    ast.MatchAs: {"name"}, ast.MatchStar: {"name"}, ast.MatchMapping: {"rest"}, ast.MatchClass: {"kwd_attrs"},
    ast.arg: {"arg"}, ast.keyword: {"arg"}, ast.Attribute: {"attr"},
}


def _node_fields(node_type: type) -> tuple[str, ...]:
    """The fields of a node type that can hold child nodes, in source order."""
    fields = _FIELDS.get(node_type)
    if fields is None:
        scalar = _SCALAR_FIELDS_OF.get(node_type, ())
        fields = _FIELDS[node_type] = tuple(
            f for f in node_type._fields if f not in _SHARED_FIELDS and f not in _SCALAR_FIELDS and f not in scalar
        )
    return fields


def children(node: ast.AST) -> list[ast.AST]:
    """Direct child nodes in source order (faster than ``ast.iter_child_nodes``)."""
    found: list[ast.AST] = []
    for name in _node_fields(type(node)):
        value = getattr(node, name, None)
        if value is None:
            continue
        if type(value) is list:
            for item in value:
                if isinstance(item, ast.AST):
                    found.append(item)
        elif isinstance(value, ast.AST):
            found.append(value)
    return found


def walk_tree(
    tree: ast.AST,
    on_visit: Callable[[ast.AST], None] | None = None,
    on_leave: Callable[[ast.AST], None] | None = None,
    leave_types: frozenset[type] | None = None,
) -> None:
    """Depth-first, source-ordered, iterative (deep expressions cannot overflow the stack).

    ``on_leave`` is called for nodes whose type is in ``leave_types`` (all nodes when None), after
    their children. Parent links are set on the way.
    """
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            on_leave(node)  # type: ignore[misc]
            continue
        if on_visit is not None:
            on_visit(node)
        if on_leave is not None and (leave_types is None or type(node) in leave_types):
            stack.append((node, True))
        kids = children(node)
        for child in kids:
            child._ml_parent = node  # type: ignore[attr-defined]
        stack.extend((child, False) for child in reversed(kids))


# Node types that never hold another node: a third of every tree (names and constants), skipped
# without looking at their fields.
_LEAVES = frozenset({ast.Name, ast.Constant, ast.alias, ast.Pass, ast.Break, ast.Continue, ast.Global, ast.Nonlocal})


def link_parents(tree: ast.AST) -> list[ast.AST]:
    """Set parent links on every node once; returns every node in source order (pre-order)."""
    nodes = getattr(tree, "_ml_nodes", None)
    if nodes is not None:
        return nodes
    nodes: list[ast.AST] = []
    stack = [tree]
    # children() inlined, with the parent link set on the way: this runs over every node of every file
    append, pop, extend, leaves, node_class = nodes.append, stack.pop, stack.extend, _LEAVES, ast.AST
    while stack:
        node = pop()
        append(node)
        node_type = type(node)
        if node_type in leaves:
            continue
        fields = _FIELDS.get(node_type) or _node_fields(node_type)
        kids = []
        for name in fields:
            value = getattr(node, name, None)
            if value is None:
                continue
            if type(value) is list:
                for item in value:
                    if isinstance(item, node_class):
                        item._ml_parent = node  # type: ignore[attr-defined]
                        kids.append(item)
            elif isinstance(value, node_class):
                value._ml_parent = node  # type: ignore[attr-defined]
                kids.append(value)
        if kids:
            kids.reverse()
            extend(kids)
    tree._ml_nodes = nodes  # type: ignore[attr-defined]
    return nodes


def unlink(tree: ast.AST) -> None:
    """Undo ``link_parents`` and the walks' parent links: a released tree holds no reference
    cycle, so reference counting frees it the moment the last user drops it (no cyclic GC pass)."""
    nodes = tree.__dict__.pop("_ml_nodes", None)
    if nodes is None:
        nodes = list(ast.walk(tree))
    for node in nodes:
        node.__dict__.pop("_ml_parent", None)


@contextlib.contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one file is parsed and analysed.

    A parse makes hundreds of thousands of objects at once, and each burst of allocation makes the
    collector rescan everything alive: about a third of a cold run went there. Every tree is
    ``unlink``ed once its file is done, so nothing it made needs the collector to be freed.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def iter_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes inside one function body (or module), in source order, nested scopes not entered.

    The children of ``node`` are visited; nested functions, classes and lambdas are yielded
    themselves but not entered (their decorators and defaults are, as they run in this scope).
    """
    stack: list[ast.AST] = list(reversed(children(node)))
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef)):
            outer = [*current.decorator_list, *current.args.defaults, *(d for d in current.args.kw_defaults if d)]
            stack.extend(reversed(outer))
            continue
        if isinstance(current, ast.ClassDef):
            stack.extend(reversed([*current.decorator_list, *current.bases, *(k.value for k in current.keywords)]))
            continue
        if isinstance(current, ast.Lambda):
            continue
        stack.extend(reversed(children(current)))


def dotted(expr: ast.AST | None) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return ".".join(reversed(parts))
    return None


def last_name(expr: ast.AST | None) -> str | None:
    """The last component of a callee: ``f`` for ``f``, ``g`` for ``a.b.g`` or ``x().g``."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def keyword(call: ast.Call, name: str) -> ast.keyword | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw
    return None


def self_attribute(expr: ast.AST | None) -> str | None:
    """``x`` for ``self.x``, else None."""
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self":
        return expr.attr
    return None


def string_parts(expr: ast.AST) -> list[str]:
    """Literal text inside an expression (strings, f-strings, joins, ``/`` and ``+`` of paths)."""
    return [n.value for n in ast.walk(expr) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def positional(call: ast.Call) -> list[ast.expr]:
    """Positional arguments that are not ``*args``."""
    return [a for a in call.args if not isinstance(a, ast.Starred)]


def is_constant(expr: ast.AST | None, value: object) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is value


def is_number_literal(expr: ast.AST | None) -> bool:
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        expr = expr.operand
    return isinstance(expr, ast.Constant) and type(expr.value) in (int, float)


def target_names(target: ast.AST) -> list[str]:
    """Names (and dotted ``self.x`` chains) an assignment target binds."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        names: list[str] = []
        for element in target.elts:
            names.extend(target_names(element))
        return names
    if isinstance(target, ast.Starred):
        return target_names(target.value)
    if isinstance(target, ast.Attribute):
        name = dotted(target)
        return [name] if name else []
    return []


def target_elements(target: ast.AST) -> list[ast.AST]:
    """The elements an assignment target unpacks to (one level), or the target itself."""
    return list(target.elts) if isinstance(target, (ast.Tuple, ast.List)) else [target]


def literal_loop_bound(loop: ast.AST) -> int | None:
    """How many times a loop runs when its source says so: ``for x in (a, b)``, ``for i in range(3)``;
    None otherwise (and for ``while`` loops)."""
    if not isinstance(loop, (ast.For, ast.AsyncFor)):
        return None
    source = loop.iter
    if isinstance(source, (ast.List, ast.Tuple, ast.Set)):
        return None if any(isinstance(e, ast.Starred) for e in source.elts) else len(source.elts)
    if (
        isinstance(source, ast.Call)
        and isinstance(source.func, ast.Name)
        and source.func.id == "range"
        and source.args
        and len(source.args) <= 2
        and all(isinstance(a, ast.Constant) and type(a.value) is int for a in source.args)
    ):
        values = [a.value for a in source.args]  # type: ignore[attr-defined]
        return max(0, values[-1] - (values[0] if len(values) == 2 else 0))
    return None


def function_params(func: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[str]:
    args = func.args
    return [a.arg for a in [*args.posonlyargs, *args.args]]


FunctionNode = (ast.FunctionDef, ast.AsyncFunctionDef)
LoopNode = (ast.For, ast.AsyncFor, ast.While)
ScopeNode = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def parenthesized(file, expr: ast.AST) -> bool:  # type: ignore[no-untyped-def]
    """Written inside its own parentheses: ``(a + b)`` (not the brackets of a call around it)."""
    lines = file.lines
    row, col, end_row, end_col = lines.span(expr)
    text = file.text
    start = lines.offset(row, col - 1)
    end = lines.offset(end_row, end_col - 1)
    before = text[:start].rstrip()
    after = text[end:].lstrip()
    if not (before.endswith("(") and after.startswith(")")):
        return False
    holder = getattr(expr, "_ml_parent", None)
    if isinstance(holder, ast.Call) and len(holder.args) + len(holder.keywords) == 1 and expr in holder.args:
        func_end = lines.offset(*_end_of(lines, holder.func))
        return len(before) - 1 != len(text[:func_end].rstrip()) or before[:-1].rstrip().endswith("(")
    return True


def _end_of(lines, node: ast.AST) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    _, _, end_row, end_col = lines.span(node)
    return end_row, end_col - 1
