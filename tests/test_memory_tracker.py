"""The tensor tracker (memlint/measure/tracker.py) and the fake-tensor simulation it serves.

The reference for every simulated figure is the same step run for real, tracked the same way.
"""

import gc

import pytest
import torch

from memlint.estimate.simulate import Simulation, Variant
from memlint.measure.tracker import TensorMemoryTracker, breakdown_at, events, peak_in

MiB = 2**20


def test_counts_storages_once_and_frees_them():
    tracker = TensorMemoryTracker()
    with tracker:
        a = torch.empty(MiB, dtype=torch.uint8)
        view = a[10:]  # a view shares the storage: nothing added
        b = a.view(torch.int32)
        assert tracker.current == MiB
        c = torch.empty(2 * MiB, dtype=torch.uint8)
        assert tracker.current == 3 * MiB
        del a, view, b
        gc.collect()
        assert tracker.current == 2 * MiB
        del c
    assert tracker.current == 0
    assert tracker.peak == 3 * MiB
    assert peak_in(tracker.history) == (3 * MiB, tracker.peak_seq)


def test_storage_resized_by_out_argument_is_counted_at_its_new_size():
    tracker = TensorMemoryTracker()
    with tracker:
        out = torch.empty(0)
        source = torch.ones(1024)
        torch.add(source, 1, out=out)  # out's storage grows from 0 to 4 KiB
        assert tracker.current == 2 * 4096
    del out, source


def test_tensors_made_outside_the_tracker_count_from_first_use():
    outside = torch.ones(1024)  # 4 KiB, made before the tracker started (like a DataLoader worker's batch)
    tracker = TensorMemoryTracker()
    with tracker:
        result = outside * 2
        assert tracker.current == 2 * 4096
    del result


def test_peak_window_counts_what_is_live_at_its_start():
    tracker = TensorMemoryTracker()
    with tracker:
        a = torch.empty(MiB, dtype=torch.uint8)
        start = tracker.seq
        b = torch.empty(100, dtype=torch.uint8)
    assert peak_in(tracker.history, None, start)[0] == MiB + 100
    assert peak_in(tracker.history, None, 0, start)[0] == MiB
    del a, b


def _train(model_fn, optimizer_fn, batch, steps=2):
    torch.manual_seed(0)
    model = model_fn()
    optimizer = optimizer_fn(model.parameters())
    for _ in range(steps):
        x, y = batch()
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()


def _simulated_and_real(model_fn, optimizer_fn, batch):
    outcomes = {}
    for fake in (True, False):
        simulation = Simulation(Variant(), steps=2, fake=fake)
        with simulation:
            _train(model_fn, optimizer_fn, batch, steps=3)
        outcomes[fake] = simulation.outcome()
    return outcomes[True], outcomes[False]


def _mlp():
    return torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(), torch.nn.Linear(256, 10))


def _mlp_batch():
    return torch.randn(32, 64), torch.randint(0, 10, (32,))


@pytest.mark.parametrize(
    "optimizer_fn",
    [
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        lambda p: torch.optim.Adam(p),
        lambda p: torch.optim.AdamW(p, foreach=True),
        lambda p: torch.optim.AdamW(p, foreach=False),
    ],
    ids=["sgd-momentum", "adam", "adamw-foreach", "adamw-for-loop"],
)
def test_simulated_peak_matches_the_real_step(optimizer_fn):
    simulated, real = _simulated_and_real(_mlp, optimizer_fn, _mlp_batch)
    assert real.steps_done == simulated.steps_done == 2
    assert real.peak_bytes > 0
    assert abs(simulated.peak_bytes - real.peak_bytes) <= 0.01 * real.peak_bytes
    assert simulated.peak_phase == real.peak_phase
    assert simulated.components == real.components


def test_breakdown_names_parameters_gradients_state_and_activations():
    simulated, _ = _simulated_and_real(_mlp, lambda p: torch.optim.Adam(p), _mlp_batch)
    parameter_bytes = sum(p.numel() * 4 for p in _mlp().parameters())
    tracker = simulated.tracker
    # right after the second step: weights, their gradients and Adam's two moments
    _, start, end = tracker.step_windows()[1]
    at_end = breakdown_at(tracker.history, end - 1)
    assert at_end["parameters"] == parameter_bytes
    assert at_end["optimizer_state"] >= 2 * parameter_bytes
    assert at_end["gradients"] == parameter_bytes
    # during the forward of step 2 the saved activations are labelled as such
    forward_seqs = [seq for seq, phase, step in tracker.phase_log if phase == "backward" and step == 2]
    assert breakdown_at(tracker.history, forward_seqs[0])["activations"] > 0


def test_conv_batchnorm_step_matches():
    def model():
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10),
        )

    simulated, real = _simulated_and_real(
        model, lambda p: torch.optim.SGD(p, lr=0.1), lambda: (torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,)))
    )
    assert abs(simulated.peak_bytes - real.peak_bytes) <= 0.01 * real.peak_bytes


def test_fake_simulation_allocates_nothing_for_a_large_model():
    """A 4 GiB layer: the simulation counts it, and this process never holds it."""
    from memlint.measure.child import proc_status_kb

    before = proc_status_kb("VmRSS")
    simulation = Simulation(Variant(), steps=1)
    with simulation:
        _train(lambda: torch.nn.Linear(32768, 32768), lambda p: torch.optim.SGD(p, lr=0.1),
               lambda: (torch.randn(2, 32768), torch.randint(0, 10, (2,))))
    outcome = simulation.outcome()
    assert outcome.peak_bytes > 2 * 4 * 2**30  # weights and gradients
    assert proc_status_kb("VmRSS") - before < 512 * 1024  # kB: far less than the model


def test_cuda_requests_are_recorded_as_logical_cuda_storages():
    if torch.cuda.is_available():
        pytest.skip("the mapping is for machines without CUDA")
    simulation = Simulation(Variant(pretend_cuda=True), steps=1)
    with simulation:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        assert device == "cuda"  # the script sees a GPU
        model = torch.nn.Linear(256, 256).to(device)
        host = torch.randn(8, 256)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        model(host.to(device)).sum().backward()
        optimizer.step()
    outcome = simulation.outcome()
    on_gpu = [r for r in outcome.tracker.history if r.device == "cuda"]
    assert on_gpu and any(r.device == "cpu" for r in outcome.tracker.history)
    assert outcome.device_peak("cuda") < outcome.peak_bytes
    assert sum(delta for _, delta, _ in events(outcome.tracker.history, "cuda")) >= 0


@pytest.mark.cuda
def test_real_cuda_tensors_are_tracked():
    tracker = TensorMemoryTracker()
    with tracker:
        x = torch.empty(MiB, dtype=torch.uint8, device="cuda")
        assert tracker.current_by_device["cuda"] == MiB
    del x
