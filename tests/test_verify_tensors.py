"""`memlint verify` with the tensor measurement: leak slopes, --iterations, attribution, --python, and
scripts that misbehave (signals to memlint, huge output, os._exit, children left behind, cwd changes)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO, run_memlint


def write(path: Path, code: str) -> Path:
    path.write_text(textwrap.dedent(code).lstrip(), encoding="utf-8")
    return path


def verify_json(*args, cwd, env=None, timeout=600):
    proc = run_memlint("verify", "--output-format", "json", *args, cwd=cwd, env=env, timeout=timeout)
    report = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc, report


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_dead(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)


LEAKY = """
    import torch

    torch.manual_seed(0)
    model = torch.nn.Linear(256, 256)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    history = []
    for step in range(1000):
        out = model(torch.randn(256, 256))
        loss = out.pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(out.abs().mean(){detach})  # without .item() each step keeps a graph holding out (256 KiB)
    print("steps", len(history))
"""


# --- the leak slope -------------------------------------------------------------------------------


def test_leak_slope_before_and_after_with_an_iteration_limit(tmp_path):
    bad = write(tmp_path / "bad.py", LEAKY.format(detach=""))
    fixed = write(tmp_path / "fixed.py", LEAKY.format(detach=".item()"))
    started = time.monotonic()
    proc, report = verify_json(bad, "--against", fixed, "--repeat", "1", "--iterations", "12", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 300
    leak = report["leak"]
    assert leak["per"] == "optimizer step"
    per_step = leak["before"]["bytes_per_iteration"]
    assert 256 * 1024 <= per_step <= 256 * 1024 + 4096  # out, saved by abs() for a backward that never comes
    assert abs(leak["after"]["bytes_per_iteration"]) < 4096
    assert leak["removed"] is True
    assert leak["verdict"].startswith("leak: +")
    assert "leak slope" in report["confirmed_by"]
    assert report["measured_by"] == "tensors"
    assert report["before"]["tensor_peak_mb"] > report["after"]["tensor_peak_mb"]
    assert report["before"]["iterations"]["optimizer step"] == 12  # stopped at the limit
    assert any("stopped after 12 iterations" in note for note in report["notes"])
    assert report["output_same"] is True  # both stopped before printing


def test_no_loop_the_probe_can_see_falls_back_to_peaks(tmp_path):
    code = """
        import torch
        kept = [torch.ones(256, 1024) for _ in range({n})]
        print(len(kept))
    """
    bad = write(tmp_path / "bad.py", code.format(n=64))
    fixed = write(tmp_path / "fixed.py", code.format(n=64).replace("kept = [", "kept = [torch.ones(1) or ").replace(
        "torch.ones(1) or torch.ones(256, 1024)", "torch.ones(1)"))
    proc, report = verify_json(bad, "--against", fixed, "--repeat", "1", cwd=tmp_path)
    assert report is not None, proc.stderr
    assert report["leak"] is None
    assert any("no loop the probe can see" in note for note in report["notes"])
    assert report["tensor"]["before_mb"] == pytest.approx(64.0, abs=0.1)  # 64 tensors of 1 MiB, all alive
    assert report["tensor"]["confirmed"] is True


def test_readme_example_without_unsafe_fixes_shows_the_command(tmp_path):
    proc, report = verify_json(REPO / "fixtures" / "MEM002" / "bad.py", cwd=tmp_path)
    assert proc.returncode == 2
    assert "unsafe fix" in report["error"]
    assert f"memlint verify --unsafe-fixes {REPO / 'fixtures' / 'MEM002' / 'bad.py'}" in report["error"]


def test_findings_without_fixes_point_to_against(tmp_path):
    script = write(tmp_path / "big_batch.py", """
        import torch
        from torch.utils.data import DataLoader, TensorDataset
        ds = TensorDataset(torch.randn(10, 2))
        for batch in DataLoader(ds, batch_size=len(ds)):
            print(batch[0].shape)
    """)
    proc, report = verify_json(script, cwd=tmp_path)
    assert proc.returncode == 2
    assert "without an automatic fix" in report["error"] and "--against FIXED.py" in report["error"]


# --- which interpreter runs the script --------------------------------------------------------------


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory):
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(root)], check=True)
    return root


def test_python_option_and_active_virtualenv(tmp_path, venv_python):
    script = write(tmp_path / "which.py", "import sys\nprint(sys.prefix)\n")
    python = venv_python / "bin" / "python"
    proc, report = verify_json(script, "--against", script, "--repeat", "1", "--python", python, cwd=tmp_path)
    assert report["python"] == {"path": str(python), "chosen_by": "--python"}
    proc, report = verify_json(
        script, "--against", script, "--repeat", "1", cwd=tmp_path, env={"VIRTUAL_ENV": str(venv_python)}
    )
    assert report["python"]["path"] == str(python)
    assert "virtualenv" in report["python"]["chosen_by"]
    proc = run_memlint("verify", script, "--against", script, cwd=tmp_path, env={"VIRTUAL_ENV": str(venv_python)})
    assert f"Python: {python}" in proc.stdout


def test_python_that_does_not_run_is_one_line(tmp_path):
    script = write(tmp_path / "a.py", "print(1)\n")
    for bad in (tmp_path / "missing", tmp_path):
        proc = run_memlint("verify", script, "--against", script, "--python", bad, cwd=tmp_path)
        assert proc.returncode == 2
        assert proc.stderr.startswith("memlint verify: error: --python") and proc.stderr.count("\n") == 1


# --- scripts that misbehave -----------------------------------------------------------------------


def _start_verify(script: Path, cwd: Path, temp: Path) -> subprocess.Popen:
    env = dict(os.environ, TMPDIR=str(temp))
    return subprocess.Popen(
        [sys.executable, "-m", "memlint", "verify", str(script), "--against", str(script)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


HANG = """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open({pidfile!r}, "w") as f:
        f.write(f"{{child.pid}} {{__import__('os').getpid()}}")
    time.sleep(120)
