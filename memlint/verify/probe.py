"""Runs one script in this fresh process and records its memory; started by the verifier.

Started as ``python memlint/measure/entry.py probe`` (see ``memlint.measure.child``) with
``MEMLINT_VERIFY_CODE`` (the file holding the source to run), ``MEMLINT_VERIFY_SCRIPT`` (the
original script's path: ``__file__``, ``sys.argv[0]`` and ``sys.path[0]`` are set from it, so
the code runs as if started with ``python SCRIPT``), ``MEMLINT_VERIFY_ARGS`` (a JSON list),
``MEMLINT_VERIFY_PRELOAD`` (comma-separated modules imported before the floor is taken),
``MEMLINT_VERIFY_TENSORS`` ("1": count live tensor bytes), ``MEMLINT_VERIFY_ITERATIONS``
(stop after this many iterations) and ``MEMLINT_VERIFY_RESULT`` (where the measurements go,
as JSON; never the script's stdout).

Three measurements:
- tensors: a ``TensorMemoryTracker`` counts live storage bytes (the allocator's view), with
  a sample at every iteration the probe can see (an optimizer step, a DataLoader batch, a
  ``torch.no_grad`` block) for the leak slope;
- CUDA: ``torch.cuda`` peaks and per-iteration ``memory_allocated`` where the script used CUDA;
- RSS: after the preloads (``import torch`` alone is ~270 MB), the kernel's high-water mark is
  reset (``5`` into ``/proc/self/clear_refs``), so ``VmHWM`` at exit is the script's peak plus
  the floor.
"""

from __future__ import annotations

import json
import os
import sys
import time
import types
from typing import Any

from memlint.measure.child import proc_status_kb

ENV_CODE = "MEMLINT_VERIFY_CODE"
ENV_SCRIPT = "MEMLINT_VERIFY_SCRIPT"
ENV_ARGS = "MEMLINT_VERIFY_ARGS"
ENV_PRELOAD = "MEMLINT_VERIFY_PRELOAD"
ENV_RESULT = "MEMLINT_VERIFY_RESULT"
ENV_TENSORS = "MEMLINT_VERIFY_TENSORS"
ENV_ITERATIONS = "MEMLINT_VERIFY_ITERATIONS"
_ENV_ALL = (ENV_CODE, ENV_SCRIPT, ENV_ARGS, ENV_PRELOAD, ENV_RESULT, ENV_TENSORS, ENV_ITERATIONS)
ITERATION_KINDS = ("optimizer step", "DataLoader batch", "no_grad block")


class IterationLimit(BaseException):
    """Stops the script after ``--iterations`` (BaseException, so `except Exception` does not eat it)."""


def reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


class IterationSampler:
    """Samples memory at each iteration boundary the probe can see, without sys.settrace.

    Hooks: every optimizer step (a global post-step hook), every DataLoader batch (the
    iterator's ``__next__``) and every ``torch.no_grad`` entry. The limit counts optimizer
    steps; with no optimizer, DataLoader batches; with neither, no_grad blocks.
    """

    def __init__(self, tracker: Any, limit: int | None) -> None:
        import torch

        self.torch = torch
        self.tracker = tracker
        self.limit = limit
        self.counts = dict.fromkeys(ITERATION_KINDS, 0)
        self.samples: dict[str, list[list[float]]] = {kind: [] for kind in ITERATION_KINDS}
        self.optimizer_made = False
        self.stopped = False
        self._undo: list[Any] = []

    def install(self) -> None:
        torch = self.torch
        from torch.optim import optimizer as optim_module
        from torch.utils.data import dataloader

        sampler = self
        handle = optim_module.register_optimizer_step_post_hook(lambda opt, a, k: sampler.sample("optimizer step"))
        self._undo.append(handle.remove)
        original_init = optim_module.Optimizer.__init__

        def optimizer_init(opt: Any, *args: Any, **kwargs: Any) -> None:
            sampler.optimizer_made = True
            original_init(opt, *args, **kwargs)

        self._patch(optim_module.Optimizer, "__init__", optimizer_init)
        original_next = dataloader._BaseDataLoaderIter.__next__

        def loader_next(iterator: Any) -> Any:
            sampler.sample("DataLoader batch")
            return original_next(iterator)

        self._patch(dataloader._BaseDataLoaderIter, "__next__", loader_next)
        no_grad = torch.autograd.grad_mode.no_grad
        original_enter = no_grad.__enter__
        torch_dir = os.path.dirname(torch.__file__) + os.sep
        contextlib_file = os.path.join(torch_dir, "utils", "_contextlib.py")

        def enter(ctx: Any) -> Any:
            # only the script's own blocks: torch uses no_grad inside (weight init, clip_grad_norm_, ...)
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename == contextlib_file:
                frame = frame.f_back  # @torch.no_grad() on a function: its caller is what counts
            if frame is not None and not frame.f_code.co_filename.startswith(torch_dir):
                sampler.sample("no_grad block")
            return original_enter(ctx)

        self._patch(no_grad, "__enter__", enter)

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        original = getattr(owner, name)
        setattr(owner, name, value)
        self._undo.append(lambda: setattr(owner, name, original))

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()

    def sample(self, kind: str) -> None:
        if self.stopped:
            return
        self.counts[kind] += 1
        cuda = None
        torch = self.torch
        try:
            if torch.cuda.is_initialized():
                cuda = float(torch.cuda.memory_allocated())
        except Exception:
            cuda = None
        live = float(self.tracker.current) if self.tracker is not None else None
        rss = proc_status_kb("VmRSS")
        self.samples[kind].append([self.counts[kind], live, cuda, rss])
        if self.limit is not None and self.counts[kind] >= self.limit and self._counts_toward_limit(kind):
            self.stopped = True
            raise IterationLimit()

    def _counts_toward_limit(self, kind: str) -> bool:
        if kind == "optimizer step":
            return True
        if self.optimizer_made:
            return False
        if kind == "DataLoader batch":
            return True
        return self.counts["DataLoader batch"] == 0


