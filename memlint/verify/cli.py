"""``memlint verify SCRIPT [-- ARGS]``: apply the fixes to a copy, run both, compare memory and output.

Three measurements per run: live tensor bytes (the allocator's view, decisive), CUDA peaks when
the script uses CUDA, and RSS (host memory, with DataLoader workers' PSS). A leak is a slope:
live tensor bytes sampled at every iteration the probe can see, fitted after a warm-up. With
several fixes, each finding's fix also runs alone, so the report says which change produced
which part of the reduction.

Exit codes: 0 the reduction is confirmed and the output stayed the same; 1 no confirmed
reduction, or the output changed; 2 the verification could not be done (the script failed or
timed out, nothing to fix, unreadable file).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

EXIT_CONFIRMED, EXIT_NOT_CONFIRMED, EXIT_ERROR = 0, 1, 2
STDERR_TAIL_LINES = 15
MAX_ATTRIBUTED_FIXES = 5
MIN_TENSOR_REDUCTION_MB = 1.0
MiB = 2**20


def add_verify_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "verify",
        help="measure a script's peak memory before and after its fixes",
        description=(
            "Apply memlint's fixes to a temporary copy of SCRIPT, run the original and the copy in fresh "
            "processes (interleaved, --repeat times each), and report for each the peak of live tensor bytes, "
            "the growth per iteration (leak slope), the CUDA peaks and RSS, and whether the output stayed the "
            "same. With 2 to 5 fixes, each fix also runs alone. Arguments after -- are passed to the script."
        ),
        epilog=(
            "exit status: 0 the reduction is confirmed (tensor peak cut by more than max(1 MiB, 3x the "
            "run-to-run spread), a leak slope removed, or RSS cut by more than max(5 MB, 3x the spread)) and the "
            "output is the same; 1 no confirmed reduction, or the output changed; 2 the script failed or timed "
            "out, or there was nothing to fix"
        ),
    )
    parser.add_argument("script", type=Path, help="the Python script to run (as `python SCRIPT ARGS` would)")
    parser.add_argument("script_args", nargs="*", metavar="-- ARGS", help="arguments for the script, after --")
    parser.add_argument("--unsafe-fixes", action="store_true", help="also apply unsafe fixes")
    parser.add_argument("--select", action="append", metavar="CODES", help="only these rules' fixes")
    parser.add_argument("--ignore", action="append", metavar="CODES", help="not these rules' fixes")
    parser.add_argument("--config", type=Path, help="use this pyproject.toml or memlint.toml only")
    parser.add_argument(
        "--against", type=Path, metavar="FIXED",
        help="compare with this file instead of applying memlint's fixes (e.g. a fix made by hand)",
    )
    parser.add_argument("--repeat", type=_positive_int, default=2, metavar="N", help="runs of each version (default 2)")
    parser.add_argument("--timeout", type=_positive_float, metavar="SECONDS", help="per run; kills its process group")
    parser.add_argument("--compare-file", type=Path, metavar="PATH", help="a file the script writes; must stay the same")
    parser.add_argument(
        "--iterations", type=_positive_int, metavar="N",
        help="stop each run after N iterations (optimizer steps; else DataLoader batches; else no_grad blocks)",
    )
    parser.add_argument(
        "--python", metavar="PATH",
        help="the interpreter that runs the script (default: the active virtualenv's or conda env's, "
        "else memlint's own)",
    )
    parser.add_argument(
        "--no-attribution", action="store_true",
        help=f"do not run each fix alone (done by default for 2 to {MAX_ATTRIBUTED_FIXES} fixes)",
    )
    parser.add_argument("--plot", type=Path, metavar="PNG", help="draw tensor memory per iteration for both versions")
    parser.add_argument("--output-format", choices=("text", "json"), default="text")
    _split_at_double_dash(parser)
    return parser


def _split_at_double_dash(parser: argparse.ArgumentParser) -> None:
    """Everything after the first ``--`` is the script's, wherever verify's own options stand.

    argparse alone fills ``script_args`` right after SCRIPT, so ``verify a.py --repeat 3 -- --lr 1``
    would fail; the subparser therefore parses only what precedes ``--``.
    """
    parse_known = parser.parse_known_args

    def parse_known_args(args: Sequence[str] | None = None, namespace: Any = None) -> Any:
        args = list(sys.argv[1:] if args is None else args)
        rest: list[str] = []
        if "--" in args:
            cut = args.index("--")
            args, rest = args[:cut], args[cut + 1:]
        namespace, extras = parse_known(args, namespace)
        namespace.script_args = [*(getattr(namespace, "script_args", None) or []), *rest]
        return namespace, extras

    parser.parse_known_args = parse_known_args  # type: ignore[method-assign]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


class _Failure(Exception):
    """Ends verification with exit 2 and this message."""


def resolve_rules(script: Path, args: argparse.Namespace) -> tuple[list, dict]:
    """The enabled rules for the script (its configuration, then --select/--ignore) and their options."""
    from memlint.config import ConfigError, ConfigResolver, resolve_selector, split_codes

    overrides = {"select": split_codes(args.select), "ignore": split_codes(args.ignore)}
    try:
        for key in ("select", "ignore"):
            for selector in overrides[key] or ():
                resolve_selector(selector, f"--{key}")
        settings = ConfigResolver(args.config, overrides).for_path(script)
    except ConfigError as exc:
        raise _Failure(str(exc)) from None
    return settings.rules_for(script), dict(settings.options)


def prepare_fixed(script: Path, text: str, args: argparse.Namespace) -> tuple[str, Counter, list, list]:
    """The fixed source, the codes fixed, and each fix alone; raises _Failure when there is nothing to apply."""
    from memlint.engine import FixFailure, ParseFailure, fix_each, fix_text, lint_text

    rules, options = resolve_rules(script, args)
    try:
        fixed, counts = fix_text(text, str(script), rules, options, unsafe=args.unsafe_fixes)
        singles = fix_each(text, str(script), rules, options, unsafe=args.unsafe_fixes) if counts else []
    except (FixFailure, ParseFailure) as exc:
        raise _Failure(f"{script}: {getattr(exc, 'message', exc)}") from None
    if not counts:
        findings = lint_text(text, str(script), rules, options)
        raise _Failure(no_fixes_message(script, findings, args))
    return fixed, counts, [f for f, _ in singles], [t for _, t in singles]


def no_fixes_message(script: Path, findings: list, args: argparse.Namespace) -> str:
    """Why there is nothing to verify, and the command that would verify something."""
    import shlex

    quoted = shlex.quote(str(script))
    rest = (" -- " + " ".join(shlex.quote(a) for a in args.script_args)) if args.script_args else ""
    unsafe = [f for f in findings if f.fix is not None and f.fix.applicability == "unsafe"]
    if unsafe and not args.unsafe_fixes:
        n = len(unsafe)
        return (
            f"{script}: no safe fixes to apply; {n} unsafe fix{'es' if n != 1 else ''} "
            f"({', '.join(sorted({f.code for f in unsafe}))}) can change what the program computes. "
            f"To measure {'them' if n != 1 else 'it'}: memlint verify --unsafe-fixes {quoted}{rest}"
        )
    if findings:
        n = len(findings)
        return (
            f"{script}: no fixes to apply; {n} finding{'s' if n != 1 else ''} without an automatic fix. "
            f"Fix it by hand in a copy, then: memlint verify {quoted} --against FIXED.py{rest}"
        )
    return (
        f"{script}: no fixes to apply: memlint finds nothing in it (already fixed with --fix?). "
        f"To measure a fix already made, compare the original with it: memlint verify ORIGINAL.py --against {quoted}{rest}"
    )


def run_verify(args: argparse.Namespace) -> int:
    """Entry point for ``memlint verify``; see the module docstring for exit codes."""
    report: dict[str, Any] = {"script": str(args.script), "fixes": []}
    try:
        from memlint.measure.child import interrupts_unwind

        with interrupts_unwind():
            return _verify(args, report)
    except _Failure as exc:
        message = str(exc)
        sys.stderr.write(f"memlint verify: error: {message}\n")
        if args.output_format == "json":
            report["error"] = message.splitlines()[0]
            sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return EXIT_ERROR


def _verify(args: argparse.Namespace, report: dict[str, Any]) -> int:
    from memlint.engine import libraries_mentioned
    from memlint.measure.child import ScriptInputError, choose_python, read_script
    from memlint.source import SourceError, read_source
    from memlint.verify.runner import Plan, measured_runs

    script: Path = args.script
    try:
        source = read_script(script, "verify")
        python, python_why = choose_python(args.python)
    except ScriptInputError as exc:
        raise _Failure(str(exc)) from None
    report["python"] = {"path": python, "chosen_by": python_why}
    singles: list = []
    single_sources: list = []
    if args.against is not None:
        try:
            fixed_source = read_source(args.against).raw
        except SourceError as exc:
            raise _Failure(f"{args.against}: {exc}") from None
        counts: Counter = Counter()
        report["against"] = str(args.against)
    else:
        fixed_text, counts, singles, single_texts = prepare_fixed(script, source.text, args)
        fixed_source = source.encode(fixed_text)
        if 2 <= len(singles) <= MAX_ATTRIBUTED_FIXES and not args.no_attribution:
            single_sources = [source.encode(text) for text in single_texts]
        elif len(singles) > MAX_ATTRIBUTED_FIXES and not args.no_attribution:
            report.setdefault("notes", []).append(
                f"{len(singles)} fixes: each fix is run alone only for up to {MAX_ATTRIBUTED_FIXES}"
            )
    report["fixes"] = sorted(counts)
    report["iterations_limit"] = args.iterations
    libraries = libraries_mentioned(source.text)
    plan = Plan(
        script=script,
        original_source=source.raw,
        fixed_source=fixed_source,
        script_args=list(args.script_args or []),
        repeat=args.repeat,
        timeout=args.timeout,
        compare_file=args.compare_file,
        libraries=libraries,
        python=python,
        iterations=args.iterations,
        single_fixes=single_sources,
    )
    with _progress(args.output_format) as on_run, measured_runs(plan, on_run) as runs:
        _raise_for_failed_runs(runs, args.timeout, python_why if python_why != "memlint's own interpreter" else None)
        outcome = evaluate(runs, args.compare_file is not None)
    notes = report.pop("notes", [])
    report.update(outcome)
    report["notes"] = notes + report["notes"]
    if single_sources:
        report["findings"] = attribute(singles, runs["single"], runs["before"])
    if args.plot is not None:
        from memlint.verify.plot import plot_runs

        try:
            plot_runs(runs, args.plot, plot_title(script, report), report.get("leak"))
        except Exception as exc:  # matplotlib missing or unwritable path: the measurement still stands
            report["notes"].append(f"could not draw {args.plot}: {exc}")
    if args.output_format == "json":
        sys.stdout.write(json.dumps(report, indent=2, allow_nan=False, default=str) + "\n")
    else:
        render_text(report, counts)
    return EXIT_CONFIRMED if report["confirmed"] and report["output_same"] else EXIT_NOT_CONFIRMED


def _raise_for_failed_runs(runs: dict, timeout: float | None, python_note: str | None = None) -> None:
    """Exit 2 for a timeout, an original that fails, or runs with no measurements."""
    for run in (*runs["before"], *runs["after"]):
        name = "the original" if run.version == "before" else "the fixed copy"
        if run.timed_out:
            raise _Failure(f"{name} did not finish within {timeout:g} s; its process group was killed")
        if run.version == "before" and run.exit_code != 0:
            where = f" (run by {python_note})" if python_note else ""
            raise _Failure(f"the original script failed (exit {run.exit_code}){where}{_stderr_tail(run.stderr_text)}")
        if run.exit_code == 0 and run.peak_mb is None:
            raise _Failure(f"{name} finished without memory measurements")


def _stderr_tail(stderr: str) -> str:
    lines = stderr.rstrip().splitlines()[-STDERR_TAIL_LINES:]
    return ("\n" + "\n".join("  " + line for line in lines)) if lines else ""


def iteration_series(run: Any, kind: str) -> list[float]:
    """Live tensor bytes at each iteration of one kind."""
    return [sample[1] for sample in (run.iterations or {}).get(kind, []) if sample[1] is not None]


def choose_iteration_kind(run: Any) -> str | None:
    """The loop the leak slope follows: optimizer steps, else DataLoader batches, else no_grad blocks."""
    from memlint.verify.compare import MIN_SLOPE_SAMPLES
    from memlint.verify.probe import ITERATION_KINDS

    for kind in ITERATION_KINDS:
        if len(iteration_series(run, kind)) >= MIN_SLOPE_SAMPLES:
            return kind
    return None


def evaluate(runs: dict, with_compare_file: bool) -> dict[str, Any]:
    """The JSON body: per-version summaries, the three measurements, the leak, the output check, the verdict."""
    from memlint.verify.compare import (
        MIN_REDUCTION_MB, compare_file_contents, fit_slope, format_slope, is_leak,
        summarize_peaks,
    )

    before, after = runs["before"], runs["after"]
    reference = before[0]
    notes: list[str] = []
    output_diff = None
    for run in after:
        if run.exit_code != reference.exit_code:
            output_diff = f"the fixed copy exited with {run.exit_code}{_stderr_tail(run.stderr_text)}"
            break
        output_diff = run.output_difference
        if output_diff is None and with_compare_file:
            output_diff = compare_file_contents(reference.compare_bytes, run.compare_bytes)
        if output_diff:
            break
    if any(run.output_difference for run in before[1:]):
        notes.append("the original's own output differs between runs, so output changes may be noise")
    if not all(run.reset_ok for run in (*before, *after)):
        notes.append("could not reset the high-water mark; RSS peaks are measured above the import peak")
    if reference.stopped_after:
        notes.append(f"each run stopped after {reference.stopped_after} iterations; output compared up to there")

    measured_after = [r for r in after if r.peak_mb is not None]
    rss = summarize_peaks([_host_mb(r) for r in before], [_host_mb(r) for r in measured_after] or [math.nan])
    tensor = None
    if all(r.tensor_peak_mb is not None for r in (*before, *measured_after)) and measured_after:
        tensor = summarize_peaks(
            [_device_mb(r) for r in before], [_device_mb(r) for r in measured_after], MIN_TENSOR_REDUCTION_MB
        )
    kind = choose_iteration_kind(reference)
    leak = None
    if kind is not None:
        slope_before = fit_slope(iteration_series(reference, kind))
        slope_after = fit_slope(iteration_series(measured_after[0], kind)) if measured_after else None
        removed = is_leak(slope_before) and slope_after is not None and not is_leak(slope_after)
        leak = {
            "per": kind,
            "before": slope_before,
            "after": slope_after,
            "removed": removed,
            "verdict": (
                f"{'leak' if is_leak(slope_before) else 'growth'}: {format_slope(slope_before)} before, "
                f"{format_slope(slope_after)} after (per {kind})"
            ),
        }
    elif tensor is not None:
        notes.append(
            "no loop the probe can see (no optimizer step, DataLoader batch or torch.no_grad block repeated): "
            "the verdict uses peaks only"
        )
    confirmed_by = []
    if tensor is not None and tensor["confirmed"]:
        confirmed_by.append("tensor peak")
    if leak is not None and leak["removed"]:
        confirmed_by.append("leak slope")
    if rss["confirmed"]:
        confirmed_by.append("RSS")
    deciding = tensor if tensor is not None else rss
    ratio = deciding["ratio"]
    return {
        "measured_by": "tensors" if tensor is not None else "RSS",
        "before": _version_summary(before, kind),
        "after": _version_summary(measured_after or after, kind),
        "ratio": None if ratio is None or not math.isfinite(ratio) else round(ratio, 2),
        "reduction_mb": _r(deciding["before"] - deciding["after"]),
        "threshold_mb": _r(deciding["threshold_mb"]),
        "spread_mb": _r(deciding["spread_mb"]),
        "tensor": _peak_summary(tensor),
        "rss": _peak_summary(rss, MIN_REDUCTION_MB),
        "leak": leak,
        "output_same": output_diff is None,
        "output_difference": output_diff,
        "confirmed": bool(confirmed_by) and bool(measured_after),
        "confirmed_by": confirmed_by,
        "notes": notes,
    }


def _device_mb(run: Any) -> float:
    """The decisive tensor figure: CUDA's allocator peak where the script used CUDA, else live tensor bytes."""
    return run.cuda_peak_mb if run.cuda_peak_mb is not None else run.tensor_peak_mb


