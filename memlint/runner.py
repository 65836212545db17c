"""A whole run: find the files, check each one, gather findings, problems and fixes in order.

This process reads every file once: a file that imports none of the libraries the enabled
rules are about is done there (no parse, no worker, no cache entry). Lint results come from
the cache when the file, the settings and memlint are unchanged. The rest are checked in this
process or spread over a process pool sized from the work (bytes to parse) and the cores.
Outcomes are merged in discovery order, so output never depends on timing. Temporary files
that a killed ``--fix`` left next to the files of this run are removed.
"""

from __future__ import annotations

import os
import stat
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from memlint.cache import Cache, content_hash
from memlint.checker import FileOutcome, FixMode, Problem, check_file, needs_analysis
from memlint.config import ConfigResolver
from memlint.files import PathProblem, Target, discover
from memlint.findings import Finding
from memlint.source import SourceError, decode_source, remove_stale_temp_files


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
    _remove_stale_temp_files(targets, result)
    cache = _open_cache(targets, mode, use_cache, cache_dir)
    if cache is not None and cache.refusal:
        result.notes.append(cache.refusal)
    projects = _projects(targets, cache)
    for outcome in _check_all(targets, mode, with_edits, cache, jobs, projects):
        _merge(result, outcome)
    result.files_checked = len(targets)
    result.findings.sort(key=lambda f: f.sort_key)
    result.problems.sort(key=lambda p: (p.filename, p.row or 0))
    return result


# About a second of libcst work per worker on a slow core: below that, a worker costs more than it saves.
WORK_BYTES_PER_WORKER = 60_000


def _remove_stale_temp_files(targets: list[Target], result: RunResult) -> None:
    directories = dict.fromkeys(target.path.parent for target in targets)
    removed = [path for directory in directories for path in remove_stale_temp_files(directory)]
    if removed:
        result.notes.append(
            f"removed {len(removed)} temporary file{'s' if len(removed) != 1 else ''} that an interrupted "
            f"--fix left behind (e.g. {removed[0]})"
        )


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


def _projects(targets: list[Target], cache: Cache | None) -> dict:
    """Each checked file's project (the cross-file index) and the digest of what it depends on."""
    from memlint.analysis.project import prepare

    limit = int(targets[0].settings.max_file_size_mb * 1_000_000) if targets else None
    try:
        return prepare([t.path for t in targets], cache, limit)
    except RecursionError:
        return {}


