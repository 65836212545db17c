"""What needs autograd and what runs a model: the facts MEM001 (and the fix-safety check) rest on.

- mode switches: ``model.eval()`` / ``.train(False)`` (also chained, ``m = m.eval().to(dev)``) and
  ``model.train()``;
- ``call_kind``: does a call need gradients (``backward``, an optimizer step, ``autograd.grad``,
  ``requires_grad_``...), switch modes, or is it another call;
- ``forwards``: is a call a forward pass of the model spelled ``receiver``;
- ``scope_events``: those facts for every call of one scope, in source order;
- ``evaluation_units``: the smallest blocks of statements around some forward passes that hold no code
  needing gradients (what a ``with torch.no_grad():`` may wrap);
- ``eval_regions``: from ``model.eval()`` until ``model.train()``, the forward passes of that model and
  whether anything in between needs gradients; ``guarded_elsewhere``: a scope a library hook or every
  caller runs under a guard; ``under_tensorflow``: TensorFlow's autograd, not torch's;
- evaluation inside training code: a helper a training loop calls only for what it prints
  (``called_for_side_effects``), a phase flag whose False runs forwards with autograd on
  (``phase_flag``), a grad-free ``if`` block of a training loop that runs the model (``periodic_forwards``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Sequence

from memlint.analysis import facts
from memlint.analysis.file import FileAnalysis
from memlint.analysis.syntax import FunctionNode, ancestors, dotted, is_constant, iter_scope, last_name, parent, target_names
from memlint.analysis.values import GRAD, NUMBER, SEQ, UNKNOWN

if TYPE_CHECKING:
    from memlint.analysis.flow import Flow


def receiver_name(expr: ast.AST) -> str | None:
    """Dotted name of a model expression; subscripts read as ``[]``: ``self.model[key]`` ->
    ``self.model[]``, so ``self.model[k].eval()`` covers ``self.model["generator"](x)``."""
    if isinstance(expr, ast.Subscript):
        inner = receiver_name(expr.value)
        return None if inner is None else inner + "[]"
    if isinstance(expr, ast.Attribute):
        inner = receiver_name(expr.value)
        return None if inner is None else f"{inner}.{expr.attr}"
    return dotted(expr)


def eval_switch_receiver(call: ast.Call) -> str | None:
    """``R.eval()`` or ``R.train(False)``: the receiver's dotted name (or the name a chained
    ``X = Encoder(...).eval()`` binds)."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    if func.attr == "eval" and not call.args and not call.keywords:
        pass
    elif func.attr == "train" and len(call.args) == 1 and not call.keywords and is_constant(call.args[0], False):
        pass
    else:
        return None
    name = receiver_name(func.value)
    if name is None and isinstance(func.value, ast.Call):
        top = chain_top(call)
        holder = parent(top)
        if isinstance(holder, ast.Assign) and len(holder.targets) == 1:
            return receiver_name(holder.targets[0])
    return name


