"""Live tensor bytes, counted once per storage, with the peak, step phases and a breakdown by category.

A ``TorchDispatchMode`` sees every aten op below autograd. Each storage that an op returns or
receives is counted from the first op that shows it until its Python storage object dies (a
weakref callback); views and in-place results share their base's storage and add nothing. This
is the allocator's own view of live memory, not the process's pages, and it works the same on
real CPU or CUDA tensors and on fake tensors, which allocate nothing.

Runs inside the measured process: standard library and torch only.
"""

from __future__ import annotations

import bisect
import weakref
from functools import partial
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch.utils._python_dispatch import TorchDispatchMode

CATEGORIES = ("parameters", "gradients", "optimizer_state", "activations", "temporaries")
# A storage keeps the strongest label it was given: a weight saved for backward stays a parameter.
_RANK = {name: rank for rank, name in enumerate(reversed(CATEGORIES))}
PHASES = ("setup", "forward", "backward", "optimizer")


class Record:
    """One storage's life: bytes, the sequence numbers of its first sighting and of its release."""

    __slots__ = ("nbytes", "alloc_seq", "free_seq", "category", "device", "ref")

    def __init__(self, nbytes: int, alloc_seq: int, device: str) -> None:
        self.nbytes = nbytes
        self.alloc_seq = alloc_seq
        self.free_seq: int | None = None
        self.category = "temporaries"
        self.device = device
        self.ref: Any = None

    def alive_at(self, seq: int) -> bool:
        return self.alloc_seq <= seq and (self.free_seq is None or self.free_seq > seq)


def iter_tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Tensors in an op's arguments or results (lists of tensors for foreach ops, dict kwargs)."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            if isinstance(item, torch.Tensor):
                yield item
            elif isinstance(item, (tuple, list, dict)):
                yield from iter_tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from iter_tensors(item)


def _is_cuda(device: Any) -> bool:
    if isinstance(device, torch.device):
        return device.type == "cuda"
    if isinstance(device, str):
        return device.startswith("cuda")
    return False


