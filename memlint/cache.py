"""A lint-result cache in the spirit of ruff's: ``.memlint_cache/`` in the working directory.

An entry is keyed on the file's path, the effective settings (``Settings.fingerprint()``),
the fix mode and ``with_edits``; it stores the digest of the exact bytes its value was computed
from, so a changed file misses and overwrites its own entry. Values are any picklable object
(lint outcomes, and one entry per project holding its files' summaries).
Entries live under a namespace named after memlint's version and a fingerprint of memlint's
own source files, so editing a rule never serves stale results. Every failure to read or write
the cache is silent: the cache can only make a run faster, never fail it.

memlint owns a cache directory only when it created it: the directory holds memlint's
``CACHEDIR.TAG``, or was empty when memlint first used it. A directory that holds anything
else (``cache-dir = "."``, ``--cache-dir ~/.cache``) is never written to and nothing in it
is ever deleted; the cache is then off for the run and ``Cache.refusal`` says why. Old
namespaces are cleaned file by file, and only files with the names memlint gives its entries.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
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
_OWNER_LINE = "# This file is a cache directory tag created by memlint."
_GITIGNORE = "# Created by memlint\n*\n"
_PACKAGE_DIR = Path(__file__).resolve().parent
# What memlint itself puts in a cache directory; nothing else is ever deleted.
_NAMESPACE_NAME = re.compile(r"[0-9][0-9A-Za-z.+!_]*-[0-9a-f]{16}")
_SHARD_NAME = re.compile(r"[0-9a-f]{2}")
_ENTRY_NAME = re.compile(r"[0-9a-f]{62}|\.tmp-[A-Za-z0-9_]+")


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


def is_memlint_cache(directory: Path) -> bool:
    """True when ``directory`` carries the CACHEDIR.TAG that memlint writes (and nobody else does)."""
    try:
        with open(directory / "CACHEDIR.TAG", encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return head.startswith("Signature: 8a477f597d28d172789f06886806bc55") and _OWNER_LINE in head


class Cache:
    """Lookups and stores of per-file values; a cache that cannot be created or owned is simply off."""

    def __init__(self, directory: Path | None = None) -> None:
        self.root = Path(directory) if directory is not None else Path.cwd() / DEFAULT_CACHE_DIR
        self.namespace = self.root / f"{__version__}-{code_fingerprint()}"
        self.refusal: str | None = None  # why a directory was not used, when that is worth saying
        self.enabled = self._prepare()
        self.hits = 0
        self.misses = 0

    def _prepare(self) -> bool:
        try:
            if not self._claim_root():
                return False
            if not self.namespace.is_dir() or self.namespace.is_symlink():
                self._drop_old_namespaces()
                self.namespace.mkdir(exist_ok=True)
            return os.access(self.namespace, os.W_OK) and not self.namespace.is_symlink()
        except OSError:
            return False

    def _claim_root(self) -> bool:
        """Use the root only if memlint made it, or it is new or empty; tag it as memlint's."""
        root = self.root
        if os.path.lexists(root):
            if not root.is_dir():
                return False
            if not is_memlint_cache(root):
                if any(os.scandir(root)):
                    self.refusal = (
                        f"cache directory {root} holds files memlint did not create; the cache is off "
                        "(point cache-dir at a new or empty folder)"
                    )
                    return False
                self._write_tags()
            return True
        root.mkdir(parents=True, exist_ok=True)
        if not is_memlint_cache(root):
            if any(os.scandir(root)):  # someone else filled it between our mkdir and now
                return False
            self._write_tags()
        return True

    def _write_tags(self) -> None:
        for name, text in (("CACHEDIR.TAG", _CACHEDIR_TAG), (".gitignore", _GITIGNORE)):
            fd = os.open(self.root / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)

    def _drop_old_namespaces(self) -> None:
        """Results of another memlint build can never be served again; do not let them pile up."""
        try:
            children = list(os.scandir(self.root))
        except OSError:
            return
        for child in children:
            if (
                child.name != self.namespace.name
                and _NAMESPACE_NAME.fullmatch(child.name)
                and child.is_dir(follow_symlinks=False)
            ):
                remove_namespace(Path(child.path))

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
                    os.unlink(tmp)  # memlint's own temporary file, created just above
                except OSError:
                    pass
                raise
        except Exception:
            self.enabled = False  # a full disk or a read-only cache: stop trying, keep running


def remove_namespace(namespace: Path) -> None:
    """Delete the entries memlint wrote under one namespace, then the folders they leave empty.

    Only names of memlint's own layout (``ab/<62 hex digits>``, ``ab/.tmp-*``) are removed;
    anything else that someone put there stays, with the folders that hold it.
    """
    try:
        shards = [s for s in os.scandir(namespace) if _SHARD_NAME.fullmatch(s.name) and s.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for shard in shards:
        try:
            entries = list(os.scandir(shard.path))
        except OSError:
            continue
        for entry in entries:
            if _ENTRY_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass
        try:
            os.rmdir(shard.path)  # fails, and keeps it, when anything else is inside
        except OSError:
            pass
    try:
        os.rmdir(namespace)
    except OSError:
        pass