def train_switch_receiver(call: ast.Call) -> str | None:
    """``R.train()`` / ``R.train(True)`` / ``R.train(flag)``: grad-mode use may follow."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr != "train":
        return None
    if call.args and is_constant(call.args[0], False):
        return None
    return receiver_name(func.value)


def chain_top(call: ast.Call) -> ast.AST:
    """``m.eval().to(dev).half()``: the outermost call of the chain the switch starts."""
    top: ast.AST = call
    while True:
        holder = parent(top)
        outer = parent(holder) if holder is not None else None
        if isinstance(holder, ast.Attribute) and isinstance(outer, ast.Call) and outer.func is holder:
            top = outer
            continue
        return top


def sets_mode(call: ast.Call, receiver: str) -> bool:
    """``model.eval()`` as a statement, or ``model = model.eval().to(dev)``; not ``freeze(m.eval())``."""
    top = chain_top(call)
    holder = parent(top)
    if isinstance(holder, ast.Expr):
        return True
    if isinstance(holder, ast.Assign):
        return all(receiver_name(t) == receiver for t in holder.targets)
    return False


def forwards(call: ast.Call, receiver: str) -> bool:
    """Is ``call`` a forward pass of the model spelled ``receiver``?"""
    name = receiver_name(call.func)
    return name is not None and name in (receiver, receiver + ".forward", receiver + ".module", receiver + ".module.forward")


@dataclass
class ScopeEvents:
    """What one scope does, in source order (nested scopes not entered)."""

    items: list[tuple[str, ast.AST]] = field(default_factory=list)
    returns: list[ast.Return] = field(default_factory=list)
    has_yield: bool = False

    @property
    def needs_grad(self) -> bool:
        return any(kind == "grad" for kind, _ in self.items)


def scope_events(file: FileAnalysis, scope: ast.AST) -> ScopeEvents:
    cache = file.__dict__.setdefault("_mem001_events", {})
    if id(scope) in cache:
        return cache[id(scope)]
    events = ScopeEvents()
    for node in scope_nodes(scope):
        if isinstance(node, ast.Call):
            events.items.append((call_kind(file, node), node))
        elif isinstance(node, ast.Attribute) and node.attr == "grad" and isinstance(node.ctx, ast.Load):
            events.items.append(("grad", node))
        elif isinstance(node, ast.keyword) and node.arg == "requires_grad" and not is_constant(node.value, False):
            # Inputs that ask for gradients: only a sign, since nothing may ever take them.
            events.items.append(("grad_input", node))
        elif isinstance(node, ast.Return):
            events.returns.append(node)
        elif isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)):
            events.has_yield = True
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if file.grad_guard_kind(item.context_expr) == "on":
                    events.items.append(("grad", node))
    cache[id(scope)] = events
    return events


def scope_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    if isinstance(scope, FunctionNode):
        for stmt in scope.body:
            yield stmt
            yield from iter_scope(stmt)
    else:
        yield from iter_scope(scope)


def call_kind(file: FileAnalysis, call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        if func.attr in facts.NEEDS_GRAD_METHODS:
            return "grad"
        if func.attr == "step":
            owner = dotted(func.value) or ""
            if "optim" in owner.lower() or owner.split(".")[-1] in ("opt", "optimizer", "optimiser"):
                return "grad"
    qualified = file.qualname(func) or ""
    if qualified.startswith(facts.NEEDS_GRAD_PREFIXES) or qualified in ("torch.enable_grad", "torch.autograd.backward"):
        return "grad"
    receiver = eval_switch_receiver(call)
    if receiver is not None:
        return "eval" if sets_mode(call, receiver) else "call"
    if train_switch_receiver(call) is not None:
        return "train"
    return "call"


def bound_param(call: ast.Call, helper: ast.AST, receiver: str, skip: int) -> str | None:
    params = param_names(helper)[skip:]
    for index, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            return None
        if isinstance(arg, ast.Name) and arg.id == receiver:
            return params[index] if index < len(params) else None
    for kw in call.keywords:
        if isinstance(kw.value, ast.Name) and kw.value.id == receiver and kw.arg is not None:
            return kw.arg if kw.arg in params else None
    return None


def param_names(func: ast.AST) -> list[str]:
    args = func.args  # type: ignore[attr-defined]
    return [a.arg for a in [*args.posonlyargs, *args.args]]


def off_by_default(call: ast.Call, func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """``R.train(flag)`` where ``flag`` is a parameter of ``func`` defaulting to False."""
    if len(call.args) != 1 or not isinstance(call.args[0], ast.Name):
        return False
    flag = call.args[0].id
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    defaults = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults):]], args.defaults))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    return is_constant(defaults.get(flag), False)


def is_backward(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "backward"


def runs_training(owner: FileAnalysis, call: ast.Call) -> bool:
    """The call sits in a loop of a function (or script) that runs backward or an optimizer step,
    itself or through a helper it calls in that loop."""
    loops = owner.enclosing_loops(call)
    if not loops:
        return False
    scope = owner.enclosing_function(call) or owner.tree
    return bool(owner.flow(scope).step_calls) or steps_through_helper(owner, scope, loops)


def steps_through_helper(file: FileAnalysis, scope: ast.AST, loops: "list[ast.AST] | None" = None) -> bool:
    """A call of ``scope`` (inside one of ``loops`` when given) runs a helper of this file or the
    project that itself steps: ``self.optimize_generator(...)`` in the batch loop of ``train()``."""
    wanted = None if loops is None else {id(loop) for loop in loops}
    for _, stack, call in file.flow(scope).local_calls:
        if wanted is not None and not wanted & {id(loop) for loop in stack}:
            continue
        if _runs_stepping_helper(file, call):
            return True
    return False


def _runs_stepping_helper(file: FileAnalysis, call: ast.Call) -> bool:
    """``call`` reaches a helper (this file or the project) that itself steps."""
    return any(owner.flow(definition, 1).step_calls for owner, definition in file.resolve_call(call))


def _calls_stepping_helper(file: FileAnalysis, node: ast.AST) -> bool:
    """``node`` holds a call of a helper that itself steps."""
    return any(isinstance(call, ast.Call) and _runs_stepping_helper(file, call) for call in ast.walk(node))


def top_statement(node: ast.AST, scope: ast.AST) -> ast.stmt | None:
    """The statement of ``scope``'s own body that holds ``node``."""
    child = node
    for outer in ancestors(node):
        if outer is scope:
            return child if isinstance(child, ast.stmt) else None
        child = outer
    return None


