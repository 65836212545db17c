"""Which files a run covers: explicit paths as given, directories walked without following links."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from memlint.config import ConfigResolver, Settings

SOURCE_SUFFIXES = (".py", ".pyi", ".ipynb")


@dataclass(frozen=True)
class Target:
    path: Path
    settings: Settings


@dataclass(frozen=True)
class PathProblem:
    path: str
    message: str


def discover(
    paths: list[Path], resolver: ConfigResolver, force_exclude: bool = False
) -> Iterator[Target | PathProblem]:
    """Yield the files to check, in a stable order, and problems with paths the user named."""
    seen: set[str] = set()
    for given in paths:
        if not os.path.lexists(given):
            yield PathProblem(str(given), "no such file or directory")
            continue
        if given.is_symlink() and not given.exists():
            yield PathProblem(str(given), "broken symbolic link")
            continue
        if given.is_dir():
            found = False
            for target in _walk(given, resolver):
                key = os.path.realpath(target.path)
                if key not in seen:
                    seen.add(key)
                    found = True
                    yield target
            if not found:
                yield PathProblem(str(given), "note: no Python files found")
            continue
        settings = resolver.for_path(given)
        if force_exclude and settings.is_excluded(given):
            continue
        key = os.path.realpath(given)
        if key not in seen:
            seen.add(key)
            yield Target(given, settings)


def _walk(root: Path, resolver: ConfigResolver) -> Iterator[Target]:
    real_root = os.path.realpath(root)
    # A directory the user named is checked even if it lies under an excluded one (as ruff does:
    # `memlint check .venv/lib/python3.11/site-packages/torch`); below it, excludes apply as usual.
    named_excluded = resolver.for_path(root / "_").is_excluded(root)
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(directory)
        settings = resolver.for_path(here / "_")
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and not _excluded(settings, here / d, root, named_excluded)
            and not (here / d).is_symlink()
        )
        for name in sorted(filenames):
            if not name.endswith(SOURCE_SUFFIXES):
                continue
            path = here / name
            try:
                mode = os.stat(path).st_mode  # follows links
            except OSError:
                continue  # broken link inside a tree: nothing to check
            if not stat.S_ISREG(mode):
                continue
            if path.is_symlink() and not _inside(os.path.realpath(path), real_root):
                continue  # never reach outside the tree the user named
            file_settings = resolver.for_path(path)
            if _excluded(file_settings, path, root, named_excluded):
                continue
            yield Target(path, file_settings)


def _excluded(settings: Settings, path: Path, root: Path, named_excluded: bool) -> bool:
    if not named_excluded:
        return settings.is_excluded(path)
    below = os.path.relpath(path, root)  # judge only the part under the named directory
    return settings.is_excluded(Path(settings.root or Path.cwd(), below))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
