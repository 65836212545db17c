"""`memlint estimate`: the command on real scripts (subprocesses), its JSON contract, the API, the GPU model."""

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO, run_memlint
from memlint.estimate.child import search_max_batch
from memlint.estimate.gpu_model import GPUS, MiB, UnknownGPU, replay_allocator, resolve_gpu

EXAMPLES = sorted((REPO / "fixtures" / "estimate").glob("*.py"))

TRAIN = """
    import sys
    import torch
    from torch import nn

    BATCH = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = nn.Sequential(nn.Linear(128, 512), nn.ReLU(), nn.Linear(512, 10)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(5):
        x = torch.randn(BATCH, 128, device=device)
        y = torch.randint(0, 10, (BATCH,), device=device)
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        print(f"step {step} loss {loss.item():.3f}")
"""


def write(path: Path, code: str) -> Path:
    path.write_text(textwrap.dedent(code).lstrip(), encoding="utf-8")
    return path


def estimate_json(*args, cwd, env=None, timeout=600):
    proc = run_memlint("estimate", "--output-format", "json", *args, cwd=cwd, env=env, timeout=timeout)
    report = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc, report


def real_tracked_peak(script: Path, args=(), steps=2) -> int:
    """The script run for real, stopped after `steps` steps, its live tensor bytes tracked the same way."""
    import runpy
    import sys

    from memlint.estimate.simulate import Simulation, Variant

    simulation = Simulation(Variant(), steps=steps, fake=False)
    saved = sys.argv
    sys.argv = [str(script), *args]
    try:
        with simulation:
            runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = saved
    return simulation.outcome().peak_bytes


# --- the command -----------------------------------------------------------------------------------


