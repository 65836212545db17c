"""``--plot``: whole-process RSS over time for every run, both versions on one chart."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from memlint.verify.runner import RunResult

COLORS = {"before": "tab:red", "after": "tab:blue"}
LABELS = {"before": "original", "after": "fixed"}


def plot_runs(runs: Mapping[str, Sequence[RunResult]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    try:
        floors = []
        for version, results in runs.items():
            for i, run in enumerate(results):
                if not run.samples:
                    continue
                times, rss = zip(*run.samples)
                ax.plot(
                    times, rss, color=COLORS.get(version), alpha=1.0 if i == 0 else 0.45,
                    label=LABELS.get(version, version) if i == 0 else None,
                )
                if run.floor_mb is not None:
                    floors.append(run.floor_mb)
        if floors:
            ax.axhline(min(floors), color="gray", linestyle="--", linewidth=1, label="after import (floor)")
        ax.set_xlabel("seconds since start")
        ax.set_ylabel("resident memory (MB)")
        ax.set_title(title)
        ax.set_ylim(bottom=0)
        ax.legend(loc="best")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
