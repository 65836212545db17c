import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run_memlint(*args, cwd=None, input=None, env=None, timeout=300):
    """Run the real command line in a subprocess, as a user would."""
    full_env = dict(os.environ)
    full_env.pop("NO_COLOR", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "memlint", *map(str, args)],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


@pytest.fixture
def memlint():
    return run_memlint


def copy_checkout(target: Path) -> Path:
    """This working tree as git sees it (tracked and untracked, not ignored files), copied to ``target``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout.split("\0")
    for relative in filter(None, listed):
        source = REPO / relative
        if not source.is_file() or source.is_symlink():
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / relative)
    return target


# pip without any index: what it needs comes from this interpreter's packages. pip reads
# PIP_NO_BUILD_ISOLATION=0 as "no build isolation" (a long-standing quirk of its negative options),
# so building memlint uses the setuptools installed here.
OFFLINE_PIP = {"PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def make_venv(path: Path) -> dict:
    """A fresh virtualenv that sees this interpreter's packages (torch, libcst, ...) but has no memlint of
    its own yet; returns the environment that activates it (offline pip, no PYTHONPATH)."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(path)],
        check=True, capture_output=True,
    )
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "NO_COLOR")}
    env.update(OFFLINE_PIP)
    env["VIRTUAL_ENV"] = str(path)
    env["PATH"] = f"{path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:
        has_cuda = False
    skip_cuda = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(skip_cuda)


@pytest.fixture
def checked_files(monkeypatch):
    """The names of the files a run hands to check_file in this process, in order."""
    from memlint import runner

    names = []
    real = runner.check_file

    def counting(path, *args, **kwargs):
        names.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(runner, "check_file", counting)
    return names
