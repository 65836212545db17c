"""The ``memlint`` command: ``check`` (the default), ``rule``, ``verify``, ``estimate``, ``clean`` and ``server``.

``memlint train.py`` and ``memlint --fix train.py`` mean ``memlint check ...``; a first word that
is neither a command nor an existing path is a usage error ("did you mean `verify`?").
Exit codes: 0 clean, 1 findings, 2 usage, configuration or internal error.

Adding a subcommand is one row in ``SUBCOMMANDS``: a module with ``add_parser(subparsers)``
(which calls ``subparsers.add_parser(NAME, ...)``) and ``run(args) -> exit code``. The module is
imported only when its command runs, so nothing it imports slows down ``memlint check``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from memlint import __version__
from memlint.output import FORMATS, display_path

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
WATCH_INTERVAL_S = 0.5


@dataclass(frozen=True)
class Subcommand:
    help: str
    module: str
    add_parser: str  # function(subparsers) -> argparse.ArgumentParser
    run: str  # function(args) -> int


SUBCOMMANDS: dict[str, Subcommand] = {
    "check": Subcommand("check files and directories (the default command)", "memlint.cli", "add_check_parser",
                        "run_check"),
    "rule": Subcommand("explain a rule, or list them all", "memlint.cli", "add_rule_parser", "run_rule"),
    "verify": Subcommand("measure a script's peak memory before and after its fixes", "memlint.verify.cli",
                         "add_verify_parser", "run_verify"),
    "estimate": Subcommand("simulate a training step's peak memory on fake tensors (no GPU needed)", "memlint.cli",
                           "add_estimate_parser", "run_estimate"),
    "clean": Subcommand("remove memlint's cache folders", "memlint.clean", "add_clean_parser", "run_clean"),
    "server": Subcommand("run the language server (LSP over stdio) for editors", "memlint.server", "add_parser",
                         "main"),
}


class UsageError(Exception):
    """A command line memlint cannot run; shown as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is 2 too; keep the message one line
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"memlint: error: {message}\n")


