"""The value analysis of one function body (or the module body), shared by every rule.

Statements are read once, in source order; each expression's abstract value (``values.py``) is
recorded, so rules ask ``flow.value_of(node)`` instead of interpreting code themselves. Two kinds
of facts are kept:

- flow-insensitive ones, from a first look at the whole body: the backward passes and optimizer
  steps (with their loops), and the names whose values reach a backward pass;
- flow-sensitive ones, from the ordered walk: what each name holds at each point, the order of
  every statement, where names are rebound ("resets"), where loops start, what is returned, and
  whether grad was off at each statement.

Helpers are followed: a call of a function of this file, or of the project, has the value its
body returns (computed by that function's own flow, up to ``MAX_DEPTH`` calls deep).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Callable, Iterable

from memlint.analysis import facts
from memlint.analysis.syntax import (
    FunctionNode,
    ScopeNode,
    dotted,
    is_number_literal,
    iter_scope,
    last_name,
    literal_loop_bound,
    target_names,
)
from memlint.analysis.values import (
    ARRAY,
    CLASS,
    FUNCTION,
    DATASET,
    GRAD,
    GRAD_ANY,
    GRAD_TENSOR,
    LOSS_FN,
    LOSS_FN_VALUE,
    MODEL,
    NUM,
    NUMBER,
    OPAQUE,
    OPAQUE_VALUE,
    SEQ,
    UNK,
    Value,
    function_ref,
    model,
)

if TYPE_CHECKING:
    from memlint.analysis.file import FileAnalysis

MAX_DEPTH = 3
EMPTY_LIST = Value(SEQ)
_WALK_FACTS = frozenset(
    {"env", "values", "counter", "order", "guarded_at", "resets", "literal_bindings", "loop_start", "returns"}
)


def names_in(expr: ast.AST, graph_only: bool = False) -> set[str]:
    """Names and ``self.x`` chains an expression reads as values (not the functions it calls).

    ``graph_only``: only the reads that can hand on autograd history: not those through
    ``t.item()``, ``float(t)``, ``t.detach()`` or ``t.data``, and a comprehension's iterable only
    when its element still reads the loop variable (``[t.item() for t in losses]`` hands none on)."""
    found: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if graph_only:
            if isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Attribute) and node.func.attr in facts.DETACHING_METHODS)
                or (isinstance(node.func, ast.Name) and node.func.id in facts.NUMBER_BUILTINS)
            ):
                continue
            if isinstance(node, ast.Attribute) and node.attr in facts.NO_GRAD_ATTRIBUTES:
                continue
            if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
                element = set().union(*(names_in(part, True) for part in parts))
                bound = {n for gen in node.generators for n in target_names(gen.target)}
                found |= element - bound
                if element & bound:
                    stack.extend(gen.iter for gen in node.generators)
                continue
        if isinstance(node, ast.Name):
            found.add(node.id)
            continue
        if isinstance(node, ast.Attribute):
            name = dotted(node)
            if name is not None:
                found.add(name)
                found.add(name.split(".")[0])
                continue
        if isinstance(node, (ast.Lambda, *FunctionNode)):
            continue
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                if isinstance(func.value, ast.Name):
                    found.add(func.value.id)  # `loss.mean()` reads loss
                else:
                    stack.append(func.value)
            stack.extend(node.args)
            stack.extend(k.value for k in node.keywords)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def bare_names(expr: ast.AST) -> set[str]:
    """Names used as whole values (``loss``, ``loss / n``, ``scaler.scale(loss)``), not through
    ``x["loss"]`` or ``x.loss``: a backward pass needs those to be tensors."""
    found: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                stack.append(node.func.value)
            stack.extend(node.args)
            stack.extend(k.value for k in node.keywords)
        elif isinstance(node, ast.BinOp):
            stack.extend((node.left, node.right))
        elif isinstance(node, ast.UnaryOp):
            stack.append(node.operand)
    return found


def is_backend(expr: ast.AST) -> bool:
    """``accelerator.backward(loss)``, ``fabric.backward(loss)``: the receiver is not a tensor."""
    name = last_name(expr)
    return name is not None and any(word in facts.BACKWARD_BACKENDS for word in name.lower().split("_"))


def is_optimizer_step(call: ast.Call) -> bool:
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr != "step":
        return False
    receiver = (last_name(func.value) or "").lower()
    return "optim" in receiver or receiver in ("opt", "scaler") or receiver.startswith("opt_")


def is_step_call(call: ast.Call, qualname: Callable[[ast.AST], "str | None"]) -> bool:
    """A backward pass (``loss.backward()``, ``torch.autograd.backward(loss)``) or an optimizer step."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in facts.BACKWARD_METHODS:
        return True
    if call.args and last_name(func) in facts.BACKWARD_METHODS and qualname(func) in facts.AUTOGRAD_FUNCTIONS:
        return True
    return is_optimizer_step(call)


def scope_nodes(scope: ast.AST) -> Iterable[ast.AST]:
    """The nodes a scope's own code runs: its statements and what they hold, the decorators and
    defaults of the functions and classes it defines, not their bodies."""
    if isinstance(scope, (ast.Module, *FunctionNode)):
        for stmt in scope.body:  # type: ignore[attr-defined]
            yield stmt
            yield from iter_scope(stmt) if not isinstance(stmt, ScopeNode) else _outer_parts(stmt)
    else:
        yield from iter_scope(scope)


def steps_in(file: "FileAnalysis", scope: ast.AST) -> bool:
    """The scope itself runs a backward pass or an optimizer step (``Flow.step_calls`` is not
    empty), asked without building its flow."""
    # A step call spells `backward` or `step` (its attribute or name): most files spell neither.
    if "backward" not in file.text and "step" not in file.text:
        return False
    if not isinstance(scope, ast.Module):
        rows = file.lines.rows_text(scope)
        if "backward" not in rows and "step" not in rows:
            return False
    qualname = file.qualname
    return any(isinstance(node, ast.Call) and is_step_call(node, qualname) for node in scope_nodes(scope))


