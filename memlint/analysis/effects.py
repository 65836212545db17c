"""What code does with a value: keeps it in an object, reduces it to a number, uses it only as a
number, only reads it, or knows it holds one element. Facts about function bodies that several
rules ask.
"""

from __future__ import annotations

import ast

from memlint.analysis import facts
from memlint.analysis.flow import Flow, names_in
from memlint.analysis.syntax import dotted, last_name, parent, self_attribute, target_elements, target_names, walk_tree
from memlint.analysis.values import NUMBER

# Calls that take a number to print, log or format it.
NUMBER_CONSUMERS = frozenset(
    {
        "print", "format", "str", "float", "round", "int", "info", "debug", "warning", "log", "add_scalar",
        "set_postfix", "set_description", "write", "log_metrics", "set_postfix_str", "echo", "len",
    }
)


def known_scalar(file, flow: Flow, leaf: ast.AST) -> bool:  # type: ignore[no-untyped-def]
    """Known to hold one element, so ``.item()`` works: ``loss.backward()`` proved it, or a full reduction."""
    if isinstance(leaf, ast.Name):
        return leaf.id in flow.direct_backward
    if isinstance(leaf, ast.Call) and isinstance(leaf.func, ast.Attribute):
        if leaf.func.attr in ("mean", "sum") and not leaf.args and not leaf.keywords:
            return True
    if isinstance(leaf, ast.Call):
        # `F.mse_loss(out, y)`: reduced to a scalar unless `reduction=` says otherwise.
        qualified = file.qualname(leaf.func) or ""
        return (
            qualified.startswith("torch.nn.functional.")
            and bool(facts.LOSS_FUNCTIONAL.search(qualified.rsplit(".", 1)[-1]))
            and not any(k.arg == "reduction" for k in leaf.keywords)
        )
    return False


def only_numeric_uses(scope: ast.AST, name: str) -> bool:
    """The accumulator is only combined arithmetically, formatted or logged: never asked for a
    tensor method and never handed to a caller (who might call ``.item()`` on it)."""
    names = {name}
    ok = True

    def visit(node: ast.AST) -> None:
        nonlocal ok
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in names:
            ok = False
        elif isinstance(node, (ast.Return, ast.Yield)) and node.value is not None and names_in(node.value) & names:
            ok = False
        elif isinstance(node, ast.Assign) and names_in(node.value) & names:
            for target in node.targets:  # `epoch_loss = running_loss / n`: follow the copy
                if isinstance(target, ast.Name):
                    names.add(target.id)
                elif isinstance(target, (ast.Attribute, ast.Subscript)):
                    ok = False
        elif isinstance(node, ast.Call):
            arguments = [*node.args, *(k.value for k in node.keywords)]
            if any(names_in(a) & names for a in arguments) and (last_name(node.func) or "") not in NUMBER_CONSUMERS:
                ok = False

    walk_tree(scope, visit)
    return ok


def stores_param(definition: ast.AST, name: str) -> bool:
    """The method keeps ``name`` in the object: ``self.xs.append(name)``, ``self.total += name``,
    ``self.total = self.total + name``; also an element of it (``for i, v in enumerate(name):
    self.sums[i] += v``)."""
    names = {name}
    for node in ast.walk(definition):
        if isinstance(node, (ast.For, ast.AsyncFor)) and names_in(node.iter) & names:
            names.update(n for n in target_names(node.target) if "." not in n)
    return any(_stores_name(definition, n) for n in names)


