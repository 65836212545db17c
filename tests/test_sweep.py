"""No crash on real code: every .py file of the installed torch package, checked and fixed.

One pass does both (it used to be two full passes over the package plus a third for the diff):
`memlint check --fix --unsafe-fixes` over a copy of the package's Python files analyses every
file, applies every fix and reports what remains. The run must end with exit 0 or 1 (2 only
for files libcst cannot parse, reported as such), never a traceback; every file the fixes
touched must still compile; and a second `--fix --diff` over the touched files proposes
nothing. MEMLINT_SWEEP_EVERY=N sweeps every Nth file only (a quick look on a loaded machine).
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


def _torch_dir() -> Path:
    torch = pytest.importorskip("torch")
    return Path(os.path.dirname(torch.__file__))


def _python_files(root: Path) -> list[Path]:
    every = int(os.environ.get("MEMLINT_SWEEP_EVERY", "1") or 1)
    files = sorted(p for p in root.rglob("*.py") if p.is_file() and not p.is_symlink())
    return files[::every]


def _memlint(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "memlint", "check", "--no-cache", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=3000,
    )


def _assert_no_crash(proc):
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr[-3000:]
    if proc.returncode == 2:
        problems = [line for line in proc.stderr.splitlines() if line and not line.startswith(("Would fix", "No "))]
        unexplained = [line for line in problems if not _REPORTED.match(line)]
        assert not unexplained, "exit 2 for something else than an unparsable file:\n" + "\n".join(unexplained[:20])
    else:
        assert proc.returncode in (0, 1), proc.stderr[-3000:]


def test_whole_torch_package_is_checked_and_fixed(tmp_path):
    root = _torch_dir()
    copy = tmp_path / "torch"
    originals = {}
    for source in _python_files(root):
        relative = source.relative_to(root)
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, copy / relative)
        originals[relative] = source
    # A directory tree memlint walks itself (excludes, links), as a user's run would.
    proc = _memlint("--fix", "--unsafe-fixes", "--output-format", "concise", copy, cwd=tmp_path)
    _assert_no_crash(proc)
    assert re.search(r"^(Found \d+ errors?|All checks passed!|No findings)", proc.stdout, re.MULTILINE), (
        proc.stdout[-2000:]
    )
    touched = [rel for rel, source in originals.items() if (copy / rel).read_bytes() != source.read_bytes()]
    if not touched:
        pytest.skip("no rule proposes a fix anywhere in torch (nothing to compile)")
    for relative in touched:
        compile((copy / relative).read_bytes(), str(relative), "exec", dont_inherit=True)
    again = _memlint("--fix", "--unsafe-fixes", "--diff", *(copy / rel for rel in touched), cwd=tmp_path)
    _assert_no_crash(again)
    assert again.stdout == "", "a second --fix would change the fixed files again"
    # --diff on the untouched originals proposes exactly what --fix wrote.
    diff = _memlint("--fix", "--unsafe-fixes", "--diff", *(originals[rel] for rel in touched), cwd=tmp_path)
    _assert_no_crash(diff)
    assert set(re.findall(r"^\+\+\+ (.+)$", diff.stdout, re.MULTILINE)) == {str(originals[r]) for r in touched}
