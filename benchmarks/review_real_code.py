"""Precision and recall of memlint on real repositories it has never seen, from verdicts written by hand.

    python benchmarks/review_real_code.py materialize              # mirrors -> /work/corpus/realcode/
    python benchmarks/review_real_code.py run                      # this checkout's memlint
    python benchmarks/review_real_code.py run --pythonpath /work/wt/baseline --json /tmp/base.json
    python benchmarks/review_real_code.py run --stub /tmp/new_rows.tsv   # rows to fill in for unreviewed findings
    python benchmarks/review_real_code.py samples /work/staging/samples/MEM001.md   # do the samples hold?

`benchmarks/realcode/repos.tsv` names each repository, the commit reviewed, its kind and why it was picked
(an optional last column limits the check to some paths). `materialize` writes each commit's files from the
local mirror that the search tool's `fetch` made, outside this repository.

`run` checks every repository with `python -m memlint check --no-cache --exit-zero --select ALL
--output-format json` (PYTHONPATH picks the checkout) and joins the findings with `realcode/verdicts.tsv`.
Per rule it prints findings, true and false positives, unreviewed findings and precision = TP / (TP + FP).
A verdict matches a finding of the same repository, file and code whose line holds the same stripped source
text; of several such verdicts the nearest line wins, so a verdict survives small line shifts. Verdicts
that match no finding any more are counted as "gone": a second pass on a newer memlint shows which true
positives it lost and which false positives it dropped. `realcode/misses.tsv` lists real instances a reader
found that memlint 0.1 did not report; recall per rule counts the true positives and those misses, and a
miss counts as found when a new finding of its rule reports its row or one within 3 rows.
Notebook lines are `cell:row` (`7:3` is row 3 of cell 7, cells counted as Jupyter counts them).

`samples` runs memlint on the must-fire / must-not-fire samples written from a review (one `CODE.md` per
rule) and says which of them memlint satisfies; memlint 0.1 satisfies none of the ones from this review.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_bugs import mirror_git_dir  # noqa: E402  (one way to find a fetched mirror, shared)

HERE = Path(__file__).resolve().parent
REPOS_TSV = HERE / "realcode" / "repos.tsv"
VERDICTS_TSV = HERE / "realcode" / "verdicts.tsv"
MISSES_TSV = HERE / "realcode" / "misses.tsv"
CORPUS = Path("/work/corpus/realcode")
MIRRORS = Path("/work/.mirror")
NEAR = 3  # a finding this many rows from a recorded miss (same file and rule) counts as finding it


@dataclass(frozen=True)
class Repo:
    name: str  # owner/name
    commit: str
    kind: str  # torch | keras | mixed
    why: str
    paths: tuple[str, ...] = (".",)

    @property
    def folder(self) -> str:
        return self.name.replace("/", "+")


@dataclass(frozen=True)
class ReviewedLine:
    """A line of a reviewed repository, at the commit reviewed, for one rule."""

    repo: str
    commit: str
    path: str
    line: str
    code: str
    source_line_sha1: str


@dataclass(frozen=True)
class Verdict(ReviewedLine):
    verdict: str  # TP | FP
    reason: str


@dataclass(frozen=True)
class Miss(ReviewedLine):
    """A real instance a reader found and memlint 0.1 did not report."""

    files: str  # single | multi: whether seeing it needs another file
    shape: str


@dataclass
class Finding:
    repo: str
    path: str  # relative to the repository root, with forward slashes
    line: str  # "12", or "cell:row" in a notebook
    code: str
    message: str
    source: str  # the reported line, stripped
    verdict: Verdict | None = field(default=None)

    @property
    def sha1(self) -> str:
        return source_sha1(self.source)


VERDICT_FIELDS = tuple(f.name for f in fields(Verdict))
MISS_FIELDS = tuple(f.name for f in fields(Miss))


# ---------------------------------------------------------------------------- tables
def _rows(path: Path) -> list[list[str]]:
    """Tab-separated rows, without blank lines, `#` comments and the header (first cell `repo`)."""
    rows = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            if not row or not row[0].strip() or row[0].startswith("#") or row[0] == "repo":
                continue
            rows.append(row)
    return rows


def read_repos(path: Path = REPOS_TSV) -> list[Repo]:
    repos = []
    for row in _rows(path):
        if len(row) < 4:
            raise ValueError(f"{path}: a row needs repo, commit, kind and why: {row!r}")
        paths = tuple(row[4].split()) if len(row) > 4 and row[4].strip() else (".",)
        repos.append(Repo(row[0], row[1], row[2], row[3], paths))
    return repos


def _records(path: Path, kind, fields: tuple[str, ...], what: str) -> list:
    """Rows of a table with a fixed set of columns, as `kind` records; a missing file has none."""
    if not path.exists():
        return []
    records = []
    for row in _rows(path):
        if len(row) != len(fields):
            raise ValueError(f"{path}: a {what} row needs {len(fields)} columns: {row!r}")
        records.append(kind(*row))
    return records


def read_verdicts(path: Path = VERDICTS_TSV) -> list[Verdict]:
    verdicts = _records(path, Verdict, VERDICT_FIELDS, "verdict")
    for verdict in verdicts:
        if verdict.verdict not in ("TP", "FP"):
            raise ValueError(f"{path}: verdict must be TP or FP: {verdict}")
    return verdicts


def read_misses(path: Path = MISSES_TSV) -> list[Miss]:
    return _records(path, Miss, MISS_FIELDS, "miss")


def source_sha1(text: str) -> str:
    return hashlib.sha1(text.strip().encode("utf-8")).hexdigest()


def line_position(line: str) -> tuple[int, int]:
    """(cell, row) of a `line` cell: `12` is (0, 12), `7:3` is (7, 3)."""
    if ":" in line:
        cell, row = line.split(":", 1)
        return int(cell), int(row)
    return 0, int(line)


def _distance(a: str, b: str) -> int:
    (cell_a, row_a), (cell_b, row_b) = line_position(a), line_position(b)
    return abs(cell_a - cell_b) * 100_000 + abs(row_a - row_b)


# ---------------------------------------------------------------------------- source lines
def source_line(repo_dir: Path, path: str, line: str) -> str:
    """The stripped text of a reported line (a notebook line is `cell:row`); '' when out of range."""
    file = repo_dir / path
    cell, row = line_position(line)
    if file.suffix == ".ipynb":
        try:
            cells = json.loads(file.read_text(encoding="utf-8"))["cells"]
            text = cells[cell - 1].get("source", "")
        except (OSError, ValueError, KeyError, IndexError):
            return ""
        text = "".join(text) if isinstance(text, list) else text
    else:
        try:
            text = file.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
        except OSError:
            return ""
    lines = text.splitlines()
    return lines[row - 1].strip() if 0 < row <= len(lines) else ""


def findings_from_json(repo: Repo, repo_dir: Path, report: list[dict]) -> list[Finding]:
    found = []
    for item in report:
        if item.get("code") is None:
            continue  # a file memlint could not check (also on stderr, counted apart)
        path = Path(item["filename"]).resolve().relative_to(repo_dir.resolve()).as_posix()
        row = item["location"]["row"]
        line = f"{item['cell']}:{row}" if item.get("cell") else str(row)
        found.append(Finding(repo.name, path, line, item["code"], item["message"], source_line(repo_dir, path, line)))
    return found


# ---------------------------------------------------------------------------- the join
def join(findings: list[Finding], verdicts: list[Verdict]) -> list[Verdict]:
    """Give each finding its verdict (same repo, path, code and source text; the nearest line wins;
    a verdict serves one finding). Returns the verdicts that matched no finding."""
    pool: dict[tuple[str, str, str, str], list[Verdict]] = defaultdict(list)
    for verdict in verdicts:
        pool[(verdict.repo, verdict.path, verdict.code, verdict.source_line_sha1)].append(verdict)
    waiting = []
    for finding in findings:  # exact lines first, so a shifted twin cannot take another's verdict
        candidates = pool.get((finding.repo, finding.path, finding.code, finding.sha1), [])
        exact = next((v for v in candidates if v.line == finding.line), None)
        if exact is not None:
            candidates.remove(exact)
            finding.verdict = exact
        else:
            waiting.append(finding)
    for finding in waiting:
        candidates = pool.get((finding.repo, finding.path, finding.code, finding.sha1), [])
        if candidates:
            nearest = min(candidates, key=lambda v: _distance(v.line, finding.line))
            candidates.remove(nearest)
            finding.verdict = nearest
    return [verdict for left in pool.values() for verdict in left]


@dataclass
class RuleTally:
    findings: int = 0
    tp: int = 0
    fp: int = 0
    unreviewed: int = 0
    gone_tp: int = 0
    gone_fp: int = 0

    @property
    def precision(self) -> float | None:
        judged = self.tp + self.fp
        return self.tp / judged if judged else None


def tally(findings: list[Finding], gone: list[Verdict]) -> dict[str, RuleTally]:
    table: dict[str, RuleTally] = defaultdict(RuleTally)
    for finding in findings:
        if finding.code is None:
            continue  # a file memlint could not read (JSON entries with no code, as ruff writes them)
        entry = table[finding.code]
        entry.findings += 1
        if finding.verdict is None:
            entry.unreviewed += 1
        elif finding.verdict.verdict == "TP":
            entry.tp += 1
        else:
            entry.fp += 1
    for verdict in gone:
        if verdict.verdict == "TP":
            table[verdict.code].gone_tp += 1
        else:
            table[verdict.code].gone_fp += 1
    return dict(sorted(table.items()))


def render_table(table: dict[str, RuleTally]) -> str:
    header = f"{'rule':8} {'findings':>8} {'TP':>5} {'FP':>5} {'unrev':>6} {'precision':>9} {'goneTP':>7} {'goneFP':>7}"
    lines = [header]
    total = RuleTally()
    for code, entry in table.items():
        lines.append(_table_row(code, entry))
        for name in ("findings", "tp", "fp", "unreviewed", "gone_tp", "gone_fp"):
            setattr(total, name, getattr(total, name) + getattr(entry, name))
    lines.append(_table_row("all", total))
    return "\n".join(lines)


def _table_row(code: str, entry: RuleTally) -> str:
    precision = "-" if entry.precision is None else f"{entry.precision:.2f}"
    return (
        f"{code:8} {entry.findings:>8} {entry.tp:>5} {entry.fp:>5} {entry.unreviewed:>6} {precision:>9}"
        f" {entry.gone_tp:>7} {entry.gone_fp:>7}"
    )


def _near(a: ReviewedLine | Finding, b: ReviewedLine) -> bool:
    return (a.repo, a.path, a.code) == (b.repo, b.path, b.code) and _distance(a.line, b.line) <= NEAR


def found_misses(findings: list[Finding], misses: list[Miss]) -> list[Miss]:
    """The recorded misses that an unreviewed finding of their rule now reports, on their row or within
    NEAR rows (a newer memlint may report the loop's first line rather than the call). The corpus is
    fixed at the reviewed commits, so rows do not move; identical text elsewhere in the file is another
    instance and does not count."""
    fresh = [f for f in findings if f.verdict is None]
    return [miss for miss in misses if any(_near(f, miss) for f in fresh)]


def recall_table(findings: list[Finding], verdicts: list[Verdict], misses: list[Miss]) -> str:
    """Per rule: the real instances known and how many this run reports. Real instances are the
    true-positive verdicts and the recorded misses; a miss that a later true-positive verdict sits on
    (once a newer memlint reports it and the finding is reviewed) is that verdict, counted once."""
    true = [v for v in verdicts if v.verdict == "TP"]
    open_misses = [m for m in misses if not any(_near(v, m) for v in true)]
    reported_true = {id(f.verdict) for f in findings if f.verdict is not None and f.verdict.verdict == "TP"}
    found = {id(m) for m in found_misses(findings, open_misses)}
    real: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for verdict in true:
        real[verdict.code] += 1
        hits[verdict.code] += id(verdict) in reported_true
    for miss in open_misses:
        real[miss.code] += 1
        hits[miss.code] += id(miss) in found
    lines = [f"{'rule':8} {'real':>6} {'found':>6} {'recall':>7}"]
    for code in sorted(real):
        lines.append(f"{code:8} {real[code]:>6} {hits[code]:>6} {hits[code] / real[code]:>7.2f}")
    total, hit = sum(real.values()), sum(hits.values())
    if total:
        lines.append(f"{'all':8} {total:>6} {hit:>6} {hit / total:>7.2f}")
    return "\n".join(lines)


def stub_row(finding: Finding, commit: str) -> str:
    """A verdicts.tsv row for an unreviewed finding, with the verdict and reason left to fill in."""
    return "\t".join(
        [finding.repo, commit, finding.path, finding.line, finding.code, finding.sha1, "?", finding.message]
    )


# ---------------------------------------------------------------------------- commands
def materialize(repos: list[Repo], corpus: Path, mirrors: Path) -> int:
    failed = 0
    for repo in repos:
        dest = corpus / repo.folder
        stamp = dest / ".review_commit"
        if stamp.exists() and stamp.read_text().strip() == repo.commit:
            print(f"{repo.name}: already at {repo.commit[:12]}")
            continue
        git_dir = mirror_git_dir(mirrors, repo.name)  # a bare repository, or a clone with its .git folder
        if git_dir is None:
            print(f"{repo.name}: no mirror at {mirrors / repo.folder / 'repo'} (fetch it with the search tool first)", file=sys.stderr)
            failed += 1
            continue
        if dest.exists():
            subprocess.run(["rm", "-rf", "--", str(dest)], check=True)
        dest.mkdir(parents=True)
        written, missing = extract_commit(git_dir, repo.commit, dest)
        stamp.write_text(repo.commit + "\n")
        print(f"{repo.name}: {written} files of {repo.commit[:12]} into {dest}"
              + (f" ({missing} blobs absent from the snapshot)" if missing else ""))
    return 1 if failed else 0


def extract_commit(git_dir: Path, commit: str, dest: Path) -> tuple[int, int]:
    """Write a commit's regular files under dest; (written, missing). Not `git archive | tar -x`: the
    mirrors lack blobs of 4 MiB and more, and git archive stops at the first one; such files (data,
    images, large notebooks) are skipped here instead."""
    listing = subprocess.run(["git", f"--git-dir={git_dir}", "ls-tree", "-r", "-z", commit],
                             capture_output=True, check=True).stdout
    entries = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, name = record.split(b"\t", 1)
        mode, kind, sha = meta.split()
        if kind == b"blob" and mode in (b"100644", b"100755"):
            entries.append((sha.decode(), os.fsdecode(name)))
    batch = subprocess.run(["git", f"--git-dir={git_dir}", "cat-file", "--batch"],
                           input="".join(sha + "\n" for sha, _ in entries).encode(),
                           capture_output=True, check=True).stdout
    written = missing = offset = 0
    root = dest.resolve()
    for _sha, name in entries:
        end = batch.index(b"\n", offset)
        header = batch[offset:end].split()
        offset = end + 1
        if header[-1] == b"missing":
            missing += 1
            continue
        size = int(header[2])
        target = (dest / name).resolve()
        if root not in target.parents:
            raise ValueError(f"{name}: path leaves {dest}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(batch[offset:offset + size])
        offset += size + 1
        written += 1
    return written, missing


def check_repo(repo: Repo, repo_dir: Path, pythonpath: Path) -> tuple[list[Finding], list[str]]:
    """The repository's findings, and memlint's stderr lines (files it could not check)."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    cmd = [sys.executable, "-m", "memlint", "check", "--no-cache", "--exit-zero", "--select", "ALL",
           "--output-format", "json", *repo.paths]
    proc = subprocess.run(cmd, cwd=repo_dir, env=env, capture_output=True, text=True)
    try:
        report = json.loads(proc.stdout or "[]")
    except ValueError:
        raise SystemExit(f"{repo.name}: memlint exited {proc.returncode} without JSON:\n{proc.stderr[-2000:]}")
    problems = [line for line in proc.stderr.splitlines() if line.strip()]
    return findings_from_json(repo, repo_dir, report), problems


