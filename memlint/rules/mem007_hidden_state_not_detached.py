"""MEM007 hidden-state-not-detached: a recurrent state fed from one iteration's forward pass into the
next without ``.detach()``.

``output, hidden = model(x, hidden)`` in a training loop: the new ``hidden`` is the end of this
batch's graph, and the next batch's forward pass starts from it, so every batch's graph is chained
onto all the earlier ones. Memory grows with every iteration (backward either fails, "Trying to
backward through the graph a second time", or, with ``retain_graph=True``, walks the whole
history). Truncated backpropagation through time detaches the state at the start of each
iteration: ``repackage_hidden`` in pytorch/examples' word_language_model; pytorch/pytorch#2198;
sgadgil6/cnslab_fmri#4; GBLin5566/toward-controlled-generation-of-text-pytorch#9;
kc-ml2/SimpleDreamer#7.

Trigger: a ``for`` or ``while`` loop.

Query (``analysis/carry.py`` for what an iteration reads from the previous one, the flow for
values): a name the loop body reads before it binds it, rebound from a forward pass (a model-like
call whose value carries history, directly or through a copy) that itself took the name, and
never detached in the loop (``.detach()``, ``.data``, ``repackage_hidden(...)``) nor reset from
something else. The loop must train (a backward pass or optimizer step in it, itself or through a
helper), or be a ``while`` loop of forward passes with grad on (an environment episode). Silent
under grad guards, and on accumulation (``state = state + x``, ``+=``, ``torch.cat``: MEM002's).

State kept on a module (``carry.module_state``): ``forward`` stores ``self.h`` from ``self.h`` and an
input (``out, self.h = self.lstm(x, self.h)``), or the module holds such a layer. In a loop that
trains, the forward call of such a model (class from the flow, or from every caller of a parameter)
is reported unless the loop resets or detaches it (``carry.resets_module_state``: a method of the
model or its parts, a call taking the model, an assignment under it) or runs it under a guard.
pytorch_geometric_temporal#305; mobile-vod-bottleneck-lstm#25. No fix: the state is another object's.

Fix: ``h = h.detach()`` (a tensor) or ``h = tuple(t.detach() for t in h)`` (a tuple of tensors) as
the first statement of the loop, where the state starts as tensors made by ``torch.zeros`` and
its kind; safe, unless the function backpropagates with ``retain_graph=True`` (then gradients
through earlier iterations change: unsafe).
"""

from __future__ import annotations

import ast
import re

from memlint.analysis import facts
from memlint.analysis.carry import (
    Carried,
    Event,
    bindings_before,
    carried_names,
    depends_on,
    detaching_read,
    events,
    loop_trains,
    resets_module_state,
    value_state,
)
from memlint.analysis.flow import Flow
from memlint.analysis.syntax import FunctionNode, dotted, is_constant, iter_scope, keyword, last_name
from memlint.fixes import insert_before
from memlint.rule import Fix, Invalid, Rule, Valid

DETACH = "Detach the carried state at the start of each iteration"
DETACH_RETAINED = "Detach the carried state at the start of each iteration (gradients through earlier iterations change)"
_TENSOR_FACTORIES = frozenset(
    {"zeros", "ones", "randn", "rand", "empty", "full", "zeros_like", "ones_like", "randn_like", "rand_like", "empty_like", "full_like"}
)
_RECURRENT_CALLEE = re.compile(r"rnn|lstm|gru|cell|recurren", re.IGNORECASE)
_KEEP_TENSOR = frozenset({"to", "cuda", "float", "double", "half", "bfloat16", "contiguous"})