def statement_chain(node: ast.AST) -> list[ast.stmt]:
    """Statements holding ``node``, outermost first (within its function or module)."""
    chain = []
    for outer in [node, *ancestors(node)]:
        if isinstance(outer, FunctionNode + (ast.ClassDef, ast.Lambda, ast.Module)) and outer is not node:
            break
        if isinstance(outer, ast.stmt):
            chain.append(outer)
    return list(reversed(chain))


def evaluation_units(
    file: FileAnalysis, exposed: list[tuple[ast.Call, bool]], start: ast.Call | None
) -> list[tuple[list[tuple[ast.Call, bool]], tuple[list[ast.stmt], int, int] | None]]:
    """The exposed forwards grouped into evaluation units, each with the statements to wrap.

    The wrap is the innermost block holding every forward of the group (and the mode switch,
    which keeps it at the level the evaluation starts on). A wrap that would also hold code that
    needs gradients (a training loop around a validation loop) is split by statement, down to
    blocks free of such code: one unit per evaluation loop.
    """
    chains = {id(call): statement_chain(call) for call, _ in exposed}
    start_chain = statement_chain(start) if start is not None else None
    return _split(file, exposed, chains, start_chain, 0)


def _split(file, exposed, chains, start_chain, depth):  # type: ignore[no-untyped-def]
    paths = [chains[id(call)] for call, _ in exposed]
    if start_chain is not None:
        paths = paths + [start_chain]
    block = _common_block(paths, [chains[id(call)] for call, _ in exposed])
    if block is None:
        return [(exposed, None)]
    statements, first, last = block
    if not any(statement_needs_grad(file, stmt) for stmt in statements[first : last + 1]) or depth > 20:
        return [(exposed, block)]
    level = _level_of(statements, chains[id(exposed[0][0])])
    groups: dict[int, list[tuple[ast.Call, bool]]] = {}
    for call, helper in exposed:
        stmt = chains[id(call)][level]
        groups.setdefault(_index(statements, stmt), []).append((call, helper))
    units = []
    for index in sorted(groups):
        stmt = statements[index]
        group = groups[index]
        if not statement_needs_grad(file, stmt):
            units.append((group, (statements, index, index)))
            continue
        inner_start = start_chain if start_chain is not None and level < len(start_chain) and start_chain[level] is stmt else None
        if all(len(chains[id(call)]) <= level + 1 for call, _ in group):
            units.append((group, None))  # the forward itself sits in a statement that trains
            continue
        units.extend(_split(file, group, chains, inner_start, depth + 1))
    return units


def _level_of(statements: list[ast.stmt], chain: list[ast.stmt]) -> int:
    for level, stmt in enumerate(chain):
        if any(stmt is s for s in statements):
            return level
    return 0


def _common_block(
    paths: list[list[ast.stmt]], exposed_paths: list[list[ast.stmt]]
) -> tuple[list[ast.stmt], int, int] | None:
    """The innermost statement list holding every path's statement at the first level where the
    paths part, and the range of its statements the exposed paths use."""
    shortest = min(len(p) for p in paths)
    level = 0
    while level < shortest and all(p[level] is paths[0][level] for p in paths):
        level += 1
    if level >= shortest:
        level = shortest - 1
    located = FileAnalysis.block_of(paths[0][level])
    if located is None:
        return None
    statements, _ = located
    indices = []
    for path in exposed_paths:
        if level >= len(path):
            return None
        index = _index(statements, path[level])
        if index < 0:
            return None
        indices.append(index)
    return statements, min(indices), max(indices)


def _index(statements: Sequence[ast.stmt], stmt: ast.stmt) -> int:
    for index, item in enumerate(statements):
        if item is stmt:
            return index
    return -1


def statement_needs_grad(file: FileAnalysis, stmt: ast.stmt) -> bool:
    """The statement (with what it holds) calls something that needs autograd."""
    for node in [stmt, *iter_scope(stmt)]:
        if isinstance(node, ast.Call) and call_kind(file, node) == "grad":
            return True
    return False


def helper_runs_model(file: FileAnalysis, call: ast.Call, receiver: str) -> bool | None:
    """Does ``call`` run the model spelled ``receiver`` through a helper (of this file or the
    project) that it hands the model to (or that reads it from ``self``)?

    True: the helper runs it and needs no gradients; None: it runs it but needs gradients.
    """
    func = call.func
    targets = file.resolve_call(call)
    if not targets:
        return False
    owner, helper = targets[0]
    inner: str | None = None
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
        inner = receiver if receiver == "self" or receiver.startswith("self.") else bound_param(call, helper, receiver, skip=1)
    elif "." not in receiver:
        inner = bound_param(call, helper, receiver, skip=0)
    if inner is None:
        return False
    events = scope_events(owner, helper)
    runs = any(
        kind == "call" and forwards(node, inner) and owner.guard_at(node, stop=helper) is None  # type: ignore[arg-type]
        for kind, node in events.items
    )
    if not runs:
        return False
    return None if events.needs_grad else True


