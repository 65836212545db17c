"""The real-code review harness (benchmarks/review_real_code.py): its join of findings with hand-written
verdicts, its precision and recall arithmetic, and its extraction of mirrored repositories.

The end-to-end test runs the script as a user does, on a tiny synthetic corpus, with this checkout's
memlint in a subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "review_real_code.py"
sys.path.insert(0, str(REPO / "benchmarks"))
import review_real_code as review  # noqa: E402

COMMIT = "0" * 40


def finding(path, line, code, source, repo="o/r"):
    return review.Finding(repo, path, line, code, "message", source)


def verdict(path, line, code, source, mark="TP", repo="o/r"):
    return review.Verdict(repo, COMMIT, path, line, code, review.source_sha1(source), mark, "why")


def test_exact_line_and_text_match():
    found = [finding("a.py", "10", "MEM002", "total += loss")]
    gone = review.join(found, [verdict("a.py", "10", "MEM002", "  total += loss  ")])
    assert found[0].verdict is not None and found[0].verdict.verdict == "TP"
    assert gone == []


def test_shifted_line_keeps_its_verdict_and_edited_line_loses_it():
    shifted = finding("a.py", "14", "MEM002", "total += loss")
    edited = finding("a.py", "30", "MEM001", "out = model(x.cuda())")
    gone = review.join(
        [shifted, edited],
        [verdict("a.py", "10", "MEM002", "total += loss"), verdict("a.py", "30", "MEM001", "out = model(x)", "FP")],
    )
    assert shifted.verdict is not None and shifted.verdict.line == "10"
    assert edited.verdict is None
    assert [(v.code, v.verdict) for v in gone] == [("MEM001", "FP")]


def test_twin_lines_each_take_the_nearest_verdict_once():
    # Two identical lines with different verdicts; both moved down by 2 rows.
    first = finding("a.py", "12", "MEM001", "out = model(x)")
    second = finding("a.py", "52", "MEM001", "out = model(x)")
    review.join(
        [second, first],
        [
            verdict("a.py", "10", "MEM001", "out = model(x)", "TP"),
            verdict("a.py", "50", "MEM001", "out = model(x)", "FP"),
        ],
    )
    assert (first.verdict.verdict, second.verdict.verdict) == ("TP", "FP")


def test_an_exact_line_is_not_taken_by_a_shifted_twin():
    moved = finding("a.py", "11", "MEM001", "out = model(x)")
    stayed = finding("a.py", "40", "MEM001", "out = model(x)")
    review.join(
        [moved, stayed],
        [verdict("a.py", "40", "MEM001", "out = model(x)", "FP"), verdict("a.py", "9", "MEM001", "out = model(x)")],
    )
    assert (moved.verdict.line, stayed.verdict.line) == ("9", "40")


def test_verdicts_do_not_cross_repositories_files_or_codes():
    other_repo = finding("a.py", "10", "MEM002", "total += loss", repo="o/other")
    other_code = finding("a.py", "10", "MEM001", "total += loss")
    gone = review.join([other_repo, other_code], [verdict("a.py", "10", "MEM002", "total += loss")])
    assert other_repo.verdict is None and other_code.verdict is None
    assert len(gone) == 1


def test_notebook_lines_prefer_the_same_cell():
    moved = finding("nb.ipynb", "7:5", "MEM101", "p = model.predict(x)")
    review.join(
        [moved],
        [
            verdict("nb.ipynb", "9:5", "MEM101", "p = model.predict(x)", "FP"),
            verdict("nb.ipynb", "7:2", "MEM101", "p = model.predict(x)"),
        ],
    )
    assert moved.verdict.line == "7:2"


def test_precision_counts_unreviewed_and_gone():
    found = [
        finding("a.py", "1", "MEM001", "a"),
        finding("a.py", "2", "MEM001", "b"),
        finding("a.py", "3", "MEM001", "c"),
        finding("a.py", "4", "MEM004", "d"),
    ]
    gone = review.join(
        found,
        [
            verdict("a.py", "1", "MEM001", "a", "TP"),
            verdict("a.py", "2", "MEM001", "b", "TP"),
            verdict("a.py", "3", "MEM001", "c", "FP"),
            verdict("a.py", "9", "MEM004", "z", "FP"),
        ],
    )
    table = review.tally(found, gone)
    assert (table["MEM001"].tp, table["MEM001"].fp, table["MEM001"].unreviewed) == (2, 1, 0)
    assert table["MEM001"].precision == pytest.approx(2 / 3)
    assert (table["MEM004"].unreviewed, table["MEM004"].gone_fp, table["MEM004"].precision) == (1, 1, None)
    text = review.render_table(table)
    assert "MEM001          3     2     1      0      0.67" in text
    assert text.splitlines()[-1].split()[:5] == ["all", "4", "2", "1", "1"]


def test_recall_counts_true_positives_and_found_misses_once():
    miss = review.Miss("o/r", COMMIT, "a.py", "20", "MEM001", review.source_sha1("y = net(x)"), "single", "shape")
    tp = verdict("a.py", "1", "MEM001", "y = net(x)", "TP")

    def recall_row(findings):
        review.join(findings, [tp])
        return review.recall_table(findings, [tp], [miss]).splitlines()[1].split()

    # 0.1: the true positive is reported, the miss is not.
    before = [finding("a.py", "1", "MEM001", "y = net(x)")]
    assert review.found_misses(before, [miss]) == []
    assert recall_row(before) == ["MEM001", "2", "1", "0.50"]
    # A newer memlint reports the miss two rows off (on the loop header): found.
    after = [finding("a.py", "1", "MEM001", "y = net(x)"), finding("a.py", "18", "MEM001", "for x in loader:")]
    assert recall_row(after) == ["MEM001", "2", "2", "1.00"]
    # The same text on another row is another instance: it does not find the miss.
    elsewhere = [finding("a.py", "1", "MEM001", "y = net(x)"), finding("a.py", "40", "MEM001", "y = net(x)")]
    assert recall_row(elsewhere) == ["MEM001", "2", "1", "0.50"]
    # Once the new finding is reviewed as a true positive, miss and verdict are one instance.
    reviewed = verdict("a.py", "18", "MEM001", "for x in loader:", "TP")
    later = [finding("a.py", "1", "MEM001", "y = net(x)"), finding("a.py", "18", "MEM001", "for x in loader:")]
    review.join(later, [tp, reviewed])
    assert review.recall_table(later, [tp, reviewed], [miss]).splitlines()[1].split() == ["MEM001", "2", "2", "1.00"]


def test_source_line_of_a_script_and_of_a_notebook_cell(tmp_path):
    (tmp_path / "t.py").write_bytes("\ufeffimport torch\r\n  x = 1  \r\n".encode("utf-8"))
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# title"]},
        {"cell_type": "code", "metadata": {}, "source": ["a = 1\n", "b = model(a)\n"], "outputs": [],
         "execution_count": None},
    ]
    (tmp_path / "n.ipynb").write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert review.source_line(tmp_path, "t.py", "2") == "x = 1"
    assert review.source_line(tmp_path, "n.ipynb", "2:2") == "b = model(a)"
    assert review.source_line(tmp_path, "t.py", "9") == ""


def test_rows_must_be_well_formed(tmp_path):
    bad = tmp_path / "verdicts.tsv"
    bad.write_text("repo\tcommit\n" + "\t".join(["o/r", COMMIT, "a.py", "1", "MEM001", "f" * 40, "maybe", "x"]) + "\n")
    with pytest.raises(ValueError, match="TP or FP"):
        review.read_verdicts(bad)


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.parametrize("layout", ["bare", "clone"])
def test_materialize_writes_the_commit_and_skips_blobs_the_mirror_lacks(tmp_path, layout):
    work = tmp_path / "src"
    (work / "pkg").mkdir(parents=True)
    (work / "pkg" / "train.py").write_text("import torch\n")
    (work / "big.bin").write_bytes(b"\0" * 64)
    _git(work, "init", "-q")
    _git(work, "add", ".")
    _git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True).stdout.strip()
    blob = subprocess.run(["git", "rev-parse", "HEAD:big.bin"], cwd=work, capture_output=True, text=True).stdout.strip()
    mirrors = tmp_path / "mirrors"
    (mirrors / "o+r").mkdir(parents=True)
    if layout == "bare":
        (work / ".git").rename(mirrors / "o+r" / "repo")
        git_dir = mirrors / "o+r" / "repo"
    else:  # a clone: `repo/.git` beside a work tree, as `fetch` sometimes leaves it
        work.rename(mirrors / "o+r" / "repo")
        git_dir = mirrors / "o+r" / "repo" / ".git"
    (git_dir / "objects" / blob[:2] / blob[2:]).unlink()  # as the snapshots lack big files
    corpus = tmp_path / "corpus"
    repo = review.Repo("o/r", commit, "torch", "why")
    assert review.materialize([repo], corpus, mirrors) == 0
    assert (corpus / "o+r" / "pkg" / "train.py").read_text() == "import torch\n"
    assert not (corpus / "o+r" / "big.bin").exists()
    assert (corpus / "o+r" / ".review_commit").read_text().strip() == commit


LOOP = """\
import torch
from torch import nn


