"""MEM002 accumulated-grad-tensor: a tensor with autograd history kept across loop iterations.

``total_loss += loss`` or ``losses.append(loss)`` in a training loop keeps every iteration's
graph alive through the accumulator: the PyTorch FAQ's first memory item ("Don't accumulate
history across your training loop"), TRI-ML/packnet-sfm#47 (21 -> 38 GB in an epoch),
rballester/tntorch PR#19 (12 GB after 1,000 iterations), BatsResearch/labelmodels#4.

How the rule knows a value carries grad, conservatively:
- it reaches ``.backward()`` / ``autograd.grad`` / ``accelerator.backward`` in the same function
  (or is returned from Lightning's ``training_step``), or
- it comes from a model-like call (``model(x)``, ``self.net(x)``, ``self(x)``) or a loss-like call
  (``criterion(...)``, ``F.cross_entropy(...)``, ``loss_fn(...)``) in a function that runs a
  backward pass (so grad is on there), outside any grad guard, or
- it is returned by a helper in the same file whose returned value is grad-carrying,
and nothing on the way reduced it to a number (``.item()``, ``.detach()``, ``float()``,
``.tolist()``, ``.numpy()``, ``.data``, comparisons, ``argmax``...). Anything else is unknown
and the rule stays silent.

It stays silent when the accumulator reaches a backward pass (gradient accumulation,
multi-task sums), when the accumulator is rebuilt every iteration, under grad guards, and when
the accumulation is bounded to one training step (a list of per-head outputs reset per batch).

The analysis runs once per function (or module body), only when a cheap trigger matched: an
augmented assignment or an ``append``-like call inside a loop, and a backward call somewhere in
the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import libcst as cst

from memlint.context import FileContext, SameScopeVisitor, dotted_name, walk
from memlint.legacy_rule import Fix, Invalid, Rule, Valid

# Abstract values, ordered loosely by what we know.
NUM = "num"  # a Python number or a tensor without history
UNK = "unk"  # unknown: stay silent
GRAD = "grad"  # carries history; may be a container (model outputs, dicts)
GRAD_T = "grad_t"  # carries history and is known to be a tensor (can be detached)
LOSSFN = "lossfn"  # a local name bound to an nn.*Loss instance
MODELFN = "modelfn"  # a local name bound to an nn module instance
OPAQUE = "opaque"  # an in-file helper returns a tuple or dict: do not guess from its name

_GRADS = (GRAD, GRAD_T)

_ACCUMULATING_METHODS = frozenset({"append", "extend", "insert", "update", "add_"})
_SAFE_METHODS = frozenset({"item", "detach", "tolist", "numpy", "detach_", "size", "dim", "numel", "nelement"})
_NO_GRAD_METHODS = frozenset(
    {
        "argmax", "argmin", "argsort", "eq", "ne", "lt", "le", "gt", "ge", "isnan", "isinf",
        "isfinite", "nonzero", "long", "int", "bool", "byte", "short", "char", "element_size",
        "data_ptr", "stride", "is_contiguous", "equal", "all", "any", "count_nonzero",
    }
)
_TENSOR_METHODS = frozenset(
    {
        "cpu", "cuda", "to", "float", "double", "half", "bfloat16", "mean", "sum", "view", "reshape",
        "squeeze", "unsqueeze", "clone", "contiguous", "abs", "pow", "sqrt", "exp", "log",
        "flatten", "permute", "transpose", "t", "softmax", "log_softmax", "sigmoid", "tanh", "relu",
        "norm", "prod", "std", "var", "expand", "expand_as", "repeat", "mul", "add", "sub", "div",
        "type_as", "view_as", "reshape_as", "masked_fill", "neg", "square", "clamp", "clip",
        "logsumexp", "cumsum", "type",
    }
)
_NO_GRAD_ATTRS = frozenset(
    {"data", "shape", "grad", "device", "dtype", "requires_grad", "ndim", "is_cuda", "grad_fn", "is_leaf"}
)
_NUMBER_BUILTINS = frozenset({"float", "int", "bool", "len", "str", "round", "repr", "format", "isinstance", "id", "hash"})
_PROPAGATING_BUILTINS = frozenset({"sum", "reduce", "functools.reduce", "abs", "min", "max"})
_TORCH_NO_GRAD = frozenset(
    {
        "tensor", "as_tensor", "zeros", "ones", "empty", "full", "arange", "linspace", "randn", "rand",
        "randint", "randperm", "argmax", "argmin", "argsort", "eq", "ne", "isnan", "isinf", "isfinite",
        "numel", "is_tensor", "from_numpy", "zeros_like", "ones_like", "empty_like", "full_like",
        "randn_like", "rand_like", "equal", "allclose", "count_nonzero", "bincount", "topk",
        "sort", "max", "min", "unique", "where", "nonzero", "load", "save", "manual_seed",
    }
)
_LOSS_FUNCTIONAL = re.compile(r"(loss|cross_entropy|kl_div|nll|binary_cross_entropy|mse|l1|hinge|margin)")

_MODEL_NAME = re.compile(
    r"^(model|net|network|module|encoder|decoder|generator|discriminator|critic|actor|policy|"
    r"backbone|classifier|unet|vae|autoencoder|g|d|netg|netd|gen|disc|student|transformer|"
    r"model_engine|ddp_model|raw_model|wrapped_model)$"
    r"|_(model|net|network|encoder|decoder|generator|discriminator|classifier)$|^(model|net)_"
)
_NOT_TRAINED = re.compile(r"(ema|teacher|target|frozen|ref|reward|old)")
_LOSS_NAME = re.compile(
    r"^(criterion|crit|loss|loss_?fn|loss_?func|loss_?function|lossfunc|compute_?loss(es)?|"
    r"calc_?loss|calculate_?loss|get_?loss(es)?)$|_loss(_fn|_func)?$|_criterion$|^criterion_|^loss_fn_"
)
_LOSS_PART = re.compile(r"^(loss|mse|ce|bce|nll|kl|kld|l1|l2|cross_entropy|crossentropy)$|.+_loss$")
_CONCATENATE = frozenset({"torch.cat", "torch.stack", "torch.vstack", "torch.hstack", "torch.concat", "torch.concatenate"})
_NUMBER_CONSUMERS = frozenset(
    {
        "print", "format", "str", "float", "round", "int", "info", "debug", "warning", "log", "add_scalar",
        "set_postfix", "set_description", "write", "log_metrics", "set_postfix_str", "echo", "len",
    }
)
_BACKWARD_FUNCS = frozenset({"backward", "manual_backward"})
_TRAINING_STEP = "training_step"
_AUTOGRAD_FUNCS = frozenset(
    {"torch.autograd.grad", "torch.autograd.backward", "torch.autograd.functional.jacobian"}
)


@dataclass
class _Site:
    """One accumulation statement found by the walk."""

    node: cst.CSTNode  # what the report points at
    target: str  # how the accumulator reads (for the message)
    base: str | None  # local name or dotted ``self.x`` the accumulator lives in
    values: list[cst.BaseExpression]
    exclude: str | None  # the accumulator's own name inside ``acc = acc + v``
    index: int
    loops: list[cst.CSTNode]
    env: dict[str, str]
    numeric_start: bool = False


@dataclass
class _Facts:
    """Flow-insensitive facts about one function body (or the module body)."""

    backward_calls: list[tuple[cst.Call, cst.CSTNode | None]] = field(default_factory=list)
    # `.backward()` and optimizer `.step()` calls with their innermost loop: where a training step is.
    step_calls: list[tuple[cst.Call, tuple[cst.CSTNode, ...]]] = field(default_factory=list)
    # Calls of in-file functions by name (`f(...)`, `self.f(...)`) with their loops.
    local_calls: list[tuple[str, tuple[cst.CSTNode, ...]]] = field(default_factory=list)
    whole_reach: set[str] = field(default_factory=set)  # names used whole in a backward expression
    partial_reach: set[str] = field(default_factory=set)  # used as ``acc[-1]`` in one
    direct_backward: set[str] = field(default_factory=set)  # ``name.backward()`` with no gradient arg
    tensor_reach: set[str] = field(default_factory=set)  # names used bare in a backward expression
    assignments: list[tuple[list[str], cst.BaseExpression]] = field(default_factory=list)


def _last_component(func: cst.BaseExpression) -> str | None:
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return None


def _names_in(expr: cst.CSTNode) -> set[str]:
    """Names and ``self.x`` chains an expression reads as values (not the functions it calls)."""
    found: set[str] = set()

    def walk(node: cst.CSTNode) -> None:
        if isinstance(node, cst.Name):
            found.add(node.value)
            return
        if isinstance(node, cst.Attribute):
            dotted = dotted_name(node)
            if dotted is not None:
                found.add(dotted)
                found.add(dotted.split(".")[0])
                return
        if isinstance(node, (cst.Lambda, cst.FunctionDef)):
            return
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and not isinstance(func.value, cst.Name):
                walk(func.value)
            elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
                # `loss.mean()` reads loss; `torch.stack(...)` reads torch (harmless).
                found.add(func.value.value)
            for arg in node.args:
                walk(arg.value)
            return
        for child in node.children:
            walk(child)

    walk(expr)
    return found


def _bare_names(expr: cst.CSTNode) -> set[str]:
    """Names used as whole values (``loss``, ``loss / n``, ``scaler.scale(loss)``), not through
    ``x["loss"]`` or ``x.loss``: backward needs those to be tensors."""
    found: set[str] = set()

    def walk(node: cst.CSTNode) -> None:
        if isinstance(node, cst.Name):
            found.add(node.value)
        elif isinstance(node, cst.Call):
            if isinstance(node.func, cst.Attribute):
                walk(node.func.value)
            for arg in node.args:
                walk(arg.value)
        elif isinstance(node, (cst.BinaryOperation, cst.UnaryOperation)):
            for child in node.children:
                walk(child)

    walk(expr)
    return found


def _target_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        names: list[str] = []
        for element in target.elements:
            names.extend(_target_names(element.value))
        return names
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    dotted = dotted_name(target) if isinstance(target, cst.Attribute) else None
    return [dotted] if dotted else []


def _is_number_literal(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        expr = expr.expression
    return isinstance(expr, (cst.Integer, cst.Float))


class _FactCollector(SameScopeVisitor):
    """Backward calls, what they read, and every simple assignment, without entering nested scopes."""

    def __init__(self, ctx: "FileContext", is_training_step: bool) -> None:
        self.ctx = ctx
        self.facts = _Facts()
        self.loops: list[cst.CSTNode] = []
        self.is_training_step = is_training_step

    def visit_For(self, node: cst.For) -> None:
        self.loops.append(node)

    def leave_For(self, node: cst.For) -> None:
        self.loops.pop()

    def visit_While(self, node: cst.While) -> None:
        self.loops.append(node)

    def leave_While(self, node: cst.While) -> None:
        self.loops.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        names: list[str] = []
        for target in node.targets:
            names.extend(_target_names(target.target))
        self.facts.assignments.append((names, node.value))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.facts.assignments.append((_target_names(node.target), node.value))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self.facts.assignments.append((_target_names(node.target), node.value))

    def visit_Return(self, node: cst.Return) -> None:
        # Lightning runs backward on what training_step returns.
        if self.is_training_step and node.value is not None:
            # It may be a dict holding the loss: history, but not known to be a tensor.
            self.facts.whole_reach |= _names_in(node.value)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        reached: cst.BaseExpression | None = None
        if isinstance(func, cst.Attribute) and func.attr.value in _BACKWARD_FUNCS:
            if node.args and func.attr.value == "manual_backward" or (
                node.args and node.args[0].keyword is None and _is_backend(func.value)
            ):
                reached = node.args[0].value
            else:
                reached = func.value
                if isinstance(reached, cst.Name) and not any(a.keyword is None for a in node.args):
                    self.facts.direct_backward.add(reached.value)
        elif self.ctx.qualname(func) in _AUTOGRAD_FUNCS and node.args:
            reached = node.args[0].value  # torch.autograd.grad(outputs, inputs)
        elif isinstance(func, cst.Attribute) and func.attr.value == "scale_loss" and node.args:
            reached = node.args[0].value  # apex amp.scale_loss(loss, optimizer)
        loop = self.loops[-1] if self.loops else None
        loops = tuple(self.loops)
        if reached is not None:
            self.facts.backward_calls.append((node, loop))
            self._reached(reached)
            if _last_component(func) in _BACKWARD_FUNCS:
                self.facts.step_calls.append((node, loops))
        elif isinstance(func, cst.Attribute) and func.attr.value == "step":
            receiver = (_last_component(func.value) or "").lower()
            if "optim" in receiver or receiver in ("opt", "scaler") or receiver.startswith("opt_"):
                self.facts.step_calls.append((node, loops))
        if isinstance(func, cst.Name):
            self.facts.local_calls.append((func.value, loops))
        elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
            self.facts.local_calls.append((func.attr.value, loops))

    def _reached(self, expr: cst.BaseExpression) -> None:
        if (
            isinstance(expr, cst.Subscript)
            and isinstance(expr.value, cst.Name)
            and len(expr.slice) == 1
            and isinstance(expr.slice[0].slice, cst.Index)
            and _is_number_literal(expr.slice[0].slice.value)
        ):
            # `losses[-1].backward()` uses one element, not the whole history.
            self.facts.partial_reach.add(expr.value.value)
            return
        self.facts.whole_reach |= _names_in(expr)
        self.facts.tensor_reach |= _bare_names(expr)


_BACKENDS = frozenset({"accelerator", "fabric", "engine", "trainer", "strategy", "autograd", "amp", "deepspeed", "self", "precision", "model"})


def _is_backend(expr: cst.BaseExpression) -> bool:
    """``accelerator.backward(loss)``, ``fabric.backward(loss)``, ``engine.backward(loss)``: not a tensor."""
    name = _last_component(expr)
    if name is None:
        return False
    return any(word in _BACKENDS for word in name.lower().split("_"))


def _reaching_names(facts: _Facts) -> set[str]:
    """Names whose value flows into a backward pass, through local assignments."""
    reach = set(facts.whole_reach)
    changed = True
    while changed:
        changed = False
        for names, value in facts.assignments:
            if any(n in reach for n in names):
                new = _names_in(value) - reach
                if new:
                    reach |= new
                    changed = True
    return reach


class _Unit:
    """The analysis of one function body (or the module body)."""

    def __init__(self, rule: "AccumulatedGradTensor", node: cst.FunctionDef | cst.Module, depth: int = 0) -> None:
        self.rule = rule
        self.ctx = rule.ctx
        self.node = node
        self.depth = depth
        self.is_training_step = isinstance(node, cst.FunctionDef) and node.name.value == _TRAINING_STEP
        collector = _FactCollector(self.ctx, self.is_training_step)
        body = node.body if isinstance(node, cst.FunctionDef) else node
        if isinstance(node, cst.FunctionDef):
            walk(node.body, collector)
        else:
            for stmt in node.body:
                walk(stmt, collector)
        self.facts = collector.facts
        self.reach = _reaching_names(self.facts)
        self.evidence = bool(self.facts.backward_calls) or self.is_training_step
        self.env: dict[str, str] = {}
        self.counter = 0
        self.resets: dict[str, list[int]] = {}
        self.loop_start: dict[int, int] = {}
        self.sites: list[_Site] = []
        self.returns: list[str] = []
        self._body = body

    # ------------------------------------------------------------------ walk
    def run(self, guarded: bool) -> None:
        statements = self._body.body if isinstance(self.node, cst.FunctionDef) else self.node.body
        self._block(statements, guarded, [])

    def _block(self, statements: Sequence[cst.CSTNode], guarded: bool, loops: list[cst.CSTNode]) -> None:
        for stmt in statements:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    guarded = self._small(small, guarded, loops)
            else:
                self._compound(stmt, guarded, loops)

    def _suite(self, suite: cst.BaseSuite, guarded: bool, loops: list[cst.CSTNode]) -> None:
        if isinstance(suite, cst.IndentedBlock):
            self._block(suite.body, guarded, loops)
        elif isinstance(suite, cst.SimpleStatementSuite):
            for small in suite.body:
                guarded = self._small(small, guarded, loops)

    def _compound(self, stmt: cst.CSTNode, guarded: bool, loops: list[cst.CSTNode]) -> None:
        if isinstance(stmt, cst.If):
            self._suite(stmt.body, guarded, loops)
            orelse = stmt.orelse
            if isinstance(orelse, cst.If):
                self._compound(orelse, guarded, loops)
            elif orelse is not None:
                self._suite(orelse.body, guarded, loops)
        elif isinstance(stmt, (cst.For, cst.While)):
            self.counter += 1
            self.loop_start[id(stmt)] = self.counter
            if isinstance(stmt, cst.For):
                self._bind(stmt.target, self._iterated(stmt.iter))
            self._suite(stmt.body, guarded, loops + [stmt])
            if stmt.orelse is not None:
                self._suite(stmt.orelse.body, guarded, loops)
        elif isinstance(stmt, cst.With):
            inner = guarded
            for item in stmt.items:
                kind = self.ctx.grad_guard_kind(item.item)
                if kind is not None:
                    inner = True
                elif self._enables_grad(item.item):
                    inner = False
                if item.asname is not None:
                    self._bind(item.asname.name, UNK)
            self._suite(stmt.body, inner, loops)
        elif isinstance(stmt, cst.Try):
            self._suite(stmt.body, guarded, loops)
            for handler in stmt.handlers:
                self._suite(handler.body, guarded, loops)
            if stmt.orelse is not None:
                self._suite(stmt.orelse.body, guarded, loops)
            if stmt.finalbody is not None:
                self._suite(stmt.finalbody.body, guarded, loops)
        elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            self.env[stmt.name.value] = UNK

    def _enables_grad(self, expr: cst.BaseExpression) -> bool:
        target = expr.func if isinstance(expr, cst.Call) else expr
        name = self.ctx.qualname(target)
        return name is not None and name.endswith("enable_grad")

    def _small(self, small: cst.BaseSmallStatement, guarded: bool, loops: list[cst.CSTNode]) -> bool:
        """Handle one small statement; returns the grad guard for the statements after it."""
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            call = small.value
            name = self.ctx.qualname(call.func)
            if name is not None and name.endswith("set_grad_enabled") and call.args:
                value = call.args[0].value
                return not (isinstance(value, cst.Name) and value.value == "True")
            self._call_site(small, call, guarded, loops)
        elif isinstance(small, cst.AugAssign):
            recorded = len(self.sites)
            self._augassign_site(small, guarded, loops)
            if isinstance(small.target, cst.Name):
                old = self.env.get(small.target.value, UNK)
                new = self._eval(small.value, guarded)
                if len(self.sites) > recorded:
                    # Reported here; what is computed from it later is the same finding.
                    self.env[small.target.value] = UNK
                else:
                    self.env[small.target.value] = GRAD_T if new in _GRADS or old in _GRADS else (NUM if old == new == NUM else UNK)
        elif isinstance(small, cst.Assign):
            recorded = len(self.sites)
            self._assign_site(small, guarded, loops)
            value = UNK if len(self.sites) > recorded else self._eval(small.value, guarded)
            for target in small.targets:
                stored = target.target
                if isinstance(stored, (cst.Subscript, cst.Attribute)) and isinstance(stored.value, cst.Name):
                    # `output["loss"] = output["loss"].detach()`: the container changed.
                    if self.env.get(stored.value.value) in _GRADS:
                        self.env[stored.value.value] = UNK
                if isinstance(target.target, (cst.Tuple, cst.List)):
                    self._bind_tuple(target.target, small.value, guarded)
                else:
                    self._bind(target.target, value, small.value)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            self._bind(small.target, self._eval(small.value, guarded), small.value)
        elif isinstance(small, cst.Return) and small.value is not None:
            if isinstance(small.value, (cst.Tuple, cst.List, cst.Dict)):
                self.returns.append(OPAQUE)
            else:
                self.returns.append(self._eval(small.value, guarded))
        elif isinstance(small, cst.Del):
            for name in _target_names(small.target):
                self.env.pop(name, None)
        return guarded

    # ------------------------------------------------------------------ bindings
    def _bind(self, target: cst.BaseExpression, value: str, expr: cst.BaseExpression | None = None) -> None:
        names = _target_names(target)
        for name in names:
            if name in self.facts.whole_reach and value in (UNK, GRAD) and "." not in name:
                # It flows into backward: it carries history.
                value = GRAD_T if name in self.facts.tensor_reach else GRAD
            self.env[name] = value
            self.counter += 1
            if expr is None or not (name in _names_in(expr)):
                self.resets.setdefault(name, []).append(self.counter)
                if expr is not None:
                    self.rule.last_literal[(id(self.node), name)] = _is_number_literal(expr)

    def _bind_tuple(self, target: cst.Tuple | cst.List, value: cst.BaseExpression, guarded: bool) -> None:
        if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(target.elements):
            for t, v in zip(target.elements, value.elements):
                self._bind(t.value, self._eval(v.value, guarded), v.value)
            return
        # `out, hidden = model(x)`: unknown parts, unless a part reaches backward, or a loss
        # function hands back its terms (`loss, mse, ce = loss_fn(...)`).
        loss_call = self._eval(value, guarded) == GRAD_T and isinstance(value, cst.Call)
        for element in target.elements:
            state = UNK
            if loss_call and isinstance(element.value, cst.Name) and _LOSS_PART.search(element.value.value.lower()):
                state = GRAD_T
            self._bind(element.value, state, value)

    def _iterated(self, expr: cst.BaseExpression) -> str:
        return UNK

    # ------------------------------------------------------------------ values
    def _eval(self, expr: cst.BaseExpression, guarded: bool) -> str:
        if isinstance(expr, cst.Name):
            state = self.env.get(expr.value)
            if state is None:
                return NUM if expr.value in ("True", "False", "None") else UNK
            return state if state in (NUM, UNK, GRAD, GRAD_T) else UNK
        if isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
            return NUM
        if isinstance(expr, cst.Comparison):
            return NUM
        if isinstance(expr, cst.BinaryOperation):
            left = self._eval(expr.left, guarded)
            right = self._eval(expr.right, guarded)
            if left in _GRADS or right in _GRADS:
                return GRAD_T
            return NUM if left == right == NUM else UNK
        if isinstance(expr, cst.UnaryOperation):
            if isinstance(expr.operator, cst.Not):
                return NUM
            inner = self._eval(expr.expression, guarded)
            return GRAD_T if inner in _GRADS else inner
        if isinstance(expr, cst.IfExp):
            a, b = self._eval(expr.body, guarded), self._eval(expr.orelse, guarded)
            return a if a == b else UNK
        if isinstance(expr, (cst.Tuple, cst.List)):
            states = [self._eval(e.value, guarded) for e in expr.elements]
            return GRAD if any(s in _GRADS for s in states) else (NUM if all(s == NUM for s in states) else UNK)
        if isinstance(expr, cst.Dict):
            states = [self._eval(e.value, guarded) for e in expr.elements if isinstance(e, cst.DictElement)]
            return GRAD if any(s in _GRADS for s in states) else UNK
        if isinstance(expr, cst.Attribute):
            if expr.attr.value in _NO_GRAD_ATTRS:
                return NUM
            inner = self._eval(expr.value, guarded)
            if inner in _GRADS:
                return GRAD if expr.attr.value not in ("T", "mT", "real", "imag") else GRAD_T
            return NUM if inner == NUM else UNK
        if isinstance(expr, cst.Subscript):
            inner = self._eval(expr.value, guarded)
            return GRAD if inner in _GRADS else (NUM if inner == NUM else UNK)
        if isinstance(expr, cst.Call):
            return self._eval_call(expr, guarded)
        if isinstance(expr, cst.NamedExpr):
            return self._eval(expr.value, guarded)
        return UNK

    def _args_state(self, call: cst.Call, guarded: bool) -> str:
        states = [self._eval(a.value, guarded) for a in call.args]
        if any(s in _GRADS for s in states):
            return GRAD_T
        return NUM if states and all(s == NUM for s in states) else UNK

    def _eval_call(self, call: cst.Call, guarded: bool) -> str:
        func = call.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method in _SAFE_METHODS or method in _NO_GRAD_METHODS:
                return NUM
            qualified = self.ctx.qualname(func)
            if qualified is not None and qualified.split(".")[0] == "torch":
                return self._eval_torch(qualified, call, guarded)
            if method in _TENSOR_METHODS:
                receiver = self._eval(func.value, guarded)
                if receiver in _GRADS:
                    return GRAD_T
                return NUM if receiver == NUM else UNK
            if method in ("max", "min") and not call.args:
                receiver = self._eval(func.value, guarded)
                return GRAD_T if receiver in _GRADS else UNK
            if method in ("values", "items", "get", "pop", "copy"):
                receiver = self._eval(func.value, guarded)
                return GRAD if receiver in _GRADS else UNK
        name = dotted_name(func)
        if isinstance(func, cst.Name):
            if func.value in _NUMBER_BUILTINS and func.value not in self.env:
                return NUM
            if func.value in _PROPAGATING_BUILTINS and func.value not in self.env:
                return self._args_state(call, guarded)
            qualified = self.ctx.qualname(func)
            if qualified == "functools.reduce":
                return self._args_state(call, guarded)
            if qualified is not None and qualified.split(".")[0] == "torch":
                return self._eval_torch(qualified, call, guarded)
        if name is None:
            return UNK
        # A helper in this file decides for itself.
        helper = self.rule.helper_state(func, self.depth)
        if helper is not None and helper != UNK:
            if helper == OPAQUE:
                return UNK
            return NUM if guarded and helper in _GRADS else helper
        if guarded or not self.evidence:
            return UNK
        local = self.env.get(name)
        last = (_last_component(func) or "").lstrip("_").lower()
        if local == LOSSFN or _LOSS_NAME.search(last):
            return GRAD_T
        if local == MODELFN or self._model_like(func, last):
            return GRAD
        return UNK

    def _model_like(self, func: cst.BaseExpression, last: str) -> bool:
        if isinstance(func, cst.Name) and func.value == "self":
            return True
        receiver_name = ""
        if last == "forward" and isinstance(func, cst.Attribute):
            receiver_name = (_last_component(func.value) or "").lstrip("_").lower()
            if receiver_name == "self":
                return True
            last = receiver_name
        if _NOT_TRAINED.search(last):
            return False
        return bool(_MODEL_NAME.search(last))

    def _eval_torch(self, qualified: str, call: cst.Call, guarded: bool) -> str:
        if qualified in _AUTOGRAD_FUNCS:
            # Gradients carry history only with create_graph=True.
            for arg in call.args:
                if arg.keyword is not None and arg.keyword.value == "create_graph":
                    return UNK if guarded else GRAD
            return NUM
        parts = qualified.split(".")
        last = parts[-1]
        if last in _TORCH_NO_GRAD or last.endswith("_like") and last.startswith(("zeros", "ones", "empty")):
            return NUM
        if last[:1].isupper():
            # `nn.CrossEntropyLoss()` / `nn.Linear(...)`: a callable, not a value.
            if last.endswith("Loss"):
                return LOSSFN
            return MODELFN if "nn" in parts else UNK
        state = self._args_state(call, guarded)
        if state == UNK and "functional" in parts and _LOSS_FUNCTIONAL.search(last) and self.evidence and not guarded:
            return GRAD_T
        return state

    # ------------------------------------------------------------------ accumulation sites
    def _call_site(self, stmt: cst.CSTNode, call: cst.Call, guarded: bool, loops: list[cst.CSTNode]) -> None:
        func = call.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in _ACCUMULATING_METHODS or not call.args:
            return
        method = func.attr.value
        args = [a for a in call.args if a.keyword is None and not a.star]
        if not args:
            return
        value = args[1].value if method == "insert" and len(args) > 1 else args[0].value
        if method == "update":
            if isinstance(value, (cst.Dict, cst.DictComp)) or not self._meter_like(func.value):
                return
        base = dotted_name(func.value)
        if base is None and isinstance(func.value, cst.Subscript):
            base = dotted_name(func.value.value)
        self._consider(stmt, func.value, base, [value], None, guarded, loops, call)

    def _meter_like(self, receiver: cst.BaseExpression) -> bool:
        """``meter.update(loss)``: not a dict, not a torchmetrics metric (those store no graph)."""
        if any(q.split(".")[0] == "torchmetrics" for q in self.ctx.imports.values()):
            return False
        name = (_last_component(receiver) or "").lower()
        if self.rule.in_file_update_reduces():
            return False
        if "metric" in name or name in ("pbar", "bar", "progress", "progress_bar", "scaler", "ema", "optimizer", "config", "cfg", "args", "kwargs", "params", "state", "logs", "log", "info", "results", "stats", "history"):
            return False
        return self.env.get(name) not in (NUM,)

    def _augassign_site(self, stmt: cst.AugAssign, guarded: bool, loops: list[cst.CSTNode]) -> None:
        if not isinstance(stmt.operator, (cst.AddAssign, cst.SubtractAssign, cst.MultiplyAssign, cst.DivideAssign)):
            return
        target = stmt.target
        base = dotted_name(target)
        if base is None and isinstance(target, cst.Subscript):
            base = dotted_name(target.value)
        if base is None:
            return
        if isinstance(stmt.operator, (cst.MultiplyAssign, cst.DivideAssign)):
            return
        self._consider(stmt, target, base, [stmt.value], None, guarded, loops, stmt)

    def _assign_site(self, stmt: cst.Assign, guarded: bool, loops: list[cst.CSTNode]) -> None:
        if len(stmt.targets) != 1:
            return
        target = stmt.targets[0].target
        base = dotted_name(target)
        if base is None:
            return
        value = stmt.value
        own = False
        if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, (cst.Add, cst.Subtract)):
            # `total = total + loss * n`, `smooth = 0.98 * smooth + 0.02 * loss`
            own = base in _names_in(value)
        elif isinstance(value, cst.Call):
            qualified = self.ctx.qualname(value.func)
            if qualified in _CONCATENATE and value.args:
                seq = value.args[0].value
                own = isinstance(seq, (cst.List, cst.Tuple)) and any(dotted_name(e.value) == base for e in seq.elements)
        if own:
            self._consider(stmt, target, base, [value], base, guarded, loops, stmt)

    def _consider(
        self,
        stmt: cst.CSTNode,
        target: cst.BaseExpression,
        base: str | None,
        values: list[cst.BaseExpression],
        exclude: str | None,
        guarded: bool,
        loops: list[cst.CSTNode],
        report_node: cst.CSTNode,
    ) -> None:
        if guarded or base is None:
            return
        if not loops and not (self.is_training_step and "." in base):
            return
        saved = self.env.get(exclude) if exclude else None
        if exclude:
            self.env[exclude] = NUM
        states = [self._eval(v, guarded) for v in values]
        if exclude:
            if saved is None:
                self.env.pop(exclude, None)
            else:
                self.env[exclude] = saved
        if not any(s in _GRADS for s in states):
            return
        self.counter += 1
        site = _Site(
                node=report_node,
                target=cst.Module([]).code_for_node(target),
                base=base,
                values=values,
                exclude=exclude,
                index=self.counter,
                loops=list(loops),
                env=dict(self.env),
                numeric_start=self.rule.last_literal.get((id(self.node), base), False),
            )
        if self._keeps_history(site):
            self.sites.append(site)

    # ------------------------------------------------------------------ verdicts
    def findings(self) -> Iterator[tuple[_Site, str]]:
        for site in self.sites:
            assert site.base is not None
            yield site, site.base

    def _keeps_history(self, site: _Site) -> bool:
        """The accumulator outlives the iterations of a training loop and never feeds backward."""
        base = site.base
        assert base is not None
        if self._reaches_backward(base):
            return False
        if self.is_training_step and "." in base:
            # Lightning calls training_step once per batch: `self.outputs` outlives it.
            return True
        persistent = self._persistent_loops(site, base)
        return bool(persistent) and self._steps_inside(persistent)

    def _steps_inside(self, loops: list[cst.CSTNode]) -> bool:
        """Some loop the accumulator survives runs training steps (backward / optimizer step),
        itself or through a helper in this file: it is a training loop, not a loop over heads."""
        ids = {id(loop) for loop in loops}
        if any(ids & {id(l) for l in stack} for _, stack in self.facts.step_calls):
            return True
        return any(
            ids & {id(l) for l in stack} and self.rule.helper_runs_steps(name)
            for name, stack in self.facts.local_calls
        )

    def _reaches_backward(self, base: str) -> bool:
        if base in self.reach:
            return True
        if "." in base:
            return base in self.rule.file_reach
        return False

    def _persistent_loops(self, site: _Site, base: str) -> list[cst.CSTNode] | None:
        """Loops the accumulator survives, innermost first; None when it is rebuilt per iteration
        or only lives for one training step."""
        if not site.loops:
            return []
        key = base if base in self.resets or "." in base else base.split(".")[0]
        resets = self.resets.get(key, [])
        persistent: list[cst.CSTNode] = []
        reset_loop: cst.CSTNode | None = None
        for loop in reversed(site.loops):
            start = self.loop_start[id(loop)]
            if any(start <= r < site.index for r in resets):
                reset_loop = loop
                break
            persistent.append(loop)
        if not persistent:
            return None
        if reset_loop is not None and any(stack and stack[-1] is reset_loop for _, stack in self.facts.step_calls):
            # Reset every training step, filled by an inner loop over heads or micro-batches: bounded.
            return None
        return persistent


class AccumulatedGradTensor(Rule):
    code = "MEM002"
    name = "accumulated-grad-tensor"
    summary = "A tensor that carries autograd history is accumulated across loop iterations"
    fix_availability = "sometimes"
    libraries = frozenset({"torch", "lightning", "pytorch_lightning"})

    def __init__(self, ctx, settings) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ctx, settings)
        self._done: set[int] = set()
        self._helpers: dict[str, list[cst.FunctionDef]] | None = None
        self._helper_cache: dict[int, str | None] = {}
        self._file_reach: set[str] | None = None
        self._step_cache: dict[int, bool] = {}
        self._update_reduces: bool | None = None
        self.last_literal: dict[tuple[int, str], bool] = {}
        source = ctx.source
        self._enabled = "backward" in source or "training_step" in source or "autograd.grad" in source

    # ------------------------------------------------------------------ triggers
    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if self._enabled:
            self._trigger()

    def visit_Call(self, node: cst.Call) -> None:
        if self._enabled and isinstance(node.func, cst.Attribute) and node.func.attr.value in _ACCUMULATING_METHODS:
            self._trigger()

    def visit_Assign(self, node: cst.Assign) -> None:
        if self._enabled and isinstance(node.value, (cst.BinaryOperation, cst.Call)):
            self._trigger()

    def _trigger(self) -> None:
        unit: cst.FunctionDef | cst.Module = self.ctx.module
        unit_depth = 0
        for depth in range(len(self.ctx.stack) - 2, -1, -1):
            node = self.ctx.stack[depth]
            if isinstance(node, cst.FunctionDef):
                unit, unit_depth = node, depth
                break
            if isinstance(node, (cst.ClassDef, cst.Lambda)):
                return
        if id(unit) in self._done:
            return
        self._done.add(id(unit))
        if not self.ctx.enclosing_loops() and not (isinstance(unit, cst.FunctionDef) and unit.name.value == _TRAINING_STEP):
            # Loops elsewhere in this unit trigger it again.
            self._done.discard(id(unit))
            return
        guarded = False
        if isinstance(unit, cst.FunctionDef):
            guarded = (
                self.ctx.path_guard(self.ctx.stack[: unit_depth + 1]) is not None
                or self.ctx.decorator_guard(unit) is not None
                or self.ctx.called_only_under_guard(unit.name.value)
            )
        if guarded:
            return
        analysis = _Unit(self, unit)
        analysis.run(False)
        for site, base in analysis.findings():
            self._report(analysis, site, base)

    # ------------------------------------------------------------------ helpers in this file
    def _helper_defs(self) -> dict[str, list[cst.FunctionDef]]:
        if self._helpers is None:
            table: dict[str, list[cst.FunctionDef]] = {}
            for stmt in self.ctx.module.body:
                if isinstance(stmt, cst.FunctionDef):
                    table.setdefault(stmt.name.value, []).append(stmt)
                elif isinstance(stmt, cst.ClassDef):
                    for inner in stmt.body.body:
                        if isinstance(inner, cst.FunctionDef):
                            table.setdefault(inner.name.value, []).append(inner)
            self._helpers = table
        return self._helpers

    def helper_state(self, func: cst.BaseExpression, depth: int) -> str | None:
        """What an in-file helper returns (NUM / GRAD / GRAD_T / UNK), or None if not a helper."""
        if isinstance(func, cst.Name):
            name = func.value
        elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value in ("self", "cls"):
            name = func.attr.value
        else:
            return None
        defs = self._helper_defs().get(name)
        if not defs:
            return None
        if depth >= 3:
            return UNK
        states = set()
        for definition in defs:
            key = id(definition)
            if key not in self._helper_cache:
                self._helper_cache[key] = UNK  # cycles
                self._helper_cache[key] = self._returns_of(definition, depth + 1)
            states.add(self._helper_cache[key])
        return states.pop() if len(states) == 1 else UNK

    def _returns_of(self, definition: cst.FunctionDef, depth: int) -> str:
        if self.ctx.decorator_guard(definition) is not None:
            return NUM
        if any(isinstance(d.decorator, (cst.Name, cst.Attribute)) and _last_component(d.decorator) in ("property", "staticmethod", "classmethod") for d in definition.decorators):
            if _last_component(definition.decorators[0].decorator) == "property":
                return UNK
        analysis = _Unit(self, definition, depth)
        analysis.run(False)
        states = set(analysis.returns)
        if not states:
            return UNK
        if OPAQUE in states:
            return OPAQUE
        if states <= {NUM}:
            return NUM
        if states <= {GRAD_T}:
            return GRAD_T
        if states <= set(_GRADS):
            return GRAD
        return UNK

    def in_file_update_reduces(self) -> bool:
        """A class in this file defines ``update(self, value)`` that detaches or ``.item()``s the value
        itself (horovod's ``Metric.update`` after its fix): its callers are fine."""
        if self._update_reduces is None:
            self._update_reduces = any(_reduces_first_param(d) for d in self._helper_defs().get("update", []))
        return self._update_reduces

    def helper_runs_steps(self, name: str) -> bool:
        """An in-file function of that name calls backward or an optimizer step."""
        defs = self._helper_defs().get(name)
        if not defs:
            return False
        for definition in defs:
            key = id(definition)
            if key not in self._step_cache:
                collector = _FactCollector(self.ctx, False)
                walk(definition.body, collector)
                self._step_cache[key] = bool(collector.facts.step_calls)
            if self._step_cache[key]:
                return True
        return False

    @property
    def file_reach(self) -> set[str]:
        """``self.x`` chains that reach a backward pass anywhere in this file."""
        if self._file_reach is None:
            collector = _FactCollector(self.ctx, False)
            for stmt in self.ctx.module.body:
                if isinstance(stmt, cst.ClassDef):
                    for inner in stmt.body.body:
                        if isinstance(inner, cst.FunctionDef):
                            walk(inner.body, collector)
            self._file_reach = {n for n in _reaching_names(collector.facts) if "." in n}
        return self._file_reach

    # ------------------------------------------------------------------ report and fix
    def _report(self, analysis: _Unit, site: _Site, base: str) -> None:
        message = (
            f"`{site.target}` accumulates a tensor that carries autograd history across iterations; "
            "every iteration's graph stays alive: accumulate `.item()` or `.detach()` instead"
        )
        fix = None
        if base not in analysis.facts.partial_reach:
            fix = self._fix(analysis, site, base)
        self.report(site.node, message, fix)

    def _fix(self, analysis: _Unit, site: _Site, base: str) -> Fix | None:
        saved = analysis.env
        analysis.env = dict(site.env)
        if site.exclude:
            analysis.env[site.exclude] = NUM
        try:
            leaves: list[cst.BaseExpression] = []
            for value in site.values:
                found = _leaves(analysis, value)
                if found is None:
                    return None
                leaves.extend(found)
        finally:
            analysis.env = saved
        if not leaves:
            return None
        use_item = (
            "." not in base
            and site.numeric_start
            and all(_scalar(analysis, leaf) for leaf in leaves)
            and _only_numeric_uses(analysis.node, base)
            and not isinstance(site.node, cst.Call)
        )
        method = "item" if use_item else "detach"
        replacements = {leaf: _with_method(leaf, method) for leaf in leaves}
        if use_item:
            return Fix("unsafe", "Accumulate a Python number with `.item()`", replacements)
        return Fix("safe", "Detach the value before accumulating it", replacements)


def _reduces_first_param(definition: cst.FunctionDef) -> bool:
    params = [p.name.value for p in definition.params.params]
    if params and params[0] in ("self", "cls"):
        params = params[1:]
    if not params:
        return False
    name = params[0]
    counter = _ParamUses(name)
    walk(definition.body, counter)
    return counter.total > 0 and counter.safe == counter.total


class _ParamUses(cst.CSTVisitor):
    """Counts uses of a name, and those that reduce it (``v.item()``, ``v.detach()``, ``float(v)``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.total = 0
        self.safe = 0

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == self.name:
            self.total += 1

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if isinstance(node.value, cst.Name) and node.value.value == self.name:
            if node.attr.value in _SAFE_METHODS or node.attr.value == "data":
                self.safe += 1

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value in ("float", "int") and node.args:
            value = node.args[0].value
            if isinstance(value, cst.Name) and value.value == self.name:
                self.safe += 1


def _leaves(analysis: _Unit, expr: cst.BaseExpression, tensors: bool = False) -> list[cst.BaseExpression] | None:
    """The grad-carrying tensors inside ``expr`` to wrap, or None when one cannot be wrapped.

    ``tensors``: the elements are known to be tensors (they are handed to ``torch.cat``)."""
    state = analysis._eval(expr, False)
    if state not in _GRADS:
        return []
    if isinstance(expr, cst.BinaryOperation) and not expr.lpar:
        left = _leaves(analysis, expr.left)
        right = _leaves(analysis, expr.right)
        if left is None or right is None:
            return None
        return left + right
    if isinstance(expr, (cst.Tuple, cst.List)):
        found: list[cst.BaseExpression] = []
        for element in expr.elements:
            inner = _leaves(analysis, element.value, tensors)
            if inner is None:
                return None
            found.extend(inner)
        return found
    if isinstance(expr, cst.Dict):
        found = []
        for element in expr.elements:
            if not isinstance(element, cst.DictElement):
                return None
            inner = _leaves(analysis, element.value)
            if inner is None:
                return None
            found.extend(inner)
        return found
    if (
        isinstance(expr, cst.Call)
        and analysis.ctx.qualname(expr.func) in _CONCATENATE
        and expr.args
        and isinstance(expr.args[0].value, (cst.List, cst.Tuple))
    ):
        # `torch.cat([acc, out])` -> `torch.cat([acc, out.detach()])`
        return _leaves(analysis, expr.args[0].value, tensors=True)
    if state != GRAD_T and not tensors:
        return None
    if isinstance(expr, (cst.Name, cst.Attribute, cst.Subscript, cst.Call)) or expr.lpar:
        return [expr]
    return None


def _with_method(expr: cst.BaseExpression, method: str) -> cst.BaseExpression:
    """``x`` -> ``x.detach()``; ``out.cpu()`` -> ``out.detach().cpu()``."""
    if (
        method == "detach"
        and isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Attribute)
        and expr.func.attr.value in ("cpu", "to", "cuda")
    ):
        receiver = expr.func.value
        return expr.with_changes(func=expr.func.with_changes(value=_with_method(receiver, method)))
    return cst.Call(func=cst.Attribute(value=expr, attr=cst.Name(method)))


def _scalar(analysis: _Unit, leaf: cst.BaseExpression) -> bool:
    """Known to hold one element, so ``.item()`` works: ``loss.backward()`` proved it, or a full reduction."""
    if isinstance(leaf, cst.Name):
        return leaf.value in analysis.facts.direct_backward
    if isinstance(leaf, cst.Call) and isinstance(leaf.func, cst.Attribute):
        if leaf.func.attr.value in ("mean", "sum") and not leaf.args:
            return True
    if isinstance(leaf, cst.Call):
        # `F.mse_loss(out, y)`: reduced to a scalar unless `reduction=` says otherwise.
        qualified = analysis.ctx.qualname(leaf.func) or ""
        return (
            qualified.startswith("torch.nn.functional.")
            and bool(_LOSS_FUNCTIONAL.search(qualified.rsplit(".", 1)[-1]))
            and not any(a.keyword is not None and a.keyword.value == "reduction" for a in leaf.args)
        )
    return False


def _only_numeric_uses(unit: cst.CSTNode, name: str) -> bool:
    """The accumulator is only combined arithmetically, formatted or logged: never asked for a tensor
    method and never handed to a caller (who might call ``.item()`` on it)."""
    checker = _UseChecker(name)
    walk(unit, checker)
    return checker.ok


class _UseChecker(cst.CSTVisitor):
    def __init__(self, name: str) -> None:
        self.names = {name}
        self.ok = True

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if isinstance(node.value, cst.Name) and node.value.value in self.names:
            self.ok = False

    def visit_Return(self, node: cst.Return) -> None:
        if node.value is not None and _names_in(node.value) & self.names:
            self.ok = False

    def visit_Yield(self, node: cst.Yield) -> None:
        if isinstance(node.value, cst.BaseExpression) and _names_in(node.value) & self.names:
            self.ok = False

    def visit_Assign(self, node: cst.Assign) -> None:
        # `epoch_loss = running_loss / n`: follow the copy, one level.
        if _names_in(node.value) & self.names:
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.names.add(target.target.value)
                elif isinstance(target.target, (cst.Attribute, cst.Subscript)):
                    self.ok = False

    def visit_Call(self, node: cst.Call) -> None:
        # Handed to a function: fine for printing and logging, not for `dist.all_reduce(total)`
        # or anything else that may expect a tensor.
        if any(_names_in(a.value) & self.names for a in node.args):
            if (_last_component(node.func) or "") not in _NUMBER_CONSUMERS:
                self.ok = False



AccumulatedGradTensor.VALID = [
    Valid(
        """
        import torch

        def train_epoch(model, loader, criterion, optimizer):
            total_loss = 0.0
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                total_loss += loss.item()
            return total_loss / len(loader)
        """,
        why="`.item()` is a Python number",
    ),
    Valid(
        """
        import torch

        def train_epoch(model, loader, criterion, optimizer):
            losses = []
            for x, y in loader:
                optimizer.zero_grad()
                out = model(x)
                loss = criterion(out, y)
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())
                running = float(loss)
            return torch.stack(losses).mean()
        """,
        why="detached before it is kept",
    ),
    Valid(
        """
        import torch

        def fit(model, train_loader, val_loader, criterion, optimizer, epochs):
            for epoch in range(epochs):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                val_loss = 0.0
                with torch.no_grad():
                    for x, y in val_loader:
                        out = model(x)
                        val_loss += criterion(out, y)
                print(epoch, val_loss / len(val_loader))
        """,
        why="accumulated under no_grad",
    ),
    Valid(
        """
        import torch

        def train(model, loader, optimizer, criterion):
            predictions = []
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    probs = model(x).softmax(-1)
                predictions.append(probs)
            return predictions
        """,
        why="produced under a guard, stored later",
    ),
    Valid(
        """
        import torch

        def train(model, loader, optimizer, criterion, accumulation_steps=4):
            optimizer.zero_grad()
            accumulated = 0
            for step, (x, y) in enumerate(loader):
                loss = criterion(model(x), y) / accumulation_steps
                accumulated = accumulated + loss
                if (step + 1) % accumulation_steps == 0:
                    accumulated.backward()
                    optimizer.step()
                    optimizer.zero_grad()
                    accumulated = 0
        """,
        why="gradient accumulation: the sum reaches backward",
    ),
    Valid(
        """
        import torch
        import torch.nn.functional as F

        def train_multitask(model, heads, loader, optimizer):
            for x, targets in loader:
                features = model(x)
                losses = []
                for head, target in zip(heads, targets):
                    losses.append(F.cross_entropy(head(features), target))
                optimizer.zero_grad()
                torch.stack(losses).mean().backward()
                optimizer.step()
        """,
        why="multi-task losses stacked and backpropagated",
    ),
    Valid(
        """
        import torch

        def train(model, aux_heads, loader, criterion, optimizer):
            for x, y in loader:
                out, aux = model(x)
                loss = criterion(out, y)
                for head in aux_heads:
                    loss += 0.3 * criterion(head(aux), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        why="`loss += head_loss` rebuilt every batch, then backward",
    ),
    Valid(
        """
        import torch

        def train(net, loader, criterion, optimizer, log):
            for epoch in range(10):
                for x, y in loader:
                    batch_outputs = []
                    out = net(x)
                    batch_outputs.append(out)
                    loss = criterion(out, y)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    log(batch_outputs)
        """,
        why="the list is rebuilt every iteration",
    ),
    Valid(
        """
        import torch

        def train_step(model, batch, criterion, optimizer):
            x, y = batch
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            return loss.item()

        def train_epoch(model, loader, criterion, optimizer):
            total = 0.0
            for batch in loader:
                total += train_step(model, batch, criterion, optimizer)
            return total / len(loader)
        """,
        why="the helper returns a Python number",
    ),
    Valid(
        """
        import torch

        def evaluate(model, loader, criterion):
            model.eval()
            scores = []
            total = 0.0
            for x, y in loader:
                out = model(x)
                scores.append(out)
                total += criterion(out, y)
            return scores, total
        """,
        why="no backward in this file: grad mode unknown here (MEM001 covers unguarded evaluation)",
    ),
    Valid(
        """
        import torch

        def train(model, loader, criterion, optimizer, compute_metric):
            dice_sum = 0
            for x, y in loader:
                out = model(x)
                loss = criterion(out, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                dice_sum += compute_metric(out, y)
            return dice_sum
        """,
        why="unknown helper from elsewhere: stay silent",
    ),
    Valid(
        """
        import torch

        def train(model, loader, criterion, optimizer, iter_size):
            data = iter(loader)
            for it in range(10000):
                loss_value = 0
                optimizer.zero_grad()
                for sub in range(iter_size):
                    x, y = next(data)
                    loss = criterion(model(x), y) / iter_size
                    loss.backward()
                    loss_value += loss
                optimizer.step()
                print(it, float(loss_value))
        """,
        why="reset every optimizer step: bounded to the micro-batches of one step",
    ),
    Valid(
        """
        import torch
        import torchmetrics

        def train(model, loader, criterion, optimizer):
            mean_loss = torchmetrics.MeanMetric()
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                mean_loss.update(loss)
            return mean_loss.compute()
        """,
        why="torchmetrics updates without autograd",
    ),
    Valid(
        """
        import torch

        class AverageMeter:
            def __init__(self):
                self.sum, self.count = 0.0, 0

            def update(self, value, n=1):
                self.sum += value.item() * n
                self.count += n

        def train(model, loader, criterion, optimizer):
            meter = AverageMeter()
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                meter.update(loss, x.size(0))
            return meter.sum / meter.count
        """,
        why="the meter in this file reduces the value itself",
    ),
    Valid(
        """
        import torch
        import lightning as L

        class Classifier(L.LightningModule):
            def training_step(self, batch, batch_idx):
                x, y = batch
                loss = self.loss_fn(self.model(x), y)
                self.train_losses.append(loss.detach())
                return loss

            def validation_step(self, batch, batch_idx):
                x, y = batch
                loss = self.loss_fn(self.model(x), y)
                self.val_losses.append(loss)
        """,
        why="detached in training_step; validation_step runs without grad",
    ),
    Valid(
        """
        import torch

        def train(model, loader, criterion, optimizer):
            correct, total_loss = 0, 0.0
            for x, y in loader:
                out = model(x)
                loss = criterion(out, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                correct += (out.argmax(1) == y).sum()
                total_loss += loss.data * x.size(0)
            return correct, total_loss
        """,
        why="comparisons and `.data` carry no history",
    ),
    Valid(
        """
        import torch

        def train_phases(model, loaders, criterion, optimizer):
            for phase in ("train", "val"):
                running = 0.0
                for x, y in loaders[phase]:
                    with torch.set_grad_enabled(phase == "train"):
                        loss = criterion(model(x), y)
                        if phase == "train":
                            loss.backward()
                            optimizer.step()
                        running += loss * x.size(0)
                print(phase, running)
        """,
        why="under set_grad_enabled(phase): a guard",
    ),
    Valid(
        """
        import torch

        def train(model, loader, criterion, optimizer):
            seen, steps = 0, []
            for step, batch in enumerate(loader):
                logits = model(batch.text)
                loss = criterion(logits, batch.label)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                seen += batch.batch_size
                steps.append(batch.index)
            return seen, steps
        """,
        why="the batch feeds the loss, but its fields are data, not graph",
    ),
    Valid(
        """
        import torch

        def monotonic_penalty(self, x, predictions):
            gradient = 0
            for pred in predictions:
                gradient = gradient + torch.autograd.grad(
                    outputs=pred, inputs=x, grad_outputs=torch.ones_like(pred), create_graph=True
                )[0]
            return gradient.clamp_max(0).mean()
        """,
        why="a sum over output heads inside one forward pass, not a training loop",
    ),
    Valid(
        """
        import torch

        def train(module, loader, optimizer):
            outputs = []
            for i, batch in enumerate(loader):
                optimizer.zero_grad()
                output = module.training_step(batch, i)
                output["loss"].backward()
                optimizer.step()
                output["loss"] = output["loss"].detach()
                outputs.append(output)
            return outputs
        """,
        why="the graph-carrying entry was detached before the dict is kept",
    ),
    Valid(
        """
        def train(model, loader, optimizer):
            total = 0
            for x in loader:
                loss = model(x)
                loss.backward()
                total += loss
        """,
        why="not a torch file",
    ),
]

