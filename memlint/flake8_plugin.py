"""memlint as a flake8 plugin: the same engine and findings, reported through flake8.

flake8 hands us the file's ``lines`` (stdin included) and handles ``# noqa`` and
select/ignore itself; we run the engine on that text, never re-reading the file, and yield
0-based columns, which flake8 prints 1-based, so a finding shows at the same line:column as
under ``memlint check``. memlint's file-level ``# memlint: noqa`` is memlint's own directive,
so it is honoured here too. Rules that are off by default stay off unless selected.

Cross-file facts come from the same project index as ``memlint check`` (one per project root and
flake8 process, from ``.memlint_cache`` when memlint's own runs created one), so both report the
same findings on the same tree.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from memlint import __version__
from memlint.config import rule_options
from memlint.engine import ParseFailure, lint_text
from memlint.noqa import parse_suppressions
from memlint.rules import all_rules

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def _converter(kind: type) -> Any:
    if kind is bool:
        return _parse_bool
    if kind in (list, tuple):
        return None  # flake8's comma_separated_list does the parsing
    return kind


def _coerce(kind: type, value: Any) -> Any:
    """Values from setup.cfg arrive as strings (argparse converts only the command line)."""
    if value is None or not isinstance(value, str) or kind is str:
        return value
    convert = _converter(kind)
    return convert(value) if convert is not None else value


class MemlintChecker:
    name = "memlint"
    version = __version__

    settings: Mapping[str, Any] = {}

    def __init__(self, tree: Any, lines: Sequence[str], filename: str = "stdin") -> None:
        # ``tree`` makes flake8 treat this as an AST plugin; the engine parses with libcst itself.
        self.lines = lines
        self.filename = filename

    @classmethod
    def add_options(cls, option_manager: Any) -> None:
        for name, option in rule_options().items():
            extra: dict[str, Any] = {}
            convert = _converter(option.type)
            if convert is None:
                extra["comma_separated_list"] = True
            else:
                extra["type"] = convert
            default = option.default
            if isinstance(default, tuple):
                default = list(default)
            option_manager.add_option(
                f"--{name}",
                default=default,
                parse_from_config=True,
                help=f"memlint: {option.help} (default: {option.default!r})",
                **extra,
            )
        off = [code for code, rule in all_rules().items() if not rule.default_enabled]
        if off:
            option_manager.extend_default_ignore(off)

    @classmethod
    def parse_options(cls, options: argparse.Namespace) -> None:
        settings = {}
        for name, option in rule_options().items():
            value = getattr(options, name.replace("-", "_"), option.default)
            settings[name] = _coerce(option.type, value)
        cls.settings = settings

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        text = "".join(self.lines)
        view = _project_view(self.filename)
        try:
            findings = lint_text(
                text, self.filename, list(all_rules().values()), self.settings, apply_noqa=False, project=view
            )
        except (ParseFailure, RecursionError):
            return  # flake8 reports syntax errors itself (E999)
        finally:
            if view is not None:
                view.project.forget_analyses()  # flake8 checks a whole tree in one process
        if not findings:
            return
        suppressions = parse_suppressions(text)
        for finding in findings:
            if suppressions.file_all or (
                suppressions.file_codes is not None and finding.code in suppressions.file_codes
            ):
                continue
            yield finding.row, finding.column - 1, f"{finding.code} {finding.message}", type(self)


_PROJECTS: dict[str, Any] = {}


def _project_view(filename: str) -> Any:
    """The project index for a file flake8 checks (None for stdin or a file outside any folder)."""
    if filename in ("stdin", "-", ""):
        return None
    from memlint.analysis.project import ProjectView, build_project, cached_summaries, file_root, real_path, root_files
    from memlint.cache import DEFAULT_CACHE_DIR, Cache

    path = Path(filename)
    if not path.is_file():
        return None
    root = file_root(path)
    key = str(root)
    if key not in _PROJECTS:
        files = root_files(root, path)
        if path not in files and real_path(path) not in [real_path(f) for f in files]:
            files.append(path)
        cache = Cache(Path.cwd() / DEFAULT_CACHE_DIR) if (Path.cwd() / DEFAULT_CACHE_DIR).is_dir() else None
        _PROJECTS[key] = build_project(root, files, cached_summaries(cache, root))[0]
    return ProjectView(_PROJECTS[key])
