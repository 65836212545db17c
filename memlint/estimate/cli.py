"""``memlint estimate SCRIPT [-- ARGS]``: the peak memory of one training step, simulated before launch.

The script runs in a fresh process under fake tensors (``memlint.estimate.child``): its own
model, data and optimizer, stopped after ``--steps`` optimizer steps; nothing is allocated,
nothing is written, no GPU is needed.

Exit codes: 0 the estimate is given (and fits ``--gpu`` when one is named); 1 it does not fit
``--gpu``; 2 no estimate (the script failed, never stepped an optimizer, timed out, bad input).
A simulation stopped by an op it cannot run still gives a lower bound, marked as such.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_DOES_NOT_FIT, EXIT_ERROR = 0, 1, 2
DEFAULT_TIMEOUT_S = 600.0


class EstimateFailure(Exception):
    """Ends the command with exit 2 and this message."""


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from memlint.verify.cli import _positive_float, _positive_int, _split_at_double_dash

    parser.add_argument("scripts", nargs="+", type=Path, metavar="SCRIPT",
                        help="training scripts, each run as `python SCRIPT ARGS` would run it")
    parser.add_argument("--steps", type=_positive_int, default=2, metavar="N",
                        help="optimizer steps to simulate (default 2: the second is the steady state)")
    parser.add_argument("--gpu", metavar="GPU",
                        help="a target: A100-80GB, A100-40GB, H100, H200, L40S, A10, L4, T4, RTX6000-ADA, "
                        "or a size such as 24GiB; adds the projection, whether it fits, and the largest batch size")
    parser.add_argument("--no-levers", action="store_true", help="skip the what-if runs (autocast, checkpointing, ...)")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="draw live tensor memory over the simulated steps")
    parser.add_argument("--python", metavar="PATH",
                        help="the interpreter that runs the script (default: the active virtualenv's or conda "
                        "env's, else memlint's own)")
    parser.add_argument("--timeout", type=_positive_float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help=f"for the whole estimate (default {DEFAULT_TIMEOUT_S:g}); kills the process group")
    parser.add_argument("--output-format", choices=("text", "json"), default="text")
    _split_at_double_dash(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    """Each script in turn; JSON is one object for one script, a list for several. The worst exit code wins."""
    from memlint.measure.child import interrupts_unwind

    args.script_args = list(getattr(args, "script_args", None) or [])
    outputs: list[dict[str, Any]] = []
    codes = []
    with interrupts_unwind():
        for index, script in enumerate(args.scripts):
            args.script = script
            if index and args.output_format == "text":
                sys.stdout.write("\n")
            code, output = _estimate_one(args, plot=_plot_path(args.plot, script, len(args.scripts)))
            codes.append(code)
            outputs.append(output)
    if args.output_format == "json":
        body = outputs[0] if len(outputs) == 1 else outputs
        sys.stdout.write(json.dumps(body, indent=2, allow_nan=False) + "\n")
    return max(codes)


def _plot_path(plot: Path | None, script: Path, count: int) -> Path | None:
    """One PNG per script: with several scripts, the script's name is added to the file name."""
    if plot is None or count == 1:
        return plot
    return plot.with_name(f"{plot.stem}-{script.stem}{plot.suffix}")


def _estimate_one(args: argparse.Namespace, plot: Path | None) -> tuple[int, dict[str, Any]]:
    try:
        report = estimate_script(args)
    except EstimateFailure as exc:
        message = str(exc)
        sys.stderr.write(f"memlint estimate: error: {message}\n")
        return EXIT_ERROR, {"script": str(args.script), "error": message.splitlines()[0]}
    if plot is not None:
        from memlint.estimate.report import plot_estimate

        try:
            plot_estimate(report, plot)
        except Exception as exc:  # matplotlib missing or unwritable path: the estimate still stands
            report["notes"].append(f"could not draw {plot}: {exc}")
    if args.output_format == "text":
        from memlint.estimate.report import render_text

        render_text(report)
    gpu = report.get("gpu")
    code = EXIT_DOES_NOT_FIT if gpu is not None and gpu.get("fits") is False else EXIT_OK
    return code, public_report(report)