def _host_mb(run: Any) -> float:
    """Host memory: the RSS peak above the floor plus the peak PSS of worker processes."""
    return (run.peak_mb or 0.0) + (run.children_pss_peak_mb or 0.0)


def _peak_summary(peaks: dict | None, minimum: float = MIN_TENSOR_REDUCTION_MB) -> dict | None:
    if peaks is None:
        return None
    ratio = peaks["ratio"]
    return {
        "before_mb": _r(peaks["before"]),
        "after_mb": _r(peaks["after"]),
        "reduction_mb": _r(peaks["before"] - peaks["after"]),
        "threshold_mb": _r(peaks["threshold_mb"]),
        "spread_mb": _r(peaks["spread_mb"]),
        "ratio": None if ratio is None or not math.isfinite(ratio) else round(ratio, 2),
        "confirmed": bool(peaks["confirmed"]),
    }


def attribute(findings: list, singles: list, before: list) -> list[dict[str, Any]]:
    """Per finding: the tensor peak and slope with only its fix applied, and its share of the cut."""
    from statistics import median

    from memlint.verify.compare import fit_slope

    base = median(_device_mb(r) for r in before) if all(r.tensor_peak_mb is not None for r in before) else None
    kind = choose_iteration_kind(before[0])
    rows = []
    for index, finding in enumerate(findings):
        run = singles[index] if index < len(singles) else None
        row: dict[str, Any] = {
            "code": finding.code, "row": finding.row, "column": finding.column, "message": finding.message,
        }
        if run is None:
            row["error"] = "not run (an earlier run failed)"
        elif run.exit_code != 0:
            row["error"] = f"with only this fix the script failed (exit {run.exit_code})"
        else:
            peak = _device_mb(run) if run.tensor_peak_mb is not None else None
            row["tensor_peak_mb"] = _r(peak)
            row["reduction_mb"] = _r(base - peak) if base is not None and peak is not None else None
            row["rss_peak_mb"] = _r(run.peak_mb)
            row["slope"] = fit_slope(iteration_series(run, kind)) if kind else None
        rows.append(row)
    return rows