_WRAPPERS = frozenset({"DataParallel", "DistributedDataParallel", "compile", "FullyShardedDataParallel"})


def wrapper_forwards(file: FileAnalysis, call: ast.Call, receiver: str) -> bool:
    """``self.mnetwork(x)`` after ``self.network.eval()``, where the class binds ``self.mnetwork``
    to ``DataParallel(self.network)`` (or to ``self.network`` itself): the same model, wrapped."""
    name = receiver_name(call.func)
    if name is None or not name.startswith("self.") or not receiver.startswith("self.") or name == receiver:
        return False
    cls = file.enclosing_class(call)
    if cls is None:
        return False
    attr = name.split(".", 1)[1]
    if "." in attr:
        return False
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign) and any(dotted(t) == name for t in node.targets):
            values = [node.value.body, node.value.orelse] if isinstance(node.value, ast.IfExp) else [node.value]
            for value in values:
                if dotted(value) == receiver:
                    return True
                if isinstance(value, ast.Call) and last_name(value.func) in _WRAPPERS and value.args and dotted(value.args[0]) == receiver:
                    return True
    return False


def method_runs_model(file: FileAnalysis, call: ast.Call, receiver: str) -> bool:
    """``model.encode(x)`` where ``model`` is an instance of a project model class whose ``encode``
    runs the model (calls ``self(...)``, ``self.forward`` or a submodule)."""
    from memlint.analysis.values import MODEL

    func = call.func
    if not isinstance(func, ast.Attribute) or receiver_name(func.value) != receiver:
        return False
    if func.attr in facts.MODULE_NON_FORWARD_METHODS or func.attr in ("forward", "module", "generate"):
        return False
    value = file.flow_of(call).value_of(func.value)
    if value.kind != MODEL:
        return False
    method = file.method_of(value, func.attr)
    if method is None:
        return False
    owner, definition = method
    if owner.decorator_guard(definition) is not None:
        return False
    cls = owner.enclosing_class(definition)
    for kind, node in scope_events(owner, definition).items:
        if kind == "call" and isinstance(node, ast.Call):
            name = receiver_name(node.func)
            if name in ("self", "self.forward") or (
                cls is not None
                and name
                and name.startswith("self.")
                and name.count(".") == 1
                and owner.attribute_value(cls, name[5:]).kind == MODEL
            ):
                return True
    return False


def trained_receivers(file: FileAnalysis) -> frozenset[str]:
    """Model-like callees that some code of this file trains (calls next to ``backward``)."""
    cached = file.__dict__.get("_trained_receivers")
    if cached is not None:
        return cached
    trained: set[str] = set()
    scopes: list[ast.AST] = [file.tree]
    for definitions in file.functions.values():
        scopes.extend(definitions)
    for scope in scopes:
        items = scope_events(file, scope).items
        if not any(kind == "grad" and is_backward(node) for kind, node in items):
            continue
        for kind, node in items:
            if kind != "call":
                continue
            name = dotted(node.func)  # type: ignore[attr-defined]
            if name is None:
                continue
            last = name.split(".")[-1]
            if facts.NOT_MODEL_CALLEE.search(last) or file.qualname(node.func) is not None:  # type: ignore[attr-defined]
                continue
            if _model_like_name(file, node, last) or file.flow(scope).value_of(node.func).kind == "model":  # type: ignore[arg-type, attr-defined]
                trained.add(name)
        trained |= _callees_reaching_backward(file, scope)
    file.__dict__["_trained_receivers"] = frozenset(trained)
    return file.__dict__["_trained_receivers"]