class Flow:
    """The analysis of one scope; build it through ``FileAnalysis.flow``."""

    def __init__(self, file: "FileAnalysis", scope: ast.AST, depth: int = 0) -> None:
        self.file = file
        self.scope = scope
        self.depth = depth
        self.is_training_step = isinstance(scope, FunctionNode) and scope.name == "training_step"
        # flow-insensitive facts
        self.backward_calls: list[tuple[ast.Call, ast.AST | None]] = []
        self.step_calls: list[tuple[ast.Call, tuple[ast.AST, ...]]] = []
        self.local_calls: list[tuple[str, tuple[ast.AST, ...], ast.Call]] = []
        self.whole_reach: set[str] = set()
        self.partial_reach: set[str] = set()
        self.direct_backward: set[str] = set()
        self.tensor_reach: set[str] = set()
        self.assignments: list[tuple[list[str], ast.AST]] = []
        self.has_yield = False
        self._collect_facts()
        self.reach = self._reaching_names()
        self.evidence = bool(self.backward_calls) or self.is_training_step
        self._walked = False

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        """The flow-sensitive facts are computed on first use: many rules need only the others."""
        if name in _WALK_FACTS and not self.__dict__.get("_walked", True):
            self._walk()
            return self.__dict__[name]
        raise AttributeError(name)

    def _walk(self) -> None:
        self._walked = True
        self.env: dict[str, Value] = {}
        self.values: dict[int, Value] = {}
        self.counter = 0
        self.order: dict[int, int] = {}
        self.guarded_at: dict[int, bool] = {}
        self.resets: dict[str, list[int]] = {}
        self.literal_bindings: dict[str, list[tuple[int, bool]]] = {}
        self.loop_start: dict[int, int] = {}
        self.returns: list[tuple[ast.Return, Value]] = []
        self._run()

    # ================================================================== flow-insensitive facts
    def _scope_nodes(self) -> Iterable[ast.AST]:
        return scope_nodes(self.scope)

    def _collect_facts(self) -> None:
        qualname = self.file.qualname
        for node in self._scope_nodes():
            if isinstance(node, ast.Assign):
                names: list[str] = []
                for target in node.targets:
                    names.extend(target_names(target))
                self.assignments.append((names, node.value))
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                if node.value is not None:
                    self.assignments.append((target_names(node.target), node.value))
            elif isinstance(node, ast.Return):
                if self.is_training_step and node.value is not None:
                    # Lightning runs backward on what training_step returns (maybe a dict).
                    self.whole_reach |= names_in(node.value)
            elif isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)):
                self.has_yield = True
            elif isinstance(node, ast.Call):
                self._collect_call(node, qualname)

    def _collect_call(self, node: ast.Call, qualname) -> None:  # type: ignore[no-untyped-def]
        func = node.func
        reached: ast.AST | None = None
        if isinstance(func, ast.Attribute) and func.attr in facts.BACKWARD_METHODS:
            if node.args and (func.attr == "manual_backward" or is_backend(func.value)):
                reached = node.args[0]
            else:
                reached = func.value
                if isinstance(reached, ast.Name) and not node.args:
                    self.direct_backward.add(reached.id)
        elif node.args and qualname(func) in facts.AUTOGRAD_FUNCTIONS:
            reached = node.args[0]  # torch.autograd.grad(outputs, inputs)
        elif isinstance(func, ast.Attribute) and func.attr == "scale_loss" and node.args:
            reached = node.args[0]  # apex amp.scale_loss(loss, optimizer)
        loops = tuple(reversed(self.file.enclosing_loops(node)))
        if reached is not None:
            self.backward_calls.append((node, loops[-1] if loops else None))
            self._reached(reached)
        if is_step_call(node, qualname):
            self.step_calls.append((node, loops))
        if isinstance(func, ast.Name):
            self.local_calls.append((func.id, loops, node))
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            self.local_calls.append((func.attr, loops, node))

    def _reached(self, expr: ast.AST) -> None:
        if (
            isinstance(expr, ast.Subscript)
            and isinstance(expr.value, ast.Name)
            and is_number_literal(expr.slice)
        ):
            # `losses[-1].backward()` uses one element, not the whole history.
            self.partial_reach.add(expr.value.id)
            return
        self.whole_reach |= names_in(expr)
        self.tensor_reach |= bare_names(expr)

    def _reaching_names(self) -> set[str]:
        """Names whose value flows into a backward pass, through local assignments."""
        reach = set(self.whole_reach)
        changed = True
        while changed:
            changed = False
            for names, value in self.assignments:
                if any(n in reach for n in names):
                    new = names_in(value, graph_only=True) - reach
                    if new:
                        reach |= new
                        changed = True
        return reach

    # ================================================================== queries
    def value_of(self, node: ast.AST) -> Value:
        """The value recorded for ``node`` when the walk read it (unknown if it never did)."""
        return self.values.get(id(node), UNK)

    def statement_order(self, stmt: ast.AST) -> int:
        return self.order.get(id(stmt), -1)

    def literal_before(self, name: str, order: int) -> bool:
        """Was ``name``'s last fresh binding before ``order`` a number literal (``total = 0``)?"""
        last = False
        for at, literal in self.literal_bindings.get(name, ()):
            if at >= order:
                break
            last = literal
        return last

    def return_value(self) -> Value:
        """What the scope hands back to its callers."""
        if isinstance(self.scope, FunctionNode) and self.file.decorator_guard(self.scope) is not None:
            return NUM
        states = [value for _, value in self.returns]
        if not states:
            return UNK
        tuples = [v for v in states if v.kind == OPAQUE]
        if tuples:
            lengths = {len(v.items) for v in tuples}
            if len(tuples) == len(states) and len(lengths) == 1 and lengths != {0}:
                items = tuple(_join_items([v.items[i] for v in tuples]) for i in range(lengths.pop()))
                return Value(OPAQUE, items=items)
            return OPAQUE_VALUE
        kinds = {v.kind for v in states}
        if kinds == {"number"}:
            return NUM
        if kinds == {GRAD}:
            return GRAD_TENSOR if all(v.tensor for v in states) else GRAD_ANY
        if len(set(states)) == 1:
            return states[0]
        return UNK

    # ================================================================== the ordered walk
    def _run(self) -> None:
        if isinstance(self.scope, (ast.Module, *FunctionNode)):
            self._block(self.scope.body, False, [])

    def _block(self, statements: list[ast.stmt], guarded: bool, loops: list[ast.AST]) -> bool:
        for stmt in statements:
            guarded = self._statement(stmt, guarded, loops)
        return guarded

    def _statement(self, stmt: ast.stmt, guarded: bool, loops: list[ast.AST]) -> bool:
        """Read one statement; returns whether grad is off for the statements after it."""
        self.counter += 1
        self.order[id(stmt)] = self.counter
        self.guarded_at[id(stmt)] = guarded
        if isinstance(stmt, ast.Expr):
            value = stmt.value
            if isinstance(value, ast.Call):
                name = self.file.qualname(value.func)
                if name is not None and name in facts.GUARD_SET and value.args:
                    self.eval(value, guarded)
                    first = value.args[0]
                    return not (isinstance(first, ast.Constant) and first.value is True)
            self.eval(value, guarded)
            if isinstance(value, ast.Call):
                self._grow_list(value, guarded)
        elif isinstance(stmt, ast.Assign):
            value = self.eval(stmt.value, guarded)
            for target in stmt.targets:
                self._store(target, value, stmt.value, guarded)
        elif isinstance(stmt, ast.AugAssign):
            new = self.eval(stmt.value, guarded)
            self.eval(stmt.target, guarded)
            if isinstance(stmt.target, ast.Name):
                old = self.env.get(stmt.target.id, UNK)
                if new.grad or old.grad:
                    self.env[stmt.target.id] = GRAD_TENSOR
                elif old.kind == new.kind == NUMBER:
                    self.env[stmt.target.id] = NUM
                else:
                    self.env[stmt.target.id] = UNK
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self._bind(stmt.target, self.eval(stmt.value, guarded), stmt.value)
        elif isinstance(stmt, ast.Return):
            if stmt.value is not None:
                value = self.eval(stmt.value, guarded)
                if isinstance(stmt.value, (ast.Tuple, ast.List)):
                    value = Value(OPAQUE, items=value.items)
                elif isinstance(stmt.value, ast.Dict):
                    value = OPAQUE_VALUE
                self.returns.append((stmt, value))
        elif isinstance(stmt, ast.Delete):
            for target in stmt.targets:
                for name in target_names(target):
                    self.env.pop(name, None)
        elif isinstance(stmt, ast.If):
            self.eval(stmt.test, guarded)
            self._block(stmt.body, guarded, loops)
            self._block(stmt.orelse, guarded, loops)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            iterated = self.eval(stmt.iter, guarded)
            self.counter += 1
            self.loop_start[id(stmt)] = self.counter
            self._bind(stmt.target, _element_of(iterated))
            self._block(stmt.body, guarded, loops + [stmt])
            self._block(stmt.orelse, guarded, loops)
        elif isinstance(stmt, ast.While):
            self.counter += 1
            self.loop_start[id(stmt)] = self.counter
            self.eval(stmt.test, guarded)
            self._block(stmt.body, guarded, loops + [stmt])
            self._block(stmt.orelse, guarded, loops)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            inner = guarded
            for item in stmt.items:
                kind = self.file.grad_guard_kind(item.context_expr)
                if kind in ("off", "phase"):
                    inner = True
                elif kind == "on":
                    inner = False
                else:
                    self.eval(item.context_expr, guarded)
                if item.optional_vars is not None:
                    self._bind(item.optional_vars, UNK)
            self._block(stmt.body, inner, loops)
        elif isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            self._block(stmt.body, guarded, loops)
            for handler in stmt.handlers:
                self._block(handler.body, guarded, loops)
            self._block(stmt.orelse, guarded, loops)
            self._block(stmt.finalbody, guarded, loops)
        elif isinstance(stmt, ast.Match):
            self.eval(stmt.subject, guarded)
            for case in stmt.cases:
                self._block(case.body, guarded, loops)
        elif isinstance(stmt, FunctionNode):
            self.env[stmt.name] = function_ref(self.file.qualified_name(stmt))
        elif isinstance(stmt, ast.ClassDef):
            self.env[stmt.name] = Value(CLASS, origin=self.file.qualified_name(stmt))
        return guarded

    def _grow_list(self, call: ast.Call, guarded: bool) -> None:
        """``xs.append(v)`` / ``xs.extend(vs)`` / ``xs.insert(i, v)`` on a list this scope built:
        the list's elements are what was put in (``losses = []`` ... ``sum(losses)``)."""
        func = call.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and call.args):
            return
        current = self.env.get(func.value.id)
        if current is None or current.kind != SEQ or current.items:
            return
        if func.attr == "append":
            added = self.value_of(call.args[0])
        elif func.attr == "insert" and len(call.args) > 1:
            added = self.value_of(call.args[1])
        elif func.attr == "extend":
            source = self.value_of(call.args[0])
            added = source.elem if source.kind == SEQ and source.elem is not None else (GRAD_ANY if source.grad else UNK)
        else:
            return
        elem = added if current.elem is None or current.elem == added else _join_items([current.elem, added])
        self.env[func.value.id] = Value(SEQ, elem=elem, origin=self._growth(call) or current.origin)

    # ------------------------------------------------------------------ bindings
    def _store(self, target: ast.AST, value: Value, expr: ast.AST, guarded: bool) -> None:
        if isinstance(target, (ast.Subscript, ast.Attribute)):
            self.eval(target.value, guarded)
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) and value.grad and not guarded:
                # `losses["total"] = a * losses["ce"] + b`: the dict now holds a graph
                self.env[target.value.id] = GRAD_ANY
            elif isinstance(target.value, ast.Name) and self.env.get(target.value.id, UNK).grad:
                # `output["loss"] = output["loss"].detach()`: the container changed.
                self.env[target.value.id] = UNK
        if isinstance(target, (ast.Tuple, ast.List)):
            self._bind_tuple(target, expr, value, guarded)
        else:
            self._bind(target, value, expr)

    def _bind(self, target: ast.AST, value: Value, expr: ast.AST | None = None) -> None:
        if isinstance(target, (ast.Tuple, ast.List)) and value.items and len(value.items) == len(target.elts):
            for element, item in zip(target.elts, value.items):
                self._bind(element, item)
            return
        for name in target_names(target):
            bound = value
            if name in self.whole_reach and (value.kind == "unknown" or (value.grad and not value.tensor)) and "." not in name:
                # It flows into backward: it carries history.
                bound = GRAD_TENSOR if name in self.tensor_reach else GRAD_ANY
            self.env[name] = bound
            self.counter += 1
            if expr is None or name not in names_in(expr):
                self.resets.setdefault(name, []).append(self.counter)
                self.literal_bindings.setdefault(name, []).append((self.counter, expr is not None and is_number_literal(expr)))

    def _bind_tuple(self, target: ast.Tuple | ast.List, value_expr: ast.AST, value: Value, guarded: bool) -> None:
        if isinstance(value_expr, (ast.Tuple, ast.List)) and len(value_expr.elts) == len(target.elts):
            for t, v in zip(target.elts, value_expr.elts):
                self._bind(t, self.value_of(v), v)
            return
        # `out, hidden = model(x)`: unknown parts, unless a part reaches backward, or a loss
        # function hands back its terms (`loss, mse, ce = loss_fn(...)`), or a step helper hands
        # back the loss it backpropagates with its terms (`loss, _, fine_loss = self.compute(x)`).
        parts = {n for element in target.elts for n in target_names(element)}
        loss_call = isinstance(value_expr, ast.Call) and ((value.grad and value.tensor) or bool(parts & self.whole_reach))
        items = value.items if value.items and len(value.items) == len(target.elts) else [UNK] * len(target.elts)
        for element, item in zip(target.elts, items):
            if item.kind == "unknown" and loss_call and isinstance(element, ast.Name) and facts.LOSS_PART_NAME.search(element.id.lower()):
                item = GRAD_TENSOR
            self._bind(element, item, value_expr)

    # ------------------------------------------------------------------ values
    def eval(self, expr: ast.AST, guarded: bool) -> Value:
        value = self._eval(expr, guarded)
        self.values[id(expr)] = value
        return value

    def _eval(self, expr: ast.AST, guarded: bool) -> Value:
        if isinstance(expr, ast.Name):
            state = self.env.get(expr.id)
            if state is not None:
                return state
            return self._global_value(expr.id)
        if isinstance(expr, (ast.Constant, ast.JoinedStr, ast.Compare)):
            if isinstance(expr, ast.Compare):
                self.eval(expr.left, guarded)
                for comparator in expr.comparators:
                    self.eval(comparator, guarded)
            return NUM
        if isinstance(expr, ast.BinOp):
            left = self.eval(expr.left, guarded)
            right = self.eval(expr.right, guarded)
            if left.grad or right.grad:
                return GRAD_TENSOR
            if left.kind == right.kind == NUMBER:
                return NUM
            if left.kind == ARRAY and right.kind in (ARRAY, NUMBER):
                return left
            return UNK
        if isinstance(expr, ast.UnaryOp):
            inner = self.eval(expr.operand, guarded)
            if isinstance(expr.op, ast.Not):
                return NUM
            return GRAD_TENSOR if inner.grad else (NUM if inner.kind == NUMBER else inner)
        if isinstance(expr, ast.IfExp):
            self.eval(expr.test, guarded)
            a, b = self.eval(expr.body, guarded), self.eval(expr.orelse, guarded)
            return a if a == b else UNK
        if isinstance(expr, (ast.Tuple, ast.List)):
            items = tuple(self.eval(e, guarded) for e in expr.elts)
            if not items and isinstance(expr, ast.List):
                return EMPTY_LIST
            if any(v.grad for v in items):
                return Value(GRAD, items=items)
            if items and all(v.kind == NUMBER for v in items):
                return Value(NUMBER, items=items)
            return Value("seq", items=items) if items and not any(isinstance(e, ast.Starred) for e in expr.elts) else UNK
        if isinstance(expr, ast.Dict):
            states = [self.eval(v, guarded) for v in expr.values]
            return GRAD_ANY if any(s.grad for s in states) else UNK
        if isinstance(expr, ast.Attribute):
            if expr.attr in facts.NO_GRAD_ATTRIBUTES:
                self.eval(expr.value, guarded)
                return NUM
            inner = self.eval(expr.value, guarded)
            if inner.grad:
                return GRAD_TENSOR if expr.attr in ("T", "mT", "real", "imag") else GRAD_ANY
            if inner.kind == NUMBER:
                return NUM
            if inner.kind == MODEL and expr.attr == "module":
                return inner  # DataParallel / DDP wrapper
            found = self._attribute_value(expr)
            return found if found.known else self._keras_attribute(expr, inner)
        if isinstance(expr, ast.Subscript):
            inner = self.eval(expr.value, guarded)
            self.eval(expr.slice, guarded)
            if inner.items and isinstance(expr.slice, ast.Constant) and type(expr.slice.value) is int:
                index = expr.slice.value
                if -len(inner.items) <= index < len(inner.items):
                    return inner.items[index]
            if inner.grad:
                return GRAD_ANY
            if inner.kind in (ARRAY, DATASET):
                return inner  # `x[:n]`, `data["x"]` of an npz, `splits["train"]` of tfds.load
            return NUM if inner.kind == NUMBER else UNK
        if isinstance(expr, ast.Call):
            return self._eval_call(expr, guarded)
        if isinstance(expr, ast.NamedExpr):
            value = self.eval(expr.value, guarded)
            self._bind(expr.target, value, expr.value)
            return value
        if isinstance(expr, ast.Starred):
            self.eval(expr.value, guarded)
        if isinstance(expr, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            self._comprehension(expr, guarded)
        return UNK

    def _comprehension(self, expr: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp, guarded: bool) -> None:
        """Record the values inside a comprehension (``[enc.predict(c) for c in chunks]``); its
        targets live only inside it, so the names it binds are put back afterwards."""
        saved: dict[str, Value | None] = {}
        for generator in expr.generators:
            iterated = self.eval(generator.iter, guarded)
            for name in target_names(generator.target):
                saved.setdefault(name, self.env.get(name))
                self.env[name] = UNK
            if isinstance(generator.target, ast.Name):
                self.env[generator.target.id] = _element_of(iterated)
            for condition in generator.ifs:
                self.eval(condition, guarded)
        parts = [expr.key, expr.value] if isinstance(expr, ast.DictComp) else [expr.elt]
        for part in parts:
            self.eval(part, guarded)
        for name, old in saved.items():
            if old is None:
                self.env.pop(name, None)
            else:
                self.env[name] = old

    def _global_value(self, name: str) -> Value:
        """A name this scope does not bind: a module-level definition or model, when known."""
        if name in ("True", "False", "None"):
            return NUM
        if isinstance(self.scope, ast.Module):
            return self.file.class_value(name)
        if name in self._parameters:
            # A parameter shadows the module's definitions (`def plot(generator)` next to a
            # builder `def generator()`); a module-level model of the same name is what scripts
            # usually pass, and stays the guess.
            value = self.file.global_value(name)
            return UNK if value.kind in (FUNCTION, CLASS) else value
        if name in self.file.module_functions:
            return function_ref(self.file.qualified_name(self.file.module_functions[name]))
        return self.file.global_value(name)

    @property
    def _parameters(self) -> frozenset[str]:
        found = self.__dict__.get("_parameter_names")
        if found is None:
            args = getattr(self.scope, "args", None)
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if args is not None else []
            found = self.__dict__["_parameter_names"] = frozenset(a.arg for a in every if a is not None)
        return found

    def _attribute_value(self, expr: ast.Attribute) -> Value:
        """``self.x``: what the class's ``__init__`` bound it to (models, losses); ``obj.x`` for an
        object of a project class (``metrics.tracker``): what that class binds."""
        if not (isinstance(expr.value, ast.Name) and expr.value.id == "self"):
            owner = self.env.get(expr.value.id) if isinstance(expr.value, ast.Name) else None
            if owner is not None and owner.kind == "instance" and owner.origin:
                return self.file.class_attribute(owner.origin, expr.attr)
            return UNK
        cls = self.file.enclosing_class(self.scope) if not isinstance(self.scope, ast.Module) else None
        if cls is None:
            return UNK
        return self.file.attribute_value(cls, expr.attr)

    def _args_state(self, call: ast.Call, guarded: bool) -> Value:
        states = [self.eval(a, guarded) for a in call.args] + [self.eval(k.value, guarded) for k in call.keywords]
        if any(carries_grad(s) for s in states):
            return GRAD_TENSOR
        return NUM if states and all(_numbers(s) for s in states) else UNK

    def _eval_call(self, call: ast.Call, guarded: bool) -> Value:
        func = call.func
        file = self.file
        library = facts.library_model(file.qualname(func) or "")
        if library is not None:
            self._args_state(call, guarded)
            return Value(MODEL, framework=library, origin=file.qualname(func) or "")
        source = self._data_source(call, guarded)
        if source is not None:
            return source
        if isinstance(func, ast.Attribute):
            receiver = self.eval(func.value, guarded)
            method = func.attr
            if receiver.kind in (ARRAY, DATASET):
                kept = self._data_method(receiver, call, guarded)
                if kept is not None:
                    return kept
            if method in facts.DETACHING_METHODS or method in facts.NO_GRAD_METHODS:
                self._args_state(call, guarded)
                return NUM
            qualified = file.qualname(func)
            if qualified is not None and qualified.split(".")[0] == "torch":
                return self._eval_torch(qualified, call, guarded)
            if receiver.kind == MODEL and method in ("to", "cuda", "cpu", "eval", "train", "half", "float", "double", "bfloat16", "requires_grad_", "share_memory"):
                self._args_state(call, guarded)
                return receiver  # `Net().eval().to(device)` is still the model
            if method in facts.TENSOR_METHODS:
                self._args_state(call, guarded)
                if receiver.grad:
                    return GRAD_TENSOR
                return NUM if receiver.kind == NUMBER else (receiver if receiver.kind == ARRAY else UNK)
            if method in ("max", "min") and not call.args and not call.keywords:
                return GRAD_TENSOR if receiver.grad else UNK
            if method in facts.CONTAINER_METHODS:
                self._args_state(call, guarded)
                if not receiver.grad:
                    return UNK
                # `for name, term in losses.items()`: the values carry the history, the keys do not
                if method == "values" and not call.args:
                    return Value(GRAD, elem=GRAD_ANY)
                if method == "items" and not call.args:
                    return Value(GRAD, elem=Value(GRAD, items=(UNK, GRAD_ANY)))
                return GRAD_ANY
            if receiver.kind == MODEL and method == "forward":
                self._args_state(call, guarded)
                return self._forward_result(receiver, func, guarded)
        arguments = self._args_state(call, guarded)
        if isinstance(func, ast.Name):
            bound = func.id in self.env
            if func.id in facts.NUMBER_BUILTINS and not bound:
                return NUM
            if func.id in facts.PROPAGATING_BUILTINS and not bound:
                return arguments
            qualified = file.qualname(func)
            if qualified == "functools.reduce":
                return arguments
            if qualified is not None and qualified.split(".")[0] == "torch":
                return self._eval_torch(qualified, call, guarded)
        name = dotted(func)
        if name is None:
            return UNK
        # A helper of this file or of the project decides for itself.
        helper = self._helper_value(call)
        if helper is not None and helper.known:
            if helper.kind == OPAQUE:
                return helper if helper.items else UNK
            if helper.kind == CLASS:
                return file.instance_of(helper.origin)
            return NUM if guarded and helper.grad else helper
        callee = self.env.get(name) if isinstance(func, ast.Name) else None
        if callee is None and isinstance(func, ast.Name):
            callee = self._global_value(func.id)
        if callee is not None and isinstance(func, ast.Name):
            self.values[id(func)] = callee
        if callee is None or callee.kind == "unknown":
            callee = self.value_of(func)
        if callee.kind == CLASS:
            return file.instance_of(callee.origin)
        if callee.kind == MODEL and callee.framework == "keras":
            return UNK
        if guarded or not self.evidence:
            return UNK
        last = (last_name(func) or "").lstrip("_").lower()
        if callee.kind == LOSS_FN or facts.LOSS_NAME.search(last):
            return GRAD_TENSOR
        if callee.kind == MODEL:
            return self._forward_result(callee, func, guarded)
        if self._model_like(func, last):
            return GRAD_ANY
        return UNK

    def _forward_result(self, model: Value, func: ast.AST, guarded: bool) -> Value:
        if guarded or not self.evidence:
            return UNK
        name = (last_name(func.value) if isinstance(func, ast.Attribute) and func.attr == "forward" else last_name(func)) or ""
        if facts.NOT_TRAINED_NAME.search(name.lstrip("_").lower()):
            return UNK
        return GRAD_ANY

    def _model_like(self, func: ast.AST, last: str) -> bool:
        if isinstance(func, ast.Name) and func.id == "self":
            return True
        if last == "forward" and isinstance(func, ast.Attribute):
            receiver_name = (last_name(func.value) or "").lstrip("_").lower()
            if receiver_name == "self":
                return True
            last = receiver_name
        if facts.NOT_TRAINED_NAME.search(last):
            return False
        return bool(facts.MODEL_NAME.search(last))

    def _eval_torch(self, qualified: str, call: ast.Call, guarded: bool) -> Value:
        if qualified in facts.AUTOGRAD_FUNCTIONS:
            self._args_state(call, guarded)
            # Gradients carry history only with create_graph=True.
            if any(k.arg == "create_graph" for k in call.keywords):
                return UNK if guarded else GRAD_ANY
            return NUM
        parts = qualified.split(".")
        last = parts[-1]
        if last in facts.TORCH_NO_GRAD_FUNCTIONS or (last.endswith("_like") and last.startswith(("zeros", "ones", "empty"))):
            self._args_state(call, guarded)
            return NUM
        if last[:1].isupper():
            # `nn.CrossEntropyLoss()` / `nn.Linear(...)`: a callable, not a value.
            self._args_state(call, guarded)
            if last.endswith("Loss"):
                return LOSS_FN_VALUE
            return Value(MODEL, framework="torch", origin=qualified) if "nn" in parts else UNK
        state = self._args_state(call, guarded)
        if (
            not state.known
            and "functional" in parts
            and facts.LOSS_FUNCTIONAL.search(last)
            and self.evidence
            and not guarded
        ):
            return GRAD_TENSOR
        return state

    # ------------------------------------------------------------------ keras models, arrays, tf.data
    def _keras_attribute(self, expr: ast.Attribute, owner: Value) -> Value:
        """Keras models reached through an attribute: ``vae.decoder`` (a sub-model of a Keras model,
        stored by its class or named like a model), ``self.model`` of a Keras callback."""
        if owner.kind == MODEL and owner.framework == "keras":
            stored = self.file.class_attribute(owner.origin, expr.attr)
            if stored.kind == MODEL or (not stored.known and facts.looks_like_keras_model_name(expr.attr)):
                return stored if stored.kind == MODEL else model("keras", f"{owner.origin}.{expr.attr}")
            return UNK
        if not (isinstance(expr.value, ast.Name) and expr.value.id == "self" and self.file.imports_any(facts.KERAS_LIBRARIES)):
            return UNK
        cls = self.file.enclosing_class(expr)
        if cls is None:
            return UNK
        if expr.attr == "model" and self.file.keras_class_kind(cls) == "callback":
            return model("keras", "keras.callbacks.Callback.model")
        stored = self.file.assigned_attribute(cls, expr.attr)  # `self.model = load_model(p)` in `pre_main`
        return stored if stored.kind == MODEL and stored.framework == "keras" else UNK

    def _data_source(self, call: ast.Call, guarded: bool) -> Value | None:
        """Arrays from NumPy and Keras utilities, tf.data pipelines from their sources; None when
        ``call`` is neither."""
        qualified = self.file.qualname(call.func)
        if qualified is None or qualified.split(".")[0] not in facts.DATA_LIBRARIES:
            return None
        keras = facts.keras_name(qualified) or qualified
        tf_source = facts.TF_DATA_SOURCES.get(qualified) or facts.TF_DATA_SOURCES.get(keras)
        if tf_source is not None:
            return self._tf_data_source(tf_source, qualified, call, guarded)
        array = facts.array_call(keras)
        if array is None:
            return None
        arguments = [self.eval(a, guarded) for a in call.args] + [self.eval(k.value, guarded) for k in call.keywords]
        if array == "load":
            mmap = next((k.value for k in call.keywords if k.arg == "mmap_mode"), call.args[1] if len(call.args) > 1 else None)
            mapped = mmap is not None and not (isinstance(mmap, ast.Constant) and mmap.value is None)
            return Value(ARRAY, origin="np.load:mmap" if mapped else "np.load")
        if array == "shape":
            size = literal_array_bytes(call)
            return Value(ARRAY, origin=f"sized:{size}") if size is not None else Value(ARRAY)
        # "keep": the result holds its first argument's data (or a list built item by item).
        first = arguments[0] if arguments else UNK
        if keras.endswith("to_categorical") and first.origin in ("loop", "built") and _many_classes(call):
            return Value(ARRAY, origin="built")  # one-hot over a vocabulary: items x classes
        if first.kind == ARRAY:
            return first
        if first.kind == SEQ and first.origin in ("loop", "files"):
            return Value(ARRAY, origin="built" if first.origin == "files" else "loop")
        if first.kind == SEQ and first.items and any(v.kind == ARRAY for v in first.items):
            return next(v for v in first.items if v.kind == ARRAY)
        return Value(ARRAY)

    def _tf_data_source(self, source: str, qualified: str, call: ast.Call, guarded: bool) -> Value:
        self._args_state(call, guarded)
        named = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "name"), None)
        if qualified.startswith("tensorflow_datasets.") and isinstance(named, ast.Constant):
            name = str(named.value).split(":")[0].split("/")[0]
            if name in facts.TFDS_SMALL_DATASETS:
                source = "small"
        elif source == "files" and (call.args or call.keywords) and self._downloaded((call.args or [call.keywords[0].value])[0]):
            source = "small"  # a tutorial-sized archive fetched with `keras.utils.get_file`
        elif source == "memory" and call.args and _literal_data(call.args[0]):
            source = "small"
        elif source == "memory" and call.args and self._names_files(call.args[0]):
            source = "paths"  # file names: a `.map` that reads them makes a pipeline over files
        elif source == "generated" and qualified.endswith(".range") and call.args and all(
            isinstance(a, ast.Constant) for a in call.args
        ):
            source = "small"
        dataset = Value(DATASET, framework="tf.data", origin=source)
        if any(k.arg == "with_info" and not (isinstance(k.value, ast.Constant) and not k.value.value) for k in call.keywords):
            return Value(SEQ, items=(dataset, UNK))  # `ds, info = tfds.load(..., with_info=True)`
        return dataset

    def _downloaded(self, expr: ast.AST, depth: int = 0) -> bool:
        """A path that comes from ``keras.utils.get_file(...)`` (directly, or through names and
        ``pathlib`` / ``os.path`` calls bound in this scope or the module)."""
        for node in ast.walk(expr):
            if isinstance(node, ast.Call) and last_name(node.func) == "get_file":
                return True
            if isinstance(node, ast.Name) and depth < 4:
                scopes = [self] if isinstance(self.scope, ast.Module) else [self, self.file.flow(self.file.tree, self.depth + 1)]
                for flow in scopes:
                    for names, value in flow.assignments:
                        if node.id in names and self._downloaded(value, depth + 1):
                            return True
        return False

    def _growth(self, call: ast.Call) -> str:
        """How ``xs.append(...)`` grows a list: "files" when a loop reads one file (or one element of
        a pipeline over files) per item, "loop" for another loop over data, "" otherwise (no loop,
        or only loops over a few literal items)."""
        loops = [
            loop
            for loop in self.file.enclosing_loops(call)
            if literal_loop_bound(loop) is None
            and not (isinstance(loop, (ast.For, ast.AsyncFor)) and 0 < len(self.value_of(loop.iter).items) <= 3)
        ]
        if not loops or not call.args:
            return ""
        added = call.args[-1]
        for loop in loops:
            made = _made_from(added, loop)
            if any(isinstance(n, ast.Call) and last_name(n.func) in facts.FILE_READ_NAMES for n in made):
                return "files"  # `xs.append(imread(p))`, `img = load_img(p); xs.append(img)`
            if isinstance(loop, (ast.For, ast.AsyncFor)) and any(isinstance(n, ast.Call) for n in made):
                source = self.value_of(loop.iter)
                if (source.kind == DATASET and source.origin == "files") or self._names_files(loop.iter):
                    return "files"  # `feats.append(base.predict(images))` per batch of a pipeline over files
        return "loop"

    def _names_files(self, expr: ast.AST) -> bool:
        """File names: ``paths``, ``(image_files, labels)``, ``glob.glob(...)``, ``sorted(os.listdir(d))``."""
        if isinstance(expr, (ast.Tuple, ast.List)) and expr.elts:
            return self._names_files(expr.elts[0])
        if isinstance(expr, ast.Call):
            if self.file.qualname(expr.func) in facts.FILE_LISTING_CALLS:
                return True
            return last_name(expr.func) in ("sorted", "list") and bool(expr.args) and self._names_files(expr.args[0])
        name = last_name(expr)
        return name is not None and bool(facts.PATHS_NAME.search(name))

    def _data_method(self, receiver: Value, call: ast.Call, guarded: bool) -> Value | None:
        """``ds.map(f).batch(n)`` is a pipeline over the same source; ``ds.take(n)`` bounds it;
        ``x.astype(...)`` / ``x.reshape(...)`` still hold the whole array."""
        method = call.func.attr  # type: ignore[attr-defined]
        if receiver.kind == DATASET and receiver.framework == "tf.data":
            if method == "take":
                self._args_state(call, guarded)
                count = call.args[0] if call.args else None
                n = count.value if isinstance(count, ast.Constant) and type(count.value) is int else "?"
                return Value(DATASET, framework="tf.data", origin=f"take:{n}:{receiver.origin}")
            if method in facts.TF_DATA_METHODS:
                self._args_state(call, guarded)
                if method in ("map", "interleave", "flat_map") and receiver.origin == "paths":
                    return Value(DATASET, framework="tf.data", origin="files")  # each name read into an element
                return receiver
            return None
        if receiver.kind == ARRAY and method in facts.ARRAY_KEEPING_METHODS:
            self._args_state(call, guarded)
            return receiver
        return None

    def _helper_value(self, call: ast.Call) -> Value | None:
        """What a function of this file or of the project returns; None when it is not one."""
        if self.depth >= MAX_DEPTH:
            return UNK if self.file.resolve_call(call) else None
        targets = self.file.resolve_call(call)
        if not targets:
            return None
        states = {owner.return_value(definition, self.depth + 1) for owner, definition in targets}
        return states.pop() if len(states) == 1 else UNK


