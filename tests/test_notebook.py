"""Jupyter notebooks through the real `memlint` command: cells as one module, magics masked, fixes written back."""

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

EVAL_CELL = """\
model.eval()
for batch in batches:
    out = model(batch)
    print(out.sum().item())"""
# `model(batch)` in EVAL_CELL
EVAL_ROW, EVAL_COL = 3, 11


def write_notebook(path, cells, **metadata):
    notebook = new_notebook(cells=cells)
    notebook.metadata.update(metadata)
    nbformat.write(notebook, str(path))
    return path


def training_notebook(path):
    """Model built in cell 3, evaluated in cell 7, with markdown, magics and an empty cell between."""
    return write_notebook(
        path,
        [
            new_markdown_cell("# Evaluate a model"),
            new_code_cell(
                "import numpy as np\nfrom torch import nn\n%matplotlib inline",
                execution_count=1,
                outputs=[new_output("stream", name="stdout", text="ready\n")],
                metadata={"tags": ["setup"]},
            ),
            new_code_cell("model = nn.Linear(4, 2)\n!nvidia-smi\nbatches = [np.zeros(4)]", execution_count=2),
            new_markdown_cell("## The loop"),
            new_code_cell("%%time\nmodel.eval()\nfor b in batches:\n    model(b)"),
            new_code_cell(""),
            new_code_cell(
                EVAL_CELL,
                execution_count=7,
                outputs=[new_output("execute_result", data={"text/plain": "1.0"}, execution_count=7)],
            ),
        ],
        kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"},
    )


def cells(path):
    return nbformat.read(str(path), as_version=4).cells