def _callees_reaching_backward(file: FileAnalysis, scope: ast.AST) -> set[str]:
    """Parameters (and, in a method, ``self`` attributes that are not methods) called like a model
    whose output is assigned to a name that reaches backward (``fake = gen(noise)`` before
    ``loss.backward()``): a network under any name, such as ``gen`` or ``self.G``."""
    if not isinstance(scope, FunctionNode):
        return set()
    params = set(param_names(scope))
    reach = file.flow(scope).reach
    cls = file.enclosing_class(scope)
    found: set[str] = set()
    for node in iter_scope(scope):
        if not isinstance(node, ast.Assign):
            continue
        if not {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)} & reach:
            continue
        for call in ast.walk(node.value):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id in params
                and call.args
                and not facts.NOT_MODEL_CALLEE.search(call.func.id)
            ):
                found.add(call.func.id)
            elif (  # `self.G(z)` in a trainer's method: a network the class holds, not one of its methods
                isinstance(call, ast.Call)
                and cls is not None
                and isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id == "self"
                and call.args
                and not facts.NOT_MODEL_CALLEE.search(call.func.attr)
                and file.find_method(cls, call.func.attr) is None
                and f"self.{call.func.attr}" in _bound_attributes(cls)
            ):
                found.add(f"self.{call.func.attr}")
    return found


def _bound_attributes(cls: ast.ClassDef) -> frozenset[str]:
    """The ``self.x`` names the class's own methods assign (``self.G = G``, ``self.G, self.D = ...``)."""
    found: set[str] = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign):
            found.update(n for t in node.targets for n in target_names(t) if n.startswith("self."))
    return frozenset(found)


def attributes_reaching_backward(file: FileAnalysis) -> frozenset[str]:
    """``self.x`` chains whose value flows into a backward pass in some method of this file
    (an accumulator that feeds ``self.loss.backward()`` elsewhere is gradient accumulation)."""
    cached = file.__dict__.get("_attributes_reaching_backward")
    if cached is None:
        found: set[str] = set()
        for definitions in file.functions.values():
            for definition in definitions:
                if file.enclosing_class(definition) is not None:
                    found |= {name for name in file.flow(definition, 1).reach if "." in name}
        cached = file.__dict__["_attributes_reaching_backward"] = frozenset(found)
    return cached


def under_flag(node: ast.AST, flag: str, scope: ast.AST) -> bool:
    """``node`` sits in the body of an ``if <flag>:`` (not its else) within ``scope``."""
    child = node
    for outer in ancestors(node):
        if outer is scope:
            return False
        if isinstance(outer, ast.If) and isinstance(outer.test, ast.Name) and outer.test.id == flag and child in outer.body:
            return True
        child = outer
    return False


def passes_false(call: ast.Call, func: ast.AST, flag: str) -> bool:
    """The call hands ``False`` for the parameter ``flag`` of ``func`` (by position or keyword), or
    leaves out a parameter that defaults to ``False``."""
    names = param_names(func)
    offset = 1 if names and names[0] in ("self", "cls") and isinstance(call.func, ast.Attribute) else 0
    for kw in call.keywords:
        if kw.arg == flag:
            return is_constant(kw.value, False)
    index = names.index(flag) - offset if flag in names else -1
    if 0 <= index < len(call.args):
        return is_constant(call.args[index], False)
    args = func.args  # type: ignore[attr-defined]
    positional = [*args.posonlyargs, *args.args]
    defaults = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults):]], args.defaults))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    return is_constant(defaults.get(flag), False)


def result_feeds_training(owner: FileAnalysis, call: ast.Call) -> bool:
    """The value a call returns can reach a backward pass where it is called (it is not only
    printed, saved or logged)."""
    stmt = owner.statement_of(call)
    if isinstance(stmt, ast.Expr):
        return any(
            isinstance(node, ast.Call) and call_kind(owner, node) == "grad" for node in ast.walk(stmt)
        )
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        flow = owner.flow(owner.enclosing_function(call) or owner.tree)
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        return bool(names & flow.reach) or not names
    return True


def model_callee(file: FileAnalysis, call: ast.Call, trained: frozenset[str]) -> str | None:
    """The dotted name of a model a call runs (``model(x)``, ``self.netG(x)``, ``gen.forward(z)``):
    a value the flow knows to be a model, or a model-like name this file trains."""
    from memlint.analysis.values import MODEL

    name = dotted(call.func)
    if name is None:
        return None
    name = name[: -len(".forward")] if name.endswith(".forward") else name
    last = name.split(".")[-1]
    if facts.NOT_MODEL_CALLEE.search(last) or facts.MODEL_VERB_CALLEE.match(last):
        return None
    if name in trained or file.flow_of(call).value_of(call.func).kind == MODEL:
        return name
    if _model_like_name(file, call, last):
        return name
    return None


def _model_like_name(file: FileAnalysis, call: ast.Call, last: str) -> bool:
    """The callee is named like a network (``netG``, ``encoder``), and is not a Python generator of
    minibatches iterated by a ``for`` (``rollouts.recurrent_generator(adv, n)``: nobody loops over
    a GAN generator's output)."""
    if not facts.MODEL_LIKE_CALLEE.search(last):
        return False
    if not re.search(r"[a-z0-9]_generator$", last, re.IGNORECASE):
        return True
    return not _iterated(file, call)


