"""How fast is `memlint check` next to a bare libcst parse of the same files? Prints ratios.

    python benchmarks/bench_speed.py                 # the installed torch package, then fixtures/
    python benchmarks/bench_speed.py PATH ...        # other trees
    python benchmarks/bench_speed.py --every 4       # every 4th file only (a quicker, still fair, sample)

Every measurement runs in its own child process, in this one script run, so the ratios compare
like with like on the same machine at the same time:
  parse        read + libcst.parse_module of every file memlint would check (one process)
  cold-1       memlint check --no-cache, one process (MEMLINT_JOBS=1): apples to apples with parse
  cold-pool    memlint check with the process pool and an empty cache
  warm         the same command again: every result from the cache
Peak RSS is that of the largest single process (wait4's ru_maxrss covers the child and the
workers it waited for).
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


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, **(env or {})}, cwd=cwd
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    return elapsed, usage.ru_maxrss / 1024, out


def bench(label: str, files: list[Path]) -> dict[str, float]:
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    print(f"\n== {label}: {len(files)} files, {lines:,} lines")
    work = Path(tempfile.mkdtemp(prefix="memlint-bench-"))
    try:
        listing = work / "files.txt"
        listing.write_text("\n".join(str(p) for p in files) + "\n", encoding="utf-8")
        wall, rss_parse, out = timed([sys.executable, "-c", _PARSE, str(listing)])
        parse_s, failed = float(out.split()[0]), int(out.split()[1])
        memlint = [sys.executable, "-m", "memlint", "check", "--exit-zero", "-q", "--output-format", "json"]
        # Named one by one, so both sides see exactly the same files. Split into argument-list-sized chunks
        # would change the timing; a listing this long still fits Linux's argument limit (2 MB).
        names = [str(p) for p in files]
        cache = work / "cache"
        cold1, rss1, _ = timed([*memlint, "--no-cache", *names], env={"MEMLINT_JOBS": "1"}, cwd=work)
        cold, rss_pool, _ = timed([*memlint, "--cache-dir", str(cache), *names], cwd=work)
        warm, rss_warm, _ = timed([*memlint, "--cache-dir", str(cache), *names], cwd=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cores = len(os.sched_getaffinity(0))
    rows = [
        ("bare libcst parse (1 process)", parse_s, rss_parse),
        ("memlint cold, 1 process", cold1, rss1),
        (f"memlint cold, pool ({cores} cores)", cold, rss_pool),
        ("memlint warm cache", warm, rss_warm),
    ]
    for name, seconds, rss in rows:
        print(f"  {name:<34} {seconds:8.2f} s  {len(files) / seconds:8.1f} files/s  peak RSS {rss:6.0f} MB")
    if failed:
        print(f"  ({failed} files libcst could not parse)")
    result = {
        "cold_1_over_parse": cold1 / parse_s,
        "cold_pool_over_parse": cold / parse_s,
        "warm_over_cold": warm / cold,
        "peak_rss_mb": max(rss1, rss_pool),
    }
    print(f"  cold (1 process) / bare parse  = {result['cold_1_over_parse']:.2f}   (target <= 1.5)")
    print(f"  cold (pool) / bare parse       = {result['cold_pool_over_parse']:.2f}")
    print(f"  warm / cold (pool)             = {result['warm_over_cold']:.3f}  (target <= 0.05)")
    print(f"  peak RSS, largest process      = {result['peak_rss_mb']:.0f} MB (target <= 300)")
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
