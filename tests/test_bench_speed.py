"""benchmarks/bench_speed.py runs end to end (on the shipped fixtures, the quick case): the script the
speed numbers in the README come from must not rot. It asserts no timing: speed lives in the benchmark."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_bench_speed_runs_on_the_fixtures_and_prints_every_ratio():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_speed.py"), str(REPO / "fixtures")],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for label in ("cold (1 process) / bare parse", "warm / cold (pool)", "warm after one edit / cold",
                  "project pass / cold (1 process)", "peak RSS, largest memlint process"):
        assert re.search(re.escape(label) + r".*= *[0-9.]+", proc.stdout), (label, proc.stdout)
    assert proc.stdout.count("memlint warm, one file edited") == 3  # each repetition edits the file anew
