"""Machine-readable outputs keep what a run found: files that could not be checked, notebook cells,
severities, and file names that are not plain (non-UTF-8 bytes, newlines). Real subprocesses."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from samples import EVAL_LOOP, EVAL_LOOP_COL, EVAL_LOOP_ROW

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())
BROKEN = "import torch\n\ndef f(:\n    pass\n"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "train.py").write_text(EVAL_LOOP)
    (tmp_path / "broken.py").write_text(BROKEN)
    return tmp_path


def run_bytes(*args, cwd):
    """stdout as bytes: the output must be valid UTF-8 whatever the file names hold."""
    return subprocess.run([sys.executable, "-m", "memlint", *args], cwd=cwd, capture_output=True, timeout=300)


# ---------------------------------------------------------------- files that could not be checked


def test_json_reports_a_syntax_error_as_ruff_does(memlint, project):
    result = memlint("check", "--output-format", "json", ".", cwd=project)
    assert result.returncode == 2
    entries = json.loads(result.stdout)
    [error] = [e for e in entries if e["code"] is None]
    assert error["name"] == "syntax-error"
    assert error["message"].startswith("SyntaxError: ")
    assert error["filename"] == str(project / "broken.py")
    assert error["location"]["row"] == 3 and error["fix"] is None and error["url"] is None
    assert error["severity"] == "error"
    assert [e["code"] for e in entries if e["code"]] == ["MEM001"]
    assert "broken.py:3:" in result.stderr  # the one-line report stays on stderr


def test_json_reports_other_unreadable_files(memlint, tmp_path):
    (tmp_path / "latin.py").write_bytes(b"import torch\nname = '\xff\xfe\xfa'\n")
    entries = json.loads(memlint("check", "--output-format", "json", "latin.py", "gone.py", cwd=tmp_path).stdout)
    assert {(Path(e["filename"]).name, e["name"]) for e in entries} == {
        ("latin.py", "decode-error"), ("gone.py", "io-error")
    }


def test_sarif_reports_failures_as_tool_notifications(memlint, project):
    result = memlint("check", "--output-format", "sarif", ".", cwd=project)
    assert result.returncode == 2
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    [invocation] = document["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    [note] = invocation["toolExecutionNotifications"]
    assert note["level"] == "error" and note["descriptor"]["id"] == "syntax-error"
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "broken.py"
    assert note["locations"][0]["physicalLocation"]["region"]["startLine"] == 3
    assert [r["ruleId"] for r in document["runs"][0]["results"]] == ["MEM001"]
    clean = json.loads(memlint("check", "--output-format", "sarif", "train.py", cwd=project).stdout)
    assert clean["runs"][0]["invocations"][0] == {"executionSuccessful": True, "toolExecutionNotifications": []}


def test_github_annotates_failures(memlint, project):
    result = memlint("check", "--output-format", "github", ".", cwd=project)
    lines = result.stdout.splitlines()
    assert any(line.startswith("::error title=memlint,file=broken.py,line=3,") and "SyntaxError" in line
               for line in lines), lines


def test_severity_in_json_and_sarif(memlint, project):
    [finding] = json.loads(memlint("check", "--output-format", "json", "train.py", cwd=project).stdout)
    assert finding["severity"] == "error"
    sarif = json.loads(memlint("check", "--output-format", "sarif", "train.py", cwd=project).stdout)
    assert sarif["runs"][0]["results"][0]["level"] == "error"
    levels = {r["id"]: r["defaultConfiguration"]["level"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert levels["MEM001"] == "error" and levels["MEM005"] == "warning"


# ---------------------------------------------------------------- notebooks


@pytest.fixture
def notebook(tmp_path):
    cells = [new_markdown_cell("# Evaluation"), new_code_cell("x = 1"), new_code_cell(EVAL_LOOP)]
    path = tmp_path / "eval.ipynb"
    nbformat.write(new_notebook(cells=cells), str(path))
    return path


def test_github_names_the_notebook_cell(memlint, notebook):
    result = memlint("check", "--output-format", "github", notebook.name, cwd=notebook.parent)
    [line] = result.stdout.splitlines()
    props, message = line.split("::", 2)[1:]
    assert props == "error title=memlint (MEM001),file=eval.ipynb"  # no line: cell rows are not file rows
    assert message.startswith(f"eval.ipynb:cell 3:{EVAL_LOOP_ROW}:{EVAL_LOOP_COL}: MEM001 ")


def test_sarif_names_the_notebook_cell(memlint, notebook):
    document = json.loads(memlint("check", "--output-format", "sarif", notebook.name, cwd=notebook.parent).stdout)
    jsonschema.validate(document, SCHEMA)
    [result] = document["runs"][0]["results"]
    assert result["message"]["text"].startswith(f"cell 3, line {EVAL_LOOP_ROW}, column {EVAL_LOOP_COL}: ")
    assert result["properties"] == {"cell": 3}
    location = result["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "eval.ipynb"}}


def test_full_output_shows_the_cell_line(memlint, notebook):
    result = memlint("check", "--output-format", "full", notebook.name, cwd=notebook.parent)
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"eval.ipynb:cell 3:{EVAL_LOOP_ROW}:{EVAL_LOOP_COL}: MEM001")
    source = next(i for i, line in enumerate(lines) if "out = model(x)" in line)
    assert lines[source].startswith(f"{EVAL_LOOP_ROW} |")
    assert lines[source + 1].index("^") == lines[source].index("model(x)")


# ---------------------------------------------------------------- odd file names (issue 15, item 20)

needs_bytes_names = pytest.mark.skipif(
    sys.platform == "darwin" or os.name == "nt", reason="the file system must accept non-UTF-8 names"
)


@needs_bytes_names
def test_non_utf8_file_name(tmp_path):
    name = b"caf\xe9.py"  # Latin-1 bytes: not UTF-8
    with open(os.path.join(os.fsencode(tmp_path), name), "w") as handle:
        handle.write(EVAL_LOOP)
    concise = run_bytes("check", "--no-cache", ".", cwd=tmp_path)
    assert concise.returncode == 1
    assert concise.stdout.decode("utf-8").splitlines()[0].startswith(
        f"caf\\xe9.py:{EVAL_LOOP_ROW}:{EVAL_LOOP_COL}: MEM001"
    )
    as_json = run_bytes("check", "--no-cache", "--output-format", "json", ".", cwd=tmp_path)
    [finding] = json.loads(as_json.stdout.decode("utf-8"))  # strict UTF-8: no lone surrogates
    assert finding["filename"] == str(tmp_path / "caf\ufffd.py")
    sarif = run_bytes("check", "--no-cache", "--output-format", "sarif", ".", cwd=tmp_path)
    document = json.loads(sarif.stdout.decode("utf-8"))
    jsonschema.validate(document, SCHEMA)
    assert document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "caf%E9.py"  # the original bytes, percent-encoded
    )
    github = run_bytes("check", "--no-cache", "--output-format", "github", ".", cwd=tmp_path)
    assert github.stdout.decode("utf-8").startswith("::error title=memlint (MEM001),file=caf\ufffd.py,")


def test_newline_in_file_name(tmp_path):
    (tmp_path / "a\nb.py").write_text(EVAL_LOOP)
    (tmp_path / "broken\n.py").write_text(BROKEN)
    result = run_bytes("check", "--no-cache", ".", cwd=tmp_path)
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith(f"a\\nb.py:{EVAL_LOOP_ROW}:{EVAL_LOOP_COL}: MEM001")
    assert lines[1] == "Found 1 error."
    assert result.stderr.decode().splitlines()[0].startswith("broken\\n.py:3:")
    entries = json.loads(run_bytes("check", "--no-cache", "--output-format", "json", ".", cwd=tmp_path).stdout)
    assert {Path(e["filename"]).name for e in entries} == {"a\nb.py", "broken\n.py"}
    github = run_bytes("check", "--no-cache", "--output-format", "github", ".", cwd=tmp_path).stdout.decode()
    assert len(github.splitlines()) == 2 and "file=a%0Ab.py," in github  # GitHub's own escaping
