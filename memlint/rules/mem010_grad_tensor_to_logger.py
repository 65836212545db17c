"""MEM010 grad-tensor-to-logger: a tensor with autograd history handed to a logging helper that
keeps it.

``logger.log({"loss": loss})`` once per step, where the project's logger appends what it is given
to a history (``self.history[k].append(v)``, a module-level dict of lists): every logged step's
graph stays alive with the history. wandb/wandb#354 (about 40 GB in under an hour, when wandb
itself kept the tensors, fixed in wandb 0.8.2); facebookresearch/fairseq#2255 (a criterion's
logging output aggregated by the metrics logger); cyoon1729/RLcycle PR#10.

Why not MEM002: MEM002 reports accumulation the training code does in containers, meters and
trackers it updates (``losses.append(loss)``, ``meter.update(loss)``); the fix belongs at that
statement. Here the keeping happens behind a logging call, often in another file, with no
accumulator in sight; the fix belongs at the hand-off. Logging-named methods of tracker objects
(``log``, ``record``, ``report``, ``write``, ... ``facts.LOGGING_CALLEE``) are this rule's, the
others MEM002's, so one call is never reported twice.

Trigger: a call whose callee is named like a logging call, in a function with grad evidence.

Query: an argument carries history (``flow.value_of``: the loss itself, a dict literal or
``dict(...)`` holding it), and the callee resolves to project code (this file or another, up to
three calls deep) that grows a store outliving the call with it: ``append``/``extend``/``insert``
or ``+=`` on a ``self`` attribute, a module-level name or a container parameter, without reducing
it first (``.item()``, ``float()``, ``.detach()``, ``.data``). Library loggers that convert on
receipt (``SummaryWriter.add_scalar``, wandb since 0.8.2, Lightning's ``self.log``, mlflow) keep
no graph and are never reported (``facts.CONVERTING_LOGGERS``).

Fix (safe): ``.detach()`` on each tensor handed over (same type, device and value).
"""

from __future__ import annotations

import ast
import re

from memlint.analysis import facts
from memlint.analysis.effects import used_as_mapping
from memlint.analysis.sizes import binding_before
from memlint.analysis.values import MODEL
from memlint.analysis.syntax import FunctionNode, ancestors, dotted, iter_scope, last_name, target_names
from memlint.fixes import append_method
from memlint.rule import Fix, Invalid, Rule, Valid

DETACH = "Detach the tensor before logging it"
_GROWING = frozenset({"append", "extend", "insert", "appendleft"})
_MAX_DEPTH = 3


