"""The lint cache and the process pool: same results, nothing re-parsed, never a failed run."""

import ast
import os
from pathlib import Path

import pytest

from memlint import runner
from memlint.checker import FixMode
from memlint.config import ConfigResolver
from memlint.fixes import replace_code
from memlint.rule import Fix, Rule
from memlint.rules import all_rules
from memlint.runner import run_paths


class FakeZeros(Rule):
    """A stand-in rule (the real ones change while this is written): `torch.zeros(...)` fires, safe fix."""

    code = "MEM999"
    name = "fake-zeros"
    summary = "test rule"
    fix_availability = "always"
    libraries = frozenset({"torch"})
    fix_kinds = {"use empty": "safe"}

    def visit_Call(self, node: ast.Call) -> None:
        if self.file.call_qualname(node) == "torch.zeros" and isinstance(node.func, ast.Attribute):
            new = ast.unparse(ast.Attribute(node.func.value, "empty", ast.Load()))
            self.report(node, "zeros", Fix("safe", "use empty", (replace_code(node.func, new),)))


def install_fake_rule() -> None:
    """For subprocesses: make MEM999 part of the registry."""
    all_rules()["MEM999"] = FakeZeros


@pytest.fixture
def fake_rule(monkeypatch):
    monkeypatch.setitem(all_rules(), "MEM999", FakeZeros)


def _tree(root: Path, files: int = 3) -> Path:
    root.mkdir(exist_ok=True)
    for i in range(files):
        (root / f"m{i:02d}.py").write_text(f"import torch\n\nx = torch.zeros({i})\ny = {i}\n")
    (root / "plain.py").write_text("print('no torch here')\n")
    return root


def _run(paths, cache_dir, jobs=1, select=("MEM999",), mode=FixMode(), use_cache=True):
    resolver = ConfigResolver(None, {"select": list(select)})
    return run_paths(list(paths), resolver, mode, use_cache=use_cache, cache_dir=cache_dir, jobs=jobs)


def _summary(result):
    return [(f.filename, f.row, f.column, f.code) for f in result.findings]


def test_second_run_reparses_nothing(tmp_path, fake_rule, monkeypatch):
    tree = _tree(tmp_path / "src")
    cache_dir = tmp_path / "cache"
    first = _run([tree], cache_dir)
    assert len(first.findings) == 3

    def no_check(*args, **kwargs):
        raise AssertionError("a cached file was checked again")

    monkeypatch.setattr(runner, "check_file", no_check)
    second = _run([tree], cache_dir)
    assert _summary(second) == _summary(first)
    assert second.files_checked == first.files_checked