"""


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists(), "the script never started"


def test_sigkill_to_memlint_kills_the_script_and_the_next_run_sweeps_its_folder(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    pidfile = tmp_path / "pids"
    script = write(tmp_path / "hang.py", HANG.format(pidfile=str(pidfile)))
    verify = _start_verify(script, tmp_path, temp)
    _wait_for(pidfile)
    grandchild, probe = map(int, pidfile.read_text().split())
    verify.kill()  # SIGKILL: memlint gets no chance to clean up
    verify.communicate(timeout=30)
    assert wait_dead(probe), "the script outlived memlint"
    assert wait_dead(grandchild), "the script's child outlived memlint"
    left = [p for p in temp.iterdir() if p.name.startswith("memlint-verify-")]
    assert len(left) == 1  # the killed run's folder
    quick = write(tmp_path / "quick.py", "print('hi')\n")
    proc = run_memlint("verify", quick, "--against", quick, "--repeat", "1", cwd=tmp_path, env={"TMPDIR": str(temp)})
    assert proc.returncode == 1, proc.stderr
    assert [p for p in temp.iterdir() if p.name.startswith("memlint-")] == []  # swept, and its own removed


def test_sighup_to_memlint_cleans_up_like_sigterm(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    pidfile = tmp_path / "pids"
    script = write(tmp_path / "hang.py", HANG.format(pidfile=str(pidfile)))
    verify = _start_verify(script, tmp_path, temp)
    _wait_for(pidfile)
    grandchild, probe = map(int, pidfile.read_text().split())
    verify.send_signal(signal.SIGHUP)
    verify.communicate(timeout=30)
    assert verify.returncode == 130
    assert wait_dead(probe) and wait_dead(grandchild)
    assert list(temp.iterdir()) == []


def test_children_left_behind_die_with_the_run(tmp_path):
    pidfile = tmp_path / "child.pid"
    script = write(tmp_path / "spawn.py", f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open({str(pidfile)!r}, "w").write(str(child.pid))
        print("parent done")
    """)
    proc, report = verify_json(script, "--against", script, "--repeat", "1", cwd=tmp_path)
    assert report is not None and report["output_same"], proc.stderr
    assert wait_dead(int(pidfile.read_text()))


