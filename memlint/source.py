"""Reading and writing source files so that bytes outside an edit survive.

The encoding comes from the BOM or the PEP 263 cookie; newlines are never translated
(CRLF stays CRLF, CR stays CR); what CPython refuses to read (NUL bytes, a second BOM) is
refused here too. Writes are atomic: a temporary file in the same directory, fsync, then
rename over the original with its mode, owner and group; a file with several hard links, or
whose owner memlint cannot give the new file, is rewritten in place instead. A temporary file
that a killed run left behind is removed by the next run (its name carries the writer's pid).

Rows are Python's own: lines end at LF, CRLF or a lone CR, never at a form feed or U+2028.
"""

from __future__ import annotations

import codecs
import difflib
import io
import os
import re
import stat
import tempfile
import time
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


class SourceError(Exception):
    """A file that cannot be read or written; the message is shown to the user as is."""


@dataclass(frozen=True)
class SourceFile:
    path: Path
    text: str
    encoding: str  # codec name; "utf-8-sig" means the file starts with a BOM
    raw: bytes

    def encode(self, text: str) -> bytes:
        return text.encode(self.encoding)


def decode_source(raw: bytes, path: Path) -> SourceFile:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    except SyntaxError as exc:
        if "unknown encoding" not in str(exc):
            raise SourceError(f"cannot decode: {exc}") from None
        # A cookie naming a codec that only exists at run time (`coding: future_fstrings`):
        # such files are UTF-8 in practice; read them so, or fail below.
        encoding = "utf-8"
    if raw.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
        where = f" at byte {exc.start}" if isinstance(exc, UnicodeDecodeError) else ""
        raise SourceError(f"cannot decode as {encoding}{where}: {reason}") from None
    _refuse_what_python_refuses(raw, text)
    return SourceFile(path=path, text=text, encoding=encoding, raw=raw)


def _refuse_what_python_refuses(raw: bytes, text: str) -> None:
    """CPython reads no source with a NUL byte or a second byte-order mark; neither does memlint."""
    if "\0" in text:
        sample = raw[:4096]
        if len(sample) >= 4 and (sample[1::2].count(0) > len(sample) // 4 or sample[0::2].count(0) > len(sample) // 4):
            raise SourceError(
                "looks like UTF-16 without a byte-order mark (NUL bytes between characters); "
                "Python reads source as UTF-8: save the file as UTF-8"
            )
        row = text.count("\n", 0, text.index("\0")) + 1
        raise SourceError(f"contains a NUL byte (row {row}); Python refuses source files with NUL bytes")
    if text.startswith("\ufeff"):
        raise SourceError("starts with two byte-order marks; Python refuses this file")


def read_source(path: Path) -> SourceFile:
    try:
        if path.is_symlink() and not path.exists():
            raise SourceError("broken symbolic link")
        if path.exists() and not path.is_file():
            raise SourceError("not a regular file")
        raw = path.read_bytes()
    except SourceError:
        raise
    except FileNotFoundError:
        raise SourceError("no such file") from None
    except IsADirectoryError:
        raise SourceError("is a directory") from None
    except PermissionError:
        raise SourceError("permission denied") from None
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    return decode_source(raw, path)


TEMP_SUFFIX = ".memlint-tmp"
# .train.py.<pid>.<random>.memlint-tmp; 0.1 wrote .train.py.<random>.memlint-tmp (no pid).
_TEMP_NAME = re.compile(r"\.(?P<name>.+?)\.(?:(?P<pid>\d+)\.)?[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX))
_PIDLESS_TEMP_AGE_S = 600  # a 0.1 temp file this old is no write in progress


class _KeepsIdentity(Exception):
    """The replacement file could not be given the original's owner and group."""


def atomic_write(source: SourceFile, new_text: str) -> None:
    """Replace ``source.path`` with ``new_text`` encoded as the original was.

    Refuses when the file changed since it was read or is not writable; the original is
    intact whenever this raises.
    """
    target = Path(os.path.realpath(source.path))
    try:
        current = target.read_bytes()
        st = target.stat()
    except OSError as exc:
        raise SourceError(f"cannot re-read before writing: {exc.strerror or exc}") from None
    if current != source.raw:
        raise SourceError("file changed while memlint was fixing it; left as it is")
    if not (st.st_mode & stat.S_IWUSR) or not os.access(target, os.W_OK):
        raise SourceError("file is read-only; fixes not written")
    data = source.encode(new_text)
    if st.st_nlink > 1:
        _write_in_place(target, data)  # renaming would split the hard links
        return
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, stat.S_IMODE(st.st_mode))
        _same_owner(tmp_name, st)
        os.replace(tmp_name, target)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)  # the temporary file this call created
        except OSError:
            pass
        if isinstance(exc, _KeepsIdentity):
            _write_in_place(target, data)
            return
        if isinstance(exc, OSError):
            raise SourceError(f"cannot write: {exc.strerror or exc}") from None
        raise
    _sync_directory(target.parent)