def _iterated(file: FileAnalysis, call: ast.Call) -> bool:
    """The call's result is looped over: ``for b in f(...)``, or ``g = f(...)`` then ``for b in g``."""
    holder = parent(call)
    if isinstance(holder, (ast.For, ast.AsyncFor, ast.comprehension)) and holder.iter is call:
        return True
    if not (isinstance(holder, ast.Assign) and len(holder.targets) == 1 and isinstance(holder.targets[0], ast.Name)):
        return False
    bound = holder.targets[0].id
    scope = file.enclosing_scope(call) or file.tree
    return any(
        isinstance(node, (ast.For, ast.AsyncFor)) and isinstance(node.iter, ast.Name) and node.iter.id == bound
        for node in iter_scope(scope)
    )


# ====================================================================================== evaluation regions
@dataclass
class EvalRegion:
    """From a mode switch ``<receiver>.eval()`` until ``<receiver>.train()``: the forward passes of
    the model in it, and whether anything in it needs gradients."""

    receiver: str
    start: ast.Call
    forwards: list[tuple[ast.Call, bool]] = field(default_factory=list)  # (call, through a helper)
    needs_grad: bool = False
    conditional: bool = False  # eval mode depends on a flag (``model.train(training)``)


def eval_regions(file: FileAnalysis, scope: ast.AST, events: ScopeEvents) -> list[EvalRegion]:
    """The evaluation regions of one scope, in source order. ``model.train(training)`` with
    ``training=False`` by default opens a conditional region: evaluation unless asked."""
    open_regions: dict[str, EvalRegion] = {}
    regions: list[EvalRegion] = []
    for kind, node in events.items:
        if kind == "eval":
            receiver = eval_switch_receiver(node)  # type: ignore[arg-type]
            if receiver is not None and receiver not in open_regions:
                region = EvalRegion(receiver, node)  # type: ignore[arg-type]
                open_regions[receiver] = region
                regions.append(region)
        elif kind == "train":
            receiver = train_switch_receiver(node) or ""  # type: ignore[arg-type]
            open_regions.pop(receiver, None)
            if isinstance(scope, FunctionNode) and off_by_default(node, scope):  # type: ignore[arg-type]
                region = EvalRegion(receiver, node, conditional=True)  # type: ignore[arg-type]
                open_regions[receiver] = region
                regions.append(region)
        elif kind == "grad":
            for region in open_regions.values():
                region.needs_grad = True
        elif kind == "call":
            for region in open_regions.values():
                if (
                    forwards(node, region.receiver)  # type: ignore[arg-type]
                    or method_runs_model(file, node, region.receiver)  # type: ignore[arg-type]
                    or wrapper_forwards(file, node, region.receiver)  # type: ignore[arg-type]
                ):
                    region.forwards.append((node, False))  # type: ignore[arg-type]
                    continue
                helper = helper_runs_model(file, node, region.receiver)  # type: ignore[arg-type]
                if helper is None:
                    region.needs_grad = True
                elif helper:
                    region.forwards.append((node, True))  # type: ignore[arg-type]
    return regions


def grad_on_evaluation_loops(file: FileAnalysis, scope: ast.AST) -> frozenset[int]:
    """Ids of the loops of ``scope`` that run a model in evaluation mode with autograd on: after
    ``model.eval()``, an unguarded forward, nothing in the scope asking for gradients, and no caller
    handing the result to a backward pass, in a file that trains (a backward pass elsewhere in it:
    the model's parameters ask for gradients). What such a loop keeps keeps each batch's graph."""
    memo = file.__dict__.setdefault("_grad_on_evaluation_loops", {})
    if id(scope) not in memo:
        memo[id(scope)] = _grad_on_evaluation_loops(file, scope)
    return memo[id(scope)]


def _grad_on_evaluation_loops(file: FileAnalysis, scope: ast.AST) -> frozenset[int]:
    if "backward" not in file.text:
        return frozenset()
    events = scope_events(file, scope)
    if events.needs_grad or any(kind == "grad_input" for kind, _ in events.items):
        return frozenset()
    if isinstance(scope, FunctionNode) and any(result_feeds_training(o, c) for o, c in file.callers(scope)):
        return frozenset()
    return frozenset(
        id(loop)
        for region in eval_regions(file, scope, events)
        if not region.needs_grad and not region.conditional
        for call, _ in region.forwards
        if file.guard_at(call) is None
        for loop in file.enclosing_loops(call)
    )