def _load(module: str, name: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(module), name)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s own arguments are built (the others are named, for --help)."""
    parser = _Parser(prog="memlint", description="Find and fix memory anti-patterns in PyTorch and Keras code.")
    parser.add_argument("--version", action="version", version=f"memlint {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for name, entry in SUBCOMMANDS.items():
        if name == command:
            _load(entry.module, entry.add_parser)(sub)
        else:
            sub.add_parser(name, help=entry.help)
    return parser


def add_check_parser(sub: Any) -> argparse.ArgumentParser:
    check = sub.add_parser("check", help=SUBCOMMANDS["check"].help)
    check.add_argument("paths", nargs="*", type=Path, help="files or directories (default: .)")
    check.add_argument("--fix", action="store_true", help="apply safe fixes")
    check.add_argument("--unsafe-fixes", action="store_true", help="also apply (or count) unsafe fixes")
    check.add_argument("--diff", action="store_true", help="print the fixes as a unified diff; write nothing")
    check.add_argument("--show-fixes", action="store_true", help="list what --fix changed")
    check.add_argument("--add-noqa", action="store_true",
                       help="add `# noqa: CODE` to every line with a finding (to adopt memlint on a large codebase)")
    check.add_argument("--select", action="append", metavar="CODES", help="rules to enable (comma-separated)")
    check.add_argument("--extend-select", action="append", metavar="CODES", help="rules to add")
    check.add_argument("--ignore", action="append", metavar="CODES", help="rules to disable")
    check.add_argument("--exclude", action="append", metavar="PATTERNS", help="replace the exclude globs")
    check.add_argument("--extend-exclude", action="append", metavar="PATTERNS", help="add exclude globs")
    check.add_argument("--force-exclude", action="store_true", help="apply excludes to paths named explicitly")
    check.add_argument("--output-format", choices=FORMATS, default=None, help="default: concise")
    check.add_argument("--statistics", action="store_true", help="count findings per rule")
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    check.add_argument("--exit-non-zero-on-fix", action="store_true",
                       help="exit 1 when --fix changed a file, even if no finding is left (for pre-commit)")
    check.add_argument("--fail-on", choices=("warning", "error"), default="warning",
                       help="the lowest severity that makes the run exit 1 (default: warning, i.e. any finding)")
    check.add_argument("--config", type=Path, help="use this pyproject.toml or memlint.toml only")
    check.add_argument("--show-settings", action="store_true",
                       help="print the settings that apply to the first path, then exit")
    check.add_argument("--watch", action="store_true", help="check again whenever a file changes (Ctrl-C stops)")
    check.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    check.add_argument("--cache-dir", type=Path, help="where the cache lives (default .memlint_cache)")
    check.add_argument(
        "--target-version", metavar="VERSION", help="the Python the code is for, e.g. 3.8 (default: the running one)"
    )
    check.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary")
    return check


def add_rule_parser(sub: Any) -> argparse.ArgumentParser:
    rule = sub.add_parser("rule", help=SUBCOMMANDS["rule"].help)
    rule.add_argument("code", nargs="?", help="a rule code such as MEM001")
    rule.add_argument("--all", action="store_true", help="list every rule")
    rule.add_argument("--output-format", choices=("text", "json"), default="text")
    return rule


def add_estimate_parser(sub: Any) -> argparse.ArgumentParser:
    from memlint.estimate.cli import add_arguments

    return add_arguments(sub.add_parser(
        "estimate", help=SUBCOMMANDS["estimate"].help,
        description="Run SCRIPT under fake tensors (nothing allocated, nothing written) for --steps optimizer "
        "steps and report the peak of live tensor memory, where it happens, a breakdown, what would lower it, "
        "and with --gpu whether it fits and the largest batch size that does. Arguments after -- go to the script.",
        epilog="exit status: 0 estimated (and fits --gpu); 1 does not fit --gpu; 2 no estimate",
    ))


def run_estimate(args: argparse.Namespace) -> int:
    from memlint.estimate.cli import main as estimate_main

    return estimate_main(args)


def normalize_argv(argv: Sequence[str]) -> list[str]:
    """Insert ``check`` when no subcommand is named; refuse a first word that is a mistyped command."""
    argv = list(argv)
    if not argv:
        return ["check"]
    first = argv[0]
    if first in SUBCOMMANDS or first in ("-h", "--help", "--version"):
        return argv
    if not first.startswith("-") and not os.path.lexists(first):
        import difflib

        close = difflib.get_close_matches(first, list(SUBCOMMANDS), n=1, cutoff=0.6)
        if close:
            raise UsageError(f"'{first}' is neither a memlint command nor an existing path; did you mean '{close[0]}'?")
        if not any(mark in first for mark in "/.\\"):
            raise UsageError(
                f"'{first}' is neither a memlint command nor an existing path (commands: {', '.join(SUBCOMMANDS)})"
            )
    return ["check", *argv]


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args_list = normalize_argv(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        sys.stderr.write(f"memlint: error: {exc}\n")
        return EXIT_ERROR
    command = args_list[0] if args_list[0] in SUBCOMMANDS else None
    args = build_parser(command).parse_args(args_list)
    entry = SUBCOMMANDS[args.command]
    try:
        return _load(entry.module, entry.run)(args)
    except KeyboardInterrupt:
        sys.stderr.write("memlint: interrupted\n")
        return 130
    except BrokenPipeError:  # `memlint rule --all | head`; `check` keeps its own exit code (run_check)
        silence_stdout()
        return EXIT_CLEAN
    except Exception as exc:  # never a traceback for a user; say what broke
        sys.stderr.write(f"memlint: internal error: {type(exc).__name__}: {exc}\n")
        if os.environ.get("MEMLINT_DEBUG"):
            raise
        return EXIT_ERROR


def silence_stdout() -> None:
    """After a broken pipe: send what is still buffered to /dev/null, so exiting raises nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


# ---------------------------------------------------------------------------- check
def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from memlint.config import split_codes

    return {
        "select": split_codes(args.select),
        "extend_select": split_codes(args.extend_select),
        "ignore": split_codes(args.ignore),
        "exclude": split_codes(args.exclude),
        "extend_exclude": split_codes(args.extend_exclude),
    }


def _resolver(args: argparse.Namespace) -> Any:
    """The configuration for this run; raises ConfigError."""
    from memlint.config import ConfigResolver, resolve_selector

    overrides = _overrides(args)
    if args.target_version is not None:
        from memlint.config import ConfigError
        from memlint.parsing import parse_target_version

        try:
            overrides["target_version"] = parse_target_version(args.target_version)
        except ValueError as exc:
            raise ConfigError(f"--{exc}") from None
    resolver = ConfigResolver(args.config, overrides)
    for key in ("select", "extend_select", "ignore"):  # a typo on the command line is reported up front
        for selector in overrides[key] or ():
            resolve_selector(selector, f"--{key.replace('_', '-')}")
    return resolver


