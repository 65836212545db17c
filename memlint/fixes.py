"""Writing fixes: rules describe edits on ``ast`` nodes; this module carries them out with libcst,
which keeps every comment, blank line and bracket of the file as it was.

A libcst node is found for an ``ast`` node by its span (row and code-point column of start and
end, which the two parsers agree on) and its type. libcst is imported only here, only when a fix
is written or shown, so a plain lint run never pays for it.

The edit builders below (``append_method``, ``wrap_with``, ``add_decorator``, ``add_keyword``,
``insert_before``, ``replace_code``) are what rule modules use; each returns ``NodeEdit`` objects.
"""

from __future__ import annotations

import ast
from typing import Any, Callable, Iterable, Sequence

from memlint.analysis.syntax import ParseFailure, SourceLines
from memlint.rule import Fix, NodeEdit

# ast node type -> libcst node type names that stand for it.
_CST_TYPES: dict[str, tuple[str, ...]] = {
    "Name": ("Name",),
    "Attribute": ("Attribute",),
    "Call": ("Call",),
    "Subscript": ("Subscript",),
    "BinOp": ("BinaryOperation",),
    "UnaryOp": ("UnaryOperation",),
    "BoolOp": ("BooleanOperation",),
    "Compare": ("Comparison",),
    "Constant": ("Integer", "Float", "Imaginary", "SimpleString", "ConcatenatedString", "Name", "Ellipsis"),
    "Tuple": ("Tuple",),
    "List": ("List",),
    "Dict": ("Dict",),
    "Set": ("Set",),
    "IfExp": ("IfExp",),
    "Lambda": ("Lambda",),
    "JoinedStr": ("FormattedString", "ConcatenatedString"),
    "Await": ("Await",),
    "NamedExpr": ("NamedExpr",),
    "ListComp": ("ListComp",),
    "GeneratorExp": ("GeneratorExp",),
    "DictComp": ("DictComp",),
    "SetComp": ("SetComp",),
    "Starred": ("StarredElement",),
    "Expr": ("Expr",),
    "Assign": ("Assign",),
    "AugAssign": ("AugAssign",),
    "AnnAssign": ("AnnAssign",),
    "Return": ("Return",),
    "Delete": ("Del",),
    "Pass": ("Pass",),
    "Break": ("Break",),
    "Continue": ("Continue",),
    "Raise": ("Raise",),
    "Assert": ("Assert",),
    "Import": ("Import",),
    "ImportFrom": ("ImportFrom",),
    "Global": ("Global",),
    "Nonlocal": ("Nonlocal",),
    "For": ("For",),
    "AsyncFor": ("For",),
    "While": ("While",),
    "If": ("If",),
    "With": ("With",),
    "AsyncWith": ("With",),
    "Try": ("Try",),
    "TryStar": ("TryStar",),
    "FunctionDef": ("FunctionDef",),
    "AsyncFunctionDef": ("FunctionDef",),
    "ClassDef": ("ClassDef",),
    "Match": ("Match",),
}


class FixFailure(Exception):
    """Applying fixes produced code that does not parse or compile; nothing was written."""


