"""Run `memlint verify` over every fixture pair and record the measured effect in rules/MEMxxx.md.

    python benchmarks/verify_fixtures.py                # all fixtures/MEM*/bad.py, 3 runs each
    python benchmarks/verify_fixtures.py MEM002 MEM004  # only these
    python benchmarks/verify_fixtures.py --no-write     # print, leave the rule documents alone

Where the rule's finding in bad.py carries a fix, this is the real thing: `memlint verify
--select MEMxxx --unsafe-fixes bad.py` (tests/test_fixtures.py checks that the fix gives exactly
fixed.py). Where it does not, fixed.py is the hand fix: `memlint verify bad.py --against fixed.py`.
Each pair runs from a fresh temporary directory. Only the "## Measured effect" section of an
existing rules/MEMxxx.md is replaced; a pair whose verification failed leaves its document alone.
The section shows the tensor peak, the growth per iteration (leak slope) and RSS; the before/after
columns printed here are the deciding figure (tensors when the script uses torch, else RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Measured effect"


def memlint(*args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "memlint", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def has_fix(bad: Path, code: str) -> bool:
    proc = memlint("check", "--no-cache", "--output-format", "json", "--select", code, str(bad), cwd=REPO, timeout=120)
    try:
        return any(f["fix"] for f in json.loads(proc.stdout))
    except ValueError:
        return False


def verify_pair(bad: Path, repeat: int, timeout: float) -> tuple[dict, str]:
    code = bad.parent.name
    if has_fix(bad, code):
        how = ["--select", code, "--unsafe-fixes"]
        mode = f"`memlint verify --select {code} --unsafe-fixes`"
    else:
        how = ["--against", str(bad.with_name("fixed.py"))]
        mode = "`memlint verify --against fixed.py` (the rule has no automatic fix here)"
    args = ["verify", str(bad), *how, "--repeat", str(repeat), "--timeout", str(timeout), "--output-format", "json"]
    with tempfile.TemporaryDirectory(prefix="memlint-bench-") as cwd:
        proc = memlint(*args, cwd=Path(cwd), timeout=(timeout + 30) * repeat * 2 + 60)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        report = {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return report, mode


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    torch_version = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True
    ).stdout.strip() or "not installed"
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch_version}, Python {platform.python_version()}, "
        f"{platform.system()}"
    )


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} MiB"


def _slope(summary: dict) -> str:
    slope = summary.get("slope")
    if not slope:
        return "-"
    return f"{slope['bytes_per_iteration'] / 2**20:+.2f} MiB"


def section_text(code: str, report: dict, mode: str, repeat: int, where: str) -> str:
    before, after = report["before"], report["after"]
    by_rss = "RSS" in report["confirmed_by"] and "tensor peak" not in report["confirmed_by"]
    peaks = report["rss"] if by_rss or report.get("tensor") is None else report["tensor"]
    ratio = f"{peaks['ratio']:.1f}×" if peaks.get("ratio") is not None else "∞×"
    verdict = f"confirmed by {', '.join(report['confirmed_by'])}" if report["confirmed"] else "NOT confirmed"
    output = "output unchanged" if report["output_same"] else f"OUTPUT CHANGED: {report['output_difference']}"
    leak = report.get("leak")
    per = f"growth per {leak['per']}" if leak else "growth per iteration"
    rows = [
        f"| version | tensor peak | {per} | RSS above the post-import floor | whole-process peak | wall |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, summary in (("bad.py", before), ("fixed.py", after)):
        rows.append(
            f"| {label} | {_mib(summary.get('tensor_peak_mb'))} | {_slope(summary)} | {summary['peak_mb']:.1f} MB | "
            f"{summary['process_peak_mb']:.1f} MB | {summary['wall_s']:.2f} s |"
        )
    if peaks is report.get("tensor"):
        measured = "live tensor bytes"
    elif report.get("tensor") is None:
        measured = "RSS (the script holds no torch tensors)"
    else:
        measured = "RSS (host memory; the live tensor peak did not change)" if by_rss else "RSS"
    lines = [
        SECTION,
        "",
        f"Measured on [`fixtures/{code}/bad.py`](../fixtures/{code}/bad.py) with {mode}, {repeat} runs of each "
        "version, interleaved, in fresh processes (`benchmarks/verify_fixtures.py`):",
        "",
        *rows,
        "",
        f"Cut **{ratio}** in {measured} ({verdict}; {output}).",
    ]
    if leak:
        lines.append(f"Leak slope: {leak['verdict']}.")
    elif report.get("measured_by") == "tensors":
        lines.append("No loop the probe can see (optimizer step, DataLoader batch, no_grad block): peaks only.")
    lines += [
        f"Machine: {where}. CUDA: not measured (no GPU was available when this was written).",
        "",
    ]
    return "\n".join(lines)


def replace_section(document: str, new_section: str) -> str:
    """Swap the Measured effect section (up to the next ## heading); insert it before References if absent."""
    pattern = re.compile(r"^## Measured effect[ \t]*\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(document):
        return pattern.sub(lambda _: new_section + "\n", document, count=1).rstrip("\n") + "\n"
    references = re.search(r"^## References", document, re.MULTILINE)
    if references:
        return document[: references.start()] + new_section + "\n" + document[references.start():]
    return document.rstrip("\n") + "\n\n" + new_section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("codes", nargs="*", help="only these fixture directories (default: all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0, help="per run, seconds")
    parser.add_argument("--no-write", action="store_true", help="do not touch rules/MEMxxx.md")
    args = parser.parse_args()

    bads = sorted((REPO / "fixtures").glob("MEM*/bad.py"))
    if args.codes:
        wanted = {c.upper() for c in args.codes}
        bads = [b for b in bads if b.parent.name in wanted]
    if not bads:
        print("no fixtures to verify", file=sys.stderr)
        return 1
    where = machine()
    print(f"machine: {where}")
    print(f"{'rule':8} {'before MB':>10} {'after MB':>10} {'ratio':>8}  confirmed  output   document")
    failed = 0
    for bad in bads:
        code = bad.parent.name
        report, mode = verify_pair(bad, args.repeat, args.timeout)
        if "error" in report or report.get("before") is None:
            failed += 1
            print(f"{code:8} error: {report.get('error')}")
            continue
        doc = REPO / "rules" / f"{code}.md"
        status = "-"
        figures = [report[v].get(k) or 0.0 for v in ("before", "after") for k in ("peak_mb", "tensor_peak_mb")]
        if max(figures) < 1.0:
            # e.g. a TensorFlow pair where TensorFlow is missing: it prints a note and exits
            status = "nothing allocated (did the script exit early?); document left alone"
        elif doc.is_file() and not args.no_write:
            text = doc.read_text(encoding="utf-8")
            new = replace_section(text, section_text(code, report, mode, args.repeat, where))
            if new != text:
                doc.write_text(new, encoding="utf-8")
            status = f"rules/{code}.md updated"
        elif not doc.is_file():
            status = "no rule document"
        ratio = f"{report['ratio']:.1f}x" if report.get("ratio") is not None else "inf"
        deciding = "tensor_peak_mb" if report.get("measured_by") == "tensors" else "peak_mb"
        print(
            f"{code:8} {report['before'][deciding]:>10.1f} {report['after'][deciding]:>10.1f} {ratio:>8}  "
            f"{'yes' if report['confirmed'] else 'NO':9}  {'same' if report['output_same'] else 'CHANGED':7}  {status}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
