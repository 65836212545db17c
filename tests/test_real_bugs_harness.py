"""benchmarks/real_bugs.py on a tiny synthetic corpus: a real git snapshot, real memlint runs, real recall math."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HARNESS = REPO / "benchmarks" / "real_bugs.py"

BUGGY = '''import torch


def evaluate(model, loader):
    model.eval()
    for x, y in loader:
        out = model(x)
        print(out.sum())


def fit(model, loader, optimizer, criterion):
    total = 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss
    return total
'''
FIXED = BUGGY.replace("    for x, y in loader:\n        out = model(x)\n        print(out.sum())",
                      "    with torch.no_grad():\n        for x, y in loader:\n            out = model(x)\n"
                      "            print(out.sum())").replace("total += loss", "total += loss.item()")
HELPER = "def scale(value):\n    return value * 2\n"

LABEL_HEADER = "id\trule\trepo\tcommit\tpath\tline\tscope\tsource\tfix_commit\tdescription\n"
TRAP_HEADER = "id\trule\trepo\tcommit\tpath\tline\twhy\n"


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                         env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                              "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(repo), "PATH": "/usr/bin:/bin"})
    return out.stdout.strip()


def harness(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HARNESS), *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


@pytest.fixture
def snapshot(tmp_path):
    """A mirror laid out as `fetch` leaves it (<mirrors>/acme+widgets/repo/.git) with a buggy and a fixed commit."""
    work = tmp_path / "mirrors" / "acme+widgets" / "repo"
    (work / "src").mkdir(parents=True)
    git(work, "init", "-q")
    (work / "src" / "train.py").write_text(BUGGY)
    (work / "src" / "helpers.py").write_text(HELPER)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "buggy")
    buggy = git(work, "rev-parse", "HEAD")
    (work / "src" / "train.py").write_text(FIXED)
    git(work, "commit", "-q", "-am", "fixed")
    fixed = git(work, "rev-parse", "HEAD")
    return tmp_path / "mirrors", work, buggy, fixed


def write_labels(folder: Path, buggy: str, fixed: str) -> list[Path]:
    src = "https://example.org/acme/widgets/issues/1"
    rows = [
        # exact line: found
        ("eval-exact", "MEM001", "acme/widgets", buggy, "src/train.py", 7, "local", src, fixed, "eval forward"),
        # labelled 2 lines off the finding: still found (+-3)
        ("accum-near", "MEM002", "acme/widgets", buggy, "src/train.py", 16, "function", src, fixed, "sum of losses"),
        # nothing within 3 lines of line 12 has MEM001: missed
        ("eval-far", "MEM001", "acme/widgets", buggy, "src/train.py", 12, "file", src, "-", "far from any finding"),
        # the right line but another file: missed
        ("other-file", "MEM002", "acme/widgets", buggy, "src/helpers.py", 2, "file", src, "-", "no finding here"),
        # no snapshot of this repository: not materialized, not counted in recall
        ("no-mirror", "MEM001", "acme/absent", buggy, "train.py", 3, "local", src, "-", "never fetched"),
    ]
    traps = [
        ("eval-fixed", "MEM001", "acme/widgets", fixed, "src/train.py", 8, "the fix: guarded by no_grad"),
        ("accum-fixed", "MEM002", "acme/widgets", fixed, "src/train.py", 19, "the fix: .item()"),
        ("accum-flagged", "MEM002", "acme/widgets", buggy, "src/train.py", 18, "a trap memlint fires on"),
    ]
    labels = folder / "toy.tsv"
    labels.write_text(LABEL_HEADER + "".join("\t".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    trap_file = folder / "traps_toy.tsv"
    trap_file.write_text(TRAP_HEADER + "".join("\t".join(map(str, r)) + "\n" for r in traps), encoding="utf-8")
    return [labels, trap_file]


def test_materialize_run_and_recall(tmp_path, snapshot):
    mirrors, _, buggy, fixed = snapshot
    files = write_labels(tmp_path, buggy, fixed)
    corpus = tmp_path / "corpus"

    made = harness("materialize", "--labels", *files, "--corpus", corpus, "--mirrors", mirrors)
    assert made.returncode == 1, made.stdout + made.stderr  # one id has no snapshot
    assert "no-mirror: no snapshot of acme/absent" in made.stdout
    assert "7 of 8 ids ready" in made.stdout
    assert (corpus / "eval-exact" / "src" / "train.py").read_text() == BUGGY
    assert (corpus / "eval-fixed" / "src" / "train.py").read_text() == FIXED
    assert (corpus / "eval-exact" / "src" / "helpers.py").read_text() == HELPER  # the whole tree
    assert not (corpus / "no-mirror").exists()

    again = harness("materialize", "--labels", *files, "--corpus", corpus, "--mirrors", mirrors, "--ids", "eval-exact")
    assert again.returncode == 0 and "eval-exact: present" in again.stdout

    # run from a folder holding another `memlint` package: only --pythonpath may decide which memlint is measured
    decoy = tmp_path / "decoy"
    (decoy / "memlint").mkdir(parents=True)
    (decoy / "memlint" / "__init__.py").write_text("__version__ = 'decoy'\n")
    out = tmp_path / "result.json"
    result = harness("run", "--labels", *files, "--corpus", corpus, "--pythonpath", REPO, "--json", out, cwd=decoy)
    assert result.returncode == 0, result.stderr
    # five labels and three traps live in two trees (buggy, fixed): memlint runs twice
    assert result.stderr.count("checking ") == 2
    data = json.loads(out.read_text())
    status = {r["id"]: r["status"] for r in data["labels"] + data["traps"]}
    assert status == {
        "eval-exact": "found", "accum-near": "found", "eval-far": "missed", "other-file": "missed",
        "no-mirror": "not_materialized", "eval-fixed": "silent", "accum-fixed": "silent",
        "accum-flagged": "false_positive",
    }
    summary = data["summary"]
    assert summary["all"] == {"found": 2, "total": 4, "recall": 0.5, "unchecked": 1}
    assert summary["rule"]["MEM001"] == {"found": 1, "total": 2, "recall": 0.5, "unchecked": 1}
    assert summary["rule"]["MEM002"] == {"found": 1, "total": 2, "recall": 0.5, "unchecked": 0}
    assert summary["scope"]["local"] == {"found": 1, "total": 1, "recall": 1.0, "unchecked": 1}
    assert summary["scope"]["file"] == {"found": 0, "total": 2, "recall": 0.0, "unchecked": 0}
    assert summary["rule_scope"]["MEM002/function"]["recall"] == 1.0
    assert summary["traps"]["MEM001"] == {"traps": 1, "false_positive": 0, "unchecked": 0}
    assert summary["traps"]["MEM002"] == {"traps": 2, "false_positive": 1, "unchecked": 0}
    assert data["memlint"]["package"] == str(REPO / "memlint")
    assert "MEM001" in result.stdout and "0.50" in result.stdout

    # compare: a result where the far label is found names exactly that change
    after = json.loads(out.read_text())
    next(r for r in after["labels"] if r["id"] == "eval-far")["status"] = "found"
    after_path = tmp_path / "after.json"
    after_path.write_text(json.dumps(after))
    diff = harness("compare", out, after_path)
    assert diff.returncode == 0
    assert diff.stdout.splitlines()[0] == "eval-far (MEM001): missed -> found"


def test_missing_blob_is_left_out_and_the_rest_extracted(tmp_path, snapshot):
    """Snapshots lack files of 4 MiB and more: git archive fails, the tree is written file by file."""
    mirrors, work, buggy, fixed = snapshot
    blob = git(work, "rev-parse", f"{buggy}:src/helpers.py")
    (work / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    files = write_labels(tmp_path, buggy, fixed)
    corpus = tmp_path / "corpus"
    made = harness("materialize", "--labels", *files, "--corpus", corpus, "--mirrors", mirrors, "--ids", "eval-exact")
    assert made.returncode == 0, made.stdout
    assert "eval-exact: extracted (1 files absent from the snapshot)" in made.stdout
    assert (corpus / "eval-exact" / "src" / "train.py").read_text() == BUGGY
    assert not (corpus / "eval-exact" / "src" / "helpers.py").exists()


def test_large_repository_gives_local_ids_only_their_folder(tmp_path, snapshot):
    """Above --max-python-files, an id of scope local gets the folder of its file; scope file keeps the whole tree.
    The two trees differ, so memlint checks each (a shared commit alone does not merge them)."""
    mirrors, work, buggy, fixed = snapshot
    (work / "tools").mkdir()
    (work / "tools" / "other.py").write_text("x = 1\n")
    (work / "src" / "train.py").write_text(BUGGY)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "more files")
    head = git(work, "rev-parse", "HEAD")
    rows = [
        ("in-folder", "MEM001", "acme/widgets", head, "src/train.py", 7, "local", "https://e.org", "-", "d"),
        ("whole", "MEM002", "acme/widgets", head, "src/train.py", 18, "file", "https://e.org", "-", "d"),
    ]
    labels = tmp_path / "big.tsv"
    labels.write_text(LABEL_HEADER + "".join("\t".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    corpus = tmp_path / "corpus"
    made = harness("materialize", "--labels", labels, "--corpus", corpus, "--mirrors", mirrors,
                   "--max-python-files", "2")
    assert made.returncode == 0, made.stdout
    assert "in-folder: extracted src/ only" in made.stdout
    assert sorted(p.name for p in (corpus / "in-folder").rglob("*.py")) == ["helpers.py", "train.py"]
    assert (corpus / "whole" / "tools" / "other.py").is_file()

    out = tmp_path / "r.json"
    result = harness("run", "--labels", labels, "--corpus", corpus, "--pythonpath", REPO, "--json", out)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("checking ") == 2
    status = {r["id"]: r["status"] for r in json.loads(out.read_text())["labels"]}
    assert status == {"in-folder": "found", "whole": "found"}


@pytest.mark.parametrize(
    "row, message",
    [
        ("x1\tMEM001\tacme/widgets\tabc\ttrain.py\t3\tlocal\thttps://e.org\t-\td", "bad commit"),
        ("x1\tMEM001\tacme/widgets\t" + "a" * 40 + "\ttrain.py\t3\tglobal\thttps://e.org\t-\td", "bad scope"),
        ("x1\tMEM001\tacme/widgets\t" + "a" * 40 + "\ttrain.py\t0\tlocal\thttps://e.org\t-\td", "bad line"),
        ("x1\tMEM001\tacme/widgets\t" + "a" * 40 + "\ttrain.py\t3\tlocal", "7 columns, expected 10"),
    ],
)
def test_bad_label_file_is_one_line_and_exit_2(tmp_path, row, message):
    labels = tmp_path / "bad.tsv"
    labels.write_text(LABEL_HEADER + row + "\n", encoding="utf-8")
    proc = harness("run", "--labels", labels, "--corpus", tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and f"bad.tsv:2: {message}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_duplicate_ids_across_files_are_refused(tmp_path):
    row = "x1\tMEM001\tacme/widgets\t" + "a" * 40 + "\ttrain.py\t3\tlocal\thttps://e.org\t-\td\n"
    first, second = tmp_path / "a.tsv", tmp_path / "b.tsv"
    first.write_text(LABEL_HEADER + row, encoding="utf-8")
    second.write_text(LABEL_HEADER + row, encoding="utf-8")
    proc = harness("materialize", "--labels", first, second, "--corpus", tmp_path / "c")
    assert proc.returncode == 2 and "id 'x1' already used at" in proc.stderr


def test_shipped_label_files_follow_the_format():
    """The committed labels parse (unique ids, 40-hex commits, known scopes) and keep the corpus's promised size."""
    spec = importlib.util.spec_from_file_location("real_bugs", HARNESS)
    real_bugs = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("real_bugs", real_bugs)  # dataclasses look their module up there
    spec.loader.exec_module(real_bugs)
    sites = real_bugs.read_sites(real_bugs.default_label_files())
    torch_labels = real_bugs.read_sites([REPO / "benchmarks" / "realbugs" / "torch.tsv"])
    grad_rules = [s for s in torch_labels if s.rule in ("MEM001", "MEM002", "MEM101")]
    assert len(grad_rules) >= 65
    assert sum(s.scope != "local" for s in grad_rules) >= 25
    assert {s.rule for s in torch_labels} >= {"MEM006", "MEM007", "MEM008", "MEM009", "MEM010", "MEM011"}
    assert any(s.is_trap for s in sites)