def evaluation_loss(file: FileAnalysis, flow: "Flow", stmt: ast.stmt, expr: ast.AST) -> bool:
    """``expr``, kept at ``stmt``, is a loss computed in a loop that evaluates with autograd on
    (``criterion(out, y)``, read directly or through what the iteration binds before ``stmt``),
    never through a number (``.item()``) or a detached read (``.data``, ``.detach()``)."""
    from memlint.analysis.carry import depends_on

    loops = grad_on_evaluation_loops(file, flow.scope)
    loop = next((found for found in file.enclosing_loops(stmt) if id(found) in loops), None)
    if loop is None or flow.value_of(expr).kind not in (UNKNOWN, GRAD):
        return False
    losses: set[str] = set()
    for node in ast.walk(expr):
        if isinstance(node, ast.Call) and facts.LOSS_NAME.search((last_name(node.func) or "").lstrip("_").lower()):
            return True
    for node in loop.body:  # type: ignore[attr-defined]
        for inner in ast.walk(node):
            if isinstance(inner, ast.Assign) and isinstance(inner.value, ast.Call) and (inner.lineno, inner.col_offset) < (stmt.lineno, stmt.col_offset):
                if facts.LOSS_NAME.search((last_name(inner.value.func) or "").lstrip("_").lower()):
                    losses.update(target_names(inner.targets[0]))
    return bool(losses & depends_on(expr, loop.body, stmt))  # type: ignore[attr-defined]


def guarded_elsewhere(file: FileAnalysis, scope: ast.AST) -> bool:
    """``scope`` (or a function around it) is a library hook that runs under a guard (Lightning's
    ``validation_step``), or every caller in the project guards it."""
    for outer in [scope, *ancestors(scope)]:
        if isinstance(outer, FunctionNode) and file.library_guarded_hook(outer):
            return True
    return isinstance(scope, FunctionNode) and file.guarded_by_callers(scope)


def under_tensorflow(file: FileAnalysis, call: ast.Call) -> bool:
    """Inside ``with tf.GradientTape()`` or a ``@tf.function``: TensorFlow's autograd, not torch's."""
    for node in ancestors(call):
        if isinstance(node, ast.With):
            for item in node.items:
                expr = item.context_expr
                if isinstance(expr, ast.Call) and (file.qualname(expr.func) or "").endswith("GradientTape"):
                    return True
        if isinstance(node, FunctionNode):
            for decorator in node.decorator_list:  # type: ignore[attr-defined]
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if (file.qualname(target) or "").startswith("tensorflow."):
                    return True
    return False


def returns_numbers(file: FileAnalysis, scope: ast.AST) -> bool:
    """Every return hands back a plain Python value (or nothing): no tensor a caller could
    differentiate loses its history under a guard."""
    for ret, value in file.flow(scope).returns:
        if ret.value is None or is_constant(ret.value, None):
            continue
        if value.kind == NUMBER or (value.kind == SEQ and (value.elem is None or value.elem.kind == NUMBER)):
            continue
        return False
    return True


# ====================================================================================== evaluation in training code
def called_for_side_effects(file: FileAnalysis, func: ast.AST, skip: "set[int] | frozenset[int]" = frozenset(), depth: int = 0) -> bool:
    """A training loop calls ``func`` (here or in another file), unguarded, and only prints, saves
    or logs what it returns: sample grids, generated text, held-out checks. Calls in ``skip`` (ids)
    do not count."""
    if scope_events(file, func).needs_grad:
        return False
    for owner, call in file.callers(func, in_training_loop=True):
        if owner.guard_at(call) is not None or id(call) in skip:
            continue
        # `return predict(model, x) == y` hands the result to the caller, asked one level up
        returned = isinstance(owner.statement_of(call), ast.Return)
        if not returned and result_feeds_training(owner, call):
            continue
        if not returned and runs_training(owner, call):
            return True
        # `score(model, x)` calls `predict(model, x)`, and the training loop calls `score` to print
        outer = owner.enclosing_function(call)
        if depth < 2 and outer is not None and outer is not func and not owner.enclosing_loops(call):
            if called_for_side_effects(owner, outer, skip, depth + 1):
                return True
    return False


def phase_flag(file: FileAnalysis, func: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, list[ast.AST]] | None:
    """``def run_epoch(loader, train):`` whose backward and step run only ``if train:``, called
    somewhere with ``train=False``: the flag, and the unguarded forward passes of a trained model
    in loops that then run with autograd on."""
    events = scope_events(file, func)
    grads = [node for kind, node in events.items if kind == "grad"]
    if not grads or file.guard_at(func) is not None or file.decorator_guard(func) is not None:
        return None
    trained = trained_receivers(file)
    for flag in param_names(func) + [a.arg for a in func.args.kwonlyargs]:
        if not all(under_flag(node, flag, func) for node in grads):
            continue
        found = [
            node
            for kind, node in events.items
            if kind == "call"
            and not under_flag(node, flag, func)
            and file.enclosing_loops(node)
            and model_callee(file, node, trained) is not None  # type: ignore[arg-type]
        ]
        if not found or any(file.guard_at(node) is not None for node in found):
            continue
        if any(passes_false(call, func, flag) and owner.guard_at(call) is None for owner, call in file.callers(func)):
            return flag, found
    return None


