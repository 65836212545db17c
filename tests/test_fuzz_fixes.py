"""Fixes on generated programs and real training scripts: they compile, run, and change nothing else.

A bounded, derandomized run for CI; `python benchmarks/fuzz_fixes.py` runs thousands. The checks
themselves (check_program, check_training_script) live in benchmarks/fuzz_fixes.py so both stay
the same.
"""

import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import fuzz_fixes  # noqa: E402
from fuzz_fixes import ScriptRunner, check_program, check_training_script, mutate, refused, samples  # noqa: E402
from training_scripts import colab_tabs, file_shape, training_script  # noqa: E402

SAMPLES = samples()
needs_samples = pytest.mark.skipif(not SAMPLES, reason="no rule samples yet")
_SETTINGS = dict(deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def runner():
    return ScriptRunner(keras=False)


@needs_samples
@settings(max_examples=25, **_SETTINGS)
@given(index=st.integers(min_value=0), seed=st.integers(min_value=0, max_value=2**32))
def test_mutated_samples_in_every_file_shape(tmp_path_factory, index, seed):
    rng = random.Random(seed)
    _, text = file_shape(mutate(SAMPLES[index % len(SAMPLES)], rng, others=SAMPLES), rng)
    check_program(text, tmp_path_factory.mktemp("program"))


@needs_samples
@settings(max_examples=8, **_SETTINGS)
@given(index=st.integers(min_value=0), seed=st.integers(min_value=0, max_value=2**32))
def test_files_python_refuses_are_never_written(tmp_path_factory, index, seed):
    _, data = refused(SAMPLES[index % len(SAMPLES)], random.Random(seed))
    assert check_program(data, tmp_path_factory.mktemp("refused")) == "refused"


@pytest.mark.parametrize("seed", range(9))
def test_training_scripts_still_run_after_fixes(tmp_path, runner, seed):
    rng = random.Random(seed)
    _, text = file_shape(training_script(rng, keras=False), rng)
    outcomes = check_training_script(text, runner, tmp_path)
    assert len(outcomes) == 2


def test_fixes_reach_the_training_scripts():
    """The generator's scripts hold what memlint fixes: the run above is not a run of no-ops."""
    from memlint.checker import FixMode, check_file
    import tempfile

    fixed = set()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(6):
            path = Path(tmp) / f"s{seed}.py"
            path.write_text(training_script(random.Random(seed), keras=False))
            fixed |= set(check_file(path, fuzz_fixes.SETTINGS, FixMode(fix=True, unsafe=True)).fixed)
    assert {"MEM001", "MEM002"} <= fixed


@pytest.mark.slow
@needs_samples
@settings(max_examples=60, **_SETTINGS)
@given(program=st.data())
def test_samples_inside_generated_code(tmp_path_factory, program):
    import hypothesmith

    generated = program.draw(hypothesmith.from_grammar(), label="generated")
    sample = program.draw(st.sampled_from(SAMPLES), label="sample")
    seed = program.draw(st.integers(min_value=0, max_value=2**32), label="seed")
    rng = random.Random(seed)
    _, text = file_shape(mutate(sample, rng, extra=generated), rng)
    check_program(text, tmp_path_factory.mktemp("generated"))


@pytest.mark.slow
def test_training_scripts_with_keras(tmp_path):
    keras_runner = ScriptRunner(keras=True)
    if not keras_runner.keras:
        pytest.skip("keras is not installed")
    rng = random.Random(3)
    for number in range(30):
        folder = tmp_path / str(number)
        folder.mkdir()
        check_training_script(training_script(rng), keras_runner, folder)


# Training scripts the fuzz found broken by MEM001's fix in 0.1 (#15 items 2 and 3): the whole epoch
# loop, backward included, wrapped in no_grad; `@torch.no_grad()` above a file's only `import torch`.
EPOCH_LOOP_WITH_VALIDATION_INSIDE = """\
import torch
import torch.nn as nn

torch.manual_seed(0)
model = nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
criterion = nn.CrossEntropyLoss()
train = [(torch.randn(8, 4), torch.randint(0, 2, (8,))) for _ in range(3)]
val = [(torch.randn(8, 4), torch.randint(0, 2, (8,))) for _ in range(2)]

for epoch in range(2):
    for xb, yb in train:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
    model.eval()
    for xb, yb in val:
        out = model(xb)
        print(epoch, round(float(criterion(out, yb)), 4))

for xb, yb in val:
    out = model(xb)
    print("test", round(float(criterion(out, yb)), 4))
"""

TORCH_IMPORTED_UNDER_MAIN = """\
def evaluate(model, batches):
    model.eval()
    correct = 0
    for xb, yb in batches:
        out = model(xb)
        correct += (out.argmax(1) == yb).sum().item()
    return correct


if __name__ == "__main__":
    import torch

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    batches = [(torch.randn(8, 4), torch.randint(0, 2, (8,)))]
    print("correct", evaluate(model, batches))
"""


def test_epoch_loop_with_validation_inside_still_trains_after_fix(tmp_path, runner):
    check_training_script(EPOCH_LOOP_WITH_VALIDATION_INSIDE, runner, tmp_path)


def test_torch_imported_under_main_still_imports_after_fix(tmp_path, runner):
    check_training_script(TORCH_IMPORTED_UNDER_MAIN, runner, tmp_path)


def _broken_fixes(monkeypatch, old: str, new: str) -> None:
    """Make every --fix of the harness also replace ``old`` with ``new``, as a broken fix would."""
    real = fuzz_fixes.check_file

    def broken(path, settings, mode, *args, **kwargs):
        outcome = real(path, settings, mode, *args, **kwargs)
        if mode.fix:
            path.write_text(path.read_text().replace(old, new))
        return outcome

    monkeypatch.setattr(fuzz_fixes, "check_file", broken)


def test_checks_catch_a_fix_that_touches_other_lines(tmp_path, monkeypatch):
    """The harness itself: a fix that rewrites an untouched line must be caught."""
    _broken_fixes(monkeypatch, "untouched", "changed")
    with pytest.raises(AssertionError):
        check_program(
            "import torch\n\nuntouched = 1\n\n\ndef f(model, xs):\n    model.eval()\n    for x in xs:\n"
            "        model(x)\n",
            tmp_path,
        )


def test_checks_catch_a_fix_that_changes_results(tmp_path, runner, monkeypatch):
    """The harness itself: a safe fix that changes what a script computes must be caught."""
    _broken_fixes(monkeypatch, "lr=0.01", "lr=0.5")
    with pytest.raises(AssertionError, match="changed the output|second --fix"):
        check_training_script(training_script(random.Random(0), keras=False), runner, tmp_path)


def test_colab_tabs_are_valid_python_libcst_cannot_read():
    import libcst

    text = colab_tabs(training_script(random.Random(1), keras=False))
    compile(text, "<colab>", "exec")
    with pytest.raises(Exception):
        libcst.parse_module(text)