def _made_from(expr: ast.AST, loop: ast.AST) -> list[ast.AST]:
    """The nodes of ``expr`` and of what the loop body assigned to the names it uses (one level)."""
    nodes = list(ast.walk(expr))
    used = {n.id for n in nodes if isinstance(n, ast.Name)}
    for node in ast.walk(loop):
        if isinstance(node, ast.Assign) and any(n in used for t in node.targets for n in target_names(t)):
            nodes.extend(ast.walk(node.value))
    return nodes


def _many_classes(call: ast.Call) -> bool:
    """``to_categorical(y, vocab_size)``: a class count that is not a small literal."""
    count = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "num_classes"), None)
    if count is None:
        return False
    return not (isinstance(count, ast.Constant) and isinstance(count.value, int) and count.value < 1000)


def _literal_data(expr: ast.AST) -> bool:
    """A literal list/tuple/dict of constants (or of such literals): small by construction."""
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
        return all(_literal_data(e) for e in expr.elts)
    if isinstance(expr, ast.Dict):
        return all(v is not None and _literal_data(v) for v in expr.values)
    if isinstance(expr, ast.UnaryOp):
        return _literal_data(expr.operand)
    return False





def literal_array_bytes(call: ast.Call) -> int | None:
    """Bytes of ``np.zeros((60000, 784), dtype="float32")`` / ``np.random.rand(100, 4)`` when the
    shape is written as literals; None otherwise."""
    shape_args: list[ast.AST] = list(call.args)
    shape_kw = next((k.value for k in call.keywords if k.arg in ("shape", "size")), None)
    if shape_kw is not None:
        shape_args = [shape_kw]
    elif shape_args and isinstance(shape_args[0], (ast.Tuple, ast.List)):
        shape_args = [shape_args[0]]
    elif len(shape_args) > 1 and not all(is_number_literal(a) for a in shape_args):
        shape_args = shape_args[:1]
    dims: list[int] = []
    for arg in shape_args:
        parts = arg.elts if isinstance(arg, (ast.Tuple, ast.List)) else [arg]
        for part in parts:
            if not (isinstance(part, ast.Constant) and type(part.value) is int and part.value >= 0):
                return None
            dims.append(part.value)
    if not dims:
        return None
    dtype = next((k.value for k in call.keywords if k.arg == "dtype"), None)
    itemsize = 8
    if dtype is not None:
        spelled = dtype.value if isinstance(dtype, ast.Constant) else last_name(dtype)
        itemsize = facts.DTYPE_BYTES.get(str(spelled), 8)
    total = itemsize
    for dim in dims:
        total *= dim
    return total