AccumulatedGradTensor.INVALID = [
    Invalid(
        """
        import torch
        import torch.distributed as dist

        def train(model, loader, criterion, optimizer):
            epoch_loss = 0.0
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                epoch_loss += loss
            epoch_loss = torch.as_tensor(epoch_loss)
            dist.all_reduce(epoch_loss)
        """,
        line=11,
        fixed="""
        import torch
        import torch.distributed as dist

        def train(model, loader, criterion, optimizer):
            epoch_loss = 0.0
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                epoch_loss += loss.detach()
            epoch_loss = torch.as_tensor(epoch_loss)
            dist.all_reduce(epoch_loss)
        """,
        applicability="safe",
        why="handed to a function that may need a tensor: detach rather than `.item()`",
    ),
    Invalid(
        """
        import torch
        import lightning.pytorch as pl

        class Forecaster(pl.LightningModule):
            def training_step(self, batch, batch_idx):
                x, y = batch
                log, out = self.shared_step(x, y, batch_idx)
                self.training_step_outputs.append(log)
                return log
        """,
        line=8,
        fixed=None,
        why="what training_step returns carries the loss; it may be a dict, so no fix",
    ),
    Invalid(
        """
        import torch

        def train(model, loader, criterion, optimizer):
            smoothed = 0.0
            for step, (x, y) in enumerate(loader):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                smoothed = 0.98 * smoothed + 0.02 * loss
                if step % 50 == 0:
                    print(step, smoothed)
        """,
        line=10,
        fixed="""
        import torch

        def train(model, loader, criterion, optimizer):
            smoothed = 0.0
            for step, (x, y) in enumerate(loader):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                smoothed = 0.98 * smoothed + 0.02 * loss.item()
                if step % 50 == 0:
                    print(step, smoothed)
        """,
        applicability="unsafe",
        why="an exponential moving average chains every step's graph",
    ),
    Invalid(
        """
        import torch
        import torch.nn.functional as F

        def train(model, loader, optimizer):
            model.train()
            total_loss = 0.0
            for x, y in loader:
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                total_loss += loss
            print(f"train loss {total_loss / len(loader):.4f}")
        """,
        line=12,
        fixed="""
        import torch
        import torch.nn.functional as F

        def train(model, loader, optimizer):
            model.train()
            total_loss = 0.0
            for x, y in loader:
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                optimizer.step()
                total_loss += loss.item()
            print(f"train loss {total_loss / len(loader):.4f}")
        """,
        applicability="unsafe",
        why="the FAQ's example: number literal, only printed",
    ),
    Invalid(
        """
        import torch

        def train(model, loader, criterion, optimizer, epochs):
            losses = []
            for epoch in range(epochs):
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    losses.append(loss)
            return losses
        """,
        line=11,
        fixed="""
        import torch

        def train(model, loader, criterion, optimizer, epochs):
            losses = []
            for epoch in range(epochs):
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    losses.append(loss.detach())
            return losses
        """,
        applicability="safe",
    ),
    Invalid(
        """
        import torch
        from collections import defaultdict

        def train(model, loader, criterion, optimizer):
            history = defaultdict(list)
            for step, (x, y) in enumerate(loader):
                out = model(x)
                loss = criterion(out, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                history["loss"].append(loss)
            return history
        """,
        line=12,
        fixed="""
        import torch
        from collections import defaultdict

        def train(model, loader, criterion, optimizer):
            history = defaultdict(list)
            for step, (x, y) in enumerate(loader):
                out = model(x)
                loss = criterion(out, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                history["loss"].append(loss.detach())
            return history
        """,
        applicability="safe",
    ),
    Invalid(
        """
        import torch

        class Trainer:
            def train_epoch(self, loader):
                self.model.train()
                self.epoch_loss = 0
                for batch in loader:
                    self.optimizer.zero_grad()
                    loss = self.criterion(self.model(batch["x"]), batch["y"])
                    loss.backward()
                    self.optimizer.step()
                    self.epoch_loss += loss
        """,
        line=12,
        fixed="""
        import torch

        class Trainer:
            def train_epoch(self, loader):
                self.model.train()
                self.epoch_loss = 0
                for batch in loader:
                    self.optimizer.zero_grad()
                    loss = self.criterion(self.model(batch["x"]), batch["y"])
                    loss.backward()
                    self.optimizer.step()
                    self.epoch_loss += loss.detach()
        """,
        applicability="safe",
    ),
    Invalid(
        """
        import torch
        from utils import AverageMeter

        def train(model, loader, criterion, optimizer):
            losses = AverageMeter("Loss")
            for images, target in loader:
                output = model(images)
                loss = criterion(output, target)
                losses.update(loss, images.size(0))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            return losses.avg
        """,
        line=9,
        fixed="""
        import torch
        from utils import AverageMeter

        def train(model, loader, criterion, optimizer):
            losses = AverageMeter("Loss")
            for images, target in loader:
                output = model(images)
                loss = criterion(output, target)
                losses.update(loss.detach(), images.size(0))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            return losses.avg
        """,
        applicability="safe",
        why="an AverageMeter keeps what it is given",
    ),
    Invalid(
        """
        import torch

        def train(model, loader, criterion, optimizer):
            scores = []
            for x, y in loader:
                out = model(x)
                loss = criterion(out, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scores.append(out.cpu())
            return torch.cat(scores)
        """,
        line=11,
        fixed="""
        import torch

        def train(model, loader, criterion, optimizer):
            scores = []
            for x, y in loader:
                out = model(x)
                loss = criterion(out, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scores.append(out.detach().cpu())
            return torch.cat(scores)
        """,
        applicability="safe",
        why="`.cpu()` keeps the graph",
    ),
    Invalid(
        """
        import torch

        def train(net, loader, criterion, optimizer):
            total, seen = 0.0, 0
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(net(x), y)
                loss.backward()
                optimizer.step()
                total = total + loss * x.size(0)
                seen += x.size(0)
            print("loss", total / seen)
        """,
        line=10,
        fixed="""
        import torch

        def train(net, loader, criterion, optimizer):
            total, seen = 0.0, 0
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(net(x), y)
                loss.backward()
                optimizer.step()
                total = total + loss.item() * x.size(0)
                seen += x.size(0)
            print("loss", total / seen)
        """,
        applicability="unsafe",
        why="`total = total + loss * n`, starting from a number literal",
    ),
    Invalid(
        """
        import torch

        def train_step(model, batch, criterion, optimizer):
            x, y = batch
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            return loss

        def train_epoch(model, loader, criterion, optimizer):
            epoch_loss = 0.0
            for batch in loader:
                epoch_loss += train_step(model, batch, criterion, optimizer)
            return epoch_loss / len(loader)
        """,
        line=14,
        fixed="""
        import torch

        def train_step(model, batch, criterion, optimizer):
            x, y = batch
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            return loss

        def train_epoch(model, loader, criterion, optimizer):
            epoch_loss = 0.0
            for batch in loader:
                epoch_loss += train_step(model, batch, criterion, optimizer).detach()
            return epoch_loss / len(loader)
        """,
        applicability="safe",
        why="a helper in the same file returns the loss tensor",
    ),
    Invalid(
        """
        import torch
        import lightning as L

        class LitModel(L.LightningModule):
            def training_step(self, batch, batch_idx):
                x, y = batch
                loss = self.loss_fn(self(x), y)
                self.training_step_losses.append(loss)
                return loss
        """,
        line=8,
        fixed="""
        import torch
        import lightning as L

        class LitModel(L.LightningModule):
            def training_step(self, batch, batch_idx):
                x, y = batch
                loss = self.loss_fn(self(x), y)
                self.training_step_losses.append(loss.detach())
                return loss
        """,
        applicability="safe",
        why="Lightning calls training_step once per batch",
    ),
    Invalid(
        """
        import torch

        def optimize(params, loss_function, optimizer, max_iter):
            losses = []
            for it in range(max_iter):
                optimizer.zero_grad()
                loss = loss_function(*params)
                losses.append(loss)
                if it > 2 and abs(losses[-1] - losses[-2]) < 1e-6:
                    break
                losses[-1].backward(retain_graph=True)
                optimizer.step()
        """,
        line=8,
        fixed=None,
        why="only the last element reaches backward; detaching would break it, so report only",
    ),
    Invalid(
        """
        import torch

        def train(module, loader, optimizer):
            outputs = []
            for i, batch in enumerate(loader):
                optimizer.zero_grad()
                output = module.training_step(batch, i)
                output["loss"].backward()
                optimizer.step()
                outputs.append(output)
            return module.training_epoch_end(outputs)
        """,
        line=10,
        fixed=None,
        why="a dict holding the loss: no one-token fix",
    ),
    Invalid(
        """
        import torch

        def train(model, loader, criterion, optimizer, log_every=100):
            running_loss = 0.0
            for i, (inputs, labels) in enumerate(loader):
                optimizer.zero_grad()
                outputs = model(inputs)
                loss = criterion(outputs, labels)
                loss.backward()
                optimizer.step()
                running_loss += loss
                if i % log_every == log_every - 1:
                    print(f"[{i + 1}] loss: {running_loss / log_every:.3f}")
                    running_loss = 0.0
        """,
        line=11,
        fixed="""
        import torch

        def train(model, loader, criterion, optimizer, log_every=100):
            running_loss = 0.0
            for i, (inputs, labels) in enumerate(loader):
                optimizer.zero_grad()
                outputs = model(inputs)
                loss = criterion(outputs, labels)
                loss.backward()
                optimizer.step()
                running_loss += loss.item()
                if i % log_every == log_every - 1:
                    print(f"[{i + 1}] loss: {running_loss / log_every:.3f}")
                    running_loss = 0.0
        """,
        applicability="unsafe",
        why="reset every 100 steps still keeps 100 graphs",
    ),
    Invalid(
        """
        import torch

        def train(model, loader, criterion, optimizer):
            all_logits = torch.empty(0)
            for x, y in loader:
                logits = model(x)
                loss = criterion(logits, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                all_logits = torch.cat([all_logits, logits])
            return all_logits
        """,
        line=11,
        fixed="""
        import torch

        def train(model, loader, criterion, optimizer):
            all_logits = torch.empty(0)
            for x, y in loader:
                logits = model(x)
                loss = criterion(logits, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                all_logits = torch.cat([all_logits, logits.detach()])
            return all_logits
        """,
        applicability="safe",
    ),
    Invalid(
        """
        import torch

        def train_vae(model, loader, vae_loss, optimizer):
            rec_total, kl_total = 0.0, 0.0
            for x in loader:
                recon, mu, logvar = model(x)
                loss, rec_loss, kl_loss = vae_loss(recon, x, mu, logvar)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                rec_total += rec_loss
                kl_total += kl_loss.item()
            print(rec_total, kl_total)
        """,
        line=11,
        fixed="""
        import torch

        def train_vae(model, loader, vae_loss, optimizer):
            rec_total, kl_total = 0.0, 0.0
            for x in loader:
                recon, mu, logvar = model(x)
                loss, rec_loss, kl_loss = vae_loss(recon, x, mu, logvar)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                rec_total += rec_loss.detach()
                kl_total += kl_loss.item()
            print(rec_total, kl_total)
        """,
        applicability="safe",
        why="loss terms handed back by a loss function",
    ),
    Invalid(
        """
        import torch

        def train(model, loader, optimizer, accelerator):
            model.train()
            total_loss = 0
            for batch in loader:
                outputs = model(**batch)
                loss = outputs.loss
                total_loss += loss
                accelerator.backward(loss)
                optimizer.step()
                optimizer.zero_grad()
            return total_loss / len(loader)
        """,
        line=9,
        fixed="""
        import torch

        def train(model, loader, optimizer, accelerator):
            model.train()
            total_loss = 0
            for batch in loader:
                outputs = model(**batch)
                loss = outputs.loss
                total_loss += loss.detach()
                accelerator.backward(loss)
                optimizer.step()
                optimizer.zero_grad()
            return total_loss / len(loader)
        """,
        applicability="safe",
        why="returned to a caller: `.item()` could break it, so detach",
    ),
    Invalid(
        """
        import torch
        import torch.nn as nn

        model = nn.Linear(10, 2)
        criterion = nn.CrossEntropyLoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        epoch_losses = []
        for epoch in range(5):
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            epoch_losses.append(loss)
        """,
        line=14,
        fixed="""
        import torch
        import torch.nn as nn

        model = nn.Linear(10, 2)
        criterion = nn.CrossEntropyLoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        epoch_losses = []
        for epoch in range(5):
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            epoch_losses.append(loss.detach())
        """,
        applicability="safe",
        why="a script at module level",
    ),
    Invalid(
        """
        import torch

        def train(model, loader, criterion, optimizer):
            train_probs = []
            for x, y in loader:
                logits = model(x)
                probs = logits.softmax(dim=-1)
                loss = criterion(logits, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                train_probs.extend(probs)
            return train_probs
        """,
        line=12,
        fixed="""
        import torch

        def train(model, loader, criterion, optimizer):
            train_probs = []
            for x, y in loader:
                logits = model(x)
                probs = logits.softmax(dim=-1)
                loss = criterion(logits, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                train_probs.extend(probs.detach())
            return train_probs
        """,
        applicability="safe",
    ),
    Invalid(
        """
        import torch
        import torch.nn.functional as F

        def train(generator, discriminator, loader, opt_g, opt_d):
            g_losses = []
            d_losses = []
            for real in loader:
                fake = generator(torch.randn(real.size(0), 64))
                d_loss = F.binary_cross_entropy_with_logits(discriminator(real), torch.ones(real.size(0), 1))
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
                g_loss = F.binary_cross_entropy_with_logits(discriminator(fake), torch.ones(real.size(0), 1))
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
                d_losses.append(d_loss.item())
                g_losses.append(g_loss)
            return g_losses, d_losses
        """,
        line=18,
        fixed="""
        import torch
        import torch.nn.functional as F

        def train(generator, discriminator, loader, opt_g, opt_d):
            g_losses = []
            d_losses = []
            for real in loader:
                fake = generator(torch.randn(real.size(0), 64))
                d_loss = F.binary_cross_entropy_with_logits(discriminator(real), torch.ones(real.size(0), 1))
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
                g_loss = F.binary_cross_entropy_with_logits(discriminator(fake), torch.ones(real.size(0), 1))
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
                d_losses.append(d_loss.item())
                g_losses.append(g_loss.detach())
            return g_losses, d_losses
        """,
        applicability="safe",
    ),
]