def _same_owner(path: str, st: os.stat_result) -> None:
    """Give a new file the original's owner and group (root fixing a user's file on a bind mount)."""
    new = os.stat(path)
    if (new.st_uid, new.st_gid) == (st.st_uid, st.st_gid):
        return
    try:
        os.chown(path, st.st_uid, st.st_gid)
    except OSError:
        raise _KeepsIdentity() from None


def _write_in_place(target: Path, data: bytes) -> None:
    """Overwrite the file itself: its inode, links, owner, group and mode stay."""
    try:
        with open(target, "r+b") as handle:
            handle.write(data)
            handle.truncate()
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise SourceError(f"cannot write: {exc.strerror or exc}") from None


def _sync_directory(directory: Path) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temp_files(directory: Path) -> list[Path]:
    """Remove the temporary files that killed ``--fix`` runs left in ``directory``; return them.

    Only regular files with memlint's temp-file name, next to the file they were written for,
    whose writer is gone (its pid is not running; a pid-less 0.1 name after ten minutes).
    """
    removed: list[Path] = []
    try:
        entries = [e for e in os.scandir(directory) if e.name.endswith(TEMP_SUFFIX)]
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None or not os.path.lexists(os.path.join(directory, match.group("name"))):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        pid = match.group("pid")
        if pid is not None:
            stale = int(pid) != os.getpid() and not _pid_alive(int(pid))
        else:
            stale = now - st.st_mtime > _PIDLESS_TEMP_AGE_S
        if stale:
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split where Python splits them: LF, CRLF or a lone CR."""
    return _LINE.findall(text)


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_EXACT_DIFF_LINES = 2000  # above this many changed lines per side, difflib may treat common lines as junk


def line_opcodes(old: Sequence[str], new: Sequence[str]) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes for two lists of lines, in time linear in the unchanged lines around a change.

    difflib compares every line with every equal line (``autojunk=False``): quadratic on a
    data file of repeated lines. A fix changes a few lines, so the common head and tail are
    matched first and only the middle goes to difflib.
    """
    head = 0
    limit = min(len(old), len(new))
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    opcodes: list[tuple[str, int, int, int, int]] = []
    if head:
        opcodes.append(("equal", 0, head, 0, head))
    middle_old, middle_new = old[head : len(old) - tail], new[head : len(new) - tail]
    if middle_old or middle_new:
        exact = max(len(middle_old), len(middle_new)) <= _EXACT_DIFF_LINES
        matcher = difflib.SequenceMatcher(a=middle_old, b=middle_new, autojunk=not exact)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            opcodes.append((tag, i1 + head, i2 + head, j1 + head, j2 + head))
    if tail:
        opcodes.append(("equal", len(old) - tail, len(old), len(new) - tail, len(new)))
    return opcodes