class TensorMemoryTracker(TorchDispatchMode):
    """Counts live storage bytes while active (``with tracker:``).

    ``keep_history``: keep every record after it is freed, for peaks per window, the breakdown
    at the peak and timelines (estimate). Without it (verify, long real runs) only the running
    figures are kept, so memory use stays flat.
    ``map_cuda_to``: a device that CUDA device arguments are rewritten to (a simulation on a
    machine without CUDA); results are still recorded as logical ``cuda`` storages.
    """

    def __init__(self, keep_history: bool = True, map_cuda_to: torch.device | None = None) -> None:
        super().__init__()
        self.keep_history = keep_history
        self.map_cuda_to = map_cuda_to
        self.live: dict[int, Record] = {}
        self.history: list[Record] = []
        self.seq = 0
        self.current = 0
        self.peak = 0
        self.peak_seq = 0
        self.current_by_device: dict[str, int] = {}
        self.peak_by_device: dict[str, int] = {}
        self.phase = "setup"
        self.step = 1
        self.phase_log: list[tuple[int, str, int]] = [(0, "setup", 1)]
        # Optional hooks for the simulation: rewrite an op's result, or answer an op that failed.
        self.rewrite_output: Callable[[Any, Sequence[Any], dict, Any], Any] | None = None
        self.on_error: Callable[[Any, Sequence[Any], dict, BaseException], Any] | None = None

    # --- the dispatch hook -------------------------------------------------------------------

    def __torch_dispatch__(self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        logical: str | None = None
        if self.map_cuda_to is not None and _is_cuda(kwargs.get("device")):
            kwargs = {**kwargs, "device": self.map_cuda_to}
            logical = "cuda"
        for tensor in iter_tensors(args):
            record = self.see(tensor)
            if record is not None and record.device == "cuda":
                logical = "cuda"
        try:
            out = func(*args, **kwargs)
        except Exception as exc:
            if self.on_error is None:
                raise
            return self.on_error(func, args, kwargs, exc)
        if self.rewrite_output is not None:
            out = self.rewrite_output(func, args, kwargs, out)
        for tensor in iter_tensors(out):
            self.see(tensor, logical)
        return out

    # --- storages ------------------------------------------------------------------------------

    def see(self, tensor: torch.Tensor, device: str | None = None) -> Record | None:
        """The tensor's storage record, created (and counted) on first sight."""
        if tensor.is_meta or tensor.layout != torch.strided:
            return None  # no memory behind it (meta) or no single storage (sparse, nested)
        try:
            storage = tensor.untyped_storage()
        except (RuntimeError, NotImplementedError, TypeError):
            return None
        key = id(storage)
        nbytes = storage.nbytes()
        record = self.live.get(key)
        if record is not None:
            if record.nbytes == nbytes:
                return record
            self._release(key)  # resized in place (out=, resize_): the old size is gone
        if device is None:
            device = tensor.device.type
            if self.map_cuda_to is not None and device != "cuda":
                device = "cpu"
        record = Record(nbytes, self.seq, device)
        self.seq += 1
        record.ref = weakref.ref(storage, partial(self._on_storage_freed, key))
        self.live[key] = record
        if self.keep_history:
            self.history.append(record)
        self.current += nbytes
        by_device = self.current_by_device.get(device, 0) + nbytes
        self.current_by_device[device] = by_device
        if self.current > self.peak:
            self.peak, self.peak_seq = self.current, record.alloc_seq
        if by_device > self.peak_by_device.get(device, 0):
            self.peak_by_device[device] = by_device
        return record

    def _on_storage_freed(self, key: int, ref: Any) -> None:
        record = self.live.get(key)
        if record is not None and record.ref is ref:
            self._release(key)

    def _release(self, key: int) -> None:
        record = self.live.pop(key)
        record.free_seq = self.seq
        self.seq += 1
        self.current -= record.nbytes
        self.current_by_device[record.device] -= record.nbytes

    def label(self, tensor: torch.Tensor | None, category: str) -> None:
        """Give the tensor's storage a category, unless it already has a stronger one."""
        if tensor is None:
            return
        record = self.see(tensor)
        if record is not None and _RANK[category] > _RANK[record.category]:
            record.category = category

    def device_of(self, tensor: torch.Tensor) -> str | None:
        """The logical device of a tensor the tracker has seen (``cuda`` for mapped ones)."""
        try:
            record = self.live.get(id(tensor.untyped_storage()))
        except (RuntimeError, NotImplementedError, TypeError):
            return None
        return None if record is None else record.device

    # --- phases --------------------------------------------------------------------------------

    def set_phase(self, phase: str) -> None:
        if phase != self.phase:
            self.phase = phase
            self.phase_log.append((self.seq, phase, self.step))

    def next_step(self) -> None:
        self.step += 1
        self.phase_log.append((self.seq, self.phase, self.step))

    def phase_at(self, seq: int) -> tuple[str, int]:
        """(phase, step) in force at a sequence number."""
        index = bisect.bisect_right([s for s, _, _ in self.phase_log], seq) - 1
        _, phase, step = self.phase_log[max(index, 0)]
        return phase, step

    def step_windows(self) -> list[tuple[int, int, int]]:
        """(step, first seq, end seq) for every step the log saw."""
        starts: dict[int, int] = {}
        for seq, _, step in self.phase_log:
            starts.setdefault(step, seq)
        steps = sorted(starts)
        return [
            (step, starts[step], starts[steps[i + 1]] if i + 1 < len(steps) else self.seq)
            for i, step in enumerate(steps)
        ]


# --- analysis of a history (pure Python: also used for the GPU model) ---------------------------


def events(records: Iterable[Record], device: str | None = None) -> list[tuple[int, int, Record]]:
    """(seq, +bytes or -bytes, record) in order; ``device`` keeps only that logical device."""
    out: list[tuple[int, int, Record]] = []
    for record in records:
        if device is not None and record.device != device:
            continue
        out.append((record.alloc_seq, record.nbytes, record))
        if record.free_seq is not None:
            out.append((record.free_seq, -record.nbytes, record))
    out.sort(key=lambda event: event[0])
    return out


def peak_in(
    records: Iterable[Record], device: str | None = None, start: int = 0, end: int | None = None
) -> tuple[int, int]:
    """(peak bytes, seq of the peak) within [start, end); what is live at ``start`` counts."""
    live = 0
    peak: int | None = None
    peak_seq = start
    for seq, delta, _ in events(records, device):
        if end is not None and seq >= end:
            break
        if seq >= start and peak is None:
            peak = live  # what the window starts with
        live += delta
        if peak is not None and live > peak:
            peak, peak_seq = live, seq
    return (live if peak is None else peak), peak_seq


def breakdown_at(records: Iterable[Record], seq: int, device: str | None = None) -> dict[str, int]:
    """Bytes live at ``seq`` per category."""
    totals = dict.fromkeys(CATEGORIES, 0)
    for record in records:
        if (device is None or record.device == device) and record.alive_at(seq):
            totals[record.category] += record.nbytes
    return totals


def timeline(records: Iterable[Record], device: str | None = None, points: int = 400) -> list[tuple[int, int]]:
    """(seq, live bytes) after each event, thinned to about ``points`` points (keeping the peaks)."""
    series: list[tuple[int, int]] = []
    live = 0
    for seq, delta, _ in events(records, device):
        live += delta
        series.append((seq, live))
    if len(series) <= points:
        return series
    size = len(series) / points
    thinned = []
    for i in range(points):
        chunk = series[int(i * size): int((i + 1) * size)] or series[-1:]
        thinned.append(max(chunk, key=lambda item: item[1]))
    return thinned