def run(args: argparse.Namespace) -> int:
    repos = [r for r in read_repos(args.repos) if not args.only or r.name in args.only]
    verdicts = read_verdicts(args.verdicts)
    known = {r.name for r in repos}
    verdicts = [v for v in verdicts if v.repo in known]
    findings: list[Finding] = []
    problems: dict[str, list[str]] = {}
    for repo in repos:
        repo_dir = args.corpus / repo.folder
        if not repo_dir.is_dir():
            raise SystemExit(f"{repo.name}: {repo_dir} is missing; run `materialize` first")
        found, problems[repo.name] = check_repo(repo, repo_dir, args.pythonpath)
        findings.extend(found)
    findings.sort(key=lambda f: (f.repo, f.path, line_position(f.line), f.code))
    gone = join(findings, verdicts)
    print(f"memlint from {args.pythonpath}; {len(repos)} repositories; {len(verdicts)} verdicts")
    print(render_table(tally(findings, gone)))
    misses = [m for m in read_misses(args.misses) if m.repo in known]
    if misses:
        found = found_misses(findings, misses)
        print(f"\nrecall against the true positives and the {len(misses)} recorded misses "
              f"({len(found)} of those misses reported now):")
        print(recall_table(findings, verdicts, misses))
    per_repo = Counter(f.repo for f in findings)
    print("\nfindings per repository: " + ", ".join(f"{r.name} {per_repo[r.name]}" for r in repos))
    unchecked = {name: len(lines) for name, lines in problems.items() if lines}
    if unchecked:
        print("files memlint could not check (stderr lines): "
              + ", ".join(f"{name} {count}" for name, count in unchecked.items()))
    unreviewed = [f for f in findings if f.verdict is None]
    if unreviewed:
        print(f"\nunreviewed findings ({len(unreviewed)}):")
        for finding in unreviewed:
            print(f"  {finding.repo} {finding.path}:{finding.line} {finding.code} | {finding.source[:100]}")
    if gone:
        print(f"\nverdicts matching no finding ({len(gone)}):")
        for verdict in gone:
            print(f"  {verdict.verdict} {verdict.repo} {verdict.path}:{verdict.line} {verdict.code}")
    if args.json:
        commits = {r.name: r.commit for r in repos}
        payload = {
            "memlint": str(args.pythonpath),
            "rules": {code: {**vars(t), "precision": t.precision} for code, t in tally(findings, gone).items()},
            "findings": [
                {"repo": f.repo, "commit": commits[f.repo], "path": f.path, "line": f.line, "code": f.code,
                 "message": f.message, "source": f.source, "source_line_sha1": f.sha1,
                 "verdict": f.verdict.verdict if f.verdict else None,
                 "reason": f.verdict.reason if f.verdict else None}
                for f in findings
            ],
            "gone": [vars(v) for v in gone],
            "problems": problems,
        }
        Path(args.json).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    if args.stub:
        commits = {r.name: r.commit for r in repos}
        Path(args.stub).write_text("".join(stub_row(f, commits[f.repo]) + "\n" for f in unreviewed), encoding="utf-8")
    return 0


