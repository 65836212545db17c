"""MEM006 retain-graph-in-loop: ``backward(retain_graph=True)`` where nothing backpropagates
through the graph again.

``retain_graph=True`` keeps every buffer the backward pass would free (saved activations, the
graph's nodes) for as long as the loss tensor lives. In a loop whose iteration runs one backward
pass on a graph it built itself, nothing uses them again: the previous iteration's graph stays
alive while the next one is built, about doubling activation memory at the peak
(pytorch/pytorch#2198; shenweichen/DeepCTR-Torch#69, removed in v0.2.4; EagleW/Writing-editing-Network#3).

Trigger: a ``backward``/``manual_backward``/``torch.autograd.backward`` call with a literal
``retain_graph=True`` that repeats: in a loop of its function, or in a function a caller runs in
a loop (or Lightning's ``training_step``).

Query: silent when the same training iteration runs another backward pass or ``autograd.grad``
(itself or through a helper): GAN and multi-loss steps that backpropagate one graph twice; when
the function asks for higher-order gradients (``create_graph=True``, ``torch.autograd.grad``);
and when the backpropagated tensor depends on a graph that other iterations share: a value
computed before the loop, an iterable of losses, a state carried from the previous iteration
(MEM007 reports that one), or a ``self`` attribute the class rebinds outside ``__init__``.

Fix (unsafe): drop ``retain_graph=True``. If some backward pass does go through the graph again,
the program then fails loudly ("Trying to backward through the graph a second time").
"""

from __future__ import annotations

import ast

from memlint.analysis import facts
from memlint.analysis.carry import Carried, bindings_before, carried_names, depends_on, detaching_read, events
from memlint.analysis.flow import Flow, is_backend, names_in
from memlint.analysis.syntax import FunctionNode, ancestors, dotted, is_constant, keyword, target_names
from memlint.fixes import remove_keyword
from memlint.rule import Fix, Invalid, Rule, Valid

REMOVE = "Remove `retain_graph=True`"
_INIT_METHODS = frozenset({"__init__", "setup", "build", "reset_parameters"})


