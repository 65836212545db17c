"""`memlint verify`: the measurement on real scripts, the output check, and every way it can fail."""

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO, run_memlint
from memlint.cli import main
from memlint.verify.compare import compare_file_contents, first_difference, summarize_peaks
from memlint.verify.runner import preload_modules

DATA = REPO / "tests" / "data" / "verify"
FIXTURE_BADS = sorted((REPO / "fixtures").glob("MEM*/bad.py"))


def write(path: Path, code: str) -> Path:
    path.write_text(textwrap.dedent(code).lstrip(), encoding="utf-8")
    return path


def verify_json(*args, cwd, env=None, timeout=300):
    proc = run_memlint("verify", "--output-format", "json", *args, cwd=cwd, env=env, timeout=timeout)
    report = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc, report


# --- the output check ---------------------------------------------------------------------------


def test_numbers_within_tolerance_are_the_same_output():
    # an .item() fix sums in float64 instead of float32: the last digits move
    assert first_difference("epoch 1 loss 0.123456789\n", "epoch 1 loss 0.1234568\n") is None
    assert first_difference("loss=1.5e-3, acc=0.5", "loss=0.0015 , acc=0.50") is None


def test_changed_numbers_and_words_are_reported():
    assert "0.5" in first_difference("acc 0.5", "acc 0.6")
    assert "'train'" in first_difference("train done", "eval done")
    assert first_difference("a b c", "a b") == "3 output tokens became 2"
    assert first_difference("step 10", "step 11") is not None  # integers are exact in practice
    assert first_difference("v1.2.3", "v1.2.4") is not None


def test_compare_file_bytes_and_state_dicts():
    import io

    import torch

    def saved(obj):
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()

    w = torch.randn(4, 4)
    assert compare_file_contents(saved({"w": w}), saved({"w": w + 1e-7})) is None
    assert "values differ" in compare_file_contents(saved({"w": w}), saved({"w": w + 1}))
    assert "keys differ" in compare_file_contents(saved({"w": w}), saved({"v": w}))
    assert compare_file_contents(b"abc", b"abd") == "the compare file's bytes differ"
    assert "fixed copy did not write" in compare_file_contents(b"abc", None)


def test_confirmation_needs_more_than_5_mb_and_3x_the_spread():
    assert summarize_peaks([100.0, 100.1], [40.0, 40.2])["confirmed"]
    assert not summarize_peaks([10.0, 10.0], [6.0, 6.0])["confirmed"]  # 4 MB < 5 MB
    noisy = summarize_peaks([100.0, 130.0], [80.0, 81.0])  # spread 30 MB -> needs > 90 MB
    assert noisy["threshold_mb"] == 90.0 and not noisy["confirmed"]
    assert summarize_peaks([200.0, 200.0], [100.0, 100.0])["ratio"] == 2.0


def test_preloads_follow_the_imports():
    assert preload_modules(frozenset()) == []
    assert preload_modules(frozenset({"torch"})) == ["torch"]
    assert preload_modules(frozenset({"keras"})) == ["torch", "keras"]


# --- failure paths (plain-Python scripts: no torch, so these are fast) ----------------------------


def test_no_fixes_to_apply_points_to_against(tmp_path):
    """A file with no findings (e.g. after --fix): say so and show how to compare with the original."""
    script = write(tmp_path / "clean.py", "print('hello')\n")
    proc, report = verify_json(script, cwd=tmp_path)
    assert proc.returncode == 2
    assert "no fixes to apply: memlint finds nothing in it" in proc.stderr
    assert f"memlint verify ORIGINAL.py --against {script}" in report["error"]


def test_script_that_raises_is_an_error(tmp_path):
    script = write(tmp_path / "boom.py", "print('start')\nraise RuntimeError('kaboom')\n")
    same = write(tmp_path / "same.py", "print('start')\nraise RuntimeError('kaboom')\n")
    proc = run_memlint("verify", script, "--against", same, "--repeat", "1", cwd=tmp_path)
    assert proc.returncode == 2
    assert "the original script failed (exit 1)" in proc.stderr
    assert "RuntimeError: kaboom" in proc.stderr  # the tail of its traceback is shown


