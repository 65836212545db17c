"""Configuration: ``[tool.memlint]`` in pyproject.toml or a top-level ``memlint.toml``.

The nearest configuration file at or above each checked file applies (``--config`` overrides
that). Keys are validated: an unknown key or code is an error naming the valid ones.
"""

from __future__ import annotations

import fnmatch
import functools
import math
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from memlint.rules import all_rules, rule_catalog

if TYPE_CHECKING:
    from memlint.rule import Rule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(Exception):
    """A configuration or command-line value that memlint cannot use; shown as one line."""


DEFAULT_EXCLUDE = (
    ".bzr", ".direnv", ".eggs", ".git", ".hg", ".mypy_cache", ".nox", ".pants.d", ".pytype",
    ".ruff_cache", ".svn", ".tox", ".venv", ".memlint_cache", "__pypackages__", "_build",
    "buck-out", "build", "dist", "node_modules", "site-packages", "venv",
)

_LIST_KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude")
_BASE_KEYS = frozenset(_LIST_KEYS) | {"per-file-ignores", "cache-dir", "max-file-size-mb", "target-version"}


def rule_options() -> dict[str, Any]:
    """Every rule option by its kebab-case name."""
    options = {}
    for rule in rule_catalog().values():
        for option in rule.options:
            options[option.name] = option
    return options


def resolve_selector(selector: str, where: str) -> set[str]:
    """``MEM001``, a prefix such as ``MEM0`` or ``MEM``, or ``ALL`` → the codes it names."""
    codes = rule_catalog()
    token = selector.strip().upper()
    if token == "ALL":
        return set(codes)
    matched = {code for code in codes if code.startswith(token)} if token else set()
    if not matched:
        raise ConfigError(f"unknown rule selector {selector!r} in {where}; valid codes: {', '.join(codes)}")
    return matched


def _specificity(selector: str) -> int:
    """``ALL`` < ``MEM`` < ``MEM0`` < ``MEM001``: the more specific selector wins within one layer."""
    token = selector.strip().upper()
    return 0 if token == "ALL" else len(token)


@dataclass(frozen=True)
class RuleSelection:
    """One layer of selectors: the configuration file's, then the command line's.

    Layers apply in order, as ruff applies them: a layer with ``select`` starts over (so
    ``--select MEM005`` wins over ``ignore = ["MEM005"]`` in the file); a layer without one
    adds and removes. Within a layer the more specific selector wins, and at equal
    specificity ``ignore`` wins over ``select``.
    """

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    def apply(self, enabled: set[str], where: str) -> set[str]:
        choices = [(s, True) for s in (*(self.select or ()), *self.extend_select)]
        choices += [(s, False) for s in self.ignore]
        updates: dict[str, bool] = {}
        for selector, on in sorted(choices, key=lambda choice: (_specificity(choice[0]), not choice[1])):
            for code in resolve_selector(selector, where):
                updates[code] = on
        if self.select is not None:
            return {code for code, on in updates.items() if on}
        result = set(enabled)
        for code, on in updates.items():
            if on:
                result.add(code)
            else:
                result.discard(code)
        return result