def test_os_exit_cwd_change_and_stdin_are_handled(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    script = write(tmp_path / "odd.py", """
        import os, sys
        data = sys.stdin.read()  # memlint gives the script an empty stdin, never a terminal
        os.chdir("elsewhere")
        print("read", len(data), "bytes; now in", os.path.basename(os.getcwd()))
        sys.stdout.flush()
        os._exit(0)
    """)
    proc, report = verify_json(script, "--against", script, "--repeat", "1", cwd=tmp_path, timeout=120)
    assert proc.returncode == 1, proc.stderr  # measured, same output, nothing to confirm
    assert report["output_same"] is True
    assert report["before"]["peak_mb"] is not None  # the probe wrote its measurements before os._exit


def test_a_huge_output_is_streamed_not_held(tmp_path):
    """22 MB of output, 4 million tokens: compared by hash and in chunks, only a tail kept in memory.

    Held whole (as 0.1 did), the text and its token list alone took far more than the limit below.
    """
    code = """
        import sys
        line = "step {{}} loss 0.123456 " * 4 + "\\n"
        for i in range(250_000):
            sys.stdout.write(line)
        print("final", {last})
    """
    script = write(tmp_path / "loud.py", code.format(last="1.0"))
    changed = write(tmp_path / "loud2.py", code.format(last="2.0"))
    wrapper = (
        "import resource, subprocess, sys; "
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(p.stdout[-400:]); sys.exit(p.returncode)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, sys.executable, "-m", "memlint", "verify", "--output-format", "json",
         str(script), "--against", str(changed), "--repeat", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    max_rss_kb = int(proc.stdout.split()[0])
    assert proc.returncode == 1
    assert '"output_difference": "token 4000002: \'1.0\' became \'2.0\'"' in proc.stdout
    assert max_rss_kb < 150 * 1024, f"memlint held the output: {max_rss_kb} kB"


# --- per-finding attribution and real fixtures ------------------------------------------------------


@pytest.mark.slow
def test_each_fix_alone_says_what_it_cut(tmp_path):
    script = write(tmp_path / "two.py", """
        import torch
        import torch.nn.functional as F

        torch.manual_seed(0)
        model = torch.nn.Linear(64, 1024)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        total_mse = 0.0
        total_l1 = 0.0
        for step in range(30):
            x, y = torch.randn(256, 64), torch.randn(256, 1024)
            out = model(x)
            loss = F.smooth_l1_loss(out, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_mse += F.mse_loss(out, y)
            total_l1 += F.l1_loss(out * 2, y)
        print(f"{total_mse / 30:.4f} {total_l1 / 30:.4f}")
    """)
    proc, report = verify_json(script, "--unsafe-fixes", "--repeat", "1", cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr
    findings = report["findings"]
    assert [f["code"] for f in findings] == ["MEM002", "MEM002"]
    assert [f["row"] for f in findings] == [16, 17]
    for finding in findings:
        assert finding["reduction_mb"] > 0
        assert finding["reduction_mb"] < report["tensor"]["reduction_mb"]
        assert finding["slope"]["bytes_per_iteration"] < report["before"]["slope"]["bytes_per_iteration"]


@pytest.mark.slow
def test_mem002_fixture_shows_a_slope_before_and_none_after(tmp_path):
    bad = REPO / "fixtures" / "MEM002" / "bad.py"
    proc, report = verify_json(bad, "--unsafe-fixes", "--repeat", "1", "--iterations", "15", cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert report["leak"]["before"]["bytes_per_iteration"] == pytest.approx(16 * 2**20, rel=0.01)
    assert abs(report["leak"]["after"]["bytes_per_iteration"]) < 1024
    assert report["leak"]["removed"]


@pytest.mark.slow
def test_dataloader_workers_memory_is_counted(tmp_path):
    script = write(tmp_path / "workers.py", """
        import torch
        from torch.utils.data import DataLoader, Dataset

        class Names(Dataset):
            def __init__(self):
                self.names = [f"sample-{i:08d}" for i in range(300_000)]  # a Python list: copy-on-read
            def __len__(self):
                return len(self.names)
            def __getitem__(self, i):
                return torch.tensor(len(self.names[i]))

        if __name__ == "__main__":
            total = 0
            loader = DataLoader(Names(), batch_size=1000, num_workers=2)
            for batch in loader:
                total += int(batch.sum())
            print(total)
    """)
    proc, report = verify_json(script, "--against", script, "--repeat", "1", cwd=tmp_path, timeout=900)
    assert report is not None, proc.stderr
    assert report["before"]["workers_pss_peak_mb"] > 1
    assert report["before"]["workers_uss_peak_mb"] > 1


def test_engine_applies_each_fix_alone():
    from memlint.engine import fix_each, fix_text
    from memlint.rules import all_rules

    code = textwrap.dedent("""
        import torch
        import torch.nn.functional as F

        def train(model, optimizer, batches):
            total_mse = 0.0
            total_l1 = 0.0
            for x, y in batches:
                out = model(x)
                loss = F.smooth_l1_loss(out, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total_mse += F.mse_loss(out, y)
                total_l1 += F.l1_loss(out, y)
            return total_mse, total_l1
    """).lstrip()
    rules = list(all_rules().values())
    singles = fix_each(code, "t.py", rules, unsafe=True)
    assert [finding.row for finding, _ in singles] == [13, 14]
    all_fixed, _ = fix_text(code, "t.py", rules, unsafe=True)
    for finding, text in singles:
        changed = [i for i, (a, b) in enumerate(zip(code.splitlines(), text.splitlines())) if a != b]
        assert changed == [finding.row - 1]  # exactly its own line
        assert text.splitlines()[finding.row - 1] == all_fixed.splitlines()[finding.row - 1]
    assert all(f.fix.applicability == "safe" for f, _ in fix_each(code, "t.py", rules, unsafe=False))
