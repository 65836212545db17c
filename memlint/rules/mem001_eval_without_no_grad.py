"""MEM001: a forward pass in evaluation code while autograd is recording.

``model.eval()`` switches dropout and batch-norm to inference behaviour; it does not stop
autograd. An evaluation loop without ``torch.no_grad()`` builds a graph per batch and keeps
every activation alive until the output is dropped.

How the rule decides, cheaply:

1. Trigger: a ``<model>.eval()`` call (or ``.train(False)``) marks its function (or the
   module, for scripts) for analysis when the pass leaves it. A function named like
   evaluation (``validate``, ``_valid_epoch``, ``test``...) is analysed too.
2. Region: in source order, from ``<model>.eval()`` until ``<model>.train()``. Forward passes
   in it are ``model(...)``, ``model.forward(...)``, ``model.module(...)``, or a call of a
   helper of the same file whose body runs the model (``self._forward(batch)``,
   ``run_epoch(loader, model)``).
3. Silent when the forward is under a guard (``with``/decorator/enclosing function/every
   call site), in Lightning hooks, or when the region needs gradients.
"""

from __future__ import annotations

import re
from typing import Iterator, Sequence

import libcst as cst

from memlint.context import dotted_name, walk
from memlint.legacy_rule import Fix, Invalid, Rule, Valid

# Names of functions whose whole purpose is evaluation.
_EVAL_NAME = re.compile(
    r"^_*(?:(?:run|do|eval|evaluate|compute)_)?"
    r"(?:validate|validation|valid|val|evaluate|evaluation|eval|test|testing|predict|prediction|inference|infer)"
    r"(?:_(?:epoch|loop|step|model|one_epoch|batch|net|dataset|loader|set|run))?$",
    re.IGNORECASE,
)
# Lightning runs these hooks under inference mode itself.
_LIGHTNING_HOOK = re.compile(
    r"^(?:on_)?(?:validation|val|test|predict)_(?:step|step_end|epoch_start|epoch_end|batch_start|batch_end|start|end)$"
)
_MODEL_LIKE = re.compile(r"model|net|encoder|decoder|generator|backbone|classifier", re.IGNORECASE)
_NOT_MODEL = re.compile(r"loss|crit|metric|optim|sched|writer|logger|scaler", re.IGNORECASE)
# Guard wrappers imported from elsewhere (yolov5's ``smart_inference_mode``, ``no_grad_if(...)``).
_GUARD_LIKE = re.compile(r"no_grad|inference_mode", re.IGNORECASE)
# pytest files: a forward in a test is not training code and its graph dies with the test.
_TEST_FILE = re.compile(r"(?:^|[/\\])(?:test_[^/\\]*|[^/\\]*_test|conftest)\.py$")
_SCALAR_CALLS = frozenset({"float", "int", "round", "str", "len", "bool", "sum", "max", "min", "abs", "format"})
_SCALAR_METHODS = frozenset({"item", "tolist", "numpy", "format", "size", "dim", "numel", "nelement"})
_NEEDS_GRAD_ATTRS = frozenset({"backward", "requires_grad_", "zero_grad", "retain_grad", "register_hook"})


def _receiver(expr: cst.BaseExpression) -> str | None:
    """Dotted name of a model expression; subscripts read as ``[]``: ``self.model[key]`` ->
    ``self.model[]``, so ``self.model[k].eval()`` covers ``self.model["generator"](x)``."""
    if isinstance(expr, cst.Subscript):
        inner = _receiver(expr.value)
        return None if inner is None else inner + "[]"
    if isinstance(expr, cst.Attribute):
        inner = _receiver(expr.value)
        return None if inner is None else f"{inner}.{expr.attr.value}"
    return dotted_name(expr)


def _is_eval_call(call: cst.Call) -> str | None:
    """``R.eval()`` or ``R.train(False)``: the receiver's dotted name."""
    func = call.func
    if not isinstance(func, cst.Attribute):
        return None
    attr = func.attr.value
    if attr == "eval" and not call.args:
        return _receiver(func.value)
    if attr == "train" and len(call.args) == 1 and call.args[0].keyword in (None,):
        value = call.args[0].value
        if isinstance(value, cst.Name) and value.value == "False":
            return _receiver(func.value)
    return None


def _is_train_call(call: cst.Call) -> str | None:
    """``R.train()`` / ``R.train(True)`` / ``R.train(flag)``: grad-mode use may follow."""
    func = call.func
    if not isinstance(func, cst.Attribute) or func.attr.value != "train":
        return None
    if call.args:
        value = call.args[0].value
        if isinstance(value, cst.Name) and value.value == "False":
            return None
    return _receiver(func.value)


def _sets_mode(path: Sequence[cst.CSTNode], receiver: str) -> bool:
    """``model.eval()`` as a statement, or ``model = model.eval()``; not ``freeze(m.eval())``."""
    parent = path[-2] if len(path) > 1 else None
    if isinstance(parent, cst.Expr):
        return True
    if isinstance(parent, cst.Assign):
        return all(_receiver(t.target) == receiver for t in parent.targets)
    return False


def _forwards(call: cst.Call, receiver: str) -> bool:
    """Is ``call`` a forward pass of the model spelled ``receiver``?"""
    name = _receiver(call.func)
    if name is None:
        return False
    return name in (receiver, receiver + ".forward", receiver + ".module", receiver + ".module.forward")


