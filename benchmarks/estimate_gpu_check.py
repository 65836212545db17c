"""On a machine with a CUDA GPU: memlint's projection against torch.cuda's own peaks, per model.

    python benchmarks/estimate_gpu_check.py            # the 8 models of estimate_models.py, AdamW
    python benchmarks/estimate_gpu_check.py --models mlp,resnet18

Goal (issue #16): within 5% of ``torch.cuda.max_memory_allocated`` and 10% of
``max_memory_reserved``. Each model trains two real steps on the GPU after
``reset_peak_memory_stats``; the projection comes from ``memlint.estimate(..., gpu=<this card's
memory>)`` on the same model, batch and optimizer. Prints the card and both errors; without a
CUDA device it says so and exits 0. Not run here: no GPU was available when it was written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from estimate_models import MODELS  # noqa: E402

MiB = 2**20


def real_peaks(name: str) -> tuple[int, int]:
    factory, batch, loss_fn, _ = MODELS[name]
    torch.manual_seed(0)
    model = factory().cuda()
    optimizer = torch.optim.AdamW(model.parameters())
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    for _ in range(2):
        x, y = (t.cuda() for t in batch())
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved()


def projected(name: str, total_bytes: int) -> tuple[int, int]:
    import memlint

    factory, batch, loss_fn, _ = MODELS[name]
    x, y = batch()
    result = memlint.estimate(factory(), x, loss_fn=loss_fn, target=y, optimizer=torch.optim.AdamW,
                              gpu=f"{total_bytes // MiB}MiB")
    return result.gpu["allocated_bytes"], result.gpu["reserved_bytes"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help="comma-separated names (default: all eight)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to compare (run this where a GPU is available)")
        return 0
    props = torch.cuda.get_device_properties(0)
    print(f"{props.name}, {props.total_memory / 2**30:.1f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}")
    print(f"{'model':14} {'allocated':>10} {'memlint':>10} {'error':>7} {'reserved':>10} {'memlint':>10} {'error':>7}")
    worst_allocated = worst_reserved = 0.0
    for name in (args.models.split(",") if args.models else MODELS):
        allocated, reserved = real_peaks(name)
        torch.cuda.empty_cache()
        est_allocated, est_reserved = projected(name, props.total_memory)
        e1, e2 = est_allocated / allocated - 1, est_reserved / reserved - 1
        worst_allocated, worst_reserved = max(worst_allocated, abs(e1)), max(worst_reserved, abs(e2))
        print(f"{name:14} {allocated / MiB:10.1f} {est_allocated / MiB:10.1f} {e1 * 100:+6.1f}% "
              f"{reserved / MiB:10.1f} {est_reserved / MiB:10.1f} {e2 * 100:+6.1f}%", flush=True)
    print(f"largest error: allocated {worst_allocated * 100:.1f}% (goal 5%), reserved {worst_reserved * 100:.1f}% "
          "(goal 10%)")
    return 0 if worst_allocated <= 0.05 and worst_reserved <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
