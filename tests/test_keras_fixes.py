"""The Keras fixes keep what a program computes: the fixed script, run for real, gives the same
numbers as the original (Keras 3 on the torch backend, as installed here)."""

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import run_memlint

PREDICT_PER_STEP = textwrap.dedent(
    """
    import os
    import sys

    os.environ.setdefault("KERAS_BACKEND", "torch")

    import keras
    import numpy as np

    def build():
        return keras.Sequential(
            [
                keras.Input((16,)),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.BatchNormalization(),
                keras.layers.Dropout(0.5),
                keras.layers.Dense(4, activation="softmax"),
            ]
        )

    keras.utils.set_random_seed(0)
    model = build()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.standard_normal((64, 16)).astype("float32"), rng.integers(0, 4, 64), epochs=2, verbose=0)
    states = rng.standard_normal((40, 16)).astype("float32")
    outputs = []
    for state in states:
        q = model.predict(state[None], verbose=0)
        outputs.append(q)
    np.save(sys.argv[1], np.concatenate(outputs))
    """
).lstrip()


def _run(script, out, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    proc = subprocess.run([sys.executable, str(script), str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return np.load(out)


@pytest.mark.slow
def test_predict_fix_gives_the_same_outputs(tmp_path):
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None:
        pytest.skip("needs keras 3 and torch")
    original = tmp_path / "original.py"
    original.write_text(PREDICT_PER_STEP)
    fixed = tmp_path / "fixed.py"
    fixed.write_text(PREDICT_PER_STEP)
    proc = run_memlint("check", "--no-cache", "--fix", "--select", "MEM101", fixed)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the safe fix applies without --unsafe-fixes
    assert "q = keras.ops.convert_to_numpy(model(state[None], training=False))" in fixed.read_text()
    before = _run(original, tmp_path / "before.npy", tmp_path)
    after = _run(fixed, tmp_path / "after.npy", tmp_path)
    assert before.dtype == after.dtype and before.shape == after.shape == (40, 4)
    # Same numbers: dropout off and batch-norm in inference mode in both.
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-6)
