"""MEM009 checkpoint-loaded-to-gpu: ``torch.load`` without ``map_location`` feeding ``load_state_dict``.

``torch.load`` puts every tensor back on the device it was saved from. A checkpoint saved during GPU
training comes back on the GPU, next to the model it is about to be copied into: while
``load_state_dict`` runs, the weights (or the optimizer state) are on the device twice
(pytorch/pytorch#7415: memory roughly doubles while loading; volcengine/verl#7286: OOM on resume).
``map_location="cpu"`` reads the tensors into host memory; ``load_state_dict`` copies them to the
parameters' device either way (``Optimizer.load_state_dict`` casts its state to the parameters' device).

Trigger: a ``torch.load`` call (any import spelling) with no ``map_location`` (keyword or second
argument) and no ``**kwargs`` that could carry one.

Query: the loaded value reaches a ``load_state_dict`` call of a model or optimizer: directly, through
names bound from it in the same function (``ckpt["model"]``, ``ckpt.get("state_dict", ckpt)``), or
returned by a helper whose caller (in this file or another) passes it on. Silent on scheduler or
scaler states only, on ``weights_only`` loads whose model is moved with ``.to()`` / ``.cuda()``
afterwards, and on code that places weights on devices on purpose (``device_map``).

Fix: ``map_location="cpu"`` (safe when the loaded value only feeds ``load_state_dict``, ``del`` and
key tests; unsafe when other code reads it, or when it is returned to callers).
"""

from __future__ import annotations

import ast
import re

from memlint.analysis.syntax import FunctionNode, dotted, iter_scope, keyword, parent
from memlint.fixes import add_keyword
from memlint.rule import Fix, Invalid, Rule, Valid

LOAD_FUNCTIONS = frozenset({"torch.load", "torch.serialization.load"})
CPU = 'Load onto the CPU with `map_location="cpu"`'
CPU_OTHER_USES = 'Load onto the CPU with `map_location="cpu"` (other code reads the loaded value)'
# Receivers whose state holds no large tensors. Not "generator": a torch.Generator has no load_state_dict,
# so `generator.load_state_dict` is a GAN generator.
_SMALL_STATE = re.compile(r"sched|scaler|lr_|warmup|sampler|rng|metric|logger", re.IGNORECASE)
_MOVES = frozenset({"to", "cuda", "to_empty"})
_GPU_WORDS = re.compile(r"cuda|gpu|device|accelerat|\.to\(", re.IGNORECASE)


class _Uses:
    """Where a loaded value goes: the ``load_state_dict`` receivers it feeds, and whether anything
    else reads it."""

    def __init__(self) -> None:
        self.receivers: list[str] = []
        self.other = False


