"""Human output (``concise`` and ``full``) through rich: colour only on a terminal, NO_COLOR honoured."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.markup import escape

from memlint.engine import Finding
from memlint.rules import all_rules


def make_console(stderr: bool = False) -> Console:
    plain = bool(os.environ.get("NO_COLOR"))  # no-color.org: no colour, and we drop bold too
    return Console(
        stderr=stderr,
        highlight=False,
        soft_wrap=True,
        no_color=plain,
        color_system=None if plain else "auto",
        emoji=False,
    )


def _location(f: Finding) -> str:
    where = escape(f.filename)
    if f.cell is not None:
        where += f":cell {f.cell}"
    return f"[bold]{where}[/bold][cyan]:[/cyan]{f.row}[cyan]:[/cyan]{f.column}[cyan]:[/cyan]"


def _marker(f: Finding) -> str:
    return " [cyan][*][/cyan]" if f.fix is not None and f.fix.applicability == "safe" else ""


def render_concise(console: Console, findings: Sequence[Finding]) -> None:
    for f in findings:
        console.print(f"{_location(f)} [bold red]{f.code}[/bold red]{_marker(f)} {escape(f.message)}")


def render_full(console: Console, findings: Sequence[Finding], sources: dict[str, list[str]]) -> None:
    for f in findings:
        console.print(f"{_location(f)} [bold red]{f.code}[/bold red]{_marker(f)} {escape(f.message)}")
        lines = sources.get(f.filename)
        if lines is None:
            lines = _read_lines(f.filename)
            sources[f.filename] = lines
        if f.cell is None and 0 < f.row <= len(lines):
            line = lines[f.row - 1].rstrip("\r\n").expandtabs(1)
            width = len(str(f.row))
            end = f.end_column if f.end_row == f.row else len(line) + 1
            carets = "^" * max(1, end - f.column)
            gutter = " " * width
            console.print(f"[blue]{gutter} |[/blue]")
            console.print(f"[blue]{f.row} |[/blue] {escape(line)}")
            console.print(f"[blue]{gutter} |[/blue] {' ' * (f.column - 1)}[bold red]{carets} {f.code}[/bold red]")
            if f.fix is not None:
                console.print(f"[blue]{gutter} |[/blue]")
                label = "help" if f.fix.applicability == "safe" else "help (unsafe)"
                console.print(f"[blue]{gutter} =[/blue] [bold]{label}[/bold]: {escape(f.fix.message)}")
        console.print("")


def _read_lines(filename: str) -> list[str]:
    try:
        return Path(filename).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def render_statistics(console: Console, findings: Sequence[Finding]) -> None:
    counts = Counter(f.code for f in findings)
    fixable = {f.code for f in findings if f.fix is not None and f.fix.applicability == "safe"}
    rules = all_rules()
    width = max((len(str(n)) for n in counts.values()), default=1)
    for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        name = rules[code].name if code in rules else ""
        mark = "[*]" if code in fixable else "   "
        console.print(f"{count:>{width}}\t[bold red]{code}[/bold red]\t{mark} {name}")


def render_summary(
    console: Console, findings: Sequence[Finding], fixed: int, unsafe_enabled: bool, problems: int = 0
) -> None:
    remaining = len(findings)
    safe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "safe")
    unsafe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == "unsafe")
    if remaining == 0 and fixed == 0:
        if problems:
            console.print(f"No findings, but {problems} file{'s' if problems != 1 else ''} could not be checked.")
        else:
            console.print("[bold green]All checks passed![/bold green]")
        return
    noun = "error" if remaining + fixed == 1 else "errors"
    if fixed:
        console.print(f"Found {remaining + fixed} {noun} ({fixed} fixed, {remaining} remaining).")
    else:
        console.print(f"Found {remaining} {noun}.")
    if unsafe_enabled:
        safe += unsafe
        unsafe = 0
    if safe:
        console.print(f"[cyan][*][/cyan] {safe} fixable with the `--fix` option.")
    if unsafe:
        console.print(f"No fixes available ({unsafe} hidden fixes can be enabled with the `--unsafe-fixes` option).")


def render_fixes(console: Console, fixed_by_file: dict[str, Counter]) -> None:
    if not fixed_by_file:
        console.print("No errors fixed.")
        return
    total = sum(sum(c.values()) for c in fixed_by_file.values())
    console.print(f"Fixed {total} error{'s' if total != 1 else ''}:")
    rules = all_rules()
    for filename in sorted(fixed_by_file):
        console.print(f"- {escape(filename)}:")
        for code, count in sorted(fixed_by_file[filename].items()):
            name = rules[code].name if code in rules else ""
            console.print(f"    {count} × [bold red]{code}[/bold red] ({name})")