class GradTensorToLogger(Rule):
    code = "MEM010"
    name = "grad-tensor-to-logger"
    summary = "A tensor that carries autograd history is handed to a logging helper that keeps it"
    default_enabled = False  # real-code review: too few findings to show precision >= 0.9 (rules/*.md, Options)
    fix_availability = "sometimes"
    fix_kinds = {DETACH: "safe"}
    libraries = frozenset({"torch", "lightning", "pytorch_lightning"})

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name is None or not facts.LOGGING_CALLEE.search(name):
            return
        file = self.file
        scope = file.enclosing_function(node)
        if scope is not None and (file.decorator_guard(scope) is not None or file.guarded_by_callers(scope)):
            return
        if file.guard_at(node, stop=scope) is not None:
            return
        flow = file.flow(scope if scope is not None else file.tree)
        if not flow.evidence:
            return
        stmt = file.statement_of(node)
        if stmt is None or flow.guarded_at.get(id(stmt), True):
            return
        handed = [arg for arg in [*node.args, *(k.value for k in node.keywords)] if _grad_leaves(flow, arg)]
        if not handed:
            return
        for owner, definition, skip_self in self._callees(flow, node):
            params = _bind_params(definition, node, skip_self)
            for arg in handed:
                target = params.get(id(arg))
                store = _kept(owner, definition, target, 0) if target else None
                if store is not None:
                    self._report(flow, node, arg, definition, store)
                    return

    def _callees(self, flow, call: ast.Call) -> list[tuple[object, ast.AST, bool]]:  # type: ignore[no-untyped-def]
        """Project definitions the call runs (``skip_self``: the first parameter is the receiver)."""
        file = self.file
        found = [(o, d, _is_method(o, d) and not _called_on_class(call)) for o, d in file.resolve_call(call)]
        if not found and isinstance(call.func, ast.Attribute):
            receiver = flow.value_of(call.func.value)
            method = file.method_of(receiver, call.func.attr)
            if method is not None:
                found = [(method[0], method[1], True)]
            if (method is None and not receiver.origin) or self._from_factory(call.func.value):
                # `self._logger = get_logger(cfg)`: any logger class of the modules imported here
                found += [(o, d, True) for o, d in file.project.imported_methods(file, call.func.attr)] if file.project else []
        return found

    def _from_factory(self, receiver: ast.AST) -> bool:
        """``self.x`` that some method of the class binds to a function's result (``get_logger(cfg)``)."""
        name = dotted(receiver)
        cls = self.file.enclosing_class(receiver)
        if cls is None or name is None or not name.startswith("self."):
            return False
        for node in ast.walk(cls):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and any(dotted(t) == name for t in node.targets):
                callee = last_name(node.value.func) or ""
                if callee[:1].islower() and callee not in ("deepcopy", "copy"):
                    return True
        return False

    def _report(self, flow, call: ast.Call, arg: ast.AST, definition: ast.AST, store: str) -> None:  # type: ignore[no-untyped-def]
        text = ast.get_source_segment(self.file.text, arg) or "the value"
        if len(text) > 60:
            text = text[:57] + "..."
        message = (
            f"`{text}` carries autograd history into `{definition.name}`, which keeps it (in `{store}`): "  # type: ignore[attr-defined]
            "every logged step's graph stays alive; log `.item()` or `.detach()` instead"
        )
        leaves = _grad_leaves(flow, arg)
        fix = None
        mapping = any(isinstance(leaf, ast.Name) and used_as_mapping(flow.scope, leaf.id) for leaf in leaves)
        if leaves and not mapping and all(flow.value_of(leaf).tensor for leaf in leaves):
            fix = Fix("safe", DETACH, tuple(append_method(leaf, "detach") for leaf in leaves))
        self.report(call, message, fix)


def _grad_leaves(flow, arg: ast.AST) -> list[ast.AST]:  # type: ignore[no-untyped-def]
    """The graph-carrying values an argument hands over: itself, or the entries of a dict literal,
    ``dict(...)``, list or tuple."""
    if isinstance(arg, ast.Dict):
        return [leaf for value in arg.values for leaf in _grad_leaves(flow, value)]
    if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id == "dict" and not arg.args:
        return [leaf for k in arg.keywords for leaf in _grad_leaves(flow, k.value)]
    if isinstance(arg, (ast.List, ast.Tuple)):
        return [leaf for element in arg.elts for leaf in _grad_leaves(flow, element)]
    handle = binding_before(flow.scope, arg.id, arg) if isinstance(arg, ast.Name) else arg  # `net = unwrap_model(...)`
    if isinstance(handle, ast.Call) and _MODEL_HANDLE.match(last_name(handle.func) or ""):
        return []  # `unwrap_model(unet)`: the model itself, handed to a validation helper
    value = flow.value_of(arg)
    return [arg] if value.grad and value.kind != MODEL else []


_MODEL_HANDLE = re.compile(r"^_*(unwrap|wrap)_?model$")


def _is_method(owner, definition: ast.AST) -> bool:  # type: ignore[no-untyped-def]
    return owner.enclosing_class(definition) is not None and not any(
        dotted(d) == "staticmethod" for d in definition.decorator_list  # type: ignore[attr-defined]
    )


def _called_on_class(call: ast.Call) -> bool:
    name = dotted(call.func.value) if isinstance(call.func, ast.Attribute) else None
    return name is not None and name.split(".")[-1][:1].isupper()