def test_cache_dir_is_tagged_and_ignored(tmp_path, fake_rule):
    cache_dir = tmp_path / "cache"
    _run([_tree(tmp_path / "src")], cache_dir)
    assert (cache_dir / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (cache_dir / ".gitignore").read_text().splitlines()[-1] == "*"


def test_changed_file_settings_and_mode_miss(tmp_path, fake_rule, checked_files):
    tree = _tree(tmp_path / "src")
    cache_dir = tmp_path / "cache"
    _run([tree], cache_dir)
    checked = checked_files
    checked.clear()
    (tree / "m01.py").write_text("import torch\n\nx = 1\n")
    result = _run([tree], cache_dir)
    assert checked == ["m01.py"]
    assert [Path(f.filename).name for f in result.findings] == ["m00.py", "m02.py"]

    torch_files = sorted(p.name for p in tree.glob("m*.py"))  # plain.py imports no torch: never checked
    checked.clear()  # other settings: nothing may come from the MEM999-only entries
    assert _run([tree], cache_dir, select=("MEM001",)).findings == []
    assert sorted(checked) == torch_files

    checked.clear()  # --diff is cached separately from a plain check
    diff_run = _run([tree], cache_dir, mode=FixMode(diff=True))
    assert sorted(checked) == torch_files
    assert len(diff_run.diffs) == 2


def test_no_cache_and_fix_runs_write_no_cache(tmp_path, fake_rule):
    tree = _tree(tmp_path / "src")
    _run([tree], tmp_path / "off", use_cache=False)
    assert not (tmp_path / "off").exists()
    fixed = _run([tree], tmp_path / "fix", mode=FixMode(fix=True))
    assert sum(sum(c.values()) for c in fixed.fixed.values()) == 3
    assert not (tmp_path / "fix").exists()
    assert "torch.empty(2)" in (tree / "m02.py").read_text()


def test_unusable_cache_dir_does_not_fail_the_run(tmp_path, fake_rule):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    result = _run([_tree(tmp_path / "src")], blocker / "inner")
    assert len(result.findings) == 3 and not result.problems


def test_corrupt_entry_is_a_miss(tmp_path, fake_rule):
    tree = _tree(tmp_path / "src")
    cache_dir = tmp_path / "cache"
    first = _run([tree], cache_dir)
    for entry in cache_dir.rglob("*"):
        if entry.is_file() and entry.parent.parent.parent == cache_dir:
            entry.write_bytes(b"\x80garbage")
    assert _summary(_run([tree], cache_dir)) == _summary(first)


def test_cli_default_cache_in_working_directory(tmp_path, memlint):
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("import torch\n")
    assert memlint("check", "train.py", cwd=project).returncode == 0
    assert (project / ".memlint_cache" / "CACHEDIR.TAG").is_file()
    other = tmp_path / "other"
    other.mkdir()
    (other / "train.py").write_text("import torch\n")
    assert memlint("check", "--no-cache", "train.py", cwd=other).returncode == 0
    assert not (other / ".memlint_cache").exists()
    proc = memlint("check", "--cache-dir", "elsewhere", "train.py", cwd=other)
    assert proc.returncode == 0 and (other / "elsewhere" / ".gitignore").is_file()


def test_cache_dir_setting(tmp_path, memlint):
    (tmp_path / "pyproject.toml").write_text('[tool.memlint]\ncache-dir = "build/lintcache"\n')
    (tmp_path / "train.py").write_text("import torch\n")
    assert memlint("check", "train.py", cwd=tmp_path).returncode == 0
    assert (tmp_path / "build" / "lintcache" / "CACHEDIR.TAG").is_file()
    assert not (tmp_path / ".memlint_cache").exists()


def test_pool_matches_serial_and_keeps_order(tmp_path, fake_rule):
    tree = _tree(tmp_path / "src", files=40)
    serial = _run([tree], None, jobs=1, use_cache=False)
    pooled = _run([tree], None, jobs=2, use_cache=False)
    assert len(serial.findings) == 40
    assert _summary(pooled) == _summary(serial)
    diff_serial = _run([tree], None, jobs=1, use_cache=False, mode=FixMode(diff=True))
    diff_pooled = _run([tree], None, jobs=2, use_cache=False, mode=FixMode(diff=True))
    assert diff_pooled.diffs == diff_serial.diffs and len(diff_pooled.diffs) == 40


def test_pool_fix_writes_every_file(tmp_path, fake_rule):
    tree = _tree(tmp_path / "src", files=30)
    result = _run([tree], None, jobs=2, mode=FixMode(fix=True))
    assert len(result.fixed) == 30 and not result.problems
    assert all("torch.zeros" not in p.read_text() for p in tree.glob("m*.py"))


def test_worker_count(monkeypatch):
    monkeypatch.delenv("MEMLINT_JOBS", raising=False)
    per_worker = runner.WORK_BYTES_PER_WORKER
    assert runner._worker_count(None, 500, per_worker - 1) == 1  # many files, little work: no pool
    cores = len(os.sched_getaffinity(0))
    assert runner._worker_count(None, 500, per_worker * 2) == min(2, cores)
    assert runner._worker_count(None, 500, per_worker * 1000) == cores  # never more than the cores
    assert runner._worker_count(None, 3, per_worker * 1000) == min(3, cores)
    assert runner._worker_count(1, 500, per_worker * 1000) == 1
    assert runner._worker_count(8, 3, 0) == 3
    monkeypatch.setenv("MEMLINT_JOBS", "1")
    assert runner._worker_count(None, 500, per_worker * 1000) == 1


def _children(pid):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_workers_do_not_outlive_a_killed_parent(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    tree = tmp_path / "src"
    tree.mkdir()
    body = "import torch\n\n" + "".join(f"def f{i}(x):\n    return torch.relu(x) + {i}\n\n" for i in range(400))
    for i in range(60):
        (tree / f"m{i}.py").write_text(body)
    proc = subprocess.Popen(
        [sys.executable, "-m", "memlint", "check", "--no-cache", str(tree)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "MEMLINT_JOBS": "2"},
    )
    deadline = time.monotonic() + 60
    workers = []
    while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the run finished before its workers could be seen")
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.1)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert not alive, "pool workers kept running after their parent was killed"
