"""How ``memlint estimate`` shows its result: a rich text report, and the memory-over-the-step plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MiB = 2**20
GiB = 2**30
LABELS = {
    "parameters": "parameters and buffers",
    "gradients": "gradients",
    "optimizer_state": "optimizer state",
    "activations": "activations saved for backward",
    "temporaries": "temporaries and inputs",
}
PHASE_COLORS = {"setup": "#eeeeee", "forward": "#dcebf7", "backward": "#fbe3d6", "optimizer": "#e2f0d9"}


def human(size: int | None) -> str:
    if size is None:
        return "-"
    if abs(size) >= GiB:
        return f"{size / GiB:,.2f} GiB"
    return f"{size / MiB:,.1f} MiB"


def render_text(report: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from memlint.output.text import make_console

    console = make_console()
    if not console.is_terminal:
        console.width = 160  # a pipe or file gets whole rows, not an 80-column wrap
    where = f"{report['steps']} optimizer step{'s' if report['steps'] != 1 else ''} simulated on the CPU"
    details = [d for d in (
        f"batch size {report['batch_size']}" if report.get("batch_size") else None,
        report.get("optimizer"),
    ) if d]
    console.print(f"[bold]memlint estimate {escape(report['script'])}[/bold] ({where}{', ' if details else ''}"
                  f"{', '.join(details)})")
    if report["lower_bound"]:
        console.print(f"Peak: [bold]at least {human(report['peak_bytes'])}[/bold] [yellow](LOWER BOUND)[/yellow]")
    else:
        console.print(
            f"Peak: [bold]{human(report['peak_bytes'])}[/bold] of live tensors, in step {report['peak_step']}, "
            f"during {report['peak_phase']}"
        )
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("what")
    table.add_column("bytes", justify="right")
    for key, label in LABELS.items():
        table.add_row(f"  {label}", human(report["components"].get(key, 0)))
    console.print(table)
    if len(report.get("step_peak_bytes") or []) > 1:
        console.print("Per step: " + ", ".join(
            f"step {i} {human(p)}" for i, p in enumerate(report["step_peak_bytes"], 1)
        ))
    evaluation = report.get("eval_forward")
    if evaluation:
        console.print(
            f"Evaluation forward on this batch: {human(evaluation['with_grad'])} with autograd recording, "
            f"{human(evaluation['no_grad'])} under torch.no_grad()"
        )
    gpu = report.get("gpu")
    if gpu:
        _render_gpu(console, gpu)
    if report.get("levers"):
        _render_levers(console, report)
    python = report.get("python")
    if python:
        console.print(f"Python: {escape(python['path'])} ({escape(python['chosen_by'])})")
    for note in report.get("notes", []):
        console.print(f"[dim]note: {escape(note)}[/dim]")


def _render_gpu(console: Any, gpu: dict[str, Any]) -> None:
    from rich.markup import escape

    if gpu.get("fits") is True:
        verdict = "[bold green]fits[/bold green]"
    elif gpu.get("fits") is False:
        verdict = "[bold red]does not fit[/bold red]"
        if gpu.get("tight"):
            verdict += " with the allocator's cache as held (the allocated bytes alone would: tight)"
    else:
        verdict = "[yellow]unknown[/yellow]"
    line = f"On {escape(gpu['name'])} ({human(gpu['total_bytes'])}): "
    if gpu.get("peak_bytes") is not None:
        line += f"projected {human(gpu['peak_bytes'])}"
        if gpu.get("allocated_bytes") is not None:
            line += (
                f" (max allocated {human(gpu['allocated_bytes'])}, reserved {human(gpu['reserved_bytes'])}, "
                f"CUDA context {human(gpu['context_bytes'])})"
            )
        line += f", {verdict}"
    else:
        line += verdict
    console.print(line)
    if gpu.get("max_batch_size") is not None:
        console.print(f"Largest batch size that fits: [bold]{gpu['max_batch_size']}[/bold]")
    if gpu.get("note"):
        console.print(f"[dim]  {escape(gpu['note'])}[/dim]")
    console.print("[dim]  GPU figures come from the CPU simulation and a model of the CUDA allocator; "
                  "they were not measured on a GPU here.[/dim]")


def _render_levers(console: Any, report: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    gpu = report.get("gpu")
    base = gpu.get("tensor_peak_bytes") if gpu else report["peak_bytes"]
    table = Table(title="What would change the peak" + (" (on the GPU)" if gpu else ""), title_justify="left")
    table.add_column("lever")
    table.add_column("peak", justify="right")
    table.add_column("change", justify="right")
    if gpu:
        table.add_column("fits?", justify="center")
    table.add_column("numerics")
    table.add_column("note")
    for lever in report["levers"]:
        numerics = "change" if lever["changes_numerics"] else "same"
        if "skipped" in lever:
            row = [escape(lever["name"]), "-", "-"] + (["-"] if gpu else []) + [numerics, escape(lever["skipped"])]
        else:
            peak = lever["peak_bytes"]
            change = peak - base if base is not None else None
            sign = "+" if change is not None and change > 0 else ("−" if change else "")
            row = [escape(lever["name"]), human(peak), f"{sign}{human(abs(change)) if change else '0'}"]
            if gpu:
                fits = (lever.get("gpu") or {}).get("fits")
                row.append("yes" if fits else ("no" if fits is False else "-"))
            row += [numerics, escape(lever["note"] + (" (modelled)" if lever.get("modelled") else ""))]
        table.add_row(*row)
    console.print(table)


def plot_estimate(report: dict[str, Any], path: Path) -> None:
    """Live tensor memory over the simulated steps, phases shaded, the peak marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    series = report.get("timeline") or []
    if not series:
        raise ValueError("nothing to draw (the simulation recorded no tensors)")
    fig, ax = plt.subplots(figsize=(9, 4.5))
    try:
        seen_phases = []
        for start, end, phase, _step in report.get("phases") or []:
            ax.axvspan(start, end, color=PHASE_COLORS.get(phase, "#ffffff"), linewidth=0)
            if phase not in seen_phases:
                seen_phases.append(phase)
        for step, start in report.get("step_starts") or []:
            ax.axvline(start, color="gray", linestyle=":", linewidth=1)
            ax.text(start, 1.0, f" step {step}", transform=ax.get_xaxis_transform(), va="bottom", fontsize="small")
        xs = [point[0] for point in series]
        ys = [point[1] / MiB for point in series]
        (line,) = ax.plot(xs, ys, color="black", linewidth=1.2, label="live tensor memory")
        peak_index = max(range(len(ys)), key=ys.__getitem__)
        ax.annotate(
            f"peak {human(report['peak_bytes'])}\n({report.get('peak_phase')}, step {report.get('peak_step')})",
            xy=(xs[peak_index], ys[peak_index]), xytext=(10, -30), textcoords="offset points",
            arrowprops={"arrowstyle": "->"}, fontsize="small",
        )
        handles = [line] + [Patch(color=PHASE_COLORS[p], label=p) for p in seen_phases if p in PHASE_COLORS]
        ax.legend(handles=handles, loc="upper left", fontsize="small")
        ax.set_xlabel("tensor allocations and frees, in order")
        ax.set_ylabel("live tensor memory (MiB)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"memlint estimate {Path(report['script']).name}: {report['steps']} simulated steps", pad=18)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
