"""The hooks in .pre-commit-hooks.yaml, run by the real `pre-commit run`, and README's `repo: local`.

pre-commit clones the hook repository at a commit and pip-installs it into a fresh virtualenv.
From PyPI that took about 40 s per test; here the virtualenv sees this interpreter's packages
(``VIRTUALENV_SYSTEM_SITE_PACKAGES``) and pip works offline (``PIP_NO_INDEX``, no build isolation),
so only memlint itself is built and installed, from the hook repository, as for a user. The hook
repository is a committed copy of this working tree, so what is tested is the code on disk.
"""

import os
import re
import subprocess
import sys

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook

from conftest import OFFLINE_PIP, copy_checkout

EVAL_LOOP = """\
import torch


def validate(net, batches):
    net.eval()
    losses = []
    for inputs, targets in batches:
        preds = net(inputs)
        losses.append(float(((preds - targets) ** 2).mean()))
    print(sum(losses) / len(losses))
"""
# It returns nothing, so MEM001's `@torch.no_grad()` is a safe fix there (a returned value could need grad).
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
    target = copy_checkout(tmp_path_factory.mktemp("hook-repo"))
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


# The hook's virtualenv sees the packages installed here, and pip installs memlint from the hook
# repository without reaching any index.
OFFLINE_HOOK_ENV = {"VIRTUALENV_SYSTEM_SITE_PACKAGES": "true", **OFFLINE_PIP}


def hook_env(home, **extra):
    env = {**os.environ, **GIT_ENV, **OFFLINE_HOOK_ENV, "PRE_COMMIT_HOME": str(home), **extra}
    env.pop("PYTHONPATH", None)  # the hook must run the memlint installed in its own environment
    return env


def run_hook(hook_repo, hook, cwd, home, **overrides):
    """`pre-commit run` of one hook of the hook repository, pinned to its commit as a user pins it.

    pre-commit keys its environments on (repository, rev), so the module's runs share one build
    (`pre-commit try-repo` uses a new temporary store, so it built the environment again for every run).
    """
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hook_repo, check=True, capture_output=True,
                         text=True).stdout.strip()
    hook_spec = {"id": hook, **overrides}
    config = home / f"{hook}-{rev[:12]}-{len(overrides)}.yaml"
    config.write_text(yaml.safe_dump({"repos": [{"repo": str(hook_repo), "rev": rev, "hooks": [hook_spec]}]}))
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--config", str(config), "--all-files", "--color", "never"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=hook_env(home),
        timeout=600,
    )


@pytest.mark.slow
def test_check_hook_fails_on_findings(hook_repo, pre_commit_home, project):
    result = run_hook(hook_repo, "memlint", project, pre_commit_home)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"bad.py:{EVAL_LOOP_ROW}:{EVAL_LOOP_COL}: MEM001" in output
    assert f"eval.ipynb:cell 1:{EVAL_LOOP_ROW}:{EVAL_LOOP_COL}: MEM001" in output
    assert "clean.py" not in output and "notes.txt" not in output
    assert (project / "bad.py").read_text() == EVAL_LOOP


@pytest.mark.slow
def test_fix_hook_rewrites_and_fails_then_passes(hook_repo, pre_commit_home, project):
    first = run_hook(hook_repo, "memlint-fix", project, pre_commit_home)
    output = first.stdout + first.stderr
    assert first.returncode == 1, output
    assert "files were modified by this hook" in output
    assert "@torch.no_grad()" in (project / "bad.py").read_text()
    assert "torch.no_grad()" in nbformat.read(str(project / "eval.ipynb"), as_version=4).cells[0].source
    assert (project / "notes.txt").read_text() == EVAL_LOOP
    git("add", "-A", cwd=project)
    second = run_hook(hook_repo, "memlint-fix", project, pre_commit_home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Passed" in second.stdout


@pytest.mark.slow
def test_hook_environment_runs_the_hook_repository_copy(hook_repo, pre_commit_home, project):
    """The hook's memlint is the one pip installed from the hook repository, not this checkout."""
    init = hook_repo / "memlint" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "9.9.9+hook-'))
    git("commit", "-q", "-am", "marked version", cwd=hook_repo)
    try:
        result = run_hook(hook_repo, "memlint", project, pre_commit_home,
                          entry="memlint --version", pass_filenames=False, verbose=True)
    finally:
        git("reset", "-q", "--hard", "HEAD~1", cwd=hook_repo)
    assert "memlint 9.9.9+hook-" in result.stdout, result.stdout + result.stderr


README_LOCAL_HOOK = re.compile(r"```yaml\n(repos:\n  - repo: local\n.*?)```", re.DOTALL)


def test_readme_local_hook(tmp_path, project):
    """README's `repo: local` snippet, run by real pre-commit (language: system: memlint from PATH)."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        [snippet] = README_LOCAL_HOOK.findall(handle.read())
    (project / ".pre-commit-config.yaml").write_text(snippet)
    git("add", "-A", cwd=project)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "memlint"  # `memlint` from this checkout, whatever is installed
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m memlint "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(tmp_path / "home"),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": REPO}
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"],
        cwd=project, capture_output=True, text=True, env=env, timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"bad.py:{EVAL_LOOP_ROW}:{EVAL_LOOP_COL}: MEM001" in output
    assert "clean.py" not in output and "notes.txt" not in output
