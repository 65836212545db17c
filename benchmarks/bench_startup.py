"""Start-up: a `memlint check` whose results all come from the cache, against `python -c pass`.

A linter run from an editor or a pre-commit hook on one small file should start like a tool. This
script makes a small project (a few torch files), runs `memlint check` once to fill the cache, then
times, interleaved, ``python -c pass`` (the baseline), ``python -m memlint check`` on the warm cache,
and the ``memlint`` console script when it is on PATH. It prints the best and the median of each and
their ratios to the baseline (target: the best warm run within 3x of the best ``python -c pass``),
and which heavy modules a warm run imports (none of libcst, torch, rich's console, concurrent.futures
should appear).

    python benchmarks/bench_startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("libcst", "torch", "rich.console", "rich.table", "concurrent.futures.process", "numpy")
TARGET_RATIO = 3.0
SOURCE = '''\
import torch


@torch.no_grad()
def evaluate(model, loader):
    model.eval()
    return sum((model(x).argmax(1) == y).sum().item() for x, y in loader)


def train(model, loader, optimizer, criterion):
    total = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total
'''


def make_project(root: Path, files: int = 5) -> Path:
    root.mkdir()
    for i in range(files):
        (root / f"module_{i}.py").write_text(SOURCE)
    return root


def _time(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}")
    return elapsed


def heavy_imports(cwd: Path, env: dict[str, str]) -> list[str]:
    """The heavy modules a warm `memlint check` imports (from ``python -X importtime``)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "memlint", "check", "."],
        cwd=cwd, env=env, capture_output=True, text=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import")}
    return sorted({name.split(".")[0] if name.split(".")[0] in ("libcst", "torch") else name
                   for name in imported if name in HEAVY or name.split(".")[0] in ("libcst", "torch")})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed runs of each command (default 30)")
    parser.add_argument("--files", type=int, default=5, help="files in the small project (default 5)")
    args = parser.parse_args()

    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    with tempfile.TemporaryDirectory() as tmp:
        # As an installed package runs: with bytecode. Compiled modules go to a private prefix, so
        # nothing is written into the checkout even where PYTHONDONTWRITEBYTECODE is set.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        project = make_project(Path(tmp) / "project", args.files)
        warm = [sys.executable, "-m", "memlint", "check", "."]
        subprocess.run(warm, cwd=project, env=env, capture_output=True)  # fill the cache (and the bytecode)
        subprocess.run([sys.executable, "-c", "pass"], env=env, capture_output=True)
        commands = {"python -c pass": [sys.executable, "-c", "pass"], "python -m memlint check (warm)": warm}
        script = shutil.which("memlint")
        if script:
            commands["memlint check (warm, console script)"] = [script, "check", "."]
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, command in commands.items():  # interleaved: load changes hit every command alike
                times[name].append(_time(command, project, env))
        heavy = heavy_imports(project, env)

    base_best = min(times["python -c pass"])
    base_median = statistics.median(times["python -c pass"])
    print(f"{args.runs} runs each, interleaved; a project of {args.files} small torch files, results and bytecode "
          "cached")
    print(f"{'command':<40} {'best':>8} {'median':>8} {'best/base':>10} {'median/base':>12}")
    for name, values in times.items():
        best, median = min(values), statistics.median(values)
        print(f"{name:<40} {best * 1000:>6.1f}ms {median * 1000:>6.1f}ms {best / base_best:>10.2f} "
              f"{median / base_median:>12.2f}")
    ratio = min(times["python -m memlint check (warm)"]) / base_best
    print(f"heavy modules imported by a warm run: {', '.join(heavy) or 'none'}")
    print(f"warm run / python -c pass (best of each): {ratio:.2f} (target <= {TARGET_RATIO:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