def test_missing_script_is_an_error(tmp_path):
    proc = run_memlint("verify", tmp_path / "nope.py", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no such file" in proc.stderr


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_timeout_kills_the_whole_process_group_and_removes_temp_files(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    pidfile = tmp_path / "child.pid"
    code = f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open({str(pidfile)!r}, "w").write(str(child.pid))
        time.sleep(120)
    """
    script = write(tmp_path / "hang.py", code)
    same = write(tmp_path / "hang2.py", code)
    started = time.monotonic()
    proc = run_memlint(
        "verify", script, "--against", same, "--timeout", "3", cwd=tmp_path, env={"TMPDIR": str(temp)}
    )
    assert time.monotonic() - started < 60
    assert proc.returncode == 2
    assert "did not finish within 3 s" in proc.stderr
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the script's child survived the timeout"
    assert list(temp.iterdir()) == []  # the copies and measurement files are gone


def test_terminating_verify_kills_the_run_and_removes_temp_files(tmp_path):
    import signal
    import subprocess

    temp = tmp_path / "tmp"
    temp.mkdir()
    started = tmp_path / "started"
    code = f"""
        import time
        open({str(started)!r}, "w").write("x")
        time.sleep(120)
    """
    script = write(tmp_path / "hang.py", code)
    env = dict(os.environ, TMPDIR=str(temp))
    verify = subprocess.Popen(
        [sys.executable, "-m", "memlint", "verify", str(script), "--against", str(script)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists()
    children = [int(p) for p in Path(f"/proc/{verify.pid}/task/{verify.pid}/children").read_text().split()]
    assert children
    verify.send_signal(signal.SIGTERM)
    verify.communicate(timeout=30)
    assert verify.returncode == 130  # unwound like Ctrl-C
    assert not any(_alive(pid) for pid in children)
    assert list(temp.iterdir()) == []


def test_changed_output_exits_1(tmp_path):
    script = write(tmp_path / "a.py", "print('loss', 0.25)\n")
    other = write(tmp_path / "b.py", "print('loss', 0.26)\n")
    proc, report = verify_json(script, "--against", other, "--repeat", "1", cwd=tmp_path)
    assert proc.returncode == 1
    assert report["output_same"] is False
    assert "'0.25' became '0.26'" in report["output_difference"]


def test_fixed_copy_that_fails_counts_as_changed_output(tmp_path):
    script = write(tmp_path / "a.py", "print('ok')\n")
    other = write(tmp_path / "b.py", "print('ok')\nraise SystemExit(3)\n")
    proc, report = verify_json(script, "--against", other, "--repeat", "1", cwd=tmp_path)
    assert proc.returncode == 1
    assert report["output_same"] is False
    assert report["output_difference"].startswith("the fixed copy exited with 3")


def test_no_reduction_is_not_confirmed(tmp_path):
    script = write(tmp_path / "a.py", "print(sum(range(10)))\n")
    other = write(tmp_path / "b.py", "print(sum(range(10)))  # same\n")
    proc, report = verify_json(script, "--against", other, cwd=tmp_path)
    assert proc.returncode == 1
    assert report["output_same"] is True and report["confirmed"] is False
    assert len(report["before"]["runs"]) == len(report["after"]["runs"]) == 2


def test_compare_file_that_changes_is_reported(tmp_path):
    script = write(tmp_path / "a.py", "open('out.bin', 'wb').write(b'1234')\n")
    other = write(tmp_path / "b.py", "open('out.bin', 'wb').write(b'1235')\n")
    proc, report = verify_json(script, "--against", other, "--repeat", "1", "--compare-file", "out.bin", cwd=tmp_path)
    assert proc.returncode == 1
    assert report["output_same"] is False
    assert report["output_difference"] == "the compare file's bytes differ"


def test_script_runs_as_if_started_directly(tmp_path):
    """argv, sys.path[0], __file__, __name__, cwd and the environment are the original's, for both versions."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "helper.py").write_text("VALUE = 42\n")
    code = """
        import json, os, sys
        import helper  # found through sys.path[0], the script's directory
        with open("seen.jsonl", "a") as out:
            out.write(json.dumps({
                "argv": sys.argv, "path0": sys.path[0], "file": __file__, "name": __name__,
                "cwd": os.getcwd(), "omp": os.environ.get("OMP_NUM_THREADS"),
                "probe_env": sorted(k for k in os.environ if k.startswith("MEMLINT_VERIFY")),
                "helper": helper.VALUE,
            }) + "\\n")
        print("done")
    """
    script = write(project / "train.py", code)
    other = write(tmp_path / "elsewhere.py", code)
    import subprocess

    direct = subprocess.run([sys.executable, "project/train.py", "--lr", "0.1"], cwd=tmp_path, capture_output=True)
    assert direct.returncode == 0, direct.stderr
    proc = run_memlint(
        "verify", "project/train.py", "--against", other, "--repeat", "1", "--", "--lr", "0.1", cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stderr  # no reduction, same output
    seen = [json.loads(line) for line in (tmp_path / "seen.jsonl").read_text().splitlines()]
    assert len(seen) == 3
    as_python_runs_it = {k: seen[0][k] for k in ("argv", "path0", "file", "name", "cwd", "helper")}
    assert as_python_runs_it["argv"] == ["project/train.py", "--lr", "0.1"]
    assert as_python_runs_it["file"] == str(script)
    for run in seen[1:]:
        assert {k: run[k] for k in as_python_runs_it} == as_python_runs_it
        assert run["omp"] == "1"
        assert run["probe_env"] == []


def test_verify_help_names_the_options():
    proc = run_memlint("verify", "--help")
    assert proc.returncode == 0
    for option in ("--unsafe-fixes", "--repeat", "--timeout", "--compare-file", "--plot", "--output-format"):
        assert option in proc.stdout


# --- the real verifier on torch workloads -----------------------------------------------------------


@pytest.mark.slow
def test_applies_fixes_and_confirms_the_reduction(tmp_path, monkeypatch, capsys):
    """The fix path end to end, with a stand-in rule, so it does not depend on which rules exist."""
    sys.path.insert(0, str(DATA))
    try:
        from verify_rule import AppendLossItem
    finally:
        sys.path.remove(str(DATA))
    monkeypatch.setattr("memlint.verify.cli.resolve_rules", lambda script, args: ([AppendLossItem], {}))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    bad = DATA / "bad.py"
    original = bad.read_bytes()
    code = main(["verify", str(bad), "--output-format", "json", "--plot", str(tmp_path / "memory.png")])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["fixes"] == ["TST900"]
    assert report["confirmed"] and report["output_same"]
    assert report["ratio"] >= 2
    assert report["before"]["peak_mb"] > report["after"]["peak_mb"] + 20
    assert report["before"]["process_peak_mb"] > report["before"]["peak_mb"]  # the floor is not counted
    assert report["before"]["cuda_peak_mb"] is None  # a CPU script never gets a CUDA context
    assert len(report["before"]["runs"]) == 2
    assert bad.read_bytes() == original  # only a temporary copy was fixed
    assert list(temp.iterdir()) == []
    assert (tmp_path / "memory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_text_report(tmp_path):
    proc = run_memlint("verify", DATA / "bad.py", "--against", DATA / "fixed.py", "--repeat", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "original" in proc.stdout and "fixed" in proc.stdout
    assert "confirmed" in proc.stdout and "Output: the same" in proc.stdout
    assert proc.stderr == ""  # no progress display when stderr is not a terminal


@pytest.mark.slow
@pytest.mark.parametrize("bad", FIXTURE_BADS[:2], ids=lambda p: p.parent.name)
def test_fixtures_measure_a_reduction(bad, tmp_path):
    """The real verifier on real fixture pairs: memlint's own fix where the finding has one."""
    code = bad.parent.name
    check = run_memlint("check", "--no-cache", "--output-format", "json", "--select", code, bad)
    if any(f["fix"] for f in json.loads(check.stdout)):
        how, fixes = ("--select", code, "--unsafe-fixes"), [code]
    else:
        how, fixes = ("--against", bad.with_name("fixed.py")), []
    proc, report = verify_json(bad, *how, cwd=tmp_path, timeout=600)
    assert report is not None, proc.stderr
    assert report["fixes"] == fixes
    assert report["output_same"], report["output_difference"]
    assert report["confirmed"], report
    assert report["ratio"] >= 2
    assert proc.returncode == 0


@pytest.mark.cuda
@pytest.mark.slow
def test_cuda_peaks_are_reported(tmp_path):
    script = write(tmp_path / "a.py", """
        import torch
        xs = [torch.ones(1024, 1024, device="cuda") for _ in range(64)]
        print(sum(int(x.sum()) for x in xs))
    """)
    other = write(tmp_path / "b.py", """
        import torch
        total = 0
        for _ in range(64):
            total += int(torch.ones(1024, 1024, device="cuda").sum())
        print(total)
    """)
    proc, report = verify_json(script, "--against", other, "--repeat", "1", cwd=tmp_path)
    assert report is not None, proc.stderr
    assert report["output_same"]
    assert report["before"]["cuda_peak_mb"] >= 256
    assert report["after"]["cuda_peak_mb"] < 16