def _usage_conflict(args: argparse.Namespace, output_format: str) -> str | None:
    if args.add_noqa and (args.fix or args.diff):
        return "--add-noqa cannot be combined with --fix or --diff"
    if args.watch and (args.diff or args.add_noqa or args.show_settings):
        return "--watch cannot be combined with --diff, --add-noqa or --show-settings"
    if args.statistics and output_format not in ("concise", "full", "json"):
        return f"--statistics prints text or json, not {output_format}"
    return None


def run_check(args: argparse.Namespace) -> int:
    from memlint.config import ConfigError

    output_format = args.output_format or "concise"
    conflict = _usage_conflict(args, output_format)
    if conflict:
        sys.stderr.write(f"memlint: error: {conflict}\n")
        return EXIT_ERROR
    try:
        resolver = _resolver(args)
        if args.show_settings:
            return _show_settings(args, resolver)
        if args.add_noqa:
            from memlint.add_noqa import run_add_noqa

            return run_add_noqa(args, resolver)
        if args.watch:
            return _watch(args, output_format)
        return _check_once(args, resolver, output_format)
    except ConfigError as exc:
        sys.stderr.write(f"memlint: error: {exc}\n")
        return EXIT_ERROR


def _check_once(args: argparse.Namespace, resolver: Any, output_format: str) -> int:
    from memlint.checker import FixMode
    from memlint.runner import run_paths

    mode = FixMode(fix=args.fix, unsafe=args.unsafe_fixes, diff=args.diff)
    result = run_paths(
        args.paths or [Path(".")],
        resolver,
        mode,
        with_edits=output_format in ("json", "sarif") and not args.statistics,
        force_exclude=args.force_exclude,
        use_cache=not args.no_cache,
        cache_dir=args.cache_dir,
    )
    fixed = sum(sum(c.values()) for c in result.fixed.values())
    code = _exit_code(args, result.findings, fixed, len(result.problems))
    try:
        _report(args, result, fixed, output_format)
    except BrokenPipeError:  # `memlint check . | head`: the findings still decide the exit code
        silence_stdout()
    return code


def _exit_code(args: argparse.Namespace, findings: Sequence[Any], fixed: int, problems: int) -> int:
    if problems:
        return EXIT_ERROR
    if args.exit_zero:
        return EXIT_CLEAN
    if args.diff:
        return EXIT_FINDINGS if fixed else EXIT_CLEAN
    if args.fail_on == "error":
        from memlint.rules import rule_catalog

        rules = rule_catalog()
        findings = [f for f in findings if f.code in rules and rules[f.code].severity == "error"]
    if findings:
        return EXIT_FINDINGS
    if args.exit_non_zero_on_fix and fixed:
        return EXIT_FINDINGS
    return EXIT_CLEAN


def problem_line(problem: Any) -> str:
    where = display_path(problem.filename)
    if problem.row is not None:
        where += f":{problem.row}:{problem.column or 1}"
    return f"{where}: {problem.message}"


def _report(args: argparse.Namespace, result: Any, fixed: int, output_format: str) -> None:
    from memlint.output import text

    err, out = sys.stderr, sys.stdout
    for note in result.notes:
        err.write(f"memlint: {display_path(note)}\n")
    for problem in result.problems:
        err.write(problem_line(problem) + "\n")
    err.flush()
    findings = result.findings
    if args.diff:
        for diff in result.diffs:
            out.write(diff)
        out.flush()
        if not args.quiet:
            lines = text.summary_lines(text.Painter(err), findings, fixed, args.unsafe_fixes, diff=True)
            err.write("".join(line + "\n" for line in lines))
        return
    if output_format == "json" and args.statistics:
        from memlint.output.json_format import render_statistics

        out.write(render_statistics(text.statistics_rows(findings, args.unsafe_fixes)))
    elif output_format in ("json", "sarif", "github"):
        renderer = _load(f"memlint.output.{'json_format' if output_format == 'json' else output_format}", "render")
        out.write(renderer(findings, result.problems))
    else:
        paint = text.Painter(out)
        if args.statistics:
            rows = text.statistics_rows(findings, args.unsafe_fixes)
            text.render_statistics(out, paint, rows)
        elif output_format == "full":
            text.render_full(out, paint, findings, {}, args.unsafe_fixes)
        else:
            text.render_concise(out, paint, findings, args.unsafe_fixes)
        if args.show_fixes and args.fix:
            text.render_fixes(out, paint, result.fixed)
        if not args.quiet and not (args.statistics and not findings):
            lines = text.summary_lines(
                paint, findings, fixed, args.unsafe_fixes, applying=args.fix, problems=len(result.problems)
            )
            out.write("".join(line + "\n" for line in lines))
    out.flush()


