"""Notebooks are checked where nbformat is not installed (#17 item 8): the same findings as with it,
and `--fix` leaves the file alone and says why. nbformat is hidden by a package on PYTHONPATH whose
import fails, as a missing install would."""

import json
import os

import pytest
from nbformat import v3
from nbformat.v4 import new_code_cell, new_markdown_cell

from test_notebook import EVAL_CELL, write_notebook

SETUP = "import torch\nmodel = torch.nn.Linear(4, 2)\nbatches = [torch.zeros(4)]"


@pytest.fixture
def hidden(tmp_path):
    blocker = tmp_path / "blocker" / "nbformat"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('nbformat is not installed here')\n")
    path = [str(blocker.parent), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PYTHONPATH": os.pathsep.join(path)}


def _v4(folder):
    cells = [new_markdown_cell("# eval"), new_code_cell(SETUP), new_code_cell("%time 1 + 1"), new_code_cell(EVAL_CELL)]
    return write_notebook(folder / "v4.ipynb", cells)


def _v3(folder):
    old = v3.new_notebook(metadata=v3.new_metadata(name="old"))
    sheet = v3.new_worksheet(cells=[v3.new_text_cell("markdown", source="notes"), v3.new_code_cell(input=SETUP),
                                    v3.new_code_cell(input=EVAL_CELL)])
    old.worksheets.append(sheet)
    path = folder / "v3.ipynb"
    path.write_text(v3.writes_json(old))
    return path


def _crlf(folder):
    path = write_notebook(folder / "crlf.ipynb", [new_code_cell(SETUP), new_code_cell(EVAL_CELL)])
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    return path


def _broken(folder):
    path = folder / "broken.ipynb"
    path.write_text('{"cells": [')
    return path


def _findings(result):
    return sorted((f["filename"], f["cell"], f["location"]["row"], f["code"]) for f in json.loads(result.stdout))


@pytest.mark.parametrize("make", [_v4, _v3, _crlf], ids=["nbformat-4", "nbformat-3", "crlf"])
def test_same_findings_with_and_without_nbformat(memlint, tmp_path, hidden, make):
    path = make(tmp_path)
    args = ("check", "--no-cache", "--output-format", "json", path.name)
    with_it = memlint(*args, cwd=tmp_path)
    without = memlint(*args, cwd=tmp_path, env=hidden)
    assert with_it.returncode == without.returncode == 1, (with_it.stderr, without.stderr)
    assert _findings(without) == _findings(with_it) != []


def test_fix_without_nbformat_checks_and_leaves_the_file(memlint, tmp_path, hidden):
    path = _v4(tmp_path)
    before = path.read_bytes()
    result = memlint("check", "--no-cache", "--fix", path.name, cwd=tmp_path, env=hidden)
    assert result.returncode == 1, result.stderr
    assert "MEM001" in result.stdout and "Traceback" not in result.stderr
    assert "fixes are not written: writing notebooks needs nbformat" in result.stderr
    assert path.read_bytes() == before


def test_a_broken_notebook_is_one_line_without_nbformat(memlint, tmp_path, hidden):
    path = _broken(tmp_path)
    result = memlint("check", "--no-cache", path.name, cwd=tmp_path, env=hidden)
    assert result.returncode == 2
    assert result.stderr.startswith("broken.ipynb: not a readable notebook: Notebook does not appear to be JSON")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
