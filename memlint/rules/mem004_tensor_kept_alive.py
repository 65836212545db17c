"""MEM004 tensor-kept-alive: ``empty_cache()`` every step, or while a dead tensor is still bound.

``torch.cuda.empty_cache()`` only hands back cached blocks that no tensor uses. Called every
training step it frees nothing that is referenced and slows each step (huggingface/transformers
#31372, fixed in PR #31530 by making it periodic and opt-in). Called at a phase boundary while a
large intermediate is still bound to a name, it cannot free that tensor either: the name keeps it
alive into the next phase (PyTorch FAQ, "Don't hold onto tensors"); ``del`` it first.
Report only: removing a call or inserting ``del`` is left to the user.
"""

from __future__ import annotations

import re
from typing import Iterator, Sequence

import libcst as cst

from memlint.context import dotted_name
from memlint.legacy_rule import Invalid, Rule, Valid

_EMPTY_CACHE = frozenset(
    {
        "torch.cuda.empty_cache",
        "torch.cuda.memory.empty_cache",
        "torch.xpu.empty_cache",
        "torch.mps.empty_cache",
        "torch.npu.empty_cache",
    }
)
# Framework hooks that run once per batch.
_STEP_HOOKS = frozenset(
    {
        "training_step",
        "train_step",
        "validation_step",
        "val_step",
        "eval_step",
        "evaluation_step",
        "test_step",
        "predict_step",
        "prediction_step",
    }
)
_LOADER = re.compile(r"(?i)(loader|dataloader|batches)$")
_LOADER_ITER = re.compile(r"(?i)(loader|data)_?iter(ator)?$")
_OPTIMIZER = re.compile(r"(?i)(optim|optimizer|opt)$")
_REPORTING_FUNCTION = re.compile(r"(?i)mem|profil|bench|report|measure|track")
_REPORTING_CALLS = frozenset(
    {
        "memory_allocated",
        "max_memory_allocated",
        "memory_reserved",
        "max_memory_reserved",
        "memory_summary",
        "memory_stats",
        "reset_peak_memory_stats",
        "mem_get_info",
    }
)
_MODEL_CALLEE = re.compile(r"(?i)(model|net|encoder|decoder|backbone)$")
_TENSOR_METHODS = frozenset(
    {"to", "cuda", "clone", "detach", "matmul", "mm", "bmm", "float", "half", "contiguous", "expand", "repeat"}
)
_NOT_TENSOR_MODULES = (
    "torch.cuda",
    "torch.backends",
    "torch.utils",
    "torch.optim",
    "torch.nn",
    "torch.distributed",
    "torch.device",
    "torch.manual_seed",
    "torch.compile",
    "torch.jit",
    "torch.set_",
    "torch.get_",
    "torch.is_",
    "torch.no_grad",
    "torch.inference_mode",
    "torch.autocast",
    "torch.amp",
    "torch.profiler",
    "torch.Generator",
)


def _walk(node: cst.CSTNode, skip: tuple[type, ...] = ()) -> Iterator[cst.CSTNode]:
    """Nodes under ``node``, not entering nested scopes (or nodes of the ``skip`` types)."""
    todo = [node]
    while todo:
        current = todo.pop()
        yield current
        if current is not node and isinstance(current, (cst.FunctionDef, cst.ClassDef, cst.Lambda) + skip):
            continue
        todo.extend(current.children)


def _names_in(node: cst.CSTNode) -> set[str]:
    return {n.value for n in _walk(node) if isinstance(n, cst.Name)}