def _show_settings(args: argparse.Namespace, resolver: Any) -> int:
    """ruff's ``--show-settings``: what applies to the first file of the run."""
    from memlint.files import PathProblem, Target, discover

    target = None
    for item in discover(list(args.paths or [Path(".")]), resolver, force_exclude=args.force_exclude):
        if isinstance(item, Target):
            target = item
            break
        if not item.message.startswith("note:"):
            sys.stderr.write(f"memlint: error: {display_path(item.path)}: {item.message}\n")
            return EXIT_ERROR
    if target is None:
        first = (args.paths or [Path(".")])[0]
        sys.stderr.write(f"memlint: error: {display_path(str(first))}: no Python file to show settings for\n")
        return EXIT_ERROR
    sys.stdout.write("".join(line + "\n" for line in target.settings.describe(target.path)))
    return EXIT_CLEAN


def _watch(args: argparse.Namespace, output_format: str) -> int:
    """Check, then check again each time a watched file or a configuration file changes."""
    from memlint.config import ConfigError

    err = sys.stderr
    err.write("Starting memlint in watch mode...\n")
    previous = None
    while True:
        state = _watched_state(args.paths or [Path(".")], args.config)
        if state != previous:
            if previous is not None:
                err.write("File change detected...\n")
            previous = state
            try:
                _check_once(args, _resolver(args), output_format)
            except ConfigError as exc:
                err.write(f"memlint: error: {exc}\n")
            sys.stdout.flush()
            err.write("Watching for file changes.\n")
            err.flush()
            # A --fix run changed files itself: start from the state it left.
            previous = _watched_state(args.paths or [Path(".")], args.config) if args.fix else previous
        time.sleep(WATCH_INTERVAL_S)


_WATCHED_SUFFIXES = (".py", ".pyi", ".ipynb")
_CONFIG_NAMES = ("pyproject.toml", "memlint.toml")


def _watched_state(paths: Sequence[Path], config: Path | None) -> frozenset[tuple[str, int, int]]:
    """(path, mtime, size) of the source files under ``paths`` and of the configuration files that apply."""
    from memlint.config import DEFAULT_EXCLUDE

    found: set[tuple[str, int, int]] = set()

    def add(path: str) -> None:
        try:
            st = os.stat(path)
        except OSError:
            return
        found.add((path, st.st_mtime_ns, st.st_size))

    if config is not None:
        add(str(config))
    for given in paths:
        directory = Path(os.path.abspath(given))
        for parent in (directory, *directory.parents):
            for name in _CONFIG_NAMES:
                add(str(parent / name))
        if not given.is_dir():
            add(str(given))
            continue
        for root, dirnames, filenames in os.walk(given):
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in DEFAULT_EXCLUDE]
            for name in filenames:
                if name.endswith(_WATCHED_SUFFIXES) or name in _CONFIG_NAMES:
                    add(os.path.join(root, name))
    return frozenset(found)


# ---------------------------------------------------------------------------- rule
def run_rule(args: argparse.Namespace) -> int:
    from memlint.rule_docs import rule_document
    from memlint.rules import all_rules

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
                    "severity": rule.severity,
                }
                for code, rule in rules.items()
            ]
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
            return EXIT_CLEAN
        from rich.table import Table

        from memlint.output.text import make_console

        table = Table(box=None, show_edge=False, pad_edge=False)
        for column in ("code", "name", "default", "fix", "severity", "summary"):
            table.add_column(column)
        for code, rule in rules.items():
            table.add_row(
                code, rule.name, "on" if rule.default_enabled else "off", rule.fix_availability, rule.severity,
                rule.summary,
            )
        console = make_console()
        if not console.is_terminal:
            console.width = 200  # a pipe or file gets whole rows, not an 80-column wrap
        with console.capture() as captured:  # rich exits 1 on a broken pipe; this writes it ourselves
            console.print(table)
        sys.stdout.write(captured.get())
        return EXIT_CLEAN
    code = args.code.upper()
    if code not in rules:
        sys.stderr.write(f"memlint: error: unknown rule {args.code!r}; valid codes: {', '.join(rules)}\n")
        return EXIT_ERROR
    sys.stdout.write(rule_document(rules[code]))
    return EXIT_CLEAN
