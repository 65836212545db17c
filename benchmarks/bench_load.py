"""Many small files: does the process pool pay for itself, and does a warm cache help? Prints ratios.

    python benchmarks/bench_load.py                      # 5,000 small torch files, 20,000 without torch
    python benchmarks/bench_load.py --torch 1000 --plain 4000

Every measurement is a fresh `memlint check` child process of this one script run, so the ratios
compare like with like on the same machine at the same time (run it on a busy machine too: the
pool must not lose to one process there).
  torch files (each imports torch and has an evaluation loop):
    one-process   MEMLINT_JOBS=1 --no-cache: the baseline
    auto          --no-cache, memlint chooses the pool size
    pool-N        --no-cache, MEMLINT_JOBS=N (N = the cores this process may use)
  plain files (no tracked import: the pre-filter rejects every one):
    no-cache      --no-cache: the baseline
    cold / warm   with the cache, twice; the size of the cache folder after the warm run
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TORCH_FILE = '''\
import torch
from torch import nn


class Net{i}(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear({i} % 7 + 2, 2)

    def forward(self, x):
        return self.fc(x).relu()


def evaluate(model, loader):
    model.eval()
    total = 0.0
    for x, y in loader:
        out = model(x)
        total += (out.argmax(1) == y).float().sum().item()
    return total
'''

PLAIN_FILE = '''\
import os
import json


def load_{i}(path):
    with open(os.path.join(path, "config_{i}.json")) as handle:
        return json.load(handle)


VALUES = [{i}, {i} + 1, {i} * 2]
'''


def make_tree(root: Path, count: int, template: str) -> Path:
    for i in range(count):
        folder = root / f"pkg{i // 200:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{i:05d}.py").write_text(template.format(i=i))
    return root


def run(args: list[str], cwd: Path, jobs: str | None) -> tuple[float, int]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("MEMLINT_JOBS", None)
    if jobs is not None:
        env["MEMLINT_JOBS"] = jobs
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "memlint", "check", "-q", *args], cwd=cwd, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"memlint failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed, proc.returncode


def folder_bytes(path: Path) -> int:
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(directory, name)).st_blocks * 512
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", type=int, default=5000, help="small torch files (default 5000)")
    parser.add_argument("--plain", type=int, default=20000, help="files without torch (default 20000)")
    args = parser.parse_args(argv)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{cores} cores, load average {load:.1f} at the start")
    with tempfile.TemporaryDirectory(prefix="memlint-load-") as tmp:
        work = Path(tmp)
        if args.torch:
            tree = make_tree(work / "torch_tree", args.torch, TORCH_FILE)
            base, _ = run(["--no-cache", str(tree)], work, "1")
            auto, _ = run(["--no-cache", str(tree)], work, None)
            pool, _ = run(["--no-cache", str(tree)], work, str(max(2, cores)))
            print(f"{args.torch} torch files: one-process {base:.1f} s")
            print(f"  auto          {auto:.1f} s  ratio {auto / base:.2f}")
            print(f"  pool-{max(2, cores):<8} {pool:.1f} s  ratio {pool / base:.2f}")
        if args.plain:
            tree = make_tree(work / "plain_tree", args.plain, PLAIN_FILE)
            cache = work / "cache"
            base, _ = run(["--no-cache", str(tree)], work, None)
            cold, _ = run(["--cache-dir", str(cache), str(tree)], work, None)
            warm, _ = run(["--cache-dir", str(cache), str(tree)], work, None)
            print(f"{args.plain} files without torch: no-cache {base:.1f} s")
            print(f"  cold cache    {cold:.1f} s  ratio {cold / base:.2f}")
            print(f"  warm cache    {warm:.1f} s  ratio {warm / base:.2f}")
            print(f"  cache folder  {folder_bytes(cache) / 1e6:.2f} MB on disk")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest child peak RSS {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