def _bind_params(definition: ast.AST, call: ast.Call, skip_self: bool) -> dict[int, str]:
    """Which parameter each argument of ``call`` lands in (``*args`` / ``**kwargs`` included)."""
    args = definition.args  # type: ignore[attr-defined]
    positional = [a.arg for a in [*args.posonlyargs, *args.args]]
    if skip_self and positional:
        positional = positional[1:]
    bound: dict[int, str] = {}
    for index, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            break
        if index < len(positional):
            bound[id(arg)] = positional[index]
        elif args.vararg is not None:
            bound[id(arg)] = args.vararg.arg
    names = set(positional) | {a.arg for a in args.kwonlyargs}
    for kw in call.keywords:
        if kw.arg in names:
            bound[id(kw.value)] = kw.arg
        elif kw.arg is not None and args.kwarg is not None:
            bound[id(kw.value)] = args.kwarg.arg
    return bound


def _kept(owner, definition: ast.AST, param: str, depth: int) -> str | None:  # type: ignore[no-untyped-def]
    """Where ``definition`` keeps what arrives in ``param`` beyond the call (``self.history``,
    a module-level list, a container parameter), or None."""
    derived = _derived(definition, param)
    params = {a.arg for a in [*definition.args.posonlyargs, *definition.args.args, *definition.args.kwonlyargs]}  # type: ignore[attr-defined]
    for node in iter_scope(definition):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _GROWING:
            root = _store_root(node.func.value)
            if any(_not_a_tensor_here(node, a.id) for a in node.args if isinstance(a, ast.Name)):
                continue  # the `else:` of `if isinstance(value, torch.Tensor): keep value.item()`
            if root is not None and any(_carries(a, derived) for a in node.args) and _outlives(owner, root, params - derived):
                return root
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add) and _carries(node.value, derived):
            root = _store_root(node.target)
            if root is not None and _outlives(owner, root, params - derived) and "." in root:
                return root
        elif isinstance(node, ast.Call) and depth < _MAX_DEPTH:
            for index, arg in enumerate([*node.args, *(k.value for k in node.keywords)]):
                if not _carries(arg, derived):
                    continue
                for inner_owner, inner in owner.resolve_call(node):
                    skip = _is_method(inner_owner, inner) and isinstance(node.func, ast.Attribute)
                    target = _bind_params(inner, node, skip).get(id(arg))
                    found = _kept(inner_owner, inner, target, depth + 1) if target else None
                    if found is not None:
                        return found
    return None


def _not_a_tensor_here(node: ast.AST, name: str) -> bool:
    """``node`` runs only when ``name`` is not a tensor: in the ``else`` of ``if isinstance(name,
    torch.Tensor)``, or under ``if not isinstance(name, torch.Tensor)``."""
    child = node
    for outer in ancestors(node):
        if isinstance(outer, FunctionNode):
            return False
        if isinstance(outer, ast.If):
            test, negated = outer.test, False
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                test, negated = test.operand, True
            if (
                isinstance(test, ast.Call) and dotted(test.func) == "isinstance" and len(test.args) == 2
                and isinstance(test.args[0], ast.Name) and test.args[0].id == name
                and (last_name(test.args[1]) or "").endswith("Tensor")
            ):
                branch = outer.body if negated else outer.orelse
                if any(child is stmt for stmt in branch):
                    return True
        child = outer
    return False


def _derived(definition: ast.AST, param: str) -> set[str]:
    """``param`` and the local names that hold it or its entries (``for k, v in metrics.items()``)."""
    derived = {param}
    for node in iter_scope(definition):
        if isinstance(node, (ast.For, ast.AsyncFor)) and _carries(node.iter, derived):
            derived.update(n for n in target_names(node.target) if "." not in n)
        elif isinstance(node, ast.Assign) and _carries(node.value, derived):
            for target in node.targets:
                if isinstance(target, (ast.Name, ast.Tuple, ast.List)):
                    derived.update(n for n in target_names(target) if "." not in n)
    return derived


