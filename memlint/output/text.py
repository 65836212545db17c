"""Human output (``concise``, ``full``, ``--statistics``) and the closing summary, worded as ruff words it.

Plain text with ANSI styles only on a terminal (``NO_COLOR`` turns them off, ``FORCE_COLOR``
on). This module imports no rich: a check whose results all come from the cache should
start like a small tool. ``make_console`` (rich) is for the commands that draw tables.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import IO, Any, Sequence

from memlint.findings import Finding
from memlint.output import display_path
from memlint.rules import rule_catalog

_STYLES = {"bold": "1", "red": "31", "green": "32", "blue": "34", "cyan": "36"}


def make_console(stderr: bool = False) -> Any:
    """A rich console for tables and progress (``memlint rule --all``, ``memlint verify``)."""
    from rich.console import Console

    plain = bool(os.environ.get("NO_COLOR"))  # no-color.org: no colour, and we drop bold too
    return Console(
        stderr=stderr,
        highlight=False,
        soft_wrap=True,
        no_color=plain,
        color_system=None if plain else "auto",
        emoji=False,
    )


class Painter:
    """ANSI styles for one stream, or none at all when it is not a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        if os.environ.get("NO_COLOR"):
            self.enabled = False
        elif os.environ.get("FORCE_COLOR"):
            self.enabled = True
        else:
            isatty = getattr(stream, "isatty", None)
            self.enabled = bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"

    def __call__(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles:
            return text
        return f"\x1b[{';'.join(_STYLES[s] for s in styles)}m{text}\x1b[0m"


def _location(paint: Painter, f: Finding) -> str:
    where = display_path(f.filename)
    if f.cell is not None:
        where += f":cell {f.cell}"
    colon = paint(":", "cyan")
    return f"{paint(where, 'bold')}{colon}{f.row}{colon}{f.column}{colon}"


def _marker(paint: Painter, f: Finding, unsafe: bool) -> str:
    if f.fix is None or (f.fix.applicability == "unsafe" and not unsafe):
        return ""
    return " " + paint("[*]", "cyan")


def _headline(paint: Painter, f: Finding, unsafe: bool) -> str:
    return f"{_location(paint, f)} {paint(f.code, 'bold', 'red')}{_marker(paint, f, unsafe)} {f.message}\n"


def render_concise(out: IO[str], paint: Painter, findings: Sequence[Finding], unsafe: bool = False) -> None:
    out.write("".join(_headline(paint, f, unsafe) for f in findings))


def render_full(
    out: IO[str], paint: Painter, findings: Sequence[Finding], sources: dict[tuple[str, int | None], list[str]],
    unsafe: bool = False,
) -> None:
    """Each finding with a code frame: the source line and carets (for notebooks, the cell's line)."""
    for f in findings:
        out.write(_headline(paint, f, unsafe))
        key = (f.filename, f.cell)
        lines = sources.get(key)
        if lines is None:
            lines = sources[key] = _read_lines(f.filename) if f.cell is None else _cell_lines(f.filename, f.cell)
        if 0 < f.row <= len(lines):
            line = lines[f.row - 1].rstrip("\r\n").expandtabs(1)
            width = len(str(f.row))
            end = f.end_column if f.end_row == f.row else len(line) + 1
            carets = "^" * max(1, end - f.column)
            gutter = " " * width
            out.write(paint(f"{gutter} |", "blue") + "\n")
            out.write(paint(f"{f.row} |", "blue") + f" {line}\n")
            out.write(paint(f"{gutter} |", "blue") + f" {' ' * (f.column - 1)}{paint(f'{carets} {f.code}', 'bold', 'red')}\n")
            if f.fix is not None:
                out.write(paint(f"{gutter} |", "blue") + "\n")
                label = "help" if f.fix.applicability == "safe" else "help (unsafe)"
                out.write(paint(f"{gutter} =", "blue") + f" {paint(label, 'bold')}: {f.fix.message}\n")
        out.write("\n")


def _read_lines(filename: str) -> list[str]:
    try:
        with open(filename, encoding="utf-8", errors="replace", newline="") as handle:
            return handle.read().splitlines()
    except OSError:
        return []


def _cell_lines(filename: str, cell: int) -> list[str]:
    """The source lines of a notebook's cell (1-based, counting every cell), read as plain JSON."""
    try:
        with open(filename, encoding="utf-8", errors="replace") as handle:
            cells = json.load(handle).get("cells") or []
        source = cells[cell - 1].get("source") or ""
    except (OSError, ValueError, AttributeError, IndexError, TypeError):
        return []
    return ("".join(source) if isinstance(source, list) else str(source)).splitlines()


# ---------------------------------------------------------------------------- statistics and summary
def _applies(f: Finding, unsafe: bool) -> bool:
    return f.fix is not None and (f.fix.applicability == "safe" or unsafe)


def statistics_rows(findings: Sequence[Finding], unsafe: bool = False) -> list[dict[str, Any]]:
    """One row per code, most frequent first (ruff's fields: code, name, count, fixable)."""
    counts = Counter(f.code for f in findings)
    fixable = {f.code for f in findings if _applies(f, unsafe)}
    names = {f.code: f.name for f in findings}
    rules = rule_catalog()
    rows = [
        {"code": code, "name": rules[code].name if code in rules else names[code], "count": count,
         "fixable": code in fixable}
        for code, count in counts.items()
    ]
    rows.sort(key=lambda row: (-row["count"], row["code"]))
    return rows


def render_statistics(out: IO[str], paint: Painter, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    count_width = max(len(str(row["count"])) for row in rows)
    code_width = max(len(row["code"]) for row in rows)
    any_fixable = any(row["fixable"] for row in rows)
    for row in rows:
        mark = (paint("[*]", "cyan") + " " if row["fixable"] else "[ ] ") if any_fixable else ""
        count = paint(f"{row['count']:>{count_width}}", "bold")
        out.write(f"{count}\t{paint(row['code'].ljust(code_width), 'bold', 'red')}\t{mark}{row['name']}\n")


def _plural(count: int, word: str, suffix: str = "s") -> str:
    return f"{count} {word}{'' if count == 1 else suffix}"


def summary_lines(
    paint: Painter,
    findings: Sequence[Finding],
    fixed: int,
    unsafe: bool,
    applying: bool = False,
    diff: bool = False,
    problems: int = 0,
) -> list[str]:
    """The closing lines, in ruff's words and order (ruff's ``write_summary_text``).

    ``unsafe``: ``--unsafe-fixes`` was given. ``applying``: ``--fix`` wrote files. ``diff``:
    ``--diff`` showed the fixes instead of the findings.
    """
    applicable = sum(1 for f in findings if _applies(f, unsafe))
    hidden = 0 if unsafe else sum(1 for f in findings if f.fix is not None and f.fix.applicability == "unsafe")
    if diff:
        if hidden:
            es = "" if hidden == 1 else "es"
            if fixed:
                verb = "Fixed" if applying else "Would fix"
                return [f"{verb} {_plural(fixed, 'error')} ({hidden} additional fix{es} available with `--unsafe-fixes`)."]
            verb = "No errors fixed" if applying else "No errors would be fixed"
            return [f"{verb} ({hidden} fix{es} available with `--unsafe-fixes`)."]
        if fixed:
            return [f"{'Fixed' if applying else 'Would fix'} {_plural(fixed, 'error')}."]
        return []
    lines = []
    remaining = len(findings)
    if fixed:
        lines.append(f"Found {_plural(fixed + remaining, 'error')} ({fixed} fixed, {remaining} remaining).")
    elif remaining:
        lines.append(f"Found {_plural(remaining, 'error')}.")
    elif problems:
        lines.append(f"No findings, but {_plural(problems, 'file')} could not be checked.")
    else:
        lines.append(paint("All checks passed!", "bold", "green"))
    star = "[" + paint("*", "cyan") + "]"
    if unsafe:
        if applicable:
            lines.append(f"{star} {applicable} fixable with the --fix option.")
    elif applicable and hidden:
        lines.append(
            f"{star} {applicable} fixable with the `--fix` option "
            f"({_plural(hidden, 'hidden fix', 'es')} can be enabled with the `--unsafe-fixes` option)."
        )
    elif applicable:
        lines.append(f"{star} {applicable} fixable with the `--fix` option.")
    elif hidden:
        lines.append(
            f"No fixes available ({_plural(hidden, 'hidden fix', 'es')} can be enabled with the `--unsafe-fixes` option)."
        )
    return lines


def render_fixes(out: IO[str], paint: Painter, fixed_by_file: dict[str, Counter]) -> None:
    if not fixed_by_file:
        out.write("No errors fixed.\n")
        return
    total = sum(sum(c.values()) for c in fixed_by_file.values())
    out.write(f"Fixed {_plural(total, 'error')}:\n")
    rules = rule_catalog()
    for filename in sorted(fixed_by_file):
        out.write(f"- {display_path(filename)}:\n")
        for code, count in sorted(fixed_by_file[filename].items()):
            name = rules[code].name if code in rules else ""
            out.write(f"    {count} × {paint(code, 'bold', 'red')} ({name})\n")
