"""What one loop iteration hands to the next, and what a value depends on inside an iteration.

Def-use facts on syntax, in source order, for the rules about graphs that outlive an iteration:
MEM006 (a graph kept with ``retain_graph=True``: is it shared with other iterations?) and MEM007
(a recurrent state fed back into the next iteration's forward pass). Values (does this carry
autograd history?) come from the flow (``flow.py``); this module only says which binding reaches
which read.

A name is *carried* by a loop when the loop body reads it before binding it, in source order, and
also binds it: the read sees the previous iteration's value. ``hidden = model(x, hidden)`` reads
``hidden`` in its right-hand side before it rebinds it, so ``hidden`` is carried.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator

from memlint.analysis import facts
from memlint.analysis.syntax import FunctionNode, LoopNode, ScopeNode, ancestors, dotted, last_name, target_names

if TYPE_CHECKING:
    from memlint.analysis.file import FileAnalysis
    from memlint.analysis.flow import Flow

_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
# Reading a name through one of these cuts the graph it carries (``h.detach()``, ``h.data``).
_DETACHING_ATTRIBUTES = frozenset({"detach", "detach_", "data", "item", "tolist", "numpy"})


@dataclass
class Event:
    """One read or binding of a name, in the order the loop body runs them."""

    name: str
    node: ast.AST  # the Name / Attribute read, or the statement that binds
    stmt: ast.stmt
    binds: bool
    value: ast.AST | None = None  # the bound expression (the whole right-hand side)


@dataclass
class Carried:
    """A name one iteration reads from the one before."""

    name: str
    first_read: Event
    bindings: list[Event] = field(default_factory=list)


def events(statements: Iterable[ast.stmt]) -> Iterator[Event]:
    """Reads and bindings of plain names and ``self.x`` chains, in execution order: a statement's
    right-hand side is read before its targets are bound; nested functions are not entered."""
    for stmt in statements:
        yield from _statement_events(stmt)


def _statement_events(stmt: ast.stmt) -> Iterator[Event]:
    if isinstance(stmt, ScopeNode):
        return
    if isinstance(stmt, ast.Assign):
        yield from _reads(stmt.value, stmt)
        for target in stmt.targets:
            yield from _target_events(target, stmt, stmt.value)
    elif isinstance(stmt, ast.AugAssign):
        yield from _reads(stmt.value, stmt)
        yield from _reads(stmt.target, stmt, load_only=False)
        yield from _target_events(stmt.target, stmt, stmt)
    elif isinstance(stmt, ast.AnnAssign):
        if stmt.value is not None:
            yield from _reads(stmt.value, stmt)
            yield from _target_events(stmt.target, stmt, stmt.value)
    elif isinstance(stmt, (ast.For, ast.AsyncFor)):
        yield from _reads(stmt.iter, stmt)
        yield from _target_events(stmt.target, stmt, None)
        yield from events(stmt.body)
        yield from events(stmt.orelse)
    elif isinstance(stmt, ast.While):
        yield from _reads(stmt.test, stmt)
        yield from events(stmt.body)
        yield from events(stmt.orelse)
    elif isinstance(stmt, ast.If):
        yield from _reads(stmt.test, stmt)
        yield from events(stmt.body)
        yield from events(stmt.orelse)
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        for item in stmt.items:
            yield from _reads(item.context_expr, stmt)
            if item.optional_vars is not None:
                yield from _target_events(item.optional_vars, stmt, None)
        yield from events(stmt.body)
    elif isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
        yield from events(stmt.body)
        for handler in stmt.handlers:
            yield from events(handler.body)
        yield from events(stmt.orelse)
        yield from events(stmt.finalbody)
    elif isinstance(stmt, ast.Match):
        yield from _reads(stmt.subject, stmt)
        for case in stmt.cases:
            yield from events(case.body)
    else:
        yield from _reads(stmt, stmt)


def _target_events(target: ast.AST, stmt: ast.stmt, value: ast.AST | None) -> Iterator[Event]:
    if isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _target_events(element, stmt, value)
    elif isinstance(target, ast.Starred):
        yield from _target_events(target.value, stmt, value)
    elif isinstance(target, (ast.Name, ast.Attribute)) and dotted(target) is not None:
        if isinstance(target, ast.Attribute):
            yield from _reads(target.value, stmt)
        yield Event(dotted(target) or "", target, stmt, True, value)
    else:
        yield from _reads(target, stmt, load_only=False)


def _reads(expr: ast.AST, stmt: ast.stmt, load_only: bool = True) -> Iterator[Event]:
    """Names read in ``expr`` (comprehension variables excluded), and for ``self.a.b`` each
    ``self.x`` prefix, each with the node that reads it."""
    local: set[str] = set()
    stack = [expr]
    found: list[tuple[str, ast.AST]] = []
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Lambda, *ScopeNode)):
            continue
        if isinstance(node, _COMPREHENSIONS):
            for generator in node.generators:
                local.update(n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name))
        if isinstance(node, ast.Attribute) and dotted(node) is not None:
            chain: list[ast.Attribute] = []
            inner: ast.AST = node
            while isinstance(inner, ast.Attribute):
                chain.append(inner)
                inner = inner.value
            if load_only and not isinstance(node.ctx, ast.Load):
                continue
            found.append((inner.id, inner))  # type: ignore[attr-defined]
            if inner.id == "self":  # type: ignore[attr-defined]
                found.extend((dotted(part) or "", part) for part in chain)
            continue
        if isinstance(node, ast.Name) and (not load_only or isinstance(node.ctx, ast.Load)):
            found.append((node.id, node))
            continue
        stack.extend(ast.iter_child_nodes(node))
    found.sort(key=lambda item: (item[1].lineno, item[1].col_offset, -len(item[0])))
    for name, node in found:
        if name.split(".")[0] not in local:
            yield Event(name, node, stmt, False)


def carried_names(loop: ast.AST) -> dict[str, Carried]:
    """Names ``loop``'s body reads before it binds them (each with every binding in the body).
    A ``for`` loop's own target is bound afresh by every iteration: never carried."""
    first_read: dict[str, Event] = {}
    target = getattr(loop, "target", None)
    bound: set[str] = set(target_names(target)) if target is not None else set()
    bindings: dict[str, list[Event]] = {}
    for event in events(loop.body):  # type: ignore[attr-defined]
        if event.binds:
            bound.add(event.name)
            bindings.setdefault(event.name, []).append(event)
        elif event.name not in bound and event.name not in first_read:
            first_read[event.name] = event
    return {name: Carried(name, read, bindings[name]) for name, read in first_read.items() if name in bindings}


