"""``memlint clean``: remove the cache folders memlint made, and nothing else.

It looks for ``.memlint_cache`` folders under the given directories (default: the current one)
and for the ``cache-dir`` the configuration names. A folder is memlint's only when it holds
memlint's own ``CACHEDIR.TAG``; inside it, only the files memlint writes are removed (its tag,
its ``.gitignore``, result namespaces made of result entries), so a file someone put there
stays, and so does the folder that holds it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from memlint.cache import _CACHEDIR_TAG, DEFAULT_CACHE_DIR

_NAMESPACE = re.compile(r"\d[\w.+-]*-[0-9a-f]{16}")
_SHARD = re.compile(r"[0-9a-f]{2}")
_ENTRY = re.compile(r"[0-9a-f]{62}|\.tmp-\w+")


def add_clean_parser(sub: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "clean",
        help="remove memlint's cache folders",
        description="Remove the .memlint_cache folders under each DIRECTORY (default: .) and the configured "
        "cache-dir. Only folders memlint made are touched, and only the files it wrote in them.",
    )
    parser.add_argument("directories", nargs="*", type=Path, metavar="DIRECTORY")
    parser.add_argument("--config", type=Path, help="use this pyproject.toml or memlint.toml only")
    return parser


def run_clean(args: argparse.Namespace) -> int:
    from memlint.config import ConfigError, ConfigResolver

    roots = args.directories or [Path(".")]
    for root in roots:
        if not root.is_dir():
            sys.stderr.write(f"memlint: error: {root}: not a directory\n")
            return 2
    candidates: list[Path] = []
    try:
        resolver = ConfigResolver(args.config)
        for root in roots:
            settings = resolver.for_path(root)
            if settings.cache_dir is not None:
                base = settings.root or Path.cwd()
                candidates.append(base / settings.cache_dir)
    except ConfigError as exc:
        sys.stderr.write(f"memlint: error: {exc}\n")
        return 2
    for root in roots:
        candidates.extend(_named_caches(root))
    removed, kept = 0, []
    seen: set[str] = set()
    for folder in candidates:
        real = os.path.realpath(folder)
        if real in seen or not is_memlint_cache(folder):
            continue
        seen.add(real)
        if remove_cache(folder):
            removed += 1
            sys.stdout.write(f"Removed cache: {folder}\n")
        else:
            kept.append(folder)
    for folder in kept:
        sys.stderr.write(f"memlint: {folder}: kept files memlint did not write; the folder stays\n")
    if not removed and not kept:
        sys.stdout.write("No memlint cache found.\n")
    return 0


def _named_caches(root: Path) -> list[Path]:
    """Every ``.memlint_cache`` below ``root``, without following links or entering other caches."""
    found = []
    for directory, dirnames, _ in os.walk(root):
        if DEFAULT_CACHE_DIR in dirnames:
            found.append(Path(directory) / DEFAULT_CACHE_DIR)
        dirnames[:] = [d for d in dirnames if d not in (DEFAULT_CACHE_DIR, ".git", ".hg", ".svn")]
    return found


def is_memlint_cache(folder: Path) -> bool:
    """A real folder (not a link) holding memlint's CACHEDIR.TAG, word for word."""
    try:
        if folder.is_symlink() or not folder.is_dir():
            return False
        return (folder / "CACHEDIR.TAG").read_text(encoding="utf-8") == _CACHEDIR_TAG
    except (OSError, UnicodeDecodeError):
        return False


def remove_cache(folder: Path) -> bool:
    """Remove what memlint wrote in ``folder``; True when the folder itself is gone."""
    for child in _listdir(folder):
        path = folder / child
        if path.is_symlink():
            continue
        if path.is_dir() and _NAMESPACE.fullmatch(child):
            _remove_namespace(path)
    markers = {".gitignore", "CACHEDIR.TAG"}
    if not set(_listdir(folder)) <= markers:
        return False  # someone else's file is in there: keep it, and the tag that says what the folder is
    for name in markers:
        _unlink(folder / name)
    return _rmdir(folder)


def _remove_namespace(namespace: Path) -> None:
    for shard in _listdir(namespace):
        path = namespace / shard
        if path.is_symlink() or not path.is_dir() or not _SHARD.fullmatch(shard):
            continue
        for entry in _listdir(path):
            if _ENTRY.fullmatch(entry) and (path / entry).is_file() and not (path / entry).is_symlink():
                _unlink(path / entry)
        _rmdir(path)
    _rmdir(namespace)


def _listdir(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _rmdir(path: Path) -> bool:
    """Remove an empty folder; a folder that still holds something stays."""
    try:
        os.rmdir(path)
    except OSError:
        return False
    return True
