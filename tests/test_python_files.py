"""Files Python accepts are checked; files Python refuses are refused, never rewritten (#15).

Each test writes a file the way real code arrives (Colab exports, Windows editors, old
research code, generated data), runs the real command line, and where a fix is written,
runs the fixed script with Python.
"""

import codecs
import json
import subprocess
import sys

import pytest

from samples import EVAL_LOOP, EVAL_LOOP_COL, EVAL_LOOP_ROW

RUNNABLE_EVAL = (
    "import torch\n\ntorch.manual_seed(0)\nmodel = torch.nn.Linear(3, 2)\n"
    "loader = [(torch.ones(4, 3), torch.zeros(4, dtype=torch.long)) for _ in range(2)]\n"
    + EVAL_LOOP.split("\n", 1)[1]
    + '\n\nprint("correct", evaluate(model, loader))\n'
)


def run_python(path):
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)


def one_line(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    return lines


# ---------------------------------------------------------------------------- item 5: target grammar
@pytest.mark.skipif(sys.version_info >= (3, 12), reason="needs a Python older than 3.12")
def test_newer_syntax_is_named_plainly_and_never_blamed_on_a_fix(memlint, tmp_path):
    path = tmp_path / "train.py"
    path.write_text(EVAL_LOOP + "\ntype Batch = list[int]\n")
    before = path.read_bytes()
    for args in (("check",), ("check", "--fix")):
        result = memlint(*args, "--no-cache", "train.py", cwd=tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "needs Python 3.12 or newer" in result.stderr and "`type` statement" in result.stderr
        assert "would produce invalid code" not in result.stderr
    assert path.read_bytes() == before


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="needs a Python older than 3.12")
def test_target_version_newer_than_this_python_asks_for_that_python(memlint, tmp_path):
    # The analysis reads CPython's own tree: syntax this Python cannot parse needs memlint run under
    # a Python that can. Files this Python reads are checked as usual.
    (tmp_path / "pyproject.toml").write_text('[tool.memlint]\ntarget-version = "3.12"\n')
    path = tmp_path / "train.py"
    path.write_text(EVAL_LOOP + "\ntype Batch = list[int]\n")
    before = path.read_bytes()
    result = memlint("check", "--no-cache", "--fix", "--output-format", "json", "train.py", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    [line, *_] = one_line(result.stderr)
    assert "needs Python 3.12 or newer" in line and "run it under a newer Python" in line
    assert path.read_bytes() == before
    (tmp_path / "plain.py").write_text(EVAL_LOOP)
    result = memlint("check", "--no-cache", "--output-format", "json", "plain.py", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert [f["code"] for f in json.loads(result.stdout)] == ["MEM001"]


def test_target_version_older_than_this_python_refuses_newer_syntax(memlint, tmp_path):
    path = tmp_path / "train.py"
    path.write_text(EVAL_LOOP + "\nmatch 3:\n    case 3:\n        pass\n")
    assert memlint("check", "--no-cache", "train.py", cwd=tmp_path).returncode == 1
    result = memlint("check", "--no-cache", "--target-version", "3.9", "train.py", cwd=tmp_path)
    assert result.returncode == 2
    [line, *_] = one_line(result.stderr)
    assert "Pattern matching is only supported in Python 3.10" in line and "target-version is 3.9" in line
    (tmp_path / "pyproject.toml").write_text('[tool.memlint]\ntarget-version = "py39"\n')
    assert memlint("check", "--no-cache", "train.py", cwd=tmp_path).returncode == 2


@pytest.mark.parametrize("value", ['"2.7"', '"3.99"', "3.8", '"latest"'])
def test_bad_target_version_is_one_line(memlint, tmp_path, value):
    (tmp_path / "pyproject.toml").write_text(f"[tool.memlint]\ntarget-version = {value}\n")
    (tmp_path / "train.py").write_text(EVAL_LOOP)
    result = memlint("check", "--no-cache", "train.py", cwd=tmp_path)
    assert result.returncode == 2
    [line] = one_line(result.stderr)
    assert "target-version" in line


# ---------------------------------------------------------------------------- item 11: tabs
# A tab then two spaces, then two tabs then four spaces (tab stops of 8: columns 10 and 20),
# the way notebooks exported from Colab arrive. CPython runs it; libcst's tokenizer refuses it.
MIXED_TABS = (
    "import torch\n"
    "\n"
    "torch.manual_seed(0)\n"
    "model = torch.nn.Linear(3, 2)\n"
    "loader = [(torch.ones(4, 3), torch.zeros(4, dtype=torch.long)) for _ in range(2)]\n"
    "if True:\n"
    "\t  model.eval()\n"
    "\t  total = 0\n"
    "\t  for x, y in loader:\n"
    "\t\t    out = model(x)\n"
    "\t\t    total += out.sum().item()\n"
    "\t  print('total', round(total, 4))\n"
)


def test_mixed_tabs_that_python_accepts_are_checked_and_fixed(memlint, tmp_path):
    path = tmp_path / "colab.py"
    path.write_text(MIXED_TABS)
    expected = run_python(path)
    assert expected.returncode == 0, expected.stderr
    result = memlint("check", "--no-cache", "colab.py", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    # `model(x)` sits after "\t\t    out = ": column 13 of the file's own text.
    assert "colab.py:10:13: MEM001" in result.stdout
    fixed = memlint("check", "--no-cache", "--fix", "colab.py", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    text = path.read_text()
    assert "with torch.no_grad():" in text
    old_lines, new_lines = MIXED_TABS.splitlines(), text.splitlines()
    assert [line for line in old_lines if line not in new_lines] in ([], old_lines[8:11])  # only the wrapped loop
    assert new_lines[:8] == old_lines[:8] and new_lines[-1] == old_lines[-1]
    after = run_python(path)
    assert after.returncode == 0 and after.stdout == expected.stdout
    again = memlint("check", "--no-cache", "--fix", "colab.py", cwd=tmp_path)
    assert again.returncode == 0 and path.read_text() == text


# ---------------------------------------------------------------------------- item 13: libcst's limits
def test_code_python_accepts_but_libcst_cannot_read_is_checked_and_its_fix_refused(memlint, tmp_path):
    # The analysis reads CPython's tree, so the file is checked; only writing a fix needs libcst.
    path = tmp_path / "strings.py"
    path.write_text(EVAL_LOOP + "\nNAMES = (" + " ".join(["'a'"] * 6000) + ")\n")
    before = path.read_bytes()
    compile(path.read_text(), "strings.py", "exec")
    checked = memlint("check", "--no-cache", "strings.py", cwd=tmp_path)
    assert checked.returncode == 1 and f"strings.py:{EVAL_LOOP_ROW}:{EVAL_LOOP_COL}: MEM001" in checked.stdout
    result = memlint("check", "--no-cache", "--fix", "strings.py", cwd=tmp_path)
    assert result.returncode == 2
    [line, *_] = one_line(result.stderr)
    assert line.startswith("strings.py:") and "Python accepts this file but libcst, memlint's fix writer, cannot" in line
    assert path.read_bytes() == before


@pytest.mark.slow
def test_hundred_thousand_term_tuple(memlint, tmp_path):
    path = tmp_path / "table.py"
    path.write_text(EVAL_LOOP + "\nTABLE = (" + ", ".join(["1"] * 100_000) + ")\n")
    result = memlint("check", "--no-cache", "table.py", cwd=tmp_path, timeout=900)
    assert result.returncode == 1 and f"table.py:{EVAL_LOOP_ROW}:{EVAL_LOOP_COL}: MEM001" in result.stdout, result.stderr


# ---------------------------------------------------------------------------- items 14, 15: refused bytes
@pytest.mark.parametrize(
    "name, data, message",
    [
        ("utf16.py", EVAL_LOOP.encode("utf-16-le"), "UTF-16 without a byte-order mark"),
        ("utf16be.py", EVAL_LOOP.encode("utf-16-be"), "UTF-16 without a byte-order mark"),
        ("two_boms.py", codecs.BOM_UTF8 * 2 + EVAL_LOOP.encode(), "two byte-order marks"),
        ("nul_comment.py", EVAL_LOOP.replace("correct = 0", "correct = 0  # a\0b").encode(), "NUL byte (row 6)"),
        ("nul_string.py", EVAL_LOOP.replace("correct = 0", "correct = len('a\0b')").encode(), "NUL byte"),
    ],
    ids=["utf16-le", "utf16-be", "two-boms", "nul-in-comment", "nul-in-string"],
)
def test_bytes_python_refuses_are_refused_and_never_rewritten(memlint, tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    for args in (("check",), ("check", "--fix"), ("check", "--fix", "--unsafe-fixes")):
        result = memlint(*args, "--no-cache", name, cwd=tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        [line, *_] = one_line(result.stderr)
        assert line.startswith(f"{name}: ") and message in line
        assert "All checks passed" not in result.stdout
    assert path.read_bytes() == data


# ---------------------------------------------------------------------------- item 16: endings and rows
def test_cr_only_file_keeps_every_line_ending(memlint, tmp_path):
    path = tmp_path / "mac.py"
    path.write_bytes(RUNNABLE_EVAL.replace("\n", "\r").encode())
    expected = run_python(path)
    assert expected.returncode == 0, expected.stderr
    result = memlint("check", "--no-cache", "--fix", "mac.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    data = path.read_bytes()
    assert b"torch.no_grad()" in data
    assert b"\n" not in data and data.endswith(b"\r")
    assert data.count(b"\r") == RUNNABLE_EVAL.count("\n") + 1
    assert run_python(path).stdout == expected.stdout


def test_json_rows_are_pythons_rows_after_form_feeds_and_separators(memlint, tmp_path):
    header = "import torch\n\x0c\n# a comment with a \u2028 line separator and \x1c\n\n"
    text = header + EVAL_LOOP.split("\n", 1)[1]
    path = tmp_path / "odd.py"
    path.write_text(text, encoding="utf-8")
    def_row = next(i for i, line in enumerate(text.split("\n"), start=1) if line.startswith("def evaluate"))
    forward_row = def_row + 4
    result = memlint("check", "--no-cache", "--output-format", "json", "odd.py", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    [finding] = json.loads(result.stdout)
    assert finding["location"]["row"] == forward_row
    edits = finding["fix"]["edits"]
    assert edits and all(e["location"]["row"] >= def_row for e in edits)
    # The edits, applied to Python's lines, give exactly what --fix writes.
    lines = text.split("\n")
    lines = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    for edit in sorted(edits, key=lambda e: e["location"]["row"], reverse=True):
        start, end = edit["location"]["row"] - 1, edit["end_location"]["row"] - 1
        lines[start:end] = [edit["content"]]
    assert memlint("check", "--no-cache", "--fix", "odd.py", cwd=tmp_path).returncode == 0
    assert path.read_text(encoding="utf-8") == "".join(lines)


def test_noqa_rows_are_pythons_rows_after_a_form_feed(memlint, tmp_path):
    text = EVAL_LOOP.replace("import torch\n", "import torch\n\x0c\n# \u2028 section\n", 1)
    text = text.replace("out = model(x)", "out = model(x)  # noqa: MEM001")
    (tmp_path / "quiet.py").write_text(text, encoding="utf-8")
    result = memlint("check", "--no-cache", "quiet.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------- item 18: legacy code
LEGACY = EVAL_LOOP + '''

def to_gpu(batch):
    return batch.cuda(async=True)
'''


def test_legacy_async_argument_is_reported_without_fixes_and_a_porting_note(memlint, tmp_path):
    path = tmp_path / "old_research.py"
    path.write_text(LEGACY)
    result = memlint("check", "--no-cache", "--output-format", "json", "old_research.py", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    [finding] = json.loads(result.stdout)
    assert finding["code"] == "MEM001" and finding["fix"] is None
    assert (finding["location"]["row"], finding["location"]["column"]) == (EVAL_LOOP_ROW, EVAL_LOOP_COL)
    assert "needs porting" in result.stderr and "async" in result.stderr
    fixed = memlint("check", "--no-cache", "--fix", "--unsafe-fixes", "old_research.py", cwd=tmp_path)
    assert fixed.returncode == 1 and "[*]" not in fixed.stdout
    assert path.read_text() == LEGACY


def test_other_syntax_errors_are_still_python_s_own(memlint, tmp_path):
    (tmp_path / "broken.py").write_text("import torch\n\ndef f(:\n    pass\n")
    result = memlint("check", "--no-cache", "broken.py", cwd=tmp_path)
    assert result.returncode == 2
    [line, *_] = one_line(result.stderr)
    assert line.startswith("broken.py:3:") and "cannot parse: invalid syntax" in line


# ---------------------------------------------------------------------------- item 25: data files
def test_edits_for_a_data_file_of_repeated_lines_diff_only_what_changed(monkeypatch):
    """difflib compares each line with every equal line: on 100,000 rows of `0.0,` that was hours."""
    import difflib

    from memlint.engine import line_edits

    compared = []
    real = difflib.SequenceMatcher

    class Recording(real):
        def __init__(self, isjunk=None, a="", b="", autojunk=True):
            compared.append(max(len(a), len(b)))
            super().__init__(isjunk, a, b, autojunk)

    monkeypatch.setattr(difflib, "SequenceMatcher", Recording)
    data = "DATA = [\n" + "    0.0,\n" * 100_000 + "]\n"
    old = EVAL_LOOP + data
    new = old.replace("    for x, y in loader:\n", "    with torch.no_grad():\n        for x, y in loader:\n")
    edits = line_edits(old, new)
    assert compared and max(compared) <= 3
    lines = old.splitlines(keepends=True)
    for edit in reversed(edits):
        lines[edit.row - 1 : edit.end_row - 1] = [edit.content]
    assert "".join(lines) == new


def test_long_data_literal_is_checked_with_json_edits(memlint, tmp_path):
    path = tmp_path / "weights.py"
    path.write_text(EVAL_LOOP + "\nDATA = [\n" + "    0.0,\n" * 20_000 + "]\n")
    result = memlint("check", "--no-cache", "--output-format", "json", "weights.py", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    [finding] = json.loads(result.stdout)
    assert finding["fix"]["edits"] and finding["location"]["row"] == EVAL_LOOP_ROW
