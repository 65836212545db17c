"""What one loop iteration hands to the next, and what a value depends on inside an iteration.

Def-use facts on syntax, in source order, for the rules about graphs that outlive an iteration:
MEM006 (a graph kept with ``retain_graph=True``: is it shared with other iterations?) and MEM007
(a recurrent state fed back into the next iteration's forward pass), and MEM002 (a dict slot keyed by
a name that changes every iteration). Values (does this carry
autograd history?) come from the flow (``flow.py``); this module only says which binding reaches
which read.

A name is *carried* by a loop when the loop body reads it before binding it, in source order, and
also binds it: the read sees the previous iteration's value. ``hidden = model(x, hidden)`` reads
``hidden`` in its right-hand side before it rebinds it, so ``hidden`` is carried.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator

from memlint.analysis import facts
from memlint.analysis.syntax import (
    FunctionNode,
    LoopNode,
    ScopeNode,
    ancestors,
    dotted,
    iter_scope,
    last_name,
    self_attribute,
    target_names,
)

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


def changes_every_iteration(file: "FileAnalysis", stmt: ast.stmt, expr: ast.AST) -> bool:
    """``expr`` reads a name that an enclosing loop of ``stmt`` changes every iteration: the loop's
    own target (``for step, batch in enumerate(loader)``) or a counter it advances (``step += 1``).
    ``d[key] = v`` with such a key fills a new slot each iteration, as ``append`` would."""
    reads = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
    if not reads:
        return False
    cache = file.__dict__.setdefault("_varying_names", {})  # per loop: every subscript store of it asks
    for loop in file.enclosing_loops(stmt):
        varying = cache.get(id(loop))
        if varying is None:
            varying = set(target_names(loop.target)) if isinstance(loop, (ast.For, ast.AsyncFor)) else set()
            for node in iter_scope(loop):
                if isinstance(node, ast.AugAssign) and isinstance(node.op, (ast.Add, ast.Sub)):
                    varying.update(target_names(node.target))
            cache[id(loop)] = varying
        if reads & varying:
            return True
    return False


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


# ---------------------------------------------------------------------- state kept on a module
# Module methods that read, move or switch a module but leave the state it keeps on itself alone.
_KEEPS_STATE = (facts.MODULE_NON_FORWARD_METHODS - {"apply"}) | {"forward", "__call__"}
_MAX_CLASS_DEPTH = 6
_METADATA = frozenset({"dtype", "device", "shape", "ndim", "is_cuda", "size", "dim", "numel", "requires_grad"})


def module_state(file: "FileAnalysis", cls: ast.ClassDef, depth: int = 0) -> tuple[str, ...]:
    """The recurrent state a torch module class keeps on itself from one call to the next, as
    "`self.h` of Cell" descriptions (empty when none): ``forward`` (or a method of ``self`` it
    calls) stores ``self.X`` from a value that reads ``self.X`` (directly or through locals of the
    method: ``new_h, new_c = self.cell(x, self.h, self.c); self.h = new_h``) and from an input or
    a layer (a ``torch`` or ``self`` call on the way), not detached and not under a grad guard; or
    the class holds (``self.Y = Cell(...)``, in a container, or a constructor argument) or derives
    from such a class. Memoized per class; depth bounded."""
    memo = file.__dict__.setdefault("_module_state", {})
    if id(cls) in memo:
        return memo[id(cls)]
    memo[id(cls)] = ()  # a class that holds itself sees "no state"
    if depth > _MAX_CLASS_DEPTH or not file.is_torch_module_class(cls):
        return ()
    found = list(_own_state(file, cls))
    methods = file.methods(cls)
    called = {n.func.attr for m in methods.values() for n in iter_scope(m) if isinstance(n, ast.Call) and self_attribute(n.func)}
    for method in methods.values():
        for node in iter_scope(method):
            held = [_class_named(file, dotted(node.func))] if isinstance(node, ast.Call) else []
            if method.name == "__init__" and isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and any(
                isinstance(t, ast.Attribute) and dotted(t.value) == "self" and t.attr in called for t in node.targets
            ):  # `self.decoder = decoder`, a constructor argument the class calls
                held = [file.locate_class(v.origin) for v in _constructed_with(file, cls, method, node.value.id) if v.origin]
            for located in held:
                if located is not None and located[1] is not cls:
                    found.extend(module_state(located[0], located[1], depth + 1))
    for base in cls.bases:
        located = _class_named(file, dotted(base))
        if located is not None and located[1] is not cls:
            found.extend(module_state(located[0], located[1], depth + 1))
    memo[id(cls)] = tuple(dict.fromkeys(found))
    return memo[id(cls)]


def value_state(file: "FileAnalysis", value) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    """``module_state`` of the class of a flow value (a model or instance with a known class)."""
    if value.kind not in ("model", "instance") or not value.origin:
        return ()
    located = file.locate_class(value.origin)
    return module_state(*located) if located is not None else ()


def resets_module_state(file: "FileAnalysis", region: ast.AST, model: ast.AST, forward: ast.Call) -> bool:
    """Does ``region`` (a loop) reset or detach what the module ``model`` keeps (at any depth):
    call a method of it or of one of its parts other than the ones that leave state alone
    (``model.reset_state()``, ``model.rnn.h.detach_()``), pass it to a call other than the
    forward ``forward`` (``reset_net(model)``), or assign to an attribute path under it
    (``model.layer.h = model.layer.h.detach()``)?"""
    root = dotted(model)
    if root is None:
        return True  # not a plain path: nothing to compare with, assume it is handled
    under = root + "."
    for node in iter_scope(region):
        if isinstance(node, ast.Call) and node is not forward:
            name = dotted(node.func) or ""
            if name.startswith(under) and name.rsplit(".", 1)[-1] not in _KEEPS_STATE:
                return True
            for arg in (*node.args, *(k.value for k in node.keywords)):
                path = dotted(arg.value if isinstance(arg, ast.Starred) else arg)
                if path is not None and (path == root or path.startswith(under)):
                    return True
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Attribute) and (dotted(sub) or "").startswith(under):
                        return True
    return False


def _own_state(file: "FileAnalysis", cls: ast.ClassDef) -> Iterator[str]:
    """``self.X = f(self.X, input)`` in ``forward`` or the methods of ``self`` it calls (two levels)."""
    located = file.find_method(cls, "forward")
    if located is None:
        return
    pending, seen = [(*located, 0)], set()
    while pending:
        owner, method, level = pending.pop()
        if id(method) in seen or owner.decorator_guard(method) is not None:
            continue
        seen.add(id(method))
        for node in iter_scope(method):
            if isinstance(node, ast.Call) and level < 2 and self_attribute(node.func):
                callee = owner.find_method(cls, node.func.attr) if owner is file else None  # type: ignore[attr-defined]
                if callee is not None:
                    pending.append((*callee, level + 1))
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for sub in ast.walk(target):
                        if isinstance(sub, ast.Attribute) and dotted(sub.value) == "self" and _stores_state(owner, method, node, sub.attr):
                            yield f"`self.{sub.attr}` of {cls.name}"


def _stores_state(file: "FileAnalysis", method: ast.AST, stmt: ast.stmt, attr: str) -> bool:
    value = stmt.value  # type: ignore[attr-defined]
    if _detached(value) or file.guard_at(stmt, stop=method) is not None:
        return False
    state = f"self.{attr}"
    body = method.body  # type: ignore[attr-defined]
    first = next((e for e in events(body) if e.name == state), None)
    if first is not None and first.binds and first.stmt in body and first.value is not None:
        if state not in {e.name for e in _reads(first.value, first.stmt)}:
            return False  # reset from a fresh value before it is read
    # the stored value and the locals it is made from, earlier in the method
    limit = (stmt.lineno, stmt.col_offset)
    bindings: dict[str, list[ast.AST]] = {}
    for event in events(body):
        if event.binds and event.value is not None and (event.stmt.lineno, event.stmt.col_offset) < limit and "." not in event.name:
            bindings.setdefault(event.name, []).append(event.value)
    exprs: list[ast.AST] = []
    pending, reads = [value], set()
    while pending:
        expr = pending.pop()
        exprs.append(expr)
        for read in _reads(expr, stmt):
            holder = getattr(read.node, "_ml_parent", None)
            if read.name in reads or detaching_read(read.node, stmt) or getattr(holder, "attr", None) in _METADATA:
                continue  # `x.dtype`, `x.device`: no graph comes with them
            reads.add(read.name)
            pending.extend(v for v in bindings.get(read.name, ()) if not _detached(v))
    if state not in reads:
        return False
    inputs = reads - {state, "self"} - set(file.imports)
    driven = any(
        isinstance(n, ast.Call) and (self_attribute(n.func) or (file.qualname(n.func) or "").startswith("torch."))
        for expr in exprs
        for n in ast.walk(expr)
    )
    return bool(inputs) and driven


def _detached(expr: ast.AST) -> bool:
    """``x.detach()``, ``x.detach_()``, ``x.data`` (and a tuple of such)."""
    if isinstance(expr, (ast.Tuple, ast.List)):
        return bool(expr.elts) and all(_detached(e) for e in expr.elts)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        return expr.func.attr in ("detach", "detach_")
    return isinstance(expr, ast.Attribute) and expr.attr == "data"


def _constructed_with(file: "FileAnalysis", cls: ast.ClassDef, init: ast.AST, param: str) -> list:  # -> list[Value]
    """What ``Class(...)`` calls (this file's and the project's) pass for ``param`` of ``__init__``."""
    params = [a.arg for a in (*init.args.posonlyargs, *init.args.args)][1:]  # type: ignore[attr-defined]
    qualified = file.qualified_name(cls)
    calls = [(file, c) for c in file.calls_by_name.get(cls.name, ())]  # type: ignore[attr-defined]
    if file.project is not None:
        calls += file.project.calls_of(qualified, exclude=os.path.abspath(file.path))
    found = []
    for owner, call in calls[:8]:
        given = next((k.value for k in call.keywords if k.arg == param), None)
        if given is None and param in params and params.index(param) < len(call.args):
            given = call.args[params.index(param)]
        if given is not None and not any(isinstance(a, ast.Starred) for a in call.args):
            found.append(owner.flow_of(call).value_of(given))
    return found


def _class_named(file: "FileAnalysis", name: str | None) -> "tuple[FileAnalysis, ast.ClassDef] | None":
    if name is None:
        return None
    if name in file.classes:
        return file, file.classes[name]
    if file.project is not None and (name.split(".")[0] in file.imports):
        return file.project.resolve_class(file, name)
    return None


def _parents(node: ast.AST, stop: ast.AST) -> Iterator[ast.AST]:
    current = getattr(node, "_ml_parent", None)
    while current is not None and current is not stop:
        yield current
        current = getattr(current, "_ml_parent", None)


def _inside(node: ast.AST, outer: ast.AST) -> bool:
    return node is outer or any(a is outer for a in ancestors(node))


def is_loop(node: ast.AST) -> bool:
    return isinstance(node, LoopNode)