def test_json_contract_and_accuracy_against_the_real_step(tmp_path):
    script = write(tmp_path / "train.py", TRAIN)
    proc, report = estimate_json(script, "--no-levers", "--", "32", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert isinstance(report["peak_bytes"], int) and report["peak_bytes"] > 0
    assert set(report["components"]) == {"parameters", "gradients", "optimizer_state", "activations", "temporaries"}
    assert all(isinstance(v, int) for v in report["components"].values())
    assert sum(report["components"].values()) == report["peak_bytes"]
    assert report["gpu"] is None  # no target named
    assert report["steps"] == 2 and len(report["step_peak_bytes"]) == 2
    assert report["batch_size"] == 32  # from the script's own argument, after --
    assert report["optimizer"] == "Adam"
    assert report["peak_phase"] in ("forward", "backward", "optimizer")
    assert report["lower_bound"] is False
    params = (128 * 512 + 512 + 512 * 10 + 10) * 4
    assert report["components"]["parameters"] == params
    real = real_tracked_peak(script, ["32"])
    assert abs(report["peak_bytes"] - real) <= 0.01 * real
    assert not list(tmp_path.glob("*.pt"))


def test_gpu_target_fit_and_largest_batch(tmp_path):
    script = write(tmp_path / "train.py", TRAIN)
    proc, report = estimate_json(script, "--no-levers", "--gpu", "T4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    gpu = report["gpu"]
    assert gpu["name"] == "T4" and gpu["fits"] is True
    assert gpu["peak_bytes"] >= gpu["context_bytes"] + gpu["reserved_bytes"]
    assert gpu["reserved_bytes"] >= gpu["allocated_bytes"] >= gpu["tensor_peak_bytes"]
    assert isinstance(gpu["max_batch_size"], int) and gpu["max_batch_size"] > 10_000
    assert gpu["measured_on_a_gpu"] is False
    assert report["gpu_model"]["measured_here"] is False


def test_a_target_too_small_exits_1(tmp_path):
    script = write(tmp_path / "train.py", TRAIN.replace("512", "65536"))
    proc, report = estimate_json(script, "--no-levers", "--gpu", "430MiB", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert report["gpu"]["fits"] is False
    assert report["gpu"]["max_batch_size"] == 0


def test_text_report_and_plot(tmp_path):
    script = write(tmp_path / "train.py", TRAIN)
    plot = tmp_path / "step.png"
    proc = run_memlint("estimate", script, "--plot", plot, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "Peak:" in proc.stdout and "optimizer state" in proc.stdout
    assert "What would change the peak" in proc.stdout
    assert "autocast bf16" in proc.stdout and "activation checkpointing" in proc.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_failing_script_shows_its_traceback_and_exits_2(tmp_path):
    script = write(tmp_path / "boom.py", """
        import torch
        model = torch.nn.Linear(4, 4)
        def load():
            raise RuntimeError("checkpoint missing")
        load()
    """)
    proc, report = estimate_json(script, cwd=tmp_path)
    assert proc.returncode == 2
    assert "failed under the simulation" in proc.stderr
    assert "RuntimeError: checkpoint missing" in proc.stderr
    assert 'line 4, in load' in proc.stderr
    assert report["error"].endswith("failed under the simulation:")


def test_script_that_never_steps_says_so(tmp_path):
    script = write(tmp_path / "eval.py", """
        import torch
        model = torch.nn.Linear(8, 8)
        print(model(torch.randn(2, 8)).sum())
    """)
    proc, _ = estimate_json(script, cwd=tmp_path)
    assert proc.returncode == 2
    assert "never stepped an optimizer" in proc.stderr


def test_unsupported_op_gives_a_marked_lower_bound(tmp_path):
    script = write(tmp_path / "mask.py", """
        import torch
        model = torch.nn.Linear(256, 256)
        optimizer = torch.optim.Adam(model.parameters())
        for _ in range(3):
            x = torch.randn(64, 256)
            kept = x[x[:, 0] > 0]  # a data-dependent shape: fake tensors cannot know it
            model(kept).sum().backward()
            optimizer.step()
    """)
    proc, report = estimate_json(script, "--gpu", "A100-80GB", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert report["lower_bound"] is True
    assert "nonzero" in report["stopped_by"] or "masked" in report["stopped_by"]
    weights = (256 * 256 + 256) * 4
    assert report["components"]["parameters"] == weights
    assert report["peak_bytes"] == weights * 4  # weights, gradients, Adam's two moments
    assert "LOWER BOUND" in report["notes"][0]
    assert report["gpu"]["fits"] is None  # a lower bound cannot confirm a fit


def test_timeout_kills_the_process_group_and_leaves_no_files(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    pidfile = tmp_path / "child.pid"
    script = write(tmp_path / "hang.py", f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open({str(pidfile)!r}, "w") as f:  # reading is allowed; this write goes to memlint's scratch
            f.write(str(child.pid))
        time.sleep(120)
    """)
    started = time.monotonic()
    proc, _ = estimate_json(script, "--timeout", "20", cwd=tmp_path, env={"TMPDIR": str(temp)})
    assert time.monotonic() - started < 120
    assert proc.returncode == 2
    assert "did not finish within 20 s" in proc.stderr
    assert not pidfile.exists()  # nothing is written by a simulated script
    assert [p.name for p in temp.iterdir() if p.name.startswith("memlint")] == []
    for pid in _processes_running("time.sleep(120)"):
        pytest.fail(f"process {pid} survived the timeout")


def _processes_running(fragment: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if fragment in cmdline and state != "Z":
                found.append(int(entry.name))
    return found


def test_nothing_is_written(tmp_path):
    script = write(tmp_path / "saves.py", TRAIN + """
    import os
    os.makedirs("checkpoints", exist_ok=True)
    torch.save(model.state_dict(), "checkpoints/last.pt")
    with open("log.txt", "w") as log:
        log.write("done")
    with open("log.txt") as log:  # what it wrote can be read back
        assert log.read() == "done"
    """.replace("for step in range(5)", "for step in range(1)"))
    proc, report = estimate_json(script, "--no-levers", "--steps", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saves.py"]


def test_bad_gpu_and_missing_script_are_one_line_errors(tmp_path):
    script = write(tmp_path / "train.py", TRAIN)
    proc = run_memlint("estimate", script, "--gpu", "B9000", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown GPU" in proc.stderr
    proc = run_memlint("estimate", tmp_path / "nope.py", cwd=tmp_path)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    proc = run_memlint("estimate", script, "--python", tmp_path / "no-python", cwd=tmp_path)
    assert proc.returncode == 2 and "no such file" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_examples_estimate_within_one_percent_of_their_real_run(example, tmp_path):
    proc, report = estimate_json(example, "--no-levers", cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr
    real = real_tracked_peak(example)
    assert abs(report["peak_bytes"] - real) <= 0.01 * real


# --- the API ---------------------------------------------------------------------------------------


def test_api_matches_the_real_step_and_leaves_the_model_alone():
    import torch

    import memlint

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    before = [p.detach().clone() for p in model.parameters()]
    x, y = torch.randn(16, 64), torch.randint(0, 10, (16,))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    result = memlint.estimate(model, x, loss_fn=torch.nn.functional.cross_entropy, target=y, optimizer=optimizer)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert not optimizer.state  # the real optimizer never stepped

    from memlint.estimate.simulate import Simulation, Variant

    simulation = Simulation(Variant(), steps=None, fake=False)
    with simulation:
        copy = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
        real_opt = torch.optim.AdamW(copy.parameters(), lr=1e-3, weight_decay=0.1)
        xs, ys = torch.empty(16, 64), torch.empty(16, dtype=torch.long).random_(0, 10)
        for _ in range(2):
            real_opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(copy(xs), ys).backward()
            real_opt.step()
    real = simulation.outcome().peak_bytes
    assert abs(result.peak_bytes - real) <= 0.01 * real
    data = result.to_dict()
    assert {"peak_bytes", "components", "gpu"} <= set(data)


def test_api_gpu_projection_and_batch_search():
    import torch

    import memlint

    model = torch.nn.Sequential(torch.nn.Linear(512, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 10))
    result = memlint.estimate(model, torch.randn(8, 512), optimizer=torch.optim.SGD, gpu="1GiB")
    assert result.gpu["fits"] is True
    assert result.gpu["max_batch_size"] > 8


# --- the GPU model and the search ------------------------------------------------------------------


def test_allocator_replay_rounds_and_reuses():
    a, b, c = object(), object(), object()
    replay = replay_allocator([(0, 100, a), (1, 700, b)])
    assert replay.allocated_peak == 512 + 1024  # rounded to 512 bytes
    assert replay.reserved_peak == 2 * MiB  # one small segment
    big = replay_allocator([(0, 5 * MiB, a), (1, -5 * MiB, a), (2, 5 * MiB, b), (3, 12 * MiB, c)])
    assert big.allocated_peak == 17 * MiB
    assert big.reserved_peak == 20 * MiB  # 5 MiB gets a 20 MiB segment; 12 MiB fits in the 15 MiB left
    bigger = replay_allocator([(0, 5 * MiB, a), (1, 15 * MiB + 1, b)])
    assert bigger.reserved_peak == 20 * MiB + 16 * MiB  # 15 MiB + 1 byte: a new segment rounded up to 2 MiB


def test_gpu_names_and_sizes():
    assert resolve_gpu("a100-80gb") is GPUS["A100-80GB"]
    assert resolve_gpu("H100").total_bytes == 81559 * MiB
    assert resolve_gpu("24GiB").total_bytes == 24 * 2**30
    with pytest.raises(UnknownGPU):
        resolve_gpu("B9000")


def test_batch_search_finds_the_edge_of_a_linear_cost():
    calls = []

    def fits_at(size):
        calls.append(size)
        cost = 1000 + 37 * size
        return cost <= 100_000, cost, size

    found = search_max_batch(fits_at, 16, 100_000)
    assert found["max_batch_size"] == (100_000 - 1000) // 37
    assert found["exact"] and len(calls) <= 8


def test_batch_search_says_when_the_batch_cannot_change():
    found = search_max_batch(lambda size: (True, 5000, 16), 16, 100_000)
    assert found["max_batch_size"] is None and "could not be changed" in found["note"]


def test_cli_help_lists_estimate():
    proc = run_memlint("--help")
    assert "estimate" in proc.stdout
    proc = run_memlint("estimate", "--help")
    assert proc.returncode == 0 and "--gpu" in proc.stdout and "--steps" in proc.stdout


def test_import_memlint_stays_light():
    import subprocess
    import sys

    code = "import memlint, sys; print('torch' in sys.modules, callable(memlint.estimate), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert out.stdout.split() == ["False", "True", "False"]


def test_several_scripts_give_a_list_and_the_worst_exit_code(tmp_path):
    good = write(tmp_path / "train.py", TRAIN)
    bad = write(tmp_path / "broken.py", "import torch\nraise SystemExit('no data')\n")
    proc, report = estimate_json(good, bad, "--no-levers", "--", "8", cwd=tmp_path)
    assert proc.returncode == 2
    assert [entry["script"] for entry in report] == [str(good), str(bad)]
    assert report[0]["peak_bytes"] > 0 and report[0]["batch_size"] == 8
    assert "error" in report[1]