@dataclass(frozen=True)
class Settings:
    root: Path | None = None  # directory of the config file that applied, if any
    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    command_line: RuleSelection | None = None  # --select / --extend-select / --ignore, applied last
    per_file_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    cache_dir: str | None = None
    # libcst needs about 30 s and 1.3 GB per MB of dense generated code; the largest file in torch is 1.4 MB.
    max_file_size_mb: float = 2.0
    target_version: tuple[int, int] | None = None  # None: the Python memlint runs on
    options: Mapping[str, Any] = field(default_factory=dict)
    source: str = "defaults"

    def enabled_codes(self) -> set[str]:
        enabled = {code for code, rule in rule_catalog().items() if rule.default_enabled}
        enabled = RuleSelection(self.select, self.extend_select, self.ignore).apply(enabled, self.source)
        if self.command_line is not None:
            enabled = self.command_line.apply(enabled, "the command line")
        return enabled

    def rules_for(self, path: Path | None) -> list[type[Rule]]:
        rules = all_rules()
        return [rules[code] for code in sorted(self.codes_for(path))]

    def codes_for(self, path: Path | None) -> set[str]:
        """The codes enabled for ``path`` (per-file-ignores applied), without importing any rule."""
        enabled = self.enabled_codes()
        if path is not None and self.per_file_ignores:
            relative = self.relative(path)
            for pattern, selectors in self.per_file_ignores.items():
                if _matches(relative, path, pattern):
                    for selector in selectors:
                        enabled -= resolve_selector(selector, "per-file-ignores")
        return enabled

    def relative(self, path: Path) -> str:
        base = self.root or Path.cwd()
        try:
            return Path(os.path.abspath(path)).relative_to(os.path.abspath(base)).as_posix()
        except ValueError:
            return path.as_posix()

    def is_excluded(self, path: Path) -> bool:
        patterns = (*self.exclude, *self.extend_exclude)
        return bool(patterns) and _matches_any(self.relative(path), path, patterns)

    def describe(self, path: Path) -> list[str]:
        """``--show-settings``: the resolved settings for one file, one ``key = value`` per line."""

        def show(values: Any) -> str:
            if values is None:
                return "(default)"
            return "[" + ", ".join(f'"{v}"' for v in values) + "]"

        rules = self.rules_for(path)
        lines = [
            f"Resolved settings for: {path}",
            f"Settings path: {self.source}",
            "",
            f"rules enabled for this file = [{', '.join(rule.code for rule in rules)}]",
            f"select = {show(self.select)}",
            f"extend-select = {show(self.extend_select)}",
            f"ignore = {show(self.ignore)}",
        ]
        if self.command_line is not None:
            cli = self.command_line
            lines += [
                f"--select = {show(cli.select)}",
                f"--extend-select = {show(cli.extend_select)}",
                f"--ignore = {show(cli.ignore)}",
            ]
        lines.append("per-file-ignores = {" + ", ".join(
            f'"{pattern}" = {show(codes)}' for pattern, codes in sorted(self.per_file_ignores.items())
        ) + "}")
        lines += [
            f"exclude = {show(self.exclude)}",
            f"extend-exclude = {show(self.extend_exclude)}",
            f"cache-dir = {self.cache_dir!r}" if self.cache_dir is not None else "cache-dir = (default)",
            f"max-file-size-mb = {self.max_file_size_mb:g}",
        ]
        for name, option in sorted(rule_options().items()):
            lines.append(f"{name} = {self.options.get(name, option.default)!r}")
        return lines
    def engine_options(self) -> dict[str, Any]:
        """The rule options, plus the target version the parser needs."""
        from memlint.parsing import TARGET_OPTION

        options = dict(self.options)
        if self.target_version is not None:
            options[TARGET_OPTION] = self.target_version
        return options

    def fingerprint(self) -> str:
        """What the cache keys on: everything that changes findings (per-file-ignores are relative to root)."""
        return repr(
            (
                sorted(self.enabled_codes()),
                sorted(self.per_file_ignores.items()),
                os.path.abspath(self.root or Path.cwd()) if self.per_file_ignores else None,
                sorted(self.options.items()),
                self.max_file_size_mb,
                self.target_version,
            )
        )


@functools.lru_cache(maxsize=64)
def _compiled(patterns: tuple[str, ...]) -> "re.Pattern[str]":
    """One regular expression for a set of glob patterns (what ``fnmatch`` would match)."""
    return re.compile("|".join(f"(?:{fnmatch.translate(os.path.normcase(p.rstrip('/')))})" for p in patterns))


def _matches_any(relative: str, path: Path, patterns: tuple[str, ...]) -> bool:
    """Glob match of any of ``patterns`` against the relative path, any trailing part of it, any
    one part, or the base name, with one compiled expression."""
    match = _compiled(patterns).match
    parts = relative.split("/")
    candidates = [relative, path.name, *("/".join(parts[i:]) for i in range(len(parts))), *parts]
    return any(match(os.path.normcase(c)) for c in candidates)


def _matches(relative: str, path: Path, pattern: str) -> bool:
    """Glob match against the relative path, any trailing part of it, or the base name."""
    return _matches_any(relative, path, (pattern,))


