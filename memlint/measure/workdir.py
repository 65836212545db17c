"""Private temporary folders that memlint can prove it made, and remove without touching anything else.

A work folder holds a manifest (``.memlint-owned``): a header naming the process that made it
(pid and start time) and one line per file memlint put there. Cleanup unlinks exactly those
files, then the manifest, then the folder if it is empty; a file someone else left there keeps
the folder. Nothing here ever removes a tree.

A run killed with SIGKILL cannot clean up; the next run sweeps work folders whose maker is gone.
Standard library only: the measured child process records its own scratch files here too.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

MANIFEST = ".memlint-owned"
HEADER = "memlint work folder"
PREFIXES = ("memlint-verify-", "memlint-estimate-")


def process_start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot: with the pid, it names one process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat_file:
            fields = stat_file.read().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return None


def make_workdir(kind: str) -> Path:
    """A fresh private folder (mode 0700) in the temp directory, with its manifest."""
    path = Path(tempfile.mkdtemp(prefix=f"memlint-{kind}-"))
    pid = os.getpid()
    with open(path / MANIFEST, "x", encoding="utf-8") as manifest:
        manifest.write(f"{HEADER} pid={pid} start={process_start_ticks(pid)}\n")
    return path


def record_file(workdir: str | os.PathLike, name: str) -> str:
    """Note that memlint is about to create ``name`` (a plain file name) in the folder; returns its path."""
    if not name or name in (".", "..", MANIFEST) or "/" in name or "\0" in name or "\n" in name:
        raise ValueError(f"not a plain file name: {name!r}")
    # os.open, not open(): inside a simulation open() is redirected to the scratch folder
    fd = os.open(os.path.join(workdir, MANIFEST), os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, (name + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    return os.path.join(workdir, name)


def _read_manifest(workdir: Path) -> tuple[str, list[str]] | None:
    """(header, file names), or None when the folder is not one of ours."""
    manifest = workdir / MANIFEST
    try:
        info = manifest.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            return None
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines or not lines[0].startswith(HEADER + " "):
        return None
    return lines[0], lines[1:]


def remove_workdir(workdir: str | os.PathLike) -> bool:
    """Remove the files memlint recorded, the manifest and the folder; True when the folder is gone.

    A folder without a valid manifest is not touched. Recorded names that are now folders are
    left alone (memlint only records files).
    """
    path = Path(workdir)
    manifest = _read_manifest(path)
    if manifest is None:
        return False
    _, names = manifest
    for name in dict.fromkeys(names):
        if not name or "/" in name or name in (".", "..", MANIFEST):
            continue
        target = path / name
        try:
            if stat.S_ISDIR(target.lstat().st_mode):
                continue
            target.unlink()
        except FileNotFoundError:
            continue
        except OSError:
            continue
    try:
        (path / MANIFEST).unlink()
        path.rmdir()
    except OSError:
        return False
    return True


def discard_file(workdir: str | os.PathLike, name: str) -> bool:
    """Remove one file memlint recorded in the folder's manifest (before the folder goes); True if removed."""
    path = Path(workdir)
    manifest = _read_manifest(path)
    if manifest is None or name not in manifest[1] or "/" in name or name in (".", "..", MANIFEST):
        return False
    target = path / name
    try:
        if stat.S_ISDIR(target.lstat().st_mode):
            return False
        target.unlink()
    except OSError:
        return False
    return True


def _maker_alive(header: str) -> bool:
    fields = dict(part.split("=", 1) for part in header[len(HEADER) + 1:].split() if "=" in part)
    try:
        pid = int(fields.get("pid", ""))
    except ValueError:
        return False
    start = process_start_ticks(pid)
    return start is not None and start == fields.get("start")


def sweep_stale(temp_dir: str | os.PathLike | None = None) -> list[Path]:
    """Remove work folders left by memlint runs that were killed; returns the folders removed.

    Only folders named like ours, owned by this user, not symlinks, with a valid manifest whose
    maker process is gone.
    """
    base = Path(temp_dir or tempfile.gettempdir())
    removed = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(PREFIXES):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        manifest = _read_manifest(Path(entry.path))
        if manifest is None or _maker_alive(manifest[0]):
            continue
        if remove_workdir(entry.path):
            removed.append(Path(entry.path))
    return removed