def bindings_before(scope: ast.AST, loop: ast.AST) -> dict[str, list[Event]]:
    """Bindings the scope makes before ``loop`` starts (outside it), by name."""
    found: dict[str, list[Event]] = {}
    start = (loop.lineno, loop.col_offset)  # type: ignore[attr-defined]
    body = scope.body if isinstance(scope, (ast.Module, *FunctionNode)) else []  # type: ignore[attr-defined]
    for event in events(body):
        if event.binds and (event.stmt.lineno, event.stmt.col_offset) < start and not _inside(event.stmt, loop):
            found.setdefault(event.name, []).append(event)
    return found


def depends_on(expr: ast.AST, loop_body: list[ast.stmt], before: ast.stmt) -> set[str]:
    """Names whose graph ``expr`` may carry: those it reads, followed back through the bindings
    ``loop_body`` makes before ``before`` (reads through ``.detach()`` and its kind cut the chain)."""
    bindings: dict[str, list[Event]] = {}
    limit = (before.lineno, before.col_offset)
    for event in events(loop_body):
        if event.binds and (event.stmt.lineno, event.stmt.col_offset) < limit:
            bindings.setdefault(event.name, []).append(event)
    names = {e.name for e in _reads(expr, before) if not detaching_read(e.node, before)}
    pending = list(names)
    while pending:
        name = pending.pop()
        for binding in bindings.get(name, ()):
            if binding.value is None:
                continue
            for read in _reads(binding.value, binding.stmt):
                if read.name not in names and not detaching_read(read.node, binding.stmt):
                    names.add(read.name)
                    pending.append(read.name)
    return names


def detaching_read(node: ast.AST, stop: ast.AST) -> bool:
    """Is ``node`` read through something that cuts its own graph (``h.detach()``, ``h.data``,
    ``h[0].detach()``, ``repackage_hidden(h)``, ``tuple(v.detach() for v in h)``)? A forward pass
    whose result is detached (``actor(h).detach()``) does not detach ``h``."""
    if isinstance(stop, (ast.For, ast.AsyncFor)) and any(n is node for n in ast.walk(stop.iter)):
        # `for h in hidden: h.detach_()`
        return any(isinstance(n, ast.Attribute) and n.attr == "detach_" for s in stop.body for n in ast.walk(s))
    current = node
    for outer in _parents(node, stop):
        if isinstance(outer, ast.Attribute) and outer.value is current:
            if outer.attr in _DETACHING_ATTRIBUTES:
                return True
        elif isinstance(outer, ast.Call):
            if outer.func is not current:
                name = (last_name(outer.func) or "").lower()
                if "detach" in name or "repackage" in name:
                    return True
                if not isinstance(outer.func, ast.Name) or facts.MODEL_LIKE_CALLEE.search(name):
                    return False  # a forward pass: detaching its result leaves `h` as it was
                # a plain helper (`reset_hidden(h, mask).detach()`): follow its result
        elif isinstance(outer, ast.comprehension):
            holder = getattr(outer, "_ml_parent", None)
            return current is outer.iter and holder is not None and any(
                isinstance(n, ast.Attribute) and n.attr in _DETACHING_ATTRIBUTES for n in ast.walk(holder)
            )
        elif not (isinstance(outer, (ast.Tuple, ast.List, ast.Starred)) or (isinstance(outer, ast.Subscript) and outer.value is current)):
            return False
        current = outer
    return False


def loop_trains(file: "FileAnalysis", flow: "Flow", loops: list[ast.AST]) -> bool:
    """A backward pass or optimizer step runs in one of ``loops``, itself or through a helper (of
    this file or the project)."""
    ids = {id(loop) for loop in loops}
    if any(ids & {id(loop) for loop in stack} for _, stack in flow.step_calls):
        return True
    for _, stack, call in flow.local_calls:
        if ids & {id(loop) for loop in stack}:
            for owner, definition in file.resolve_call(call):
                if owner.flow(definition, 1).step_calls:
                    return True
    return False


def _parents(node: ast.AST, stop: ast.AST) -> Iterator[ast.AST]:
    current = getattr(node, "_ml_parent", None)
    while current is not None and current is not stop:
        yield current
        current = getattr(current, "_ml_parent", None)


def _inside(node: ast.AST, outer: ast.AST) -> bool:
    return node is outer or any(a is outer for a in ancestors(node))


def is_loop(node: ast.AST) -> bool:
    return isinstance(node, LoopNode)