# ---------------------------------------------------------------------------- staged samples
SAMPLE_HEADER = re.compile(r"^## (\S+)\s+\(?(fire|silent)\)?\s+line=(\d+)\s+files=(single|multi)\s*$")
FILE_MARKER = re.compile(r"^# file: (\S+)[ \t]*$")
FINDING_FILE = re.compile(r"\[finding in (\S+?)\]")


@dataclass
class Sample:
    """A must-fire or must-not-fire sample written from the review (staging/samples/CODE.md)."""

    code: str
    slug: str
    expect: str  # fire | silent
    line: int
    files: dict[str, str]
    finding_file: str  # where `line` is: named by "[finding in X]", else the last file


def parse_samples(code: str, text: str) -> list[Sample]:
    """Samples of one rule's file: a `## slug (fire|silent) line=N files=...` header, a one-line reason,
    then python blocks whose `# file: NAME` lines start the files (the marker is not part of a file)."""
    samples = []
    for block in re.split(r"(?m)^(?=## )", text):
        header = SAMPLE_HEADER.match(block.splitlines()[0]) if block.startswith("## ") else None
        if header is None:
            continue
        files: dict[str, str] = {}
        current = None
        for body in re.findall(r"```python\n(.*?)```", block, re.S):
            for line in body.splitlines(keepends=True):
                marker = FILE_MARKER.match(line)
                if marker:
                    current = marker.group(1)
                    files[current] = ""
                elif current is not None:
                    files[current] += line
        if not files:
            raise ValueError(f"{code} {header.group(1)}: no `# file:` block")
        named = FINDING_FILE.search(block)
        finding_file = named.group(1) if named and named.group(1) in files else list(files)[-1]
        samples.append(Sample(code, header.group(1), header.group(2), int(header.group(3)), files, finding_file))
    return samples


