"""Bad input gets one clear line on stderr and the right exit code: never a traceback, never a lost file."""

import os

import pytest

from samples import EVAL_LOOP


def _no_traceback(result):
    assert "Traceback" not in result.stderr + result.stdout
    assert "internal error" not in result.stderr


def test_syntax_error_reported_and_other_files_checked(memlint, tmp_path):
    (tmp_path / "broken.py").write_text("import torch\n\ndef f(:\n    pass\n")
    (tmp_path / "train.py").write_text(EVAL_LOOP)
    result = memlint("check", ".", cwd=tmp_path)
    assert result.returncode == 2
    _no_traceback(result)
    assert "broken.py:3:" in result.stderr and "cannot parse" in result.stderr
    assert "train.py:" in result.stdout and "MEM001" in result.stdout


def test_syntax_error_file_is_not_touched_by_fix(memlint, tmp_path):
    source = "import torch\nfor x in loader\n    model(x)\n"
    (tmp_path / "broken.py").write_text(source)
    result = memlint("check", "--fix", "broken.py", cwd=tmp_path)
    assert result.returncode == 2
    assert (tmp_path / "broken.py").read_text() == source


def test_undecodable_bytes(memlint, tmp_path):
    (tmp_path / "bad.py").write_bytes(b"import torch\nname = '\xff\xfe\xfa'\n")
    result = memlint("check", "bad.py", cwd=tmp_path)
    assert result.returncode == 2
    _no_traceback(result)
    assert "bad.py: cannot decode as utf-8" in result.stderr


def test_unknown_codec_cookie(memlint, tmp_path):
    """`coding: future_fstrings` names a codec registered at run time: read as UTF-8 when that works."""
    (tmp_path / "ok.py").write_bytes(b"# -*- coding: future_fstrings -*-\n" + EVAL_LOOP.encode())
    result = memlint("check", "ok.py", cwd=tmp_path)
    assert result.returncode == 1 and "MEM001" in result.stdout
    (tmp_path / "bad.py").write_bytes(b"# -*- coding: klingon -*-\nimport torch\nx = '\xff'\n")
    result = memlint("check", "bad.py", cwd=tmp_path)
    assert result.returncode == 2
    _no_traceback(result)
    assert "bad.py: cannot decode" in result.stderr


def test_missing_path(memlint, tmp_path):
    (tmp_path / "train.py").write_text(EVAL_LOOP)
    result = memlint("check", "nope.py", "train.py", cwd=tmp_path)
    assert result.returncode == 2
    _no_traceback(result)
    assert "nope.py: no such file or directory" in result.stderr
    assert "MEM001" in result.stdout
    alone = memlint("check", "nope.py", cwd=tmp_path)
    assert alone.returncode == 2 and "All checks passed" not in alone.stdout
    assert "could not be checked" in alone.stdout


def test_directory_without_python_files(memlint, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hello")
    result = memlint("check", "empty", cwd=tmp_path)
    assert result.returncode == 0
    assert "no Python files found" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(memlint, tmp_path):
    target = tmp_path / "secret.py"
    target.write_text(EVAL_LOOP)
    os.chmod(target, 0)
    result = memlint("check", "secret.py", cwd=tmp_path)
    assert result.returncode == 2 and "permission denied" in result.stderr


def test_broken_symlink(memlint, tmp_path):
    (tmp_path / "dangling.py").symlink_to(tmp_path / "gone.py")
    result = memlint("check", "dangling.py", cwd=tmp_path)
    assert result.returncode == 2
    _no_traceback(result)
    assert "broken symbolic link" in result.stderr


def test_broken_symlink_inside_directory_is_skipped(memlint, tmp_path):
    (tmp_path / "dangling.py").symlink_to(tmp_path / "gone.py")
    (tmp_path / "train.py").write_text(EVAL_LOOP)
    result = memlint("check", ".", cwd=tmp_path)
    assert result.returncode == 1
    _no_traceback(result)


def test_big_file(memlint, tmp_path):
    """A 10 MB generated file is refused with one clear line, quickly; other files are still checked."""
    chunk = "import torch\n" + "\n".join(f"weights_{i} = [{', '.join(str(j) for j in range(40))}]" for i in range(2000)) + "\n"
    lines = [chunk]
    size = len(chunk)
    while size < 10_000_000:
        lines.append(f"table_{size} = {{'k': {list(range(60))}}}\n" * 200)
        size += len(lines[-1])
    (tmp_path / "big.py").write_text("".join(lines) + "\n" + EVAL_LOOP.replace("import torch\n", ""))
    (tmp_path / "train.py").write_text(EVAL_LOOP)
    result = memlint("check", ".", cwd=tmp_path, timeout=120)
    _no_traceback(result)
    assert result.returncode == 2
    assert "big.py: skipped: 10.0 MB is over max-file-size-mb (2)" in result.stderr
    assert "train.py:" in result.stdout and "big.py" not in result.stdout


def test_max_file_size_setting(memlint, tmp_path):
    (tmp_path / "train.py").write_text(EVAL_LOOP + "# padding\n" * 200)
    (tmp_path / "pyproject.toml").write_text("[tool.memlint]\nmax-file-size-mb = 0.001\n")
    result = memlint("check", "train.py", cwd=tmp_path)
    assert result.returncode == 2 and "over max-file-size-mb (0.001)" in result.stderr


@pytest.mark.parametrize(
    "expression",
    ["(" * 5000 + "1" + ")" * 5000, "1+" * 20000 + "1", "(\n" + "1 +\n" * 30000 + "1)"],
    ids=["brackets", "long-sum", "sum-over-lines"],
)
def test_deeply_nested_expression(memlint, tmp_path, expression):
    """Shapes that crash libcst's native parser: refused with a clear line, other files still checked."""
    (tmp_path / "deep.py").write_text("import torch\nx = " + expression + "\n")
    (tmp_path / "train.py").write_text(EVAL_LOOP)
    result = memlint("check", ".", cwd=tmp_path)
    _no_traceback(result)
    assert result.returncode == 2
    assert "deep.py" in result.stderr
    assert "MEM001" in result.stdout


def test_file_without_tracked_imports_is_skipped(memlint, tmp_path):
    source = EVAL_LOOP.replace("import torch\n", "import mylib\n")
    (tmp_path / "other.py").write_text(source)
    assert memlint("check", "other.py", cwd=tmp_path).returncode == 0
