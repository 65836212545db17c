"""Runs on a bad day: files edited mid-run, moved configs, root on bind mounts, killed fixes, many files (#15)."""

import os
import pickle
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memlint import runner
from memlint.config import ConfigResolver
from memlint.runner import run_paths
from memlint.source import atomic_write, read_source
from samples import CLEAN, EVAL_LOOP


def _codes(result):
    return [(Path(f.filename).name, f.code) for f in result.findings]


def _cache_entries(cache_dir: Path) -> list[Path]:
    return [p for p in cache_dir.glob("*/*/*") if p.is_file() and not p.name.startswith(".")]


def _lint_results(cache_dir: Path) -> list[Path]:
    """Cache entries that hold a file's lint outcome (the others hold project summaries)."""
    from memlint.checker import FileOutcome

    return [p for p in _cache_entries(cache_dir) if isinstance(pickle.loads(p.read_bytes())[1], FileOutcome)]


# ---------------------------------------------------------------------------- item 6
def test_file_edited_during_a_run_is_never_served_stale(tmp_path, monkeypatch):
    """The editor saves the file while memlint checks it: the result belongs to what was analysed."""
    src = tmp_path / "src"
    src.mkdir()
    path = src / "train.py"
    path.write_text(CLEAN)
    cache_dir = tmp_path / "cache"
    real = runner.check_file

    def saved_while_checking(target_path, *args, **kwargs):
        Path(target_path).write_text(EVAL_LOOP)  # the new content lands after memlint read the old
        return real(target_path, *args, **kwargs)

    monkeypatch.setattr(runner, "check_file", saved_while_checking)
    first = run_paths([src], ConfigResolver(), cache_dir=cache_dir, jobs=1)
    assert _codes(first) == [("train.py", "MEM001")]  # what was analysed: the new content
    monkeypatch.setattr(runner, "check_file", real)
    path.write_text(CLEAN)  # back to the content memlint read first
    assert _codes(run_paths([src], ConfigResolver(), cache_dir=cache_dir, jobs=1)) == []


# ---------------------------------------------------------------------------- item 7
def test_moving_the_config_changes_what_per_file_ignores_match(tmp_path, memlint):
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "sub" / "train.py").write_text(EVAL_LOOP)
    config = '[tool.memlint]\nper-file-ignores = { "sub/*.py" = ["MEM001"] }\n'
    (project / "pyproject.toml").write_text(config)
    cache = tmp_path / "cache"
    first = memlint("check", "--cache-dir", cache, "sub/train.py", cwd=project)
    assert first.returncode == 0, first.stdout + first.stderr  # ignored: the pattern matches sub/train.py
    (project / "pyproject.toml").unlink()
    (project / "sub" / "pyproject.toml").write_text(config)  # now relative to sub/: no match
    moved = memlint("check", "--cache-dir", cache, "sub/train.py", cwd=project)
    assert moved.returncode == 1 and "MEM001" in moved.stdout, moved.stdout + moved.stderr


# ---------------------------------------------------------------------------- item 10
def _fixable(tmp_path: Path, name: str = "train.py") -> Path:
    path = tmp_path / name
    path.write_text(EVAL_LOOP)
    return path


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_root_fixing_a_users_file_keeps_owner_group_and_mode(tmp_path, memlint):
    path = _fixable(tmp_path)
    os.chown(path, 65534, 65534)
    os.chmod(path, 0o640)
    tmp_path.chmod(0o777)
    result = memlint("check", "--no-cache", "--fix", "train.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    st = path.stat()
    assert "no_grad" in path.read_text()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o640)


