"""What a GPU adds on top of the simulated tensors: the facts, kept apart from the simulation.

The simulation (``simulate.py``) says which tensors are alive when. This module turns that
into what ``torch.cuda`` would report on a target GPU, with facts that are each written down
with a source and a date, so each can be corrected on its own:

- ``ALLOCATOR``: PyTorch's CUDA caching allocator (512-byte rounding, 2 MiB / 20 MiB segments,
  when blocks split). ``replay_allocator`` runs the simulated allocations through a model of it:
  the rounded live bytes give ``max_memory_allocated``, the segments it would hold give
  ``max_memory_reserved`` (the allocator never returns segments without memory pressure).
- ``CUDA_CONTEXT``: memory the driver takes outside the allocator.
- ``ALLOWANCE``: what the replay does not model (other streams, cuDNN/cuBLAS workspaces,
  NCCL buffers), as a share of reserved memory.
- ``GPUS``: the memory each GPU offers to CUDA.
- CUDA defaults that differ from the CPU (the foreach optimizer path) are not constants here:
  the simulation runs them (``Variant(pretend_cuda=True)``).

None of these numbers was measured in this project (no GPU was available when they were
written); their sources are public measurements. Pure Python: no torch needed.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Iterable

MiB = 2**20
GiB = 2**30

ALLOCATOR = {
    "min_block": 512,  # every block is rounded up to a multiple of 512 bytes
    "small_size": 1 * MiB,  # requests up to 1 MiB come from the small pool
    "small_segment": 2 * MiB,  # the small pool grows in 2 MiB segments
    "large_segment": 20 * MiB,  # requests between 1 and 10 MiB get 20 MiB segments
    "min_large_alloc": 10 * MiB,
    "round_large": 2 * MiB,  # larger requests get a segment rounded up to 2 MiB
    "source": (
        "pytorch/pytorch c10/cuda/CUDACachingAllocator.cpp: kMinBlockSize, kSmallSize, kSmallBuffer, "
        "kLargeBuffer, kMinLargeAlloc, kRoundLarge; the same values since PyTorch 1.x (read 2026-10)"
    ),
}

CUDA_CONTEXT = {
    "bytes": 426 * MiB,
    "source": (
        "426 MiB in nvidia-smi for a bare CUDA context, PyTorch 2.10 + CUDA 13.0, RTX 6000 Ada "
        "(unslothai/unsloth-zoo PR #1053, 2026-08-12); 256 MiB on an RTX 3090 with PyTorch 2.7.1 + CUDA 12.8 "
        "(invoke-ai/InvokeAI #9413, 2026-07-31); ~300-400 MiB with CUDA >= 11.7 lazy loading "
        "(pytorch/pytorch #107667 and #109888, 2023-08/09). The largest recent figure is used."
    ),
}

ALLOWANCE = {
    "fraction": 0.05,
    "source": (
        "a margin for what the allocator replay leaves out (several streams, cuBLAS/cuDNN workspaces, "
        "NCCL); a judgement, not a measurement (2026-10)"
    ),
}


@dataclass(frozen=True)
class GPU:
    name: str
    total_bytes: int  # memory CUDA can use on an idle card
    source: str

    @property
    def usable_bytes(self) -> int:
        """What the script's tensors can have: the total less the CUDA context."""
        return self.total_bytes - CUDA_CONTEXT["bytes"]


