"""memlint under a real `flake8` subprocess: same findings and columns as `memlint check`."""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

TRAIN = '''\
import torch
from torch.utils.data import DataLoader


def evaluate(model, loader):
    model.eval()
    total = 0.0
    for x, y in loader:
        out = model(x)
        total += out.sum().item()
    return total


def train(model, loader, optimizer, loss_fn):
    running_loss = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        running_loss += loss
    return running_loss


def loaders(train_set):
    full = DataLoader(train_set, batch_size=len(train_set))
    big = DataLoader(train_set, batch_size=8192)
    return full, big
'''
LINE = re.compile(r"^(?P<path>.+?):(?P<row>\d+):(?P<col>\d+): (?P<code>[A-Z]+\d+) (?P<message>.*)$")


def run_flake8(*args, cwd, input=None, python_path=None):
    env = dict(os.environ)
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join([python_path, env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "flake8", "--color=never", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def flake8_findings(stdout):
    found = []
    for line in stdout.splitlines():
        match = LINE.match(line)
        assert match, line
        if match["code"].startswith("MEM"):
            found.append((match["path"], int(match["row"]), int(match["col"]), match["code"], match["message"]))
    return found


def memlint_findings(memlint, *args, cwd):
    result = memlint("check", "--no-cache", "--output-format", "json", *args, cwd=cwd)
    assert result.returncode in (0, 1), result.stderr
    return [
        (os.path.relpath(f["filename"], cwd), f["location"]["row"], f["location"]["column"], f["code"], f["message"])
        for f in json.loads(result.stdout)
    ]


@pytest.fixture
def project(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "clean.py").write_text("import torch\n\n\ndef double(x):\n    return x * 2\n")
    return tmp_path


def test_findings_and_columns_equal_memlint_check(memlint, project):
    result = run_flake8("--select", "MEM", "train.py", "clean.py", cwd=project)
    assert result.returncode == 1, result.stderr
    from_flake8 = flake8_findings(result.stdout)
    assert {code for *_, code, _ in from_flake8} >= {"MEM001", "MEM002", "MEM005"}
    assert from_flake8 == memlint_findings(memlint, "train.py", "clean.py", cwd=project)
    # `model(x)` in evaluate(): flake8 prints the same 1-based column as memlint.
    assert ("train.py", 9, 15, "MEM001") in [f[:4] for f in from_flake8]


def test_runs_alongside_flake8s_own_checks(project):
    result = run_flake8("train.py", cwd=project)
    codes = {line.split()[1] for line in result.stdout.splitlines()}
    assert {"F401", "MEM001"} <= codes, result.stdout + result.stderr


def test_stdin_and_display_name(memlint, project):
    result = run_flake8("--select", "MEM", "--stdin-display-name", "shown.py", "-", cwd=project, input=TRAIN)
    assert result.returncode == 1, result.stderr
    expected = [("shown.py", *rest) for _, *rest in memlint_findings(memlint, "train.py", cwd=project)]
    assert flake8_findings(result.stdout) == expected


def test_noqa_is_flake8s(project):
    lines = TRAIN.splitlines(keepends=True)
    lines[20] = lines[20].rstrip("\n") + "  # noqa: MEM002\n"  # running_loss += loss
    lines[8] = lines[8].rstrip("\n") + "  # noqa\n"  # out = model(x)
    lines[25] = lines[25].rstrip("\n") + "  # noqa: E501\n"  # another code: MEM005 still shows
    (project / "train.py").write_text("".join(lines))
    codes = [f[3] for f in flake8_findings(run_flake8("--select", "MEM", "train.py", cwd=project).stdout)]
    assert codes == ["MEM005"]
    # flake8's --disable-noqa brings them back: the plugin does not drop them itself.
    unsuppressed = run_flake8("--select", "MEM", "--disable-noqa", "train.py", cwd=project)
    assert [f[3] for f in flake8_findings(unsuppressed.stdout)] == ["MEM001", "MEM002", "MEM005"]


def test_memlint_file_level_noqa_is_honoured(project):
    (project / "train.py").write_text("# memlint: noqa: MEM002, MEM005\n" + TRAIN)
    codes = [f[3] for f in flake8_findings(run_flake8("--select", "MEM", "train.py", cwd=project).stdout)]
    assert codes == ["MEM001"]


def test_rule_option_from_setup_cfg_and_command_line(memlint, project):
    base = flake8_findings(run_flake8("--select", "MEM", "train.py", cwd=project).stdout)
    assert not any(f[1] == 27 for f in base)  # batch_size=8192 is fine by default
    (project / "setup.cfg").write_text("[flake8]\nmax-batch-size = 4096\n")
    configured = flake8_findings(run_flake8("--select", "MEM", "train.py", cwd=project).stdout)
    assert [f[1:4] for f in configured if f[1] == 27] == [(27, 44, "MEM005")]
    # memlint reads the same option from its own configuration and agrees.
    (project / "memlint.toml").write_text("max-batch-size = 4096\n")
    assert configured == memlint_findings(memlint, "train.py", cwd=project)
    # The command line wins over setup.cfg.
    raised = run_flake8("--select", "MEM", "--max-batch-size", "10000", "train.py", cwd=project)
    assert flake8_findings(raised.stdout) == base


def test_bad_option_value_is_a_usage_error(project):
    result = run_flake8("--select", "MEM", "--max-batch-size", "many", "train.py", cwd=project)
    assert result.returncode != 0
    assert "max-batch-size" in result.stderr and "Traceback" not in result.stderr


def test_syntax_error_file_is_flake8s_e999(project):
    (project / "broken.py").write_text("import torch\n\ndef f(:\n    model.eval()\n")
    result = run_flake8("broken.py", "train.py", cwd=project)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "memlint" not in result.stderr, result.stderr
    assert re.search(r"^broken\.py:3:\d+: E999 SyntaxError", result.stdout, re.MULTILINE), result.stdout
    assert not [line for line in result.stdout.splitlines() if line.startswith("broken.py") and " MEM" in line]
    assert "train.py:9:15: MEM001" in result.stdout  # the other file is still checked


def test_rules_off_by_default_stay_off(tmp_path, project):
    """A rule with default_enabled = False is reported only when selected (extend_default_ignore)."""
    extra = tmp_path / "extra_rules"
    extra.mkdir()
    (extra / "mem990_flake8_test_off.py").write_text(
        textwrap.dedent(
            '''
            import ast
            from memlint.rule import Rule


            class OffByDefault(Rule):
                code = "MEM990"
                name = "test-off-by-default"
                summary = "a test rule that is off unless selected"
                default_enabled = False

                def visit_Call(self, node):
                    if isinstance(node.func, ast.Name) and node.func.id == "DataLoader":
                        self.report(node, "test rule")
            '''
        )
    )
    # Put the extra rule on memlint.rules' search path before flake8 loads the plugin.
    (extra / "sitecustomize.py").write_text(
        f"import memlint.rules\nmemlint.rules.__path__.append({str(extra)!r})\n"
    )
    default = run_flake8("train.py", cwd=project, python_path=str(extra))
    assert "MEM001" in default.stdout, default.stdout + default.stderr
    assert "MEM990" not in default.stdout
    selected = run_flake8("--extend-select", "MEM990", "train.py", cwd=project, python_path=str(extra))
    assert "train.py:26:12: MEM990 test rule" in selected.stdout, selected.stdout + selected.stderr


def test_options_are_listed_in_flake8_help(project):
    result = run_flake8("--help", cwd=project)
    assert result.returncode == 0
    assert "--max-batch-size" in result.stdout
    assert re.search(r"memlint\S*: \d", result.stdout), "flake8 names the plugin and its version"
