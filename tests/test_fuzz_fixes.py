"""Fixes on generated programs compile, are idempotent and leave other lines alone.

A bounded, derandomized run for CI; `python benchmarks/fuzz_fixes.py` runs thousands.
The checks themselves (check_program) live in benchmarks/fuzz_fixes.py so both stay the same.
"""

import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from fuzz_fixes import check_program, mutate, samples  # noqa: E402

SAMPLES = samples()
needs_samples = pytest.mark.skipif(not SAMPLES, reason="no rule samples yet")
_SETTINGS = dict(deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))


@needs_samples
@settings(max_examples=20, **_SETTINGS)
@given(index=st.integers(min_value=0), seed=st.integers(min_value=0, max_value=2**32))
def test_mutated_samples(index, seed):
    rng = random.Random(seed)
    program = mutate(SAMPLES[index % len(SAMPLES)], rng, others=SAMPLES)
    check_program(program)


@needs_samples
@pytest.mark.slow
@settings(max_examples=60, **_SETTINGS)
@given(program=st.data())
def test_samples_inside_generated_code(program):
    import hypothesmith

    generated = program.draw(hypothesmith.from_grammar(), label="generated")
    sample = program.draw(st.sampled_from(SAMPLES), label="sample")
    seed = program.draw(st.integers(min_value=0, max_value=2**32), label="seed")
    check_program(mutate(sample, random.Random(seed), extra=generated))


def test_checks_catch_a_broken_fix(monkeypatch):
    """The harness itself: a fix that rewrites an untouched line must be caught."""
    import fuzz_fixes

    def clobber(text, *args, **kwargs):
        from collections import Counter

        return text.replace("untouched", "changed"), Counter({"MEM999": 1})

    monkeypatch.setattr(fuzz_fixes, "fix_text", clobber)
    with pytest.raises(AssertionError):
        check_program("import torch\n\nuntouched = 1\n")


def test_mutation_keeps_python_valid():
    rng = random.Random(3)
    source = "import torch\n\n\ndef f(x):\n    return torch.zeros(x)\n"
    for _ in range(50):
        compile(mutate(source, rng, others=[source]).lstrip("\ufeff"), "<m>", "exec")