class _ScopeWalker(cst.CSTVisitor):
    """Events of one function body (or module) in source order, nested scopes skipped.

    Each event is (kind, node, path) where path runs from the scope's body to the node.
    """

    def __init__(self, ctx) -> None:
        super().__init__()
        self.ctx = ctx
        self.path: list[cst.CSTNode] = []
        self.events: list[tuple[str, cst.CSTNode, tuple[cst.CSTNode, ...]]] = []
        self.assigns: dict[str, list[cst.BaseExpression]] = {}
        self.returns: list[cst.Return] = []
        self.has_yield = False

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self.path and isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            return False
        self.path.append(node)
        if isinstance(node, cst.Call):
            self._call(node)
        elif isinstance(node, cst.Attribute) and node.attr.value == "grad":
            self.events.append(("grad", node, tuple(self.path)))
        elif isinstance(node, cst.Arg) and node.keyword is not None and node.keyword.value == "requires_grad":
            if not (isinstance(node.value, cst.Name) and node.value.value == "False"):
                self.events.append(("grad", node, tuple(self.path)))
        elif isinstance(node, cst.Return):
            self.returns.append(node)
        elif isinstance(node, (cst.Yield, cst.Await)):
            self.has_yield = True
        elif isinstance(node, cst.Assign):
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    self.assigns.setdefault(target.target.value, []).append(node.value)
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign)):
            if isinstance(node.target, cst.Name) and node.value is not None:
                self.assigns.setdefault(node.target.value, []).append(node.value)
        elif isinstance(node, (cst.With,)):
            for item in node.items:
                name = self.ctx.qualname(item.item.func if isinstance(item.item, cst.Call) else item.item)
                if name in ("torch.enable_grad", "torch.autograd.enable_grad"):
                    self.events.append(("grad", node, tuple(self.path)))
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if self.path and self.path[-1] is original_node:
            self.path.pop()

    def _call(self, call: cst.Call) -> None:
        path = tuple(self.path)
        func = call.func
        if isinstance(func, cst.Attribute):
            attr = func.attr.value
            if attr in _NEEDS_GRAD_ATTRS:
                self.events.append(("grad", call, path))
                return
            if attr == "step":
                owner = dotted_name(func.value) or ""
                if "optim" in owner.lower() or owner.split(".")[-1] in ("opt", "optimizer", "optimiser"):
                    self.events.append(("grad", call, path))
                    return
        qual = self.ctx.qualname(func) or ""
        if qual.startswith(("torch.autograd.grad", "torch.autograd.functional", "torch.func.")) or qual in (
            "torch.enable_grad",
            "torch.autograd.backward",
        ):
            self.events.append(("grad", call, path))
            return
        receiver = _is_eval_call(call)
        if receiver is not None:
            if _sets_mode(path, receiver):
                self.events.append(("eval", call, path))
            return
        receiver = _is_train_call(call)
        if receiver is not None:
            self.events.append(("train", call, path))
            return
        self.events.append(("call", call, path))


def _walk(ctx, scope: cst.FunctionDef | cst.Module) -> _ScopeWalker:
    walker = _ScopeWalker(ctx)
    if isinstance(scope, cst.FunctionDef):
        walk(scope.body, walker)
    else:
        walker.path.append(scope)
        for stmt in scope.body:
            walk(stmt, walker)
    return walker


def _params(func: cst.FunctionDef) -> list[str]:
    p = func.params
    return [param.name.value for param in [*p.posonly_params, *p.params]]


class _Region:
    def __init__(self, receiver: str, start: cst.Call, path: tuple[cst.CSTNode, ...]) -> None:
        self.receiver = receiver
        self.start = start
        self.start_path = path
        self.forwards: list[tuple[cst.Call, tuple[cst.CSTNode, ...], bool]] = []  # (call, path, via helper)
        self.needs_grad = False
        self.conditional = False  # eval mode depends on a flag: no automatic fix


