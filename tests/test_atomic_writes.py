"""Writes that fail halfway leave the original; odd files never hang a run or get written outside the tree."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from memlint import engine  # check_file imports the engine when it runs
from memlint.checker import FixMode, check_file
from memlint.config import Settings
from memlint.source import SourceError, atomic_write, read_source

TESTS = Path(__file__).resolve().parent
ORIGINAL = "import torch\n\nx = torch.zeros(3)  # keep this comment\r\n"
FIXED = "import torch\n\nx = torch.empty(3)  # keep this comment\r\n"


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".memlint-tmp"))


def _python(script: str, *args: str, preexec=None, timeout=120) -> subprocess.CompletedProcess:
    bootstrap = f"import sys; sys.path.insert(0, {str(TESTS)!r})\n" + textwrap.dedent(script)
    return subprocess.run(
        [sys.executable, "-c", bootstrap, *args],
        capture_output=True, text=True, timeout=timeout, preexec_fn=preexec,
    )


def test_failing_fsync_keeps_original_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "train.py"
    target.write_bytes(ORIGINAL.encode())
    source = read_source(target)

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(SourceError, match="No space left"):
        atomic_write(source, FIXED)
    assert target.read_bytes() == ORIGINAL.encode()
    assert _leftovers(tmp_path) == []


def test_failing_write_keeps_original(tmp_path, monkeypatch):
    target = tmp_path / "train.py"
    target.write_bytes(ORIGINAL.encode())
    source = read_source(target)
    real_fdopen = os.fdopen

    class HalfWritten:
        """A handle whose write stores a few bytes and then fails, as on a full disk."""

        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[:5])
            self.handle.flush()
            raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: HalfWritten(real_fdopen(fd, *a, **k)))
    with pytest.raises(SourceError, match="Input/output error"):
        atomic_write(source, FIXED)
    assert target.read_bytes() == ORIGINAL.encode()
    assert _leftovers(tmp_path) == []


def test_process_killed_mid_write_keeps_original(tmp_path):
    target = tmp_path / "train.py"
    target.write_bytes(ORIGINAL.encode())
    proc = _python(
        """
        import os, signal
        from pathlib import Path
        from memlint.source import atomic_write, read_source
        source = read_source(Path(sys.argv[1]))
        os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # dies after writing, before rename
        atomic_write(source, sys.argv[2])
        """,
        str(target),
        FIXED,
    )
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == ORIGINAL.encode()


def _limit_file_size():
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (40, 40))  # the rewrite cannot be written whole


def test_fix_under_file_size_limit_reports_and_keeps_original(tmp_path):
    target = tmp_path / "train.py"
    padded = ORIGINAL.replace("import torch\n", "import torch\n" + "# pad\n" * 3)
    target.write_bytes(padded.encode())
    proc = _python(
        """
        from test_cache import install_fake_rule
        install_fake_rule()
        from memlint.cli import main
        sys.exit(main(["check", "--fix", "--no-cache", "--select", "MEM999", sys.argv[1]]))
        """,
        str(target),
        preexec=_limit_file_size,
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot write" in proc.stderr and "Traceback" not in proc.stderr
    assert target.read_bytes() == padded.encode()
    assert _leftovers(tmp_path) == []


def test_file_changed_between_read_and_write(tmp_path, monkeypatch):
    from test_cache import FakeZeros

    target = tmp_path / "train.py"
    target.write_bytes(ORIGINAL.encode())
    real_fix = engine.fix_and_lint

    def edit_meanwhile(*args, **kwargs):
        result = real_fix(*args, **kwargs)
        target.write_bytes(ORIGINAL.encode() + b"y = 1\n")  # the user saves while memlint works
        return result

    monkeypatch.setattr(engine, "fix_and_lint", edit_meanwhile)
    monkeypatch.setattr(Settings, "rules_for", lambda self, path: [FakeZeros])
    outcome = check_file(target, Settings(), FixMode(fix=True))
    assert [p.message for p in outcome.problems] == ["file changed while memlint was fixing it; left as it is"]
    assert target.read_bytes() == ORIGINAL.encode() + b"y = 1\n"


def test_fifo_never_hangs(tmp_path, memlint):
    tree = tmp_path / "src"
    tree.mkdir()
    os.mkfifo(tree / "pipe.py")
    (tree / "train.py").write_text("import torch\n")
    walked = memlint("check", "src", cwd=tmp_path, timeout=60)
    assert walked.returncode == 0, walked.stderr
    # One file of a project checked alone: the project's other files (the looping links among
    # them) are looked at for cross-file facts.
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    alone = memlint("check", "src/train.py", cwd=tmp_path, timeout=60)
    assert alone.returncode == 0 and "internal error" not in alone.stderr, alone.stderr
    named = memlint("check", "src/pipe.py", cwd=tmp_path, timeout=60)
    assert named.returncode == 2 and "not a regular file" in named.stderr
    fixed = memlint("check", "--fix", "src/pipe.py", cwd=tmp_path, timeout=60)
    assert fixed.returncode == 2 and "Traceback" not in fixed.stderr


def test_symlink_loops_never_hang(tmp_path, memlint):
    tree = tmp_path / "src"
    tree.mkdir()
    (tree / "train.py").write_text("import torch\n")
    os.symlink(tree, tree / "loop")  # a directory link back to its parent
    os.symlink(tree / "b.py", tree / "a.py")
    os.symlink(tree / "a.py", tree / "b.py")  # a.py -> b.py -> a.py
    walked = memlint("check", "src", cwd=tmp_path, timeout=60)
    assert walked.returncode == 0, walked.stderr
    # One file of a project checked alone: the project's other files (the looping links among
    # them) are looked at for cross-file facts.
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    alone = memlint("check", "src/train.py", cwd=tmp_path, timeout=60)
    assert alone.returncode == 0 and "internal error" not in alone.stderr, alone.stderr
    named = memlint("check", "--fix", "src/a.py", cwd=tmp_path, timeout=60)
    assert named.returncode == 2 and "Traceback" not in named.stderr and "internal error" not in named.stderr


def test_links_out_of_the_tree_are_not_followed_or_written(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.py").write_bytes(ORIGINAL.encode())
    tree = tmp_path / "project"
    tree.mkdir()
    (tree / "own.py").write_bytes(ORIGINAL.encode())
    os.symlink(outside / "victim.py", tree / "link.py")
    os.symlink(outside, tree / "linked_dir")
    proc = _python(
        """
        from test_cache import install_fake_rule
        install_fake_rule()
        from memlint.cli import main
        sys.exit(main(["check", "--fix", "--no-cache", "--select", "MEM999", sys.argv[1]]))
        """,
        str(tree),
    )
    assert proc.returncode == 0, proc.stderr
    assert (tree / "own.py").read_bytes() == FIXED.encode()
    assert (outside / "victim.py").read_bytes() == ORIGINAL.encode()
    assert (tree / "link.py").is_symlink()
