"""Run training steps under fake tensors and count their memory: the engine of ``memlint estimate``.

A ``Simulation`` is a context manager. Inside it every tensor is a ``FakeTensor`` (shapes,
dtypes and aliasing, no data, nothing allocated) and a ``TensorMemoryTracker`` counts live
storage bytes. Hooks mark the phases of each step (forward, backward, optimizer) and label
storages (parameters, gradients, optimizer state, activations saved for backward); after
``steps`` optimizer steps the run is stopped with ``StopSimulation``.

What cannot work on fake tensors is answered or stopped, never guessed silently:
- values read into Python (``.item()``, ``.tolist()``, ``.numpy()``) become placeholders
  (1, 1.0, False, zeros) and are counted in the notes;
- an op with no fake kernel or a data-dependent output shape raises ``SimulationLimit``
  naming the op, and the caller falls back to a marked lower bound;
- ``torch.save`` and files opened for writing go nowhere the user can see (a scratch folder).

A ``Variant`` changes one thing (a lever): autocast, activation checkpointing, zero_grad
``set_to_none``, a foreach or for-loop optimizer, a batch size, gradient accumulation, or
"pretend CUDA" (the kernels and defaults the script would get on a GPU, with CUDA tensors
simulated on the CPU and recorded as logical ``cuda`` storages).

Runs in the estimating process (the API) or in the child process (the command): standard
library and torch only.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode

from memlint.measure.tracker import TensorMemoryTracker, breakdown_at, peak_in, timeline


class StopSimulation(BaseException):
    """Ends the user's code after the requested optimizer steps (BaseException: `except Exception` won't eat it)."""


class SimulationLimit(BaseException):
    """The simulation cannot go on: an op without a fake kernel, or a data-dependent shape."""

    def __init__(self, op: str, detail: str) -> None:
        super().__init__(f"{op}: {detail}")
        self.op = op
        self.detail = detail


@dataclass(frozen=True)
class Variant:
    """One way to run the step. The default is the script as written, on this machine."""

    name: str = "as written"
    pretend_cuda: bool = False
    batch_size: int | None = None  # simulate this batch size instead of the detected one
    autocast: str | None = None  # "bfloat16" / "float16" around the model's forward and the loss
    checkpoint_blocks: bool = False
    set_to_none: bool = False  # force zero_grad(set_to_none=True)
    foreach: bool | None = None  # force the optimizer's foreach flag
    accumulate: int = 1  # micro-batches per optimizer step


@dataclass
class Outcome:
    """What one simulated run found. ``records`` stay in memory for the GPU model and plots."""

    variant: Variant
    peak_bytes: int = 0
    peak_phase: str = "setup"
    peak_step: int = 1
    components: dict[str, int] = field(default_factory=dict)
    step_peaks: list[int] = field(default_factory=list)
    steps_done: int = 0
    batch_size: int | None = None
    optimizer: str | None = None
    optimizer_foreach: bool | None = None
    autocast_seen: bool = False
    stopped_by: str | None = None
    error: str | None = None  # the script's own failure (traceback tail)
    placeholders: int = 0
    notes: list[str] = field(default_factory=list)
    tracker: TensorMemoryTracker | None = None
    eval_forward: dict[str, int] | None = None

    @property
    def complete(self) -> bool:
        return self.stopped_by is None and self.error is None and self.steps_done > 0

    def device_peak(self, device: str | None) -> int:
        assert self.tracker is not None
        return peak_in(self.tracker.history, device)[0]

    def timeline(self, device: str | None = None) -> list[tuple[int, int]]:
        assert self.tracker is not None
        return timeline(self.tracker.history, device)

    def phase_spans(self) -> list[tuple[int, int, str, int]]:
        """(first seq, end seq, phase, step) for the plot's shading."""
        assert self.tracker is not None
        log = self.tracker.phase_log
        spans = []
        for i, (seq, phase, step) in enumerate(log):
            end = log[i + 1][0] if i + 1 < len(log) else self.tracker.seq
            if end > seq:
                spans.append((seq, end, phase, step))
        return spans


