"""The estimating child process: runs the user's script under fake tensors, once per question.

Started as ``python memlint/measure/entry.py estimate`` with ``MEMLINT_ESTIMATE_CONFIG``, the
path of a JSON file written by ``memlint estimate``. The script runs as ``python SCRIPT ARGS``
would (``__main__``, argv, ``sys.path[0]``, cwd), once for each question:

1. as written, on this machine's device: the peak, its phase, the breakdown;
2. with a target GPU: as if CUDA were there (its defaults), projected through the GPU model,
   then again at other batch sizes to find the largest that fits;
3. once per lever (autocast, checkpointing, ...).

The result file is rewritten after each stage, so a timeout still leaves what was done.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import traceback
import types
from typing import Any, Callable

ENV_CONFIG = "MEMLINT_ESTIMATE_CONFIG"
MAX_SEARCH_RUNS = 14
TRACEBACK_LINES = 15


def run_script(
    code: Any, script: str, variant: Any, steps: int, original_batch: int | None, scratch: str | None,
    keep_model: bool = False,
) -> Any:
    """One simulated run of the script; returns the simulation's Outcome (never raises for the script)."""
    from memlint.estimate.simulate import Simulation

    filename = os.path.abspath(script)
    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=filename, __builtins__=__builtins__, __cached__=None, __spec__=None)
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = main
    simulation = Simulation(variant, steps, original_batch, scratch, keep_model=keep_model)
    error = None
    try:
        with simulation:
            exec(code, main.__dict__)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            error = f"the script exited with {exc.code!r} before {steps} optimizer steps"
    except KeyboardInterrupt:
        raise
    except BaseException:
        error = script_traceback(filename)
    finally:
        sys.modules["__main__"] = saved if saved is not None else main
        main.__dict__.clear()
        main.__dict__["__builtins__"] = __builtins__  # the script's functions may still be called (hooks at exit)
    outcome = simulation.outcome(error)
    outcome.simulation = simulation  # type: ignore[attr-defined]
    gc.collect(1)  # the run's cycles; a full collection costs seconds with torch loaded
    return outcome


def script_traceback(filename: str) -> str:
    """The traceback tail, from the first frame in the user's script on."""
    exc_type, exc, tb = sys.exc_info()
    frames = traceback.extract_tb(tb)
    start = next((i for i, frame in enumerate(frames) if frame.filename == filename), 0)
    # the user's own frames; library internals (torch's checks) add length, not meaning
    own = [frame for frame in frames[start:] if not _library_file(frame.filename)] or frames[-1:]
    lines = traceback.format_list(own) + traceback.format_exception_only(exc_type, exc)
    text = "".join(["Traceback (most recent call last):\n", *lines]).rstrip().splitlines()
    return "\n".join(text[-TRACEBACK_LINES:])


def _library_file(filename: str) -> bool:
    import sysconfig

    roots = {sysconfig.get_paths()[key] for key in ("purelib", "platlib", "stdlib")}
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return filename.startswith(tuple(roots)) or filename.startswith(here)


def outcome_summary(outcome: Any) -> dict[str, Any]:
    return {
        "peak_bytes": outcome.peak_bytes,
        "peak_phase": outcome.peak_phase,
        "peak_step": outcome.peak_step,
        "components": outcome.components,
        "step_peaks": outcome.step_peaks,
        "steps_done": outcome.steps_done,
        "batch_size": outcome.batch_size,
        "optimizer": outcome.optimizer,
        "optimizer_foreach": outcome.optimizer_foreach,
        "autocast_seen": outcome.autocast_seen,
        "stopped_by": outcome.stopped_by,
        "error": outcome.error,
        "notes": outcome.notes,
    }


def gpu_device(outcome: Any) -> str | None:
    """What a GPU would hold: the logical ``cuda`` tensors; all tensors when the script puts none there."""
    return "cuda" if any(record.device == "cuda" for record in outcome.tracker.history) else None


def lower_bound(outcome: Any) -> dict[str, Any]:
    """Weights + gradients + optimizer state, from what the run saw before it stopped."""
    params = outcome.simulation.parameters_at_stop
    weights = sum(size for size, _ in params)
    trainable = sum(size for size, needs_grad in params if needs_grad)
    states = {"Adam": 2, "AdamW": 2, "NAdam": 2, "RAdam": 2, "Adamax": 2, "SGD": 1, "RMSprop": 1, "Adagrad": 1}
    per_param = states.get(outcome.optimizer or "", 2)
    return {
        "peak_bytes": weights + trainable + per_param * trainable,
        "components": {
            "parameters": weights,
            "gradients": trainable,
            "optimizer_state": per_param * trainable,
            "activations": 0,
            "temporaries": 0,
        },
        "assumed_state_per_parameter": per_param,
    }


