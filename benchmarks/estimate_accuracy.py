"""Accuracy and speed of memlint's simulated peak against the real CPU step, with torch-preflight beside it.

    python benchmarks/estimate_accuracy.py                       # 8 models x 5 set-ups
    python benchmarks/estimate_accuracy.py --models mlp,lstm     # some models
    python benchmarks/estimate_accuracy.py --preflight /tmp/benchenv/bin/torch-preflight

For each model (benchmarks/estimate_models.py) and each set-up (SGD with momentum, Adam, AdamW
foreach, AdamW for-loop, each in fp32, and AdamW under bf16 autocast), two training steps run:
- for real on the CPU, their live tensor bytes tracked (memlint.measure.tracker): the reference;
- under fake tensors, tracked the same way: memlint's simulated peak.
The error is simulated / real - 1. Times are of the two steps alone (model construction excluded),
real and simulated in the same process.

torch-preflight 0.5.0's ``estimate`` runs on the same model (``--model estimate_models:NAME``,
the same batch, sequence length or image size, optimizer and precision). Its CPU-comparable
figure is its total less its CUDA context and fragmentation terms. Install it in a separate
environment only: ``python -m venv --system-site-packages /tmp/benchenv &&
/tmp/benchenv/bin/pip install torch-preflight==0.5.0``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from estimate_models import MODELS  # noqa: E402
from memlint.estimate.simulate import Simulation, Variant  # noqa: E402

SETUPS = {
    "SGD momentum": ("sgd-momentum", "fp32", lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)),
    "Adam": ("adam", "fp32", lambda p: torch.optim.Adam(p)),
    "AdamW foreach": ("adamw", "fp32", lambda p: torch.optim.AdamW(p, foreach=True)),
    "AdamW for-loop": ("adamw", "fp32", lambda p: torch.optim.AdamW(p, foreach=False)),
    "AdamW bf16 autocast": ("adamw", "amp", lambda p: torch.optim.AdamW(p)),
}
STEPS = 2
MiB = 2**20


def tracked_run(name: str, setup: str, fake: bool) -> tuple[int, float]:
    """(peak bytes, seconds of the steps) for two training steps, real or simulated."""
    factory, batch, loss_fn, _ = MODELS[name]
    _, precision, make_optimizer = SETUPS[setup]
    torch.manual_seed(0)
    simulation = Simulation(Variant(), steps=STEPS, fake=fake)
    with simulation:
        model = factory()
        optimizer = make_optimizer(model.parameters())
        started = time.perf_counter()
        for _ in range(STEPS + 1):  # the simulation stops after STEPS steps
            x, y = batch()
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "amp"):
                loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
    elapsed = time.perf_counter() - started
    outcome = simulation.outcome()
    if outcome.steps_done != STEPS:
        raise RuntimeError(f"{name}/{setup}: {outcome.error or outcome.stopped_by or 'stopped early'}")
    return outcome.peak_bytes, elapsed


def preflight(executable: str, name: str, setup: str) -> int | None:
    """torch-preflight's CPU-comparable figure: its total less CUDA context and fragmentation."""
    optimizer, precision, _ = SETUPS[setup]
    args = [executable, "estimate", "--model", f"estimate_models:{name}", *MODELS[name][3],
            "--optimizer", optimizer, "--dtype", precision, "-f", "json"]
    env = dict(os.environ, PYTHONPATH=str(HERE))
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        return None
    breakdown = report.get("breakdown") or {}
    return sum(v for k, v in breakdown.items() if k not in ("CUDA_context", "fragmentation"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help="comma-separated names (default: all eight)")
    parser.add_argument("--setups", help="comma-separated set-ups (default: all five)")
    parser.add_argument("--preflight", default="/tmp/benchenv/bin/torch-preflight",
                        help="torch-preflight's executable in its own environment ('' to skip)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, (os.cpu_count() or 1)))
    names = args.models.split(",") if args.models else list(MODELS)
    setups = args.setups.split(",") if args.setups else list(SETUPS)
    use_preflight = bool(args.preflight) and Path(args.preflight).exists()
    if args.preflight and not use_preflight:
        print(f"torch-preflight not found at {args.preflight}: its column is left empty")
    print(f"torch {torch.__version__}, {os.cpu_count()} cores; {STEPS} training steps per run\n")
    header = (f"{'model':14} {'set-up':20} {'real MiB':>9} {'memlint':>9} {'error':>7} {'preflight':>9} {'error':>7} "
              f"{'real s':>7} {'sim s':>6} {'sim/real':>8}")
    print(header)
    print("-" * len(header))
    errors, preflight_errors, ratios = [], [], []
    for name in names:
        tracked_run(name, setups[0], True)  # warm up fake-tensor caches and lazy imports once per model
        for setup in setups:
            try:
                real, real_s = tracked_run(name, setup, fake=False)
            except Exception as exc:  # e.g. oneDNN has no bf16 LSTM primitive on some CPUs
                print(f"{name:14} {setup:20} the real run fails here: {str(exc).splitlines()[0][:70]}", flush=True)
                continue
            simulated, sim_s = tracked_run(name, setup, fake=True)
            error = simulated / real - 1
            errors.append(abs(error))
            ratios.append(sim_s / real_s)
            other = preflight(args.preflight, name, setup) if use_preflight else None
            other_text, other_error = "-", "-"
            if other is not None:
                preflight_errors.append(abs(other / real - 1))
                other_text, other_error = f"{other / MiB:9.1f}", f"{(other / real - 1) * 100:+6.1f}%"
            print(f"{name:14} {setup:20} {real / MiB:9.1f} {simulated / MiB:9.1f} {error * 100:+6.2f}% "
                  f"{other_text:>9} {other_error:>7} {real_s:7.2f} {sim_s:6.2f} {sim_s / real_s:8.2f}", flush=True)
    print()
    print(f"memlint: largest |error| {max(errors) * 100:.2f}%, mean {statistics.mean(errors) * 100:.2f}% "
          f"over {len(errors)} runs (target: within 1%)")
    if preflight_errors:
        print(f"torch-preflight 0.5.0: largest |error| {max(preflight_errors) * 100:.1f}%, "
              f"mean {statistics.mean(preflight_errors) * 100:.1f}%")
    print(f"simulated / real step time: median {statistics.median(ratios):.2f}, largest {max(ratios):.2f} "
          "(target: at most 1)")
    return 0 if max(errors) <= 0.01 else 1


if __name__ == "__main__":
    sys.exit(main())
