"""Reading and writing source files so that bytes outside an edit survive.

The encoding comes from the BOM or the PEP 263 cookie; newlines are never translated
(CRLF stays CRLF); writes are atomic: a temporary file in the same directory, fsync,
then rename over the original with its permissions.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path


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
    return SourceFile(path=path, text=text, encoding=encoding, raw=raw)


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
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".memlint-tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, stat.S_IMODE(st.st_mode))
        os.replace(tmp_name, target)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise SourceError(f"cannot write: {exc.strerror or exc}") from None
        raise
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