def _r(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 1)


def _version_summary(runs: Sequence, kind: str | None) -> dict[str, Any]:
    from statistics import median

    from memlint.verify.compare import fit_slope

    def med(values: list) -> float | None:
        values = [v for v in values if v is not None]
        return _r(median(values)) if values else None

    return {
        "tensor_peak_mb": med([r.tensor_peak_mb for r in runs]),
        "peak_mb": med([r.peak_mb for r in runs]),
        "process_peak_mb": med([r.process_peak_mb for r in runs]),
        "cuda_peak_mb": med([r.cuda_peak_mb for r in runs]),
        "cuda_reserved_mb": med([r.cuda_reserved_mb for r in runs]),
        "workers_pss_peak_mb": med([r.children_pss_peak_mb for r in runs]),
        "workers_uss_peak_mb": med([r.children_uss_peak_mb for r in runs]),
        "slope": fit_slope(iteration_series(runs[0], kind)) if kind and runs else None,
        "iterations": {k: len(v) for k, v in (runs[0].iterations or {}).items() if v} if runs else {},
        "wall_s": round(median([r.wall_s for r in runs]), 2),
        "runs": [r.summary() for r in runs],
    }


def plot_title(script: Path, report: dict[str, Any]) -> str:
    """What changed, and the peak it changed, in one line."""
    if report.get("against"):
        change = f"{script.name} vs {Path(report['against']).name}"
    else:
        change = f"{script.name} before and after {', '.join(report.get('fixes') or []) or 'its fixes'}"
    peaks = report.get("tensor") or report.get("rss")
    if peaks and peaks.get("before_mb") is not None:
        what = "tensor peak" if report.get("tensor") else "RSS peak"
        change += f": {what} {_fmt(peaks['before_mb'])} → {_fmt(peaks['after_mb'])} MiB"
    return change


