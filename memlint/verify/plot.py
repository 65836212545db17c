"""``--plot``: live tensor memory per iteration for both versions, with the fitted growth per iteration.

Without a loop the probe can see, it falls back to whole-process RSS over time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from memlint.verify.runner import RunResult

COLORS = {"before": "tab:red", "after": "tab:blue"}
LABELS = {"before": "original", "after": "fixed"}
MiB = 2**20


def plot_runs(
    runs: Mapping[str, Sequence[RunResult]], path: Path, title: str, leak: Mapping[str, Any] | None = None
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    try:
        if leak is not None:
            _plot_iterations(ax, runs, leak)
            ax.set_title(f"{title}\nlive tensor memory per {leak['per']}")
        else:
            _plot_rss(ax, runs)
            ax.set_title(f"{title}\nresident memory over time (no repeated loop seen)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


def _plot_iterations(ax: Any, runs: Mapping[str, Sequence[RunResult]], leak: Mapping[str, Any]) -> None:
    from memlint.verify.compare import format_slope

    kind = leak["per"]
    for version in ("before", "after"):
        results = runs.get(version) or []
        if not results or not results[0].iterations:
            continue
        samples = [s for s in results[0].iterations.get(kind, []) if s[1] is not None]
        if not samples:
            continue
        xs = [int(s[0]) for s in samples]
        ys = [s[1] / MiB for s in samples]
        slope = leak.get(version)
        label = f"{LABELS[version]}: {format_slope(slope)}"
        ax.plot(xs, ys, marker="o", markersize=3, color=COLORS[version], label=label)
        if slope is not None:
            start = slope["warmup"]
            fit_x = xs[start:]
            if fit_x:
                mean_x = sum(range(len(fit_x))) / len(fit_x)
                mean_y = sum(ys[start:]) / len(fit_x)
                per = slope["bytes_per_iteration"] / MiB
                fit_y = [mean_y + per * (i - mean_x) for i in range(len(fit_x))]
                ax.plot(fit_x, fit_y, linestyle="--", linewidth=1, color=COLORS[version], alpha=0.7)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(kind)
    ax.set_ylabel("live tensor memory (MiB)")


def _plot_rss(ax: Any, runs: Mapping[str, Sequence[RunResult]]) -> None:
    floors = []
    for version in ("before", "after"):
        for i, run in enumerate(runs.get(version) or []):
            if not run.samples:
                continue
            times, rss = zip(*run.samples)
            ax.plot(
                times, rss, color=COLORS[version], alpha=1.0 if i == 0 else 0.45,
                label=LABELS[version] if i == 0 else None,
            )
            if run.floor_mb is not None:
                floors.append(run.floor_mb)
    if floors:
        ax.axhline(min(floors), color="gray", linestyle="--", linewidth=1, label="after import (floor)")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("resident memory (MiB)")
