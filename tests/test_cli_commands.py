"""ruff's everyday commands, as a user runs them: real `python -m memlint` subprocesses.

The closing summary in ruff's words, typos of a subcommand, --exit-non-zero-on-fix, --fail-on,
a broken pipe, `memlint clean`, --watch and the subcommand table.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO
from samples import CLEAN, EVAL_LOOP


@pytest.fixture
def mixed(tmp_path):
    """Two real fixtures: one finding with a safe fix (MEM001), one with an unsafe fix (MEM002)."""
    shutil.copyfile(REPO / "fixtures" / "MEM001" / "bad.py", tmp_path / "evaluate.py")
    shutil.copyfile(REPO / "fixtures" / "MEM002" / "bad.py", tmp_path / "train.py")
    return tmp_path


def fix_counts(memlint, cwd, *paths):
    """(safe, unsafe) fixes as the JSON output reports them: the summary must agree with it."""
    found = json.loads(memlint("check", "--output-format", "json", *paths, cwd=cwd).stdout)
    applicability = [f["fix"]["applicability"] for f in found if f["fix"]]
    return applicability.count("safe"), applicability.count("unsafe")


# ---------------------------------------------------------------- the summary, in ruff's words and order


def test_summary_names_safe_and_hidden_fixes_in_one_line(memlint, mixed):
    safe, unsafe = fix_counts(memlint, mixed, ".")
    assert safe and unsafe, "the fixtures no longer carry one safe and one unsafe fix"
    result = memlint("check", ".", cwd=mixed)
    assert result.returncode == 1
    tail = result.stdout.splitlines()[-2:]
    s = "" if unsafe == 1 else "es"
    assert tail == [
        f"Found {safe + unsafe} errors.",
        f"[*] {safe} fixable with the `--fix` option ({unsafe} hidden fix{s} can be enabled with the "
        "`--unsafe-fixes` option).",
    ]
    assert "No fixes available" not in result.stdout


def test_summary_with_only_unsafe_fixes(memlint, mixed):
    safe, unsafe = fix_counts(memlint, mixed, "train.py")
    assert (safe, unsafe) == (0, 1)
    result = memlint("check", "train.py", cwd=mixed)
    assert result.stdout.splitlines()[-2:] == [
        "Found 1 error.",
        "No fixes available (1 hidden fix can be enabled with the `--unsafe-fixes` option).",
    ]
    with_unsafe = memlint("check", "--unsafe-fixes", "train.py", cwd=mixed)
    assert with_unsafe.stdout.splitlines()[-2:] == ["Found 1 error.", "[*] 1 fixable with the --fix option."]
    assert "train.py:25:9: MEM002 [*]" in with_unsafe.stdout  # the marker follows what --fix would apply


def test_diff_with_only_unsafe_fixes_says_how_to_apply_them(memlint, mixed):
    result = memlint("check", "--diff", "train.py", cwd=mixed)
    assert result.returncode == 0 and result.stdout == ""
    assert result.stderr == "No errors would be fixed (1 fix available with `--unsafe-fixes`).\n"
    both = memlint("check", "--diff", ".", cwd=mixed)
    assert both.returncode == 1 and "+@torch.no_grad()" in both.stdout
    assert both.stderr == "Would fix 1 error (1 additional fix available with `--unsafe-fixes`).\n"
    everything = memlint("check", "--diff", "--unsafe-fixes", ".", cwd=mixed)
    assert everything.stderr == "Would fix 2 errors.\n"


def test_fix_summary_counts_fixed_and_remaining(memlint, mixed):
    result = memlint("check", "--fix", ".", cwd=mixed)
    assert result.returncode == 1  # the unsafe one remains
    assert result.stdout.splitlines()[-2:] == [
        "Found 2 errors (1 fixed, 1 remaining).",
        "No fixes available (1 hidden fix can be enabled with the `--unsafe-fixes` option).",
    ]


def test_statistics_end_with_the_summary(memlint, mixed):
    (mixed / "evaluate_again.py").write_text((mixed / "evaluate.py").read_text())
    result = memlint("check", "--statistics", ".", cwd=mixed)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["2", "MEM001", "[*] eval-without-no-grad"]
    assert lines[1].split("\t") == ["1", "MEM002", "[ ] accumulated-grad-tensor"]
    assert lines[2] == "Found 3 errors."
    assert lines[3].startswith("[*] 2 fixable with the `--fix` option (1 hidden fix")
    as_json = json.loads(memlint("check", "--statistics", "--output-format", "json", ".", cwd=mixed).stdout)
    assert as_json == [
        {"code": "MEM001", "name": "eval-without-no-grad", "count": 2, "fixable": True},
        {"code": "MEM002", "name": "accumulated-grad-tensor", "count": 1, "fixable": False},
    ]
    clean = memlint("check", "--statistics", "evaluate.py", "--ignore", "MEM001", cwd=mixed)
    assert clean.returncode == 0 and clean.stdout == ""


# ---------------------------------------------------------------- typos and the subcommand table


@pytest.mark.parametrize("typo, suggestion", [("verfiy", "verify"), ("chekc", "check"), ("rules", "rule"),
                                              ("clena", "clean")])
def test_mistyped_subcommand_is_a_usage_error(memlint, tmp_path, typo, suggestion):
    (tmp_path / "x.py").write_text(EVAL_LOOP)
    result = memlint(typo, "x.py", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"memlint: error: '{typo}' is neither a memlint command nor an existing path; did you mean '{suggestion}'?\n"
    )
    assert result.stdout == ""


def test_unknown_bare_word_lists_the_commands(memlint, tmp_path):
    from memlint.cli import SUBCOMMANDS

    result = memlint("lint", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"memlint: error: 'lint' is neither a memlint command nor an existing path (commands: {', '.join(SUBCOMMANDS)})\n"
    )
    assert "check, rule, verify, estimate, clean, server" in result.stderr


def test_existing_path_named_like_a_command_is_checked(memlint, tmp_path):
    """A folder called `verfiy` (or any word) that exists is a path, as before."""
    (tmp_path / "verfiy").mkdir()
    (tmp_path / "verfiy" / "train.py").write_text(EVAL_LOOP)
    result = memlint("verfiy", cwd=tmp_path)
    assert result.returncode == 1 and "verfiy/train.py:" in result.stdout
    missing = memlint("nope.py", cwd=tmp_path)  # a path that looks like one: reported as missing
    assert missing.returncode == 2 and "nope.py: no such file or directory" in missing.stderr


def test_help_lists_every_subcommand(memlint):
    from memlint.cli import SUBCOMMANDS

    result = memlint("--help")
    assert result.returncode == 0
    listing = " ".join(result.stdout.split())  # argparse wraps long help texts
    for name, entry in SUBCOMMANDS.items():
        assert f"{name} {entry.help}" in listing
        assert memlint(name, "--help").returncode == 0


def test_check_does_not_import_other_subcommands():
    """Each subcommand's module is imported only when it runs (the table's promise to new commands)."""
    code = (
        "import sys; from memlint.cli import main\n"
        "sys.argv = ['memlint', 'check', '--no-cache', '-q', '.']\n"
        "try:\n    main()\nfinally:\n"
        "    print(sorted(m for m in sys.modules if m.startswith(('memlint.verify', 'memlint.clean', 'memlint.estimate', 'memlint.measure', 'memlint.server'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO / "benchmarks")
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


# ---------------------------------------------------------------- exit codes for pre-commit and CI


def test_exit_non_zero_on_fix(memlint, tmp_path):
    target = tmp_path / "t.py"
    target.write_text(EVAL_LOOP)
    plain = memlint("check", "--fix", "t.py", cwd=tmp_path)
    assert plain.returncode == 0 and target.read_text() != EVAL_LOOP  # fixed, nothing left
    target.write_text(EVAL_LOOP)
    strict = memlint("check", "--fix", "--exit-non-zero-on-fix", "t.py", cwd=tmp_path)
    assert strict.returncode == 1, strict.stdout + strict.stderr
    again = memlint("check", "--fix", "--exit-non-zero-on-fix", "t.py", cwd=tmp_path)
    assert again.returncode == 0  # nothing to fix the second time


def test_fail_on_error_severity(memlint, tmp_path):
    """MEM005 is a warning, MEM001 an error (see `memlint rule --all`)."""
    rules = {row["code"]: row for row in json.loads(memlint("rule", "--all", "--output-format", "json").stdout)}
    assert rules["MEM001"]["severity"] == "error" and rules["MEM005"]["severity"] == "warning"
    (tmp_path / "data.py").write_text(
        "import torch\nfrom torch.utils.data import DataLoader\n\n\n"
        "def everything(ds):\n    return DataLoader(ds, batch_size=len(ds))\n"
    )
    warning = memlint("check", "--fail-on", "error", "data.py", cwd=tmp_path)
    assert "MEM005" in warning.stdout and warning.returncode == 0
    assert memlint("check", "data.py", cwd=tmp_path).returncode == 1
    (tmp_path / "eval.py").write_text(EVAL_LOOP)
    assert memlint("check", "--fail-on", "error", ".", cwd=tmp_path).returncode == 1


def test_broken_pipe_keeps_the_exit_code(tmp_path):
    """`memlint check . | head -1`: the reader goes away early; findings still mean exit 1."""
    for i in range(300):
        (tmp_path / f"eval_{i:03d}.py").write_text(EVAL_LOOP * 5)
    proc = subprocess.Popen(
        [sys.executable, "-m", "memlint", "check", "--no-cache", "."],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 1, stderr
    assert b"MEM001" in first
    assert "Traceback" not in stderr and "Exception ignored" not in stderr and "BrokenPipe" not in stderr


def test_broken_pipe_with_a_clean_run_exits_0(tmp_path):
    (tmp_path / "clean.py").write_text(CLEAN)
    proc = subprocess.Popen(
        [sys.executable, "-m", "memlint", "rule", "--all"], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    assert proc.wait(timeout=120) == 0
    assert proc.stderr.read() == b""


# ---------------------------------------------------------------- memlint clean


def test_clean_removes_memlint_caches_only(memlint, tmp_path):
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "train.py").write_text(EVAL_LOOP)
    (project / "sub" / "train.py").write_text(EVAL_LOOP)
    memlint("check", ".", cwd=project)
    memlint("check", ".", cwd=project / "sub")
    assert (project / ".memlint_cache").is_dir() and (project / "sub" / ".memlint_cache").is_dir()
    # Someone else's folder with the same name, and a file a user left inside memlint's cache.
    foreign = project / "vendor" / ".memlint_cache"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    (project / "sub" / ".memlint_cache" / "keep.txt").write_text("mine too")
    result = memlint("clean", cwd=project)
    assert result.returncode == 0, result.stderr
    assert not (project / ".memlint_cache").exists()
    assert "Removed cache: .memlint_cache" in result.stdout
    assert (foreign / "notes.txt").read_text() == "mine"
    kept = project / "sub" / ".memlint_cache"
    assert (kept / "keep.txt").read_text() == "mine too"
    assert sorted(p.name for p in kept.iterdir()) == [".gitignore", "CACHEDIR.TAG", "keep.txt"]
    assert "kept files memlint did not write" in result.stderr
    assert (project / "train.py").read_text() == EVAL_LOOP
    again = memlint("clean", "vendor", cwd=project)
    assert again.returncode == 0 and again.stdout == "No memlint cache found.\n"


def test_clean_configured_cache_dir(memlint, tmp_path):
    (tmp_path / "train.py").write_text(EVAL_LOOP)
    (tmp_path / "pyproject.toml").write_text('[tool.memlint]\ncache-dir = "build/lint-cache"\n')
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "artifact.whl").write_text("keep")
    memlint("check", "train.py", cwd=tmp_path)
    assert (tmp_path / "build" / "lint-cache" / "CACHEDIR.TAG").is_file()
    result = memlint("clean", cwd=tmp_path)
    assert result.returncode == 0
    assert not (tmp_path / "build" / "lint-cache").exists()
    assert (tmp_path / "build" / "artifact.whl").read_text() == "keep"


def test_clean_refuses_a_missing_directory(memlint, tmp_path):
    result = memlint("clean", "nowhere", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr == "memlint: error: nowhere: not a directory\n"


# ---------------------------------------------------------------- --watch


def _read_until(stream, marker, deadline):
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} not seen; got:\n{''.join(seen)}")


def test_watch_checks_again_after_a_change(tmp_path):
    target = tmp_path / "train.py"
    target.write_text(CLEAN)
    proc = subprocess.Popen(
        [sys.executable, "-m", "memlint", "check", "--watch", "--no-cache", "."],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
    )
    try:
        deadline = time.monotonic() + 120
        first = _read_until(proc.stdout, "Watching for file changes.", deadline)
        assert "All checks passed!" in first
        time.sleep(0.05)
        target.write_text(EVAL_LOOP + "\n# changed\n")
        second = _read_until(proc.stdout, "Watching for file changes.", deadline)
        assert "File change detected" in second and "train.py:8:15: MEM001" in second
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130


def test_watch_refuses_diff(memlint, tmp_path):
    result = memlint("check", "--watch", "--diff", ".", cwd=tmp_path)
    assert result.returncode == 2 and "--watch cannot be combined" in result.stderr


def test_no_traceback_for_conflicting_flags(memlint, tmp_path):
    for flags in (["--add-noqa", "--fix"], ["--statistics", "--output-format", "sarif"]):
        result = memlint("check", *flags, ".", cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.startswith("memlint: error: "), flags
        assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / ".memlint_cache")
