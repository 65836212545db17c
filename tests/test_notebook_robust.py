"""Notebooks as IPython and Jupyter accept them, and never rewritten into another form (#15 items 11, 12, 17, 24)."""

import json

import nbformat
from nbformat import v3
from nbformat.v4 import new_code_cell, new_notebook

from test_notebook import EVAL_CELL, EVAL_COL, EVAL_ROW, cells, write_notebook

SETUP = "import torch\nmodel = torch.nn.Linear(4, 2)\nbatches = [torch.zeros(4)]"


def check(memlint, tmp_path, *args):
    return memlint("check", "--no-cache", *args, cwd=tmp_path)


def finding_at(result, cell, row, col):
    return f"nb.ipynb:cell {cell}:{row}:{col}: MEM001" in result.stdout


def test_cell_indented_as_a_whole_is_read_as_ipython_reads_it(memlint, tmp_path):
    indented = "".join(" " + line for line in EVAL_CELL.splitlines(keepends=True))
    write_notebook(tmp_path / "nb.ipynb", [new_code_cell(SETUP), new_code_cell(indented)])
    result = check(memlint, tmp_path, "nb.ipynb")
    assert result.returncode == 1, result.stderr
    assert finding_at(result, 2, EVAL_ROW, EVAL_COL + 1)
    fixed = check(memlint, tmp_path, "--fix", "nb.ipynb")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    source = cells(tmp_path / "nb.ipynb")[1].source
    assert "torch.no_grad()" in source
    lines = [line for line in source.splitlines() if line.strip()]
    assert all(line.startswith(" ") for line in lines)
    # What IPython runs (the first line's indentation removed) is valid Python.
    compile("\n".join(line[1:] for line in source.splitlines()), "cell", "exec")
    assert check(memlint, tmp_path, "--fix", "nb.ipynb").returncode == 0
    assert cells(tmp_path / "nb.ipynb")[1].source == source


def test_automagic_lines_do_not_make_the_notebook_unchecked(memlint, tmp_path):
    magic = "cd data\npip install torchvision\nls -la\npwd\nrun prepare.py --fast\ntime = 3\n"
    write_notebook(tmp_path / "nb.ipynb", [new_code_cell(magic), new_code_cell(SETUP), new_code_cell(EVAL_CELL)])
    result = check(memlint, tmp_path, "nb.ipynb")
    assert result.returncode == 1, result.stderr
    assert finding_at(result, 3, EVAL_ROW, EVAL_COL)
    assert check(memlint, tmp_path, "--fix", "nb.ipynb").returncode == 0
    assert cells(tmp_path / "nb.ipynb")[0].source == magic


def test_colab_mixed_tabs_in_a_cell(memlint, tmp_path):
    cell = "if True:\n\t  model.eval()\n\t  for b in batches:\n\t\t    out = model(b)\n"
    write_notebook(tmp_path / "nb.ipynb", [new_code_cell(SETUP), new_code_cell(cell)])
    result = check(memlint, tmp_path, "nb.ipynb")
    assert result.returncode == 1, result.stderr
    assert finding_at(result, 2, 4, 13)


def _raw_notebook(tmp_path, cells_json, minor=5):
    path = tmp_path / "nb.ipynb"
    notebook = {
        "cells": cells_json,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": minor,
    }
    path.write_text(json.dumps(notebook, indent=1) + "\n")
    return path


def _code(source, number):
    return {"cell_type": "code", "id": f"c{number}", "metadata": {}, "execution_count": None, "outputs": [],
            "source": source}


def test_null_source_is_an_empty_cell(memlint, tmp_path):
    _raw_notebook(tmp_path, [_code(SETUP, 1), _code(None, 2), _code(EVAL_CELL, 3)])
    result = check(memlint, tmp_path, "nb.ipynb")
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr and finding_at(result, 3, EVAL_ROW, EVAL_COL)
    fixed = check(memlint, tmp_path, "--fix", "nb.ipynb")
    assert fixed.returncode == 0, fixed.stderr
    data = json.loads((tmp_path / "nb.ipynb").read_text())
    assert data["cells"][1]["source"] is None  # the cell memlint did not fix stays as it was


def test_source_that_is_not_text_is_one_line(memlint, tmp_path):
    path = _raw_notebook(tmp_path, [_code(SETUP, 1), _code(42, 2)])
    before = path.read_bytes()
    result = check(memlint, tmp_path, "--fix", "nb.ipynb")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert "nb.ipynb: not a readable notebook: cell 2: source is int, not text" in result.stderr
    assert path.read_bytes() == before


def test_nbformat_3_is_checked_but_never_rewritten(memlint, tmp_path):
    old = v3.new_notebook(metadata=v3.new_metadata(name="old"))
    old.worksheets.append(v3.new_worksheet(cells=[v3.new_code_cell(input=SETUP), v3.new_code_cell(input=EVAL_CELL)]))
    path = tmp_path / "nb.ipynb"
    path.write_text(v3.writes_json(old))
    before = path.read_bytes()
    result = check(memlint, tmp_path, "nb.ipynb")
    assert result.returncode == 1, result.stderr
    assert finding_at(result, 2, EVAL_ROW, EVAL_COL)
    fixed = check(memlint, tmp_path, "--fix", "nb.ipynb")
    assert fixed.returncode == 1
    assert "nbformat 3" in fixed.stderr and "not written" in fixed.stderr
    assert path.read_bytes() == before


def test_minor_version_and_metadata_survive_a_fix(memlint, tmp_path):
    path = _raw_notebook(tmp_path, [_code(SETUP, 1), _code(EVAL_CELL, 2)], minor=4)
    data = json.loads(path.read_text())
    for cell in data["cells"]:
        del cell["id"]  # nbformat 4.4 has no cell ids
    data["metadata"]["colab"] = {"provenance": [], "name": "train.ipynb"}
    path.write_text(json.dumps(data, indent=1) + "\n")
    assert check(memlint, tmp_path, "--fix", "nb.ipynb").returncode == 0
    after = json.loads(path.read_text())
    assert after["nbformat"] == 4 and after["nbformat_minor"] == 4
    assert after["metadata"] == data["metadata"]
    assert all("id" not in cell for cell in after["cells"])


def test_invalid_utf8_inside_the_json_is_one_line(memlint, tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", [new_code_cell(SETUP), new_code_cell("x = 'caf\u00e9'")])
    data = path.read_bytes().replace("caf\u00e9".encode(), b"caf\xe9")
    path.write_bytes(data)
    result = check(memlint, tmp_path, "--fix", "nb.ipynb")
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if line.strip()][:1]
    assert line.startswith("nb.ipynb: cannot decode as utf-8 at byte ") and "Traceback" not in result.stderr
    assert path.read_bytes() == data


def test_crlf_notebook_keeps_crlf(memlint, tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", [new_code_cell(SETUP), new_code_cell(EVAL_CELL)])
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    lines_before = path.read_bytes().count(b"\r\n")
    assert check(memlint, tmp_path, "--fix", "nb.ipynb").returncode == 0
    data = path.read_bytes()
    assert b"no_grad" in data
    assert data.count(b"\n") == data.count(b"\r\n") > lines_before
    assert nbformat.reads(data.decode(), as_version=4).cells[0].source == SETUP