class RetainGraphInLoop(Rule):
    code = "MEM006"
    name = "retain-graph-in-loop"
    summary = "`backward(retain_graph=True)` on a graph nothing backpropagates through again keeps it alive"
    default_enabled = False  # real-code review: too few findings to show precision >= 0.9 (rules/*.md, Options)
    fix_availability = "sometimes"
    fix_kinds = {REMOVE: "unsafe"}
    libraries = frozenset({"torch", "lightning", "pytorch_lightning"})

    def visit_Call(self, node: ast.Call) -> None:
        retain = keyword(node, "retain_graph")
        if retain is None or not is_constant(retain.value, True) or keyword(node, "create_graph") is not None:
            return
        tensor = self._backpropagated(node)
        if tensor is None:
            return
        file = self.file
        func = file.enclosing_function(node)
        scope = func if func is not None else file.tree
        flow = file.flow(scope)
        if self._higher_order(flow):
            return
        loops = file.enclosing_loops(node)
        if loops:
            iteration: ast.AST = loops[0]
            region: ast.AST = loops[-1]
        elif func is not None and self._repeated_by_callers(func):
            iteration = region = func
        else:
            return
        if self._other_backward(flow, node, region) or self._shares_graph(flow, scope, iteration, tensor, node):
            return
        text = ast.get_source_segment(file.text, tensor) or "the loss"
        message = (
            f"`retain_graph=True` keeps the graph of `{text}` (its saved activations) alive after its only "
            "backward pass of the iteration; nothing backpropagates through it again, so it is held while the "
            "next iteration builds its own: drop `retain_graph=True`"
        )
        self.report(node, message, Fix("unsafe", REMOVE, (remove_keyword(node, "retain_graph"),)))

    # ------------------------------------------------------------------ the backward pass
    def _backpropagated(self, call: ast.Call) -> ast.AST | None:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in facts.BACKWARD_METHODS:
            if func.attr == "manual_backward" or is_backend(func.value):
                return call.args[0] if call.args else None
            return func.value
        if self.file.qualname(func) == "torch.autograd.backward" and call.args:
            return call.args[0]
        return None

    def _higher_order(self, flow: Flow) -> bool:
        """Gradients of gradients, or ``autograd.grad`` beside the backward pass."""
        for call, _ in flow.backward_calls:
            qualified = self.file.qualname(call.func)
            if keyword(call, "create_graph") is not None or (qualified in facts.AUTOGRAD_FUNCTIONS and qualified != "torch.autograd.backward"):
                return True
        return False

    def _repeated_by_callers(self, func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """Lightning calls ``training_step`` per batch; other functions repeat when a caller loops."""
        if func.name == "training_step":
            return True
        return any(owner.enclosing_loops(call) for owner, call in self.file.callers(func))

    def _other_backward(self, flow: Flow, node: ast.Call, region: ast.AST) -> bool:
        """Another backward pass in the same training iteration: here, in a helper called there,
        or, for a step function, beside its call in the caller's loop."""
        file = self.file
        if any(call is not node and _within(call, region) for call, _ in flow.backward_calls):
            return True
        if any(_within(call, region) and _backpropagates(file, call) for _, _, call in flow.local_calls):
            return True
        if isinstance(region, FunctionNode) and not file.enclosing_loops(node):
            for owner, call in file.callers(region):
                loops = owner.enclosing_loops(call)
                if not loops:
                    continue
                caller_flow = owner.flow_of(call)
                if any(_within(c, loops[-1]) for c, _ in caller_flow.backward_calls):
                    return True
                if any(c is not call and _within(c, loops[-1]) and _backpropagates(owner, c) for _, _, c in caller_flow.local_calls):
                    return True
        return False

    # ------------------------------------------------------------------ shared graphs
    def _shares_graph(self, flow: Flow, scope: ast.AST, iteration: ast.AST, tensor: ast.AST, node: ast.Call) -> bool:
        """Does the backpropagated tensor depend on a graph that outlives this iteration?"""
        stmt = self.file.statement_of(node)
        body = iteration.body  # type: ignore[attr-defined]
        assert stmt is not None
        names = depends_on(tensor, body, stmt)
        carried = carried_names(iteration) if not isinstance(iteration, FunctionNode) else {}
        fresh = _bound_in_body(body, stmt)
        before = bindings_before(scope, iteration) if not isinstance(iteration, FunctionNode) else {}
        targets = set(target_names(iteration.target)) if isinstance(iteration, (ast.For, ast.AsyncFor)) else set()
        for name in names:
            if name in carried and self._carries_graph(flow, carried[name]):
                return True
            if isinstance(iteration, FunctionNode) and self._shared_by_callers(iteration, name):
                return True
            if name in fresh:
                continue
            if name in targets and flow.value_of(iteration.iter).grad:  # type: ignore[attr-defined]
                return True  # `for loss in losses: loss.backward(retain_graph=True)`
            if any(b.value is not None and flow.value_of(b.value).grad for b in before.get(name, ())):
                return True
            if name.startswith("self.") and self._rebound_state(scope, name):
                return True
        return False

    def _shared_by_callers(self, func: ast.FunctionDef | ast.AsyncFunctionDef, param: str) -> bool:
        """A helper that backpropagates a parameter: does a looping caller pass a graph that its
        iterations share (``h = conv(h); show(x, h)``: each pass extends the same graph)?"""
        if param not in {a.arg for a in (*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs)}:
            return False
        for owner, call in self.file.callers(func):
            loops = owner.enclosing_loops(call)
            given = self.file.argument_given(func, param, call)
            if not loops or given is None:
                continue
            scope = owner.enclosing_function(call) or owner.tree
            caller_flow = owner.flow(scope)
            carried = carried_names(loops[0])
            before = bindings_before(scope, loops[0])
            for name in {n.id for n in ast.walk(given) if isinstance(n, ast.Name)}:
                if name in carried and (self._carries_graph(caller_flow, carried[name]) or _recurrence(carried[name])):
                    return True
                if any(b.value is not None and caller_flow.value_of(b.value).grad for b in before.get(name, ())):
                    return True
        return False

    def _carries_graph(self, flow: Flow, carried: Carried) -> bool:
        read = carried.first_read
        if detaching_read(read.node, read.stmt):
            return False
        for binding in carried.bindings:
            value = binding.value
            if value is None:
                continue
            known = flow.value_of(value)
            if known.grad:
                return True
            if known.kind in ("number", "array"):
                continue  # the flow knows it carries no graph (`_mask(seq)` returning `seq.data...`)
            if isinstance(value, ast.Call) and any(isinstance(n, ast.Name) and n.id == carried.name for n in ast.walk(value)):
                return True  # a recurrence, `out, hidden = lstm(x, hidden)`: the flow may not know `lstm` trains
        return False

    def _rebound_state(self, scope: ast.AST, name: str) -> bool:
        """``self.x`` set by a method other than ``__init__`` to a value with a graph (a forward pass
        of a submodule, ``self.features = self.encoder(obs)``): state that other iterations share."""
        cls = self.file.enclosing_class(scope)
        if cls is None:
            return False
        methods = self.file.methods(cls)
        for method_name, method in methods.items():
            if method_name in _INIT_METHODS:
                continue
            for node in ast.walk(method):
                if not isinstance(node, ast.Assign) or not any(name in target_names(t) for t in node.targets):
                    continue
                value = node.value
                if self.file.flow(method, 1).value_of(value).grad:
                    return True
                callee = dotted(value.func) if isinstance(value, ast.Call) else None
                if callee is not None and callee.startswith("self.") and callee.count(".") == 1 and callee[5:] not in methods:
                    return True
        return False


def _recurrence(carried: Carried) -> bool:
    """``h = layer(h) + skip``: each iteration builds on the value the last one left (no detach)."""
    read = carried.first_read
    if detaching_read(read.node, read.stmt):
        return False
    return any(b.value is not None and carried.name in names_in(b.value, graph_only=True) for b in carried.bindings)


def _within(node: ast.AST, region: ast.AST) -> bool:
    return any(outer is region for outer in ancestors(node))


def _backpropagates(owner, call: ast.Call) -> bool:  # type: ignore[no-untyped-def]
    return any(definition_owner.flow(d, 1).backward_calls for definition_owner, d in owner.resolve_call(call))


def _bound_in_body(body: list[ast.stmt], before: ast.stmt) -> set[str]:
    """Names bound by statements of ``body`` that start before ``before``."""
    limit = (before.lineno, before.col_offset)
    return {e.name for e in events(body) if e.binds and (e.stmt.lineno, e.stmt.col_offset) < limit}


def _removal(code, **kwargs) -> Invalid:  # type: ignore[no-untyped-def]
    """A must-fire sample whose fix drops the keyword, as the rule's one fix does."""
    path = kwargs.get("path")
    source = code if isinstance(code, str) else code[path]
    fixed = source.replace(", retain_graph=True", "").replace("(retain_graph=True)", "()")
    return Invalid(code, fixed=fixed, applicability="unsafe", **kwargs)


RetainGraphInLoop.INVALID = [
    _removal(
        """
        import torch
        import torch.nn.functional as F

        def train(model, loader, optimizer, epochs):
            for epoch in range(epochs):
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = F.cross_entropy(model(x), y)
                    loss.backward(retain_graph=True)
                    optimizer.step()
        """,
        line=9,
        why="one backward per batch on a graph the batch built",
    ),
    _removal(
        """
        import torch

        def refine(model, optimizer, criterion, src, tgt, rounds):
            scores = []
            draft = None
            for r in range(rounds):
                logits = model(src, draft)
                loss = criterion(logits.flatten(0, 1), tgt.flatten())
                scores.append(loss.item())
                model.zero_grad()
                loss.backward(retain_graph=True)
                optimizer.step()
                draft = logits.argmax(-1).detach()
            return scores
        """,
        line=11,
        why="each refinement round feeds only token ids (no graph) to the next (EagleW/Writing-editing-Network#3)",
    ),
    _removal(
        """
        import torch

        def fit(net, batches, opt, loss_func, regularization):
            seen = 0.0
            for features, labels in batches:
                pred = net(features).squeeze()
                opt.zero_grad()
                total = loss_func(pred, labels.squeeze(), reduction="sum") + regularization()
                seen += total.item()
                total.backward(retain_graph=True)
                opt.step()
            return seen
        """,
        line=10,
        why="a fit loop with a regularised loss (shenweichen/DeepCTR-Torch#69)",
    ),
    _removal(
        """
        import torch

        class Runner:
            def __init__(self, model, optim, detect_loss, correct_loss, weight):
                self.model, self.optim = model, optim
                self.detect_loss, self.correct_loss, self.weight = detect_loss, correct_loss, weight

            def run_epoch(self, loader, train=True):
                total = 0.0
                for batch in loader:
                    out, prob = self.model(batch["ids"], batch["mask"])
                    loss = self.weight * self.correct_loss(out, batch["gold"]) + self.detect_loss(prob, batch["flags"])
                    if train:
                        self.optim.zero_grad()
                        loss.backward(retain_graph=True)
                        self.optim.step()
                    total += loss.item()
                return total
        """,
        line=15,
        why="a trainer method: attributes set only in __init__ are not per-iteration state",
    ),
    _removal(
        """
        import torch

        def train(model, truth, steps):
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            mse = torch.nn.MSELoss()
            for step in range(steps):
                optimizer.zero_grad()
                frames, last = model()
                frames = torch.cat(tuple(frames), dim=0)
                loss = mse(frames[:-1], truth[1:])
                loss.backward(retain_graph=True)
                optimizer.step()
                print(step, loss.item())
        """,
        line=11,
        why="a recurrent model unrolled from scratch every step (isds-neu/PeRCNN#3)",
    ),
    _removal(
        """
        import torch

        def pretrain(upsampler, coarse, fine, epochs=4000):
            optimizer = torch.optim.Adam(upsampler.parameters(), lr=0.02)
            mse = torch.nn.MSELoss()
            for epoch in range(epochs):
                optimizer.zero_grad()
                loss = mse(upsampler(coarse), fine)
                loss.backward(retain_graph=True)
                optimizer.step()
        """,
        line=9,
        why="inputs that carry no graph are shared by every iteration, harmlessly",
    ),
    _removal(
        """
        import torch

        def train(model, stream, optimizer, criterion, max_steps):
            step = 0
            while step < max_steps:
                x, y = next(stream)
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward(retain_graph=True)
                optimizer.step()
                step += 1
        """,
        line=9,
        why="a while loop repeats it too",
    ),
    _removal(
        """
        from accelerate import Accelerator
        import torch

        def train(model, loader, optimizer, criterion):
            accelerator = Accelerator()
            model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
            for x, y in loader:
                loss = criterion(model(x), y)
                accelerator.backward(loss, retain_graph=True)
                optimizer.step()
                optimizer.zero_grad()
        """,
        line=9,
        why="accelerate's backward takes the tensor as its argument",
    ),
    _removal(
        """
        import torch

        def train_step(model, batch, optimizer, criterion):
            optimizer.zero_grad()
            loss = criterion(model(batch[0]), batch[1])
            loss.backward(retain_graph=True)
            optimizer.step()
            return loss.item()

        def train(model, loader, optimizer, criterion):
            for batch in loader:
                train_step(model, batch, optimizer, criterion)
        """,
        line=6,
        why="a step function its caller runs once per batch",
    ),
    _removal(
        {
            "step.py": """
                import torch

                def update(policy, batch, optimizer):
                    log_probs = policy(batch["obs"]).log_softmax(-1)
                    loss = -(log_probs.gather(1, batch["act"]) * batch["adv"]).mean()
                    optimizer.zero_grad()
                    loss.backward(retain_graph=True)
                    optimizer.step()
            """,
            "train.py": """
                from step import update

                def run(policy, buffer, optimizer, iterations):
                    for it in range(iterations):
                        update(policy, buffer.sample(), optimizer)
            """,
        },
        path="step.py",
        line=7,
        why="the loop that repeats the step is in another file",
    ),
    _removal(
        """
        import lightning.pytorch as pl

        class Model(pl.LightningModule):
            def __init__(self, net):
                super().__init__()
                self.net = net
                self.automatic_optimization = False

            def training_step(self, batch, batch_idx):
                opt = self.optimizers()
                loss = self.net(batch).mean()
                opt.zero_grad()
                self.manual_backward(loss, retain_graph=True)
                opt.step()
        """,
        line=13,
        why="Lightning calls training_step once per batch",
    ),
    _removal(
        """
        import torch

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                torch.autograd.backward(loss, retain_graph=True)
                optimizer.step()
        """,
        line=7,
        why="torch.autograd.backward is the same call",
    ),
    _removal(
        """
        import torch


        def step(model, optimizer, batch):
            loss = model(batch).mean()
            optimizer.zero_grad()
            loss.backward(retain_graph=True)
            optimizer.step()


        def train(model, optimizer, loader):
            for batch in loader:
                step(model, optimizer, batch)
        """,
        line=7,
        why="the step helper gets a fresh batch every iteration: its graph is never backpropagated again",
    ),
    _removal(
        """
        import torch


        def clean(ids):
            pad = torch.eq(ids, 1)
            return ids.data.masked_fill_(pad, 0)


        def refine(model, criterion, opt, src, tgt, rounds):
            draft = None
            losses = []
            for _ in range(rounds):
                logits = model(src, draft)
                loss = criterion(logits.flatten(0, 1), tgt.flatten())
                losses.append(loss.item())
                opt.zero_grad()
                loss.backward(retain_graph=True)
                opt.step()
                draft = torch.topk(logits, 1, dim=2)[1].squeeze(-1)
                draft = clean(draft)
            return losses
        """,
        line=17,
        why="the draft fed back each round goes through .data.masked_fill_: it carries no graph, so nothing backpropagates through the old one",
    ),
]

RetainGraphInLoop.VALID = [
    Valid(
        """
        import torch

        def train_gan(G, D, loader, opt_g, opt_d, bce, z_dim):
            for real in loader:
                fake = G(torch.randn(real.size(0), z_dim))
                d_loss = bce(D(real), torch.ones(real.size(0), 1)) + bce(D(fake), torch.zeros(real.size(0), 1))
                opt_d.zero_grad()
                d_loss.backward(retain_graph=True)
                opt_d.step()
                g_loss = bce(D(fake), torch.ones(real.size(0), 1))
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
        """,
        why="GAN: the generator's loss backpropagates through `fake` again in the same iteration",
    ),
    Valid(
        """
        import torch

        def meta_step(E, G, D, frames, target, opt_eg, opt_d, crit_eg, crit_d):
            for _ in range(4):
                emb = torch.stack([E(f) for f in frames]).mean(dim=0)
                fake = G(target, emb)
                loss = crit_eg(fake, D(fake)) + crit_d(D(target), D(fake))
                opt_eg.zero_grad()
                opt_d.zero_grad()
                loss.backward(retain_graph=True)
                opt_eg.step()
                opt_d.step()
                opt_d.zero_grad()
                loss_d = crit_d(D(target), D(G(target, emb)))
                loss_d.backward()
                opt_d.step()
        """,
        why="the second loss of the step goes through the shared embedding again (grey-eye/talking-heads)",
    ),
    Valid(
        """
        import torch

        def train(model, loader, optimizer, ce, mse):
            for x, y, z in loader:
                logits, recon = model(x)
                optimizer.zero_grad()
                ce(logits, y).backward(retain_graph=True)
                mse(recon, z).backward()
                optimizer.step()
        """,
        why="two losses of one forward pass, backpropagated one after the other",
    ),
    Valid(
        """
        import torch

        def train(backbone, heads, loader, optimizer, criterion):
            for x, ys in loader:
                features = backbone(x)
                optimizer.zero_grad()
                for head, y in zip(heads, ys):
                    loss = criterion(head(features), y)
                    loss.backward(retain_graph=True)
                optimizer.step()
        """,
        why="every head's backward goes through the backbone features computed once per batch",
    ),
    Valid(
        """
        import torch

        def train(model, loader, optimizer, criterion, aux):
            for x, y in loader:
                out = model(x)
                losses = [criterion(out, y), aux(out)]
                optimizer.zero_grad()
                for loss in losses:
                    loss.backward(retain_graph=True)
                optimizer.step()
        """,
        why="a list of losses over one graph",
    ),
    Valid(
        """
        import torch

        def train_wgan_gp(critic, G, loader, opt, z_dim, lam=10.0):
            for real in loader:
                fake = G(torch.randn(real.size(0), z_dim)).detach()
                mix = (0.5 * real + 0.5 * fake).requires_grad_(True)
                grad = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)[0]
                loss = critic(fake).mean() - critic(real).mean() + lam * ((grad.norm(2, dim=1) - 1) ** 2).mean()
                opt.zero_grad()
                loss.backward(retain_graph=True)
                opt.step()
        """,
        why="higher-order gradients (a gradient penalty) in the same step",
    ),
    Valid(
        """
        import torch

        def train(model, loader, optimizer, criterion):
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward(retain_graph=True, create_graph=True)
                optimizer.step()
        """,
        why="create_graph=True: the gradients themselves are differentiated",
    ),
    Valid(
        """
        import torch

        def fit_heads(encoder, heads, x, ys, optimizers, criterion, steps):
            embedding = encoder(x)
            for step in range(steps):
                for head, y, opt in zip(heads, ys, optimizers):
                    opt.zero_grad()
                    loss = criterion(head(embedding), y)
                    loss.backward(retain_graph=True)
                    opt.step()
        """,
        why="every iteration backpropagates through the embedding computed once before the loop",
    ),
    Valid(
        """
        import torch

        def train(model, batches, criterion, optimizer):
            hidden = model.init_hidden(8)
            for data, targets in batches:
                output, hidden = model(data, hidden)
                loss = criterion(output, targets)
                optimizer.zero_grad()
                loss.backward(retain_graph=True)
                optimizer.step()
        """,
        why="the carried hidden state ties every iteration's graph to the last one (MEM007 reports it)",
    ),
    Valid(
        """
        import torch

        def probe(model, x, y, criterion):
            loss = criterion(model(x), y)
            loss.backward(retain_graph=True)
            return [p.grad.norm().item() for p in model.parameters()]
        """,
        why="called once, not in a loop",
    ),
    Valid(
        """
        import torch

        def train(model, loader, optimizer, criterion, retain):
            for x, y in loader:
                loss = criterion(model(x), y)
                optimizer.zero_grad()
                loss.backward(retain_graph=retain)
                optimizer.step()
        """,
        why="retain_graph is not a literal True: the caller decides",
    ),
    Valid(
        """
        import torch

        class Pix2Pix:
            def backward_d(self):
                self.loss_d = self.gan_loss(self.net_d(self.fake), False) + self.gan_loss(self.net_d(self.real), True)
                self.loss_d.backward(retain_graph=True)

            def backward_g(self):
                self.loss_g = self.gan_loss(self.net_d(self.fake), True)
                self.loss_g.backward()

            def optimize(self, loader):
                for real in loader:
                    self.real = real
                    self.fake = self.net_g(real)
                    self.backward_d()
                    self.backward_g()
        """,
        why="the caller's iteration runs a second backward pass through `self.fake`",
    ),
    Valid(
        """
        import torch

        class Agent:
            def __init__(self, encoder, actor, critic):
                self.encoder, self.actor, self.critic = encoder, actor, critic
                self.state_features = None

            def observe(self, obs):
                self.state_features = self.encoder(obs)

            def update(self, optimizer, steps):
                for _ in range(steps):
                    loss = -self.critic(self.state_features, self.actor(self.state_features)).mean()
                    optimizer.zero_grad()
                    loss.backward(retain_graph=True)
                    optimizer.step()
        """,
        why="the loss goes through `self.state_features`, computed once by another method",
    ),
    Valid(
        """
        import torch
        from torch import nn


        def input_gradient(image, features):
            features[0, :, 4, 4].sum().backward(retain_graph=True)
            found = image.grad.abs().clone()
            image.grad.zero_()
            return found


        image = torch.zeros(1, 1, 9, 9, requires_grad=True)
        layer = nn.Conv2d(1, 1, 3, padding=1)
        features = layer(image)
        maps = [input_gradient(image, features)]
        for _ in range(3):
            features = layer(features) + image
            maps.append(input_gradient(image, features))
        """,
        why="each call backpropagates a graph that the caller's loop keeps extending: the earlier layers are reused",
    ),
]