def check_sample(sample: Sample, pythonpath: Path) -> tuple[bool, list[tuple[str, int]]]:
    """Whether memlint from `pythonpath` does what the sample asks, and the rows it reported."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, source in sample.files.items():
            target = Path(tmp) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source, encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "memlint", "check", "--no-cache", "--exit-zero", "--select", sample.code,
             "--output-format", "json", "."],
            cwd=tmp, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(pythonpath)},
        )
        root = Path(tmp).resolve()
        reported = [
            (Path(item["filename"]).resolve().relative_to(root).as_posix(), item["location"]["row"])
            for item in json.loads(proc.stdout or "[]")
        ]
    fired = (sample.finding_file, sample.line) in reported
    return fired == (sample.expect == "fire"), reported


def check_samples(args: argparse.Namespace) -> int:
    wanted = set(args.slugs or [])
    passed = total = 0
    for path in args.files:
        for sample in parse_samples(path.stem, path.read_text(encoding="utf-8")):
            if wanted and sample.slug not in wanted:
                continue
            ok, reported = check_sample(sample, args.pythonpath)
            total += 1
            passed += ok
            if not ok or args.verbose:
                state = "ok  " if ok else "FAIL"
                print(f"{state} {sample.code} {sample.slug} ({sample.expect}) {sample.finding_file}:{sample.line}"
                      f" reported {reported}")
    print(f"memlint from {args.pythonpath}: {passed} of {total} samples behave as they ask")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repos", type=Path, default=REPOS_TSV)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    sub = parser.add_subparsers(dest="command", required=True)
    mat = sub.add_parser("materialize", help="extract each repository's commit from its mirror")
    mat.add_argument("--mirrors", type=Path, default=MIRRORS)
    mat.add_argument("--only", nargs="*", help="owner/name of the repositories to extract")
    chk = sub.add_parser("run", help="check every repository and join the findings with the verdicts")
    chk.add_argument("--pythonpath", type=Path, default=HERE.parent, help="the memlint checkout to run")
    chk.add_argument("--verdicts", type=Path, default=VERDICTS_TSV)
    chk.add_argument("--misses", type=Path, default=MISSES_TSV)
    chk.add_argument("--json", help="write findings with their verdicts here")
    chk.add_argument("--stub", help="write verdict rows for the unreviewed findings here, to fill in")
    chk.add_argument("--only", nargs="*", help="owner/name of the repositories to check")
    smp = sub.add_parser("samples", help="run memlint on staged must-fire / must-not-fire samples")
    smp.add_argument("files", nargs="+", type=Path, help="CODE.md files (e.g. /work/staging/samples/MEM001.md)")
    smp.add_argument("--pythonpath", type=Path, default=HERE.parent, help="the memlint checkout to run")
    smp.add_argument("--slugs", nargs="*", help="only these samples")
    smp.add_argument("--verbose", action="store_true", help="list the samples that pass too")
    args = parser.parse_args(argv)
    try:
        if args.command == "materialize":
            repos = [r for r in read_repos(args.repos) if not args.only or r.name in args.only]
            return materialize(repos, args.corpus, args.mirrors)
        if args.command == "samples":
            return check_samples(args)
        return run(args)
    except (OSError, ValueError) as error:
        print(f"review_real_code: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