def periodic_forwards(file: FileAnalysis, scope: ast.AST) -> Iterator[list[tuple[ast.Call, bool]]]:
    """In a training loop, each grad-free ``if`` block (every N steps) that runs a trained model
    only to look at the output: its unguarded forward passes (none through a helper)."""
    nodes = iter_scope(scope) if isinstance(scope, ast.Module) else [n for stmt in scope.body for n in [stmt, *iter_scope(stmt)]]  # type: ignore[attr-defined]
    blocks = [node for node in nodes if isinstance(node, ast.If) and file.enclosing_loops(node)]
    if not blocks or (not file.flow(scope).step_calls and not steps_through_helper(file, scope)):
        return
    trained = trained_receivers(file)
    seen: set[int] = set()
    for node in blocks:
        if id(node) in seen:
            continue
        if any(statement_needs_grad(file, stmt) for stmt in node.body) or not runs_training(file, node):
            continue
        if _calls_stepping_helper(file, node):
            continue  # the block trains through a helper (its forward may feed that step)
        found = [
            (call, False)
            for stmt in node.body
            for call in [stmt, *iter_scope(stmt)]
            if isinstance(call, ast.Call)
            and model_callee(file, call, trained) in trained
            and file.guard_at(call) is None
            and not result_feeds_training(file, call)
        ]
        seen.update(id(n) for n in ast.walk(node))
        if found:
            yield found


# ====================================================================================== inference wrappers
_INFERENCE_METHOD = re.compile(r"^(__call__|_?(detect|embed|extract|transcribe|segment|classify|caption)\w*)$")


def inference_methods(file: FileAnalysis, cls: ast.ClassDef, named: "re.Pattern[str]") -> list[tuple[ast.AST, list[ast.Call]]]:
    """An inference wrapper (a detector, a predictor): a class that switches its own model to eval
    (``self._model.eval()`` when it loads it) and never trains anything. Its methods that then run
    that model (``__call__``, ``predict``...; ``named`` adds the evaluation names) unguarded, with
    a result that leaves autograd anyway (NumPy, lists, numbers), and the forward calls in each."""
    receivers: set[str] = set()
    spelled = file.lines.rows_text(cls)
    if "eval" not in spelled and "train" not in spelled:
        return []  # no `.eval()` / `.train(False)` in the class: no switch to find
    for node in ast.walk(cls):
        if isinstance(node, ast.Call):
            receiver = eval_switch_receiver(node)
            if receiver is not None and receiver.startswith("self."):
                receivers.add(receiver)
            elif isinstance(node.func, ast.Attribute) and (
                node.func.attr in facts.BACKWARD_METHODS or node.func.attr in ("train", "zero_grad", "step")
            ):
                return []  # it trains: not a wrapper of a frozen model
    if not receivers:
        return []
    found: list[tuple[ast.AST, list[ast.Call]]] = []
    for method in cls.body:
        if not isinstance(method, FunctionNode) or not (_INFERENCE_METHOD.match(method.name) or named.match(method.name)):
            continue
        if file.decorator_guard(method) is not None or file.guarded_by_callers(method) or isinstance(method, ast.AsyncFunctionDef):
            continue
        events = scope_events(file, method)
        if any(kind in ("grad", "train", "eval") for kind, _ in events.items):
            continue
        calls = [
            node for kind, node in events.items
            if kind == "call" and isinstance(node, ast.Call) and file.guard_at(node) is None
            and any(forwards(node, r) for r in receivers)
        ]
        if calls and leaves_autograd(file, method):
            found.append((method, calls))
    return found


_LEAVING = frozenset({"numpy", "tolist", "item"})


def leaves_autograd(file: FileAnalysis, method: ast.AST) -> bool:
    """Every return hands back a Python value or a NumPy array (``.cpu().detach().numpy()``)."""
    returns = [n for n in iter_scope(method) if isinstance(n, ast.Return) and n.value is not None]
    if not returns:
        return False
    for ret in returns:
        value = ret.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in _LEAVING:
            continue
        if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Call) and isinstance(value.value.func, ast.Attribute) and value.value.func.attr in _LEAVING:
            continue
        return returns_numbers(file, method)
    return True
