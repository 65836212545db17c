"""A whole run: find the files, check each one, gather findings, problems and fixes in order.

Lint results come from the cache when the file, the settings and memlint are unchanged;
the rest are checked in this process or, for more than ``POOL_THRESHOLD`` files, spread over
a process pool. Outcomes are merged in discovery order, so output never depends on timing.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from memlint.cache import Cache, content_hash
from memlint.checker import FileOutcome, FixMode, Problem, check_file
from memlint.config import ConfigResolver
from memlint.engine import Finding
from memlint.files import PathProblem, Target, discover


@dataclass
class RunResult:
    findings: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fixed: dict[str, Counter] = field(default_factory=dict)
    diffs: list[str] = field(default_factory=list)
    files_checked: int = 0


def run_paths(
    paths: Sequence[Path],
    resolver: ConfigResolver,
    mode: FixMode = FixMode(),
    with_edits: bool = False,
    force_exclude: bool = False,
    use_cache: bool = True,
    cache_dir: Path | None = None,
    jobs: int | None = None,
) -> RunResult:
    """Check ``paths``. ``jobs``: worker processes (None: all cores, or $MEMLINT_JOBS; 1: no pool)."""
    result = RunResult()
    targets: list[Target] = []
    for item in discover(list(paths), resolver, force_exclude=force_exclude):
        if isinstance(item, PathProblem):
            if item.message.startswith("note:"):
                result.notes.append(f"{item.path}: {item.message[len('note: '):]}")
            else:
                result.problems.append(Problem(item.path, item.message))
            continue
        targets.append(item)
    cache = _open_cache(targets, mode, use_cache, cache_dir)
    if cache is not None and cache.refusal:
        result.notes.append(cache.refusal)
    for outcome in _check_all(targets, mode, with_edits, cache, jobs):
        _merge(result, outcome)
    result.files_checked = len(targets)
    result.findings.sort(key=lambda f: f.sort_key)
    result.problems.sort(key=lambda p: (p.filename, p.row or 0))
    return result


POOL_THRESHOLD = 16  # below this many files to check, starting workers costs more than it saves


def _open_cache(targets: list[Target], mode: FixMode, use_cache: bool, cache_dir: Path | None) -> Cache | None:
    """Only lint runs are cached: a --fix run writes files, and its result is the written file."""
    if not use_cache or mode.fix or not targets:
        return None
    if cache_dir is None:
        configured = targets[0].settings.cache_dir
        if configured is not None:
            root = targets[0].settings.root
            cache_dir = Path(configured) if root is None else root / configured
    return Cache(cache_dir)


def _cache_key(
    cache: Cache, target: Target, fingerprint: str, mode: FixMode, with_edits: bool
) -> tuple[str, str] | None:
    """(entry key, content hash) for a regular file, or None when it cannot be cached."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        fd = os.open(target.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None  # a FIFO or a device: never read it here
        with open(fd, "rb", closefd=False) as handle:
            raw = handle.read()
    except OSError:
        return None
    finally:
        os.close(fd)
    variant = f"{target.path}\0{mode.diff}:{mode.unsafe}:{with_edits}"
    return cache.key(target.path, fingerprint, variant), content_hash(raw)


def _cacheable(outcome: FileOutcome) -> bool:
    """Results that follow from the content alone; a permission problem may be gone next run."""
    return all(p.message.startswith(("cannot parse", "cannot decode")) for p in outcome.problems)


def _check_all(
    targets: list[Target],
    mode: FixMode,
    with_edits: bool,
    cache: Cache | None = None,
    jobs: int | None = None,
) -> list[FileOutcome]:
    outcomes: list[FileOutcome | None] = [None] * len(targets)
    keys: list[tuple[str, str] | None] = [None] * len(targets)
    todo: list[int] = []
    fingerprints: dict[int, str] = {}  # by id(settings): many files share one Settings object
    for index, target in enumerate(targets):
        if cache is not None and cache.enabled:
            fingerprint = fingerprints.get(id(target.settings))
            if fingerprint is None:
                fingerprint = fingerprints[id(target.settings)] = target.settings.fingerprint()
            key = _cache_key(cache, target, fingerprint, mode, with_edits)
            keys[index] = key
            if key is not None:
                hit = cache.get(*key)
                if isinstance(hit, FileOutcome):
                    outcomes[index] = hit
                    continue
        todo.append(index)
    workers = _worker_count(jobs, len(todo))
    if workers > 1:
        fresh = _check_in_pool([targets[i] for i in todo], mode, with_edits, workers)
    else:
        fresh = [check_file(targets[i].path, targets[i].settings, mode, with_edits) for i in todo]
    for index, outcome in zip(todo, fresh):
        outcomes[index] = outcome
        key = keys[index]
        if cache is not None and key is not None and _cacheable(outcome):
            cache.put(key[0], key[1], outcome)
    return outcomes  # type: ignore[return-value]


def _worker_count(jobs: int | None, files: int) -> int:
    if jobs is None:
        env = os.environ.get("MEMLINT_JOBS", "")
        jobs = int(env) if env.isdigit() and int(env) > 0 else None
    if jobs is None:
        if files <= POOL_THRESHOLD:
            return 1
        try:
            jobs = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            jobs = os.cpu_count() or 1
    return max(1, min(jobs, files))


def _quiet_worker() -> None:
    """Workers never print (the parent alone writes output, in order) and never outlive the parent."""
    devnull = open(os.devnull, "w")
    sys.stdout = devnull
    sys.stderr = devnull
    parent = os.getppid()

    def exit_with_parent() -> None:
        # A forked worker shares the parent's pipes, so it would wait forever for work from a
        # parent that was killed (a timeout, Ctrl-C in a pre-commit hook); leave instead.
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=exit_with_parent, daemon=True).start()


def _check_one(args: tuple[Target, FixMode, bool]) -> FileOutcome:
    target, mode, with_edits = args
    return check_file(target.path, target.settings, mode, with_edits)


def _check_in_pool(targets: list[Target], mode: FixMode, with_edits: bool, workers: int) -> list[FileOutcome]:
    import multiprocessing

    # fork: the workers start with memlint, libcst and the rules already imported.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    context = multiprocessing.get_context(method)
    chunksize = max(1, min(8, len(targets) // (workers * 8)))
    jobs = [(t, mode, with_edits) for t in targets]
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_quiet_worker) as pool:
            return list(pool.map(_check_one, jobs, chunksize=chunksize))
    except (BrokenProcessPool, OSError):
        # No processes to be had (a sandbox, a worker killed for memory): finish in this process.
        # A --fix run is safe to repeat: each write re-reads the file and refuses if it changed.
        return [_check_one(job) for job in jobs]


def _merge(result: RunResult, outcome: FileOutcome) -> None:
    result.findings.extend(outcome.findings)
    result.notes.extend(outcome.notes)
    result.problems.extend(outcome.problems)
    if outcome.fixed:
        result.fixed[outcome.filename] = outcome.fixed
    if outcome.diff:
        result.diffs.append(outcome.diff)
