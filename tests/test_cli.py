"""The command line as a user meets it: real `python -m memlint` subprocesses."""

import json
import os
import re
from pathlib import Path

import jsonschema
import pytest

from samples import CLEAN, EVAL_LOOP, EVAL_LOOP_COL, EVAL_LOOP_ROW

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def project(tmp_path):
    (tmp_path / "train.py").write_text(EVAL_LOOP)
    (tmp_path / "clean.py").write_text(CLEAN)
    return tmp_path


# ---------------------------------------------------------------- exit codes and short forms


def test_clean_file_exits_0(memlint, project):
    result = memlint("check", "clean.py", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "All checks passed!" in result.stdout


def test_finding_exits_1_with_location(memlint, project):
    result = memlint("check", "train.py", cwd=project)
    assert result.returncode == 1, result.stderr
    assert f"train.py:{EVAL_LOOP_ROW}:{EVAL_LOOP_COL}: MEM001" in result.stdout
    assert "Found 1 error." in result.stdout


def test_exit_zero(memlint, project):
    assert memlint("check", "--exit-zero", "train.py", cwd=project).returncode == 0


def test_short_forms_mean_check(memlint, project):
    long = memlint("check", "train.py", cwd=project)
    short = memlint("train.py", cwd=project)
    assert (short.returncode, short.stdout) == (long.returncode, long.stdout)
    # `memlint --fix x` is `memlint check --fix x`
    copy = project / "copy.py"
    copy.write_text(EVAL_LOOP)
    fixed_short = memlint("--fix", "copy.py", cwd=project)
    assert fixed_short.returncode == 0, fixed_short.stdout + fixed_short.stderr
    assert copy.read_text() != EVAL_LOOP


def test_default_path_is_current_directory(memlint, project):
    result = memlint(cwd=project)
    assert result.returncode == 1
    assert "train.py" in result.stdout and "clean.py" not in result.stdout


def test_version_and_help(memlint):
    from memlint import __version__

    version = memlint("--version")
    assert version.returncode == 0 and __version__ in version.stdout
    assert memlint("--help").returncode == 0


def test_unknown_option_is_usage_error(memlint, project):
    result = memlint("check", "--no-such-flag", "train.py", cwd=project)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "no-such-flag" in result.stderr


def test_deterministic_order_across_files(memlint, tmp_path):
    for name in ("b.py", "a.py", "c.py"):
        (tmp_path / name).write_text(EVAL_LOOP)
    result = memlint("check", "--output-format", "concise", "c.py", ".", cwd=tmp_path)
    files = [line.split(":")[0] for line in result.stdout.splitlines() if "MEM001" in line]
    assert files == sorted(files) and len(files) == 3


# ---------------------------------------------------------------- output formats


def test_concise_has_no_colour_when_piped(memlint, project):
    result = memlint("check", "train.py", cwd=project)
    assert not ANSI.search(result.stdout)


def test_colour_on_terminal_and_no_color_respected(project):
    """Run under a pseudo-terminal: colour appears, and NO_COLOR removes it."""
    import pty
    import subprocess
    import sys

    def run_on_tty(extra_env):
        master, slave = pty.openpty()
        env = {**os.environ, "TERM": "xterm-256color", **extra_env}
        env.pop("NO_COLOR", None) if "NO_COLOR" not in extra_env else None
        proc = subprocess.Popen(
            [sys.executable, "-m", "memlint", "check", "train.py"], cwd=project, stdout=slave, stderr=slave, env=env
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=120)
        os.close(master)
        return b"".join(chunks).decode()

    assert ANSI.search(run_on_tty({}))
    assert not ANSI.search(run_on_tty({"NO_COLOR": "1"}))


def test_full_format_shows_source_and_caret(memlint, project):
    result = memlint("check", "--output-format", "full", "train.py", cwd=project)
    lines = result.stdout.splitlines()
    source_index = next(i for i, line in enumerate(lines) if "out = model(x)" in line)
    caret_line = lines[source_index + 1]
    assert caret_line.index("^") == lines[source_index].index("model(x)")
    assert "MEM001" in caret_line


def test_json_uses_ruff_field_names(memlint, project):
    result = memlint("check", "--output-format", "json", "train.py", cwd=project)
    assert result.returncode == 1
    [finding] = json.loads(result.stdout)
    assert set(finding) >= {
        "code", "message", "filename", "location", "end_location", "fix", "url", "noqa_row", "name", "cell",
    }
    assert finding["code"] == "MEM001"
    assert finding["filename"] == str(project / "train.py")
    assert finding["location"] == {"row": EVAL_LOOP_ROW, "column": EVAL_LOOP_COL}
    assert finding["end_location"]["row"] == EVAL_LOOP_ROW
    assert finding["noqa_row"] == EVAL_LOOP_ROW
    fix = finding["fix"]
    assert fix["applicability"] in ("safe", "unsafe") and fix["message"] and fix["edits"]


def test_json_edits_reproduce_the_fix(memlint, project):
    """Applying the JSON edits to the file gives what --fix writes."""
    result = memlint("check", "--output-format", "json", "--unsafe-fixes", "train.py", cwd=project)
    [finding] = json.loads(result.stdout)
    lines = EVAL_LOOP.splitlines(keepends=True)
    for edit in sorted(finding["fix"]["edits"], key=lambda e: e["location"]["row"], reverse=True):
        start, end = edit["location"]["row"] - 1, edit["end_location"]["row"] - 1
        lines[start:end] = [edit["content"]]
    applied = "".join(lines)
    assert memlint("check", "--fix", "--unsafe-fixes", "train.py", cwd=project).returncode == 0
    assert applied == (project / "train.py").read_text()


def test_github_format(memlint, project):
    result = memlint("check", "--output-format", "github", "train.py", cwd=project)
    assert result.returncode == 1
    [line] = result.stdout.splitlines()
    assert re.fullmatch(  # MEM001's severity is "error"
        rf"::error title=memlint \(MEM001\),file=train\.py,line={EVAL_LOOP_ROW},col={EVAL_LOOP_COL},"
        rf"endLine={EVAL_LOOP_ROW},endColumn=\d+::train\.py:{EVAL_LOOP_ROW}:{EVAL_LOOP_COL}: MEM001 .+",
        line,
    )


def test_github_format_escapes(memlint, tmp_path):
    odd = tmp_path / "a,b:c.py"
    odd.write_text(EVAL_LOOP)
    result = memlint("check", "--output-format", "github", odd.name, cwd=tmp_path)
    assert "file=a%2Cb%3Ac.py," in result.stdout


def test_sarif_validates_against_schema(memlint, project):
    result = memlint("check", "--output-format", "sarif", ".", cwd=project)
    assert result.returncode == 1
    document = json.loads(result.stdout)
    schema = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(document, schema)
    run = document["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    [sarif_result] = run["results"]
    assert rule_ids[sarif_result["ruleIndex"]] == sarif_result["ruleId"] == "MEM001"
    region = sarif_result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (EVAL_LOOP_ROW, EVAL_LOOP_COL)
    assert sarif_result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "train.py"


def test_statistics(memlint, tmp_path):
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(EVAL_LOOP)
    result = memlint("check", "--statistics", ".", cwd=tmp_path)
    assert result.returncode == 1
    assert re.search(r"^2\s+MEM001\s+.*eval-without-no-grad", result.stdout, re.MULTILINE)


# ---------------------------------------------------------------- suppression


@pytest.mark.parametrize(
    "comment, suppressed",
    [("  # noqa: MEM001", True), ("  # noqa", True), ("  # NOQA:MEM001,MEM002", True), ("  # noqa: MEM002", False)],
)
def test_line_noqa(memlint, tmp_path, comment, suppressed):
    source = EVAL_LOOP.replace("out = model(x)", "out = model(x)" + comment)
    (tmp_path / "t.py").write_text(source)
    result = memlint("check", "t.py", cwd=tmp_path)
    assert result.returncode == (0 if suppressed else 1)


@pytest.mark.parametrize("header, suppressed", [("# memlint: noqa", True), ("# memlint: noqa: MEM001", True),
                                                ("# memlint: noqa: MEM002", False)])
def test_file_level_noqa(memlint, tmp_path, header, suppressed):
    (tmp_path / "t.py").write_text(header + "\n" + EVAL_LOOP)
    assert memlint("check", "t.py", cwd=tmp_path).returncode == (0 if suppressed else 1)


def test_noqa_also_blocks_the_fix(memlint, tmp_path):
    source = EVAL_LOOP.replace("out = model(x)", "out = model(x)  # noqa: MEM001")
    target = tmp_path / "t.py"
    target.write_text(source)
    memlint("check", "--fix", "--unsafe-fixes", "t.py", cwd=tmp_path)
    assert target.read_text() == source


# ---------------------------------------------------------------- configuration


def test_pyproject_ignore(memlint, project):
    (project / "pyproject.toml").write_text('[tool.memlint]\nignore = ["MEM001"]\n')
    assert memlint("check", "train.py", cwd=project).returncode == 0


def test_pyproject_select_prefix(memlint, project):
    (project / "pyproject.toml").write_text('[tool.memlint]\nselect = ["MEM00"]\n')
    assert memlint("check", "train.py", cwd=project).returncode == 1


def test_memlint_toml_found_from_file_directory_upwards(memlint, tmp_path):
    sub = tmp_path / "pkg" / "deep"
    sub.mkdir(parents=True)
    (sub / "train.py").write_text(EVAL_LOOP)
    (tmp_path / "pkg" / "memlint.toml").write_text('ignore = ["MEM001"]\n')
    # Run from outside the project: the file's own directory chain decides.
    assert memlint("check", str(sub / "train.py"), cwd=tmp_path.parent).returncode == 0


def test_per_file_ignores(memlint, tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_eval.py").write_text(EVAL_LOOP)
    (tmp_path / "train.py").write_text(EVAL_LOOP)
    (tmp_path / "pyproject.toml").write_text('[tool.memlint.per-file-ignores]\n"tests/*" = ["MEM001"]\n')
    result = memlint("check", ".", cwd=tmp_path)
    assert "train.py" in result.stdout and "test_eval.py" not in result.stdout


def test_exclude_and_extend_exclude(memlint, tmp_path):
    for folder in ("legacy", "generated", "src"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "train.py").write_text(EVAL_LOOP)
    (tmp_path / "pyproject.toml").write_text('[tool.memlint]\nextend-exclude = ["legacy"]\n')
    result = memlint("check", "--extend-exclude", "generated", ".", cwd=tmp_path)
    assert "src/train.py" in result.stdout
    assert "legacy" not in result.stdout and "generated" not in result.stdout


def test_hidden_and_virtualenv_folders_skipped(memlint, tmp_path):
    for folder in (".hidden", "venv", ".venv", "node_modules"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "train.py").write_text(EVAL_LOOP)
    (tmp_path / "clean.py").write_text(CLEAN)
    assert memlint("check", ".", cwd=tmp_path).returncode == 0


def test_cli_select_overrides_config(memlint, project):
    """As in ruff: --select on the command line starts over, so the file's ignore no longer applies."""
    (project / "pyproject.toml").write_text('[tool.memlint]\nignore = ["MEM001"]\n')
    assert memlint("check", "train.py", cwd=project).returncode == 0
    result = memlint("check", "--select", "MEM001", "train.py", cwd=project)
    assert result.returncode == 1 and "MEM001" in result.stdout
    (project / "pyproject.toml").write_text('[tool.memlint]\nselect = ["MEM002"]\n')
    assert memlint("check", "--select", "MEM001", "train.py", cwd=project).returncode == 1
    # --ignore on the command line still removes from the configured selection; --extend-select adds.
    (project / "pyproject.toml").write_text('[tool.memlint]\nselect = ["MEM001"]\n')
    assert memlint("check", "--ignore", "MEM001", "train.py", cwd=project).returncode == 0
    (project / "pyproject.toml").write_text('[tool.memlint]\nignore = ["MEM001"]\n')
    assert memlint("check", "--extend-select", "MEM001", "train.py", cwd=project).returncode == 1


@pytest.mark.parametrize(
    "table, fires",
    [
        ('select = ["MEM"]\nignore = ["MEM001"]', False),  # the more specific ignore wins
        ('select = ["MEM001"]\nignore = ["MEM0"]', True),  # the more specific select wins
        ('select = ["MEM001"]\nignore = ["MEM001"]', False),  # equal: ignore wins
        ('extend-select = ["MEM001"]\nignore = ["MEM"]', True),
    ],
)
def test_selector_specificity_within_one_file(memlint, project, table, fires):
    (project / "pyproject.toml").write_text(f"[tool.memlint]\n{table}\n")
    assert memlint("check", "train.py", cwd=project).returncode == (1 if fires else 0)


def test_show_settings(memlint, project):
    (project / "pyproject.toml").write_text(
        '[tool.memlint]\nignore = ["MEM005"]\nmax-batch-size = 512\n'
        '[tool.memlint.per-file-ignores]\n"train.py" = ["MEM002"]\n'
    )
    result = memlint("check", "--select", "MEM005,MEM001,MEM002", "--show-settings", "train.py", cwd=project)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Resolved settings for: train.py"
    assert lines[1] == f"Settings path: {project / 'pyproject.toml'} [tool.memlint]"
    assert "rules enabled for this file = [MEM001, MEM005]" in lines  # MEM002: per-file-ignores
    assert 'ignore = ["MEM005"]' in lines and '--select = ["MEM005", "MEM001", "MEM002"]' in lines
    assert "max-batch-size = 512" in lines
    missing = memlint("check", "--show-settings", "nope.py", cwd=project)
    assert missing.returncode == 2 and "nope.py: no such file or directory" in missing.stderr


def test_explicit_config(memlint, project):
    config = project / "other.toml"
    config.write_text('ignore = ["MEM001"]\n')
    assert memlint("check", "--config", "other.toml", "train.py", cwd=project).returncode == 0


@pytest.mark.parametrize(
    "content, expected",
    [
        ('[tool.memlint\nselect = ["MEM001"]\n', "invalid TOML"),
        ('[tool.memlint]\nselct = ["MEM001"]\n', "unknown key 'selct'; valid keys:"),
        ('[tool.memlint]\nselect = ["MEM999"]\n', "unknown rule selector 'MEM999'"),
        ('[tool.memlint]\nselect = "MEM001"\nignore = 3\n', "'ignore' must be a list of strings"),
        # Numbers (issue 15, item 23): TOML reads nan and inf as floats; none is a size or a count.
        ("[tool.memlint]\nmax-file-size-mb = nan\n", "'max-file-size-mb' must be a positive number, not nan"),
        ("[tool.memlint]\nmax-file-size-mb = inf\n", "'max-file-size-mb' must be a positive number, not inf"),
        ("[tool.memlint]\nmax-file-size-mb = -1\n", "'max-file-size-mb' must be a positive number, not -1"),
        ("[tool.memlint]\nmax-file-size-mb = 0\n", "'max-file-size-mb' must be a positive number, not 0"),
        ("[tool.memlint]\nmax-batch-size = -1\n", "'max-batch-size' must be a non-negative integer, not -1"),
        ("[tool.memlint]\nmax-batch-size = nan\n", "'max-batch-size' must be a non-negative integer, not nan"),
        ("[tool.memlint]\nmax-batch-size = 12.5\n", "'max-batch-size' must be a non-negative integer, not 12.5"),
        ('[tool.memlint]\nmax-batch-size = "-5"\n', "'max-batch-size' must be a non-negative integer, not -5"),
        ("[tool.memlint]\nmax-batch-size = true\n", "'max-batch-size' must be a non-negative integer, not True"),
    ],
)
def test_bad_config_is_a_clear_error(memlint, project, content, expected):
    (project / "pyproject.toml").write_text(content)
    result = memlint("check", "train.py", cwd=project)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_template_pyproject_that_never_names_memlint_is_not_its_config(memlint, project):
    # A cookiecutter template inside the repository: its pyproject.toml holds Jinja tags and is
    # not TOML until rendered. It cannot configure memlint, so it does not stop the check; the
    # settings above it apply to the template's files.
    template = project / "template" / "{{cookiecutter.name}}"
    template.mkdir(parents=True)
    (template / "pyproject.toml").write_text('[project]\ndependencies = [\n{%- if x %}\n"torch",\n{%- endif %}\n]\n')
    (template / "loop.py").write_text(EVAL_LOOP)
    (project / "pyproject.toml").write_text('[tool.memlint]\nignore = ["MEM002"]\n')
    result = memlint("check", "--output-format", "json", ".", cwd=project)
    assert result.returncode == 1, result.stderr
    found = {(Path(f["filename"]).name, f["code"]) for f in json.loads(result.stdout)}
    assert ("loop.py", "MEM001") in found and ("train.py", "MEM001") in found
    # One that names memlint is memlint's to judge: a clear error.
    (template / "pyproject.toml").write_text("[tool.memlint\nselect = []\n")
    broken = memlint("check", ".", cwd=project)
    assert broken.returncode == 2 and "invalid TOML" in broken.stderr and "Traceback" not in broken.stderr


def test_unknown_code_on_command_line(memlint, project):
    result = memlint("check", "--select", "MEM001,XYZ9", "train.py", cwd=project)
    assert result.returncode == 2
    assert "unknown rule selector 'XYZ9'" in result.stderr and "MEM001" in result.stderr


# ---------------------------------------------------------------- rule documentation


def test_rule_document(memlint):
    result = memlint("rule", "MEM001")
    assert result.returncode == 0
    assert "## What it does" in result.stdout and "## Fix safety" in result.stdout


def test_rule_all_lists_every_rule(memlint):
    from memlint.rules import all_rules

    result = memlint("rule", "--all", "--output-format", "json")
    rows = json.loads(result.stdout)
    assert [row["code"] for row in rows] == list(all_rules())
    assert all(row["default"] in ("on", "off") and row["fix"] in ("always", "sometimes", "none") for row in rows)
    text = memlint("rule", "--all")
    assert "eval-without-no-grad" in text.stdout


def test_unknown_rule(memlint):
    result = memlint("rule", "MEM999")
    assert result.returncode == 2 and "valid codes" in result.stderr


BIG_BATCH = """\
import torch
from torch.utils.data import DataLoader


def make_loader(dataset):
    return DataLoader(dataset, batch_size=4096, shuffle=True)
"""


def test_rule_option_from_pyproject(memlint, tmp_path):
    (tmp_path / "data.py").write_text(BIG_BATCH)
    assert memlint("check", "data.py", cwd=tmp_path).returncode == 0  # max-batch-size is off by default
    (tmp_path / "pyproject.toml").write_text("[tool.memlint]\nmax-batch-size = 1024\n")
    result = memlint("check", "data.py", cwd=tmp_path)
    assert result.returncode == 1 and "MEM005" in result.stdout
    (tmp_path / "pyproject.toml").write_text('[tool.memlint]\nmax-batch-size = "lots"\n')
    bad = memlint("check", "data.py", cwd=tmp_path)
    assert bad.returncode == 2 and "'max-batch-size' must be a non-negative integer, not 'lots'" in bad.stderr


def test_cache_dir_setting(memlint, project):
    (project / "pyproject.toml").write_text('[tool.memlint]\ncache-dir = "build-cache/memlint"\n')
    first = memlint("check", "train.py", cwd=project)
    assert (project / "build-cache" / "memlint" / "CACHEDIR.TAG").is_file()
    assert not (project / ".memlint_cache").exists()
    second = memlint("check", "train.py", cwd=project)
    assert first.stdout == second.stdout and second.returncode == 1
