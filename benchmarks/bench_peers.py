"""memlint next to its peers, TorchFix and torch-preflight 0.5.0, in one script run. Prints ratios.

    pip install torchfix torch-preflight==0.5.0     # in the benchmark environment only
    python benchmarks/bench_peers.py                 # the installed torch package, then fixtures/
    python benchmarks/bench_peers.py --every 4       # every 4th torch file (quicker)
    python benchmarks/bench_peers.py --bin /tmp/benchenv/bin   # where the peers' commands live

Speed: every tool is given the same file list and all cores (its own default), and, with
--single, one process each. Peak RSS is that of the tool's largest single process.

Known bugs: when /work/corpus/bugs/MANIFEST.tsv exists, each MEM001/MEM002 row is a real bug at a
known line; a tool "finds" it when it reports the matching rule within +-3 lines of it (memlint
MEM001/MEM002; torch-preflight TG002 "evaluation without no_grad" / TG001 "tensor stored with its
graph"). TRAPS.tsv lists code that looks like those bugs but is not one: every finding there is a
false positive.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_speed import REPO, files_memlint_checks, torch_dir  # noqa: E402

CORPUS = Path("/work/corpus/bugs")
PEER_CODES = {"MEM001": "TG002", "MEM002": "TG001"}
NEAR = 3


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, float, str, int]:
    """(seconds, peak RSS MB, stdout, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, **(env or {})}, cwd=cwd
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, out, os.waitstatus_to_exitcode(status)


def tools(bin_dir: Path, single: bool) -> dict[str, tuple[list[str], dict[str, str]]]:
    memlint = [sys.executable, "-m", "memlint", "check", "--no-cache", "--exit-zero", "-q", "--output-format", "json"]
    found = {"memlint": (memlint, {})}
    if single:
        found["memlint -j1"] = (memlint, {"MEMLINT_JOBS": "1"})
    torchfix = shutil.which("torchfix", path=str(bin_dir)) or shutil.which("torchfix")
    if torchfix:
        found["torchfix"] = ([torchfix], {})
        if single:
            found["torchfix -j1"] = ([torchfix, "-j", "1"], {})
    preflight = shutil.which("torch-preflight", path=str(bin_dir)) or shutil.which("torch-preflight")
    if preflight:
        found["torch-preflight"] = ([preflight, "check", "-f", "json", "-q"], {})
        if single:
            found["torch-preflight -j1"] = ([preflight, "check", "-f", "json", "-q", "-j", "1"], {})
    return found


def speed(label: str, files: list[Path], commands: dict[str, tuple[list[str], dict[str, str]]]) -> None:
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    print(f"\n== speed on {label}: {len(files)} files, {lines:,} lines")
    names = [str(p) for p in files]
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for tool, (cmd, env) in commands.items():
            seconds, rss, _, code = run([*cmd, *names], env=env, cwd=Path(work))
            results[tool] = seconds
            print(f"  {tool:<22} {seconds:8.2f} s  {len(files) / seconds:7.1f} files/s  peak RSS {rss:5.0f} MB  exit {code}")
    base = results["memlint"]
    for tool, seconds in results.items():
        if tool != "memlint":
            print(f"  {tool} / memlint = {seconds / base:.2f}")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def memlint_findings(files: list[Path]) -> list[tuple[str, str, int]]:
    _, _, out, _ = run(
        [sys.executable, "-m", "memlint", "check", "--no-cache", "--exit-zero", "--output-format", "json", *map(str, files)]
    )
    return [(os.path.realpath(f["filename"]), f["code"], f["location"]["row"]) for f in json.loads(out or "[]")]


def preflight_findings(bin_dir: Path, files: list[Path], codes: set[str]) -> list[tuple[str, str, int]]:
    preflight = shutil.which("torch-preflight", path=str(bin_dir)) or shutil.which("torch-preflight")
    if not preflight:
        return []
    _, _, out, _ = run([preflight, "check", "-f", "json", "-q", "-j", "1", *map(str, files)], cwd=CORPUS)
    data = json.loads(out or "{}")
    return [
        (os.path.realpath(CORPUS / d["path"]), d["code"], d["line"])
        for d in data.get("diagnostics", [])
        if d["code"] in codes
    ]


def known_bugs(bin_dir: Path) -> None:
    manifest, traps = CORPUS / "MANIFEST.tsv", CORPUS / "TRAPS.tsv"
    if not manifest.exists():
        print(f"\n== known bugs: {manifest} not found, skipped")
        return
    bugs = [r for r in _rows(manifest) if r["rule"] in PEER_CODES]
    trap_rows = _rows(traps) if traps.exists() else []
    bug_files = sorted({(CORPUS / r["file"]).resolve() for r in bugs})
    trap_files = sorted({(CORPUS / r["file"]).resolve() for r in trap_rows if (CORPUS / r["file"]).exists()})
    peer_codes = set(PEER_CODES.values())
    found = {
        "memlint": memlint_findings(bug_files + trap_files),
        "torch-preflight": preflight_findings(bin_dir, bug_files + trap_files, peer_codes),
    }
    print(f"\n== known bugs: {len(bugs)} MEM001/MEM002 rows in {manifest}, {len(trap_files)} trap files")
    for tool, findings in found.items():
        counts = {}
        for rule in PEER_CODES:
            code = rule if tool == "memlint" else PEER_CODES[rule]
            rows = [r for r in bugs if r["rule"] == rule]
            hit = 0
            for r in rows:
                target = os.path.realpath(CORPUS / r["file"])
                line = int(r["line"]) if r["line"].isdigit() else None
                if any(f == target and c == code and (line is None or abs(n - line) <= NEAR) for f, c, n in findings):
                    hit += 1
            counts[rule] = f"{hit}/{len(rows)}"
        trap_set = {str(p) for p in trap_files}
        on_traps = [x for x in findings if x[0] in trap_set]
        relevant = [x for x in on_traps if x[1] in PEER_CODES or x[1] in peer_codes]
        print(
            f"  {tool:<16} MEM001 found {counts['MEM001']:>6}   MEM002 found {counts['MEM002']:>6}   "
            f"findings on trap files: {len(on_traps)} ({len(relevant)} of the MEM001/MEM002 kind)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--every", type=int, default=1, help="take every Nth file (default: all)")
    parser.add_argument("--bin", type=Path, default=Path(sys.executable).parent, help="where the peers' commands are")
    parser.add_argument("--single", action="store_true", help="also time each tool in one process")
    parser.add_argument("--no-speed", action="store_true", help="only the known-bug comparison")
    args = parser.parse_args(argv)
    commands = tools(args.bin, args.single)
    missing = {"torchfix", "torch-preflight"} - set(commands)
    if missing:
        print(f"not installed (pip install torchfix torch-preflight==0.5.0): {', '.join(sorted(missing))}")
    if not args.no_speed:
        for target in args.paths or [torch_dir(), REPO / "fixtures"]:
            files = files_memlint_checks([target])[:: args.every] if target.exists() else []
            if files:
                speed(str(target), files, commands)
    known_bugs(args.bin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