class TensorKeptAlive(Rule):
    code = "MEM004"
    name = "tensor-kept-alive"
    summary = "`empty_cache()` every step, or while the tensor it should free is still referenced"
    fix_availability = "none"
    libraries = frozenset({"torch"})

    VALID = [
        Valid(
            """
            import gc
            import torch


            def search(configs, train_one):
                results = []
                for cfg in configs:
                    model = build(cfg).cuda()
                    results.append(train_one(model, cfg))
                    del model
                    gc.collect()
                    torch.cuda.empty_cache()
                return results
            """,
            why="between trials, after del",
        ),
        Valid(
            """
            import torch


            def train(model, loader, optimizer):
                for x, y in loader:
                    try:
                        loss = model(x.cuda()).loss
                        loss.backward()
                    except torch.cuda.OutOfMemoryError:
                        optimizer.zero_grad(set_to_none=True)
                        torch.cuda.empty_cache()
                        continue
                    optimizer.step()
            """,
            why="OOM retry",
        ),
        Valid(
            """
            import torch


            def report_memory(model, loader):
                for x in loader:
                    model(x.cuda())
                    torch.cuda.empty_cache()
                    print(torch.cuda.max_memory_allocated())
            """,
            why="memory-reporting code",
        ),
        Valid(
            """
            import torch


            def train(model, loader, optimizer, epochs):
                for epoch in range(epochs):
                    for x, y in loader:
                        optimizer.zero_grad()
                        model(x).loss.backward()
                        optimizer.step()
                    torch.cuda.empty_cache()
            """,
            why="once per epoch, between phases",
        ),
        Valid(
            """
            import torch


            def train(model, loader, optimizer, every):
                for step, (x, y) in enumerate(loader):
                    model(x).loss.backward()
                    optimizer.step()
                    if step % every == 0:
                        torch.cuda.empty_cache()
            """,
            why="periodic, not every step",
        ),
        Valid(
            """
            import gc
            import torch


            def two_phases(model, images, head):
                feats = model(images)
                pooled = feats.mean(0)
                del feats
                gc.collect()
                torch.cuda.empty_cache()
                return head(pooled)
            """,
            why="the intermediate is deleted first",
        ),
        Valid(
            """
            import torch


            def encode_then_decode(encoder, decoder, x):
                memory = encoder(x)
                torch.cuda.empty_cache()
                return decoder(memory)
            """,
            why="still needed after the call: nothing to free",
        ),
        Valid(
            """
            import numpy as np
            import torch


            def cluster(paths):
                feats = np.concatenate([np.load(p) for p in paths])
                n = feats.shape[0]
                torch.cuda.empty_cache()
                print(n)
            """,
            why="not a tensor (numpy array)",
        ),
        Valid(
            """
            import torch


            def evaluate(model, loader):
                model.eval()
                for x in loader:
                    out = model(x)
                torch.cuda.empty_cache()
                return out
            """,
            why="after the loop, and the result is used",
        ),
        Valid(
            """
            import torch


            def compare(builders, batch):
                scores = {}
                for name, build in builders.items():
                    model = build().cuda()
                    scores[name] = model(batch).mean().item()
                    del model
                    torch.cuda.empty_cache()
                return scores
            """,
            why="one model per iteration, deleted before the cleanup: a loop over trials",
        ),
        Valid(
            """
            import gc
            import torch


            def sweep(loaders, model_fn):
                for loader in loaders:
                    model = model_fn()
                    for x, y in loader:
                        model(x).loss.backward()
                    gc.collect()
                    torch.cuda.empty_cache()
            """,
            why="after the step loop, with gc.collect()",
        ),
    ]

    INVALID = [
        Invalid(
            """
            import torch


            def train(model, loader, optimizer):
                model.train()
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = model(x.cuda(), y.cuda())
                    loss.backward()
                    optimizer.step()
                    torch.cuda.empty_cache()
            """,
            line=11,
        ),
        Invalid(
            """
            import torch


            @torch.no_grad()
            def evaluate(model, val_loader):
                total = 0.0
                for batch in tqdm(val_loader):
                    total += model(batch).sum().item()
                    torch.cuda.empty_cache()
                return total
            """,
            line=9,
        ),
        Invalid(
            """
            import torch as T


            def fit(net, data, opt, steps):
                it = iter(data)
                while steps:
                    x = next(it)
                    net(x).mean().backward()
                    opt.step()
                    T.cuda.empty_cache()
                    steps -= 1
            """,
            line=10,
        ),
        Invalid(
            """
            import torch
            import lightning as L


            class Model(L.LightningModule):
                def training_step(self, batch, batch_idx):
                    loss = self.net(batch).mean()
                    torch.cuda.empty_cache()
                    return loss
            """,
            line=8,
            why="Lightning calls training_step once per batch",
        ),
        Invalid(
            """
            import gc
            import torch


            def extract_then_train(backbone, head, images, labels):
                features = backbone(images)
                pooled = features.mean(dim=(2, 3))
                gc.collect()
                torch.cuda.empty_cache()
                logits = head(pooled)
                return torch.nn.functional.cross_entropy(logits, labels)
            """,
            line=9,
            why="`features` is dead but still bound",
        ),
        Invalid(
            """
            import torch


            activations = torch.randn(4096, 4096, device="cuda")
            summary = activations.norm(dim=1)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            scores = torch.randn(4096, 4096, device="cuda") @ summary
            print(scores.sum().item())
            """,
            line=7,
        ),
        Invalid(
            """
            import torch


            def run(model, batch, classifier):
                with torch.no_grad():
                    hidden = model(batch)
                    cls = hidden[:, 0].clone()
                torch.cuda.empty_cache()
                return classifier(cls)
            """,
            line=8,
            why="`hidden` was bound inside the `with` block and is still alive after it",
        ),
        Invalid(
            """
            import torch
            from torch.utils.data import DataLoader


            def main(model, dataset, optimizer):
                for images, targets in DataLoader(dataset, batch_size=32):
                    with torch.autocast("cuda"):
                        loss = model(images, targets)
                    loss.backward()
                    optimizer.step()
                    torch.cuda.empty_cache()
            """,
            line=11,
        ),
        Invalid(
            """
            import torch


            def featurize(encoder, clips, project):
                big = encoder(clips).cuda()
                small = big.amax(dim=1)
                torch.cuda.empty_cache()
                out = project(small)
                return out.cpu()
            """,
            line=7,
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "empty_cache":
            return
        if self.ctx.qualname(func) not in _EMPTY_CACHE:
            return
        stack = self.ctx.stack
        function = self.ctx.enclosing_function()
        if function is not None and self._is_reporting(function):
            return
        if any(isinstance(a, cst.ExceptHandler) for a in self._path_in_scope()):
            return
        loops = self.ctx.enclosing_loops()
        if loops:
            self._check_step_loop(node, loops[0])
        elif function is not None and function.name.value in _STEP_HOOKS:
            if not any(isinstance(a, (cst.If, cst.Try)) for a in self._path_in_scope()):
                self.report(
                    node,
                    f"`empty_cache()` in `{function.name.value}` runs every step: it frees nothing still "
                    "referenced and slows training; call it between phases, or periodically",
                )
        else:
            self._check_dead_names(node, function)
        del stack

    # ------------------------------------------------------------------ helpers
    def _path_in_scope(self) -> list[cst.CSTNode]:
        """Ancestors of the current node up to (not including) the enclosing function."""
        path: list[cst.CSTNode] = []
        for ancestor in reversed(self.ctx.stack[:-1]):
            if isinstance(ancestor, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                break
            path.append(ancestor)
        return path

    def _is_reporting(self, function: cst.FunctionDef) -> bool:
        if _REPORTING_FUNCTION.search(function.name.value):
            return True
        for node in _walk(function.body):
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
                if node.func.attr.value in _REPORTING_CALLS:
                    return True
        return False

    # ------------------------------------------------------------------ every step
    def _check_step_loop(self, node: cst.Call, loop: cst.For | cst.While) -> None:
        for ancestor in self._path_in_scope():
            if ancestor is loop:
                break
            if isinstance(ancestor, (cst.If, cst.Try, cst.IfExp)):
                return
        if not self._is_step_loop(loop):
            return
        self.report(
            node,
            "`empty_cache()` every training/evaluation step frees nothing still referenced and slows each "
            "step; call it between phases (after `del`), or periodically",
        )

    def _is_step_loop(self, loop: cst.For | cst.While) -> bool:
        # An inner loop is the step loop, not this one (epochs around batches).
        nodes = list(_walk(loop.body, skip=(cst.For, cst.While)))
        calls = [n for n in nodes if isinstance(n, cst.Call)]
        if isinstance(loop, cst.For) and self._iterates_loader(loop.iter):
            return True
        forward = False
        for inner in calls:
            callee = dotted_name(inner.func) or ""
            if _MODEL_CALLEE.search(callee.rsplit(".", 1)[-1]):
                forward = True
            if callee == "next" and inner.args and _LOADER_ITER.search(dotted_name(inner.args[0].value) or ""):
                return True
            if not isinstance(inner.func, cst.Attribute):
                continue
            attr = inner.func.attr.value
            if attr == "backward":
                return True
            if attr == "next" and _LOADER_ITER.search(dotted_name(inner.func.value) or ""):
                return True  # `batch = loader_iter.next()`
            if attr in ("step", "zero_grad"):
                owner = dotted_name(inner.func.value)
                if owner is not None and _OPTIMIZER.search(owner.rsplit(".", 1)[-1]):
                    return True
        # A forward per iteration makes an evaluation loop, unless the body cleans up like a loop
        # over trials or phases does (`del model`, `gc.collect()`).
        if any(dotted_name(c.func) == "gc.collect" for c in calls):
            return False
        return forward and not any(isinstance(n, cst.Del) for n in nodes)

    def _iterates_loader(self, expr: cst.BaseExpression) -> bool:
        for _ in range(4):
            if isinstance(expr, cst.Call):
                name = self.ctx.qualname(expr.func) or dotted_name(expr.func) or ""
                if name.rsplit(".", 1)[-1] == "DataLoader":
                    return True
                if name.rsplit(".", 1)[-1] in ("enumerate", "tqdm", "iter") and expr.args:
                    expr = expr.args[0].value
                    continue
                return False
            name = dotted_name(expr)
            return name is not None and bool(_LOADER.search(name.rsplit(".", 1)[-1]))
        return False

    # ------------------------------------------------------------------ dead but bound
    def _check_dead_names(self, node: cst.Call, function: cst.FunctionDef | None) -> None:
        """At a phase boundary: tensors bound earlier, never deleted, never used again."""
        body: Sequence[cst.BaseStatement | cst.BaseSmallStatement]
        if function is None:
            body = self.ctx.module.body
        elif isinstance(function.body, cst.IndentedBlock):
            body = function.body.body
        else:
            return
        path = self._path_in_scope()
        top = next((a for a in path if any(a is s for s in body)), None)
        if top is None:
            return
        index = next(i for i, s in enumerate(body) if s is top)
        later = body[index + 1 :]
        if not any(isinstance(n, cst.Call) for s in later for n in _walk(s)):
            return  # no next phase: the names die when the function returns
        bound: dict[str, cst.BaseStatement] = {}
        deleted: set[str] = set()
        for stmt in body[:index]:
            for small in _simple_statements(stmt):
                if isinstance(small, cst.Del):
                    deleted |= _names_in(small.target)
                elif isinstance(small, cst.Assign) and len(small.targets) == 1:
                    target = small.targets[0].target
                    if isinstance(target, cst.Name) and self._makes_tensor(small.value):
                        bound[target.value] = stmt
            if not isinstance(stmt, cst.SimpleStatementLine):
                deleted |= {
                    name for n in _walk(stmt) if isinstance(n, cst.Del) for name in _names_in(n.target)
                }
        if not bound:
            return
        used_later = _names_in(top)
        for stmt in later:
            used_later |= _names_in(stmt)
        if function is not None:
            for n in _walk(function.body):
                if isinstance(n, (cst.Global, cst.Nonlocal)):
                    used_later |= {item.name.value for item in n.names}
        dead = sorted(name for name in bound if name not in deleted and name not in used_later)
        if not dead:
            return
        names = ", ".join(f"`{n}`" for n in dead)
        self.report(
            node,
            f"`empty_cache()` cannot free {names}: still referenced though never used again, so it stays "
            f"alive into the next phase; `del {', '.join(dead)}` first",
        )

    def _makes_tensor(self, value: cst.BaseExpression) -> bool:
        if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.MatrixMultiply):
            return True
        if not isinstance(value, cst.Call):
            return False
        func = value.func
        name = self.ctx.qualname(func)
        if name is not None:
            return name.startswith("torch.") and not name.startswith(_NOT_TENSOR_MODULES)
        if isinstance(func, cst.Attribute) and func.attr.value in _TENSOR_METHODS:
            return True
        callee = dotted_name(func)
        return callee is not None and bool(_MODEL_CALLEE.search(callee.rsplit(".", 1)[-1]))


def _simple_statements(stmt: cst.CSTNode) -> Iterator[cst.BaseSmallStatement]:
    if isinstance(stmt, cst.SimpleStatementLine):
        yield from stmt.body
    elif isinstance(stmt, cst.With):
        # Names bound inside a `with` block stay bound after it.
        for inner in stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else ():
            yield from _simple_statements(inner)