def _store_root(expr: ast.AST) -> str | None:
    """``self.history`` for ``self.history[key]`` / ``self.history.setdefault(k, [])``."""
    while True:
        if isinstance(expr, ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in ("setdefault", "get", "__getitem__"):
            expr = expr.func.value
        else:
            break
    return dotted(expr)


def _outlives(owner, root: str, other_params: set[str]) -> bool:  # type: ignore[no-untyped-def]
    head = root.split(".")[0]
    return head == "self" or head in other_params or head in owner.module_assigned


def _carries(expr: ast.AST, names: set[str]) -> bool:
    """``expr`` holds one of ``names`` without reducing it to a number or detaching it."""
    if isinstance(expr, ast.Name):
        return expr.id in names
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Attribute) and func.attr in facts.DETACHING_METHODS:
            return False
        if isinstance(func, ast.Name) and func.id in facts.NUMBER_BUILTINS:
            return False
        parts = [*expr.args, *(k.value for k in expr.keywords)]
        if isinstance(func, ast.Attribute):
            parts.append(func.value)
        return any(_carries(p, names) for p in parts)
    if isinstance(expr, ast.Attribute):
        return expr.attr not in facts.NO_GRAD_ATTRIBUTES and _carries(expr.value, names)
    if isinstance(expr, (ast.JoinedStr, ast.Compare, ast.Lambda, *FunctionNode)):
        return False
    return any(_carries(child, names) for child in ast.iter_child_nodes(expr))


