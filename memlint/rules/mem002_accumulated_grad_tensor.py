"""MEM002 accumulated-grad-tensor: a tensor with autograd history kept across loop iterations.

``total_loss += loss`` or ``losses.append(loss)`` in a training loop keeps every iteration's
graph alive through the accumulator: the PyTorch FAQ's first memory item ("Don't accumulate
history across your training loop"), TRI-ML/packnet-sfm#47 (21 -> 38 GB in an epoch),
rballester/tntorch PR#19 (12 GB after 1,000 iterations), BatsResearch/labelmodels#4.

Trigger: an augmented assignment, an ``append``-like call or a self-referencing assignment
(``total = total + loss``) in a loop, in a file that runs a backward pass.

Query, on the shared value flow of the enclosing function (``memlint/analysis/flow.py``): the
accumulated value carries history (it reaches a backward pass, comes from a model or loss call
where grad is on, or from a helper, in this file or another, that returns such a value), and the
accumulator survives the iterations of a loop that trains (a backward or optimizer step runs in
it, itself or through a helper). Silent when the accumulator feeds a backward pass (gradient
accumulation), is rebuilt every iteration, or runs under a grad guard (here or in every caller).

Fix: ``.detach()`` on each accumulated tensor (safe), or ``.item()`` when the accumulator starts
as a number literal and is only combined, printed or logged (unsafe: the type changes).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from memlint.analysis import facts
from memlint.analysis.autograd import attributes_reaching_backward, evaluation_loss, grad_on_evaluation_loops
from memlint.analysis.carry import changes_every_iteration, loop_trains
from memlint.analysis.effects import known_scalar, only_numeric_uses, reduces_first_param, stored_argument, used_as_mapping
from memlint.analysis.flow import Flow, names_in, value_without
from memlint.analysis.syntax import (
    FunctionNode,
    ScopeNode,
    dotted,
    iter_scope,
    last_name,
    positional,
    parenthesized,
)
from memlint.analysis.values import NUMBER
from memlint.fixes import append_method
from memlint.rule import Fix, Invalid, Rule, Valid

_ACCUMULATING_METHODS = frozenset({"append", "extend", "insert", "update", "add_"})
_NOT_METERS = frozenset(
    {
        "pbar", "bar", "progress", "progress_bar", "scaler", "ema", "optimizer", "config", "cfg", "args",
        "kwargs", "params", "state", "logs", "log", "info", "results", "stats", "history",
    }
)
DETACH = "Detach the value before accumulating it"
ITEM = "Accumulate a Python number with `.item()`"


def _accumulator(target: ast.AST) -> str | None:
    """The dotted name a store accumulates into: ``total``, ``self.sums``, or ``sums`` of ``sums[k]``."""
    base = dotted(target)
    if base is None and isinstance(target, ast.Subscript):
        base = dotted(target.value)
    return base


@dataclass
class _Site:
    """One accumulation statement."""

    stmt: ast.stmt
    node: ast.AST  # what the report points at
    target: str  # how the accumulator reads (for the message)
    base: str  # local name or dotted ``self.x`` the accumulator lives in
    values: list[ast.AST]
    excluded: frozenset[str]  # names read as numbers: the accumulator itself, earlier findings
    index: int
    loops: list[ast.AST]  # outermost first


class AccumulatedGradTensor(Rule):
    code = "MEM002"
    name = "accumulated-grad-tensor"
    summary = "A tensor that carries autograd history is accumulated across loop iterations"
    fix_availability = "sometimes"
    severity = "error"
    fix_kinds = {DETACH: "safe", ITEM: "unsafe"}
    libraries = frozenset({"torch", "lightning", "pytorch_lightning"})

    def __init__(self, file, settings) -> None:  # type: ignore[no-untyped-def]
        super().__init__(file, settings)
        self._done: set[int] = set()
        self._update_reduces: bool | None = None
        text = file.text
        self._enabled = (
            "backward" in text or "training_step" in text or "autograd.grad" in text or file.project is not None
        )

    # ------------------------------------------------------------------ triggers
    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._trigger(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute) and (node.func.attr in _ACCUMULATING_METHODS or self.file.project is not None):
            self._trigger(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        target = node.targets[0]
        if isinstance(node.value, (ast.BinOp, ast.Call)) or (
            isinstance(target, ast.Subscript) and changes_every_iteration(self.file, node, target.slice)
        ):
            self._trigger(node)

    def _trigger(self, node: ast.AST) -> None:
        if not self._enabled:
            return
        file = self.file
        scope = file.enclosing_scope(node)
        if isinstance(scope, (ast.ClassDef, ast.Lambda)):
            return
        unit = scope or file.tree
        if id(unit) in self._done:
            return
        is_step = isinstance(unit, FunctionNode) and (unit.name == "training_step" or self._one_step(file.flow(unit)))
        if not file.enclosing_loops(node) and not is_step:
            return  # loops elsewhere in this unit trigger it again
        self._done.add(id(unit))
        if isinstance(unit, FunctionNode) and (
            file.guard_at(unit) is not None or file.decorator_guard(unit) is not None or file.guarded_by_callers(unit)
        ):
            return
        flow = file.flow(unit)
        for site in self._sites(flow):
            self._report(flow, site)

    # ------------------------------------------------------------------ sites
    def _sites(self, flow: Flow) -> list[_Site]:
        """Accumulation statements in source order whose value carries history and whose
        accumulator keeps it across training iterations. A value computed from an earlier
        finding's accumulator is that finding again, not a new one."""
        found: list[_Site] = []
        reported: set[str] = set()
        for stmt in _statements(flow.scope):
            if flow.guarded_at.get(id(stmt), True):
                continue
            site = self._site(flow, stmt, frozenset(reported))
            if site is not None and self._keeps_history(flow, site):
                found.append(site)
                reported.add(site.base)
                continue
            if isinstance(stmt, ast.Assign) and reported:
                # `avg = running / n` after `running += loss` was reported: the same history.
                value = flow.value_of(stmt.value)
                if value.grad and not value_without(flow, stmt.value, frozenset(reported)).grad:
                    for target in stmt.targets:
                        reported.update(n for n in _names(target))
        return found

    def _site(self, flow: Flow, stmt: ast.stmt, reported: frozenset[str]) -> _Site | None:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            call = stmt.value
            func = call.func
            if not isinstance(func, ast.Attribute):
                return None
            stored = None if facts.LOGGING_CALLEE.search(func.attr) else stored_argument(self.file, flow, call)  # logging: MEM010's
            if stored is not None:
                values = list(stored.elts) if isinstance(stored, (ast.List, ast.Tuple)) else [stored]
                return self._consider(flow, stmt, call, func.value, dotted(func.value), values, reported)
            if func.attr not in _ACCUMULATING_METHODS:
                return None
            args = positional(call)
            if not args:
                return None
            value = args[1] if func.attr == "insert" and len(args) > 1 else args[0]
            if func.attr == "update" and (isinstance(value, (ast.Dict, ast.DictComp)) or not self._meter_like(flow, func.value)):
                return None
            base = _accumulator(func.value)
            values = list(value.elts) if func.attr == "update" and isinstance(value, (ast.List, ast.Tuple)) else [value]
            return self._consider(flow, stmt, call, func.value, base, values, reported)
        if isinstance(stmt, ast.AugAssign):
            if not isinstance(stmt.op, (ast.Add, ast.Sub)):
                return None
            base = _accumulator(stmt.target)
            return self._consider(flow, stmt, stmt, stmt.target, base, [stmt.value], reported)
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            base = _accumulator(target)  # also `sums[k] = sums.get(k, 0) + loss`
            if base is None:
                return None
            value = stmt.value
            own = False
            if isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Add, ast.Sub)):
                own = base in names_in(value)  # `total = total + loss * n`
            elif isinstance(value, ast.Call) and self.file.qualname(value.func) in facts.CONCATENATE and value.args:
                seq = value.args[0]
                own = isinstance(seq, (ast.List, ast.Tuple)) and any(dotted(e) == base for e in seq.elts)
            if own:
                return self._consider(flow, stmt, stmt, target, base, [value], reported | {base})
            if isinstance(target, ast.Subscript) and changes_every_iteration(self.file, stmt, target.slice):
                # `per_step[step] = loss`: a new slot every iteration, as `append` would
                return self._consider(flow, stmt, stmt, target, base, [value], reported | {base})
        return None

    def _consider(
        self,
        flow: Flow,
        stmt: ast.stmt,
        node: ast.AST,
        target: ast.AST,
        base: str | None,
        values: list[ast.AST],
        excluded: frozenset[str],
    ) -> _Site | None:
        if base is None:
            return None
        loops = list(reversed(self.file.enclosing_loops(stmt)))
        if not loops and not (self._per_step(flow) and "." in base):
            return None
        if not any(value_without(flow, v, excluded).grad or evaluation_loss(self.file, flow, stmt, v) for v in values):
            return None
        text = ast.get_source_segment(self.file.text, target) or ast.unparse(target)
        return _Site(stmt, node, text, base, values, excluded, flow.statement_order(stmt), loops)

    def _meter_like(self, flow: Flow, receiver: ast.AST) -> bool:
        """``meter.update(loss)``: not a dict, not a torchmetrics metric (those store no graph)."""
        if "torchmetrics" in self.file.libraries:
            return False
        name = (last_name(receiver) or "").lower()
        if self._in_file_update_reduces():
            return False
        if "metric" in name or name in _NOT_METERS:
            return False
        return flow.value_of(receiver).kind != NUMBER

    # ------------------------------------------------------------------ verdicts
    def _keeps_history(self, flow: Flow, site: _Site) -> bool:
        """The accumulator outlives the iterations of a training loop and never feeds backward."""
        base = site.base
        if base in flow.reach or ("." in base and base in attributes_reaching_backward(self.file)):
            return False
        if self._per_step(flow) and "." in base and not site.loops:
            # Lightning calls training_step once per batch, a runner its train_step: `self.outputs` outlives it
            return flow.is_training_step or (base.startswith("self.") and base not in flow.resets)
        persistent = self._persistent_loops(flow, site)
        return bool(persistent) and self._steps_inside(flow, persistent)

    def _per_step(self, flow: Flow) -> bool:
        return flow.is_training_step or self._one_step(flow)

    def _one_step(self, flow: Flow) -> bool:
        """A method that runs one training step (``train_step(self, batch)``): a backward or optimizer
        step outside any loop of its own; its caller's loop repeats it."""
        scope = flow.scope
        if not isinstance(scope, FunctionNode) or not scope.args.args or scope.args.args[0].arg != "self":
            return False
        return any(not stack for _, stack in flow.step_calls)

    def _persistent_loops(self, flow: Flow, site: _Site) -> list[ast.AST] | None:
        """Loops the accumulator survives, innermost first; None when it is rebuilt each
        iteration or lives for one training step only."""
        base = site.base
        key = base if base in flow.resets or "." in base else base.split(".")[0]
        resets = flow.resets.get(key, [])
        persistent: list[ast.AST] = []
        reset_loop = None
        for loop in reversed(site.loops):
            start = flow.loop_start.get(id(loop), 0)
            if any(start <= r < site.index for r in resets):
                reset_loop = loop
                break
            persistent.append(loop)
        if not persistent:
            return None
        if reset_loop is not None and any(loops and loops[-1] is reset_loop for _, loops in flow.step_calls):
            return None  # reset every training step, filled by an inner loop over heads: bounded
        return persistent

    def _steps_inside(self, flow: Flow, loops: list[ast.AST]) -> bool:
        """Some loop the accumulator survives trains (a backward or optimizer step runs in it, itself
        or through a helper), or evaluates a model with autograd on."""
        return loop_trains(self.file, flow, loops) or bool({id(loop) for loop in loops} & grad_on_evaluation_loops(self.file, flow.scope))

    def _in_file_update_reduces(self) -> bool:
        """A class here defines ``update(self, value)`` that itself detaches or ``.item()``s the
        value (horovod's ``Metric.update`` after its fix): its callers are fine."""
        if self._update_reduces is None:
            self._update_reduces = any(reduces_first_param(d) for d in self.file.functions.get("update", []))
        return self._update_reduces

    # ------------------------------------------------------------------ report and fix
    def _report(self, flow: Flow, site: _Site) -> None:
        message = (
            f"`{site.target}` accumulates a tensor that carries autograd history across iterations; "
            "every iteration's graph stays alive: accumulate `.item()` or `.detach()` instead"
        )
        fix = None if site.base in flow.partial_reach else self._fix(flow, site)
        self.report(site.node, message, fix)

    def _fix(self, flow: Flow, site: _Site) -> Fix | None:
        leaves: list[ast.AST] = []
        for value in site.values:
            found = self._leaves(flow, value, site.excluded)
            if found is None:
                return None
            leaves.extend(found)
        if not leaves:
            return None
        use_item = (
            "." not in site.base
            and flow.literal_before(site.base, site.index)
            and all(known_scalar(self.file, flow, leaf) for leaf in leaves)
            and only_numeric_uses(flow.scope, site.base)
            and not isinstance(site.node, ast.Call)
        )
        edits = tuple(append_method(leaf, "item" if use_item else "detach") for leaf in leaves)
        if use_item:
            return Fix("unsafe", ITEM, edits)
        return Fix("safe", DETACH, edits)

    def _leaves(self, flow: Flow, expr: ast.AST, excluded: frozenset[str], tensors: bool = False) -> list[ast.AST] | None:
        """The grad-carrying tensors inside ``expr`` to wrap, or None when one cannot be wrapped.

        ``tensors``: the elements are known to be tensors (they are handed to ``torch.cat``)."""
        state = value_without(flow, expr, excluded)
        if not state.grad:
            return []
        wrapped = parenthesized(self.file, expr)
        if isinstance(expr, ast.BinOp) and not wrapped:
            left = self._leaves(flow, expr.left, excluded)
            right = self._leaves(flow, expr.right, excluded)
            return None if left is None or right is None else left + right
        if isinstance(expr, (ast.Tuple, ast.List)):
            found: list[ast.AST] = []
            for element in expr.elts:
                inner = self._leaves(flow, element, excluded, tensors)
                if inner is None:
                    return None
                found.extend(inner)
            return found
        if isinstance(expr, ast.Dict):
            found = []
            for key, element in zip(expr.keys, expr.values):
                inner = None if key is None else self._leaves(flow, element, excluded)
                if inner is None:
                    return None
                found.extend(inner)
            return found
        if (
            isinstance(expr, ast.Call)
            and self.file.qualname(expr.func) in facts.CONCATENATE
            and expr.args
            and isinstance(expr.args[0], (ast.List, ast.Tuple))
        ):
            return self._leaves(flow, expr.args[0], excluded, tensors=True)  # torch.cat([acc, out.detach()])
        if not state.tensor and not tensors:
            return None
        if isinstance(expr, ast.Name) and used_as_mapping(flow.scope, expr.id):
            return None  # a dict of losses: `.detach()` is not one of its methods
        if isinstance(expr, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)) or wrapped:
            return [expr]
        return None