class Net(nn.Module):
    def forward(self, x):
        return x


def train(model, loader, optimizer, criterion):
    total = 0
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss
    return total


def evaluate(model, loader):
    model.eval()
    for x, y in loader:
        out = model(x)
    return out
"""


def test_run_end_to_end_with_real_memlint(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "o+r").mkdir(parents=True)
    # Three blank lines on top: the verdicts below were written for the file before they were added.
    (corpus / "o+r" / "train.py").write_text("\n\n\n" + LOOP)
    repos = tmp_path / "repos.tsv"
    repos.write_text("repo\tcommit\tkind\twhy\n" + "\t".join(["o/r", COMMIT, "torch", "a test"]) + "\n")
    verdicts = tmp_path / "verdicts.tsv"
    verdicts.write_text(
        "\t".join(review.VERDICT_FIELDS) + "\n"
        + "\t".join(["o/r", COMMIT, "train.py", "16", "MEM002", review.source_sha1("total += loss"), "TP", "graph"])
        + "\n"
        + "\t".join(["o/r", COMMIT, "train.py", "40", "MEM003", review.source_sha1("np.load(p)"), "FP", "gone"])
        + "\n"
    )
    out = tmp_path / "out.json"
    stub = tmp_path / "stub.tsv"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--repos", str(repos), "--corpus", str(corpus), "run",
         "--pythonpath", str(REPO), "--verdicts", str(verdicts), "--misses", str(tmp_path / "none.tsv"),
         "--json", str(out), "--stub", str(stub)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rules = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.startswith("MEM")}
    assert rules["MEM002"][1:6] == ["1", "1", "0", "0", "1.00"]
    assert rules["MEM001"][1:5] == ["1", "0", "0", "1"]
    assert rules["MEM003"][1:] == ["0", "0", "0", "0", "-", "0", "1"]
    report = json.loads(out.read_text())
    by_code = {f["code"]: f for f in report["findings"]}
    assert by_code["MEM002"]["line"] == "19" and by_code["MEM002"]["verdict"] == "TP"
    assert by_code["MEM001"]["source"] == "out = model(x)" and by_code["MEM001"]["verdict"] is None
    [row] = stub.read_text().splitlines()
    assert row.split("\t")[:7] == ["o/r", COMMIT, "train.py", "26", "MEM001", review.source_sha1("out = model(x)"), "?"]


SAMPLES_MD = '''\
## demo-eval-loop  (fire)  line=7  files=multi
An evaluation loop after `.eval()` with no grad guard. [finding in check.py]
```python
# file: helpers.py
def unused():
    return 1
```
```python
# file: check.py
import torch


def evaluate(model, loader):
    model.eval()
    for x in loader:
        out = model(x)
    return out
```

## demo-guarded-loop  (silent)  line=8  files=single
The same loop under `torch.no_grad()`.
```python
# file: check.py
import torch


@torch.no_grad()
def evaluate(model, loader):
    model.eval()
    for x in loader:
        out = model(x)
    return out
```
'''


def test_parse_samples_reads_headers_files_and_the_finding_file():
    fire, silent = review.parse_samples("MEM001", SAMPLES_MD)
    assert (fire.slug, fire.expect, fire.line, fire.finding_file) == ("demo-eval-loop", "fire", 7, "check.py")
    assert list(fire.files) == ["helpers.py", "check.py"]
    assert fire.files["check.py"].splitlines()[6] == "        out = model(x)"
    assert (silent.expect, silent.finding_file, silent.files["check.py"].splitlines()[7].strip()) == (
        "silent", "check.py", "out = model(x)")


def test_samples_command_runs_memlint_on_each_sample(tmp_path):
    md = tmp_path / "MEM001.md"
    md.write_text(SAMPLES_MD)
    # A copy that wrongly asks the reported loop to stay silent: one failure, shown with what was reported.
    wrong = tmp_path / "wrong" / "MEM001.md"
    wrong.parent.mkdir()
    wrong.write_text(SAMPLES_MD.replace("(fire)  line=7", "(silent)  line=7"))
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "samples", "--pythonpath", str(REPO), str(md), str(wrong)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].endswith(": 3 of 4 samples behave as they ask")
    assert "FAIL MEM001 demo-eval-loop (silent) check.py:7 reported [('check.py', 7)]" in proc.stdout