# Ops that read tensor values into Python; under fake tensors they get a placeholder.
_VALUE_OPS = {"aten._local_scalar_dense.default", "aten.equal.default", "aten.is_nonzero.default"}
# Fresh data that can carry the batch dimension when it is made outside the model.
_DATA_SOURCE_OPS = {
    "aten.randn.default", "aten.rand.default", "aten.randint.default", "aten.randint.low",
    "aten.zeros.default", "aten.ones.default", "aten.empty.memory_format", "aten.full.default",
    "aten.lift_fresh.default", "aten.lift_fresh_copy.default", "aten.normal.float_float",
}
_COLLATE_OPS = {"aten.stack.default", "aten.cat.default"}
_FAKE_LIMITS = (
    "DynamicOutputShapeException", "DataDependentOutputException", "UnsupportedOperatorException",
    "UnsupportedFakeTensorException", "MetadataMismatchError",
)


def placeholder_value(dtype: torch.dtype) -> Any:
    """A value for a tensor read into Python: False for bools, 1 for integers, 1.0 otherwise."""
    if dtype == torch.bool:
        return False
    if not dtype.is_floating_point and not dtype.is_complex:
        return 1
    return 1.0


class Simulation:
    """Patches torch for one simulated run; ``with Simulation(...) as sim:`` then ``sim.outcome()``."""

    def __init__(
        self,
        variant: Variant = Variant(),
        steps: int | None = 2,
        original_batch: int | None = None,
        scratch_dir: str | None = None,
        keep_model: bool = False,
        fake: bool = True,
    ) -> None:
        self.variant = variant
        self.fake = fake  # False: the real step, tracked the same way (the accuracy benchmark's reference)
        self.keep_model = keep_model
        self.model: Any = None  # the model itself, kept after the run when keep_model (for evaluation_forward)
        self.steps = steps
        self.original_batch = original_batch
        self.scratch_dir = scratch_dir
        self.map_cuda = fake and not torch.cuda.is_available()
        self.fake_mode = FakeTensorMode(allow_non_fake_inputs=True)
        self.tracker = TensorMemoryTracker(
            keep_history=True, map_cuda_to=torch.device("cpu") if self.map_cuda else None
        )
        self.tracker.on_error = self._on_op_error
        self.tracker.rewrite_output = self._rewrite_output if fake else None
        self.steps_done = 0
        self.micro_steps = 0
        self.depth = 0
        self.in_dataloader = 0
        self.optimizer_made = False
        self.skip_next_zero_grad = False
        self.detected_batch: int | None = None
        self.root: Any = None  # weakref to the model (the first module called at depth 0 with parameters)
        self.root_input_shapes: list[tuple[torch.Size, torch.dtype]] | None = None
        self.optimizer_name: str | None = None
        self.optimizer_foreach: bool | None = None
        self.autocast_seen = False
        self.placeholders = 0
        self.notes: list[str] = []
        self._params: list[weakref.ref] = []
        self._optimizers: list[weakref.ref] = []
        self._checkpointed: weakref.WeakSet = weakref.WeakSet()
        self._autocast: Any = None
        self._stack = contextlib.ExitStack()
        self._scratch_names: dict[str, str] = {}
        self.stopped_by: str | None = None
        self.parameters_at_stop: list[tuple[int, bool]] = []  # (bytes, trainable) when a SimulationLimit hit

    # --- entering and leaving ------------------------------------------------------------------

    def __enter__(self) -> "Simulation":
        stack = self._stack
        try:
            self._install_patches(stack)
            if self.fake:
                stack.enter_context(self.fake_mode)
            stack.enter_context(self.tracker)
            stack.enter_context(torch.autograd.graph.saved_tensors_hooks(self._pack_saved, _unpack_saved))
        except BaseException:
            stack.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> bool:
        self._leave_autocast()
        self._stack.close()
        if exc[0] is not None and issubclass(exc[0], StopSimulation):
            return True
        if exc[0] is not None and issubclass(exc[0], SimulationLimit):
            self.stopped_by = str(exc[1])
            # the script's frames (kept by the traceback) still hold its model: note its parameters now
            self.parameters_at_stop = [
                (p.numel() * p.element_size(), bool(p.requires_grad)) for p in self.known_parameters()
            ]
            return True
        return False

    def _install_patches(self, stack: contextlib.ExitStack) -> None:
        from torch.nn.modules import module as nn_module
        from torch.optim import optimizer as optim_module
        from torch.utils.data import dataloader

        def patch(owner: Any, name: str, value: Any) -> None:
            original = getattr(owner, name)
            setattr(owner, name, value)
            stack.callback(setattr, owner, name, original)

        # labels and phases
        for register in (
            nn_module.register_module_parameter_registration_hook,
            nn_module.register_module_buffer_registration_hook,
        ):
            stack.callback(register(self._on_parameter).remove)
        stack.callback(nn_module.register_module_forward_pre_hook(self._on_forward_pre).remove)
        stack.callback(nn_module.register_module_forward_hook(self._on_forward_post).remove)
        stack.callback(optim_module.register_optimizer_step_pre_hook(self._on_step_pre).remove)
        stack.callback(optim_module.register_optimizer_step_post_hook(self._on_step_post).remove)

        backward, grad = torch.autograd.backward, torch.autograd.grad
        patch(torch.autograd, "backward", self._phase_wrapper(backward))
        patch(torch.autograd, "grad", self._phase_wrapper(grad))

        original_init = optim_module.Optimizer.__init__
        simulation = self

        def optimizer_init(opt: Any, *args: Any, **kwargs: Any) -> None:
            original_init(opt, *args, **kwargs)
            simulation._on_optimizer(opt)

        patch(optim_module.Optimizer, "__init__", optimizer_init)
        patch(optim_module.Optimizer, "zero_grad", self._zero_grad_wrapper(optim_module.Optimizer.zero_grad))
        patch(torch.nn.Module, "zero_grad", self._zero_grad_wrapper(torch.nn.Module.zero_grad))

        # data: no worker processes (fake tensors cannot cross processes), no pinning
        original_loader_init = dataloader.DataLoader.__init__

        def loader_init(loader: Any, *args: Any, **kwargs: Any) -> None:
            if kwargs.get("num_workers"):
                kwargs["num_workers"] = 0
                kwargs.pop("prefetch_factor", None)
                kwargs.pop("persistent_workers", None)
            kwargs["pin_memory"] = False
            original_loader_init(loader, *args, **kwargs)

        patch(dataloader.DataLoader, "__init__", loader_init)
        original_next = dataloader._BaseDataLoaderIter.__next__

        def loader_next(iterator: Any) -> Any:
            simulation.in_dataloader += 1
            try:
                return original_next(iterator)
            finally:
                simulation.in_dataloader -= 1

        patch(dataloader._BaseDataLoaderIter, "__next__", loader_next)

        if not self.fake:
            return
        # fake tensors that meet torch's Python-level corners
        patch(torch.Tensor, "__deepcopy__", _deepcopy_keeping_fake_mode(torch.Tensor.__deepcopy__))
        patch(torch.utils, "swap_tensors", _swap_or_set_data(torch.utils.swap_tensors))
        for owner in (torch.Tensor, FakeTensor):  # FakeTensor has its own tolist (an .item() per element)
            if "tolist" in vars(owner):
                patch(owner, "tolist", self._values_wrapper(owner.tolist, _placeholder_list))
            if "numpy" in vars(owner):
                patch(owner, "numpy", self._values_wrapper(owner.numpy, _placeholder_array))
        patch(torch, "save", self._no_save)
        patch(torch, "compile", _compile_passthrough)
        from torch.amp import grad_scaler

        patch(grad_scaler.GradScaler, "_maybe_opt_step", _always_step)

        if self.scratch_dir is not None:
            patch(builtins, "open", self._open_wrapper(builtins.open))
            patch(io, "open", self._open_wrapper(io.open))
            patch(os, "makedirs", _no_makedirs)

        if self.map_cuda:
            self._install_cuda_mapping(patch)

    def _install_cuda_mapping(self, patch: Callable[[Any, str, Any], None]) -> None:
        """CUDA requests become CPU tensors recorded as logical ``cuda`` (a CPU-only torch build)."""
        import torch.cuda

        patch(torch.cuda, "_lazy_init", lambda: None)
        original_to = torch.Tensor.to

        def to(tensor: Any, *args: Any, **kwargs: Any) -> Any:
            args = tuple(_indexed_device(a) for a in args)
            if "device" in kwargs:
                kwargs["device"] = _indexed_device(kwargs["device"])
            return original_to(tensor, *args, **kwargs)

        def cuda(tensor: Any, device: Any = None, non_blocking: bool = False, **kwargs: Any) -> Any:
            index = device if isinstance(device, int) else (_indexed_device(device).index if device else 0)
            return original_to(tensor, torch.device("cuda", index), non_blocking=non_blocking, **kwargs)

        patch(torch.Tensor, "to", to)
        patch(torch.Tensor, "cuda", cuda)
        patch(torch.Tensor, "pin_memory", lambda tensor, *a, **k: tensor)
        from torch.amp import autocast_mode

        original_autocast_init = autocast_mode.autocast.__init__

        def autocast_init(ctx: Any, device_type: str, dtype: Any = None, *args: Any, **kwargs: Any) -> None:
            if device_type == "cuda":
                device_type, dtype = "cpu", dtype or torch.float16
            original_autocast_init(ctx, device_type, dtype, *args, **kwargs)

        patch(autocast_mode.autocast, "__init__", autocast_init)
        if self.variant.pretend_cuda:
            tracker = self.tracker
            for name, value in {
                "is_available": lambda: True,
                "device_count": lambda: 1,
                "current_device": lambda: 0,
                "is_bf16_supported": lambda *a, **k: True,
                "get_device_name": lambda *a, **k: "simulated GPU",
                "get_device_capability": lambda *a, **k: (8, 0),
                "memory_allocated": lambda *a, **k: tracker.current_by_device.get("cuda", 0),
                "max_memory_allocated": lambda *a, **k: tracker.peak_by_device.get("cuda", 0),
            }.items():
                patch(torch.cuda, name, value)
        for name in (
            "synchronize", "empty_cache", "manual_seed", "manual_seed_all", "set_device",
            "reset_peak_memory_stats", "reset_accumulated_memory_stats", "ipc_collect",
        ):
            if hasattr(torch.cuda, name):
                patch(torch.cuda, name, lambda *a, **k: None)

    # --- hooks ---------------------------------------------------------------------------------

    def _on_parameter(self, module: Any, name: str, tensor: Any) -> None:
        if isinstance(tensor, torch.Tensor):
            self.tracker.label(tensor, "parameters")
            self._params.append(weakref.ref(tensor))

    def _pack_saved(self, tensor: torch.Tensor) -> torch.Tensor:
        self.tracker.label(tensor, "activations")
        return tensor

    def _on_forward_pre(self, module: Any, args: Any) -> None:
        depth = self.depth
        self.depth += 1
        if depth:
            return
        if not any(True for _ in module.parameters()):
            return  # a loss module or a parameter-free wrapper: not the model
        root = self.root() if self.root is not None else None
        if root is None:
            self.root = weakref.ref(module)
            root = module
            if self.keep_model:
                self.model = module
        if module is not root:
            return
        if self.tracker.phase in ("setup", "optimizer", "backward"):
            self.tracker.set_phase("forward")
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if self.detected_batch is None and tensors and tensors[0].dim() > 0:
            self.detected_batch = int(tensors[0].shape[0])
            self.root_input_shapes = [(t.shape, t.dtype) for t in tensors]
        if self.variant.checkpoint_blocks and module not in self._checkpointed:
            self._checkpointed.add(module)
            checkpoint_blocks(module)
        if self.variant.autocast and torch.is_grad_enabled():
            self._leave_autocast()
            device_type = "cpu" if self.map_cuda else "cuda"
            self._autocast = torch.autocast(device_type, dtype=getattr(torch, self.variant.autocast))
            self._autocast.__enter__()
        if torch.is_autocast_enabled("cpu") or torch.is_autocast_enabled("cuda"):
            self.autocast_seen = True

    def _on_forward_post(self, module: Any, args: Any, output: Any) -> None:
        self.depth = max(self.depth - 1, 0)

    def _leave_autocast(self) -> None:
        if self._autocast is not None:
            ctx, self._autocast = self._autocast, None
            ctx.__exit__(None, None, None)

    def _phase_wrapper(self, function: Callable[..., Any]) -> Callable[..., Any]:
        simulation = self

        def in_backward(*args: Any, **kwargs: Any) -> Any:
            simulation._leave_autocast()
            simulation.depth = 0  # a forward that raised never ran its post hook
            outer = simulation.tracker.phase
            simulation.tracker.set_phase("backward")
            try:
                return function(*args, **kwargs)
            finally:
                simulation._label_gradients()
                simulation.tracker.set_phase("forward" if outer == "backward" else outer)

        in_backward.__wrapped__ = function  # type: ignore[attr-defined]
        return in_backward

    def _label_gradients(self) -> None:
        for ref in self._params:
            param = ref()
            if param is not None and param.grad is not None:
                self.tracker.label(param.grad, "gradients")

    def _on_optimizer(self, opt: Any) -> None:
        self.optimizer_made = True
        self._optimizers.append(weakref.ref(opt))
        self.optimizer_name = type(opt).__name__
        groups = opt.param_groups
        for group in groups:
            for param in group["params"]:
                self.tracker.label(param, "parameters")
        supports_foreach = "foreach" in opt.defaults
        if supports_foreach:
            wanted = self.variant.foreach
            if wanted is None and self.variant.pretend_cuda and opt.defaults.get("foreach") is None:
                # CUDA's default: foreach kernels when every parameter is on the GPU (and not fused)
                if not opt.defaults.get("fused") and not opt.defaults.get("differentiable"):
                    wanted = True
            if wanted is not None:
                opt.defaults["foreach"] = wanted
                for group in groups:
                    group["foreach"] = wanted
                    if wanted and group.get("fused"):
                        group["fused"] = False
            value = groups[0].get("foreach") if groups else None
            self.optimizer_foreach = bool(value) if value is not None else (
                False if self.map_cuda and not self.variant.pretend_cuda else None
            )
        if self.variant.accumulate > 1:
            _accumulate_steps(opt, self)

    def _on_step_pre(self, opt: Any, args: Any, kwargs: Any) -> None:
        self.depth = 0
        self.tracker.set_phase("optimizer")
        for group in opt.param_groups:
            for param in group["params"]:
                self.tracker.label(param, "parameters")
                if param.grad is not None:
                    self.tracker.label(param.grad, "gradients")

    def _on_step_post(self, opt: Any, args: Any, kwargs: Any) -> None:
        for state in opt.state.values():
            for value in state.values():
                if isinstance(value, torch.Tensor):
                    self.tracker.label(value, "optimizer_state")
        self.steps_done += 1
        self.tracker.set_phase("forward")
        self.tracker.next_step()
        if self.steps is not None and self.steps_done >= self.steps:
            raise StopSimulation()

    def _zero_grad_wrapper(self, function: Callable[..., Any]) -> Callable[..., Any]:
        simulation = self

        def zero_grad(owner: Any, *args: Any, **kwargs: Any) -> Any:
            if simulation.skip_next_zero_grad:
                simulation.skip_next_zero_grad = False
                return None
            if simulation.variant.set_to_none:
                args, kwargs = (), {"set_to_none": True}
            return function(owner, *args, **kwargs)

        return zero_grad

    # --- ops that fake tensors cannot answer ---------------------------------------------------

    def _on_op_error(self, func: Any, args: Any, kwargs: dict, exc: BaseException) -> Any:
        name = str(func)
        if name in _VALUE_OPS and type(exc).__name__ in ("DataDependentOutputException", "DynamicOutputShapeException"):
            self.placeholders += 1
            tensor = args[0] if args and isinstance(args[0], torch.Tensor) else None
            if name == "aten._local_scalar_dense.default" and tensor is not None:
                return placeholder_value(tensor.dtype)
            return False if name != "aten.equal.default" else True
        if type(exc).__name__ in _FAKE_LIMITS or "fake" in str(exc).lower() and "kernel" in str(exc).lower():
            raise SimulationLimit(name, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        raise exc

    def _values_wrapper(self, function: Callable[..., Any], placeholder: Callable[[torch.Tensor], Any]) -> Callable:
        simulation = self

        def values(tensor: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(tensor, FakeTensor):
                simulation.placeholders += 1
                return placeholder(tensor)
            return function(tensor, *args, **kwargs)

        return values

    def _no_save(self, *args: Any, **kwargs: Any) -> None:
        if "torch.save writes nothing in a simulation" not in self.notes:
            self.notes.append("torch.save writes nothing in a simulation")

    def _open_wrapper(self, original_open: Callable[..., Any]) -> Callable[..., Any]:
        """Files opened for writing go to the scratch folder, under a name the folder's owner records."""
        simulation = self

        def open_for_simulation(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, int) or not any(flag in mode for flag in "wax+"):
                path = simulation._scratch_names.get(os.path.abspath(os.fspath(file))) if not isinstance(file, int) else None
                return original_open(path or file, mode, *args, **kwargs)
            key = os.path.abspath(os.fspath(file))
            target = simulation._scratch_names.get(key)
            if target is None:
                target = os.path.join(simulation.scratch_dir, f"written-{len(simulation._scratch_names)}")
                simulation._scratch_names[key] = target
                _record_scratch_file(simulation.scratch_dir, os.path.basename(target))
            return original_open(target, mode, *args, **kwargs)

        return open_for_simulation

    # --- the batch dimension -------------------------------------------------------------------

    def _rewrite_output(self, func: Any, args: Any, kwargs: dict, out: Any) -> Any:
        name = str(func)
        fixup = _KERNEL_FIXUPS.get(name)
        if fixup is not None:
            out = fixup(func, args, kwargs, out)
        if self.variant.batch_size:
            out = self._rewrite_batch(name, out)
        return out

    def _rewrite_batch(self, name: str, out: Any) -> Any:
        """Data made outside the model with the original batch as its first dimension gets the new batch."""
        if not self.optimizer_made or self.depth or self.tracker.phase in ("backward", "optimizer"):
            return out
        if name not in _DATA_SOURCE_OPS and not (self.in_dataloader and name in _COLLATE_OPS):
            return out
        if not isinstance(out, torch.Tensor) or out.dim() == 0 or out.shape[0] != self.original_batch:
            return out
        new_shape = (self.variant.batch_size, *out.shape[1:])
        return torch.empty(new_shape, dtype=out.dtype, device=out.device, requires_grad=out.requires_grad)

    # --- results -------------------------------------------------------------------------------

    def outcome(self, error: str | None = None) -> Outcome:
        tracker = self.tracker
        history = tracker.history
        peak, peak_seq = peak_in(history)
        phase, step = tracker.phase_at(peak_seq)
        step_peaks = []
        for _, start, end in tracker.step_windows():
            if end > start:
                step_peaks.append(peak_in(history, None, start, end)[0])
        notes = list(self.notes)
        if self.placeholders:
            notes.append(
                f"{self.placeholders} value(s) read from tensors (.item(), .tolist(), .numpy()) were placeholders "
                "(1, 1.0, False, zeros): fake tensors hold no data"
            )
        return Outcome(
            variant=self.variant,
            peak_bytes=peak,
            peak_phase=phase,
            peak_step=step,
            components=breakdown_at(history, peak_seq),
            step_peaks=step_peaks[: self.steps_done] if self.steps_done else step_peaks,
            steps_done=self.steps_done,
            batch_size=self.detected_batch,
            optimizer=self.optimizer_name,
            optimizer_foreach=self.optimizer_foreach,
            autocast_seen=self.autocast_seen,
            stopped_by=self.stopped_by,
            error=error,
            placeholders=self.placeholders,
            notes=notes,
            tracker=tracker,
        )

    def known_parameters(self) -> list[torch.Tensor]:
        seen: dict[int, torch.Tensor] = {}
        for ref in self._params:
            param = ref()
            if param is not None:
                seen[id(param)] = param
        return list(seen.values())


# --- levers that act on the model ----------------------------------------------------------------


def find_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's repeated blocks: the ModuleList/Sequential (two or more children) with most parameters."""
    best: tuple[int, torch.nn.Module] | None = None
    for module in model.modules():
        if isinstance(module, (torch.nn.ModuleList, torch.nn.Sequential)) and len(module) >= 2:
            size = sum(p.numel() for p in module.parameters())
            if size and (best is None or size > best[0]):
                best = (size, module)
    return list(best[1]) if best else []


def checkpoint_blocks(model: torch.nn.Module) -> int:
    """Wrap each block's forward in non-reentrant activation checkpointing; returns how many."""
    from torch.utils.checkpoint import checkpoint

    blocks = [b for b in find_blocks(model) if any(True for _ in b.parameters())]
    for block in blocks:
        forward = block.forward

        def checkpointed(*args: Any, _forward: Callable[..., Any] = forward, **kwargs: Any) -> Any:
            if not torch.is_grad_enabled():
                return _forward(*args, **kwargs)
            return checkpoint(_forward, *args, use_reentrant=False, **kwargs)

        block.forward = checkpointed  # type: ignore[method-assign]
    return len(blocks)


def _accumulate_steps(opt: Any, simulation: Simulation) -> None:
    """Gradient accumulation: only every n-th step() call steps; the zero_grad after a skipped one is skipped."""
    step = opt.step
    count = {"calls": 0}

    def accumulating_step(*args: Any, **kwargs: Any) -> Any:
        count["calls"] += 1
        if count["calls"] % simulation.variant.accumulate:
            simulation.skip_next_zero_grad = True
            simulation.tracker.set_phase("forward")
            return None
        return step(*args, **kwargs)

    opt.step = accumulating_step


def evaluation_forward(simulation: Simulation) -> dict[str, int] | None:
    """The model's forward on the detected batch, with autograd recording and under torch.no_grad.

    Returns the bytes each adds above what is live before it (the parameters and so on), or None
    when the model or its input shapes are unknown.
    """
    model = simulation.model
    shapes = simulation.root_input_shapes
    if model is None or not shapes:
        return None
    results: dict[str, int] = {}
    with simulation.fake_mode, simulation.tracker:
        for label, grad in (("with_grad", True), ("no_grad", False)):
            tracker = simulation.tracker
            inputs = [torch.empty(shape, dtype=dtype) for shape, dtype in shapes]
            base = tracker.current
            tracker.peak = tracker.current
            with torch.set_grad_enabled(grad):
                try:
                    output = model(*inputs)
                except BaseException:  # a model whose forward needs more than its tensors
                    return None
                held = tracker.current - base
            del output, inputs
            results[label] = max(tracker.peak - base, held)
    return results


# --- fused CPU kernels whose fake kernels do not know their buffers ------------------------------------

_workspace_sizes: dict[tuple, torch.Size | None] = {}


def _mkldnn_rnn_workspace(func: Any, args: Any, kwargs: dict, out: Any) -> Any:
    """oneDNN's LSTM/GRU layer keeps a workspace for backward; its fake kernel returns 0 bytes.

    The size depends only on shapes and flags, so it is measured once per signature by running
    the real kernel on zeros of the same shapes (a transient real allocation), then faked.
    """
    from torch._subclasses.fake_tensor import unset_fake_temporarily

    key = tuple(
        (tuple(a.shape), a.dtype) if isinstance(a, torch.Tensor) else (tuple(a) if isinstance(a, list) else a)
        for a in args
    ) + tuple(sorted(kwargs.items())) + (torch.is_grad_enabled(),)
    if key not in _workspace_sizes:
        with unset_fake_temporarily():  # the grad mode stays: without grad there is no workspace
            real = [torch.zeros(a.shape, dtype=a.dtype) if isinstance(a, torch.Tensor) else a for a in args]
            measured = func(*real, **kwargs)[3]
        _workspace_sizes[key] = None if measured is None else measured.shape
    size = _workspace_sizes[key]
    workspace = out[3]
    if size is None or not isinstance(workspace, torch.Tensor) or workspace.shape == size:
        return out
    return (*out[:3], torch.empty(size, dtype=workspace.dtype, device=workspace.device))


_KERNEL_FIXUPS: dict[str, Callable[..., Any]] = {"aten.mkldnn_rnn_layer.default": _mkldnn_rnn_workspace}


# --- small pieces the patches use -----------------------------------------------------------------


def _unpack_saved(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def _indexed_device(device: Any) -> Any:
    """``"cuda"`` without an index needs CUDA to resolve; the simulation means device 0."""
    if isinstance(device, (str, torch.device)):
        try:
            parsed = torch.device(device)
        except (RuntimeError, TypeError):
            return device
        if parsed.type == "cuda" and parsed.index is None:
            return torch.device("cuda", 0)
    return device


def _deepcopy_keeping_fake_mode(original: Callable[..., Any]) -> Callable[..., Any]:
    """A deep copy of a fake tensor must stay in the same fake mode (copying the mode breaks aliasing)."""

    def deepcopy(tensor: Any, memo: dict) -> Any:
        mode = getattr(tensor, "fake_mode", None)
        if mode is not None:
            memo.setdefault(id(mode), mode)
        return original(tensor, memo)

    return deepcopy


def _swap_or_set_data(original: Callable[..., Any]) -> Callable[..., Any]:
    """``module.to(...)`` swaps fake parameters, which fails while anything holds a weakref to them."""

    def swap_tensors(t1: Any, t2: Any) -> None:
        try:
            original(t1, t2)
        except RuntimeError:
            if not isinstance(t1, FakeTensor):
                raise
            with torch.no_grad():
                t1.data = t2.detach()

    return swap_tensors


def _placeholder_list(tensor: torch.Tensor) -> Any:
    value = placeholder_value(tensor.dtype)
    if tensor.dim() == 0:
        return value
    result: Any = [value] * int(tensor.shape[-1])
    for size in reversed(tensor.shape[:-1]):
        result = [list(result) for _ in range(int(size))]
    return result


def _placeholder_array(tensor: torch.Tensor) -> Any:
    import numpy as np

    dtype = np.dtype(str(tensor.dtype).replace("torch.", "")) if tensor.dtype != torch.bfloat16 else np.float32
    return np.broadcast_to(np.zeros((), dtype=dtype), tuple(tensor.shape))  # a view: allocates nothing


def _compile_passthrough(model: Any = None, *args: Any, **kwargs: Any) -> Any:
    if model is None:
        return lambda fn: fn
    return model


def _always_step(scaler: Any, optimizer: Any, optimizer_state: Any, *args: Any, **kwargs: Any) -> Any:
    """GradScaler skips the step when it reads inf; fake tensors hold no values, so always step."""
    return optimizer.step(*args, **kwargs)


def _no_makedirs(name: Any, mode: int = 0o777, exist_ok: bool = False) -> None:
    """Folders for checkpoints and logs are not made in a simulation (their files go to scratch)."""


def _record_scratch_file(scratch_dir: str, name: str) -> None:
    """Tell the scratch folder's manifest about a file, so cleanup removes it (and only such files)."""
    from memlint.measure.workdir import record_file

    record_file(scratch_dir, name)