class FixWriter:
    """A libcst parse of one text, with an index from spans to nodes, that applies fixes."""

    def __init__(self, text: str) -> None:
        import libcst as cst
        from libcst.metadata import MetadataWrapper, PositionProvider

        self.text = text
        self.lines = SourceLines(text)
        try:
            self.module = cst.parse_module(text)
        except Exception as exc:  # ParserSyntaxError, RecursionError, libcst's native errors
            # Python reads this file (the analysis did) but libcst cannot (mixed tabs): the
            # checker prepares an equivalent text and tries again (memlint/parsing.py)
            detail = str(getattr(exc, "message", "") or "").strip().splitlines()
            row = getattr(exc, "raw_line", None)
            column = getattr(exc, "raw_column", None)
            raise ParseFailure(
                "Python accepts this file but libcst, memlint's fix writer, cannot read it: "
                + (detail[0] if detail else type(exc).__name__),
                row,
                column + 1 if isinstance(column, int) else None,
                "libcst",
            ) from None
        positions = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        self.index: dict[tuple[int, int, int, int], list[Any]] = {}
        self.parents: dict[int, Any] = {}
        for node, pos in positions.items():
            key = (pos.start.line, pos.start.column, pos.end.line, pos.end.column)
            self.index.setdefault(key, []).append(node)
        for node in positions:
            for child in node.children:
                self.parents[id(child)] = node

    def find(self, target: ast.AST, statement: bool = False) -> Any:
        """The libcst node for ``target``; ``statement``: the whole statement holding it."""
        import libcst as cst

        row, col, end_row, end_col = self.lines.span(target)
        candidates = self.index.get((row, col - 1, end_row, end_col - 1), [])
        wanted = _CST_TYPES.get(type(target).__name__, ())
        node = next((n for n in candidates if type(n).__name__ in wanted), None)
        if node is None:
            raise FixFailure(f"cannot locate the code a fix rewrites (line {row})")
        if statement and isinstance(node, cst.BaseSmallStatement):
            node = self.parents.get(id(node), node)
        return node

    def apply(self, fixes: Sequence[Fix]) -> str:
        """The text with ``fixes`` applied (imports they need added)."""
        import libcst as cst

        replacements: dict[Any, Any] = {}
        imports: set[str] = set()
        for fix in fixes:
            for edit in fix.edits:
                node = self.find(edit.target, edit.statement)
                replacements[node] = edit.build(node, self.find)
            imports.update(fix.imports)

        class Replacer(cst.CSTTransformer):
            def on_leave(self, original_node: Any, updated_node: Any) -> Any:
                return replacements.get(original_node, updated_node)

        new_module = self.module.visit(Replacer()) if replacements else self.module
        if imports:
            from libcst.codemod import CodemodContext
            from libcst.codemod.visitors import AddImportsVisitor, ImportItem

            new_module = AddImportsVisitor(
                CodemodContext(), [ImportItem(name) for name in sorted(imports)]
            ).transform_module(new_module)
        return new_module.code