def stored_argument(file, flow: Flow, call: ast.Call) -> ast.AST | None:  # type: ignore[no-untyped-def]
    """``tracker.add(loss)`` where ``tracker`` is an object of a project class whose ``add`` keeps
    its argument (appends it to, or adds it into, an attribute) without reducing it: the argument
    of the call that is kept."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    method = file.method_of(flow.value_of(func.value), func.attr)
    if method is None:
        return None
    owner, definition = method
    params = [a.arg for a in definition.args.args][1:]
    for index, param in enumerate(params):
        if stores_param(definition, param) and not reduces_param(definition, param) and not _kept_detached(owner, definition, param):
            if index < len(call.args):
                return call.args[index]
            return next((k.value for k in call.keywords if k.arg == param), None)
    return None


def _kept_detached(owner, definition: ast.AST, name: str) -> bool:  # type: ignore[no-untyped-def]
    """What the method keeps on ``self`` under ``name`` is a number: the parameter was rebound
    first (``value = value.data.sum()``; ``value = value.detach()``), as the method's flow says."""
    kept = []
    for stmt in ast.walk(definition):
        if isinstance(stmt, (ast.Assign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if any(_store_root(t).startswith("self.") for t in targets):
                kept.append(stmt.value)
        elif isinstance(stmt, ast.Call) and isinstance(stmt.func, ast.Attribute) and _store_root(stmt.func.value).startswith("self."):
            kept.extend(stmt.args)
    reads = [n for expr in kept for n in ast.walk(expr) if isinstance(n, ast.Name) and n.id == name]
    if not reads:
        return False
    flow = owner.flow(definition, 1)
    return all(flow.value_of(n).kind == NUMBER for n in reads)


def _stores_name(definition: ast.AST, name: str) -> bool:
    for node in ast.walk(definition):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("append", "extend", "insert")
            and _store_root(node.func.value).startswith("self.")
            and any(name in names_in(a) for a in node.args)
        ):
            return True
        if isinstance(node, ast.AugAssign) and _store_root(node.target).startswith("self.") and name in names_in(node.value):
            return isinstance(node.op, (ast.Add, ast.Sub))
        if isinstance(node, ast.Assign) and any((dotted(t) or "").startswith("self.") for t in node.targets):
            target = dotted(node.targets[0])
            if isinstance(node.value, ast.BinOp) and target in names_in(node.value) and name in names_in(node.value):
                return True
    return False


def _store_root(expr: ast.AST) -> str:
    """``self.sums`` for ``self.sums[i]`` / ``self.sums[k][0]``."""
    while isinstance(expr, ast.Subscript):
        expr = expr.value
    return dotted(expr) or ""


def reduces_first_param(definition: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    params = [a.arg for a in definition.args.args]
    if params and params[0] in ("self", "cls"):
        params = params[1:]
    return bool(params) and reduces_param(definition, params[0])


def reduces_param(definition: ast.AST, name: str) -> bool:
    """Every use of ``name`` reduces it to a number or detaches it."""
    total = safe = 0
    for node in ast.walk(definition):
        if isinstance(node, ast.Name) and node.id == name:
            total += 1
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == name:
            if node.attr in facts.DETACHING_METHODS or node.attr == "data":
                safe += 1
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("float", "int") and node.args:
            if isinstance(node.args[0], ast.Name) and node.args[0].id == name:
                safe += 1
    return total > 0 and safe == total


# Uses of an array that only read it: its metadata, and calls that copy an indexed item out.
_READ_ATTRIBUTES = frozenset({"shape", "ndim", "dtype", "size", "nbytes"})
_COPYING_CALLS = frozenset({"torch.tensor", "numpy.array", "numpy.copy", "torch.Tensor"})


def only_read(file, target: ast.AST) -> bool:  # type: ignore[no-untyped-def]
    """Every use of what ``target`` binds (a local, or ``self.x`` in its class) reads it: shape/len,
    or an indexed item copied out (``torch.tensor(x[i])``, ``x[i].copy()``); it is bound once."""
    exprs = target_elements(target)
    if len(exprs) != 1:
        return False
    wanted = dotted(exprs[0])
    scope = file.enclosing_class(target) if self_attribute(exprs[0]) else (file.enclosing_function(target) or file.tree)
    if scope is None or wanted is None:
        return False
    assignments = 0
    for node in ast.walk(scope):
        if not isinstance(node, (ast.Name, ast.Attribute)) or dotted(node) != wanted:
            continue
        holder = parent(node)
        if isinstance(node.ctx, ast.Store):
            assignments += 1
            if assignments > 1:
                return False
        elif isinstance(holder, ast.Attribute) and holder.attr in _READ_ATTRIBUTES:
            continue
        elif isinstance(holder, ast.Call) and isinstance(holder.func, ast.Name) and holder.func.id == "len":
            continue
        elif isinstance(holder, ast.Subscript) and holder.value is node and _copied_item(file, holder):
            continue
        else:
            return False
    return True


def _copied_item(file, item: ast.Subscript) -> bool:  # type: ignore[no-untyped-def]
    holder = parent(item)
    if isinstance(holder, ast.Call) and holder.args[:1] == [item] and file.qualname(holder.func) in _COPYING_CALLS:
        return True
    return isinstance(holder, ast.Attribute) and holder.attr in ("copy", "astype")


_MAPPING_METHODS = frozenset({"items", "keys", "values", "get", "setdefault", "update", "pop"})


def used_as_mapping(scope: ast.AST, name: str) -> bool:
    """``name`` is read as a dict in ``scope``: indexed by a string (``losses["total"]``), by the
    keys it is iterated for (``for k in losses: losses[k]``), or asked for its items or keys. A
    value used so is a container of tensors, never one tensor (``.detach()`` on it would fail)."""
    keys: set[str] = set()
    for node in ast.walk(scope):
        if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and isinstance(node.iter, ast.Name) and node.iter.id == name:
            keys.update(n for n in target_names(node.target) if "." not in n)
    for node in ast.walk(scope):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == name:
            key = node.slice
            if (isinstance(key, ast.Constant) and isinstance(key.value, str)) or (isinstance(key, ast.Name) and key.id in keys):
                return True
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == name:
            if node.attr in _MAPPING_METHODS and isinstance(parent(node), ast.Call):
                return True
    return False
