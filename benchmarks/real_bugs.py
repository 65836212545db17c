"""memlint's recall on real, reported out-of-memory bugs from public repositories, and its false positives on traps.

    python benchmarks/real_bugs.py materialize [--labels F...]        # extract each id's tree from the local mirrors
    python benchmarks/real_bugs.py run [--labels F...] [--pythonpath DIR] [--json OUT]
    python benchmarks/real_bugs.py compare BEFORE.json AFTER.json     # which ids a change found or lost

Label files are TSVs (benchmarks/realbugs/*.tsv; a file whose name starts with `traps` holds traps). A label is one
bug site: a rule code, a repository at its buggy commit, a path and the line of the statement that makes memory grow.
A trap is correct code that looks like a bug: any finding of its rule there is a false positive. The repositories'
code never enters this repository: `materialize` extracts each id's tree into the corpus folder
(/work/corpus/realbugs/<id>/, or $MEMLINT_REALBUGS) from the git snapshots under /work/.mirror/<owner>+<name>/
(what the `fetch` tool brings; see benchmarks/realbugs/README.md).

`run` checks each id's whole tree the way a user would, so the project's other files are visible:
`python -m memlint check --no-cache --exit-zero --select ALL --output-format json .` inside the id's folder,
with PYTHONPATH=DIR when --pythonpath is given (e.g. a frozen checkout of an earlier version). A bug is found when a
finding with its rule code is at its path within +-3 lines of its line. Ids that share a repository and commit are
checked once. It prints recall per rule, per scope and per rule and scope, and the false positives on traps.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LABEL_DIR = REPO / "benchmarks" / "realbugs"
DEFAULT_CORPUS = Path(os.environ.get("MEMLINT_REALBUGS", "/work/corpus/realbugs"))
DEFAULT_MIRRORS = Path(os.environ.get("MEMLINT_MIRRORS", "/work/.mirror"))
NEAR = 3
SCOPES = ("local", "function", "file")
LABEL_COLUMNS = ["id", "rule", "repo", "commit", "path", "line", "scope", "source", "fix_commit", "description"]
TRAP_COLUMNS = ["id", "rule", "repo", "commit", "path", "line", "why"]
_COMMIT = re.compile(r"[0-9a-f]{40}")
_RULE = re.compile(r"MEM\d{3}")
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
_ID = re.compile(r"[a-z0-9][a-z0-9._-]*")


class LabelError(Exception):
    """A label file that does not follow the format: reported as one line, exit 2."""


@dataclass(frozen=True)
class Site:
    """One labelled bug site or one trap."""

    id: str
    rule: str
    repo: str
    commit: str
    path: str
    line: int
    is_trap: bool
    scope: str = ""
    note: str = ""


def is_trap_file(path: Path) -> bool:
    return path.name.startswith("traps")


def default_label_files() -> list[Path]:
    return sorted(LABEL_DIR.glob("*.tsv"))


def read_sites(files: list[Path]) -> list[Site]:
    """Every row of the given label and trap files, checked against the format; ids unique across all files."""
    sites: list[Site] = []
    seen: dict[str, str] = {}
    for path in files:
        trap = is_trap_file(path)
        expected = TRAP_COLUMNS if trap else LABEL_COLUMNS
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LabelError(f"{path}: cannot read: {exc}") from exc
        rows = list(csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE))
        if not rows or rows[0] != expected:
            raise LabelError(f"{path}:1: header must be the tab-separated columns: {' '.join(expected)}")
        for number, row in enumerate(rows[1:], start=2):
            if not row or not "".join(row).strip():
                continue
            where = f"{path}:{number}"
            if len(row) != len(expected):
                raise LabelError(f"{where}: {len(row)} columns, expected {len(expected)}")
            values = dict(zip(expected, row))
            site = _site(values, trap, where)
            if site.id in seen:
                raise LabelError(f"{where}: id {site.id!r} already used at {seen[site.id]}")
            seen[site.id] = where
            sites.append(site)
    return sites


def _site(values: dict[str, str], trap: bool, where: str) -> Site:
    checks = [
        ("id", _ID.fullmatch(values["id"])),
        ("rule", _RULE.fullmatch(values["rule"])),
        ("repo", _REPO.fullmatch(values["repo"])),
        ("commit", _COMMIT.fullmatch(values["commit"])),
        ("path", values["path"] and not values["path"].startswith("/") and ".." not in values["path"].split("/")),
        ("line", values["line"].isdigit() and int(values["line"]) > 0),
    ]
    if not trap:
        checks.append(("scope", values["scope"] in SCOPES))
        checks.append(("fix_commit", values["fix_commit"] == "-" or _COMMIT.fullmatch(values["fix_commit"])))
        checks.append(("source", values["source"].startswith("https://")))
        checks.append(("description", values["description"].strip()))
    else:
        checks.append(("why", values["why"].strip()))
    for column, ok in checks:
        if not ok:
            raise LabelError(f"{where}: bad {column}: {values[column]!r}")
    return Site(
        id=values["id"],
        rule=values["rule"],
        repo=values["repo"],
        commit=values["commit"],
        path=values["path"],
        line=int(values["line"]),
        is_trap=trap,
        scope="" if trap else values["scope"],
        note=values["why"] if trap else values["description"],
    )


# --- materialize -----------------------------------------------------------------------------------------------


def mirror_git_dir(mirrors: Path, repo: str) -> Path | None:
    """The git directory `fetch` made for owner/name: a bare repo, or a clone with a work tree."""
    base = mirrors / repo.replace("/", "+") / "repo"
    for candidate in (base / ".git", base):
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    return None


def _git(git_dir: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, **kwargs)


def extract_tree(git_dir: Path, commit: str, dest: Path, subtree: str = "") -> int:
    """Write the tree at `commit` (or only its folder `subtree`) into `dest`; returns how many files the snapshot
    lacked (large or LFS files).

    `git archive` first; when a blob is missing from the snapshot it fails, and the tree is written file by file."""
    part = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    limit = [subtree] if subtree else []
    try:
        archive = subprocess.Popen(["git", f"--git-dir={git_dir}", "archive", commit, *limit], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL)
        untar = subprocess.run(["tar", "-x", "-C", str(part)], stdin=archive.stdout, capture_output=True)
        archive.stdout.close()
        missing = 0
        if archive.wait() != 0 or untar.returncode != 0:
            shutil.rmtree(part)
            part.mkdir()
            missing = _extract_file_by_file(git_dir, commit, part, limit)
        part.rename(dest)
        return missing
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise


def _extract_file_by_file(git_dir: Path, commit: str, dest: Path, limit: list[str]) -> int:
    listing = _git(git_dir, "ls-tree", "-r", "-z", commit, *limit)
    missing = 0
    for entry in listing.stdout.split(b"\0"):
        if not entry:
            continue
        meta, _, name = entry.partition(b"\t")
        mode, kind, obj = meta.split()
        if kind != b"blob" or mode == b"120000":
            continue  # submodules and symbolic links are left out
        blob = _git(git_dir, "cat-file", "blob", obj.decode())
        if blob.returncode != 0:
            missing += 1
            continue
        target = dest / os.fsdecode(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob.stdout)
    return missing


def python_file_count(git_dir: Path, commit: str) -> int:
    listing = _git(git_dir, "ls-tree", "-r", "--name-only", "-z", commit)
    return sum(name.endswith(b".py") for name in listing.stdout.split(b"\0"))


def extraction_subtree(site: Site, git_dir: Path, max_python_files: int) -> str:
    """The folder to extract instead of the whole tree, or "" for the whole tree.

    A bug whose scope is `file` needs the whole project. Any other id in a repository with more Python files than
    `max_python_files` (a monorepo of examples) gets the folder that holds its file, so one id does not cost a
    check of thousands of unrelated files."""
    if site.scope == "file" or python_file_count(git_dir, site.commit) <= max_python_files:
        return ""
    return str(Path(site.path).parent) if "/" in site.path else ""


def materialize(sites: list[Site], corpus: Path, mirrors: Path, max_python_files: int = 1500) -> int:
    """Extract every id's tree that is not there yet; returns the number of ids that could not be made."""
    corpus.mkdir(parents=True, exist_ok=True)
    failed = 0
    for site in sites:
        dest = corpus / site.id
        if dest.is_dir():
            status = "present"
        else:
            git_dir = mirror_git_dir(mirrors, site.repo)
            if git_dir is None:
                print(f"{site.id}: no snapshot of {site.repo} under {mirrors}: fetch github:{site.repo} first "
                      f"(or write {site.path} at {site.commit[:12]} by hand; see benchmarks/realbugs/README.md)")
                failed += 1
                continue
            kind = _git(git_dir, "cat-file", "-t", site.commit, text=True)
            if kind.stdout.strip() != "commit":
                print(f"{site.id}: commit {site.commit} is not in the snapshot of {site.repo}")
                failed += 1
                continue
            subtree = extraction_subtree(site, git_dir, max_python_files)
            missing = extract_tree(git_dir, site.commit, dest, subtree)
            status = "extracted" + (f" {subtree}/ only" if subtree else "")
            status += f" ({missing} files absent from the snapshot)" if missing else ""
        problem = _line_problem(dest / site.path, site.line)
        if problem:
            failed += 1
            status += f"; {problem}"
        print(f"{site.id}: {status}")
    return failed