def _cuda_peaks() -> tuple[int | None, int | None]:
    """Peak CUDA bytes allocated/reserved, only where the script itself initialised CUDA."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None, None
    try:
        if not torch.cuda.is_initialized():
            return None, None
        return int(torch.cuda.max_memory_allocated()), int(torch.cuda.max_memory_reserved())
    except Exception:
        return None, None


def _run_as_main(code_path: str, script: str) -> None:
    """What ``python SCRIPT`` does, with the code read from ``code_path``."""
    filename = os.path.abspath(script)  # as Python >= 3.9 sets __main__.__file__
    with open(code_path, "rb") as source:
        code = compile(source.read(), filename, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=filename, __builtins__=__builtins__, __cached__=None, __spec__=None)
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def main() -> None:
    code_path = os.environ[ENV_CODE]
    script = os.environ[ENV_SCRIPT]
    args = json.loads(os.environ.get(ENV_ARGS, "[]"))
    preload = [m for m in os.environ.get(ENV_PRELOAD, "").split(",") if m]
    result_path = os.environ[ENV_RESULT]
    with_tensors = os.environ.get(ENV_TENSORS) == "1"
    limit_text = os.environ.get(ENV_ITERATIONS)
    limit = int(limit_text) if limit_text else None
    for name in _ENV_ALL:  # the script sees the environment it would see without the probe
        os.environ.pop(name, None)

    sys.argv = [script, *args]  # argv[0] as the user typed it; same cwd, so a relative one still works
    sys.path[0] = os.path.dirname(os.path.realpath(script))  # Python resolves a symlinked script here
    for module in preload:
        try:
            __import__(module)
        except Exception:  # the script will report its own import errors
            pass
    tracker = sampler = None
    if with_tensors and "torch" in sys.modules:
        from memlint.measure.tracker import TensorMemoryTracker

        tracker = TensorMemoryTracker(keep_history=False)
        sampler = IterationSampler(tracker, limit)
        sampler.install()
    preload_hwm = proc_status_kb("VmHWM")
    reset_ok = reset_high_water_mark()
    floor_kb = proc_status_kb("VmRSS") if reset_ok else preload_hwm
    start = time.perf_counter()
    state: dict[str, Any] = {"raised": None, "stopped": False, "written": False}
    probe_pid = os.getpid()

    def write_result() -> None:
        if state["written"] or os.getpid() != probe_pid:  # forked workers exit through os._exit too
            return
        state["written"] = True
        wall = time.perf_counter() - start
        try:
            sys.stdout.flush()
        except Exception:
            pass
        allocated, reserved = _cuda_peaks()
        result = {
            "reset_ok": reset_ok,
            "floor_kb": floor_kb,
            "preload_hwm_kb": preload_hwm,
            "hwm_kb": proc_status_kb("VmHWM"),
            "cuda_allocated": allocated,
            "cuda_reserved": reserved,
            "tensor_peak": tracker.peak if tracker is not None else None,
            "tensor_peak_by_device": dict(tracker.peak_by_device) if tracker is not None else None,
            "iterations": sampler.samples if sampler is not None else None,
            "stopped_after_iterations": limit if state["stopped"] else None,
            "wall_s": wall,
            "exception": state["raised"],
        }
        with open(result_path, "w", encoding="utf-8") as out:
            json.dump(result, out)

    real_exit = os._exit

    def exit_now(code: int) -> None:  # os._exit skips finally blocks: write the measurements first
        try:
            write_result()
        finally:
            real_exit(code)

    os._exit = exit_now
    try:
        if tracker is not None:
            tracker.__enter__()
        try:
            _run_as_main(code_path, script)
        except IterationLimit:
            state["stopped"] = True
        finally:
            if tracker is not None:
                tracker.__exit__(None, None, None)
    except BaseException as exc:
        state["raised"] = type(exc).__name__
        raise
    finally:
        write_result()
