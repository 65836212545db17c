"""``memlint.estimate(model, example_batch, ...)``: the same simulation, for a model in this process.

The model is deep-copied into fake tensors (its real weights are neither read nor changed), the
example batch only gives shapes and dtypes, and the step is the usual one: zero_grad, forward,
loss, backward, optimizer step, ``steps`` times.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

MAX_MICRO_STEPS = 64


@dataclass
class EstimateResult:
    """The same fields as ``memlint estimate --output-format json`` (``to_dict()``)."""

    peak_bytes: int
    peak_phase: str | None
    peak_step: int | None
    components: dict[str, int]
    step_peak_bytes: list[int]
    batch_size: int | None
    optimizer: str | None
    lower_bound: bool = False
    stopped_by: str | None = None
    gpu: dict[str, Any] | None = None
    levers: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate(
    model: Any,
    example_batch: Any,
    loss_fn: Callable[..., Any] | None = None,
    optimizer: Any = None,
    steps: int = 2,
    target: Any = None,
    gpu: str | None = None,
    levers: bool = False,
) -> EstimateResult:
    """Simulate ``steps`` training steps of ``model`` on batches shaped like ``example_batch``.

    - ``example_batch``: a tensor (``model(x)``), a tuple/list (``model(*batch)``) or a dict
      (``model(**batch)``); the first dimension of its tensors is the batch dimension.
    - ``loss_fn``: ``loss_fn(output, target)`` when ``target`` is given, else ``loss_fn(output)``;
      default: the sum of the output (or of its first tensor).
    - ``optimizer``: an optimizer instance (rebuilt on the fake copy with its hyper-parameters),
      an optimizer class, a callable taking the parameters, or None (forward and backward only).
    - ``gpu``: a target such as ``"A100-80GB"`` or ``"24GiB"``: adds ``gpu`` with the projection,
      whether it fits and the largest batch size that fits.
    - ``levers``: also simulate autocast, activation checkpointing, foreach and a halved micro-batch.
    """
    from memlint.estimate import gpu_model
    from memlint.estimate.simulate import Variant
    from memlint.measure.tracker import events

    if steps < 1:
        raise ValueError("steps must be at least 1")
    batch = _batch_size(example_batch)
    step = _Step(model, example_batch, loss_fn, optimizer, target, steps)
    baseline = step.run(Variant(), batch)
    result = EstimateResult(
        peak_bytes=baseline.peak_bytes,
        peak_phase=baseline.peak_phase,
        peak_step=baseline.peak_step,
        components=baseline.components,
        step_peak_bytes=baseline.step_peaks,
        batch_size=batch,
        optimizer=baseline.optimizer,
        stopped_by=baseline.stopped_by,
        notes=list(baseline.notes),
    )
    if baseline.stopped_by:
        result.lower_bound = True
        result.notes.insert(0, f"the simulation stopped at {baseline.stopped_by}: the figure is a lower bound")
    target_gpu = gpu_model.resolve_gpu(gpu) if gpu else None
    mode = Variant(pretend_cuda=target_gpu is not None)

    def projection(outcome: Any) -> Any:
        return gpu_model.project(target_gpu, events(outcome.tracker.history, "cuda"))

    if target_gpu is not None and not baseline.stopped_by:
        on_gpu = step.run(mode, batch)
        proj = projection(on_gpu)
        result.gpu = {
            "name": target_gpu.name, "total_bytes": target_gpu.total_bytes, "peak_bytes": proj.peak_bytes,
            "allocated_bytes": proj.allocated_bytes, "reserved_bytes": proj.reserved_bytes, "fits": proj.fits,
            "tight": proj.tight, "max_batch_size": None, "measured_on_a_gpu": False,
        }
        if batch:
            from memlint.estimate.child import search_max_batch

            def fits_at(size: int) -> tuple[bool, int, int]:
                found = projection(step.run(mode, size))
                return found.fits, found.peak_bytes, size

            result.gpu["max_batch_size"] = search_max_batch(fits_at, batch, target_gpu.total_bytes)["max_batch_size"]
    if levers and not baseline.stopped_by:
        for name, change, numerics in (
            ("autocast bf16", {"autocast": "bfloat16"}, True),
            ("autocast fp16", {"autocast": "float16"}, True),
            ("activation checkpointing", {"checkpoint_blocks": True}, False),
            ("foreach optimizer", {"foreach": not baseline.optimizer_foreach}, False),
            ("micro-batch half with gradient accumulation", {"accumulate": 2}, True),
        ):
            size = batch // 2 if change.get("accumulate") and batch else batch
            outcome = step.run(replace(mode, name=name, **change), size)
            peak = outcome.device_peak("cuda") if mode.pretend_cuda else outcome.peak_bytes
            result.levers.append({"name": name, "peak_bytes": peak, "changes_numerics": numerics})
    return result


def _batch_size(batch: Any) -> int | None:
    import torch

    for tensor in _tensors(batch):
        if isinstance(tensor, torch.Tensor) and tensor.dim() > 0:
            return int(tensor.shape[0])
    return None


def _tensors(batch: Any) -> list[Any]:
    if isinstance(batch, dict):
        return list(batch.values())
    if isinstance(batch, (tuple, list)):
        return list(batch)
    return [batch]


class _Step:
    """One configured training step, run under a Simulation at any batch size."""

    def __init__(self, model: Any, batch: Any, loss_fn: Any, optimizer: Any, target: Any, steps: int) -> None:
        self.model, self.batch, self.loss_fn = model, batch, loss_fn
        self.optimizer, self.target, self.steps = optimizer, target, steps

    def run(self, variant: Any, batch_size: int | None) -> Any:
        from torch._subclasses.fake_tensor import FakeCopyMode

        from memlint.estimate.simulate import Simulation

        simulation = Simulation(variant, steps=None, keep_model=True)
        # copied outside the tracker: the real weights it reads are not the simulated step's memory
        with simulation.fake_mode, FakeCopyMode(simulation.fake_mode):
            model = copy.deepcopy(self.model)
        with simulation:
            device = "cuda" if variant.pretend_cuda else None  # the GPU projection counts what sits on it
            if device:
                model = model.to(device)
            for tensor in (*model.parameters(), *model.buffers()):
                simulation._on_parameter(model, "", tensor)
            opt = self._optimizer(model)
            inputs = _shaped_like(self.batch, batch_size, device)
            target = _shaped_like(self.target, batch_size, device) if self.target is not None else None
            micro_steps = 0
            while simulation.steps_done < self.steps and micro_steps < MAX_MICRO_STEPS:
                micro_steps += 1
                if opt is not None:
                    opt.zero_grad(set_to_none=True)
                output = _call(model, inputs)
                loss = self._loss(output, target)
                loss.backward()
                if opt is not None:
                    opt.step()
                else:
                    simulation.steps_done += 1
                    simulation.tracker.next_step()
            del output, loss, inputs, target, opt
        return simulation.outcome()

    def _optimizer(self, model: Any) -> Any:
        import torch

        spec = self.optimizer
        if spec is None:
            return None
        if isinstance(spec, torch.optim.Optimizer):
            mapping = {id(real): fake for real, fake in zip(self.model.parameters(), model.parameters())}
            groups = []
            for group in spec.param_groups:
                params = [mapping[id(p)] for p in group["params"] if id(p) in mapping]
                if params:
                    groups.append({**{k: v for k, v in group.items() if k not in ("params", "initial_lr")}, "params": params})
            import inspect

            accepted = inspect.signature(type(spec).__init__).parameters
            return type(spec)(groups, **{k: v for k, v in spec.defaults.items() if k in accepted and k != "params"})
        return spec(model.parameters())

    def _loss(self, output: Any, target: Any) -> Any:
        if self.loss_fn is not None:
            return self.loss_fn(output, target) if target is not None else self.loss_fn(output)
        first = output
        if isinstance(output, dict):
            first = output.get("loss", next(iter(output.values())))
        elif isinstance(output, (tuple, list)):
            first = output[0]
        return first.float().sum()


def _shaped_like(example: Any, batch_size: int | None, device: str | None = None) -> Any:
    """Fake tensors with the example's shapes and dtypes, the first dimension set to ``batch_size``."""
    import torch

    def one(value: Any) -> Any:
        if not isinstance(value, torch.Tensor):
            return value
        shape = list(value.shape)
        if shape and batch_size is not None:
            shape[0] = batch_size
        return torch.empty(shape, dtype=value.dtype, device=device or value.device)

    if isinstance(example, dict):
        return {k: one(v) for k, v in example.items()}
    if isinstance(example, (tuple, list)):
        return type(example)(one(v) for v in example)
    return one(example)


def _call(model: Any, inputs: Any) -> Any:
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)
