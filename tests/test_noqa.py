"""Suppression as a user meets it: `--add-noqa`, the unused-noqa check (MEM900) and where a noqa goes.

Real `python -m memlint` subprocesses on real files.
"""

import os
import stat

from samples import CLEAN, EVAL_LOOP, EVAL_LOOP_ROW

TWO_RULES = """\
import torch


def evaluate(model, loader):
    model.eval()
    outputs = []
    for x, y in loader:
        outputs.append(model(x))  # noqa: E501
    return outputs


def train(model, loader, criterion, optimizer):
    total = 0
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss
    return total
"""


def test_add_noqa_then_the_check_passes(memlint, tmp_path):
    target = tmp_path / "t.py"
    target.write_text(TWO_RULES)
    first = memlint("check", "--add-noqa", "t.py", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stderr == "Added 2 noqa directives.\n"
    lines = target.read_text().splitlines()
    assert lines[7] == "        outputs.append(model(x))  # noqa: E501, MEM001"  # merged into the existing comment
    assert lines[17] == "        total += loss  # noqa: MEM002"
    check = memlint("check", "t.py", cwd=tmp_path)
    assert check.returncode == 0 and "All checks passed!" in check.stdout
    again = memlint("check", "--add-noqa", "t.py", cwd=tmp_path)
    assert again.stderr == "Added 0 noqa directives.\n"
    assert target.read_text().splitlines() == lines
    unused = memlint("check", "--extend-select", "MEM900", "t.py", cwd=tmp_path)
    assert unused.returncode == 0, unused.stdout  # every comment it added suppresses something


def test_add_noqa_keeps_crlf_bom_and_mode(memlint, tmp_path):
    target = tmp_path / "t.py"
    raw = b"\xef\xbb\xbf" + EVAL_LOOP.replace("\n", "\r\n").encode()
    target.write_bytes(raw)
    os.chmod(target, 0o640)
    result = memlint("check", "--add-noqa", "t.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    new = target.read_bytes()
    assert new.startswith(b"\xef\xbb\xbf") and b"\n" not in new.replace(b"\r\n", b"")
    assert new.split(b"\r\n")[EVAL_LOOP_ROW - 1].endswith(b"out = model(x)  # noqa: MEM001")
    assert len(new.split(b"\r\n")) == len(raw.split(b"\r\n"))
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".memlint-tmp")]


def test_add_noqa_after_a_multi_line_string(memlint, tmp_path):
    """A finding whose line ends inside a string gets its comment where the statement can take one."""
    source = EVAL_LOOP.replace("out = model(x)", 'out = model(x, """\n    multi-line\n    """)')
    target = tmp_path / "t.py"
    target.write_text(source)
    assert memlint("check", "t.py", cwd=tmp_path).returncode == 1
    result = memlint("check", "--add-noqa", "t.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = target.read_text()
    assert '    """)  # noqa: MEM001\n' in text and "out = model(x, \"\"\"\n" in text
    compile(text, "t.py", "exec")
    assert memlint("check", "t.py", cwd=tmp_path).returncode == 0  # the suppression reads the same row


def test_add_noqa_refuses_combination_with_fix(memlint, tmp_path):
    result = memlint("check", "--add-noqa", "--fix", ".", cwd=tmp_path)
    assert result.returncode == 2 and "--add-noqa cannot be combined" in result.stderr


def test_add_noqa_reports_a_read_only_file(memlint, tmp_path):
    target = tmp_path / "t.py"
    target.write_text(EVAL_LOOP)
    os.chmod(target, 0o444)
    result = memlint("check", "--add-noqa", "t.py", cwd=tmp_path)
    assert result.returncode == 2 and "t.py: file is read-only" in result.stderr
    assert target.read_text() == EVAL_LOOP


def test_unused_noqa_beside_the_other_rules(memlint, tmp_path):
    source = (
        EVAL_LOOP.replace("out = model(x)", "out = model(x)  # noqa: MEM001")
        + "\nLIMIT = 4  # noqa: MEM002, E501\nFLAG = 1  # noqa: MEM101\nODD = 2  # noqa: MEM777\n"
    )
    (tmp_path / "t.py").write_text(source)
    off = memlint("check", "t.py", cwd=tmp_path)
    assert off.returncode == 0  # MEM900 is off by default
    result = memlint("check", "--extend-select", "MEM900", "t.py", cwd=tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if "MEM900" in line]
    assert lines == [
        "t.py:12:12: MEM900 Unused `noqa` directive (unused: `MEM002`)",
        "t.py:13:11: MEM900 Unused `noqa` directive (non-enabled: `MEM101`)",  # a Keras rule in a torch file
        "t.py:14:10: MEM900 Unused `noqa` directive (unknown: `MEM777`)",
    ]
    assert memlint("rule", "MEM900").stdout.startswith("# unused-noqa (MEM900)")


def test_unused_file_level_noqa(memlint, tmp_path):
    (tmp_path / "t.py").write_text("# memlint: noqa: MEM002\n" + CLEAN)
    result = memlint("check", "--select", "MEM", "t.py", cwd=tmp_path)
    assert result.returncode == 1
    assert "t.py:1:1: MEM900 Unused `noqa` directive (unused: `MEM002`)" in result.stdout
    (tmp_path / "u.py").write_text("# memlint: noqa: MEM001\n" + EVAL_LOOP)
    assert memlint("check", "--select", "MEM", "u.py", cwd=tmp_path).returncode == 0


def test_noqa_inside_a_string_is_no_comment(memlint, tmp_path):
    source = EVAL_LOOP.replace("    model.eval()\n", '    model.eval()\n    note = "# noqa: MEM001"\n')
    (tmp_path / "t.py").write_text("# A docstring may say: use `# memlint: noqa` to silence a file.\n" + source)
    result = memlint("check", "t.py", cwd=tmp_path)
    assert result.returncode == 1 and "MEM001" in result.stdout