def _read_regular(path: Path) -> bytes | None:
    """The file's bytes, or None for anything but a readable regular file."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None  # a FIFO or a device: never read it here
        with open(fd, "rb", closefd=False) as handle:
            return handle.read()
    except OSError:
        return None
    finally:
        os.close(fd)


def _nothing_to_check(target: Target, raw: bytes, project: Any = None) -> bool:
    """True when the file imports no library of an enabled rule (the engine would not parse it).

    Files that are too big, cannot be decoded or are notebooks go to ``check_file``, which
    reports them or looks inside.
    """
    if target.path.suffix == ".ipynb" or len(raw) > target.settings.max_file_size_mb * 1_000_000:
        return False
    from memlint.rules import rule_catalog  # metadata only: a cached run imports no rule

    catalog = rule_catalog()
    rules = [catalog[code] for code in sorted(target.settings.codes_for(target.path))]
    if not rules:
        return True
    try:
        text = decode_source(raw, target.path).text
    except SourceError:
        return False
    also = project.caller_libraries(str(target.path)) if project is not None else frozenset()
    return not needs_analysis(text, rules, also)


def _cacheable(outcome: FileOutcome) -> bool:
    """Results that follow from the content alone; a permission problem may be gone next run."""
    return all(p.message.startswith(("cannot parse", "cannot decode")) for p in outcome.problems)


def _check_all(
    targets: list[Target],
    mode: FixMode,
    with_edits: bool,
    cache: Cache | None = None,
    jobs: int | None = None,
    projects: dict | None = None,
) -> list[FileOutcome]:
    """``projects``: path -> (its Project, the digest of what the file's findings depend on)."""
    projects = projects or {}
    outcomes: list[FileOutcome | None] = [None] * len(targets)
    keys: list[str | None] = [None] * len(targets)
    todo: list[int] = []
    work = 0  # bytes the engine will parse
    fingerprints: dict[int, str] = {}  # by id(settings): many files share one Settings object
    for index, target in enumerate(targets):
        raw = _read_regular(target.path)
        project, depends = projects.get(str(target.path), (None, ""))
        # The cache first: its key and digest cover all the pre-filter reads (the text, the
        # settings, the libraries the project counts for the file), so a hit skips it.
        if cache is not None and cache.enabled and raw is not None:
            fingerprint = fingerprints.get(id(target.settings))
            if fingerprint is None:
                fingerprint = fingerprints[id(target.settings)] = target.settings.fingerprint()
            variant = f"{target.path}\0{mode.diff}:{mode.unsafe}:{with_edits}"
            keys[index] = cache.key(target.path, fingerprint, variant)
            hit = cache.get(keys[index], content_hash(raw) + depends)
            if isinstance(hit, FileOutcome):
                outcomes[index] = hit
                continue
        if raw is not None and _nothing_to_check(target, raw, project):
            outcomes[index] = FileOutcome(str(target.path))  # no cache entry: the pre-filter is cheap
            continue
        todo.append(index)
        work += len(raw) if raw is not None else 0
    workers = _worker_count(jobs, len(todo), work)
    global _PROJECTS
    _PROJECTS = projects  # forked workers inherit it
    if workers > 1:
        fresh = _check_in_pool([targets[i] for i in todo], mode, with_edits, workers)
    else:
        fresh = [_check_one((targets[i], mode, with_edits)) for i in todo]
    for index, outcome in zip(todo, fresh):
        outcomes[index] = outcome
        key = keys[index]
        # Stored under the digest of the bytes check_file analysed: a file edited during the run
        # is never served for content it was not checked with.
        if cache is not None and key is not None and outcome.digest is not None and _cacheable(outcome):
            depends = projects.get(str(targets[index].path), (None, ""))[1]
            cache.put(key, outcome.digest + depends, outcome)
    return outcomes  # type: ignore[return-value]


def _worker_count(jobs: int | None, files: int, work_bytes: int) -> int:
    """Workers for ``files`` files holding ``work_bytes`` to parse: never more than the cores this
    process may use, and only as many as the work keeps busy ($MEMLINT_JOBS or ``jobs`` decide
    outright)."""
    if jobs is None:
        env = os.environ.get("MEMLINT_JOBS", "")
        jobs = int(env) if env.isdigit() and int(env) > 0 else None
    if jobs is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = os.cpu_count() or 1
        jobs = min(cores, work_bytes // WORK_BYTES_PER_WORKER)
    return max(1, min(jobs, files))


def _quiet_worker() -> None:
    """Workers never print (the parent alone writes output, in order) and never outlive the parent."""
    import threading
    import time

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


_PROJECTS: dict = {}


def _check_one(args: tuple[Target, FixMode, bool]) -> FileOutcome:
    target, mode, with_edits = args
    project = _PROJECTS.get(str(target.path), (None, ""))[0]
    outcome = check_file(target.path, target.settings, mode, with_edits, project)
    if project is not None:
        project.forget_analyses()  # memory stays bounded over a run of thousands of files
    return outcome


def _check_in_pool(targets: list[Target], mode: FixMode, with_edits: bool, workers: int) -> list[FileOutcome]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    import memlint.engine  # noqa: F401  (loaded once here, so forked workers start with it)
    from memlint.rules import all_rules

    all_rules()
    # fork: the workers start with memlint, libcst and the rules already imported.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    context = multiprocessing.get_context(method)
    chunksize = max(1, min(32, len(targets) // (workers * 8)))
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