class EvalWithoutNoGrad(Rule):
    code = "MEM001"
    name = "eval-without-no-grad"
    summary = "Evaluation forward pass runs with autograd recording (no `torch.no_grad()`)"
    fix_availability = "sometimes"
    libraries = frozenset({"torch"})

    def __init__(self, ctx, settings) -> None:
        super().__init__(ctx, settings)
        self._pending: set[int] = set()
        self._module_pending = False
        self._walks: dict[int, _ScopeWalker] = {}
        self._skip = bool(_TEST_FILE.search(ctx.path))
        self._lightning = any(q.split(".")[0] in ("lightning", "pytorch_lightning") for q in ctx.imports.values())

    # ------------------------------------------------------------------ triggers
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in ("eval", "train"):
            return
        if self._skip:
            return
        if _is_eval_call(node) is None and not (
            len(node.args) == 1 and isinstance(node.args[0].value, cst.Name) and func.attr.value == "train"
        ):
            return
        scope = self.ctx.enclosing_function()
        if scope is None:
            self._module_pending = True
        else:
            self._pending.add(id(scope))

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        if id(node) in self._pending:
            self._pending.discard(id(node))
            if self._analyse_regions(node, list(self.ctx.stack)):
                return
        if not self._skip and _EVAL_NAME.match(node.name.value):
            self._analyse_by_name(node, list(self.ctx.stack))

    def leave_Module(self, node: cst.Module) -> None:
        if self._module_pending:
            self._analyse_regions(node, [node])

    # ------------------------------------------------------------------ helpers of the file
    def _walk(self, scope: cst.FunctionDef | cst.Module) -> _ScopeWalker:
        walker = self._walks.get(id(scope))
        if walker is None:
            walker = self._walks[id(scope)] = _walk(self.ctx, scope)
        return walker

    def _functions(self, body: Sequence[cst.CSTNode]) -> dict[str, cst.FunctionDef]:
        found: dict[str, cst.FunctionDef] = {}
        for stmt in body:
            if isinstance(stmt, cst.FunctionDef):
                found.setdefault(stmt.name.value, stmt)
        return found

    def _helper_forwards(self, call: cst.Call, receiver: str, stack: Sequence[cst.CSTNode]) -> bool | None:
        """Does ``call`` run the model through a helper of this file?

        True: the helper runs it and needs no gradients; None: it runs it but needs gradients.
        """
        func = call.func
        helper: cst.FunctionDef | None = None
        inner: str | None = None
        cls = next((n for n in reversed(stack) if isinstance(n, cst.ClassDef)), None)
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
            if cls is None:
                return False
            helper = self._functions(cls.body.body).get(func.attr.value)
            if helper is None:
                return False
            if receiver == "self" or receiver.startswith("self."):
                inner = receiver
            else:
                inner = self._bound_param(call, helper, receiver, skip=1)
        elif isinstance(func, cst.Name) and "." not in receiver:
            helper = self._functions(self.ctx.module.body).get(func.value)
            if helper is None:
                return False
            inner = self._bound_param(call, helper, receiver, skip=0)
        if helper is None or inner is None:
            return False
        walker = self._walk(helper)
        runs = any(
            kind == "call" and _forwards(node, inner) and self._guard([helper], path) is None  # type: ignore[arg-type]
            for kind, node, path in walker.events
        )
        if not runs:
            return False
        if any(kind == "grad" for kind, _, _ in walker.events):
            return None
        return True

    @staticmethod
    def _bound_param(call: cst.Call, helper: cst.FunctionDef, receiver: str, skip: int) -> str | None:
        params = _params(helper)[skip:]
        for index, arg in enumerate(call.args):
            if not (isinstance(arg.value, cst.Name) and arg.value.value == receiver) or arg.star:
                continue
            if arg.keyword is not None:
                return arg.keyword.value if arg.keyword.value in params else None
            return params[index] if index < len(params) else None
        return None

    def _silenced_scope(self, scope: cst.FunctionDef | cst.Module, stack: Sequence[cst.CSTNode]) -> bool:
        for node in stack:
            if isinstance(node, cst.FunctionDef):
                if _LIGHTNING_HOOK.match(node.name.value) and (self._lightning or self._in_lightning_class(stack)):
                    return True
        if isinstance(scope, cst.FunctionDef):
            sites = self.ctx.call_sites.get(scope.name.value)
            if sites and self.ctx.called_only_under_guard(scope.name.value):
                return True
        return False

    @staticmethod
    def _in_lightning_class(stack: Sequence[cst.CSTNode]) -> bool:
        for node in stack:
            if isinstance(node, cst.ClassDef):
                for base in node.bases:
                    if "Lightning" in (dotted_name(base.value) or ""):
                        return True
        return False

    def _guard(self, stack: Sequence[cst.CSTNode], path: Sequence[cst.CSTNode]) -> str | None:
        full = list(path) if path and isinstance(path[0], cst.Module) else [*stack, *path]
        kind = self.ctx.path_guard(full)
        if kind is not None:
            return kind
        for node, child in zip(full, full[1:]):
            if isinstance(node, cst.With) and child is node.body:
                exprs = [item.item for item in node.items]
            elif isinstance(node, cst.FunctionDef) and child is node.body:
                exprs = [d.decorator for d in node.decorators]
            else:
                continue
            for expr in exprs:
                target = expr.func if isinstance(expr, cst.Call) else expr
                name = dotted_name(target)
                if name is not None and _GUARD_LIKE.search(name.split(".")[-1]):
                    return "off"
        return None

    # ------------------------------------------------------------------ eval() regions
    def _analyse_regions(self, scope: cst.FunctionDef | cst.Module, stack: list[cst.CSTNode]) -> bool:
        walker = self._walk(scope)
        open_regions: dict[str, _Region] = {}
        regions: list[_Region] = []
        for kind, node, path in walker.events:
            if kind == "eval":
                receiver = _is_eval_call(node)  # type: ignore[arg-type]
                if receiver is not None and receiver not in open_regions:
                    region = _Region(receiver, node, path)  # type: ignore[arg-type]
                    open_regions[receiver] = region
                    regions.append(region)
            elif kind == "train":
                receiver = _is_train_call(node) or ""  # type: ignore[arg-type]
                open_regions.pop(receiver, None)
                if isinstance(scope, cst.FunctionDef) and _off_by_default(node, scope):  # type: ignore[arg-type]
                    # `model.train(training)` with `training=False` by default: evaluation unless asked.
                    region = _Region(receiver, node, path)  # type: ignore[arg-type]
                    region.conditional = True
                    open_regions[receiver] = region
                    regions.append(region)
            elif kind == "grad":
                for region in open_regions.values():
                    region.needs_grad = True
            elif kind == "call":
                for region in open_regions.values():
                    if _forwards(node, region.receiver):  # type: ignore[arg-type]
                        region.forwards.append((node, path, False))  # type: ignore[arg-type]
                        continue
                    helper = self._helper_forwards(node, region.receiver, stack)  # type: ignore[arg-type]
                    if helper is None:
                        region.needs_grad = True
                    elif helper:
                        region.forwards.append((node, path, True))  # type: ignore[arg-type]
        if not regions:
            return False
        if self._silenced_scope(scope, stack):
            return True
        for region in regions:
            if region.needs_grad:
                continue
            exposed = [(c, p, h) for c, p, h in region.forwards if self._guard(stack, p) is None]
            if not exposed or len(exposed) < len(region.forwards):
                # All guarded, or guarded on some paths only: a deliberate choice (models whose
                # forward needs autograd are run unguarded on purpose).
                continue
            self._report(scope, stack, walker, exposed, region.start_path, conditional=region.conditional)
        return True

    # ------------------------------------------------------------------ evaluation by name
    def _analyse_by_name(self, func: cst.FunctionDef, stack: list[cst.CSTNode]) -> None:
        """An evaluation function without ``.eval()``: a loop that runs a model this file trains."""
        walker = self._walk(func)
        candidates = []
        for kind, node, path in walker.events:
            if kind in ("grad", "train", "eval"):
                return
            if kind != "call" or not any(isinstance(n, (cst.For, cst.While)) for n in path):
                continue
            name = dotted_name(node.func)  # type: ignore[attr-defined]
            if name is None:
                continue
            name = name[: -len(".forward")] if name.endswith(".forward") else name
            if _MODEL_LIKE.search(name.split(".")[-1]):
                candidates.append((name, node, path))
        if not candidates or not self.ctx.call_sites.get(func.name.value):
            return  # not called in this file (a pytest test, an API entry point)
        trained = self._trained_receivers
        exposed = [
            (node, path, False)
            for name, node, path in candidates
            if name in trained and self._guard(stack, path) is None
        ]
        if exposed and not self._silenced_scope(func, stack):
            self._report(func, stack, walker, exposed, None, by_name=True)

    @property
    def _trained_receivers(self) -> frozenset[str]:
        """Model-like callees that some code of this file trains (calls next to ``backward``)."""
        cached = getattr(self, "_trained_cache", None)
        if cached is not None:
            return cached
        trained: set[str] = set()
        scopes: list[cst.FunctionDef | cst.Module] = [self.ctx.module]
        for node in _iter_functions(self.ctx.module):
            scopes.append(node)
        for scope in scopes:
            walker = self._walk(scope)
            if not any(kind == "grad" and _is_backward(node) for kind, node, _ in walker.events):
                continue
            for kind, node, _ in walker.events:
                if kind != "call":
                    continue
                name = dotted_name(node.func)  # type: ignore[attr-defined]
                if name is None:
                    continue
                last = name.split(".")[-1]
                if _MODEL_LIKE.search(last) and not _NOT_MODEL.search(last) and self.ctx.qualname(node.func) is None:  # type: ignore[attr-defined]
                    trained.add(name)
        self._trained_cache = frozenset(trained)
        return self._trained_cache

    # ------------------------------------------------------------------ report and fix
    def _report(
        self,
        scope: cst.FunctionDef | cst.Module,
        stack: list[cst.CSTNode],
        walker: _ScopeWalker,
        exposed: list[tuple[cst.Call, tuple[cst.CSTNode, ...], bool]],
        start_path: tuple[cst.CSTNode, ...] | None,
        by_name: bool = False,
        conditional: bool = False,
    ) -> None:
        call = exposed[0][0]
        via_helper = any(h for _, _, h in exposed)
        what = "a helper that runs the model" if via_helper else "this forward pass"
        why = "evaluation runs with autograd on" if by_name else "`.eval()` does not turn off autograd"
        message = (
            f"{why}: {what} records a graph and keeps activations alive; "
            "wrap the evaluation in `with torch.no_grad():`"
        )
        fix = None if conditional else self._fix(scope, walker, exposed, start_path, via_helper)
        self.report(call, message, fix)

    def _fix(
        self,
        scope: cst.FunctionDef | cst.Module,
        walker: _ScopeWalker,
        exposed: list[tuple[cst.Call, tuple[cst.CSTNode, ...], bool]],
        start_path: tuple[cst.CSTNode, ...] | None,
        via_helper: bool,
    ) -> Fix | None:
        if walker.has_yield:
            return None
        torch_name, imports = self.ctx.module_ref("torch")
        safe = not via_helper and (isinstance(scope, cst.Module) or self._returns_scalars(walker))
        applicability = "safe" if safe else "unsafe"
        whole = (
            isinstance(scope, cst.FunctionDef)
            and _EVAL_NAME.match(scope.name.value)
            and not any(kind == "train" for kind, _, _ in walker.events)
            and (start_path is None or start_path[0] is scope.body)
            and not scope.asynchronous
        )
        if whole:
            assert isinstance(scope, cst.FunctionDef)
            decorator = cst.Decorator(cst.parse_expression(f"{torch_name}.no_grad()"))
            new = scope.with_changes(decorators=[*scope.decorators, decorator])
            return Fix(applicability, "Decorate the function with `@torch.no_grad()`", {scope: new}, imports)
        block, first, last = _common_block(exposed, start_path)
        if block is None:
            return None
        stmts = list(block.body[first : last + 1])
        head = stmts[0]
        inner = [head.with_changes(leading_lines=()), *stmts[1:]]
        with_node = cst.With(
            items=[cst.WithItem(cst.parse_expression(f"{torch_name}.no_grad()"))],
            body=cst.IndentedBlock(body=inner),
            leading_lines=head.leading_lines,
        )
        replacements: dict[cst.CSTNode, object] = {head: with_node}
        for stmt in stmts[1:]:
            replacements[stmt] = cst.RemovalSentinel.REMOVE
        return Fix(applicability, "Wrap the evaluation in `with torch.no_grad():`", replacements, imports)  # type: ignore[arg-type]

    def _returns_scalars(self, walker: _ScopeWalker) -> bool:
        return all(r.value is None or _scalar(r.value, walker.assigns, 0) for r in walker.returns)


