"""Does `memlint verify --iterations 20` reach the full run's verdict, in at most a tenth of the time?

    python benchmarks/verify_iterations.py              # 400 training steps for the full run
    python benchmarks/verify_iterations.py --steps 200

The script trains a ResNet-18-sized model (benchmarks/estimate_models.py) on random data and,
each step, adds a probe's confidence to a running total without `.item()` (MEM002: each step
keeps the probe forward's graph). `memlint verify train.py --against fixed.py` (fixed.py adds the
`.item()`; memlint offers no automatic fix for this module-level shape) runs once to the end and
once stopped after 20 iterations, one after the other, each version once (the tensor figures do
not vary between runs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

TRAIN = '''
import sys

import torch
import torch.nn.functional as F

from estimate_models import ResNet18

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 400
torch.manual_seed(0)
model = ResNet18(classes=10)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
probe = torch.randn(2, 3, 32, 32)
confidence = 0.0
for step in range(STEPS):
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    confidence += model(probe).softmax(-1)[0, 0]
print(f"mean confidence {confidence / STEPS:.4f}")
'''


def verify(folder: Path, steps: int, iterations: int | None) -> tuple[dict, float]:
    args = [sys.executable, "-m", "memlint", "verify", "--against", "fixed.py", "--repeat", "1",
            "--output-format", "json", "train.py"]
    if iterations:
        args[4:4] = ["--iterations", str(iterations)]
    args += ["--", str(steps)]
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=7200)
    elapsed = time.perf_counter() - started
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        report = {}
    if "confirmed" not in report:
        raise SystemExit(f"verify failed: {proc.stderr.strip()[-500:]}")
    return report, elapsed


def describe(report: dict) -> str:
    leak = report.get("leak") or {}
    before = (leak.get("before") or {}).get("bytes_per_iteration", 0) / 2**20
    after = (leak.get("after") or {}).get("bytes_per_iteration", 0) / 2**20
    tensor = report.get("tensor") or {}
    return (
        f"{'confirmed' if report['confirmed'] else 'NOT confirmed'} by {', '.join(report['confirmed_by']) or '-'}; "
        f"growth {before:+.2f} -> {after:+.2f} MiB/iteration; tensor peak {tensor.get('before_mb')} -> "
        f"{tensor.get('after_mb')} MiB; output {'same' if report['output_same'] else 'CHANGED'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400, help="training steps of the full run")
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="memlint-bench-") as tmp:
        folder = Path(tmp)
        (folder / "train.py").write_text(TRAIN.lstrip(), encoding="utf-8")
        fixed = TRAIN.replace("softmax(-1)[0, 0]", "softmax(-1)[0, 0].item()")
        (folder / "fixed.py").write_text(fixed.lstrip(), encoding="utf-8")
        shutil.copy(HERE / "estimate_models.py", folder / "estimate_models.py")
        full, full_s = verify(folder, args.steps, None)
        short, short_s = verify(folder, args.steps, args.iterations)
    print(f"full run ({args.steps} steps):  {full_s:7.1f} s  {describe(full)}")
    print(f"--iterations {args.iterations}:         {short_s:7.1f} s  {describe(short)}")
    same = full["confirmed"] == short["confirmed"] and bool(full["leak"]) == bool(short["leak"]) and (
        (full["leak"] or {}).get("removed") == (short["leak"] or {}).get("removed")
    )
    print(f"same verdict: {'yes' if same else 'NO'}; time ratio {short_s / full_s:.3f} (target: at most 0.1)")
    return 0 if same and short_s <= full_s / 10 else 1


if __name__ == "__main__":
    sys.exit(main())
