"""What a user installs: the wheel's dependencies, and the GitHub Action run line by line on this machine."""

import json
import os
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import OFFLINE_PIP, REPO, copy_checkout, make_venv
from samples import CLEAN, EVAL_LOOP, EVAL_LOOP_COL, EVAL_LOOP_ROW

HEAVY = {"torch", "tensorflow", "keras", "jax", "nvidia", "triton"}


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].split("~")[0].strip()


def test_wheel_never_requires_torch(tmp_path):
    """`pip install memlint-ml` pulls only what the wheel requires without an extra: no torch, no Keras."""
    checkout = copy_checkout(tmp_path / "memlint")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(tmp_path / "dist"), str(checkout)],
        capture_output=True, text=True, timeout=600, env={**os.environ, **OFFLINE_PIP},
    )
    assert build.returncode == 0, build.stdout + build.stderr
    [wheel] = (tmp_path / "dist").glob("memlint_ml-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "memlint/rules/catalog.json" in archive.namelist()  # start-up reads it instead of the rules
        [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        headers = Parser().parsestr(archive.read(metadata).decode())
    requires = headers.get_all("Requires-Dist") or []
    always = [r for r in requires if "extra ==" not in r]
    assert {_name(r).lower() for r in always} == {"libcst", "rich", "tomli"}, always
    # tomllib is in the standard library from Python 3.11; config reading needs tomli before that
    [tomli] = [r for r in always if _name(r).lower() == "tomli"]
    assert "python_version" in tomli and "3.11" in tomli, tomli
    test_extra = [r for r in requires if "extra == \"test\"" in r or "extra == 'test'" in r]
    assert any(_name(r) == "torch" for r in test_extra)  # the test extra pins torch (README says which build)
    assert not {_name(r).lower() for r in always} & HEAVY


# ---------------------------------------------------------------- the GitHub Action (action.yml)

ACTION = yaml.safe_load((REPO / "action.yml").read_text())


def _step_env(step, inputs):
    """A step's `env:` with `${{ inputs.NAME }}` filled in, as the Actions runner fills it."""
    values = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
    values.update(inputs)
    env = {}
    for key, expression in (step.get("env") or {}).items():
        name = expression.replace("${{", "").replace("}}", "").strip()
        assert name.startswith("inputs."), f"{key} is not filled from an input: {expression}"
        env[key] = values[name[len("inputs."):]]
    return env


def run_action(venv, action_path, workspace, **inputs):
    """Every step of the composite action, with `bash --noprofile --norc -eo pipefail` as GitHub runs it."""
    results = []
    for step in ACTION["runs"]["steps"]:
        assert step["shell"] == "bash"
        assert "${{" not in step["run"], "inputs must reach the script through env, not pasted into it"
        env = {**venv, **_step_env(step, inputs), "GITHUB_ACTION_PATH": str(action_path)}
        script = workspace.parent / "step.sh"
        script.write_text(step["run"])
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace, env=env, capture_output=True, text=True, timeout=900,
        )
        results.append(result)
        if result.returncode != 0:
            break
    return results


@pytest.fixture(scope="module")
def action_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("action")
    return make_venv(root / "venv"), copy_checkout(root / "memlint")


@pytest.mark.slow
def test_action_annotates_findings_and_writes_sarif(action_env, tmp_path):
    venv, action_path = action_env
    workspace = tmp_path / "workspace"
    (workspace / "src").mkdir(parents=True)
    (workspace / "src" / "evaluate.py").write_text(EVAL_LOOP)
    (workspace / "train.py").write_text(CLEAN)
    (workspace / "notes").mkdir()
    (workspace / "notes" / "draft.py").write_text(EVAL_LOOP)  # not among the paths: not checked
    install, check = run_action(venv, action_path, workspace, paths="src train.py", **{"sarif-file": "out.sarif"})
    assert install.returncode == 0, install.stdout + install.stderr
    assert check.returncode == 1, check.stdout + check.stderr
    [annotation] = check.stdout.splitlines()
    assert annotation.startswith(
        f"::error title=memlint (MEM001),file=src/evaluate.py,line={EVAL_LOOP_ROW},col={EVAL_LOOP_COL},"
    )
    document = json.loads((workspace / "out.sarif").read_text())
    jsonschema.validate(document, json.loads((REPO / "tests" / "sarif-schema-2.1.0.json").read_text()))
    assert [r["ruleId"] for r in document["runs"][0]["results"]] == ["MEM001"]


@pytest.mark.slow
def test_action_passes_on_clean_code_and_takes_args(action_env, tmp_path):
    venv, action_path = action_env
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "evaluate.py").write_text(EVAL_LOOP)
    steps = run_action(venv, action_path, workspace, args="--ignore MEM001")
    assert [s.returncode for s in steps] == [0, 0], steps[-1].stdout + steps[-1].stderr
    assert steps[-1].stdout == ""
    (workspace / "broken.py").write_text("import torch\n\ndef f(:\n")
    failed = run_action(venv, action_path, workspace, **{"sarif-file": "out.sarif", "args": "--ignore MEM001"})
    assert failed[-1].returncode == 2  # a file that cannot be checked fails the step
    assert "::error title=memlint,file=broken.py,line=3" in failed[-1].stdout
    notes = json.loads((workspace / "out.sarif").read_text())["runs"][0]["invocations"][0]
    assert notes["executionSuccessful"] is False


def test_action_inputs_are_documented():
    for name, spec in ACTION["inputs"].items():
        assert spec["description"] and "default" in spec, name
    assert ACTION["runs"]["using"] == "composite"
    readme = (REPO / "README.md").read_text()
    assert "uses: memlint/memlint@" in readme and "sarif-file:" in readme