def carries_grad(value: Value) -> bool:
    """History in the value itself, or in the elements of a list built from such values."""
    return value.grad or (value.kind == SEQ and value.elem is not None and value.elem.grad)


def _element_of(iterated: Value) -> Value:
    if iterated.elem is not None:
        return iterated.elem
    return UNK


def _join_items(values: list[Value]) -> Value:
    first = values[0]
    if all(v == first for v in values):
        return first
    if all(v.grad for v in values):
        return GRAD_TENSOR if all(v.tensor for v in values) else GRAD_ANY
    return UNK


def _outer_parts(node: ast.AST) -> Iterable[ast.AST]:
    """What a nested def or class runs in the enclosing scope: decorators and defaults."""
    if isinstance(node, FunctionNode):
        parts = [*node.decorator_list, *node.args.defaults, *(d for d in node.args.kw_defaults if d)]
    elif isinstance(node, ast.ClassDef):
        parts = [*node.decorator_list, *node.bases]
    else:
        parts = []
    for part in parts:
        yield from ast.walk(part)


def value_without(flow: Flow, expr: ast.AST, excluded: frozenset[str]) -> Value:
    """The value of ``expr`` where it was read, with ``excluded`` names read as numbers."""
    if not excluded or not (names_in(expr) & excluded):
        return flow.value_of(expr)
    if isinstance(expr, ast.Name) or (isinstance(expr, ast.Attribute) and dotted(expr) in excluded):
        return NUM if (dotted(expr) in excluded) else flow.value_of(expr)
    recorded = flow.value_of(expr)
    if not recorded.grad:
        return recorded
    if isinstance(expr, ast.BinOp):
        left, right = value_without(flow, expr.left, excluded), value_without(flow, expr.right, excluded)
        if left.grad or right.grad:
            return GRAD_TENSOR
        return NUM if left.kind == right.kind == NUMBER else UNK
    if isinstance(expr, ast.UnaryOp):
        inner = value_without(flow, expr.operand, excluded)
        return GRAD_TENSOR if inner.grad else inner
    if isinstance(expr, (ast.Tuple, ast.List)):
        items = [value_without(flow, e, excluded) for e in expr.elts]
        return GRAD_ANY if any(v.grad for v in items) else UNK
    if isinstance(expr, ast.Call):
        if isinstance(expr.func, ast.Attribute) and expr.func.attr in facts.DETACHING_METHODS:
            return NUM
        parts = [*expr.args, *(k.value for k in expr.keywords)]
        if isinstance(expr.func, ast.Attribute):
            parts.append(expr.func.value)
        return GRAD_TENSOR if any(value_without(flow, p, excluded).grad for p in parts) else UNK
    if isinstance(expr, (ast.Attribute, ast.Subscript)):
        return GRAD_ANY if value_without(flow, expr.value, excluded).grad else UNK
    return recorded


def _numbers(value: Value) -> bool:
    """A number, or a sequence known to hold only numbers (``sum(losses)`` of ``float`` items)."""
    if value.kind == NUMBER:
        return True
    return value.kind == SEQ and value.elem is not None and value.elem.kind == NUMBER

