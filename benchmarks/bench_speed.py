"""How fast is `memlint check` next to a bare libcst parse of the same files? Prints ratios.

    python benchmarks/bench_speed.py                 # the installed torch package, then fixtures/
    python benchmarks/bench_speed.py PATH ...        # other trees
    python benchmarks/bench_speed.py --every 4       # every 4th file only (a quicker, still fair, sample)

Every measurement runs in its own child process, in this one script run, so the ratios compare
like with like on the same machine at the same time:
  parse        read + libcst.parse_module of every file memlint would check (one process)
  cold-1       memlint check --no-cache, one process (MEMLINT_JOBS=1): apples to apples with parse
  cold-pool    memlint check with the process pool and an empty cache
  warm         the same command again: every result from the cache (fastest of 3 runs)
  warm-edit    again after one file's content changed (its dependents are re-checked too;
               fastest of 3 runs, each after a new edit)
  project      the project pass alone (summaries of every file, joined), one process
The files are copied to a temporary folder first, so one of them can be edited. Peak RSS is that of
the largest single process (wait4's ru_maxrss covers the child and the workers it waited for). CPU
seconds (user + system of the child and its workers) are printed beside wall seconds: on a busy
machine they are the fairer comparison. memlint's modules are compiled once before the first timed
run, into the temporary folder, so no run pays for compiling them (as with an installed package).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_PARSE = """
import sys, time, libcst
files = [line for line in open(sys.argv[1], encoding="utf-8").read().splitlines() if line]
start = time.perf_counter()
failed = 0
for name in files:
    with open(name, "rb") as handle:
        raw = handle.read()
    try:
        libcst.parse_module(raw)
    except Exception:
        failed += 1
print(time.perf_counter() - start, failed)
"""


def torch_dir() -> Path:
    out = subprocess.run(
        [sys.executable, "-c", "import torch, os; print(os.path.dirname(torch.__file__))"],
        capture_output=True, text=True, check=True,
    )
    return Path(out.stdout.strip())


def files_memlint_checks(paths: list[Path]) -> list[Path]:
    sys.path.insert(0, str(REPO))
    from memlint.config import ConfigResolver
    from memlint.files import Target, discover

    return [t.path for t in discover(paths, ConfigResolver()) if isinstance(t, Target) and t.path.suffix == ".py"]


_PROJECT = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from memlint.analysis.project import prepare
files = [Path(line) for line in open(sys.argv[1], encoding="utf-8").read().splitlines() if line]
start = time.process_time()
prepare(files)
print(time.process_time() - start)
"""

CPU: dict[str, float] = {}
REPEAT = 3  # runs of each short (warm) measurement; the fastest counts
# As an installed package runs: with bytecode (a checkout where PYTHONDONTWRITEBYTECODE is set would
# otherwise compile every module on every run). The bytecode goes to the work folder, not the checkout.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one child process; its CPU seconds go to CPU[cmd]."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**ENV, **(env or {})}, cwd=cwd
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    CPU[" ".join(cmd)] = usage.ru_utime + usage.ru_stime
    # 2: some files could not be checked (the installed torch holds a file only Python 3.12 parses);
    # they are reported in the output and the run finished. Anything else is a failed run.
    if proc.returncode not in (0, 1, 2) or (proc.returncode == 2 and not out.lstrip().startswith("[")):
        raise SystemExit(f"{' '.join(cmd[:8])} ... exited {proc.returncode}")
    return elapsed, usage.ru_maxrss / 1024, out


