"""A lint-result cache in the spirit of ruff's: ``.memlint_cache/`` in the working directory.

An entry is keyed on the file's path, the effective settings (``Settings.fingerprint()``),
the fix mode and ``with_edits``; it stores the hash of the content it was computed from, so a
changed file misses and overwrites its own entry. Entries live under a namespace named after
memlint's version and a fingerprint of memlint's own source files, so editing a rule never
serves stale results. Every failure to read or write the cache is silent: the cache can only
make a run faster, never fail it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from memlint import __version__

DEFAULT_CACHE_DIR = ".memlint_cache"
_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by memlint.\n"
    "# For information about cache directory tags, see:\n"
    "#\thttps://bford.info/cachedir/\n"
)
_PACKAGE_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """memlint's version plus the size and mtime of every module of the package (rules included)."""
    digest = hashlib.sha256(__version__.encode())
    for directory, dirnames, filenames in os.walk(_PACKAGE_DIR):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                digest.update(f"{os.path.relpath(path, _PACKAGE_DIR)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class Cache:
    """Lookups and stores of per-file results; a cache that cannot be created is simply off."""

    def __init__(self, directory: Path | None = None) -> None:
        self.root = Path(directory) if directory is not None else Path.cwd() / DEFAULT_CACHE_DIR
        self.namespace = self.root / f"{__version__}-{code_fingerprint()}"
        self.enabled = self._prepare()
        self.hits = 0
        self.misses = 0

    def _prepare(self) -> bool:
        try:
            fresh = not self.root.exists()
            self.root.mkdir(parents=True, exist_ok=True)
            if fresh or not (self.root / "CACHEDIR.TAG").exists():
                (self.root / "CACHEDIR.TAG").write_text(_CACHEDIR_TAG)
                (self.root / ".gitignore").write_text("# Created by memlint\n*\n")
            if not self.namespace.is_dir():
                self._drop_old_namespaces()
                self.namespace.mkdir(exist_ok=True)
            return os.access(self.namespace, os.W_OK)
        except OSError:
            return False

    def _drop_old_namespaces(self) -> None:
        """Results of another memlint build can never be served again; do not let them pile up."""
        try:
            for child in self.root.iterdir():
                if child.is_dir() and not child.is_symlink() and child != self.namespace:
                    shutil.rmtree(child, ignore_errors=True)
        except OSError:
            pass

    def _entry(self, key: str) -> Path:
        return self.namespace / key[:2] / key[2:]

    @staticmethod
    def key(path: Path, settings_fingerprint: str, variant: str) -> str:
        ident = f"{os.path.abspath(path)}\0{settings_fingerprint}\0{variant}"
        return hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest()

    def get(self, key: str, digest: str) -> Any | None:
        if not self.enabled:
            return None
        try:
            with open(self._entry(key), "rb") as handle:
                stored_digest, value = pickle.load(handle)
        except Exception:  # missing, truncated, from an incompatible pickle: a miss
            self.misses += 1
            return None
        if stored_digest != digest:
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, key: str, digest: str, value: Any) -> None:
        if not self.enabled:
            return
        entry = self._entry(key)
        try:
            entry.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    pickle.dump((digest, value), handle, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, entry)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except Exception:
            self.enabled = False  # a full disk or a read-only cache: stop trying, keep running
