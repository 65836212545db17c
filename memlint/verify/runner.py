"""Runs the original and the fixed source in fresh processes, interleaved, and collects measurements.

Each run is ``python entry.py probe`` (``memlint.verify.probe``) started through
``memlint.measure.child``: its own process group, tied to memlint's life, the same cwd, argv
and a pinned environment, stdout and stderr streamed to files. Each run's stdout is compared
with the reference run's as soon as it finishes (streaming, numbers within a tolerance), then
its file is dropped, so neither memory nor the disk holds more than two outputs at a time.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from memlint.measure.child import CapturedOutput, run_child
from memlint.measure.workdir import discard_file, make_workdir, record_file, remove_workdir, sweep_stale
from memlint.verify import probe
from memlint.verify.compare import first_difference_in_chunks

# Pinned for both versions. MALLOC_MMAP_THRESHOLD_ makes glibc return large blocks to the
# system at once: measured run-to-run noise went from up to 45 MB to under 0.1 MB.
PINNED_ENV = {"OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536", "PYTHONHASHSEED": "0"}
VERSIONS = ("before", "after")
MB = 2**20


@dataclass
class RunResult:
    version: str  # "before" (the original), "after" (the fixed copy), or "fix N" (only finding N's fix)
    exit_code: int | None
    timed_out: bool
    stdout: CapturedOutput
    stderr: CapturedOutput
    wall_s: float
    peak_mb: float | None = None  # high-water RSS above the post-import floor
    process_peak_mb: float | None = None  # whole-process high-water RSS
    floor_mb: float | None = None
    tensor_peak_mb: float | None = None  # live tensor bytes (all devices), the tracker's peak
    cuda_peak_mb: float | None = None  # torch.cuda.max_memory_allocated, if the script used CUDA
    cuda_reserved_mb: float | None = None
    children_pss_peak_mb: float | None = None  # DataLoader workers and other descendants
    children_uss_peak_mb: float | None = None
    iterations: dict[str, list[list[float]]] | None = None  # kind -> [index, live bytes, CUDA bytes, RSS kB]
    stopped_after: int | None = None
    reset_ok: bool = True
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds, whole-process RSS MB)
    compare_bytes: bytes | None = None  # the --compare-file as this run wrote it; None: not written
    output_difference: str | None = None  # against the reference run (the first original run)

    @property
    def stderr_text(self) -> str:
        return self.stderr.tail

    def summary(self) -> dict:
        return {
            "tensor_peak_mb": _round(self.tensor_peak_mb),
            "peak_mb": _round(self.peak_mb),
            "process_peak_mb": _round(self.process_peak_mb),
            "cuda_peak_mb": _round(self.cuda_peak_mb),
            "cuda_reserved_mb": _round(self.cuda_reserved_mb),
            "workers_pss_peak_mb": _round(self.children_pss_peak_mb),
            "workers_uss_peak_mb": _round(self.children_uss_peak_mb),
            "wall_s": _round(self.wall_s, 3),
            "exit_code": self.exit_code,
            "stdout_bytes": self.stdout.size,
            "stdout_sha256": self.stdout.sha256,
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
    python: str | None = None  # the interpreter that runs the script (default: memlint's)
    iterations: int | None = None  # stop each run after this many iterations
    tensors: bool = True  # count live tensor bytes (needs torch in the script)
    single_fixes: Sequence[bytes] = ()  # sources with one finding's fix each, run once after the pairs


def run_probe(
    version: str,
    code_path: Path,
    plan: Plan,
    env: dict[str, str],
    preload: Sequence[str],
    workdir: Path,
    tag: str,
) -> RunResult:
    """One run of one version in a fresh process; never raises for a failing script."""
    import sys

    result_path = workdir / f"{tag}.json"
    record_file(workdir, result_path.name)
    env = dict(env)
    env.update(
        {
            probe.ENV_CODE: str(code_path),
            probe.ENV_SCRIPT: str(plan.script),
            probe.ENV_ARGS: json.dumps(list(plan.script_args)),
            probe.ENV_PRELOAD: ",".join(preload),
            probe.ENV_RESULT: str(result_path),
            probe.ENV_TENSORS: "1" if plan.tensors else "0",
            probe.ENV_ITERATIONS: str(plan.iterations or ""),
        }
    )
    child = run_child(plan.python or sys.executable, "probe", plan.cwd, env, workdir, tag, plan.timeout)
    run = RunResult(
        version=version,
        exit_code=child.exit_code,
        timed_out=child.timed_out,
        stdout=child.stdout,
        stderr=child.stderr,
        wall_s=child.wall_s,
        samples=child.samples,
        children_pss_peak_mb=child.children_pss_peak_mb,
        children_uss_peak_mb=child.children_uss_peak_mb,
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
    run.wall_s = float(measured.get("wall_s", child.wall_s))
    if measured.get("cuda_allocated") is not None:
        run.cuda_peak_mb = measured["cuda_allocated"] / MB
        run.cuda_reserved_mb = measured["cuda_reserved"] / MB
    if measured.get("tensor_peak") is not None:
        run.tensor_peak_mb = measured["tensor_peak"] / MB
    run.iterations = measured.get("iterations")
    run.stopped_after = measured.get("stopped_after_iterations")
    return run


@contextmanager
def measured_runs(
    plan: Plan, on_run: Callable[[int, int, str], None] | None = None
) -> Iterator[dict[str, list[RunResult]]]:
    """Runs before, after, before, after, ..., then each single fix once; yields the runs.

    Stops at the first run that fails or times out. Temporary files (the sources, outputs,
    measurements) live in one private work folder that is removed when the block ends; work
    folders left by killed runs are swept first.
    """
    sweep_stale()
    env = run_environment(plan.env, plan.libraries)
    preload = preload_modules(plan.libraries)
    runs: dict[str, list[RunResult]] = {v: [] for v in VERSIONS}
    runs["single"] = []
    workdir = make_workdir("verify")
    try:
        sources = {"before": Path(record_file(workdir, "original.py")), "after": Path(record_file(workdir, "fixed.py"))}
        sources["before"].write_bytes(plan.original_source)
        sources["after"].write_bytes(plan.fixed_source)
        schedule = [(version, round_no) for round_no in range(plan.repeat) for version in VERSIONS]
        for index, source in enumerate(plan.single_fixes, 1):
            path = Path(record_file(workdir, f"fix-{index}.py"))
            path.write_bytes(source)
            sources[f"fix {index}"] = path
            schedule.append((f"fix {index}", 0))
        reference: RunResult | None = None
        compare_path = _resolve(plan.compare_file, plan.cwd)
        for index, (version, round_no) in enumerate(schedule, 1):
            if on_run is not None:
                on_run(index, len(schedule), version)
            stamp = _stamp(compare_path)
            tag = f"{version.replace(' ', '-')}-{round_no}"
            run = run_probe(version, sources[version], plan, env, preload, workdir, tag)
            if compare_path is not None:
                run.compare_bytes = _written(compare_path, stamp)
            if reference is None:
                reference = run
            else:
                run.output_difference = first_difference_in_chunks(
                    reference.stdout.text_chunks(), run.stdout.text_chunks()
                ) if run.stdout.sha256 != reference.stdout.sha256 else None
                discard_file(workdir, run.stdout.path.name)
            discard_file(workdir, run.stderr.path.name)
            runs["single" if version.startswith("fix ") else version].append(run)
            if run.timed_out or (run.exit_code != 0 and not version.startswith("fix ")):
                break
        yield runs
    finally:
        remove_workdir(workdir)


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
