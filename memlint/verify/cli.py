"""``memlint verify SCRIPT [-- ARGS]``: apply the fixes to a copy, run both, compare memory and output.

Exit codes: 0 the reduction is confirmed and the output stayed the same; 1 no confirmed
reduction, or the output changed; 2 the verification could not be done (the script failed or
timed out, nothing to fix, unreadable file).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

EXIT_CONFIRMED, EXIT_NOT_CONFIRMED, EXIT_ERROR = 0, 1, 2
STDERR_TAIL_LINES = 15


def add_verify_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "verify",
        help="measure a script's peak memory before and after its fixes",
        description=(
            "Apply memlint's fixes to a temporary copy of SCRIPT, run the original and the copy in fresh "
            "processes (interleaved, --repeat times each), and report the peak memory of each and whether "
            "the output stayed the same. Arguments after -- are passed to the script."
        ),
        epilog=(
            "exit status: 0 the reduction is confirmed (more than max(5 MB, 3x the run-to-run spread)) and the "
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
    parser.add_argument("--plot", type=Path, metavar="PNG", help="draw memory over time for both versions")
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
        namespace.script_args = [*(namespace.script_args or []), *rest]
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


def prepare_fixed(script: Path, text: str, args: argparse.Namespace) -> tuple[str, Counter]:
    """The fixed source and the codes fixed; raises _Failure when there is nothing to apply."""
    from memlint.engine import FixFailure, ParseFailure, fix_text, lint_text

    rules, options = resolve_rules(script, args)
    try:
        fixed, counts = fix_text(text, str(script), rules, options, unsafe=args.unsafe_fixes)
    except (FixFailure, ParseFailure) as exc:
        raise _Failure(f"{script}: {getattr(exc, 'message', exc)}") from None
    if not counts:
        hint = ""
        if not args.unsafe_fixes:
            findings = lint_text(text, str(script), rules, options)
            unsafe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "unsafe")
            if unsafe:
                hint = f" ({unsafe} unsafe fix{'es' if unsafe != 1 else ''} available with --unsafe-fixes)"
        raise _Failure(f"{script}: no fixes to apply{hint}")
    return fixed, counts


def run_verify(args: argparse.Namespace) -> int:
    """Entry point for ``memlint verify``; see the module docstring for exit codes."""
    report: dict[str, Any] = {"script": str(args.script), "fixes": []}
    try:
        with _terminate_as_exit():
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
    from memlint.source import SourceError, read_source
    from memlint.verify.runner import Plan, run_plan

    script: Path = args.script
    if script.suffix == ".ipynb":
        raise _Failure(f"{script}: verify runs Python scripts; export the notebook to a .py file first")
    try:
        source = read_source(script)
    except SourceError as exc:
        raise _Failure(f"{script}: {exc}") from None
    if args.against is not None:
        try:
            fixed_source = read_source(args.against).raw
        except SourceError as exc:
            raise _Failure(f"{args.against}: {exc}") from None
        counts: Counter = Counter()
        report["against"] = str(args.against)
    else:
        fixed_text, counts = prepare_fixed(script, source.text, args)
        fixed_source = source.encode(fixed_text)
    report["fixes"] = sorted(counts)
    script_args = list(args.script_args or [])
    plan = Plan(
        script=script,
        original_source=source.raw,
        fixed_source=fixed_source,
        script_args=script_args,
        repeat=args.repeat,
        timeout=args.timeout,
        compare_file=args.compare_file,
        libraries=libraries_mentioned(source.text),
    )
    with _progress(args.output_format) as on_run:
        runs = run_plan(plan, on_run)
    _raise_for_failed_runs(runs, args.timeout)

    outcome = evaluate(runs, args.compare_file is not None)
    report.update(outcome)
    if args.plot is not None:
        from memlint.verify.plot import plot_runs

        try:
            plot_runs(runs, args.plot, f"memlint verify {script.name}")
        except Exception as exc:  # matplotlib missing or unwritable path: the measurement still stands
            report.setdefault("notes", []).append(f"could not draw {args.plot}: {exc}")
    if args.output_format == "json":
        sys.stdout.write(json.dumps(report, indent=2, allow_nan=False, default=str) + "\n")
    else:
        render_text(report, counts)
    return EXIT_CONFIRMED if report["confirmed"] and report["output_same"] else EXIT_NOT_CONFIRMED


def _raise_for_failed_runs(runs: dict, timeout: float | None) -> None:
    """Exit 2 for a timeout, an original that fails, or runs with no measurements."""
    for run in (*runs["before"], *runs["after"]):
        name = "the original" if run.version == "before" else "the fixed copy"
        if run.timed_out:
            raise _Failure(f"{name} did not finish within {timeout:g} s; its process group was killed")
        if run.version == "before" and run.exit_code != 0:
            raise _Failure(f"the original script failed (exit {run.exit_code}){_stderr_tail(run.stderr)}")
        if run.exit_code == 0 and run.peak_mb is None:
            raise _Failure(f"{name} finished without memory measurements")


def _stderr_tail(stderr: str) -> str:
    lines = stderr.rstrip().splitlines()[-STDERR_TAIL_LINES:]
    return ("\n" + "\n".join("  " + line for line in lines)) if lines else ""


def evaluate(runs: dict, with_compare_file: bool) -> dict[str, Any]:
    """The JSON body: per-version summaries, ratio, output check, confirmation."""
    from memlint.verify.compare import compare_file_contents, first_difference, summarize_peaks

    before, after = runs["before"], runs["after"]
    reference = before[0]
    notes: list[str] = []
    output_diff = None
    for run in after:
        if run.exit_code != reference.exit_code:
            output_diff = f"the fixed copy exited with {run.exit_code}{_stderr_tail(run.stderr)}"
            break
        output_diff = first_difference(reference.stdout, run.stdout)
        if output_diff is None and with_compare_file:
            output_diff = compare_file_contents(reference.compare_bytes, run.compare_bytes)
        if output_diff:
            break
    if any(first_difference(reference.stdout, run.stdout) for run in before[1:]):
        notes.append("the original's own output differs between runs, so output changes may be noise")
    if not all(run.reset_ok for run in (*before, *after)):
        notes.append("could not reset the high-water mark; peaks are measured above the import peak")

    measured_after = [r for r in after if r.peak_mb is not None]
    peaks = summarize_peaks([r.peak_mb for r in before], [r.peak_mb for r in measured_after] or [math.nan])
    ratio = peaks["ratio"]
    return {
        "before": _version_summary(before),
        "after": _version_summary(measured_after or after),
        "ratio": None if ratio is None or not math.isfinite(ratio) else round(ratio, 2),
        "reduction_mb": _r(peaks["before"] - peaks["after"]),
        "threshold_mb": _r(peaks["threshold_mb"]),
        "spread_mb": _r(peaks["spread_mb"]),
        "output_same": output_diff is None,
        "output_difference": output_diff,
        "confirmed": bool(peaks["confirmed"]) and bool(measured_after),
        "notes": notes,
    }


def _r(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 1)


def _version_summary(runs: Sequence) -> dict[str, Any]:
    from statistics import median

    def med(values: list) -> float | None:
        values = [v for v in values if v is not None]
        return _r(median(values)) if values else None

    return {
        "peak_mb": med([r.peak_mb for r in runs]),
        "process_peak_mb": med([r.process_peak_mb for r in runs]),
        "cuda_peak_mb": med([r.cuda_peak_mb for r in runs]),
        "cuda_reserved_mb": med([r.cuda_reserved_mb for r in runs]),
        "wall_s": round(median([r.wall_s for r in runs]), 2),
        "runs": [r.summary() for r in runs],
    }


def render_text(report: dict[str, Any], counts: Counter) -> None:
    from rich.markup import escape
    from rich.table import Table

    from memlint.output.text import make_console

    console = make_console()
    before, after = report["before"], report["after"]
    with_cuda = before["cuda_peak_mb"] is not None or after["cuda_peak_mb"] is not None
    table = Table(title=f"memlint verify {escape(report['script'])}", title_justify="left")
    table.add_column("version")
    table.add_column("peak above floor (MB)", justify="right")
    table.add_column("process peak (MB)", justify="right")
    if with_cuda:
        table.add_column("CUDA peak (MB)", justify="right")
    table.add_column("wall (s)", justify="right")
    table.add_column("output same?", justify="center")
    same = "[green]yes[/green]" if report["output_same"] else "[bold red]no[/bold red]"
    for label, summary, output in (("original", before, "-"), ("fixed", after, same)):
        row = [label, _fmt(summary["peak_mb"]), _fmt(summary["process_peak_mb"])]
        if with_cuda:
            row.append(_fmt(summary["cuda_peak_mb"]))
        row += [f"{summary['wall_s']:.2f}", output]
        table.add_row(*row)
    console.print(table)
    if report.get("against"):
        console.print(f"Compared with: {escape(report['against'])}")
    if counts:
        applied = ", ".join(f"{code} ×{n}" if n > 1 else code for code, n in sorted(counts.items()))
        console.print(f"Fixes applied: {applied}")
    ratio = report["ratio"]
    ratio_text = f"{ratio:.2f}×" if ratio is not None else "∞×"
    verdict = (
        "[bold green]confirmed[/bold green]" if report["confirmed"] else "[bold yellow]not confirmed[/bold yellow]"
    )
    console.print(
        f"Peak above floor: {_fmt(before['peak_mb'])} MB → {_fmt(after['peak_mb'])} MB, {ratio_text} "
        f"({verdict}: cut {_fmt(report['reduction_mb'])} MB, needs > {_fmt(report['threshold_mb'])} MB "
        f"= max(5 MB, 3 × run-to-run spread {_fmt(report['spread_mb'])} MB))"
    )
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


@contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the child's process group is killed and temp files removed."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