def _string_list(value: Any, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: '{key}' must be a list of strings")
    return tuple(value)


def settings_from_table(table: Mapping[str, Any], where: str, root: Path | None) -> Settings:
    options = rule_options()
    valid = sorted(_BASE_KEYS | set(options))
    values: dict[str, Any] = {}
    parsed_options: dict[str, Any] = {}
    for key, value in table.items():
        if key in _LIST_KEYS:
            values[key.replace("-", "_")] = _string_list(value, key, where)
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: 'per-file-ignores' must be a table of pattern = [codes]")
            values["per_file_ignores"] = {p: _string_list(v, f"per-file-ignores.{p}", where) for p, v in value.items()}
        elif key == "cache-dir":
            if not isinstance(value, str):
                raise ConfigError(f"{where}: 'cache-dir' must be a string")
            values["cache_dir"] = value
        elif key == "max-file-size-mb":
            if not _is_number(value) or value <= 0:
                raise ConfigError(f"{where}: 'max-file-size-mb' must be a positive number, not {value!r}")
            values["max_file_size_mb"] = float(value)
        elif key == "target-version":
            from memlint.parsing import parse_target_version

            try:
                values["target_version"] = parse_target_version(value)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        elif key in options:
            parsed_options[key] = coerce_option(options[key], value, where)
        else:
            raise ConfigError(f"{where}: unknown key '{key}'; valid keys: {', '.join(valid)}")
    settings = Settings(root=root, options=parsed_options, source=where, **values)
    if "exclude" in values:
        settings = replace(settings, exclude=values["exclude"])
    # Validate selectors now so a typo is reported once, up front.
    for selector in (*(settings.select or ()), *settings.extend_select, *settings.ignore):
        resolve_selector(selector, where)
    for selectors in settings.per_file_ignores.values():
        for selector in selectors:
            resolve_selector(selector, where)
    return settings


def _is_number(value: Any) -> bool:
    """A finite int or float: TOML allows ``nan`` and ``inf``, and no size or count means anything then."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def coerce_option(option: Any, value: Any, where: str) -> Any:
    expected = option.type
    if expected in (int, float) and isinstance(value, str):
        try:
            value = expected(value)
        except ValueError:
            pass
    if expected is bool and isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    if expected in (int, float):
        # Every numeric rule option is a size or a count (0 turns a check off): never negative.
        kind = "a non-negative integer" if expected is int else "a non-negative number"
        if not _is_number(value) or value < 0 or (expected is int and not isinstance(value, int)):
            raise ConfigError(f"{where}: '{option.name}' must be {kind}, not {value!r}")
        return expected(value)
    if not isinstance(value, expected) and value is not None:
        raise ConfigError(f"{where}: '{option.name}' must be {expected.__name__}")
    return value


def load_config_file(path: Path) -> Settings | None:
    """Settings from one file, or None when a pyproject.toml has no [tool.memlint]."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except tomllib.TOMLDecodeError as exc:
        if path.name == "pyproject.toml" and "memlint" not in text:
            # Not memlint's to judge: a project template's pyproject.toml with Jinja tags
            # (cookiecutter) cannot hold a [tool.memlint] table that never names memlint.
            return None
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("memlint")
        if table is None:
            return None
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [tool.memlint] must be a table")
        return settings_from_table(table, f"{path} [tool.memlint]", path.parent)
    return settings_from_table(data, str(path), path.parent)


class ConfigResolver:
    """Finds the configuration for each file: nearest memlint.toml / pyproject.toml upwards."""

    def __init__(self, explicit: Path | None = None, overrides: Mapping[str, Any] | None = None) -> None:
        self.overrides = dict(overrides or {})
        self._by_dir: dict[Path, Settings] = {}
        self._explicit = load_config_file(explicit) if explicit is not None else None
        if explicit is not None and self._explicit is None:
            raise ConfigError(f"{explicit}: no [tool.memlint] table")

    def for_path(self, path: Path) -> Settings:
        directory = Path(os.path.abspath(path if path.is_dir() else path.parent))
        if self._explicit is not None:
            return self._apply_overrides(self._explicit)
        return self._apply_overrides(self._find(directory))

    def _find(self, directory: Path) -> Settings:
        if directory in self._by_dir:
            return self._by_dir[directory]
        settings: Settings | None = None
        for name in ("memlint.toml", "pyproject.toml"):
            candidate = directory / name
            if candidate.is_file():
                settings = load_config_file(candidate)
                if settings is not None:
                    break
        if settings is None:
            parent = directory.parent
            settings = self._find(parent) if parent != directory else Settings()
        self._by_dir[directory] = settings
        return settings

    def _apply_overrides(self, settings: Settings) -> Settings:
        o = self.overrides
        if not o:
            return settings
        changes: dict[str, Any] = {}
        if o.get("select") is not None or o.get("extend_select") or o.get("ignore"):
            changes["command_line"] = RuleSelection(
                None if o.get("select") is None else tuple(o["select"]),
                tuple(o.get("extend_select") or ()),
                tuple(o.get("ignore") or ()),
            )
        if o.get("exclude") is not None:
            changes["exclude"] = tuple(o["exclude"])
        if o.get("extend_exclude"):
            changes["extend_exclude"] = settings.extend_exclude + tuple(o["extend_exclude"])
        if o.get("target_version") is not None:
            changes["target_version"] = o["target_version"]
        return replace(settings, **changes)


def split_codes(values: Iterable[str] | None) -> list[str] | None:
    """``--select MEM001,MEM002 --select MEM003`` → a flat list."""
    if values is None:
        return None
    out: list[str] = []
    for value in values:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out
