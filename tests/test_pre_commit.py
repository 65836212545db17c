"""The hooks in .pre-commit-hooks.yaml, run by the real `pre-commit try-repo`.

pre-commit clones the hook repository at a commit and pip-installs it into a fresh virtualenv
(about 40 s), so these tests are slow. The hook repository is a committed copy of this working
tree, so what is tested is the code on disk, committed or not.
"""

import os
import shutil
import subprocess
import sys

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook

EVAL_LOOP = """\
import torch


def validate(net, batches):
    net.eval()
    losses = []
    for inputs, targets in batches:
        preds = net(inputs)
        losses.append(float(((preds - targets) ** 2).mean()))
    return sum(losses) / len(losses)
"""
EVAL_LOOP_ROW, EVAL_LOOP_COL = 8, 17  # net(inputs)
CLEAN = """\
import torch


@torch.no_grad()
def validate(net, batches):
    net.eval()
    return [float(net(inputs).mean()) for inputs in batches]
"""
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIT_ENV = {
    "GIT_AUTHOR_NAME": "memlint tests",
    "GIT_AUTHOR_EMAIL": "tests@memlint.invalid",
    "GIT_COMMITTER_NAME": "memlint tests",
    "GIT_COMMITTER_EMAIL": "tests@memlint.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, **GIT_ENV})


def test_hooks_file_declares_both_hooks():
    with open(os.path.join(REPO, ".pre-commit-hooks.yaml")) as handle:
        hooks = {hook["id"]: hook for hook in yaml.safe_load(handle)}
    assert set(hooks) == {"memlint", "memlint-fix"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["types_or"] == ["python", "pyi", "jupyter"]
        assert hook["require_serial"] is True
        assert hook["entry"].startswith("memlint check")
    assert "--fix" in hooks["memlint-fix"]["entry"].split()
    assert "--fix" not in hooks["memlint"]["entry"].split()


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory):
    """This working tree (tracked and untracked, not ignored files), committed in a fresh repository."""
    target = tmp_path_factory.mktemp("hook-repo")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout.split("\0")
    for relative in filter(None, listed):
        source = os.path.join(REPO, relative)
        if not os.path.isfile(source) or os.path.islink(source):
            continue
        os.makedirs(os.path.join(target, os.path.dirname(relative)), exist_ok=True)
        shutil.copy2(source, os.path.join(target, relative))
    git("init", "-q", cwd=target)
    git("add", "-A", cwd=target)
    git("commit", "-q", "-m", "hooks under test", cwd=target)
    return target


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory):
    """Shared by this module's tests so the hook environment is built once."""
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def project(tmp_path):
    (tmp_path / "bad.py").write_text(EVAL_LOOP)
    (tmp_path / "clean.py").write_text(CLEAN)
    (tmp_path / "notes.txt").write_text(EVAL_LOOP)  # not Python to pre-commit: never passed to memlint
    nbformat.write(new_notebook(cells=[new_code_cell(EVAL_LOOP)]), str(tmp_path / "eval.ipynb"))
    git("init", "-q", cwd=tmp_path)
    git("add", "-A", cwd=tmp_path)
    git("commit", "-q", "-m", "project", cwd=tmp_path)
    return tmp_path


def try_repo(hook_repo, hook, cwd, home):
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hook_repo), hook, "--all-files", "--color", "never"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(home)},
        timeout=600,
    )


@pytest.mark.slow
def test_check_hook_fails_on_findings(hook_repo, pre_commit_home, project):
    result = try_repo(hook_repo, "memlint", project, pre_commit_home)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"bad.py:{EVAL_LOOP_ROW}:{EVAL_LOOP_COL}: MEM001" in output
    assert f"eval.ipynb:cell 1:{EVAL_LOOP_ROW}:{EVAL_LOOP_COL}: MEM001" in output
    assert "clean.py" not in output and "notes.txt" not in output
    assert (project / "bad.py").read_text() == EVAL_LOOP


@pytest.mark.slow
def test_fix_hook_rewrites_and_fails_then_passes(hook_repo, pre_commit_home, project):
    first = try_repo(hook_repo, "memlint-fix", project, pre_commit_home)
    output = first.stdout + first.stderr
    assert first.returncode == 1, output
    assert "files were modified by this hook" in output
    assert "@torch.no_grad()" in (project / "bad.py").read_text()
    assert "torch.no_grad()" in nbformat.read(str(project / "eval.ipynb"), as_version=4).cells[0].source
    assert (project / "notes.txt").read_text() == EVAL_LOOP
    git("add", "-A", cwd=project)
    second = try_repo(hook_repo, "memlint-fix", project, pre_commit_home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Passed" in second.stdout
