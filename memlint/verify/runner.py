"""Runs the original and the fixed source in fresh processes, interleaved, and collects measurements.

Each run is ``python probe.py`` in its own process group (so a timeout kills the script's
children too) with the same cwd, argv and a pinned environment; the parent polls
``/proc/<pid>/status`` for a memory-over-time trace while it waits.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from memlint.verify import probe

# Pinned for both versions. MALLOC_MMAP_THRESHOLD_ makes glibc return large blocks to the
# system at once: measured run-to-run noise went from up to 45 MB to under 0.1 MB.
PINNED_ENV = {"OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536", "PYTHONHASHSEED": "0"}
SAMPLE_INTERVAL_S = 0.02
VERSIONS = ("before", "after")


class VerifyError(Exception):
    """Verification could not be done (the script failed, timed out, nothing to fix); exit 2."""


@dataclass
class RunResult:
    version: str  # "before" (the original) or "after" (the fixed copy)
    exit_code: int | None
    timed_out: bool
    stdout: str
    stderr: str
    wall_s: float
    peak_mb: float | None = None  # high-water RSS above the post-import floor
    process_peak_mb: float | None = None  # whole-process high-water RSS
    floor_mb: float | None = None
    cuda_peak_mb: float | None = None  # torch.cuda.max_memory_allocated, if the script used CUDA
    cuda_reserved_mb: float | None = None
    reset_ok: bool = True
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds, whole-process RSS MB)
    compare_bytes: bytes | None = None  # the --compare-file as this run wrote it; None: not written

    def summary(self) -> dict:
        return {
            "peak_mb": _round(self.peak_mb),
            "process_peak_mb": _round(self.process_peak_mb),
            "cuda_peak_mb": _round(self.cuda_peak_mb),
            "cuda_reserved_mb": _round(self.cuda_reserved_mb),
            "wall_s": _round(self.wall_s, 3),
            "exit_code": self.exit_code,
        }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def run_environment(base: dict[str, str] | None, libraries: frozenset[str]) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(PINNED_ENV)
    if "keras" in libraries:
        env.setdefault("KERAS_BACKEND", "torch")
    return env


def preload_modules(libraries: frozenset[str]) -> list[str]:
    """Imported before the floor is taken, so their import cost is not counted as the script's.

    ``import torch`` alone is ~270 MB of RSS; a script that imports none of these gets no preload.
    """
    modules = []
    if libraries & {"torch", "keras", "lightning", "pytorch_lightning"}:
        modules.append("torch")
    for name in ("keras", "tensorflow", "numpy"):
        if name in libraries:
            modules.append(name)
    return modules


def _kill_group(pgid: int) -> None:
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


def run_probe(
    version: str,
    code_path: Path,
    script: Path,
    script_args: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    preload: Sequence[str],
    workdir: Path,
    timeout: float | None,
    tag: str,
) -> RunResult:
    """One run of one version in a fresh process; never raises for a failing script."""
    result_path = workdir / f"{tag}.json"
    out_path, err_path = workdir / f"{tag}.out", workdir / f"{tag}.err"
    env = dict(env)
    env.update(
        {
            probe.ENV_CODE: str(code_path),
            probe.ENV_SCRIPT: str(script),
            probe.ENV_ARGS: json.dumps(list(script_args)),
            probe.ENV_PRELOAD: ",".join(preload),
            probe.ENV_RESULT: str(result_path),
        }
    )
    samples: list[tuple[float, float]] = []
    timed_out = False
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, probe.__file__],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            pid = str(proc.pid)
            while not _exited(proc.pid):
                rss = probe.proc_status_kb("VmRSS", pid)
                if rss is not None:
                    samples.append((time.monotonic() - start, rss / 1024))
                if timeout is not None and time.monotonic() - start > timeout:
                    timed_out = True
                    break
                time.sleep(SAMPLE_INTERVAL_S)
        finally:
            # The whole group: the script's own children (workers, shells) go with it.
            _kill_group(proc.pid)
            proc.wait()
        wall = time.monotonic() - start
    run = RunResult(
        version=version,
        exit_code=None if timed_out else proc.returncode,
        timed_out=timed_out,
        stdout=out_path.read_bytes().decode("utf-8", "replace"),
        stderr=err_path.read_bytes().decode("utf-8", "replace"),
        wall_s=wall,
        samples=samples,
    )
    try:
        measured = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return run  # killed before the probe could write (timeout, OOM kill)
    floor, hwm, preload_hwm = measured.get("floor_kb"), measured.get("hwm_kb"), measured.get("preload_hwm_kb")
    if hwm is not None and floor is not None:
        run.peak_mb = max(0, hwm - floor) / 1024
        run.floor_mb = floor / 1024
        run.process_peak_mb = max(hwm, preload_hwm or 0) / 1024
    run.reset_ok = bool(measured.get("reset_ok"))
    run.wall_s = float(measured.get("wall_s", wall))
    if measured.get("cuda_allocated") is not None:
        run.cuda_peak_mb = measured["cuda_allocated"] / 2**20
        run.cuda_reserved_mb = measured["cuda_reserved"] / 2**20
    return run


@dataclass
class Plan:
    """What to run: the original script (for paths), both sources, and how."""

    script: Path
    original_source: bytes
    fixed_source: bytes
    script_args: Sequence[str] = ()
    cwd: Path = field(default_factory=Path.cwd)
    repeat: int = 2
    timeout: float | None = None
    compare_file: Path | None = None
    libraries: frozenset[str] = frozenset({"torch"})
    env: dict[str, str] | None = None


def run_plan(plan: Plan, on_run: Callable[[int, int, str], None] | None = None) -> dict[str, list[RunResult]]:
    """Runs before, after, before, after, ...; stops at the first run that fails or times out.

    Temporary files (both sources, outputs, measurements) live in one private directory that is
    removed before this returns.
    """
    script = plan.script  # as given: the probe makes argv[0], __file__ and sys.path[0] from it
    env = run_environment(plan.env, plan.libraries)
    preload = preload_modules(plan.libraries)
    runs: dict[str, list[RunResult]] = {v: [] for v in VERSIONS}
    workdir = Path(tempfile.mkdtemp(prefix="memlint-verify-"))
    try:
        sources = {"before": workdir / "original.py", "after": workdir / "fixed.py"}
        sources["before"].write_bytes(plan.original_source)
        sources["after"].write_bytes(plan.fixed_source)
        total = plan.repeat * len(VERSIONS)
        index = 0
        for round_no in range(plan.repeat):
            for version in VERSIONS:
                index += 1
                if on_run is not None:
                    on_run(index, total, version)
                compare_path = _resolve(plan.compare_file, plan.cwd)
                stamp = _stamp(compare_path)
                run = run_probe(
                    version, sources[version], script, plan.script_args, plan.cwd, env, preload,
                    workdir, plan.timeout, f"{version}-{round_no}",
                )
                if compare_path is not None:
                    run.compare_bytes = _written(compare_path, stamp)
                runs[version].append(run)
                if run.timed_out or run.exit_code != 0:
                    return runs
        return runs
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _resolve(path: Path | None, cwd: Path) -> Path | None:
    if path is None:
        return None
    return path if path.is_absolute() else cwd / path


def _stamp(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _written(path: Path, before: tuple[int, int] | None) -> bytes | None:
    """The compare file's contents after a run, or None when the run did not write it."""
    after = _stamp(path)
    if after is None or after == before:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None