def test_cells_are_one_module_and_findings_name_the_cell(memlint, tmp_path):
    training_notebook(tmp_path / "nb.ipynb")
    result = memlint("check", "--no-cache", "nb.ipynb", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    # The eval loop in cell 7 is found through the model built in cell 3; the `%%time` cell
    # (the same code) is never parsed, so it reports nothing.
    assert result.stdout.splitlines()[0].startswith(f"nb.ipynb:cell 7:{EVAL_ROW}:{EVAL_COL}: MEM001")
    assert "Found 1 error." in result.stdout

    as_json = memlint("check", "--no-cache", "--output-format", "json", "nb.ipynb", cwd=tmp_path)
    (finding,) = json.loads(as_json.stdout)
    assert finding["cell"] == 7
    assert finding["location"] == {"row": EVAL_ROW, "column": EVAL_COL}
    assert finding["filename"].endswith("nb.ipynb")


def test_same_position_as_the_code_in_a_script(memlint, tmp_path):
    """A cell's rows and columns are those of the same code on its own."""
    prefix = "import torch\n"
    script = tmp_path / "script.py"
    script.write_text(prefix + EVAL_CELL + "\n")
    write_notebook(tmp_path / "nb.ipynb", [new_code_cell(prefix + EVAL_CELL)])
    as_script = json.loads(memlint("check", "--no-cache", "--output-format", "json", "script.py", cwd=tmp_path).stdout)
    as_cell = json.loads(memlint("check", "--no-cache", "--output-format", "json", "nb.ipynb", cwd=tmp_path).stdout)
    assert [(f["code"], f["location"], f["end_location"]) for f in as_cell] == [
        (f["code"], f["location"], f["end_location"]) for f in as_script
    ]
    assert as_cell and as_cell[0]["cell"] == 1 and as_script[0]["cell"] is None


MAGICS_CELL = """\
%load_ext autoreload
!pip install --quiet \\
    torch
files = !ls
t = %timeit -o sum(range(3))
np.zeros?
?np.ones
scale = (2
         % 3)  # a modulo continuation is Python, not a magic
model.eval()
for batch in batches:
    %time out = model(batch)
    total = model(batch)
print('done?')  # a question mark in a string or comment is Python"""


def test_magics_are_masked_and_rows_stay(memlint, tmp_path):
    write_notebook(
        tmp_path / "nb.ipynb",
        [
            new_code_cell("import numpy as np\nimport torch\nmodel = torch.nn.Linear(4, 2)\nbatches = []"),
            new_code_cell(MAGICS_CELL),
        ],
    )
    result = memlint("check", "--no-cache", "--output-format", "json", "nb.ipynb", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    # Only `total = model(batch)` (row 13); the `%time` line is masked, never parsed.
    assert [(f["cell"], f["code"], f["location"]["row"], f["location"]["column"]) for f in findings] == [
        (2, "MEM001", 13, 13)
    ]


def test_fix_writes_cells_back_and_keeps_everything_else(memlint, tmp_path):
    path = training_notebook(tmp_path / "nb.ipynb")
    before = cells(path)
    result = memlint("check", "--no-cache", "--fix", "nb.ipynb", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    after = cells(path)
    assert len(after) == len(before)
    assert after[6].source == (
        "model.eval()\n"
        "with torch.no_grad():\n"
        "    for batch in batches:\n"
        "        out = model(batch)\n"
        "        print(out.sum().item())"
    )
    # `import torch` lands in the first code cell, next to its imports; the magic line survives.
    assert after[1].source.startswith("import numpy as np\nfrom torch import nn\nimport torch\n")
    assert after[1].source.endswith("%matplotlib inline")
    for index in (0, 2, 3, 4, 5):
        assert after[index] == before[index], index
    for index in (1, 6):  # outputs, execution counts and metadata are untouched
        assert {k: v for k, v in after[index].items() if k != "source"} == {
            k: v for k, v in before[index].items() if k != "source"
        }
    assert json.loads(path.read_text())["metadata"]["kernelspec"]["name"] == "python3"
    # The fixed notebook is clean, and a second --fix changes nothing.
    assert memlint("check", "--no-cache", "nb.ipynb", cwd=tmp_path).returncode == 0
    text = path.read_text()
    assert memlint("check", "--no-cache", "--fix", "nb.ipynb", cwd=tmp_path).returncode == 0
    assert path.read_text() == text


def test_added_import_moves_to_the_first_code_cell(memlint, tmp_path):
    """libcst adds imports after the module's leading imports, which can end in a later cell."""
    path = write_notebook(
        tmp_path / "nb.ipynb",
        [
            new_markdown_cell("setup"),
            new_code_cell("!pip install --quiet torch\nimport numpy as np"),
            new_code_cell("from torch import nn\nmodel = nn.Linear(4, 2)\nbatches = [np.zeros(4)]"),
            new_code_cell(EVAL_CELL),
        ],
    )
    result = memlint("check", "--no-cache", "--fix", "nb.ipynb", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    after = cells(path)
    assert after[1].source == "!pip install --quiet torch\nimport numpy as np\nimport torch"
    assert after[2].source == "from torch import nn\nmodel = nn.Linear(4, 2)\nbatches = [np.zeros(4)]"
    assert "with torch.no_grad():" in after[3].source


def test_unchanged_notebook_bytes_survive_a_fix_run(memlint, tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", [new_code_cell("import torch\n%env X=1\nx = torch.ones(2)")])
    raw = path.read_bytes()
    result = memlint("check", "--no-cache", "--fix", "nb.ipynb", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert path.read_bytes() == raw


def test_diff_names_cells_and_writes_nothing(memlint, tmp_path):
    path = training_notebook(tmp_path / "nb.ipynb")
    raw = path.read_bytes()
    result = memlint("check", "--no-cache", "--diff", "nb.ipynb", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "--- nb.ipynb:cell 7\n+++ nb.ipynb:cell 7\n" in result.stdout
    assert "+with torch.no_grad():\n" in result.stdout
    assert "--- nb.ipynb:cell 2\n" in result.stdout and "+import torch\n" in result.stdout
    assert path.read_bytes() == raw


def test_unparsable_cell_is_a_problem_and_other_files_are_checked(memlint, tmp_path):
    write_notebook(
        tmp_path / "broken.ipynb",
        [
            new_code_cell("import torch"),
            new_markdown_cell("text"),
            new_code_cell("x = 1\ndef broken(:\n    pass"),
        ],
    )
    (tmp_path / "script.py").write_text("import torch\n" + EVAL_CELL + "\n")
    result = memlint("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2
    problem = [line for line in result.stderr.splitlines() if "broken.ipynb" in line]
    assert len(problem) == 1 and problem[0].startswith("broken.ipynb:cell 3:2:") and "cannot parse" in problem[0]
    assert "script.py:4:11: MEM001" in result.stdout


def test_directory_walk_includes_notebooks(memlint, tmp_path):
    (tmp_path / "notebooks").mkdir()
    training_notebook(tmp_path / "notebooks" / "eval.ipynb")
    (tmp_path / "notebooks" / "clean.ipynb").write_text(
        nbformat.writes(new_notebook(cells=[new_markdown_cell("nothing to see"), new_code_cell("")]))
    )
    result = memlint("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "notebooks/eval.ipynb:cell 7:3:11: MEM001" in result.stdout
    assert "clean.ipynb" not in result.stdout + result.stderr


def test_noqa_in_a_cell(memlint, tmp_path):
    noqa_cell = EVAL_CELL.replace("out = model(batch)", "out = model(batch)  # noqa: MEM001")
    write_notebook(
        tmp_path / "nb.ipynb",
        [new_code_cell("import torch\nmodel = torch.nn.Linear(4, 2)\nbatches = []"), new_code_cell(noqa_cell)],
    )
    result = memlint("check", "--no-cache", "nb.ipynb", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "content, message",
    [("{not json", "not a readable notebook"), ('{"nbformat": 4, "cells": 3}', "not a readable notebook")],
)
def test_unreadable_notebook_is_a_problem(memlint, tmp_path, content, message):
    (tmp_path / "bad.ipynb").write_text(content)
    result = memlint("check", "--no-cache", "bad.ipynb", cwd=tmp_path)
    assert result.returncode == 2
    assert f"bad.ipynb: {message}" in result.stderr
    assert "Traceback" not in result.stderr


def test_non_python_kernel_is_skipped(memlint, tmp_path):
    write_notebook(
        tmp_path / "r.ipynb",
        [new_code_cell("import torch\n" + EVAL_CELL)],
        kernelspec={"name": "ir", "display_name": "R", "language": "R"},
    )
    result = memlint("check", "--no-cache", "r.ipynb", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_fix_that_would_cross_cells_is_not_offered(memlint, tmp_path):
    """Wrapping a script-level evaluation in `with torch.no_grad():` up to its last forward pass
    would pull the next cell into this one; such a fix is neither offered nor applied."""
    path = write_notebook(
        tmp_path / "nb.ipynb",
        [
            new_code_cell("import torch\nmodel = torch.nn.Linear(2, 2)\nx = torch.ones(2)"),
            new_code_cell("model.eval()\nprint(model(x))"),
            new_code_cell("print(model(x) * 2)"),
        ],
    )
    raw = path.read_bytes()
    checked = memlint("check", "--no-cache", "--output-format", "json", "nb.ipynb", cwd=tmp_path)
    findings = json.loads(checked.stdout)
    assert [(f["cell"], f["code"]) for f in findings][:1] == [(2, "MEM001")]
    crossing = [f for f in findings if f["fix"] is None]
    fixed = memlint("check", "--no-cache", "--fix", "--unsafe-fixes", "nb.ipynb", cwd=tmp_path)
    assert fixed.returncode in (0, 1), fixed.stdout + fixed.stderr  # never a problem (2)
    after = cells(path)
    assert after[2].source.startswith("print(")  # the third cell was not swallowed
    for cell in after:
        compile(cell.source, "cell", "exec")
    if crossing:
        assert path.read_bytes() == raw