def bench(label: str, files: list[Path]) -> dict[str, float]:
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    print(f"\n== {label}: {len(files)} files, {lines:,} lines")
    work = Path(tempfile.mkdtemp(prefix="memlint-bench-"))
    try:
        common = Path(os.path.commonpath([str(p.parent) for p in files]))
        copies = []
        for source in files:
            target = work / "tree" / source.relative_to(common)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copies.append(target)
        listing = work / "files.txt"
        listing.write_text("\n".join(str(p) for p in copies) + "\n", encoding="utf-8")
        rows = []
        ENV["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        subprocess.run([sys.executable, "-c", "import memlint.engine, memlint.rules, memlint.runner; memlint.rules.all_rules()"],
                       env=ENV, cwd=work, check=True)  # compile memlint once, before any timed run

        def run(name: str, cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
            wall, rss, out = timed(cmd, env=env, cwd=work)
            cpu = CPU[" ".join(cmd)]
            rows.append((name, wall, cpu, rss))
            return wall, cpu, rss, out

        _, parse_cpu, rss_parse, out = run("bare libcst parse (1 process)", [sys.executable, "-c", _PARSE, str(listing)])
        failed = int(out.split()[1])
        memlint = [sys.executable, "-m", "memlint", "check", "--exit-zero", "-q", "--output-format", "json"]
        names = [str(p) for p in copies]
        cache = work / "cache"
        _, cold1_cpu, rss1, _ = run("memlint cold, 1 process", [*memlint, "--no-cache", *names], {"MEMLINT_JOBS": "1"})
        cold, cold_cpu, rss_pool, _ = run("memlint cold, pool", [*memlint, "--cache-dir", str(cache), *names])
        # The short runs are timed REPEAT times and the fastest is kept (as timeit does): one
        # run of half a second is at the mercy of whatever else the machine does meanwhile.
        warm, warm_cpu, _, _ = min(
            run(f"memlint warm cache (run {i + 1})", [*memlint, "--cache-dir", str(cache), *names]) for i in range(REPEAT)
        )
        edited = copies[len(copies) // 2]
        edits = []
        for i in range(REPEAT):  # a new edit each time, so each run re-checks what the edit touches
            edited.write_text(edited.read_text(encoding="utf-8") + f"\n# edited {i}\n", encoding="utf-8")
            edits.append(run(f"memlint warm, one file edited ({i + 1})", [*memlint, "--cache-dir", str(cache), *names]))
        edit, edit_cpu, _, _ = min(edits)
        project_cpu = float(timed([sys.executable, "-c", _PROJECT, str(listing), str(REPO)], cwd=work)[2].split()[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, wall, cpu, rss in rows:
        print(f"  {name:<34} {wall:8.2f} s wall {cpu:8.2f} s cpu  peak RSS {rss:6.0f} MB")
    print(f"  {'project pass alone (in-process cpu)':<34} {project_cpu:8.2f} s cpu")
    if failed:
        print(f"  ({failed} files libcst could not parse)")
    result = {
        "cold_1_over_parse_cpu": cold1_cpu / parse_cpu,
        "cold_pool_over_parse_cpu": cold_cpu / parse_cpu,
        "warm_over_cold_wall": warm / cold,
        "edit_over_cold_wall": edit / cold,
        "project_over_cold_cpu": project_cpu / cold1_cpu,
        "peak_rss_mb": max(rss1, rss_pool),
        "parse_rss_mb": rss_parse,
    }
    print(f"  cold (1 process) / bare parse, cpu   = {result['cold_1_over_parse_cpu']:.2f}   (target <= 1)")
    print(f"  cold (pool) / bare parse, cpu        = {result['cold_pool_over_parse_cpu']:.2f}")
    print(f"  warm / cold (pool), wall             = {result['warm_over_cold_wall']:.3f}")
    print(f"  warm after one edit / cold, wall     = {result['edit_over_cold_wall']:.3f}  (target <= 0.05)")
    print(f"  project pass / cold (1 process), cpu = {result['project_over_cold_cpu']:.3f}  (target <= 0.10)")
    print(f"  peak RSS, largest memlint process    = {result['peak_rss_mb']:.0f} MB (bare parse: {rss_parse:.0f} MB)")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--every", type=int, default=1, help="take every Nth file (default: all)")
    args = parser.parse_args(argv)
    targets = args.paths or [torch_dir(), REPO / "fixtures"]
    for target in targets:
        if not target.exists():
            print(f"\n== {target}: missing, skipped")
            continue
        files = files_memlint_checks([target])[:: args.every]
        if files:
            bench(str(target), files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