class HiddenStateNotDetached(Rule):
    code = "MEM007"
    name = "hidden-state-not-detached"
    summary = "A recurrent state carried from one iteration's forward pass into the next keeps every graph"
    default_enabled = False  # real-code review: too few findings to show precision >= 0.9 (rules/*.md, Options)
    fix_availability = "sometimes"
    fix_kinds = {DETACH: "safe", DETACH_RETAINED: "unsafe"}
    libraries = frozenset({"torch", "lightning", "pytorch_lightning"})

    def visit_For(self, node: ast.For) -> None:
        self._loop(node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        self._loop(node)

    def visit_While(self, node: ast.While) -> None:
        self._loop(node)

    def _loop(self, loop: ast.AST) -> None:
        file = self.file
        func = file.enclosing_function(loop)
        if func is not None and file.enclosing_scope(loop) is not func:
            return  # in a class body or a lambda
        if func is not None and (
            file.guard_at(func) is not None or file.decorator_guard(func) is not None or file.guarded_by_callers(func)
        ):
            return
        if file.guard_at(loop, stop=func) is not None:
            return
        scope = func if func is not None else file.tree
        flow = file.flow(scope)
        trains = loop_trains(file, flow, [loop])
        if not trains and not (isinstance(loop, ast.While) and not flow.evidence):
            return
        if trains:
            self._module_state(flow, scope, loop)
        body = loop.body  # type: ignore[attr-defined]
        found: dict[int, list[Carried]] = {}
        for carried in carried_names(loop).values():
            if self._chains(flow, loop, body, carried):
                found.setdefault(id(carried.first_read.stmt), []).append(carried)
        for group in found.values():
            self._report(flow, scope, loop, group)

    # ------------------------------------------------------------------ the query
    def _chains(self, flow: Flow, loop: ast.AST, body: list[ast.stmt], carried: Carried) -> bool:
        """The previous iteration's forward pass hands its graph to this one through ``carried``."""
        name = carried.name
        if name == "self" or "." in name and not name.startswith("self."):
            return False
        reads = [e for e in events(body) if not e.binds and e.name == name]
        if any(detaching_read(e.node, e.stmt) for e in reads):
            return False
        recurrent = False
        for binding in carried.bindings:
            if isinstance(binding.stmt, (ast.AugAssign, ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)) or binding.value is None:
                return False  # accumulation (MEM002) or a fresh value per iteration
            source = self._source_call(body, binding)
            if source is None:
                if not isinstance(binding.value, ast.Call) and name not in depends_on(binding.value, body, binding.stmt):
                    return False  # reset from something else: `hidden = init_state()` ... bounded
                if isinstance(binding.value, (ast.BinOp, ast.Call)):
                    return False
                continue
            call, stmt = source
            if name not in depends_on(call, body, stmt) and name not in _read_names(call):
                return False  # rebound from a forward pass that does not read it: a reset
            if self._forward(flow, call):
                recurrent = True
        return recurrent

    def _module_state(self, flow: Flow, scope: ast.AST, loop: ast.AST) -> None:
        """Forward passes, in a loop that trains, of a module that keeps its recurrent state on itself
        (``analysis/carry.py``: ``module_state``) while nothing in the loop resets or detaches it."""
        seen = self.__dict__.setdefault("_forwards", set())
        for node in iter_scope(loop):
            if not isinstance(node, ast.Call) or id(node) in seen:
                continue
            func = node.func
            model = func.value if isinstance(func, ast.Attribute) and func.attr == "forward" else func
            if not isinstance(model, (ast.Name, ast.Attribute)) or self.file.guard_at(node, stop=loop) is not None:
                continue
            state = self._state_of(flow, scope, model)
            if not state or resets_module_state(self.file, loop, model, node):
                continue
            seen.add(id(node))
            shown = ", ".join(state[:3]) + (", ..." if len(state) > 3 else "")
            self.report(
                node,
                f"`{dotted(model)}` keeps a recurrent state on the module from call to call ({shown}) and this training "
                "loop never detaches or resets it: every iteration's graph is chained onto the last and memory grows "
                "each iteration; detach the module's state after each optimizer step (`layer.h = layer.h.detach()`)",
            )

    def _state_of(self, flow: Flow, scope: ast.AST, model: ast.AST) -> tuple[str, ...]:
        """The state the class of ``model`` keeps (its flow value, or what every caller passes for a
        parameter); empty when the class is not known."""
        value = flow.value_of(model)
        if value.known or not isinstance(model, ast.Name) or not isinstance(scope, FunctionNode):
            return value_state(self.file, value)
        if model.id not in {a.arg for a in (*scope.args.posonlyargs, *scope.args.args, *scope.args.kwonlyargs)}:
            return ()
        passed = self.file.argument_values(scope, model.id)
        states = [value_state(self.file, v) for v in passed]
        return states[0] if states and all(states) else ()

    def _source_call(self, body: list[ast.stmt], binding: Event, depth: int = 0) -> tuple[ast.Call, ast.stmt] | None:
        """The call whose result ``binding`` stores: its own value, or, for a copy (``state = out``,
        ``state = out[1]``), the call that bound the copied name earlier in the iteration."""
        value = binding.value
        while isinstance(value, (ast.Subscript, ast.Attribute)) and not isinstance(value, ast.Call):
            value = value.value
        if isinstance(value, ast.Call):
            if self.file.qualname(value.func) in facts.CONCATENATE:
                return None
            return value, binding.stmt
        if isinstance(value, ast.Name) and depth < 4:
            limit = (binding.stmt.lineno, binding.stmt.col_offset)
            earlier = [e for e in events(body) if e.binds and e.name == value.id and (e.stmt.lineno, e.stmt.col_offset) < limit]
            if earlier and earlier[-1].value is not None:
                return self._source_call(body, earlier[-1], depth + 1)
        return None

    def _forward(self, flow: Flow, call: ast.Call) -> bool:
        """A forward pass with grad on: the flow says it carries history, or (in a function with no
        backward pass, where the flow cannot tell) the callee is named like a model."""
        if flow.guarded_at.get(id(self.file.statement_of(call)), False):
            return False
        if flow.value_of(call).grad:
            return True
        name = (last_name(call.func) or "").lstrip("_")
        if isinstance(call.func, ast.Attribute) and name == "forward":
            name = last_name(call.func.value) or ""
        if _RECURRENT_CALLEE.search(name) and not facts.NOT_TRAINED_NAME.search(name.lower()):
            return True  # `self.rnn_cell(x, h)`, `lstm(x, state)`
        if flow.evidence:
            return False
        return (
            bool(facts.MODEL_LIKE_CALLEE.search(name))
            and not facts.NOT_MODEL_CALLEE.search(name)
            and not facts.NOT_TRAINED_NAME.search(name.lower())
            and name not in facts.MODULE_NON_FORWARD_METHODS
            and not name.startswith(("init", "build", "make", "create", "get", "load"))
        )

    # ------------------------------------------------------------------ report and fix
    def _report(self, flow: Flow, scope: ast.AST, loop: ast.AST, group: list[Carried]) -> None:
        names = [c.name for c in group]
        shown = ", ".join(f"`{n}`" for n in names)
        verb = "is" if len(names) == 1 else "are"
        message = (
            f"{shown} {verb} fed from the previous iteration's forward pass with its autograd graph: every "
            "iteration's graph is chained onto the last and memory grows each iteration; detach the state at "
            "the start of the iteration (`h = h.detach()`, `repackage_hidden(h)`)"
        )
        read = group[0].first_read
        node = read.stmt if not isinstance(read.stmt, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)) else read.node
        self.report(node, message, self._fix(flow, scope, loop, names))

    def _fix(self, flow: Flow, scope: ast.AST, loop: ast.AST, names: list[str]) -> Fix | None:
        before = bindings_before(scope, loop)
        detached = []
        for name in names:
            kinds = {self._initial_kind(scope, e) for e in before.get(name, ())}
            if "." in name or len(kinds) != 1 or None in kinds:
                return None
            kind = kinds.pop()
            detached.append(f"{name}.detach()" if kind == "tensor" else f"tuple(t.detach() for t in {name})")
        line = f"{', '.join(names)} = {', '.join(detached)}"
        retained = any(
            (kw := keyword(call, "retain_graph")) is not None and not is_constant(kw.value, False)
            for call, _ in flow.backward_calls
        )
        edits = (insert_before(loop.body[0], line),)  # type: ignore[attr-defined]
        return Fix("unsafe", DETACH_RETAINED, edits) if retained else Fix("safe", DETACH, edits)

    def _initial_kind(self, scope: ast.AST, binding: Event) -> str | None:
        """"tensor" / "tuple" when the state starts as new tensors (``torch.zeros(...)`` and its kind,
        maybe moved with ``.to(device)``), bound unconditionally in the function body."""
        if binding.stmt not in getattr(scope, "body", ()) or not isinstance(binding.stmt, ast.Assign) or len(binding.stmt.targets) != 1:
            return None
        target, value = binding.stmt.targets[0], binding.value
        if isinstance(target, ast.Name) and self._new_tensor(value):
            return "tensor"
        if isinstance(target, ast.Name) and isinstance(value, ast.Tuple) and value.elts and all(self._new_tensor(e) for e in value.elts):
            return "tuple"
        return None

    def _new_tensor(self, expr: ast.AST | None) -> bool:
        while isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in _KEEP_TENSOR:
            expr = expr.func.value
        if not isinstance(expr, ast.Call) or keyword(expr, "requires_grad") is not None:
            return False
        qualified = self.file.qualname(expr.func) or ""
        return qualified.startswith("torch.") and qualified.rsplit(".", 1)[-1] in _TENSOR_FACTORIES


