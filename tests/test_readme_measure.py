"""The README's `memlint verify` and `memlint estimate` commands, run as written, with the exit codes it states.

Each command is also looked up in README.md, so the README cannot drift from what is tested.
"""

import json
import re
import shlex

import pytest

from conftest import REPO, run_memlint

README = (REPO / "README.md").read_text(encoding="utf-8")


def readme_command(prefix: str) -> tuple[list[str], int]:
    """The README line that starts with ``prefix``: its arguments and the exit code its comment states."""
    for line in README.splitlines():
        if line.startswith(prefix):
            command, _, comment = line.partition("#")
            code = re.search(r"exit (\d)", comment)
            assert code, f"no exit code stated for: {line}"
            return shlex.split(command)[1:], int(code.group(1))
    raise AssertionError(f"README has no command starting with {prefix!r}")


def test_verify_without_unsafe_fixes_names_the_command():
    args, expected = readme_command("memlint verify --output-format json fixtures/MEM002/bad.py")
    proc = run_memlint(*args, cwd=REPO)
    assert proc.returncode == expected == 2
    error = json.loads(proc.stdout)["error"]
    assert "memlint verify --unsafe-fixes fixtures/MEM002/bad.py" in error


@pytest.mark.slow
def test_verify_mem002_with_iterations():
    args, expected = readme_command("memlint verify --unsafe-fixes --iterations 20 fixtures/MEM002/bad.py")
    proc = run_memlint(*args, cwd=REPO, timeout=900)
    assert proc.returncode == expected == 0, proc.stderr
    assert "Verdict: confirmed by tensor peak, leak slope" in proc.stdout
    assert "+16.0 MiB" in proc.stdout


@pytest.mark.slow
def test_estimate_fits_a_t4():
    args, expected = readme_command("memlint estimate fixtures/estimate/tiny_gpt.py --gpu T4")
    proc = run_memlint(*args, cwd=REPO, timeout=1800)
    assert proc.returncode == expected == 0, proc.stderr
    assert "On T4" in proc.stdout and "fits" in proc.stdout
    assert "Largest batch size that fits:" in proc.stdout
    assert "batch size 16" in proc.stdout and "activation checkpointing" in proc.stdout


@pytest.mark.slow
def test_estimate_json_with_script_arguments():
    args, expected = readme_command("memlint estimate --output-format json fixtures/estimate/tiny_gpt.py")
    proc = run_memlint(*args, cwd=REPO, timeout=1800)
    assert proc.returncode == expected == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["batch_size"] == 8 and report["gpu"] is None


@pytest.mark.slow
def test_estimate_that_does_not_fit_exits_1():
    args, expected = readme_command("memlint estimate fixtures/estimate/cnn_batchnorm_sgd.py --gpu 430MiB")
    proc = run_memlint(*args, cwd=REPO, timeout=1800)
    assert proc.returncode == expected == 1, proc.stderr
    assert "does not fit" in proc.stdout


@pytest.mark.slow
def test_estimate_every_example():
    args, expected = readme_command("memlint estimate --no-levers fixtures/estimate/*.py")
    scripts = sorted(str(p.relative_to(REPO)) for p in (REPO / "fixtures" / "estimate").glob("*.py"))
    args = [a for a in args if a != "fixtures/estimate/*.py"] + scripts  # what the shell expands
    proc = run_memlint(*args, cwd=REPO, timeout=1800)
    assert proc.returncode == expected == 0, proc.stderr
    assert proc.stdout.count("Peak:") == len(scripts)


def test_readme_api_example_runs():
    block = README.split("**As an API:**", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(block.replace("print(", "(lambda *a: None)("), "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.peak_bytes > 0 and result.gpu["fits"] is True and result.gpu["max_batch_size"] > 64