def test_hard_links_stay_one_file(tmp_path, memlint):
    path = _fixable(tmp_path)
    other = tmp_path / "linked.py"
    os.link(path, other)
    inode = path.stat().st_ino
    result = memlint("check", "--no-cache", "--fix", "train.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert path.stat().st_ino == inode and other.stat().st_ino == inode and path.stat().st_nlink == 2
    assert "no_grad" in other.read_text()


def test_owner_that_cannot_be_given_means_a_write_in_place(tmp_path, monkeypatch):
    """Not root, and the file's group is one the new file cannot get: write the file itself."""
    path = _fixable(tmp_path)
    source = read_source(path)
    inode = path.stat().st_ino
    real_stat = os.stat

    def other_group(target, *args, **kwargs):
        st = real_stat(target, *args, **kwargs)
        if str(target).endswith(".memlint-tmp"):  # the new file: as if created with our own group
            fields = list(st)
            fields[stat.ST_GID] = st.st_gid + 1
            return os.stat_result(fields)
        return st

    def refused(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "stat", other_group)
    monkeypatch.setattr(os, "chown", refused)
    atomic_write(source, CLEAN)
    monkeypatch.undo()
    assert path.read_text() == CLEAN and path.stat().st_ino == inode
    assert not list(tmp_path.glob("*.memlint-tmp")) and not list(tmp_path.glob(".*.memlint-tmp"))


# ---------------------------------------------------------------------------- item 21
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temp_files_of_a_killed_fix_are_removed_next_run_and_nothing_else(tmp_path, memlint):
    path = _fixable(tmp_path)
    (tmp_path / "notes.memlint-tmp").write_text("a user's file with our suffix")
    dead = tmp_path / f".train.py.{_dead_pid()}.ab12cd_9.memlint-tmp"
    dead.write_text("half a fixed file")
    live = tmp_path / f".train.py.{os.getpid()}.zz12cd_9.memlint-tmp"  # this test process is alive
    live.write_text("a write in progress")
    old_style = tmp_path / ".train.py.k2j4h5g6.memlint-tmp"  # 0.1's names had no pid
    old_style.write_text("from 0.1")
    young_old_style = tmp_path / ".train.py.q2j4h5g6.memlint-tmp"
    young_old_style.write_text("from 0.1, minutes ago")
    long_ago = time.time() - 3600
    os.utime(old_style, (long_ago, long_ago))
    orphan = tmp_path / f".gone.py.{_dead_pid()}.ab12cd_9.memlint-tmp"  # next to no file of that name
    orphan.write_text("not next to the file it names")
    result = memlint("check", "--no-cache", "train.py", cwd=tmp_path)
    assert result.returncode == 1
    assert "removed 2 temporary files that an interrupted --fix left behind" in result.stderr
    assert not dead.exists() and not old_style.exists()
    assert live.exists() and young_old_style.exists() and orphan.exists()
    assert (tmp_path / "notes.memlint-tmp").exists() and path.read_text() == EVAL_LOOP


@pytest.mark.slow
def test_kill_9_during_fix_loses_nothing_and_leaves_nothing(tmp_path, memlint):
    tree = tmp_path / "src"
    tree.mkdir()
    for i in range(200):
        (tree / f"m{i:03d}.py").write_text(EVAL_LOOP)
    proc = subprocess.Popen([sys.executable, "-m", "memlint", "check", "--no-cache", "--fix", str(tree)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "MEMLINT_JOBS": "2"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if sum("no_grad" in p.read_text() for p in tree.glob("m*.py")) >= 20:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    time.sleep(1)  # pool workers notice their parent is gone
    for path in tree.glob("m*.py"):
        text = path.read_text()
        assert text == EVAL_LOOP or "no_grad" in text
        compile(text, str(path), "exec")
    again = memlint("check", "--no-cache", "--fix", str(tree), cwd=tmp_path, timeout=900)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert not [p for p in tree.iterdir() if p.name.endswith(".memlint-tmp")]
    assert all("no_grad" in p.read_text() for p in tree.glob("m*.py"))


# ---------------------------------------------------------------------------- item 26
def test_files_the_prefilter_rejects_get_no_worker_and_no_cache_entry(tmp_path, checked_files):
    tree = tmp_path / "src"
    tree.mkdir()
    for i in range(50):
        (tree / f"plain{i:02d}.py").write_text(f"import os\n\nVALUE = os.sep * {i}\n")
    (tree / "train.py").write_text(EVAL_LOOP)
    (tree / "mac.py").write_bytes(b"# a CR-only script\rimport torch\rx = torch.zeros(2)\r")
    cache_dir = tmp_path / "cache"
    checked = checked_files
    result = run_paths([tree], ConfigResolver(), cache_dir=cache_dir)
    assert _codes(result) == [("train.py", "MEM001")]
    assert result.files_checked == 52
    assert sorted(checked) == ["mac.py", "train.py"]
    # lint results only for the two files checked (each file also has its project summary entry)
    assert len(_lint_results(cache_dir)) == 2
    checked.clear()
    again = run_paths([tree], ConfigResolver(), cache_dir=cache_dir)
    assert _codes(again) == _codes(result) and checked == []


def test_undecodable_file_without_imports_is_still_reported(tmp_path, memlint):
    (tmp_path / "latin.py").write_bytes(b"x = '\xe9'\n")
    result = memlint("check", "--no-cache", "latin.py", cwd=tmp_path)
    assert result.returncode == 2 and "cannot decode" in result.stderr