def _statements(scope: ast.AST) -> list[ast.stmt]:
    """The statements of one scope in source order, nested functions and classes not entered."""
    return [node for node in iter_scope(scope) if isinstance(node, ast.stmt) and not isinstance(node, ScopeNode)]


def _names(target: ast.AST) -> list[str]:
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for e in target.elts for n in _names(e)]
    name = dotted(target)
    return [name] if name else []


















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

# Shapes that cross a function or a file (issue #18), each seen in real public code that 0.1 missed.
AccumulatedGradTensor.INVALID += [
    Invalid(
        """
        import torch


        def run_epoch(model, loader, optimizer, weights, loss_terms):
            history = []
            for batch in loader:
                optimizer.zero_grad()
                parts = loss_terms(model, batch)
                parts["total"] = weights[0] * parts["plan"] + weights[1] * parts["collide"]
                parts["total"].backward()
                optimizer.step()
                history.append(parts)
            return {k: sum(p[k].item() for p in history) / len(history) for k in history[0]}
        """,
        line=12,
        why="a dict of loss terms, given its weighted total, kept whole for the epoch mean (diffusion planner)",
    ),
    Invalid(
        {
            "common/__init__.py": "",
            "common/metrics.py": """
                class LossTrack:
                    def __init__(self, keys):
                        self.totals = {k: 0 for k in keys}
                        self.count = 0

                    def add_batch(self, losses):
                        for key in losses:
                            self.totals[key] += losses[key]
                        self.count += 1


                class Metrics:
                    def __init__(self, keys):
                        self.tracker = LossTrack(keys)
            """,
            "train.py": """
                import torch

                from common.metrics import Metrics


                def train(model, loader, optimizer, epochs):
                    metrics = Metrics(["total", "ce"])
                    for epoch in range(epochs):
                        for x, y in loader:
                            out = model(x)
                            losses = model.compute_loss(out, y)
                            optimizer.zero_grad()
                            losses["total"].backward()
                            optimizer.step()
                            metrics.tracker.add_batch(losses)
            """,
        },
        path="train.py",
        line=15,
        why="the loss dict goes to a tracker held by a metrics object of another module, which adds every entry "
        "into running totals (the SSA-SC training script)",
    ),
    Invalid(
        {
            "runners/misc.py": """
                class Meter:
                    def __init__(self, names):
                        self.n = len(names)
                        self.reset()

                    def reset(self):
                        self._sum = [0] * self.n
                        self._count = [0] * self.n

                    def update(self, values):
                        for idx, v in enumerate(values):
                            self._sum[idx] += v
                            self._count[idx] += 1
            """,
            "runners/runner.py": """
                import torch

                from runners.misc import Meter


                class Runner:
                    def __init__(self, model, criterion, lr):
                        self.model = model
                        self.criterion = criterion
                        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
                        self.losses = Meter(["coarse", "fine"])

                    def compute(self, batch):
                        coarse, fine = self.model(batch["x"])
                        coarse_loss = self.criterion(coarse, batch["y"])
                        fine_loss = self.criterion(fine, batch["y"])
                        return coarse_loss + fine_loss, coarse_loss, fine_loss

                    def train_step(self, batch):
                        loss, coarse_loss, fine_loss = self.compute(batch)
                        self.optimizer.zero_grad()
                        loss.backward()
                        self.optimizer.step()
                        self.losses.update([coarse_loss * 1000, fine_loss * 1000])
            """,
        },
        path="runners/runner.py",
        line=24,
        fixed="""
            import torch

            from runners.misc import Meter


            class Runner:
                def __init__(self, model, criterion, lr):
                    self.model = model
                    self.criterion = criterion
                    self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
                    self.losses = Meter(["coarse", "fine"])

                def compute(self, batch):
                    coarse, fine = self.model(batch["x"])
                    coarse_loss = self.criterion(coarse, batch["y"])
                    fine_loss = self.criterion(fine, batch["y"])
                    return coarse_loss + fine_loss, coarse_loss, fine_loss

                def train_step(self, batch):
                    loss, coarse_loss, fine_loss = self.compute(batch)
                    self.optimizer.zero_grad()
                    loss.backward()
                    self.optimizer.step()
                    self.losses.update([coarse_loss.detach() * 1000, fine_loss.detach() * 1000])
        """,
        applicability="safe",
        why="a one-step method feeds the loss terms its helper returns to a meter of another module that sums "
        "each list entry; the runner's loop calls it every batch (microsoft/SpareNet)",
    ),
    Invalid(
        code={
            "train.py": """
                from engine import train_step


                def fit(model, loader, optimizer, criterion, epochs):
                    for epoch in range(epochs):
                        epoch_loss = 0.0
                        for batch in loader:
                            loss = train_step(model, batch, optimizer, criterion)
                            epoch_loss += loss
                        print(epoch, epoch_loss / len(loader))
                """,
            "engine.py": """
                import torch


                def train_step(model, batch, optimizer, criterion):
                    x, y = batch
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    return loss
                """,
        },
        path="train.py",
        line=9,
        applicability="safe",
        fixed="""
            from engine import train_step


            def fit(model, loader, optimizer, criterion, epochs):
                for epoch in range(epochs):
                    epoch_loss = 0.0
                    for batch in loader:
                        loss = train_step(model, batch, optimizer, criterion)
                        epoch_loss += loss.detach()
                    print(epoch, epoch_loss / len(loader))
            """,
        why="the loss comes back from a step function in another file, which runs backward itself",
    ),
    Invalid(
        code={
            "train.py": """
                import torch
                from meters import RunningMean


                def train(model, loader, optimizer, criterion):
                    tracker = RunningMean()
                    for x, y in loader:
                        optimizer.zero_grad()
                        loss = criterion(model(x), y)
                        loss.backward()
                        optimizer.step()
                        tracker.add(loss)
                    return tracker.mean()
                """,
            "meters.py": """
                class RunningMean:
                    def __init__(self):
                        self.values = []

                    def add(self, value):
                        self.values.append(value)

                    def mean(self):
                        return sum(self.values) / len(self.values)
                """,
        },
        path="train.py",
        line=12,
        applicability="safe",
        fixed="""
            import torch
            from meters import RunningMean


            def train(model, loader, optimizer, criterion):
                tracker = RunningMean()
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    tracker.add(loss.detach())
                return tracker.mean()
            """,
        why="a metric tracker class of the project keeps every value it is given; the loop feeds it the loss",
    ),
    Invalid(
        code="""
            import torch


            def train(model, loader, optimizer, criterion, aux_weight):
                history = []
                for x, y in loader:
                    optimizer.zero_grad()
                    main, aux = model(x)
                    losses = [criterion(main, y), aux_weight * criterion(aux, y)]
                    total = sum(losses)
                    total.backward()
                    optimizer.step()
                    history.append(sum(losses))
                return history
            """,
        line=13,
        applicability="safe",
        fixed="""
            import torch


            def train(model, loader, optimizer, criterion, aux_weight):
                history = []
                for x, y in loader:
                    optimizer.zero_grad()
                    main, aux = model(x)
                    losses = [criterion(main, y), aux_weight * criterion(aux, y)]
                    total = sum(losses)
                    total.backward()
                    optimizer.step()
                    history.append(sum(losses).detach())
                return history
            """,
        why="`sum(losses)` of a list of loss tensors still carries every graph",
    ),
    Invalid(
        """
        import torch


        def train(model, loader, optimizer, criterion):
            sums = {}
            for x, y in loader:
                optimizer.zero_grad()
                out = model(x)
                terms = {"fit": criterion(out, y), "size": out.abs().mean()}
                loss = sum(terms.values())
                loss.backward()
                optimizer.step()
                for name, term in terms.items():
                    sums[name] = sums.get(name, 0) + term
            return sums
        """,
        line=14,
        why="the values of a dict of loss terms, walked with .items(), carry their graphs into the sums",
    ),
    Invalid(
        """
        import torch


        def train(model, loader, optimizer, criterion):
            sums = {}
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                sums["fit"] = sums.get("fit", 0) + loss
            return sums
        """,
        line=11,
        fixed="""
        import torch


        def train(model, loader, optimizer, criterion):
            sums = {}
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                sums["fit"] = sums.get("fit", 0) + loss.detach()
            return sums
        """,
        applicability="safe",
        why="an entry of a dict re-assigned from itself plus the loss (`d[k] = d.get(k, 0) + loss`)",
    ),
    Invalid(
        """
        import torch


        def train(model, loader, optimizer, criterion, stages, log_every):
            pending = []
            for step, (x, y) in enumerate(loader):
                optimizer.zero_grad()
                if stages:
                    losses = []
                    model.run_stages(x, y, losses=losses)
                    loss = torch.stack(losses).mean()
                else:
                    loss = criterion(model(x), y)
                    loss.backward()
                optimizer.step()
                pending.append(loss)
                if step % log_every == 0:
                    losses = [t.item() for t in pending]
                    print(step, sum(losses) / len(losses))
                    pending.clear()
        """,
        line=16,
        fixed="""
        import torch


        def train(model, loader, optimizer, criterion, stages, log_every):
            pending = []
            for step, (x, y) in enumerate(loader):
                optimizer.zero_grad()
                if stages:
                    losses = []
                    model.run_stages(x, y, losses=losses)
                    loss = torch.stack(losses).mean()
                else:
                    loss = criterion(model(x), y)
                    loss.backward()
                optimizer.step()
                pending.append(loss.detach())
                if step % log_every == 0:
                    losses = [t.item() for t in pending]
                    print(step, sum(losses) / len(losses))
                    pending.clear()
        """,
        applicability="safe",
        why="the name `losses` is reused for floats at log time: `[t.item() for t in pending]` hands no graph to a backward pass",
    ),
]
AccumulatedGradTensor.VALID += [
    Valid(
        {
            "runners/misc.py": """
                class Meter:
                    def __init__(self, names):
                        self.n = len(names)
                        self.reset()

                    def reset(self):
                        self._sum = [0] * self.n
                        self._count = [0] * self.n

                    def update(self, values):
                        for idx, v in enumerate(values):
                            self._sum[idx] += v
                            self._count[idx] += 1
            """,
            "runners/runner.py": """
                import torch

                from runners.misc import Meter


                class Runner:
                    def __init__(self, model, criterion, lr):
                        self.model = model
                        self.criterion = criterion
                        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
                        self.losses = Meter(["coarse", "fine"])

                    def compute(self, batch):
                        coarse, fine = self.model(batch["x"])
                        coarse_loss = self.criterion(coarse, batch["y"])
                        fine_loss = self.criterion(fine, batch["y"])
                        return coarse_loss + fine_loss, coarse_loss, fine_loss

                    def train_step(self, batch):
                        loss, coarse_loss, fine_loss = self.compute(batch)
                        self.optimizer.zero_grad()
                        loss.backward()
                        self.optimizer.step()
                        self.losses.update([coarse_loss.item() * 1000, fine_loss.item() * 1000])
            """,
        },
        why="the meter of another module is fed plain numbers",
    ),
    Valid(
        """
        import torch


        class Trainer:
            def __init__(self, model, optimizer):
                self.model = model
                self.optimizer = optimizer
                self.step_terms = []

            def train_step(self, batch):
                self.step_terms = []
                loss = self.model(batch).mean()
                self.step_terms.append(loss)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                return self.step_terms
        """,
        why="a one-step method that empties its list first keeps one step's terms only",
    ),
    Valid(
        code={
            "train.py": """
                from engine import train_step


                def fit(model, loader, optimizer, criterion, epochs):
                    for epoch in range(epochs):
                        epoch_loss = 0.0
                        for batch in loader:
                            epoch_loss += train_step(model, batch, optimizer, criterion)
                        print(epoch, epoch_loss / len(loader))
                """,
            "engine.py": """
                import torch


                def train_step(model, batch, optimizer, criterion):
                    x, y = batch
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    return loss.item()
                """,
        },
        why="the step function in another file already hands back a Python number",
    ),
    Valid(
        code={
            "train.py": """
                import torch
                from meters import RunningMean


                def train(model, loader, optimizer, criterion):
                    tracker = RunningMean()
                    for x, y in loader:
                        optimizer.zero_grad()
                        loss = criterion(model(x), y)
                        loss.backward()
                        optimizer.step()
                        tracker.add(loss)
                    return tracker.mean()
                """,
            "meters.py": """
                class RunningMean:
                    def __init__(self):
                        self.values = []

                    def add(self, value):
                        self.values.append(float(value))

                    def mean(self):
                        return sum(self.values) / len(self.values)
                """,
        },
        why="the tracker turns every value into a float before keeping it",
    ),
    Valid(
        """
        import torch


        def train(model, loader, optimizer, criterion):
            seen = []
            for x, y in loader:
                optimizer.zero_grad()
                out = model(x)
                terms = {"fit": criterion(out, y), "size": out.abs().mean()}
                loss = sum(terms.values())
                loss.backward()
                optimizer.step()
                for name in terms:
                    seen.append(name)
                for name, term in terms.items():
                    seen.append(name)
            return seen
        """,
        why="the keys of a dict of loss terms are strings: keeping them keeps no graph",
    ),
    Valid(
        code={
            "train.py": """
                import torch
                from meters import Averager


                def train(model, loader, optimizer, criterion):
                    meter = Averager()
                    for x, y in loader:
                        optimizer.zero_grad()
                        cost = criterion(model(x), y)
                        cost.backward()
                        optimizer.step()
                        meter.add(cost)
                    return meter.mean()
                """,
            "meters.py": """
                import torch


                class Averager:
                    def __init__(self):
                        self.count = 0
                        self.total = torch.tensor(0.0)

                    def add(self, value):
                        count = value.numel()
                        value = value.data.sum()
                        self.count += count
                        self.total += value

                    def mean(self):
                        return self.total / max(self.count, 1)
                """,
        },
        why="the meter rebinds its argument to a detached sum before adding it",
    ),
]
AccumulatedGradTensor.INVALID += [
    Invalid(
        """
        import torch


        def fit(model, batches, opt, epochs):
            step = 0
            history = []
            for epoch in range(epochs):
                per_step = {}
                for inputs in batches:
                    cost = model(**inputs).loss
                    cost.backward()
                    opt.step()
                    opt.zero_grad()
                    per_step[step] = cost
                    step += 1
                history.append(per_step)
            return history
        """,
        line=14,
        fixed="""
        import torch


        def fit(model, batches, opt, epochs):
            step = 0
            history = []
            for epoch in range(epochs):
                per_step = {}
                for inputs in batches:
                    cost = model(**inputs).loss
                    cost.backward()
                    opt.step()
                    opt.zero_grad()
                    per_step[step] = cost.detach()
                    step += 1
                history.append(per_step)
            return history
        """,
        applicability="safe",
        why="a dict slot per step, keyed by a counter the loop advances, keeps each step's loss tensor like append",
    ),
    Invalid(
        """
        import torch


        def train(model, loader, optimizer, criterion):
            by_batch = {}
            for index, (x, y) in enumerate(loader):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                by_batch[index] = loss
            return by_batch
        """,
        line=11,
        fixed="""
        import torch


        def train(model, loader, optimizer, criterion):
            by_batch = {}
            for index, (x, y) in enumerate(loader):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                by_batch[index] = loss.detach()
            return by_batch
        """,
        applicability="safe",
        why="the key is the loop's own index: a new entry holding a graph every batch",
    ),
]
AccumulatedGradTensor.VALID += [
    Valid(
        """
        import torch


        def train(model, loader, optimizer, criterion):
            latest = {}
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                latest["loss"] = loss
            return latest
        """,
        why="a constant key overwrites one slot: only the last step's tensor is kept",
    ),
    Valid(
        """
        import torch


        def train(model, loader, optimizer, criterion):
            by_batch = {}
            for index, (x, y) in enumerate(loader):
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                by_batch[index] = loss.item()
            return by_batch
        """,
        why="each slot holds a Python number",
    ),
]
AccumulatedGradTensor.INVALID += [
    Invalid(
        """
        import torch


        def score_on_holdout(net, holdout, criterion):
            net.eval()
            running = 0
            for images, labels in holdout:
                predicted = net(images)
                batch_cost = criterion(predicted, labels)
                running += batch_cost
            return running / len(holdout)


        def fit(net, batches, criterion, opt):
            for images, labels in batches:
                opt.zero_grad()
                criterion(net(images), labels).backward()
                opt.step()
        """,
        line=10,
        why="in a file that trains the model, a validation pass after `.eval()` with autograd on sums the loss tensors: every batch's graph "
        "stays alive until the pass ends (zoogzog/chexnet#12)",
    ),
]
AccumulatedGradTensor.VALID += [
    Valid(
        """
        import torch


        def score_on_holdout(net, holdout, criterion):
            net.eval()
            running = 0
            for images, labels in holdout:
                batch_cost = criterion(net(images), labels)
                running += batch_cost.item()
            return running / len(holdout)


        def fit(net, batches, criterion, opt):
            for images, labels in batches:
                opt.zero_grad()
                criterion(net(images), labels).backward()
                opt.step()
        """,
        why="the validation pass sums Python numbers",
    ),
    Valid(
        """
        import torch


        def frozen_probe(net, batches, criterion):
            net.eval()
            running = 0
            for images, labels in batches:
                running = running + criterion(net(images), labels)
            return running


        def fit(net, batches, criterion, opt):
            for _ in range(5):
                opt.zero_grad()
                frozen_probe(net, batches, criterion).backward()
                opt.step()
        """,
        why="the caller differentiates the summed loss: the graphs are needed",
    ),
]
AccumulatedGradTensor.INVALID += [
    Invalid(
        {
            "course/__init__.py": "",
            "course/stepping.py": """
                def one_update(net, batch, criterion, opt):
                    opt.zero_grad()
                    cost = criterion(net(batch[0]), batch[1])
                    cost.backward()
                    opt.step()
                    return cost
            """,
            "course/run.py": """
                import torch
                from stepping import one_update


                def fit(net, loader, criterion, opt, epochs):
                    for epoch in range(epochs):
                        epoch_cost = 0
                        for batch in loader:
                            epoch_cost += one_update(net, batch, criterion, opt)
                        print(epoch, epoch_cost)
            """,
        },
        path="course/run.py",
        line=9,
        fixed="""
                import torch
                from stepping import one_update


                def fit(net, loader, criterion, opt, epochs):
                    for epoch in range(epochs):
                        epoch_cost = 0
                        for batch in loader:
                            epoch_cost += one_update(net, batch, criterion, opt).detach()
                        print(epoch, epoch_cost)
            """,
        applicability="safe",
        why="the script imports its step helper from its own folder (`from stepping import ...`, run as "
        "`python course/run.py`): the loss it returns still carries the graph",
    ),
]