def _off_by_default(call: cst.Call, func: cst.FunctionDef) -> bool:
    """``R.train(flag)`` where ``flag`` is a parameter of ``func`` defaulting to False."""
    if len(call.args) != 1 or not isinstance(call.args[0].value, cst.Name):
        return False
    flag = call.args[0].value.value
    for param in [*func.params.params, *func.params.kwonly_params]:
        if param.name.value == flag:
            default = param.default
            return isinstance(default, cst.Name) and default.value == "False"
    return False


def _is_backward(node: cst.CSTNode) -> bool:
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "backward"
    )


def _iter_functions(module: cst.Module) -> Iterator[cst.FunctionDef]:
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef):
            yield stmt
        elif isinstance(stmt, cst.ClassDef):
            for inner in stmt.body.body:
                if isinstance(inner, cst.FunctionDef):
                    yield inner


def _scalar(expr: cst.BaseExpression, assigns: dict[str, list[cst.BaseExpression]], depth: int) -> bool:
    """Conservatively: is ``expr`` a plain Python value (no tensor a caller could differentiate)?"""
    if depth > 6:
        return False
    if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)):
        return True
    if isinstance(expr, cst.Name):
        if expr.value in ("None", "True", "False"):
            return True
        values = assigns.get(expr.value)
        return bool(values) and all(_scalar(v, assigns, depth + 1) for v in values)
    if isinstance(expr, cst.Call):
        func = expr.func
        if isinstance(func, cst.Name) and func.value in _SCALAR_CALLS:
            return True
        return isinstance(func, cst.Attribute) and func.attr.value in _SCALAR_METHODS
    if isinstance(expr, cst.BinaryOperation):
        return _scalar(expr.left, assigns, depth + 1) and _scalar(expr.right, assigns, depth + 1)
    if isinstance(expr, cst.UnaryOperation):
        return _scalar(expr.expression, assigns, depth + 1)
    if isinstance(expr, (cst.Tuple, cst.List)):
        return all(_scalar(e.value, assigns, depth + 1) for e in expr.elements if isinstance(e, cst.Element))
    if isinstance(expr, cst.Dict):
        return all(isinstance(e, cst.DictElement) and _scalar(e.value, assigns, depth + 1) for e in expr.elements)
    return False


