"""Starting a measured child process whose life is tied to memlint's, and reading what it left.

- The child runs in its own session, so a timeout or an interrupt kills its whole process group
  (the script's own children, DataLoader workers, shells).
- It also holds the read end of a pipe whose write end only memlint holds. When memlint dies in
  any way, SIGKILL included, the pipe reads end-of-file and the child's watchdog thread kills the
  group (see ``memlint.measure.entry``).
- stdout and stderr go to files in memlint's work folder; memlint then streams them: a hash, a
  size and a bounded tail, never the whole output in memory.
- While it waits, memlint samples the child's RSS and the PSS/USS of its descendants (DataLoader
  workers) from /proc.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from memlint.measure.workdir import record_file

ENV_WATCHDOG_FD = "MEMLINT_WATCHDOG_FD"
TAIL_BYTES = 64 * 1024
CHUNK = 1 << 20
SAMPLE_INTERVAL_S = 0.02
ENTRY = Path(__file__).with_name("entry.py")


@dataclass
class CapturedOutput:
    """One output stream of a run: on disk while memlint needs it, summarised in memory."""

    path: Path
    size: int = 0
    sha256: str = ""
    tail: str = ""

    @classmethod
    def read(cls, path: Path) -> "CapturedOutput":
        digest = hashlib.sha256()
        size = 0
        tail = b""
        try:
            with open(path, "rb") as stream:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    tail = (tail + chunk)[-TAIL_BYTES:]
        except OSError:
            pass
        return cls(path, size, digest.hexdigest(), tail.decode("utf-8", "replace"))

    def text_chunks(self) -> Iterator[str]:
        """The whole output, decoded, in chunks (for a streaming comparison)."""
        try:
            with open(self.path, "r", encoding="utf-8", errors="replace", newline="") as stream:
                while chunk := stream.read(CHUNK):
                    yield chunk
        except OSError:
            return


@dataclass
class ChildRun:
    exit_code: int | None
    timed_out: bool
    wall_s: float
    stdout: CapturedOutput
    stderr: CapturedOutput
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds, RSS MB of the child)
    children_pss_peak_mb: float | None = None  # descendants (DataLoader workers), summed per sample
    children_uss_peak_mb: float | None = None


def proc_status_kb(field_name: str, pid: int | str = "self") -> int | None:
    """A ``kB`` field such as ``VmHWM`` or ``VmRSS`` from ``/proc/<pid>/status``."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children of all its threads, recursively)."""
    found: list[int] = []
    queue = [pid]
    while queue:
        current = queue.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as children:
                    kids = [int(k) for k in children.read().split()]
            except (OSError, ValueError):
                continue
            for kid in kids:
                if kid not in found:
                    found.append(kid)
                    queue.append(kid)
    return found


def pss_uss_kb(pid: int) -> tuple[int, int] | None:
    """Proportional and unique set size of a process, from smaps_rollup."""
    pss = uss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                key, _, rest = line.partition(":")
                if key == "Pss":
                    pss = int(rest.split()[0])
                elif key in ("Private_Clean", "Private_Dirty"):
                    uss += int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pss, uss


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _exited(pid: int) -> bool:
    """Has the child exited? Leaves it unreaped so its process group id stays valid."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None and info.si_pid == pid


def run_child(
    python: str,
    role: str,
    cwd: Path,
    env: dict[str, str],
    workdir: Path,
    tag: str,
    timeout: float | None,
    sample_memory: bool = True,
) -> ChildRun:
    """Run ``python entry.py ROLE`` to completion (or timeout); never raises for a failing child."""
    out_path = Path(record_file(workdir, f"{tag}.out"))
    err_path = Path(record_file(workdir, f"{tag}.err"))
    samples: list[tuple[float, float]] = []
    pss_peak = uss_peak = None
    timed_out = False
    read_end, write_end = os.pipe()
    env = dict(env, **{ENV_WATCHDOG_FD: str(read_end)})
    try:
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            start = time.monotonic()
            proc = subprocess.Popen(
                [python, str(ENTRY), role],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                pass_fds=(read_end,),
            )
            os.close(read_end)
            read_end = -1
            try:
                while not _exited(proc.pid):
                    now = time.monotonic() - start
                    if sample_memory:
                        rss = proc_status_kb("VmRSS", proc.pid)
                        if rss is not None:
                            samples.append((now, rss / 1024))
                        kids = descendants(proc.pid)
                        if kids:
                            sizes = [s for s in map(pss_uss_kb, kids) if s is not None]
                            pss = sum(s[0] for s in sizes) / 1024
                            uss = sum(s[1] for s in sizes) / 1024
                            pss_peak = max(pss_peak or 0.0, pss)
                            uss_peak = max(uss_peak or 0.0, uss)
                    if timeout is not None and now > timeout:
                        timed_out = True
                        break
                    time.sleep(SAMPLE_INTERVAL_S)
            finally:
                kill_group(proc.pid)  # the whole group: the script's own children go with it
                proc.wait()
            wall = time.monotonic() - start
    finally:
        if read_end >= 0:
            os.close(read_end)
        os.close(write_end)
    return ChildRun(
        exit_code=None if timed_out else proc.returncode,
        timed_out=timed_out,
        wall_s=wall,
        stdout=CapturedOutput.read(out_path),
        stderr=CapturedOutput.read(err_path),
        samples=samples,
        children_pss_peak_mb=pss_peak,
        children_uss_peak_mb=uss_peak,
    )


@contextmanager
def interrupts_unwind() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so the child's group is killed and work folders removed."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous: list[tuple[int, Any]] = []
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            previous.append((signum, signal.signal(signum, handler)))
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, old in previous:
            signal.signal(signum, old)


def python_for_scripts(explicit: str | None) -> tuple[str, str]:
    """(interpreter, why): ``--python``, else the active virtualenv's or conda env's, else memlint's own."""
    if explicit:
        return explicit, "--python"
    for variable, label in (("VIRTUAL_ENV", "the active virtualenv"), ("CONDA_PREFIX", "the active conda env")):
        prefix = os.environ.get(variable)
        if not prefix:
            continue
        for candidate in (Path(prefix) / "bin" / "python", Path(prefix) / "Scripts" / "python.exe"):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate), f"{label} ({variable})"
    return sys.executable, "memlint's own interpreter"


def check_python(python: str) -> str | None:
    """None when ``python`` runs; otherwise one line saying why not."""
    path = Path(python)
    if not path.exists():
        return f"--python {python}: no such file"
    if path.is_dir() or not os.access(path, os.X_OK):
        return f"--python {python}: not an executable file"
    try:
        proc = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info >= (3, 8))"],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"--python {python}: cannot run it ({type(exc).__name__})"
    if proc.returncode != 0 or proc.stdout.strip() != "True":
        return f"--python {python}: not a Python 3.8+ interpreter"
    return None


class ScriptInputError(Exception):
    """The script or the interpreter cannot be used; one line for the user."""


def read_script(script: Path, command: str) -> Any:
    """The script's source (``memlint.source.Source``), or ScriptInputError."""
    from memlint.source import SourceError, read_source

    if script.suffix == ".ipynb":
        raise ScriptInputError(f"{script}: {command} runs Python scripts; export the notebook to a .py file first")
    try:
        return read_source(script)
    except SourceError as exc:
        raise ScriptInputError(f"{script}: {exc}") from None


def choose_python(explicit: str | None) -> tuple[str, str]:
    """``python_for_scripts``, checked to run; ScriptInputError when it does not."""
    python, why = python_for_scripts(explicit)
    problem = check_python(python)
    if problem:
        raise ScriptInputError(problem)
    return python, why
