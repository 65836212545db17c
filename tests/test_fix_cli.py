"""`--fix`, `--diff`, `--show-fixes` and byte preservation, through the real command line."""

import os
import stat

import pytest

from samples import CLEAN, EVAL_LOOP


def test_fix_writes_then_second_fix_is_noop(memlint, tmp_path):
    target = tmp_path / "train.py"
    target.write_text(EVAL_LOOP)
    first = memlint("check", "--fix", "--unsafe-fixes", "train.py", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    fixed = target.read_text()
    assert fixed != EVAL_LOOP and "no_grad" in fixed
    compile(fixed, "train.py", "exec")
    second = memlint("check", "--fix", "--unsafe-fixes", "train.py", cwd=tmp_path)
    assert second.returncode == 0 and target.read_text() == fixed


def test_diff_prints_and_writes_nothing(memlint, tmp_path):
    target = tmp_path / "train.py"
    target.write_text(EVAL_LOOP)
    result = memlint("check", "--diff", "--unsafe-fixes", "train.py", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("--- train.py\n+++ train.py\n")
    assert "+" in result.stdout and "no_grad" in result.stdout
    assert target.read_text() == EVAL_LOOP
    clean = tmp_path / "clean.py"
    clean.write_text(CLEAN)
    assert memlint("check", "--diff", "clean.py", cwd=tmp_path).returncode == 0


def test_show_fixes(memlint, tmp_path):
    (tmp_path / "train.py").write_text(EVAL_LOOP)
    result = memlint("check", "--fix", "--unsafe-fixes", "--show-fixes", "train.py", cwd=tmp_path)
    assert "Fixed 1 error:" in result.stdout
    assert "1 × MEM001 (eval-without-no-grad)" in result.stdout


def test_fix_keeps_permissions(memlint, tmp_path):
    target = tmp_path / "train.py"
    target.write_text(EVAL_LOOP)
    os.chmod(target, 0o750)
    memlint("check", "--fix", "--unsafe-fixes", "train.py", cwd=tmp_path)
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    assert [p.name for p in tmp_path.iterdir()] == ["train.py"]  # no temp file left behind


def test_read_only_file_is_left_alone(memlint, tmp_path):
    target = tmp_path / "train.py"
    target.write_text(EVAL_LOOP)
    os.chmod(target, 0o444)
    result = memlint("check", "--fix", "--unsafe-fixes", "train.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "read-only" in result.stderr and "Traceback" not in result.stderr
    assert target.read_text() == EVAL_LOOP


def _bytes_outside_edits_survive(original: bytes, fixed: bytes) -> None:
    """Every original line appears unchanged in order; only inserted/replaced lines differ."""
    import difflib

    old = original.splitlines(keepends=True)
    new = fixed.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    kept = sum(size for _, _, size in matcher.get_matching_blocks())
    changed_old_lines = len(old) - kept
    assert changed_old_lines <= 3, f"{changed_old_lines} original lines changed"


@pytest.mark.parametrize(
    "prefix, encoding, newline, final_newline",
    [
        (b"\xef\xbb\xbf", "utf-8", "\r\n", True),
        (b"", "latin-1", "\r\n", True),
        (b"\xef\xbb\xbf", "utf-8", "\n", False),
        (b"", "latin-1", "\n", False),
    ],
)
def test_bom_crlf_cookie_survive(memlint, tmp_path, prefix, encoding, newline, final_newline):
    cookie = f"# -*- coding: {encoding} -*-\n# Modèle évalué: précision\n"
    text = (cookie + EVAL_LOOP.replace("correct = 0", "correct = 0  # café")).replace("\n", newline)
    if not final_newline:
        text = text.rstrip("\r\n")
    original = prefix + text.encode(encoding)
    target = tmp_path / "train.py"
    target.write_bytes(original)
    result = memlint("check", "--fix", "--unsafe-fixes", "train.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    fixed = target.read_bytes()
    assert fixed != original
    assert fixed.startswith(prefix + f"# -*- coding: {encoding} -*-".encode())
    assert "café".encode(encoding) in fixed and "précision".encode(encoding) in fixed
    body = fixed[len(prefix):]
    if newline == "\r\n":
        assert body.count(b"\n") == body.count(b"\r\n"), "a bare LF was introduced"
    assert body.endswith(newline.encode()) == final_newline
    _bytes_outside_edits_survive(original, fixed)
    compile(fixed, "train.py", "exec")
    again = memlint("check", "--fix", "--unsafe-fixes", "train.py", cwd=tmp_path)
    assert again.returncode == 0 and target.read_bytes() == fixed