_SMI = "nvidia-smi total as listed in modal-labs/modal-client PR #2797 (2025-01-23)"
GPUS = {
    "A100-80GB": GPU("A100-80GB", 81920 * MiB, _SMI),
    "A100-40GB": GPU(
        "A100-40GB", 42298834944,
        "CUDA's totalGlobalMem for an A100-SXM4-40GB in deviceQuery (bottlerocket-os/bottlerocket PR #3873, 2024)",
    ),
    "H100": GPU("H100", 81559 * MiB, _SMI + "; 85,520,809,984 bytes"),
    "H200": GPU(
        "H200", 139 * GiB,
        "about 139 GiB on the H200 this project's device lender offers (2026-10); NVIDIA lists 141 GB",
    ),
    "L40S": GPU("L40S", 46068 * MiB, _SMI),
    "A10": GPU("A10", 23028 * MiB, _SMI),
    "L4": GPU("L4", 23034 * MiB, _SMI),
    "T4": GPU("T4", 15360 * MiB, _SMI),
    "RTX6000-ADA": GPU(
        "RTX6000-ADA", 50865307648,
        "torch.cuda.get_device_properties total (unslothai/unsloth-zoo PR #1053, 2026-08-12)",
    ),
}
_ALIASES = {
    "A100": "A100-80GB", "A100-80G": "A100-80GB", "A10080GB": "A100-80GB", "A100-40G": "A100-40GB",
    "H100-80GB": "H100", "H100-SXM": "H100", "H100-PCIE": "H100", "H200-141GB": "H200",
    "RTX-6000-ADA": "RTX6000-ADA",
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(GIB|GB|MIB|MB)\s*$", re.IGNORECASE)


class UnknownGPU(ValueError):
    pass


def resolve_gpu(spec: str) -> GPU:
    """``A100-80GB``, ``H100``, ... or a size: ``24GiB``, ``80GB`` (10^9 bytes), ``16000MiB``."""
    match = _SIZE.match(spec)
    if match:
        value, unit = float(match.group(1)), match.group(2).upper()
        scale = {"GIB": GiB, "GB": 10**9, "MIB": MiB, "MB": 10**6}[unit]
        total = int(value * scale)
        if total <= CUDA_CONTEXT["bytes"]:
            raise UnknownGPU(f"--gpu {spec}: smaller than the CUDA context ({CUDA_CONTEXT['bytes'] // MiB} MiB)")
        return GPU(spec.strip(), total, "given on the command line")
    key = spec.strip().upper().replace(" ", "-").replace("_", "-")
    key = _ALIASES.get(key, key)
    if key in GPUS:
        return GPUS[key]
    raise UnknownGPU(
        f"--gpu {spec}: unknown GPU; use one of {', '.join(GPUS)}, or a size such as 24GiB"
    )


def round_block(size: int) -> int:
    block = ALLOCATOR["min_block"]
    return block if size <= block else block * -(-size // block)


def segment_size(size: int) -> int:
    if size <= ALLOCATOR["small_size"]:
        return ALLOCATOR["small_segment"]
    if size < ALLOCATOR["min_large_alloc"]:
        return ALLOCATOR["large_segment"]
    step = ALLOCATOR["round_large"]
    return step * -(-size // step)


class _Pool:
    """Free blocks of one pool, kept sorted by (size, segment, offset) for best fit."""

    def __init__(self) -> None:
        self.free: list[tuple[int, int, int]] = []

    def take(self, size: int) -> tuple[int, int, int] | None:
        index = bisect.bisect_left(self.free, (size, -1, -1))
        if index == len(self.free):
            return None
        return self.free.pop(index)

    def put(self, block: tuple[int, int, int]) -> None:
        bisect.insort(self.free, block)

    def remove(self, block: tuple[int, int, int]) -> bool:
        index = bisect.bisect_left(self.free, block)
        if index < len(self.free) and self.free[index] == block:
            del self.free[index]
            return True
        return False


@dataclass
class Replay:
    allocated_peak: int  # rounded live bytes: what torch.cuda.max_memory_allocated would report
    reserved_peak: int  # segments held: what torch.cuda.max_memory_reserved would report


def replay_allocator(events: Iterable[tuple[int, int, object]]) -> Replay:
    """Run (seq, +size / -size, key) allocation events through a model of the caching allocator.

    Best fit within a pool; a block is split when the rest is at least 512 bytes (small pool)
    or more than 1 MiB (large pool); a freed block merges with free neighbours in its segment;
    segments are never released (no memory pressure is modelled).
    """
    pools = {True: _Pool(), False: _Pool()}
    # segment id -> {offset: (size, free?)}, to merge neighbours on free
    segments: dict[int, dict[int, list]] = {}
    placed: dict[int, tuple[int, int, int, bool]] = {}  # key -> (segment, offset, size, small)
    allocated = reserved = 0
    allocated_peak = reserved_peak = 0
    next_segment = 0
    for _, delta, key in events:
        ident = id(key)
        if delta > 0:
            size = round_block(delta)
            small = size <= ALLOCATOR["small_size"]
            pool = pools[small]
            free_block = pool.take(size)
            if free_block is None:
                seg_size = segment_size(size)
                segment = next_segment
                next_segment += 1
                segments[segment] = {0: [seg_size, True]}
                reserved += seg_size
                reserved_peak = max(reserved_peak, reserved)
                free_block = (seg_size, segment, 0)
            block_size, segment, offset = free_block
            blocks = segments[segment]
            rest = block_size - size
            split = rest >= ALLOCATOR["min_block"] if small else rest > ALLOCATOR["small_size"]
            if split:
                blocks[offset] = [size, False]
                blocks[offset + size] = [rest, True]
                pool.put((rest, segment, offset + size))
            else:
                blocks[offset] = [block_size, False]
                size = block_size
            placed[ident] = (segment, offset, size, small)
            allocated += size
            allocated_peak = max(allocated_peak, allocated)
        else:
            where = placed.pop(ident, None)
            if where is None:
                continue
            segment, offset, size, small = where
            allocated -= size
            blocks = segments[segment]
            pool = pools[small]
            start, length = offset, size
            following = blocks.get(offset + size)
            if following is not None and following[1]:
                pool.remove((following[0], segment, offset + size))
                del blocks[offset + size]
                length += following[0]
            preceding = _preceding_free(blocks, offset)
            if preceding is not None:
                prev_offset, prev_size = preceding
                pool.remove((prev_size, segment, prev_offset))
                del blocks[offset]
                start, length = prev_offset, prev_size + length
            blocks[start] = [length, True]
            pool.put((length, segment, start))
    return Replay(allocated_peak, reserved_peak)


def _preceding_free(blocks: dict[int, list], offset: int) -> tuple[int, int] | None:
    for start, (size, free) in blocks.items():
        if start + size == offset:
            return (start, size) if free else None
    return None


@dataclass
class Projection:
    gpu: GPU
    allocated_bytes: int
    reserved_bytes: int

    @property
    def peak_bytes(self) -> int:
        """What the process needs on the card: context + reserved segments + the allowance."""
        return CUDA_CONTEXT["bytes"] + int(self.reserved_bytes * (1 + ALLOWANCE["fraction"]))

    @property
    def fits(self) -> bool:
        return self.peak_bytes <= self.gpu.total_bytes

    @property
    def tight(self) -> bool:
        """Does not fit with the cache as held, but the allocated bytes alone would (the allocator
        frees cached segments and retries before it reports out of memory)."""
        return not self.fits and CUDA_CONTEXT["bytes"] + self.allocated_bytes <= self.gpu.total_bytes


def project(gpu: GPU, events: Iterable[tuple[int, int, object]]) -> Projection:
    replay = replay_allocator(events)
    return Projection(gpu, replay.allocated_peak, replay.reserved_peak)


def facts() -> dict:
    """The table, for the JSON report and the README."""
    return {
        "allocator": dict(ALLOCATOR),
        "cuda_context": dict(CUDA_CONTEXT),
        "allowance": dict(ALLOWANCE),
        "gpus": {name: {"total_bytes": gpu.total_bytes, "source": gpu.source} for name, gpu in GPUS.items()},
        "measured_here": False,
    }