GradTensorToLogger.INVALID = [
    Invalid(
        """
        import torch


        class History:
            def __init__(self):
                self.rows = []

            def log(self, entry):
                self.rows.append(entry)


        def train(model, loader, optimizer):
            history = History()
            for x, y in loader:
                losses = model.compute_loss(model(x), y)
                optimizer.zero_grad()
                losses["total"].backward()
                optimizer.step()
                history.log(losses)
        """,
        line=19,
        why="a dict of losses kept whole: reported, and no `.detach()` is offered on the dict itself",
    ),
    Invalid(
        {
            "tools/logs.py": """
                class KeepAll:
                    def __init__(self):
                        self.series = {}

                    def scalar(self, tag, value, step):
                        self.series.setdefault(tag, []).append((step, value))


                class Silent:
                    def scalar(self, tag, value, step):
                        pass


                def logger_from(cfg):
                    return KeepAll() if cfg.keep_history else Silent()
            """,
            "tools/__init__.py": "",
            "agent.py": """
                import torch

                from tools.logs import Silent, logger_from


                class Learner:
                    def __init__(self, net, cfg):
                        self.net = net
                        self.opt = torch.optim.SGD(net.parameters(), lr=cfg.lr)
                        self.log = logger_from(cfg)
                        if self.log is None:
                            self.log = Silent()

                    def learn(self, obs, target, step):
                        loss = torch.nn.functional.mse_loss(self.net(obs), target)
                        self.log.scalar("loss", loss, step)
                        self.opt.zero_grad()
                        loss.backward()
                        self.opt.step()
            """,
        },
        path="agent.py",
        line=16,
        fixed="""
            import torch

            from tools.logs import Silent, logger_from


            class Learner:
                def __init__(self, net, cfg):
                    self.net = net
                    self.opt = torch.optim.SGD(net.parameters(), lr=cfg.lr)
                    self.log = logger_from(cfg)
                    if self.log is None:
                        self.log = Silent()

                def learn(self, obs, target, step):
                    loss = torch.nn.functional.mse_loss(self.net(obs), target)
                    self.log.scalar("loss", loss.detach(), step)
                    self.opt.zero_grad()
                    loss.backward()
                    self.opt.step()
        """,
        applicability="safe",
        why="the logger comes from a factory in another module; one of the classes it can build keeps every value "
        "(chandar-lab/RLHive PR#92)",
    ),
    Invalid(
        """
        import torch
        from collections import defaultdict

        class Logger:
            def __init__(self):
                self.history = defaultdict(list)

            def log(self, metrics):
                for key, value in metrics.items():
                    self.history[key].append(value)

        def train(model, loader, optimizer, criterion):
            logger = Logger()
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                logger.log({"loss": loss})
        """,
        line=19,
        fixed="""
        import torch
        from collections import defaultdict

        class Logger:
            def __init__(self):
                self.history = defaultdict(list)

            def log(self, metrics):
                for key, value in metrics.items():
                    self.history[key].append(value)

        def train(model, loader, optimizer, criterion):
            logger = Logger()
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                logger.log({"loss": loss.detach()})
        """,
        applicability="safe",
        why="the logger appends every value it is given to its history",
    ),
    Invalid(
        """
        import torch

        def log_metric(history, name, value):
            history.setdefault(name, []).append(value)

        def train(model, loader, optimizer, criterion, history):
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                log_metric(history, "loss", loss)
        """,
        line=12,
        fixed="""
        import torch

        def log_metric(history, name, value):
            history.setdefault(name, []).append(value)

        def train(model, loader, optimizer, criterion, history):
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                log_metric(history, "loss", loss.detach())
        """,
        applicability="safe",
        why='`history["loss"].append(loss)` through a logging helper',
    ),
    Invalid(
        {
            "metrics.py": """
                _history = {}

                def log_scalar(key, value):
                    _history.setdefault(key, []).append(value)
            """,
            "train.py": """
                import torch
                from metrics import log_scalar

                def train(model, loader, optimizer):
                    for x, y in loader:
                        loss = torch.nn.functional.cross_entropy(model(x), y)
                        optimizer.zero_grad()
                        loss.backward()
                        optimizer.step()
                        log_scalar("train_loss", loss)
            """,
        },
        path="train.py",
        line=10,
        fixed="""
        import torch
        from metrics import log_scalar

        def train(model, loader, optimizer):
            for x, y in loader:
                loss = torch.nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                log_scalar("train_loss", loss.detach())
        """,
        applicability="safe",
        why="a metrics module keeps a module-level history (the fairseq#2255 shape)",
    ),
    Invalid(
        """
        import torch

        class Recorder:
            def __init__(self):
                self.rows = []

            def log(self, **metrics):
                for name, value in metrics.items():
                    self.rows.append((name, value))

        def train(model, loader, optimizer, criterion):
            recorder = Recorder()
            for x, y in loader:
                out = model(x)
                loss = criterion(out, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                recorder.log(loss=loss)
        """,
        line=19,
        fixed="""
        import torch

        class Recorder:
            def __init__(self):
                self.rows = []

            def log(self, **metrics):
                for name, value in metrics.items():
                    self.rows.append((name, value))

        def train(model, loader, optimizer, criterion):
            recorder = Recorder()
            for x, y in loader:
                out = model(x)
                loss = criterion(out, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                recorder.log(loss=loss.detach())
        """,
        applicability="safe",
        why="keyword arguments collected by **metrics",
    ),
    Invalid(
        """
        import torch

        class Logger:
            def __init__(self):
                self.entries = []

            def write_log(self, log_dict):
                self._store(log_dict)

            def _store(self, entry):
                self.entries.append(entry)

        class Agent:
            def __init__(self, learner):
                self.learner = learner
                self.logger = Logger()

            def train(self, batches):
                for batch in batches:
                    loss = self.learner(batch).mean()
                    loss.backward()
                    self.logger.write_log(dict(loss=loss))
        """,
        line=22,
        fixed="""
        import torch

        class Logger:
            def __init__(self):
                self.entries = []

            def write_log(self, log_dict):
                self._store(log_dict)

            def _store(self, entry):
                self.entries.append(entry)

        class Agent:
            def __init__(self, learner):
                self.learner = learner
                self.logger = Logger()

            def train(self, batches):
                for batch in batches:
                    loss = self.learner(batch).mean()
                    loss.backward()
                    self.logger.write_log(dict(loss=loss.detach()))
        """,
        applicability="safe",
        why="the logger hands the dict on to a method that keeps it",
    ),
    Invalid(
        """
        import torch
        from collections import defaultdict

        class Tracker:
            def __init__(self):
                self.sums = defaultdict(float)

            def record(self, name, value):
                self.sums[name] += value

        def train(model, loader, optimizer, criterion):
            tracker = Tracker()
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                tracker.record("loss", loss)
        """,
        line=18,
        fixed="""
        import torch
        from collections import defaultdict

        class Tracker:
            def __init__(self):
                self.sums = defaultdict(float)

            def record(self, name, value):
                self.sums[name] += value

        def train(model, loader, optimizer, criterion):
            tracker = Tracker()
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                tracker.record("loss", loss.detach())
        """,
        applicability="safe",
        why="a running sum inside the logger chains every step's graph",
    ),
    Invalid(
        """
        import torch

        class CsvWriter:
            def __init__(self):
                self.rows = []

            def add_scalar(self, tag, value, step):
                self.rows.append((tag, value, step))

        def train(model, loader, optimizer, criterion):
            writer = CsvWriter()
            for step, (x, y) in enumerate(loader):
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                writer.add_scalar("loss", loss, step)
        """,
        line=17,
        fixed="""
        import torch

        class CsvWriter:
            def __init__(self):
                self.rows = []

            def add_scalar(self, tag, value, step):
                self.rows.append((tag, value, step))

        def train(model, loader, optimizer, criterion):
            writer = CsvWriter()
            for step, (x, y) in enumerate(loader):
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                writer.add_scalar("loss", loss, step)
        """.replace('"loss", loss, step', '"loss", loss.detach(), step'),
        applicability="safe",
        why="a project writer with TensorBoard's spelling that keeps the rows",
    ),
    Invalid(
        """
        import torch

        class Reporter:
            def __init__(self):
                self.observations = []

            def report(self, values):
                self.observations.append(values)

        def train(model, loader, optimizer, criterion):
            reporter = Reporter()
            for x, y in loader:
                out = model(x)
                loss = criterion(out, y)
                loss.backward()
                optimizer.step()
                stats = {"loss": loss, "out": out}
                reporter.report(stats)
        """,
        line=18,
        why="a dict of graph-carrying values: not known to be one tensor, so no fix",
    ),
    Invalid(
        """
        import torch

        LOG = []

        def log(value):
            LOG.append(value)

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                log(loss)
        """,
        line=13,
        fixed="""
        import torch

        LOG = []

        def log(value):
            LOG.append(value)

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                log(loss.detach())
        """,
        applicability="safe",
        why="a module-level list",
    ),
    Invalid(
        """
        import torch

        class History:
            def __init__(self):
                self.losses = []

            def update_history(self, value):
                self.losses.append(value)

        class Trainer:
            def __init__(self, model, optimizer):
                self.model, self.optimizer = model, optimizer
                self.history = History()

            def fit(self, loader):
                for x, y in loader:
                    loss = torch.nn.functional.mse_loss(self.model(x), y)
                    self.optimizer.zero_grad()
                    loss.backward()
                    self.optimizer.step()
                    self.history.update_history(loss)
        """,
        line=21,
        fixed="""
        import torch

        class History:
            def __init__(self):
                self.losses = []

            def update_history(self, value):
                self.losses.append(value)

        class Trainer:
            def __init__(self, model, optimizer):
                self.model, self.optimizer = model, optimizer
                self.history = History()

            def fit(self, loader):
                for x, y in loader:
                    loss = torch.nn.functional.mse_loss(self.model(x), y)
                    self.optimizer.zero_grad()
                    loss.backward()
                    self.optimizer.step()
                    self.history.update_history(loss.detach())
        """,
        applicability="safe",
        why="an object built in __init__, its method found through the attribute",
    ),
]

