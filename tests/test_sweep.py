"""No crash on real code: every .py file of the installed torch package, checked and fixed.

`memlint check` and `memlint check --fix --unsafe-fixes --diff` over the whole package must end
with exit 0 or 1 (2 only for files libcst cannot parse, reported as such), never a traceback;
and every file the fixes touch must still parse and compile once the fixes are written.
MEMLINT_SWEEP_EVERY=N sweeps every Nth file only (a quick look on a loaded machine).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

_REPORTED = re.compile(r"^(.+?\.py)(?::\d+:\d+)?: (cannot parse|cannot decode)")
_DIFF_FILE = re.compile(r"^\+\+\+ (.+)$", re.MULTILINE)


def _torch_dir() -> Path:
    torch = pytest.importorskip("torch")
    return Path(os.path.dirname(torch.__file__))


def _sweep_paths() -> list[Path]:
    root = _torch_dir()
    every = int(os.environ.get("MEMLINT_SWEEP_EVERY", "1") or 1)
    if every <= 1:
        return [root]
    files = sorted(p for p in root.rglob("*.py") if p.is_file() and not p.is_symlink())
    return files[::every]


def _memlint(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "memlint", "check", "--no-cache", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=1200,
    )


def _assert_no_crash(proc):
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr[-3000:]
    if proc.returncode == 2:
        problems = [line for line in proc.stderr.splitlines() if line and not line.startswith("Would fix")]
        unexplained = [line for line in problems if not _REPORTED.match(line)]
        assert not unexplained, "exit 2 for something else than an unparsable file:\n" + "\n".join(unexplained[:20])
    else:
        assert proc.returncode in (0, 1), proc.stderr[-3000:]


def test_check_whole_torch_package(tmp_path):
    proc = _memlint("--output-format", "concise", "-q", *_sweep_paths(), cwd=tmp_path)
    _assert_no_crash(proc)


def test_fixes_on_whole_torch_package_compile(tmp_path):
    root = _torch_dir()
    proc = _memlint("--fix", "--unsafe-fixes", "--diff", *_sweep_paths(), cwd=tmp_path)
    _assert_no_crash(proc)
    touched = sorted(set(_DIFF_FILE.findall(proc.stdout)))
    if not touched:
        pytest.skip("no rule proposes a fix anywhere in torch (nothing to compile)")
    # Write the same fixes for real on copies of exactly those files, then compile every one.
    copy = tmp_path / "copy"
    for name in touched:
        relative = Path(name).relative_to(root)
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(name, copy / relative)
    fixed = _memlint("--fix", "--unsafe-fixes", copy, cwd=tmp_path)
    _assert_no_crash(fixed)
    changed = []
    for name in touched:
        relative = Path(name).relative_to(root)
        new = (copy / relative).read_bytes()
        if new != Path(name).read_bytes():
            changed.append(relative)
            compile(new, str(relative), "exec", dont_inherit=True)
    assert set(changed) == {Path(n).relative_to(root) for n in touched}, "--diff and --fix disagree"
    again = _memlint("--fix", "--unsafe-fixes", "--diff", copy, cwd=tmp_path)
    _assert_no_crash(again)
    assert again.stdout == "", "a second --fix would change the fixed files again"