def _read_names(expr: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}


HiddenStateNotDetached.INVALID = [
    Invalid(
        """
        import torch

        def train(model, batches, criterion, optimizer):
            hidden = (torch.zeros(2, 16, 256), torch.zeros(2, 16, 256))
            for data, targets in batches:
                output, hidden = model(data, hidden)
                loss = criterion(output.flatten(0, 1), targets.flatten())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        line=6,
        fixed="""
        import torch

        def train(model, batches, criterion, optimizer):
            hidden = (torch.zeros(2, 16, 256), torch.zeros(2, 16, 256))
            for data, targets in batches:
                hidden = tuple(t.detach() for t in hidden)
                output, hidden = model(data, hidden)
                loss = criterion(output.flatten(0, 1), targets.flatten())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        applicability="safe",
        why="an LSTM language model's (h, c) carried across batches (pytorch/examples without repackage_hidden)",
    ),
    Invalid(
        """
        import torch

        def train(gru, head, stream, optimizer, device):
            h = torch.zeros(1, 32, 128).to(device)
            for x, y in stream:
                out, h = gru(x, h)
                loss = torch.nn.functional.mse_loss(head(out), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        line=6,
        fixed="""
        import torch

        def train(gru, head, stream, optimizer, device):
            h = torch.zeros(1, 32, 128).to(device)
            for x, y in stream:
                h = h.detach()
                out, h = gru(x, h)
                loss = torch.nn.functional.mse_loss(head(out), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        applicability="safe",
        why="a GRU's tensor state",
    ),
    Invalid(
        """
        import torch

        def train(model, batches, criterion, optimizer, batch_size):
            hidden = model.init_hidden(batch_size)
            for data, targets in batches:
                output, hidden = model(data, hidden)
                loss = criterion(output, targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        line=6,
        why="the state's structure is not known here (tensor or tuple): no fix",
    ),
    Invalid(
        """
        import torch

        def train(model, batches, criterion, optimizer):
            hidden = torch.zeros(1, 8, 64)
            for data, targets in batches:
                output, hidden = model(data, hidden)
                loss = criterion(output, targets)
                optimizer.zero_grad()
                loss.backward(retain_graph=True)
                optimizer.step()
        """,
        line=6,
        fixed="""
        import torch

        def train(model, batches, criterion, optimizer):
            hidden = torch.zeros(1, 8, 64)
            for data, targets in batches:
                hidden = hidden.detach()
                output, hidden = model(data, hidden)
                loss = criterion(output, targets)
                optimizer.zero_grad()
                loss.backward(retain_graph=True)
                optimizer.step()
        """,
        applicability="unsafe",
        why="retain_graph=True lets backward walk every earlier batch: memory and time grow; detaching truncates it",
    ),
    Invalid(
        """
        import torch

        def train(encoder, decoder, batches, optimizer, criterion, steps):
            next_word = None
            for src, tgt in batches:
                optimizer.zero_grad()
                hidden = encoder(src)
                loss = 0
                for t in range(steps):
                    word = next_word if next_word is not None else torch.zeros(src.size(0), 10)
                    output, hidden, logits = decoder(word, hidden)
                    next_word = output
                    loss = loss + criterion(logits, tgt[:, t])
                loss.backward(retain_graph=True)
                optimizer.step()
        """,
        line=10,
        why="the last decoded word of one batch starts the next batch's decoding "
        "(GBLin5566/toward-controlled-generation-of-text-pytorch#9)",
    ),
    Invalid(
        """
        import torch

        class Agent:
            def __init__(self, world_model, encoder, actor):
                self.world_model, self.encoder, self.actor = world_model, encoder, actor

            def collect(self, env):
                posterior, deterministic = self.world_model.initial_state(1)
                action = torch.zeros(1, 2)
                embedded = self.encoder(torch.as_tensor(env.reset()))
                done = False
                while not done:
                    deterministic = self.world_model.recurrent_model(posterior, action, deterministic)
                    _, posterior = self.world_model.representation_model(embedded, deterministic)
                    action = self.actor(posterior, deterministic).detach()
                    obs, reward, done, info = env.step(action.numpy()[0])
                    embedded = self.encoder(torch.as_tensor(obs))
        """,
        line=13,
        why="an episode of forward passes with grad on chains the world model's state (kc-ml2/SimpleDreamer#7)",
    ),
    Invalid(
        """
        import torch

        class CharModel(torch.nn.Module):
            def __init__(self, vocab, width):
                super().__init__()
                self.embed = torch.nn.Embedding(vocab, width)
                self.rnn_cell = torch.nn.GRUCell(width, width)
                self.head = torch.nn.Linear(width, vocab)

            def fit(self, stream, optimizer, width):
                h = torch.zeros(1, width)
                for x, y in stream:
                    h = self.rnn_cell(self.embed(x), h)
                    loss = torch.nn.functional.cross_entropy(self.head(h), y)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        """,
        line=13,
        fixed="""
        import torch

        class CharModel(torch.nn.Module):
            def __init__(self, vocab, width):
                super().__init__()
                self.embed = torch.nn.Embedding(vocab, width)
                self.rnn_cell = torch.nn.GRUCell(width, width)
                self.head = torch.nn.Linear(width, vocab)

            def fit(self, stream, optimizer, width):
                h = torch.zeros(1, width)
                for x, y in stream:
                    h = h.detach()
                    h = self.rnn_cell(self.embed(x), h)
                    loss = torch.nn.functional.cross_entropy(self.head(h), y)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        """,
        applicability="safe",
        why="an RNN cell stepped once per batch",
    ),
    Invalid(
        """
        import torch

        def train(lstm, head, stream, optimizer, layers, batch, width):
            h = torch.zeros(layers, batch, width)
            c = torch.zeros(layers, batch, width)
            for x, y in stream:
                out, (h, c) = lstm(x, (h, c))
                loss = torch.nn.functional.mse_loss(head(out), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        line=7,
        fixed="""
        import torch

        def train(lstm, head, stream, optimizer, layers, batch, width):
            h = torch.zeros(layers, batch, width)
            c = torch.zeros(layers, batch, width)
            for x, y in stream:
                h, c = h.detach(), c.detach()
                out, (h, c) = lstm(x, (h, c))
                loss = torch.nn.functional.mse_loss(head(out), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        applicability="safe",
        why="the two halves of an LSTM state, unpacked",
    ),
    Invalid(
        {
            "model.py": """
                import torch

                class Forecaster(torch.nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.rnn = torch.nn.GRU(4, 32, batch_first=True)
                        self.out = torch.nn.Linear(32, 1)

                    def forward(self, x, state):
                        seq, state = self.rnn(x, state)
                        return self.out(seq), state
            """,
            "train.py": """
                import torch
                from model import Forecaster

                def train(windows, epochs):
                    model = Forecaster()
                    optimizer = torch.optim.Adam(model.parameters())
                    state = None
                    for epoch in range(epochs):
                        for x, y in windows:
                            pred, state = model(x, state)
                            loss = torch.nn.functional.mse_loss(pred, y)
                            optimizer.zero_grad()
                            loss.backward()
                            optimizer.step()
            """,
        },
        path="train.py",
        line=10,
        why="the model class is in another file; the state starts as None, so no fix",
    ),
    Invalid(
        """
        import torch

        def train(model, stream, optimizer, criterion, max_steps):
            hidden = torch.zeros(1, 4, 32)
            step = 0
            while step < max_steps:
                x, y = next(stream)
                out, hidden = model.forward(x, hidden)
                loss = criterion(out, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
        """,
        line=8,
        fixed="""
        import torch

        def train(model, stream, optimizer, criterion, max_steps):
            hidden = torch.zeros(1, 4, 32)
            step = 0
            while step < max_steps:
                hidden = hidden.detach()
                x, y = next(stream)
                out, hidden = model.forward(x, hidden)
                loss = criterion(out, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
        """,
        applicability="safe",
        why="a while loop, and an explicit forward call",
    ),
    Invalid(
        """
        import torch

        rnn = torch.nn.RNN(1, 32, batch_first=True)
        head = torch.nn.Linear(32, 1)
        optimizer = torch.optim.Adam(list(rnn.parameters()) + list(head.parameters()))
        h_state = torch.zeros(1, 1, 32)
        for step in range(100):
            x = torch.randn(1, 10, 1)
            y = torch.randn(1, 10, 1)
            out, h_state = rnn(x, h_state)
            loss = torch.nn.functional.mse_loss(head(out), y)
            optimizer.zero_grad()
            loss.backward(retain_graph=True)
            optimizer.step()
        """,
        line=10,
        fixed="""
        import torch

        rnn = torch.nn.RNN(1, 32, batch_first=True)
        head = torch.nn.Linear(32, 1)
        optimizer = torch.optim.Adam(list(rnn.parameters()) + list(head.parameters()))
        h_state = torch.zeros(1, 1, 32)
        for step in range(100):
            h_state = h_state.detach()
            x = torch.randn(1, 10, 1)
            y = torch.randn(1, 10, 1)
            out, h_state = rnn(x, h_state)
            loss = torch.nn.functional.mse_loss(head(out), y)
            optimizer.zero_grad()
            loss.backward(retain_graph=True)
            optimizer.step()
        """,
        applicability="unsafe",
        why="a script's top-level loop (the tutorial shape without `.data`)",
    ),
    Invalid(
        """
        import torch

        class DriftingKernel(torch.nn.Module):
            def __init__(self, size):
                super().__init__()
                self.start = torch.nn.Parameter(torch.randn(1, size, size))
                self.evolve = torch.nn.GRU(size, size)
                self.kernel = None

            def forward(self, feats):
                if self.kernel is None:
                    _, self.kernel = self.evolve(self.start, self.start)
                else:
                    _, self.kernel = self.evolve(self.kernel, self.kernel)
                return feats @ self.kernel[0]

        def fit(snapshots, size, epochs):
            net = DriftingKernel(size)
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            for epoch in range(epochs):
                cost = 0
                for feats, target in snapshots:
                    cost = cost + (net(feats) - target).pow(2).mean()
                cost.backward(retain_graph=True)
                opt.step()
                opt.zero_grad()
        """,
        line=23,
        why="a weight evolved by a GRU and kept on the layer: one backward per epoch, the next epoch starts "
        "from the last epoch's weight with its graph (pytorch_geometric_temporal#305)",
    ),
    Invalid(
        {
            "layers.py": """
                import torch

                class CarryCell(torch.nn.Module):
                    def __init__(self, width):
                        super().__init__()
                        self.step_fn = torch.nn.GRUCell(width, width)
                        self.memory = torch.zeros(1, width)

                    def forward(self, x):
                        self.memory = self.step_fn(x, self.memory)
                        return self.memory
            """,
            "train.py": """
                import torch
                from layers import CarryCell

                def train(stream, width):
                    cell = CarryCell(width)
                    head = torch.nn.Linear(width, 1)
                    opt = torch.optim.Adam([*cell.parameters(), *head.parameters()])
                    for x, y in stream:
                        loss = torch.nn.functional.mse_loss(head(cell(x)), y)
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
            """,
        },
        path="train.py",
        line=9,
        why="the stateful layer is defined in another file; its memory chains every batch onto the last",
    ),
    Invalid(
        {
            "nets.py": """
                import torch

                class GatedMemory(torch.nn.Module):
                    def __init__(self, ch):
                        super().__init__()
                        self.mix = torch.nn.Conv2d(2 * ch, 2 * ch, 1)
                        self.h = torch.zeros(1, ch, 8, 8)
                        self.c = torch.zeros(1, ch, 8, 8)

                    def forward(self, x):
                        h_next, c_next = self.mix(torch.cat([x, self.h], 1)).chunk(2, 1)
                        c_next = c_next + self.c
                        self.h = h_next
                        self.c = c_next
                        return self.h

                class Tracker(torch.nn.Module):
                    def __init__(self, ch):
                        super().__init__()
                        self.backbone = torch.nn.Conv2d(3, ch, 3, padding=1)
                        self.memories = torch.nn.ModuleList([GatedMemory(ch) for _ in range(2)])

                    def forward(self, frame):
                        x = self.backbone(frame)
                        for memory in self.memories:
                            x = memory(x)
                        return x

                    def forget(self):
                        for memory in self.memories:
                            memory.h = memory.h.detach()
                            memory.c = memory.c.detach()
            """,
            "run.py": """
                import torch
                from nets import Tracker

                def train(videos, criterion, opt, tracker):
                    for frames, labels in videos:
                        for frame, label in zip(frames, labels):
                            opt.zero_grad()
                            loss = criterion(tracker(frame), label)
                            loss.backward(retain_graph=True)
                            opt.step()
                        tracker.forget()

                def main(videos):
                    tracker = Tracker(16)
                    opt = torch.optim.SGD(tracker.parameters(), lr=0.01)
                    train(videos, torch.nn.MSELoss(), opt, tracker)
            """,
        },
        path="run.py",
        line=8,
        count=1,
        why="a step per frame while the layers inside keep h and c from the previous frame; the state is cut "
        "only after the whole clip, in the outer loop (mobile-vod-bottleneck-lstm#25); the model comes in "
        "as a parameter, its class from the caller",
    ),
    Invalid(
        """
        import torch

        class Tagger(torch.nn.Module):
            def __init__(self, width):
                super().__init__()
                self.lstm = torch.nn.LSTMCell(width, width)
                self.out = torch.nn.Linear(width, 5)
                self.state = None

            def _advance(self, x):
                h, c = self.lstm(x, self.state)
                self.state = (h, c)
                return h

            def forward(self, x):
                return self.out(self._advance(x))

        tagger = Tagger(32)
        optimizer = torch.optim.Adam(tagger.parameters())
        for x, y in zip(torch.randn(100, 4, 32), torch.randint(0, 5, (100, 4))):
            loss = torch.nn.functional.cross_entropy(tagger.forward(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        """,
        line=21,
        why="the state is stored by a method forward calls, through locals; a script's top-level loop",
    ),
    Invalid(
        """
        import torch

        class Smoother(torch.nn.Module):
            def __init__(self, width):
                super().__init__()
                self.proj = torch.nn.Linear(width, width)
                self.level = torch.zeros(width)

            def forward(self, x):
                self.level = 0.9 * self.level + 0.1 * torch.tanh(self.proj(x)).mean(0)
                return x - self.level

        class Forecaster(torch.nn.Module):
            def __init__(self, width):
                super().__init__()
                self.body = torch.nn.Sequential(Smoother(width), torch.nn.Linear(width, 1))

            def forward(self, x):
                return self.body(x)

        def train(batches, width):
            model = Forecaster(width)
            opt = torch.optim.Adam(model.parameters())
            for x, y in batches:
                loss = torch.nn.functional.l1_loss(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        """,
        line=25,
        why="a running level kept on a layer inside an nn.Sequential, updated from the layer's output",
    ),
]

HiddenStateNotDetached.VALID = [
    Valid(
        """
        import torch

        def train_epoch(loader, encoder, decoder, criterion, optimizer, device):
            for i, (imgs, caps) in enumerate(loader):
                imgs = imgs.to(device)
                imgs = encoder(imgs)
                scores = decoder(imgs, caps)
                loss = criterion(scores, caps)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        why="the loop target is bound afresh by every iteration, then replaced by its features: nothing is carried",
    ),
    Valid(
        """
        import torch

        def repackage_hidden(h):
            if isinstance(h, torch.Tensor):
                return h.detach()
            return tuple(repackage_hidden(v) for v in h)

        def train(model, batches, criterion, optimizer, batch_size):
            hidden = model.init_hidden(batch_size)
            for data, targets in batches:
                hidden = repackage_hidden(hidden)
                output, hidden = model(data, hidden)
                loss = criterion(output, targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        why="truncated BPTT done right (pytorch/examples word_language_model)",
    ),
    Valid(
        """
        import torch

        def evaluate(model, batches, criterion, batch_size):
            model.eval()
            total = 0.0
            hidden = model.init_hidden(batch_size)
            with torch.no_grad():
                for data, targets in batches:
                    output, hidden = model(data, hidden)
                    total += criterion(output, targets).item()
            return total
        """,
        why="no graph under no_grad",
    ),
    Valid(
        """
        import torch

        def reset_finished(hidden, finished):
            if len(finished):
                hidden[:, finished, :] = 0
            return hidden

        def train_epoch(gru, loader, optimizer, loss_fn, hidden):
            for inputs, targets, finished in loader:
                hidden = reset_finished(hidden, finished).detach()
                logits, hidden = gru(inputs, hidden)
                loss = loss_fn(logits, targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        why="detached at the top of each iteration through a helper's result (yhs968/pyGRU4REC)",
    ),
    Valid(
        """
        import torch

        rnn = torch.nn.RNN(1, 32, batch_first=True)
        head = torch.nn.Linear(32, 1)
        optimizer = torch.optim.Adam(list(rnn.parameters()) + list(head.parameters()))
        h_state = None
        for step in range(100):
            x = torch.randn(1, 10, 1)
            y = torch.randn(1, 10, 1)
            out, h_state = rnn(x, h_state)
            h_state = h_state.data
            loss = torch.nn.functional.mse_loss(head(out), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        """,
        why="`.data` right after the forward cuts the graph (MorvanZhou/PyTorch-Tutorial)",
    ),
    Valid(
        """
        import torch

        class Agent:
            def __init__(self, world_model, actor):
                self.world_model, self.actor = world_model, actor

            @torch.no_grad()
            def collect(self, env):
                posterior, deterministic = self.world_model.initial_state(1)
                action = torch.zeros(1, 2)
                done = False
                while not done:
                    deterministic = self.world_model.recurrent_model(posterior, action, deterministic)
                    _, posterior = self.world_model.representation_model(None, deterministic)
                    action = self.actor(posterior, deterministic)
                    obs, reward, done, info = env.step(action.numpy()[0])
        """,
        why="the interaction runs under no_grad",
    ),
    Valid(
        """
        import torch

        def dynamic_learning(world_model, data, length, optimizer, loss_fn):
            prior, deterministic = world_model.initial_state(len(data["action"]))
            posteriors = []
            for t in range(1, length):
                deterministic = world_model.recurrent_model(prior, data["action"][:, t - 1], deterministic)
                prior, posterior = world_model.representation_model(data["embed"][:, t], deterministic)
                posteriors.append(posterior)
            loss = loss_fn(torch.stack(posteriors, 1), data)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        """,
        why="backpropagation through time over one batch on purpose; the loop itself does not train",
    ),
    Valid(
        """
        import torch

        def train(model, batches, criterion, optimizer, batch_size):
            for data, targets in batches:
                hidden = model.init_hidden(batch_size)
                output, hidden = model(data, hidden)
                loss = criterion(output, targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        why="a fresh state every batch",
    ),
    Valid(
        """
        import torch

        def train(model, batches, criterion, optimizer):
            hidden = torch.zeros(1, 8, 64)
            for data, targets in batches:
                output, hidden = model(data, hidden)
                loss = criterion(output, targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                hidden = hidden.detach()
        """,
        why="detached at the end of the iteration instead",
    ),
    Valid(
        """
        import torch

        def train(lstm, head, stream, optimizer, state):
            for x, y in stream:
                out, state = lstm(x, state)
                loss = torch.nn.functional.mse_loss(head(out), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                for s in state:
                    s.detach_()
        """,
        why="detached in place",
    ),
    Valid(
        """
        import torch

        def train(model, batches, criterion, optimizer, hidden):
            for data, targets in batches:
                hidden = tuple(h.detach() for h in hidden)
                output, hidden = model(data, hidden)
                loss = criterion(output, targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        why="a tuple detached element by element",
    ),
    Valid(
        """
        import torch

        def train(model, loader, criterion, optimizer):
            state = torch.zeros(4)
            for x, y in loader:
                state = state + model(x).mean(0)
                loss = criterion(state, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        why="accumulation by addition is MEM002's shape, not a state passed through a forward pass",
    ),
    Valid(
        """
        import torch

        def run_episode(env, policy, optimizer):
            state = env.reset()
            done = False
            while not done:
                dist = policy(torch.as_tensor(state))
                action = dist.sample()
                next_state, reward, done, _ = env.step(action.item())
                loss = -dist.log_prob(action) * reward
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                state = next_state
        """,
        why="the carried state comes from the environment, not from a forward pass",
    ),
    Valid(
        """
        import torch

        def train(model, batches, criterion, optimizer, bptt, batch_size):
            hidden = model.init_hidden(batch_size)
            for step, (data, targets) in enumerate(batches):
                if step % bptt == 0:
                    hidden = model.init_hidden(batch_size)
                output, hidden = model(data, hidden)
                loss = criterion(output, targets)
                optimizer.zero_grad()
                loss.backward(retain_graph=True)
                optimizer.step()
        """,
        why="the state is reset every `bptt` steps: the chain is bounded",
    ),
    Valid(
        """
        import torch

        def train(encoder, decoder, loader, optimizer, criterion, max_len):
            for src, tgt in loader:
                hidden = encoder(src)
                token = tgt[:, 0]
                loss = 0
                for t in range(1, max_len):
                    logits, hidden = decoder(token, hidden)
                    loss = loss + criterion(logits, tgt[:, t])
                    token = tgt[:, t]
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        """,
        why="a decoder unrolled within one batch, its state rebuilt by the encoder every batch",
    ),
    Valid(
        """
        import torch

        class DriftingKernel(torch.nn.Module):
            def __init__(self, size):
                super().__init__()
                self.start = torch.nn.Parameter(torch.randn(1, size, size))
                self.evolve = torch.nn.GRU(size, size)
                self.kernel = None

            def forward(self, feats):
                prev = self.start if self.kernel is None else self.kernel
                _, self.kernel = self.evolve(prev, prev)
                return feats @ self.kernel[0]

        class Regressor(torch.nn.Module):
            def __init__(self, size):
                super().__init__()
                self.drift = DriftingKernel(size)
                self.head = torch.nn.Linear(size, 1)

            def forward(self, feats):
                return self.head(torch.relu(self.drift(feats)))

        def fit(snapshots, size, epochs):
            model = Regressor(size)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(epochs):
                cost = 0
                for feats, target in snapshots:
                    cost = cost + (model(feats) - target).pow(2).mean()
                cost.backward()
                opt.step()
                opt.zero_grad()
                model.drift.kernel = model.drift.kernel.detach()
        """,
        why="the kept weight is detached after every optimizer step (the fix of pytorch_geometric_temporal#305)",
    ),
    Valid(
        """
        import torch

        class Streamer(torch.nn.Module):
            def __init__(self, width):
                super().__init__()
                self.rnn = torch.nn.GRU(width, width, batch_first=True)
                self.hidden = None

            def forward(self, x):
                out, self.hidden = self.rnn(x, self.hidden)
                return out

            def reset_state(self):
                self.hidden = None

        def train(model, loader, opt, criterion):
            for x, y in loader:
                model.reset_state()
                loss = criterion(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()

        train(Streamer(8), [], None, torch.nn.MSELoss())
        """,
        why="the loop resets the module's state every batch",
    ),
    Valid(
        """
        import torch

        class Reader(torch.nn.Module):
            def __init__(self, width):
                super().__init__()
                self.lstm = torch.nn.LSTM(width, width, batch_first=True)
                self.state = None

            def forward(self, x):
                self.state = (torch.zeros(1, x.size(0), 16), torch.zeros(1, x.size(0), 16))
                out, self.state = self.lstm(x, self.state)
                return out[:, -1]

        def train(batches):
            reader = Reader(16)
            opt = torch.optim.Adam(reader.parameters())
            for x, y in batches:
                loss = torch.nn.functional.mse_loss(reader(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        """,
        why="forward starts every call from a fresh zero state (sgadgil6/cnslab_fmri after the fix)",
    ),
    Valid(
        """
        import torch

        class CarryCell(torch.nn.Module):
            def __init__(self, width):
                super().__init__()
                self.step_fn = torch.nn.GRUCell(width, width)
                self.memory = torch.zeros(1, width)

            def forward(self, x):
                self.memory = self.step_fn(x, self.memory)
                return self.memory

        def score(stream, width):
            cell = CarryCell(width)
            total = 0.0
            for x, y in stream:
                total += torch.nn.functional.mse_loss(cell(x), y).item()
            return total
        """,
        why="an evaluation loop: no backward, so nothing is chained across training steps",
    ),
    Valid(
        """
        import torch

        class CarryCell(torch.nn.Module):
            def __init__(self, width):
                super().__init__()
                self.step_fn = torch.nn.GRUCell(width, width)
                self.memory = torch.zeros(1, width)

            def forward(self, x):
                out = self.step_fn(x, self.memory)
                self.memory = out.detach()
                return out

        def train(stream, width):
            cell = CarryCell(width)
            opt = torch.optim.Adam(cell.parameters())
            for x, y in stream:
                loss = torch.nn.functional.mse_loss(cell(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        """,
        why="forward stores its state detached: truncated backpropagation inside the module",
    ),
    Valid(
        """
        import torch

        class CarryCell(torch.nn.Module):
            def __init__(self, width):
                super().__init__()
                self.step_fn = torch.nn.GRUCell(width, width)
                self.memory = torch.zeros(1, width)

            def forward(self, x):
                self.memory = self.step_fn(x, self.memory)
                return self.memory

        def train(stream, probe, width):
            cell = CarryCell(width)
            opt = torch.optim.Adam(probe.parameters())
            for x, y in stream:
                with torch.no_grad():
                    feats = cell(x)
                loss = torch.nn.functional.mse_loss(probe(feats), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        """,
        why="the stateful module runs under no_grad: its state has no graph",
    ),
    Valid(
        """
        import torch

        class Counted(torch.nn.Module):
            def __init__(self, width):
                super().__init__()
                self.fc = torch.nn.Linear(width, 1)
                self.calls = 0

            def forward(self, x):
                self.calls = self.calls + 1
                return self.fc(x)

        def train(batches, width):
            model = Counted(width)
            opt = torch.optim.Adam(model.parameters())
            for x, y in batches:
                loss = torch.nn.functional.mse_loss(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        """,
        why="a call counter kept on the module is no recurrent state: no tensor flows into it",
    ),
    Valid(
        """
        import torch

        def detach_all(net):
            for layer in net.modules():
                if hasattr(layer, "memory"):
                    layer.memory = layer.memory.detach()

        class CarryCell(torch.nn.Module):
            def __init__(self, width):
                super().__init__()
                self.step_fn = torch.nn.GRUCell(width, width)
                self.memory = torch.zeros(1, width)

            def forward(self, x):
                self.memory = self.step_fn(x, self.memory)
                return self.memory

        def train(stream, width):
            cell = CarryCell(width)
            opt = torch.optim.Adam(cell.parameters())
            for x, y in stream:
                loss = torch.nn.functional.mse_loss(cell(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                detach_all(cell)
        """,
        why="a helper that takes the model detaches its state after each step (spikingjelly's detach_net)",
    ),
    Valid(
        """
        import torch

        class MaskedBlock(torch.nn.Module):
            def __init__(self, width, heads, mask=None):
                super().__init__()
                self.attn = torch.nn.MultiheadAttention(width, heads)
                self.mask = mask

            def forward(self, x):
                self.mask = self.mask.to(dtype=x.dtype, device=x.device) if self.mask is not None else None
                return self.attn(x, x, x, attn_mask=self.mask)[0]

        def train(batches, width):
            block = MaskedBlock(width, 4, torch.zeros(8, 8))
            opt = torch.optim.Adam(block.parameters())
            for x, y in batches:
                loss = torch.nn.functional.mse_loss(block(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        """,
        why="a constant mask moved to the input's dtype and device on each call is no recurrent state "
        "(diffusers' ResidualAttentionBlock)",
    ),
]