GradTensorToLogger.VALID = [
    Valid(
        """
        import torch


        class RunLog:
            def __init__(self):
                self.rows = {}

            def scalar(self, name, value, step):
                if isinstance(value, torch.Tensor):
                    self.rows.setdefault(name, []).append(value.item())
                else:
                    self.rows.setdefault(name, []).append(value)


        def train(model, loader, optimizer, log):
            for step, (x, y) in enumerate(loader):
                loss = torch.nn.functional.mse_loss(model(x), y)
                log.scalar("loss", loss, step)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        why="the logger turns tensors into numbers; only non-tensors are kept as given (RLHive after PR#92)",
    ),
    Valid(
        """
        import torch
        from torch.utils.tensorboard import SummaryWriter

        def train(model, loader, optimizer, criterion):
            writer = SummaryWriter()
            for step, (x, y) in enumerate(loader):
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                writer.add_scalar("loss", loss, step)
        """,
        why="TensorBoard's add_scalar turns the tensor into a number at once (make_np detaches)",
    ),
    Valid(
        """
        import torch
        import wandb

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                wandb.log({"loss": loss})
        """,
        why="wandb converts tensors on receipt since 0.8.2 (wandb/wandb#354)",
    ),
    Valid(
        """
        import lightning.pytorch as pl

        class Model(pl.LightningModule):
            def training_step(self, batch, batch_idx):
                x, y = batch
                loss = self.loss(self(x), y)
                self.log("train_loss", loss, on_step=True, on_epoch=True)
                return loss
        """,
        why="Lightning's self.log detaches what it is given",
    ),
    Valid(
        """
        import torch
        from collections import defaultdict

        class Logger:
            def __init__(self):
                self.history = defaultdict(list)

            def log(self, metrics):
                for key, value in metrics.items():
                    self.history[key].append(float(value))

        def train(model, loader, optimizer, criterion):
            logger = Logger()
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                logger.log({"loss": loss})
        """,
        why="the logger keeps Python numbers",
    ),
    Valid(
        """
        import torch

        def log_metric(history, name, value):
            history.setdefault(name, []).append(value)

        def train(model, loader, optimizer, criterion, history):
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                log_metric(history, "loss", loss.item())
        """,
        why="the caller hands over a number",
    ),
    Valid(
        """
        import torch

        class Logger:
            def __init__(self):
                self.latest = {}

            def log(self, name, value):
                self.latest[name] = value

        def train(model, loader, optimizer, criterion):
            logger = Logger()
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                logger.log("loss", loss)
        """,
        why="only the latest value per name is kept: one step's graph, not a growing history",
    ),
    Valid(
        """
        import torch

        LOG = []

        def log(value):
            LOG.append(value)

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                for x, y in loader:
                    log(criterion(model(x), y))
        """,
        why="values made under no_grad carry no graph",
    ),
    Valid(
        """
        import torch

        class Logger:
            def __init__(self):
                self.entries = []

            def log(self, entry):
                self.entries.append(entry)

        def train(model, loader, optimizer, criterion):
            logger = Logger()
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                logger.log({"loss": loss.data})
        """,
        why="`.data` has no graph (facebookresearch/fairseq's fix)",
    ),
    Valid(
        """
        import torch

        class Logger:
            def log(self, metrics):
                print(" ".join(f"{k}={v:.4f}" for k, v in metrics.items()))

        def train(model, loader, optimizer, criterion):
            logger = Logger()
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                logger.log({"loss": loss})
        """,
        why="the logger only prints",
    ),
    Valid(
        """
        import torch

        class Meter:
            def __init__(self):
                self.values = []

            def update(self, value):
                self.values.append(value)

        def train(model, loader, optimizer, criterion):
            meter = Meter()
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                meter.update(loss)
        """,
        why="a meter's update is MEM002's (accumulated-grad-tensor), not reported twice",
    ),
    Valid(
        """
        import torch

        class FileLogger:
            def __init__(self, path):
                self.handle = open(path, "a")

            def log(self, name, value):
                self.handle.write(f"{name} {value}\\n")

        def train(model, loader, optimizer, criterion):
            logger = Logger()
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                Filelogger.log("loss", loss)
        """,
        why="formatted into a line of text: nothing keeps the tensor",
    ),
    Valid(
        """
        import torch

        LOG = []

        def log(value):
            LOG.append(value)

        def show_predictions(model, images):
            for image in images:
                log(model(image))
        """,
        why="no backward pass in sight: nothing says these outputs carry a graph (MEM001's question)",
    ),
]
GradTensorToLogger.VALID += [
    Valid(
        """
        import torch


        def log_validation(net, history):
            history.append(net)
            return history


        def train(wrapper, loader, optimizer, accelerator, history):
            def unwrap_model(model):
                return accelerator.unwrap_model(model)

            for x, y in loader:
                loss = wrapper(x).sum()
                loss.backward()
                optimizer.step()
            inner = unwrap_model(wrapper.net)
            log_validation(inner, history)
        """,
        why="the name holds the unwrapped model, handed to the validation helper (diffusers' PixArt ControlNet script)",
    ),
]