def fix_span(fix: Fix, lines: SourceLines) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The (start, end) spans a fix rewrites, for choosing fixes that do not overlap."""
    spans = []
    for edit in fix.edits:
        target = edit.target
        if edit.statement:
            holder = target
            while holder is not None and not isinstance(holder, ast.stmt):
                holder = getattr(holder, "_ml_parent", None)
            target = holder or target
        row, col, end_row, end_col = lines.span(target)
        if edit.statement:
            col, end_col = 0, 10**9  # whole lines
        spans.append(((row, col), (end_row, end_col)))
    return spans


# ============================================================================ edit builders
def append_method(expr: ast.AST, method: str) -> NodeEdit:
    """``x`` -> ``x.detach()``; ``out.cpu()`` -> ``out.detach().cpu()`` (detach before moving)."""

    def build(node: Any, lookup: Callable[..., Any]) -> Any:
        import libcst as cst

        def wrap(current: Any) -> Any:
            if (
                method == "detach"
                and isinstance(current, cst.Call)
                and isinstance(current.func, cst.Attribute)
                and current.func.attr.value in ("cpu", "to", "cuda")
            ):
                return current.with_changes(func=current.func.with_changes(value=wrap(current.func.value)))
            return cst.Call(func=cst.Attribute(value=current, attr=cst.Name(method)))

        return wrap(node)

    return NodeEdit(expr, build)


def wrap_with(statements: Sequence[ast.stmt], context_code: str) -> tuple[NodeEdit, ...]:
    """Put consecutive statements of one block under ``with <context_code>:``."""
    head, rest = statements[0], list(statements[1:])

    def build_head(node: Any, lookup: Callable[..., Any]) -> Any:
        import libcst as cst

        inner = [node.with_changes(leading_lines=())]
        for stmt in rest:
            found = lookup(stmt, True)
            if all(found is not n for n in inner):
                inner.append(found)
        return cst.With(
            items=[cst.WithItem(cst.parse_expression(context_code))],
            body=cst.IndentedBlock(body=inner),
            leading_lines=node.leading_lines,
        )

    def remove(node: Any, lookup: Callable[..., Any]) -> Any:
        import libcst as cst

        return cst.RemovalSentinel.REMOVE

    edits = [NodeEdit(head, build_head, statement=True)]
    edits.extend(NodeEdit(stmt, remove, statement=True) for stmt in rest if not _same_line(stmt, head))
    return tuple(edits)


def _same_line(a: ast.stmt, b: ast.stmt) -> bool:
    return a.lineno == b.lineno


def add_decorator(func: ast.FunctionDef | ast.AsyncFunctionDef, decorator_code: str) -> NodeEdit:
    """Add ``@<decorator_code>`` as the innermost decorator of ``func``."""

    def build(node: Any, lookup: Callable[..., Any]) -> Any:
        import libcst as cst

        decorator = cst.Decorator(cst.parse_expression(decorator_code))
        return node.with_changes(decorators=[*node.decorators, decorator])

    return NodeEdit(func, build)


def add_keyword(call: ast.Call, name: str, value_code: str) -> NodeEdit:
    """Add ``name=<value_code>`` after the call's last argument (before ``**kwargs``)."""

    def build(node: Any, lookup: Callable[..., Any]) -> Any:
        import libcst as cst

        args = list(node.args)
        new_arg = cst.Arg(value=cst.parse_expression(value_code), keyword=cst.Name(name), equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ))
        position = len(args)
        while position and args[position - 1].star == "**":
            position -= 1
        if position and args[position - 1].comma is cst.MaybeSentinel.DEFAULT:
            args[position - 1] = args[position - 1].with_changes(
                comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            )
        if position < len(args):
            new_arg = new_arg.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        args.insert(position, new_arg)
        return node.with_changes(args=args)

    return NodeEdit(call, build)


def insert_before(stmt: ast.stmt, code: str) -> NodeEdit:
    """Insert the statement ``code`` on its own line before ``stmt``, at the same indentation."""

    def build(node: Any, lookup: Callable[..., Any]) -> Any:
        import libcst as cst

        new = cst.parse_statement(code + "\n")
        new = new.with_changes(leading_lines=node.leading_lines)
        return cst.FlattenSentinel([new, node.with_changes(leading_lines=())])

    return NodeEdit(stmt, build, statement=True)


def replace_code(expr: ast.AST, code: str) -> NodeEdit:
    """Replace an expression by ``code`` (an expression)."""

    def build(node: Any, lookup: Callable[..., Any]) -> Any:
        import libcst as cst

        return cst.parse_expression(code)

    return NodeEdit(expr, build)


def flatten(*groups: Iterable[NodeEdit] | NodeEdit) -> tuple[NodeEdit, ...]:
    out: list[NodeEdit] = []
    for group in groups:
        if isinstance(group, NodeEdit):
            out.append(group)
        else:
            out.extend(group)
    return tuple(out)


def remove_keyword(call: ast.Call, name: str) -> NodeEdit:
    """Drop the keyword argument ``name=...`` from a call, keeping the others as written."""

    def build(node: Any, lookup: Callable[..., Any]) -> Any:
        import libcst as cst

        args = [arg for arg in node.args if not (arg.keyword is not None and arg.keyword.value == name)]
        if args and len(args) < len(node.args):
            last = args[-1]
            if node.args[-1].keyword is not None and node.args[-1].keyword.value == name:
                args[-1] = last.with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return node.with_changes(args=args)

    return NodeEdit(call, build)