class CheckpointLoadedToGpu(Rule):
    code = "MEM009"
    name = "checkpoint-loaded-to-gpu"
    summary = "`torch.load` without `map_location` restores a GPU checkpoint onto the GPU before `load_state_dict`"
    fix_availability = "sometimes"
    fix_kinds = {CPU: "safe", CPU_OTHER_USES: "unsafe"}
    libraries = frozenset({"torch"})

    def visit_Call(self, node: ast.Call) -> None:
        file = self.file
        if file.qualname(node.func) not in LOAD_FUNCTIONS:
            return
        if keyword(node, "map_location") is not None or len(node.args) >= 2:
            return
        if any(kw.arg is None for kw in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
            return
        if _cpu_only_script(file):
            return  # a script that never mentions a GPU saved its checkpoints from the CPU
        scope = file.enclosing_function(node) or file.tree
        if "device_map" in {n.id for n in ast.walk(scope) if isinstance(n, ast.Name)} | {
            k.arg for n in ast.walk(scope) if isinstance(n, ast.Call) for k in n.keywords
        }:
            return  # weights placed on devices on purpose
        uses = _Uses()
        returned = self._follow(scope, node, uses)
        if returned and isinstance(scope, FunctionNode):
            for owner, call in file.callers(scope):  # type: ignore[attr-defined]
                caller_scope = owner.enclosing_function(call) or owner.tree
                self._follow(caller_scope, call, uses)
            uses.other = True  # the helper's other callers get the CPU copy too
        state_receivers = [r for r in uses.receivers if not _SMALL_STATE.search(r.rsplit(".", 1)[-1])]
        if not state_receivers:
            return
        weights_only = keyword(node, "weights_only")
        if weights_only is not None and not (isinstance(weights_only.value, ast.Constant) and weights_only.value.value is False):
            if self._moved_after(scope, node, state_receivers):
                return
        receiver = state_receivers[0]
        message = (
            f"`torch.load` without `map_location` restores each tensor to the device it was saved from: a "
            f"checkpoint saved on the GPU lands on the GPU beside `{receiver}` while `{receiver}.load_state_dict` "
            "copies it, so the state is on the device twice; load it with `map_location=\"cpu\"`"
        )
        fix = Fix(
            "unsafe" if uses.other else "safe",
            CPU_OTHER_USES if uses.other else CPU,
            (add_keyword(node, "map_location", '"cpu"'),),
        )
        self.report(node, message, fix)

    # ------------------------------------------------------------------ where the value goes
    def _follow(self, scope: ast.AST, source: ast.AST, uses: _Uses) -> bool:
        """Record where the value of ``source`` (a call) goes in ``scope``; True when it is returned."""
        source = _state_expression(source)
        holder = parent(source)
        if self._state_dict_argument(source, uses):
            return False
        if isinstance(holder, ast.Return):
            return True
        if isinstance(holder, (ast.Assign, ast.AnnAssign)) and holder.value is source:
            targets = holder.targets if isinstance(holder, ast.Assign) else [holder.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if len(names) != len(targets):
                uses.other = True
                return False
            return self._follow_names(scope, holder, set(names), uses, 0)
        uses.other = True
        return False

    def _follow_names(self, scope: ast.AST, after: ast.AST, names: set[str], uses: _Uses, depth: int) -> bool:
        returned = False
        start = (after.lineno, after.col_offset)  # type: ignore[attr-defined]
        for node in iter_scope(scope):
            if not (isinstance(node, ast.Name) and node.id in names and isinstance(node.ctx, ast.Load)):
                continue
            if (node.lineno, node.col_offset) <= start:
                continue
            current = _state_expression(node)
            holder = parent(current)
            if self._state_dict_argument(current, uses):
                continue
            if isinstance(holder, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in holder.ops):
                continue  # `"model" in ckpt`
            if isinstance(holder, ast.Attribute) and holder.attr == "keys":
                continue
            if isinstance(holder, ast.Return):
                returned = True
                continue
            if isinstance(holder, ast.Assign) and holder.value is current and depth < 3:
                derived = {t.id for t in holder.targets if isinstance(t, ast.Name)}
                if derived and len(derived) == len(holder.targets):
                    returned |= self._follow_names(scope, holder, derived, uses, depth + 1)
                    continue
            uses.other = True
        return returned

    def _state_dict_argument(self, expr: ast.AST, uses: _Uses) -> bool:
        holder = parent(expr)
        if isinstance(holder, ast.keyword):
            holder = parent(holder)
        if (
            isinstance(holder, ast.Call)
            and isinstance(holder.func, ast.Attribute)
            and holder.func.attr == "load_state_dict"
            and (expr in holder.args or any(k.value is expr for k in holder.keywords))
        ):
            uses.receivers.append(dotted(holder.func.value) or "the model")
            return True
        return False

    @staticmethod
    def _moved_after(scope: ast.AST, load: ast.Call, receivers: list[str]) -> bool:
        for node in iter_scope(scope):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _MOVES
                and dotted(node.func.value) in receivers
                and node.lineno > load.lineno
            ):
                return True
        return False

    VALID = [
        Valid(
            """
            import torch


            def restore(model, path):
                state = torch.load(path, map_location="cpu")
                model.load_state_dict(state)
            """,
            why="explicit map_location",
        ),
        Valid(
            """
            import torch


            class Updater:
                def __init__(self, optimizer, device):
                    self.optimizer = optimizer
                    self._device = device

                def load_optimizer(self, filename):
                    state = torch.load(filename, map_location=self._device)
                    self.optimizer.load_state_dict(state)
            """,
            why="map_location given as the engine's device (rwth-i6/returnn PR#1346)",
        ),
        Valid(
            """
            import torch


            def restore(model, path, device):
                model.load_state_dict(torch.load(path, device))
            """,
            why="map_location given by position",
        ),
        Valid(
            """
            import torch
            from torch import nn


            def build(path, device):
                model = nn.Linear(512, 10)
                state = torch.load(path, weights_only=True)
                model.load_state_dict(state)
                return model.to(device)
            """,
            why="a weights_only load into a model that is moved to the device afterwards",
        ),
        Valid(
            """
            import torch
            from transformers import AutoModelForCausalLM


            def load(path, adapter, device_map):
                model = AutoModelForCausalLM.from_pretrained(path, device_map=device_map)
                adapter_state = torch.load(adapter)
                model.load_state_dict(adapter_state, strict=False)
                return model
            """,
            why="code that places weights on devices on purpose (device_map)",
        ),
        Valid(
            """
            import torch


            def resume(scheduler, scaler, path):
                scheduler.load_state_dict(torch.load(path + "/scheduler.pt"))
                scaler.load_state_dict(torch.load(path + "/scaler.pt"))
            """,
            why="scheduler and scaler states hold no large tensors",
        ),
        Valid(
            """
            import torch


            def load_features(path):
                features = torch.load(path)
                return features.mean(0)
            """,
            why="not a checkpoint: nothing reaches load_state_dict",
        ),
        Valid(
            """
            import os

            import torch as th


            def load_opt_state(model_path, dense_opts):
                checkpoint = th.load(os.path.join(model_path, "optimizers.bin"), map_location="cpu")
                if "dense" in checkpoint:
                    dense_opts[0].load_state_dict(checkpoint["dense"])
            """,
            why="the fixed version (awslabs/graphstorm#344)",
        ),
        Valid(
            """
            import torch


            def restore(model, path, **load_options):
                model.load_state_dict(torch.load(path, **load_options))
            """,
            why="**kwargs may carry map_location",
        ),
        Valid(
            """
            import torch


            def export(model, path):
                torch.save(model.state_dict(), path)
                return torch.jit.load(path)
            """,
            why="saving, and a TorchScript load, are other things",
        ),
        Valid(
            """
            import sys

            import torch
            from torch import nn

            model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
            model.load_state_dict(torch.load(sys.argv[1]))
            model.eval()
            with torch.no_grad():
                print(model(torch.zeros(1, 784)).argmax().item())
            """,
            why="a script that never names a GPU or a device: its checkpoints come from the CPU",
        ),
    ]

    INVALID = [
        Invalid(
            """
            import os

            import torch


            class CheckpointManager:
                def __init__(self, model, rank, world_size):
                    self.model, self.rank, self.world_size = model, rank, world_size

                def load_checkpoint(self, path):
                    shard = os.path.join(path, f"model_world_size_{self.world_size}_rank_{self.rank}.pt")
                    state = torch.load(shard, weights_only=False)
                    self.model.load_state_dict(state)
            """,
            line=12,
            fixed="""
            import os

            import torch


            class CheckpointManager:
                def __init__(self, model, rank, world_size):
                    self.model, self.rank, self.world_size = model, rank, world_size

                def load_checkpoint(self, path):
                    shard = os.path.join(path, f"model_world_size_{self.world_size}_rank_{self.rank}.pt")
                    state = torch.load(shard, weights_only=False, map_location="cpu")
                    self.model.load_state_dict(state)
            """,
            applicability="safe",
            why="a model shard loaded onto its saved GPU before load_state_dict (volcengine/verl#7286)",
        ),
        Invalid(
            """
            import torch


            def load_optimizer(optimizer, shard_path):
                optim_state = torch.load(shard_path, weights_only=False)
                optimizer.load_state_dict(optim_state)
            """,
            line=5,
            fixed="""
            import torch


            def load_optimizer(optimizer, shard_path):
                optim_state = torch.load(shard_path, weights_only=False, map_location="cpu")
                optimizer.load_state_dict(optim_state)
            """,
            applicability="safe",
            why="optimizer state: Optimizer.load_state_dict casts it to the parameters' device anyway",
        ),
        Invalid(
            """
            import torch


            def load_from_checkpoint(path, build_model):
                loaded = torch.load(str(path))
                model = build_model(**loaded["params"])
                model.load_state_dict(loaded["model"])
                return model
            """,
            line=5,
            fixed="""
            import torch


            def load_from_checkpoint(path, build_model):
                loaded = torch.load(str(path), map_location="cpu")
                model = build_model(**loaded["params"])
                model.load_state_dict(loaded["model"])
                return model
            """,
            applicability="unsafe",
            why="the checkpoint's other entries are read too (lucidrains/imagen-pytorch PR#190)",
        ),
        Invalid(
            """
            import torch


            class Updater:
                def __init__(self, optimizer):
                    self.optimizer = optimizer

                def load_optimizer(self, filename):
                    state = torch.load(filename)
                    self.optimizer.load_state_dict(state)
            """,
            line=9,
            applicability="safe",
            fixed="""
            import torch


            class Updater:
                def __init__(self, optimizer):
                    self.optimizer = optimizer

                def load_optimizer(self, filename):
                    state = torch.load(filename, map_location="cpu")
                    self.optimizer.load_state_dict(state)
            """,
            why="rwth-i6/returnn PR#1346, the optimizer",
        ),
        Invalid(
            """
            import torch


            class Engine:
                def __init__(self, model, device):
                    self.model = model
                    self.device = device

                def load_model(self, filename):
                    checkpoint = torch.load(filename)
                    self.model.load_state_dict(checkpoint["model"])
                    self.epoch = checkpoint["epoch"]
                    self.model.to(self.device)
            """,
            line=10,
            applicability="unsafe",
            fixed="""
            import torch


            class Engine:
                def __init__(self, model, device):
                    self.model = model
                    self.device = device

                def load_model(self, filename):
                    checkpoint = torch.load(filename, map_location="cpu")
                    self.model.load_state_dict(checkpoint["model"])
                    self.epoch = checkpoint["epoch"]
                    self.model.to(self.device)
            """,
            why="rwth-i6/returnn PR#1346, the model; the epoch is read too",
        ),
        Invalid(
            """
            import os

            import torch as th


            def load_opt_state(model_path, dense_opts):
                checkpoint = th.load(os.path.join(model_path, "optimizers.bin"))
                if "dense" in checkpoint:
                    dense_opts[0].load_state_dict(checkpoint["dense"])
            """,
            line=7,
            applicability="safe",
            fixed="""
            import os

            import torch as th


            def load_opt_state(model_path, dense_opts):
                checkpoint = th.load(os.path.join(model_path, "optimizers.bin"), map_location="cpu")
                if "dense" in checkpoint:
                    dense_opts[0].load_state_dict(checkpoint["dense"])
            """,
            why="an import alias and a key test (awslabs/graphstorm#344)",
        ),
        Invalid(
            """
            import torch
            from torchvision.models import resnet50


            def main(args):
                model = resnet50().cuda()
                model.load_state_dict(torch.load(args.weights))
                model.eval()
                return model
            """,
            line=7,
            applicability="safe",
            fixed="""
            import torch
            from torchvision.models import resnet50


            def main(args):
                model = resnet50().cuda()
                model.load_state_dict(torch.load(args.weights, map_location="cpu"))
                model.eval()
                return model
            """,
            why="the load inline in load_state_dict",
        ),
        Invalid(
            """
            import torch


            def restore(model, optimizer, path):
                checkpoint = torch.load(path)
                state_dict = checkpoint.get("state_dict", checkpoint)
                model.load_state_dict(state_dict)
                optimizer.load_state_dict(checkpoint["optimizer"])
                del checkpoint
            """,
            line=5,
            applicability="safe",
            fixed="""
            import torch


            def restore(model, optimizer, path):
                checkpoint = torch.load(path, map_location="cpu")
                state_dict = checkpoint.get("state_dict", checkpoint)
                model.load_state_dict(state_dict)
                optimizer.load_state_dict(checkpoint["optimizer"])
                del checkpoint
            """,
            why="through a name bound from the checkpoint",
        ),
        Invalid(
            {
                "utils.py": """
                    import torch


                    def load_checkpoint(path):
                        return torch.load(path)
                """,
                "train.py": """
                    from utils import load_checkpoint


                    def resume(model, path):
                        state = load_checkpoint(path)
                        model.load_state_dict(state["model"])
                """,
            },
            path="utils.py",
            line=5,
            applicability="unsafe",
            fixed="""
            import torch


            def load_checkpoint(path):
                return torch.load(path, map_location="cpu")
            """,
            why="a helper in another file returns it; its callers pass it to load_state_dict",
        ),
        Invalid(
            """
            import torch


            class Trainer:
                def resume(self, path):
                    ckpt = torch.load(path, mmap=True)
                    self.model.load_state_dict(ckpt["model"])
                    self.ema.load_state_dict(ckpt["ema"])
                    self.optimizer.load_state_dict(ckpt["optimizer"])
                    self.scheduler.load_state_dict(ckpt["scheduler"])
            """,
            line=6,
            applicability="safe",
            fixed="""
            import torch


            class Trainer:
                def resume(self, path):
                    ckpt = torch.load(path, mmap=True, map_location="cpu")
                    self.model.load_state_dict(ckpt["model"])
                    self.ema.load_state_dict(ckpt["ema"])
                    self.optimizer.load_state_dict(ckpt["optimizer"])
                    self.scheduler.load_state_dict(ckpt["scheduler"])
            """,
            why="mmap=True maps CPU storages only: CUDA tensors still come back on the GPU",
        ),
        Invalid(
            """
            import sys

            import torch
            from torch import nn

            model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)).cuda()
            model.load_state_dict(torch.load(sys.argv[1]))
            model.eval()
            with torch.no_grad():
                print(model(torch.zeros(1, 784, device="cuda")).argmax().item())
            """,
            line=7,
            applicability="safe",
            fixed="""
            import sys

            import torch
            from torch import nn

            model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)).cuda()
            model.load_state_dict(torch.load(sys.argv[1], map_location="cpu"))
            model.eval()
            with torch.no_grad():
                print(model(torch.zeros(1, 784, device="cuda")).argmax().item())
            """,
            why="the same script on the GPU: the checkpoint it loads was saved from CUDA tensors",
        ),
        Invalid(
            """
            import torch


            def resume(generator, epoch):
                generator.load_state_dict(torch.load(f"saved_models/generator_{epoch}.pth"))
            """,
            line=5,
            applicability="safe",
            fixed="""
            import torch


            def resume(generator, epoch):
                generator.load_state_dict(torch.load(f"saved_models/generator_{epoch}.pth", map_location="cpu"))
            """,
            why="a GAN generator is a model (eriklindernoren/PyTorch-GAN resumes this way)",
        ),
    ]


def _cpu_only_script(file) -> bool:  # type: ignore[no-untyped-def]
    """A script (or notebook) that runs code at module level and never names a GPU or a device."""
    if _GPU_WORDS.search(file.text):
        return False
    return any(
        isinstance(stmt, (ast.Expr, ast.For, ast.While, ast.With, ast.If)) and not (
            isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        )
        for stmt in file.tree.body
    )


def _state_expression(node: ast.AST) -> ast.AST:
    """The largest expression around ``node`` that is still (part of) the loaded state:
    ``x["model"]``, ``x.get("state_dict", x)``, ``x.pop("ema")``, ``x.copy()``."""
    current = node
    while True:
        holder = parent(current)
        if isinstance(holder, ast.Subscript) and holder.value is current:
            current = holder
            continue
        if isinstance(holder, ast.Attribute) and holder.attr in ("get", "pop", "copy"):
            call = parent(holder)
            if isinstance(call, ast.Call) and call.func is holder:
                current = call
                continue
        if (
            isinstance(holder, ast.Call)
            and isinstance(holder.func, ast.Attribute)
            and holder.func.attr in ("get", "pop")
            and current in holder.args[1:]
        ):
            current = holder  # the default of `ckpt.get("state_dict", ckpt)`
            continue
        return current