def estimate_script(args: argparse.Namespace) -> dict[str, Any]:
    """Run the child and turn what it found into the report (the JSON contract plus the timeline)."""
    from memlint.estimate import gpu_model
    from memlint.measure.child import ScriptInputError, choose_python, read_script, run_child
    from memlint.measure.workdir import make_workdir, record_file, remove_workdir, sweep_stale

    script: Path = args.script
    try:
        source = read_script(script, "estimate")
        python, python_why = choose_python(args.python)
    except ScriptInputError as exc:
        raise EstimateFailure(str(exc)) from None
    gpu = None
    if args.gpu:
        try:
            gpu = gpu_model.resolve_gpu(args.gpu)
        except gpu_model.UnknownGPU as exc:
            raise EstimateFailure(str(exc)) from None
    sweep_stale()
    workdir = make_workdir("estimate")
    try:
        code_path = Path(record_file(workdir, "script.py"))
        code_path.write_bytes(source.raw)
        result_path = Path(record_file(workdir, "result.json"))
        record_file(workdir, "result.json.part")
        config = {
            "script": str(script),
            "args": list(args.script_args or []),
            "code": str(code_path),
            "result": str(result_path),
            "steps": args.steps,
            "gpu": gpu.name if gpu is not None and gpu.name in gpu_model.GPUS else args.gpu,
            "levers": not args.no_levers,
            "scratch": str(workdir),
        }
        config_path = Path(record_file(workdir, "config.json"))
        config_path.write_text(json.dumps(config), encoding="utf-8")
        import os

        env = dict(os.environ, MEMLINT_ESTIMATE_CONFIG=str(config_path), OMP_NUM_THREADS="1")
        child = run_child(python, "estimate", Path.cwd(), env, workdir, "child", args.timeout, sample_memory=False)
        try:
            found = json.loads(result_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
    finally:
        remove_workdir(workdir)
    return build_report(args, found, child, python, python_why, gpu)


def build_report(args: argparse.Namespace, found: dict | None, child: Any, python: str, python_why: str,
                 gpu: Any) -> dict[str, Any]:
    """The public JSON: ``peak_bytes``, ``components``, ``gpu{peak_bytes,fits,max_batch_size}``, and the rest."""
    from memlint.estimate import gpu_model

    timed_out = child.timed_out
    if found is None or "baseline" not in found:
        if timed_out:
            raise EstimateFailure(f"the simulation did not finish within {args.timeout:g} s; its process group was killed")
        tail = "\n".join("  " + line for line in child.stderr.tail.rstrip().splitlines()[-15:])
        raise EstimateFailure(f"the estimate could not run (exit {child.exit_code}){chr(10) + tail if tail else ''}")
    base = found["baseline"]
    if base["error"]:
        body = "\n".join("  " + line for line in base["error"].splitlines())
        raise EstimateFailure(f"{args.script} failed under the simulation:\n{body}")
    lower = found.get("lower_bound")
    if base["steps_done"] == 0 and not lower:
        raise EstimateFailure(
            f"{args.script} never stepped an optimizer (no optimizer.step() call ran), so there is no training "
            "step to estimate"
        )
    notes = list(base["notes"])
    report: dict[str, Any] = {
        "script": str(args.script),
        "python": {"path": python, "chosen_by": python_why},
        "device": "cpu",
        "steps": base["steps_done"],
        "peak_bytes": base["peak_bytes"],
        "peak_phase": base["peak_phase"],
        "peak_step": base["peak_step"],
        "components": base["components"],
        "step_peak_bytes": base["step_peaks"],
        "batch_size": base["batch_size"],
        "optimizer": base["optimizer"],
        "lower_bound": False,
        "stopped_by": None,
        "gpu": None,
        "levers": [],
        "eval_forward": found.get("eval_forward"),
        "timeline": found.get("timeline") or [],
        "phases": found.get("phases") or [],
        "step_starts": found.get("step_starts") or [],
        "notes": notes,
    }
    if lower:
        report.update(
            peak_bytes=lower["peak_bytes"], components=lower["components"], lower_bound=True,
            stopped_by=base["stopped_by"], peak_phase=None, peak_step=None,
        )
        notes.insert(0, (
            f"the simulation stopped at {base['stopped_by']}; the figure is a LOWER BOUND: weights + gradients + "
            f"optimizer state ({lower['assumed_state_per_parameter']} state tensor(s) per parameter), no activations"
        ))
    elif base["steps_done"] < args.steps:
        notes.append(f"only {base['steps_done']} of {args.steps} optimizer steps ran")
    if gpu is not None:
        report["gpu"] = gpu_report(gpu, found.get("gpu"), report)
    for lever in found.get("levers") or []:
        report["levers"].append(lever)
    if timed_out:
        notes.append(f"the estimate did not finish within {args.timeout:g} s: what was done is shown")
    report["gpu_model"] = gpu_model.facts() if gpu is not None else None
    return report


def gpu_report(gpu: Any, found: dict | None, report: dict[str, Any]) -> dict[str, Any]:
    from memlint.estimate import gpu_model

    out: dict[str, Any] = {
        "name": gpu.name,
        "total_bytes": gpu.total_bytes,
        "context_bytes": gpu_model.CUDA_CONTEXT["bytes"],
        "peak_bytes": None,
        "fits": None,
        "max_batch_size": None,
        "measured_on_a_gpu": False,
    }
    projection = (found or {}).get("projection")
    if report["lower_bound"]:
        lower = report["peak_bytes"]
        out["peak_bytes"] = gpu_model.CUDA_CONTEXT["bytes"] + lower
        out["fits"] = False if out["peak_bytes"] > gpu.total_bytes else None
        out["note"] = "from the lower bound: a fit cannot be confirmed"
        return out
    if projection is None:
        run = (found or {}).get("run") or {}
        out["note"] = f"the GPU simulation did not complete: {run.get('error') or run.get('stopped_by') or 'unknown'}"
        return out
    out.update(
        peak_bytes=projection["peak_bytes"],
        allocated_bytes=projection["allocated_bytes"],
        reserved_bytes=projection["reserved_bytes"],
        tensor_peak_bytes=projection["device_tensor_peak_bytes"],
        fits=projection["fits"],
        tight=projection["tight"],
    )
    if projection.get("all_tensors"):
        report["notes"].append(
            "the script puts no tensors on a GPU by itself, even with CUDA available: the projection counts "
            "all its tensors as if they were there"
        )
    search = (found or {}).get("search") or {}
    out["max_batch_size"] = search.get("max_batch_size")
    if search.get("note"):
        out["note"] = search["note"]
    elif search and not search.get("exact", True) and search.get("next_size_that_does_not_fit"):
        out["note"] = (
            f"within {search['next_size_that_does_not_fit'] - search['max_batch_size'] - 1} of the edge "
            f"({search['next_size_that_does_not_fit']} does not fit; {search.get('runs')} runs)"
        )
    return out


def public_report(report: dict[str, Any]) -> dict[str, Any]:
    """The JSON output: everything but the plot's timeline."""
    return {k: v for k, v in report.items() if k not in ("timeline", "phases", "step_starts")}