def _common_block(
    exposed: list[tuple[cst.Call, tuple[cst.CSTNode, ...], bool]],
    start_path: tuple[cst.CSTNode, ...] | None,
) -> tuple[cst.IndentedBlock | cst.Module | None, int, int]:
    """The innermost statement block holding every exposed forward (and the eval() call), and
    the range of its statements to wrap."""
    paths = [p for _, p, _ in exposed]
    if start_path is not None:
        paths.append(start_path)
    common = 0
    shortest = min(len(p) for p in paths)
    while common < shortest and all(p[common] is paths[0][common] for p in paths):
        common += 1
    # paths[0][:common] is shared; find the deepest shared block.
    for depth in range(common - 1, -1, -1):
        node = paths[0][depth]
        if isinstance(node, (cst.IndentedBlock, cst.Module)):
            body = list(node.body)
            indices = []
            for _, p, _ in exposed:
                stmt = p[depth + 1] if depth + 1 < len(p) else None
                index = -1 if stmt is None else _index(body, stmt)
                if index < 0:
                    return None, 0, 0
                indices.append(index)
            return node, min(indices), max(indices)
    return None, 0, 0


def _index(body: list[cst.CSTNode], stmt: cst.CSTNode) -> int:
    for i, s in enumerate(body):
        if s is stmt:
            return i
    return -1

EvalWithoutNoGrad.VALID = [
    Valid(
        code="""
            import torch


            def evaluate(model, loader):
                model.eval()
                correct = 0
                with torch.no_grad():
                    for x, y in loader:
                        correct += (model(x).argmax(1) == y).sum().item()
                return correct
            """,
        why='loop under with torch.no_grad()',
    ),
    Valid(
        code="""
            import torch as T


            @T.no_grad
            def predict(model, batches):
                model.eval()
                return [model(b).softmax(-1) for b in batches]


            @T.inference_mode()
            def embed(encoder, batches):
                encoder.eval()
                return [encoder(b) for b in batches]
            """,
        why='decorators, any alias, with or without parentheses',
    ),
    Valid(
        code="""
            import torch


            def run_phase(model, loader, optimizer, criterion, phase):
                if phase == "train":
                    model.train()
                else:
                    model.eval()
                running = 0.0
                for inputs, labels in loader:
                    optimizer.zero_grad()
                    with torch.set_grad_enabled(phase == "train"):
                        outputs = model(inputs)
                        loss = criterion(outputs, labels)
                        if phase == "train":
                            loss.backward()
                            optimizer.step()
                    running += loss.item()
                return running
            """,
        why="the phase idiom: set_grad_enabled(phase == 'train')",
    ),
    Valid(
        code="""
            import lightning as L
            import torch


            class LitClassifier(L.LightningModule):
                def validation_step(self, batch, batch_idx):
                    x, y = batch
                    self.log("val_loss", torch.nn.functional.cross_entropy(self(x), y))

                def on_validation_epoch_end(self):
                    self.teacher.eval()
                    sample = self.teacher(self.example_input_array)
                    self.log("teacher_mean", sample.mean())
            """,
        why='Lightning hooks run under inference mode',
    ),
    Valid(
        code="""
            import torch


            def saliency_maps(model, images, labels):
                model.eval()
                images = images.clone().requires_grad_(True)
                scores = model(images).gather(1, labels[:, None]).sum()
                scores.backward()
                return images.grad.abs().amax(dim=1)
            """,
        why='saliency needs gradients (requires_grad_, backward, .grad)',
    ),
    Valid(
        code="""
            import torch


            def predict_forces(potential, positions):
                potential.eval()
                positions.requires_grad_(True)
                energy = potential(positions).sum()
                forces = -torch.autograd.grad(energy, positions)[0]
                return energy.detach(), forces
            """,
        why='forces need torch.autograd.grad',
    ),
    Valid(
        code="""
            import torch


            def evaluate(model, loader):
                model.eval()
                total = 0.0
                for x, y in loader:
                    total += (model(x) - y).pow(2).mean().item()
                return total / len(loader)


            def main(model, loader):
                with torch.no_grad():
                    print("val mse", evaluate(model, loader))
                for epoch in range(3):
                    with torch.no_grad():
                        score = evaluate(model, loader)
                    print(epoch, score)
            """,
        why='every call site of evaluate() in the file is guarded',
    ),
    Valid(
        code="""
            import torch


            def build_validator(model, loader):
                with torch.no_grad():
                    def run():
                        model.eval()
                        return [model(x).argmax(-1) for x, _ in loader]
                    return run()
            """,
        why='a guard in the enclosing function covers the closure',
    ),
    Valid(
        code="""
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained("gpt2")
            model = AutoModelForCausalLM.from_pretrained("gpt2")
            model.eval()
            for prompt in ["Hello", "The weather"]:
                ids = tokenizer(prompt, return_tensors="pt").input_ids
                out = model.generate(ids, max_new_tokens=20)
                print(tokenizer.decode(out[0]))
            """,
        why='HF generate() is already decorated with no_grad',
    ),
    Valid(
        code="""
            import pandas as pd
            import torch

            frame = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
            frame.eval("c = a + b", inplace=True)
            expression = "1 + 2"
            print(eval(expression), torch.tensor(frame["c"].values))
            """,
        why='pandas DataFrame.eval and builtin eval are not models',
    ),
    Valid(
        code="""
            import torch


            def train_step(model, batch, optimizer):
                model.eval()
                model.train()
                optimizer.zero_grad()
                loss = model(batch).mean()
                loss.backward()
                optimizer.step()
                return loss.item()
            """,
        why='model.train() ends the region before the forward',
    ),
    Valid(
        code="""
            import torch
            from utils.torch_utils import smart_inference_mode


            def guard_for(torch_1_9=True):
                def decorate(fn):
                    return (torch.inference_mode if torch_1_9 else torch.no_grad)()(fn)

                return decorate


            @smart_inference_mode()
            def run(model, dataloader):
                model.eval()
                stats = []
                for im, targets in dataloader:
                    stats.append(model(im))
                return stats
            """,
        why="a guard wrapper imported from the project (yolov5's smart_inference_mode)",
    ),
    Valid(
        code="""
            import torch


            def validate(model, loader):
                total = 0.0
                for x, y in loader:
                    total += torch.nn.functional.mse_loss(model(x), y).item()
                return total
            """,
        why='an evaluation-named function that nothing in the file calls from training code',
    ),
    Valid(
        code="""
            import torch


            class Solver:
                def validate(self):
                    self.model.eval()
                    # Gradient-step denoisers need autograd inside forward: no guard for them.
                    if self.model_needs_grad:
                        loss = self._validation_loop()
                    else:
                        with torch.no_grad():
                            loss = self._validation_loop()
                    self.model.train()
                    return loss

                def _validation_loop(self):
                    return sum(self.loss_fn(self.model(x), y).item() for x, y in self.loader)
            """,
        why='guarded on one branch and deliberately not on the other',
    ),
    Valid(
        code="""
            import torch


            def export(model, example, path):
                model.eval()
                traced = torch.jit.trace(model, example)
                traced.save(path)
                torch.onnx.export(model, (example,), path + ".onnx")
            """,
        why='tracing and export are not forward calls in this file',
    ),
    Valid(
        code="""
            import torch


            def pgd_attack(model, images, labels, eps=8 / 255, steps=10):
                model.eval()
                adv = images.clone()
                for _ in range(steps):
                    adv.requires_grad_(True)
                    loss = torch.nn.functional.cross_entropy(model(adv), labels)
                    grad, = torch.autograd.grad(loss, adv)
                    adv = (adv + eps / 4 * grad.sign()).clamp(images - eps, images + eps).detach()
                return adv
            """,
        why='adversarial attack: torch.autograd.grad through the model',
    ),
    Valid(
        code="""
            import torch


            def evaluate(model, loader):
                model.eval()
                with torch.no_grad():
                    outs = [model(x) for x in loader]
                model.train()
                return torch.cat(outs)


            def smoke(model, x):
                model.eval()
                model.train()
                return model(x)
            """,
        why='the forward after train() is training, and the eval region is guarded',
    ),
    Valid(
        code="""
            import torch


            def compile_for_inference(graph_module, example_inputs):
                scripted = torch.jit.script(graph_module)
                scripted = torch.jit.freeze(scripted.eval())
                scripted = torch.jit.optimize_for_inference(scripted)
                scripted(*example_inputs)  # warm-up run
                return scripted
            """,
        why="eval() only as an argument (freeze(m.eval())): not a mode switch before a forward",
    ),
    Valid(
        code="""
            import torch


            class Trainer:
                @torch.no_grad()
                def _eval_step(self, batch):
                    inputs, targets = batch
                    return self.criterion(self.model(inputs), targets).item()

                def _eval_epoch(self):
                    self.model.eval()
                    total = sum(self._eval_step(batch) for batch in self.loader)
                    self.model.train()
                    return total
            """,
        why="the helper that runs the model is itself decorated with @torch.no_grad()",
    ),
]