def render_text(report: dict[str, Any], counts: Counter) -> None:
    from rich.markup import escape
    from rich.table import Table

    from memlint.output.text import make_console
    from memlint.verify.compare import format_slope

    console = make_console()
    if not console.is_terminal:
        console.width = 160  # a pipe or file gets whole rows, not an 80-column wrap
    before, after = report["before"], report["after"]
    with_cuda = before["cuda_peak_mb"] is not None or after["cuda_peak_mb"] is not None
    with_tensors = report["tensor"] is not None
    with_workers = before["workers_pss_peak_mb"] is not None or after["workers_pss_peak_mb"] is not None
    table = Table(title=f"memlint verify {escape(report['script'])}", title_justify="left")
    table.add_column("version")
    if with_tensors:
        table.add_column("tensor peak (MiB)", justify="right")
        table.add_column("growth per iteration", justify="right")
    if with_cuda:
        table.add_column("CUDA peak (MiB)", justify="right")
        table.add_column("CUDA reserved (MiB)", justify="right")
    table.add_column("RSS above floor (MiB)", justify="right")
    if with_workers:
        table.add_column("workers PSS (MiB)", justify="right")
    table.add_column("wall (s)", justify="right")
    table.add_column("output same?", justify="center")
    same = "[green]yes[/green]" if report["output_same"] else "[bold red]no[/bold red]"
    for label, summary, output in (("original", before, "-"), ("fixed", after, same)):
        row = [label]
        if with_tensors:
            row += [_fmt(summary["tensor_peak_mb"]), format_slope(summary["slope"])]
        if with_cuda:
            row += [_fmt(summary["cuda_peak_mb"]), _fmt(summary["cuda_reserved_mb"])]
        row.append(_fmt(summary["peak_mb"]))
        if with_workers:
            row.append(_fmt(summary["workers_pss_peak_mb"]))
        row += [f"{summary['wall_s']:.2f}", output]
        table.add_row(*row)
    console.print(table)
    python = report.get("python")
    if python:
        console.print(f"Python: {escape(python['path'])} ({escape(python['chosen_by'])})")
    if report.get("against"):
        console.print(f"Compared with: {escape(report['against'])}")
    if counts:
        applied = ", ".join(f"{code} ×{n}" if n > 1 else code for code, n in sorted(counts.items()))
        console.print(f"Fixes applied: {applied}")
    for label, peaks, minimum in (("Tensor peak", report["tensor"], "1 MiB"), ("RSS peak", report["rss"], "5 MB")):
        if peaks is None:
            continue
        ratio = f"{peaks['ratio']:.2f}×" if peaks["ratio"] is not None else "∞×"
        verdict = "[green]confirmed[/green]" if peaks["confirmed"] else "[yellow]not confirmed[/yellow]"
        console.print(
            f"{label}: {_fmt(peaks['before_mb'])} → {_fmt(peaks['after_mb'])} MiB, {ratio} ({verdict}: cut "
            f"{_fmt(peaks['reduction_mb'])}, needs > {_fmt(peaks['threshold_mb'])} = max({minimum}, 3 × "
            f"run-to-run spread {_fmt(peaks['spread_mb'])}))"
        )
    if report.get("leak"):
        console.print(f"Leak slope: {escape(report['leak']['verdict'])}")
    for finding in report.get("findings", []):
        where = f"{finding['code']} at line {finding['row']}"
        if "error" in finding:
            console.print(f"  {where}: {escape(finding['error'])}")
        else:
            console.print(
                f"  {where} alone: tensor peak {_fmt(finding['tensor_peak_mb'])} MiB "
                f"(cut {_fmt(finding['reduction_mb'])}), growth {format_slope(finding['slope'])}"
            )
    verdict = (
        f"[bold green]confirmed[/bold green] by {', '.join(report['confirmed_by'])}" if report["confirmed"]
        else "[bold yellow]not confirmed[/bold yellow]"
    )
    console.print(f"Verdict: {verdict}")
    if report["output_same"]:
        console.print("Output: [green]the same[/green] (stdout, numbers within rtol=1e-4, atol=1e-6)")
    else:
        console.print(f"Output: [bold red]changed[/bold red]: {escape(report['output_difference'] or '')}")
    for note in report.get("notes", []):
        console.print(f"[dim]note: {escape(note)}[/dim]")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


@contextmanager
def _progress(output_format: str) -> Iterator:
    """A progress display on stderr while runs go, only when stderr is a terminal."""
    from memlint.output.text import make_console

    console = make_console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    names = {"before": "original", "after": "fixed copy"}
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)

        def on_run(index: int, total: int, version: str) -> None:
            progress.update(task, description=f"run {index}/{total}: {names[version]}", completed=index - 1, total=total)

        yield on_run
