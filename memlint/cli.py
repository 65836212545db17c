"""The ``memlint`` command: ``check`` (the default), ``rule``, ``verify``, ``estimate`` and ``server``.

``memlint train.py`` and ``memlint --fix train.py`` mean ``memlint check ...``.
Exit codes: 0 clean, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from memlint import __version__
from memlint.output import FORMATS

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
SUBCOMMANDS = ("check", "rule", "verify", "estimate", "server")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is 2 too; keep the message one line
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"memlint: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="memlint", description="Find and fix memory anti-patterns in PyTorch and Keras code.")
    parser.add_argument("--version", action="version", version=f"memlint {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    check = sub.add_parser("check", help="check files and directories (the default command)")
    check.add_argument("paths", nargs="*", type=Path, help="files or directories (default: .)")
    check.add_argument("--fix", action="store_true", help="apply safe fixes")
    check.add_argument("--unsafe-fixes", action="store_true", help="also apply (or count) unsafe fixes")
    check.add_argument("--diff", action="store_true", help="print the fixes as a unified diff; write nothing")
    check.add_argument("--show-fixes", action="store_true", help="list what --fix changed")
    check.add_argument("--select", action="append", metavar="CODES", help="rules to enable (comma-separated)")
    check.add_argument("--extend-select", action="append", metavar="CODES", help="rules to add")
    check.add_argument("--ignore", action="append", metavar="CODES", help="rules to disable")
    check.add_argument("--exclude", action="append", metavar="PATTERNS", help="replace the exclude globs")
    check.add_argument("--extend-exclude", action="append", metavar="PATTERNS", help="add exclude globs")
    check.add_argument("--force-exclude", action="store_true", help="apply excludes to paths named explicitly")
    check.add_argument("--output-format", choices=FORMATS, default=None, help="default: concise")
    check.add_argument("--statistics", action="store_true", help="count findings per rule")
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    check.add_argument("--config", type=Path, help="use this pyproject.toml or memlint.toml only")
    check.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    check.add_argument("--cache-dir", type=Path, help="where the cache lives (default .memlint_cache)")
    check.add_argument(
        "--target-version", metavar="VERSION", help="the Python the code is for, e.g. 3.8 (default: the running one)"
    )
    check.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary")

    rule = sub.add_parser("rule", help="explain a rule, or list them all")
    rule.add_argument("code", nargs="?", help="a rule code such as MEM001")
    rule.add_argument("--all", action="store_true", help="list every rule")
    rule.add_argument("--output-format", choices=("text", "json"), default="text")

    from memlint.server import add_parser as add_server_parser

    add_server_parser(sub)
    try:
        from memlint.verify.cli import add_verify_parser
    except ImportError:  # pragma: no cover - the verifier ships with memlint
        pass
    else:
        add_verify_parser(sub)
    from memlint.estimate.cli import add_arguments as add_estimate_arguments

    add_estimate_arguments(sub.add_parser(
        "estimate", help="simulate a training step's peak memory on fake tensors (no GPU needed)",
        description="Run SCRIPT under fake tensors (nothing allocated, nothing written) for --steps optimizer "
        "steps and report the peak of live tensor memory, where it happens, a breakdown, what would lower it, "
        "and with --gpu whether it fits and the largest batch size that does. Arguments after -- go to the script.",
        epilog="exit status: 0 estimated (and fits --gpu); 1 does not fit --gpu; 2 no estimate",
    ))
    return parser


def normalize_argv(argv: Sequence[str]) -> list[str]:
    """Insert ``check`` when no subcommand is named, as ruff did before subcommands were required."""
    argv = list(argv)
    if not argv:
        return ["check"]
    for arg in argv:
        if arg in ("-h", "--help", "--version"):
            return argv
        if not arg.startswith("-"):
            break
    if argv[0] in SUBCOMMANDS:
        return argv
    return ["check", *argv]


def main(argv: Sequence[str] | None = None) -> int:
    args_list = normalize_argv(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        if args.command == "rule":
            return run_rule(args)
        if args.command == "verify":
            from memlint.verify.cli import run_verify

            return run_verify(args)
        if args.command == "estimate":
            from memlint.estimate.cli import main as run_estimate

            return run_estimate(args)
        if args.command == "server":
            from memlint.server import main as run_server

            return run_server(args)
        return run_check(args)
    except KeyboardInterrupt:
        sys.stderr.write("memlint: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_CLEAN
    except Exception as exc:  # never a traceback for a user; say what broke
        sys.stderr.write(f"memlint: internal error: {type(exc).__name__}: {exc}\n")
        if os.environ.get("MEMLINT_DEBUG"):
            raise
        return EXIT_ERROR


def run_check(args: argparse.Namespace) -> int:
    from memlint.config import ConfigError, ConfigResolver, split_codes
    from memlint.runner import run_paths

    from memlint.checker import FixMode

    output_format = args.output_format or "concise"
    overrides = {
        "select": split_codes(args.select),
        "extend_select": split_codes(args.extend_select),
        "ignore": split_codes(args.ignore),
        "exclude": split_codes(args.exclude),
        "extend_exclude": split_codes(args.extend_exclude),
    }
    err = _stderr()
    try:
        if args.target_version is not None:
            from memlint.parsing import parse_target_version

            try:
                overrides["target_version"] = parse_target_version(args.target_version)
            except ValueError as exc:
                raise ConfigError(f"--{exc}") from None
        resolver = ConfigResolver(args.config, overrides)
        # Validate command-line selectors up front.
        from memlint.config import resolve_selector

        for key in ("select", "extend_select", "ignore"):
            for selector in overrides[key] or ():
                resolve_selector(selector, f"--{key.replace('_', '-')}")
    except ConfigError as exc:
        err.write(f"memlint: error: {exc}\n")
        return EXIT_ERROR

    mode = FixMode(fix=args.fix, unsafe=args.unsafe_fixes, diff=args.diff)
    paths = args.paths or [Path(".")]
    try:
        result = run_paths(
            paths,
            resolver,
            mode,
            with_edits=output_format in ("json", "sarif"),
            force_exclude=args.force_exclude,
            use_cache=not args.no_cache,
            cache_dir=args.cache_dir,
        )
    except ConfigError as exc:
        err.write(f"memlint: error: {exc}\n")
        return EXIT_ERROR

    for note in result.notes:
        err.write(f"memlint: {note}\n")
    for problem in result.problems:
        err.write(f"{problem}\n")

    findings = result.findings
    out = sys.stdout
    if mode.diff:
        for diff in result.diffs:
            out.write(diff)
        fixed = sum(sum(c.values()) for c in result.fixed.values())
        if not args.quiet:
            err.write(f"Would fix {fixed} error{'s' if fixed != 1 else ''}.\n")
        if result.problems:
            return EXIT_ERROR
        return EXIT_FINDINGS if fixed and not args.exit_zero else EXIT_CLEAN

    if output_format == "json":
        from memlint.output.json_format import render

        out.write(render(findings))
    elif output_format == "sarif":
        from memlint.output.sarif import render

        out.write(render(findings))
    elif output_format == "github":
        from memlint.output.github import render

        out.write(render(findings))
    else:
        from memlint.output import text

        console = text.make_console()
        if args.statistics:
            text.render_statistics(console, findings)
        elif output_format == "full":
            text.render_full(console, findings, {})
        else:
            text.render_concise(console, findings)
        if args.show_fixes and mode.fix:
            text.render_fixes(console, result.fixed)
        if not args.quiet and not args.statistics:
            fixed_total = sum(sum(c.values()) for c in result.fixed.values())
            text.render_summary(console, findings, fixed_total, args.unsafe_fixes, len(result.problems))
    out.flush()
    if result.problems:
        return EXIT_ERROR
    if findings and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


def _stderr():
    return sys.stderr


def run_rule(args: argparse.Namespace) -> int:
    from memlint.rules import all_rules
    from memlint.rule_docs import rule_document

    rules = all_rules()
    if args.all or not args.code:
        if args.output_format == "json":
            import json

            rows = [
                {
                    "code": code,
                    "name": rule.name,
                    "summary": rule.summary,
                    "default": "on" if rule.default_enabled else "off",
                    "fix": rule.fix_availability,
                }
                for code, rule in rules.items()
            ]
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
            return EXIT_CLEAN
        from rich.table import Table

        from memlint.output.text import make_console

        table = Table(box=None, show_edge=False, pad_edge=False)
        for column in ("code", "name", "default", "fix", "summary"):
            table.add_column(column)
        for code, rule in rules.items():
            table.add_row(code, rule.name, "on" if rule.default_enabled else "off", rule.fix_availability, rule.summary)
        console = make_console()
        if not console.is_terminal:
            console.width = 200  # a pipe or file gets whole rows, not an 80-column wrap
        console.print(table)
        return EXIT_CLEAN
    code = args.code.upper()
    if code not in rules:
        sys.stderr.write(f"memlint: error: unknown rule {args.code!r}; valid codes: {', '.join(rules)}\n")
        return EXIT_ERROR
    sys.stdout.write(rule_document(rules[code]))
    return EXIT_CLEAN