EvalWithoutNoGrad.INVALID = [
    Invalid(
        code="""
            import torch


            def evaluate(model, loader, device):
                model.eval()
                correct = 0
                total = 0
                for images, labels in loader:
                    images, labels = images.to(device), labels.to(device)
                    logits = model(images)
                    correct += (logits.argmax(dim=1) == labels).sum().item()
                    total += labels.size(0)
                return correct / total
            """,
        line=10,
        fixed="""
            import torch


            @torch.no_grad()
            def evaluate(model, loader, device):
                model.eval()
                correct = 0
                total = 0
                for images, labels in loader:
                    images, labels = images.to(device), labels.to(device)
                    logits = model(images)
                    correct += (logits.argmax(dim=1) == labels).sum().item()
                    total += labels.size(0)
                return correct / total
            """,
        applicability='safe',
        why='model.eval() then a loader loop: the whole function is evaluation, so it is decorated',
    ),
    Invalid(
        code="""
            import torch


            class Trainer:
                def __init__(self, model, criterion):
                    self.model = model
                    self.criterion = criterion

                def validate(self, loader):
                    self.model.eval()
                    losses = []
                    for inputs, targets in loader:
                        outputs = self.model(inputs)
                        losses.append(self.criterion(outputs, targets))
                    self.model.train()
                    return torch.stack(losses).mean()
            """,
        line=13,
        fixed="""
            import torch


            class Trainer:
                def __init__(self, model, criterion):
                    self.model = model
                    self.criterion = criterion

                def validate(self, loader):
                    self.model.eval()
                    losses = []
                    with torch.no_grad():
                        for inputs, targets in loader:
                            outputs = self.model(inputs)
                            losses.append(self.criterion(outputs, targets))
                    self.model.train()
                    return torch.stack(losses).mean()
            """,
        applicability='unsafe',
        why='method: the region between self.model.eval() and self.model.train() is wrapped; returns a tensor, so unsafe',
    ),
    Invalid(
        code="""
            import torch as T

            net = T.nn.Sequential(T.nn.Linear(16, 64), T.nn.ReLU(), T.nn.Linear(64, 4))
            net.load_state_dict(T.load("weights.pt"))
            net.eval()

            # Score every batch and keep the predictions.
            predictions = []
            for batch in T.randn(100, 8, 16):
                predictions.append(net(batch).argmax(dim=1))
            print(T.cat(predictions).bincount())
            """,
        line=10,
        fixed="""
            import torch as T

            net = T.nn.Sequential(T.nn.Linear(16, 64), T.nn.ReLU(), T.nn.Linear(64, 4))
            net.load_state_dict(T.load("weights.pt"))
            net.eval()

            # Score every batch and keep the predictions.
            predictions = []
            with T.no_grad():
                for batch in T.randn(100, 8, 16):
                    predictions.append(net(batch).argmax(dim=1))
            print(T.cat(predictions).bincount())
            """,
        applicability='safe',
        why='module-level script with an import alias: the fix spells T.no_grad()',
    ),
    Invalid(
        code="""
            import torch


            class EnergyTrainer:
                def predict(self, loader):
                    self.model.eval()
                    energies = []
                    for batch in loader:
                        with torch.autocast("cuda", enabled=self.amp):
                            out = self._forward(batch)
                        energies.extend(out["energy"].tolist())
                    return energies

                def _forward(self, batch):
                    output = self.model(batch)
                    return {"energy": output.view(-1)}
            """,
        line=10,
        fixed="""
            import torch


            class EnergyTrainer:
                @torch.no_grad()
                def predict(self, loader):
                    self.model.eval()
                    energies = []
                    for batch in loader:
                        with torch.autocast("cuda", enabled=self.amp):
                            out = self._forward(batch)
                        energies.extend(out["energy"].tolist())
                    return energies

                def _forward(self, batch):
                    output = self.model(batch)
                    return {"energy": output.view(-1)}
            """,
        applicability='unsafe',
        why='forward through a helper method (self._forward runs self.model): unsafe fix',
    ),
    Invalid(
        code="""
            import torch


            def run_epoch(loader, model, loss_fn):
                total = 0.0
                for x, y in loader:
                    out = model.forward(x)
                    total += loss_fn(out, y).item()
                return total / len(loader)


            def main(model, train_loader, val_loader, loss_fn, optimizer, epochs):
                for epoch in range(epochs):
                    model.train()
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        loss_fn(model(x), y).backward()
                        optimizer.step()
                    model.eval()
                    val_loss = run_epoch(val_loader, model, loss_fn)
                    print(epoch, val_loss)
            """,
        line=20,
        fixed="""
            import torch


            def run_epoch(loader, model, loss_fn):
                total = 0.0
                for x, y in loader:
                    out = model.forward(x)
                    total += loss_fn(out, y).item()
                return total / len(loader)


            def main(model, train_loader, val_loader, loss_fn, optimizer, epochs):
                for epoch in range(epochs):
                    model.train()
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        loss_fn(model(x), y).backward()
                        optimizer.step()
                    model.eval()
                    with torch.no_grad():
                        val_loss = run_epoch(val_loader, model, loss_fn)
                    print(epoch, val_loss)
            """,
        applicability='unsafe',
        why='forward through a module-level helper that receives the model as an argument',
    ),
    Invalid(
        code="""
            import torch
            import torch.nn.functional as F


            def test(model, loader):
                model.eval()
                test_loss = 0.0
                for data, target in loader:
                    output = model(data)
                    with torch.no_grad():
                        test_loss += F.nll_loss(output, target, reduction="sum").item()
                return test_loss / len(loader.dataset)
            """,
        line=9,
        fixed="""
            import torch
            import torch.nn.functional as F


            @torch.no_grad()
            def test(model, loader):
                model.eval()
                test_loss = 0.0
                for data, target in loader:
                    output = model(data)
                    with torch.no_grad():
                        test_loss += F.nll_loss(output, target, reduction="sum").item()
                return test_loss / len(loader.dataset)
            """,
        applicability='safe',
        why='the guard wraps only the metric code after the forward pass',
    ),
    Invalid(
        code="""
            import torch
            import torch.distributed as dist


            def gather_predictions(ddp_model, loader, rank):
                ddp_model.eval()
                chunks = []
                for batch in loader:
                    logits = ddp_model.module(batch.to(rank))
                    chunks.append(logits.softmax(dim=-1))
                local = torch.cat(chunks)
                gathered = [torch.empty_like(local) for _ in range(dist.get_world_size())]
                dist.all_gather(gathered, local)
                return torch.cat(gathered)
            """,
        line=9,
        fixed="""
            import torch
            import torch.distributed as dist


            def gather_predictions(ddp_model, loader, rank):
                ddp_model.eval()
                chunks = []
                with torch.no_grad():
                    for batch in loader:
                        logits = ddp_model.module(batch.to(rank))
                        chunks.append(logits.softmax(dim=-1))
                local = torch.cat(chunks)
                gathered = [torch.empty_like(local) for _ in range(dist.get_world_size())]
                dist.all_gather(gathered, local)
                return torch.cat(gathered)
            """,
        applicability='unsafe',
        why='DDP wrapper: ddp_model.module(x) is the forward pass',
    ),
    Invalid(
        code="""
            import torch
            import torch.nn as nn
            from tqdm import tqdm

            model = nn.Linear(8, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            train_data = [(torch.randn(32, 8), torch.randn(32, 1)) for _ in range(10)]
            val_data = [(torch.randn(32, 8), torch.randn(32, 1)) for _ in range(10)]


            def validate():
                mse = nn.MSELoss(reduction="sum")
                total = 0.0
                for x, y in tqdm(val_data):
                    total += mse(model(x), y).item()
                return total / 320


            for epoch in range(5):
                print("val", validate())
                for x, y in train_data:
                    loss = nn.functional.mse_loss(model(x), y)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            """,
        line=15,
        fixed="""
            import torch
            import torch.nn as nn
            from tqdm import tqdm

            model = nn.Linear(8, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            train_data = [(torch.randn(32, 8), torch.randn(32, 1)) for _ in range(10)]
            val_data = [(torch.randn(32, 8), torch.randn(32, 1)) for _ in range(10)]


            @torch.no_grad()
            def validate():
                mse = nn.MSELoss(reduction="sum")
                total = 0.0
                for x, y in tqdm(val_data):
                    total += mse(model(x), y).item()
                return total / 320


            for epoch in range(5):
                print("val", validate())
                for x, y in train_data:
                    loss = nn.functional.mse_loss(model(x), y)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            """,
        applicability='safe',
        why='evaluation by name without .eval(): validate() runs a model that the script trains',
    ),
    Invalid(
        code="""
            import torch


            def train_one_epoch(model, loader, val_batch, optimizer, criterion):
                # Log a quick sanity value before training.
                model.eval()
                sanity = criterion(model(val_batch[0]), val_batch[1]).item()
                model.train()
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                return sanity
            """,
        line=7,
        fixed="""
            import torch


            def train_one_epoch(model, loader, val_batch, optimizer, criterion):
                # Log a quick sanity value before training.
                model.eval()
                with torch.no_grad():
                    sanity = criterion(model(val_batch[0]), val_batch[1]).item()
                model.train()
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                return sanity
            """,
        applicability='safe',
        why='only the region between model.eval() and model.train() counts; the training after it needs grad',
    ),
    Invalid(
        code="""
            import torch


            class Net:
                def evaluation_step(self, batch, training=False):
                    self.module_.train(training)
                    return self.module_(batch)
            """,
        line=7,
        why='module_.train(training) with training=False by default: no automatic fix (set_grad_enabled(training) is the fix)',
    ),
    Invalid(
        code="""
            from torch import nn


            def embed_corpus(encoder: nn.Module, batches):
                encoder.train(False)
                vectors = []
                for tokens in batches:
                    vectors.append(encoder(tokens).mean(dim=1).cpu().numpy())
                return vectors
            """,
        line=8,
        fixed="""
            from torch import nn
            import torch


            def embed_corpus(encoder: nn.Module, batches):
                encoder.train(False)
                vectors = []
                with torch.no_grad():
                    for tokens in batches:
                        vectors.append(encoder(tokens).mean(dim=1).cpu().numpy())
                return vectors
            """,
        applicability='safe',
        why='train(False) is eval(); the file has no `import torch`, the fix adds it',
    ),
    Invalid(
        code="""
            import torch


            def stream_predictions(model, loader):
                model.eval()
                for batch in loader:
                    yield model(batch).argmax(dim=-1)
            """,
        line=7,
        why='a generator: wrapping a yield in no_grad would leak grad mode to the consumer, so no fix',
    ),
    Invalid(
        code="""
            import torch
            from torch import nn


            class Classifier(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Linear(32, 10)

                def forward(self, x):
                    return self.body(x)

                def predict(self, x):
                    self.eval()
                    return self(x).argmax(dim=-1).tolist()
            """,
        line=15,
        fixed="""
            import torch
            from torch import nn


            class Classifier(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Linear(32, 10)

                def forward(self, x):
                    return self.body(x)

                @torch.no_grad()
                def predict(self, x):
                    self.eval()
                    return self(x).argmax(dim=-1).tolist()
            """,
        applicability='safe',
        why='self.eval() then self(x) inside an nn.Module',
    ),
    Invalid(
        code="""
            import torch


            def fit(model, train_loader, val_loader, optimizer, criterion, epochs):
                history = []
                for epoch in range(epochs):
                    model.train()
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        criterion(model(x), y).backward()
                        optimizer.step()

                    model.eval()
                    val_loss = 0.0
                    for x, y in val_loader:
                        val_loss += criterion(model(x), y).item()
                    history.append(val_loss / len(val_loader))
                return history
            """,
        line=16,
        fixed="""
            import torch


            def fit(model, train_loader, val_loader, optimizer, criterion, epochs):
                history = []
                for epoch in range(epochs):
                    model.train()
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        criterion(model(x), y).backward()
                        optimizer.step()

                    model.eval()
                    val_loss = 0.0
                    with torch.no_grad():
                        for x, y in val_loader:
                            val_loss += criterion(model(x), y).item()
                    history.append(val_loss / len(val_loader))
                return history
            """,
        applicability='safe',
        why='validation after training inside the epoch loop',
    ),
    Invalid(
        code="""
            import torch


            class Generator:
                def _validate(self, epoch):
                    self.metrics.clear()
                    for data in self.val_dataset:
                        inputs, targets = self.unpack(data)
                        outputs = self.netG(inputs)
                        self.metrics.add(self.criterion(outputs, targets).item())
                    self.metrics.write(epoch)

                def _run_epoch(self, epoch):
                    for data in self.train_dataset:
                        inputs, targets = self.unpack(data)
                        outputs = self.netG(inputs)
                        loss = self.criterion(outputs, targets)
                        self.optimizer.zero_grad()
                        loss.backward()
                        self.optimizer.step()

                def train(self):
                    for epoch in range(self.epochs):
                        self._run_epoch(epoch)
                        self._validate(epoch)
            """,
        line=9,
        fixed="""
            import torch


            class Generator:
                @torch.no_grad()
                def _validate(self, epoch):
                    self.metrics.clear()
                    for data in self.val_dataset:
                        inputs, targets = self.unpack(data)
                        outputs = self.netG(inputs)
                        self.metrics.add(self.criterion(outputs, targets).item())
                    self.metrics.write(epoch)

                def _run_epoch(self, epoch):
                    for data in self.train_dataset:
                        inputs, targets = self.unpack(data)
                        outputs = self.netG(inputs)
                        loss = self.criterion(outputs, targets)
                        self.optimizer.zero_grad()
                        loss.backward()
                        self.optimizer.step()

                def train(self):
                    for epoch in range(self.epochs):
                        self._run_epoch(epoch)
                        self._validate(epoch)
            """,
        applicability='safe',
        why="a trainer's _validate() without .eval(): netG is trained in _run_epoch",
    ),
    Invalid(
        code="""
            import torch


            def evaluate_ema(ema, loader):
                ema.ema.eval()
                scores = []
                for images, _ in loader:
                    scores.append(ema.ema(images).sigmoid())
                return torch.cat(scores)
            """,
        line=8,
        fixed="""
            import torch


            def evaluate_ema(ema, loader):
                ema.ema.eval()
                scores = []
                with torch.no_grad():
                    for images, _ in loader:
                        scores.append(ema.ema(images).sigmoid())
                return torch.cat(scores)
            """,
        applicability='unsafe',
        why='an EMA copy: ema.ema.eval() then ema.ema(x)',
    ),
    Invalid(
        code="""
            import torch


            class GANTrainer:
                def _eval_step(self, batch):
                    noise, cond, audio = [b.to(self.device) for b in batch]
                    fake = self.model["generator"](noise, cond)
                    score = self.model["discriminator"](fake)
                    self.stats["eval/adv"] += self.criterion(score).item()

                def _eval_epoch(self):
                    for key in self.model.keys():
                        self.model[key].eval()
                    for batch in self.data_loader["dev"]:
                        self._eval_step(batch)
                    for key in self.model.keys():
                        self.model[key].train()
            """,
        line=15,
        fixed="""
            import torch


            class GANTrainer:
                def _eval_step(self, batch):
                    noise, cond, audio = [b.to(self.device) for b in batch]
                    fake = self.model["generator"](noise, cond)
                    score = self.model["discriminator"](fake)
                    self.stats["eval/adv"] += self.criterion(score).item()

                def _eval_epoch(self):
                    for key in self.model.keys():
                        self.model[key].eval()
                    with torch.no_grad():
                        for batch in self.data_loader["dev"]:
                            self._eval_step(batch)
                    for key in self.model.keys():
                        self.model[key].train()
            """,
        applicability="unsafe",
        why="models in a dict: self.model[key].eval() covers self.model[\"generator\"](x) in a helper",
    ),
]