def search_max_batch(
    fits_at: Callable[[int], tuple[bool, int, int | None]], start: int, limit: int, ceiling: int = 1 << 20
) -> dict[str, Any]:
    """The largest batch size that fits: a linear prediction to bracket it, then regula falsi with bisection.

    ``fits_at(b)`` returns (fits, projected bytes, the batch size the run really had); ``limit``
    is the bytes available. Memory is close to linear in the batch size, so the line through two
    points lands near the edge; when two probes in a row fall on the same side, the next one
    bisects. The answer is exact up to a batch of 4096, then within 1/4096 of itself.
    """
    points: dict[int, int] = {}
    fits: dict[int, bool] = {}
    sides: list[bool] = []

    def probe(size: int) -> bool:
        fits[size], points[size], seen = fits_at(size)
        sides.append(fits[size])
        return seen == size

    probe(start)
    if not probe(start * 2 if fits[start] else max(1, start // 2)):
        return {
            "max_batch_size": None, "runs": 2,
            "note": "the batch size could not be changed (the model's input is not made where memlint can resize it)",
        }
    while len(points) < MAX_SEARCH_RUNS:
        lo = max((b for b, ok in fits.items() if ok), default=None)
        hi = min((b for b, ok in fits.items() if not ok), default=None)
        if lo is None and hi == 1:
            break
        if lo is not None and hi is not None and hi - lo <= max(1, lo // 4096):
            break
        if hi is None:  # only fitting sizes so far: aim a little past the predicted edge
            candidate = min(max(int(_crossing(points, limit) * 1.02) + 1, lo + 1), min(ceiling, lo * 64))
            if candidate <= lo:
                break
        elif lo is None:  # nothing fits yet: halve, unless the line says where
            candidate = hi // 2 if sides[-1] == sides[-2] else min(max(_crossing(points, limit), 1), hi - 1)
        else:
            candidate = _crossing({lo: points[lo], hi: points[hi]}, limit)
            if len(sides) >= 2 and sides[-1] == sides[-2]:
                candidate = (lo + hi) // 2
            candidate = min(max(candidate, lo + 1), hi - 1)
        if candidate in points:
            break
        probe(candidate)
    lo = max((b for b, ok in fits.items() if ok), default=None)
    hi = min((b for b, ok in fits.items() if not ok), default=None)
    if lo is None:
        return {"max_batch_size": 0, "runs": len(points), "exact": hi == 1}
    return {"max_batch_size": lo, "runs": len(points), "exact": hi is not None and hi - lo <= 1,
            "next_size_that_does_not_fit": hi}


def _crossing(points: dict[int, int], limit: int) -> int:
    """Where the line through the two largest measured points reaches ``limit``."""
    usable = {b: v for b, v in points.items() if v < 1 << 61}  # runs that failed carry no slope
    if len(usable) < 2:
        return max(points) * 2
    a, b = sorted(usable)[-2:]
    slope = (usable[b] - usable[a]) / (b - a)
    if slope <= 0:
        return b * 2
    return int(a + (limit - usable[a]) / slope)


def main() -> None:
    with open(os.environ.pop(ENV_CONFIG), encoding="utf-8") as handle:
        config = json.load(handle)
    script = config["script"]
    result_path = config["result"]
    sys.argv = [script, *config["args"]]
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    import torch  # noqa: F401  (the user's torch; imported before the simulation patches it)

    from memlint.estimate import gpu_model
    from memlint.estimate.simulate import Variant, evaluation_forward

    with open(config["code"], "rb") as source:
        code = compile(source.read(), os.path.abspath(script), "exec", dont_inherit=True)
    steps = config["steps"]
    scratch = config.get("scratch")
    result: dict[str, Any] = {"stage": "started"}

    def save() -> None:
        tmp = result_path + ".part"
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(result, out)
        os.replace(tmp, result_path)

    baseline = run_script(code, script, Variant(), steps, None, scratch, keep_model=True)
    result["baseline"] = outcome_summary(baseline)
    if baseline.tracker is not None:
        windows = [w for w in baseline.tracker.step_windows() if w[0] <= max(baseline.steps_done, 1)]
        end = windows[-1][2] if windows else baseline.tracker.seq  # the unwinding after the last step is not shown
        result["timeline"] = [point for point in baseline.timeline() if point[0] <= end]
        result["phases"] = [span for span in baseline.phase_spans() if span[0] < end]
        result["step_starts"] = [(step, start) for step, start, _ in windows]
    if baseline.error or baseline.stopped_by or baseline.steps_done == 0:
        if baseline.stopped_by:
            result["lower_bound"] = lower_bound(baseline)
        result["stage"] = "done"
        save()
        return
    result["eval_forward"] = evaluation_forward(baseline.simulation)
    result["stage"] = "baseline"
    save()
    batch = baseline.batch_size

    gpu = gpu_model.resolve_gpu(config["gpu"]) if config.get("gpu") else None

    def projected(outcome: Any) -> dict[str, Any] | None:
        if gpu is None or outcome.tracker is None:
            return None
        from memlint.measure.tracker import events

        device = gpu_device(outcome)
        projection = gpu_model.project(gpu, events(outcome.tracker.history, device))
        return {
            "allocated_bytes": projection.allocated_bytes,
            "reserved_bytes": projection.reserved_bytes,
            "peak_bytes": projection.peak_bytes,
            "fits": projection.fits,
            "tight": projection.tight,
            "device_tensor_peak_bytes": outcome.device_peak(device),
            "all_tensors": device is None,
        }

    lever_mode = Variant()
    if gpu is not None:
        target = run_script(code, script, Variant(name="on the GPU", pretend_cuda=True), steps, None, scratch)
        result["gpu"] = {"run": outcome_summary(target), "projection": projected(target)}
        save()
        if target.complete and batch:
            def fits_at(size: int) -> tuple[bool, int, int | None]:
                run = run_script(
                    code, script, Variant(name=f"batch {size}", pretend_cuda=True, batch_size=size),
                    steps, batch, scratch,
                )
                projection = projected(run)
                if not run.complete or projection is None:
                    return False, 1 << 62, run.batch_size
                return projection["fits"], projection["peak_bytes"], run.batch_size

            result["gpu"]["search"] = search_max_batch(fits_at, batch, gpu.total_bytes)
        elif not batch:
            result["gpu"]["search"] = {
                "max_batch_size": None,
                "note": "the batch size was not found (the model's first positional input has none)",
            }
        lever_mode = Variant(pretend_cuda=True)
        save()

    if config.get("levers"):
        result["levers"] = run_levers(code, script, steps, batch, scratch, baseline, lever_mode, projected)
    result["stage"] = "done"
    save()


def run_levers(
    code: Any, script: str, steps: int, batch: int | None, scratch: str | None, baseline: Any,
    mode: Any, projected: Callable[[Any], dict | None],
) -> list[dict[str, Any]]:
    """Each lever, simulated (in the target's mode: the GPU's tensors when --gpu was given)."""
    from dataclasses import replace

    from memlint.estimate.simulate import find_blocks

    levers: list[tuple[str, dict[str, Any], bool, str]] = [
        ("autocast bf16", {"autocast": "bfloat16"}, True, "forward and loss in bfloat16"),
        ("autocast fp16", {"autocast": "float16"}, True, "forward and loss in float16 (use a GradScaler)"),
        ("activation checkpointing", {"checkpoint_blocks": True}, False, "each block recomputed in backward"),
        ("zero_grad(set_to_none=True)", {"set_to_none": True}, False, "gradients freed, not zeroed"),
    ]
    foreach = baseline.optimizer_foreach
    if baseline.optimizer is not None:
        if foreach:
            levers.append(("for-loop optimizer (foreach=False)", {"foreach": False}, False, "one parameter at a time"))
        else:
            levers.append(("foreach optimizer (foreach=True)", {"foreach": True}, False, "CUDA's default; faster"))
    if batch and batch >= 2:
        levers.append((
            f"micro-batch {batch // 2} × 2 with gradient accumulation",
            {"batch_size": batch // 2, "accumulate": 2},
            True,
            "BatchNorm sees half the batch; divide the loss by 2",
        ))
    rows = []
    for name, change, numerics, note in levers:
        row: dict[str, Any] = {"name": name, "changes_numerics": numerics, "note": note}
        if name.startswith("autocast") and baseline.autocast_seen:
            row["skipped"] = "the script already uses autocast"
            rows.append(row)
            continue
        if name == "activation checkpointing":
            root = baseline.simulation.model
            if root is None or not find_blocks(root):
                row["skipped"] = "no repeated blocks (a ModuleList or Sequential of 2+ modules) in the model"
                rows.append(row)
                continue
        variant = replace(mode, name=name, **change)
        outcome = run_script(code, script, variant, steps, batch if "batch_size" in change else None, scratch)
        if not outcome.complete:
            row["skipped"] = f"could not simulate: {(outcome.error or outcome.stopped_by or 'no step').splitlines()[-1]}"
        else:
            row["peak_bytes"] = outcome.peak_bytes if not mode.pretend_cuda else outcome.device_peak(gpu_device(outcome))
            row["gpu"] = projected(outcome)
        rows.append(row)
    rows.append(eight_bit_adam(baseline))
    return rows


def eight_bit_adam(baseline: Any) -> dict[str, Any]:
    """bitsandbytes' 8-bit Adam, modelled from the breakdown (its kernels are CUDA-only, so not simulated)."""
    import importlib.util

    row: dict[str, Any] = {
        "name": "8-bit Adam (bitsandbytes)",
        "changes_numerics": True,
        "note": "optimizer state in 8 bits with a per-block scale; modelled, not simulated",
    }
    if importlib.util.find_spec("bitsandbytes") is None:
        row["skipped"] = "bitsandbytes is not importable"
    elif baseline.optimizer not in ("Adam", "AdamW"):
        row["skipped"] = f"the optimizer is {baseline.optimizer}, not Adam/AdamW"
    else:
        state = baseline.components.get("optimizer_state", 0)
        # fp32 moments (4 bytes each) become 1 byte + a 4-byte scale per 256 values
        row["peak_bytes"] = baseline.peak_bytes - state + int(state / 4 * (1 + 4 / 256))
        row["modelled"] = True
    return row