def _line_problem(path: Path, line: int) -> str:
    if not path.is_file():
        return f"{path} is missing"
    with open(path, "rb") as handle:
        count = sum(1 for _ in handle)
    return f"line {line} is past the end of {path} ({count} lines)" if line > count else ""


# --- run -------------------------------------------------------------------------------------------------------


@dataclass
class TreeResult:
    """memlint's findings on one tree, as (relative path, code, row)."""

    findings: list[tuple[str, str, int]] = field(default_factory=list)
    error: str = ""


def memlint_env(pythonpath: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    env["NO_COLOR"] = "1"
    return env


def memlint_version(pythonpath: str | None) -> dict[str, str]:
    # From a neutral folder: `python -c` puts the working directory first on sys.path, ahead of PYTHONPATH.
    probe = subprocess.run(
        [sys.executable, "-c", "import memlint, os; print(memlint.__version__); print(os.path.dirname(memlint.__file__))"],
        capture_output=True, text=True, env=memlint_env(pythonpath), cwd=tempfile.gettempdir(),
    )
    lines = probe.stdout.split("\n")
    if probe.returncode != 0 or len(lines) < 2:
        return {"version": "unknown", "package": "", "error": probe.stderr.strip()[-500:]}
    return {"version": lines[0], "package": lines[1]}


def check_tree(tree: Path, pythonpath: str | None, timeout: float) -> TreeResult:
    command = [sys.executable, "-m", "memlint", "check", "--no-cache", "--exit-zero", "--select", "ALL",
               "--output-format", "json", "."]
    try:
        proc = subprocess.run(command, cwd=tree, capture_output=True, text=True, env=memlint_env(pythonpath),
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return TreeResult(error=f"timed out after {timeout:.0f} s")
    try:
        raw = json.loads(proc.stdout)
    except json.JSONDecodeError:
        last = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return TreeResult(error=f"no JSON from memlint: {last[0]}")
    root = os.path.realpath(tree)
    findings = []
    for item in raw:
        name = os.path.relpath(os.path.realpath(os.path.join(tree, item["filename"])), root)
        findings.append((Path(name).as_posix(), item["code"], int(item["location"]["row"])))
    return TreeResult(findings=sorted(findings))


def near(findings: list[tuple[str, str, int]], path: str, line: int, distance: int) -> list[tuple[str, int]]:
    return [(code, row) for name, code, row in findings if name == path and abs(row - line) <= distance]


def judge(site: Site, tree: TreeResult | None) -> dict:
    """The outcome for one id: found / missed for a label, silent / false_positive for a trap."""
    record = {"id": site.id, "rule": site.rule, "repo": site.repo, "path": site.path, "line": site.line}
    if not site.is_trap:
        record["scope"] = site.scope
    if tree is None:
        record["status"] = "not_materialized"
        return record
    if tree.error:
        record["status"] = "error"
        record["error"] = tree.error
        return record
    close = near(tree.findings, site.path, site.line, NEAR)
    matched = [row for code, row in close if code == site.rule]
    if site.is_trap:
        record["status"] = "false_positive" if matched else "silent"
    else:
        record["status"] = "found" if matched else "missed"
    record["rows"] = matched
    record["other_codes_near"] = sorted({code for code, _ in close if code != site.rule})
    return record


def ratio(found: int, total: int) -> float | None:
    return round(found / total, 3) if total else None


def summarize(records: list[dict]) -> dict:
    """Recall per rule, per scope and per rule x scope over the labels; false positives per rule over the traps.

    Ids that could not be checked (not materialized, memlint error) count in `unchecked`, not in the recall."""
    labels = [r for r in records if "scope" in r]
    traps = [r for r in records if "scope" not in r]

    def recall(group: list[dict]) -> dict:
        checked = [r for r in group if r["status"] in ("found", "missed")]
        found = sum(r["status"] == "found" for r in checked)
        return {"found": found, "total": len(checked), "recall": ratio(found, len(checked)),
                "unchecked": len(group) - len(checked)}

    by_rule, by_scope, by_both = defaultdict(list), defaultdict(list), defaultdict(list)
    for record in labels:
        by_rule[record["rule"]].append(record)
        by_scope[record["scope"]].append(record)
        by_both[f"{record['rule']}/{record['scope']}"].append(record)
    trap_rules = defaultdict(list)
    for record in traps:
        trap_rules[record["rule"]].append(record)
    return {
        "all": recall(labels),
        "rule": {key: recall(group) for key, group in sorted(by_rule.items())},
        "scope": {key: recall(by_scope[key]) for key in SCOPES if key in by_scope},
        "rule_scope": {key: recall(group) for key, group in sorted(by_both.items())},
        "traps": {
            key: {
                "traps": sum(r["status"] in ("silent", "false_positive") for r in group),
                "false_positive": sum(r["status"] == "false_positive" for r in group),
                "unchecked": sum(r["status"] not in ("silent", "false_positive") for r in group),
            }
            for key, group in sorted(trap_rules.items())
        },
    }


def tree_signature(site: Site, folder: Path) -> tuple[str, str, str]:
    """Ids whose folders hold the same Python files of the same commit are checked once."""
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix in (".py", ".ipynb"))
    digest = hashlib.sha1("\n".join(names).encode("utf-8", "surrogateescape")).hexdigest()
    return (site.repo, site.commit, digest)


def run(sites: list[Site], corpus: Path, pythonpath: str | None, timeout: float, progress=print) -> dict:
    trees: dict[tuple[str, str, str], TreeResult] = {}
    outcomes: dict[str, TreeResult | None] = {}
    for site in sites:
        folder = corpus / site.id
        if not folder.is_dir():
            outcomes[site.id] = None
            continue
        key = tree_signature(site, folder)
        if key not in trees:
            progress(f"checking {site.id} ({site.repo}@{site.commit[:10]})", file=sys.stderr)
            trees[key] = check_tree(folder, pythonpath, timeout)
        outcomes[site.id] = trees[key]
    records = [judge(site, outcomes[site.id]) for site in sites]
    return {
        "memlint": {"pythonpath": pythonpath or "", **memlint_version(pythonpath)},
        "near_lines": NEAR,
        "labels": [r for r in records if "scope" in r],
        "traps": [r for r in records if "scope" not in r],
        "summary": summarize(records),
    }


def _fmt(entry: dict) -> str:
    value = "-" if entry["recall"] is None else f"{entry['recall']:.2f}"
    extra = f"  ({entry['unchecked']} unchecked)" if entry["unchecked"] else ""
    return f"{entry['found']:>4}/{entry['total']:<4} {value}{extra}"


def print_report(result: dict) -> None:
    summary = result["summary"]
    info = result["memlint"]
    print(f"memlint {info['version']} from {info.get('package') or '?'}")
    print(f"recall, all labels     {_fmt(summary['all'])}")
    for title, key in (("per rule", "rule"), ("per scope", "scope"), ("per rule/scope", "rule_scope")):
        print(title)
        for name, entry in summary[key].items():
            print(f"  {name:<22}{_fmt(entry)}")
    print("traps (false positives / traps checked)")
    for name, entry in summary["traps"].items():
        extra = f"  ({entry['unchecked']} unchecked)" if entry["unchecked"] else ""
        print(f"  {name:<22}{entry['false_positive']:>4}/{entry['traps']:<4}{extra}")
    problems = [r for r in result["labels"] + result["traps"] if r["status"] in ("error", "not_materialized")]
    for record in problems:
        print(f"unchecked: {record['id']}: {record['status']} {record.get('error', '')}".rstrip())


def compare(before: dict, after: dict) -> list[str]:
    """Lines naming each id whose outcome changed between two `run --json` results."""
    lines = []
    for kind in ("labels", "traps"):
        old = {r["id"]: r["status"] for r in before.get(kind, [])}
        for record in after.get(kind, []):
            previous = old.get(record["id"], "absent")
            if previous != record["status"]:
                lines.append(f"{record['id']} ({record['rule']}): {previous} -> {record['status']}")
    return lines


# --- command line ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("materialize", "run"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--labels", nargs="+", type=Path, default=None,
                         help="label and trap TSVs (default: benchmarks/realbugs/*.tsv)")
        cmd.add_argument("--ids", nargs="+", default=None, help="only these ids")
        cmd.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="where each id's tree lives")
        if name == "materialize":
            cmd.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help="where the fetched snapshots are")
            cmd.add_argument("--max-python-files", type=int, default=1500,
                             help="above this many .py files, ids of scope local/function get only their folder")
        else:
            cmd.add_argument("--pythonpath", default=None, help="PYTHONPATH for memlint (a checkout to measure)")
            cmd.add_argument("--json", type=Path, default=None, help="write per-id outcomes and the summary here")
            cmd.add_argument("--timeout", type=float, default=900.0, help="seconds per tree")
    cmp = sub.add_parser("compare")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    args = parser.parse_args(argv)

    if args.command == "compare":
        try:
            before, after = (json.loads(p.read_text(encoding="utf-8")) for p in (args.before, args.after))
        except (OSError, ValueError) as exc:
            print(f"error: cannot read results: {exc}", file=sys.stderr)
            return 2
        changes = compare(before, after)
        print("\n".join(changes) if changes else "no outcome changed")
        for name, result in (("before", before), ("after", after)):
            print(f"{name}: recall {_fmt(result['summary']['all'])}")
        return 0

    try:
        sites = read_sites(args.labels or default_label_files())
    except LabelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.ids:
        unknown = set(args.ids) - {s.id for s in sites}
        if unknown:
            print(f"error: unknown ids: {' '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        sites = [s for s in sites if s.id in set(args.ids)]
    if args.command == "materialize":
        failed = materialize(sites, args.corpus, args.mirrors, args.max_python_files)
        print(f"{len(sites) - failed} of {len(sites)} ids ready under {args.corpus}")
        return 1 if failed else 0
    result = run(sites, args.corpus, args.pythonpath, args.timeout)
    print_report(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
