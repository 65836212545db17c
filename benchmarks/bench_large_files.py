"""Generated data files: does any step grow faster than the file? Prints ratios.

    python benchmarks/bench_large_files.py                     # 10k, 20k and 40k rows of `0.0,`
    python benchmarks/bench_large_files.py --rows 5000 10000

Each file is an evaluation loop (one fixable finding) followed by one list literal with a row per
value, the shape of exported weights and lookup tables. For each size, in child processes of this
one run: `memlint check` (text), `--output-format json` (fix edits for the finding) and `--diff`.
The json/text and diff/text ratios must stay flat as the file grows; a quadratic step (difflib
comparing every `0.0,` row with every other) shows as a ratio that doubles with the size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EVAL = (
    "import torch\n\n\ndef evaluate(model, loader):\n    model.eval()\n    correct = 0\n"
    "    for x, y in loader:\n        out = model(x)\n        correct += (out.argmax(1) == y).sum().item()\n"
    "    return correct\n"
)


def timed(args: list[str], cwd: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO), MEMLINT_JOBS="1")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "memlint", "check", "--no-cache", *args], cwd=cwd, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"memlint failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 20_000, 40_000])
    args = parser.parse_args(argv)
    print(f"{'rows':>8} {'KB':>7} {'text s':>8} {'json/text':>10} {'diff/text':>10}")
    with tempfile.TemporaryDirectory(prefix="memlint-large-") as tmp:
        work = Path(tmp)
        for rows in args.rows:
            path = work / f"data_{rows}.py"
            path.write_text(EVAL + "\nDATA = [\n" + "    0.0,\n" * rows + "]\n")
            text = timed([path.name], work)
            json_s = timed(["--output-format", "json", path.name], work)
            diff_s = timed(["--diff", path.name], work)
            print(f"{rows:>8} {path.stat().st_size / 1000:>7.0f} {text:>8.1f} {json_s / text:>10.2f} {diff_s / text:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
