"""Fuzz the fixes: generated programs and real training scripts through `--fix --unsafe-fixes`.

    python benchmarks/fuzz_fixes.py                  # 4,000 mutated samples, 600 hypothesmith programs,
                                                     # 200 refused files, 400 training scripts run 3 times
    python benchmarks/fuzz_fixes.py --mutations 200 --grammar 50 --refused 20 --scripts 20 --seed 7

Every program goes through memlint's own path for a file (`checker.check_file`: read, decode,
prepare, fix, write atomically), in a temporary folder.
- Programs: the rules' samples (must-fire and must-not-fire), mutated (aliased imports, nesting,
  two samples in one file, comments, `# noqa`, hypothesmith code around them) and given a file
  shape: CRLF, CR-only, a BOM, tabs, Colab's mixed tabs, form feeds and U+2028. Checked: the
  fixed file compiles (or nothing changes), a second fix changes nothing, every line outside the
  lines a fix of the original touches is byte-identical, BOM and line-ending style are kept.
- Refused files: NUL bytes, two BOMs, UTF-16 without a BOM, `async` as a name. CPython refuses
  them; memlint must report them and never write them.
- Training scripts (benchmarks/training_scripts.py: MLP, CNN, LSTM, Keras with
  KERAS_BACKEND=torch): run as written, after `--fix`, and after `--fix --unsafe-fixes`. A fixed
  script must run; with safe fixes only it must print the same numbers.
tests/test_fuzz_fixes.py runs a bounded number of the same checks in CI.
"""

from __future__ import annotations

import argparse
import codecs
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import textwrap
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from memlint.checker import FixMode, check_file  # noqa: E402
from memlint.config import Settings  # noqa: E402
from memlint.rules import all_rules  # noqa: E402
from memlint.source import line_opcodes, split_lines  # noqa: E402
from training_scripts import file_shape, training_script  # noqa: E402

_IMPORT_LINE = re.compile(r"^\s*(import |from \S+ import )")
SETTINGS = Settings()  # the defaults, as a user without configuration gets them
FIX_ALL = FixMode(fix=True, unsafe=True)


def samples() -> list[str]:
    found = []
    for rule in all_rules().values():
        for sample in (*rule.INVALID, *rule.VALID):
            codes = sample.code.values() if isinstance(sample.code, dict) else [sample.code]
            texts = (textwrap.dedent(code).lstrip("\n") for code in codes)
            found.extend(t for t in texts if t.strip())  # an empty `__init__.py` of a project sample is no program
    return found


def _indent(text: str, prefix: str) -> str:
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(keepends=True))


def mutate(source: str, rng: random.Random, extra: str = "", others: list[str] | None = None) -> str:
    """A program built around one sample; every choice comes from ``rng``."""
    text = source
    if rng.random() < 0.3 and "import torch\n" in text:
        text = text.replace("import torch\n", "import torch as T\n", 1)
        text = re.sub(r"(?<![\w.])torch\.", "T.", text)
    if rng.random() < 0.2 and others:
        text = text + "\n\n" + rng.choice(others)
    if rng.random() < 0.2:
        text = "class Wrapper:\n" + _indent(text, "    ") + "\n"
    elif rng.random() < 0.2:
        text = "if True:\n" + _indent(text, "    ") + "\n"
    if rng.random() < 0.25:
        lines = text.splitlines(keepends=True)
        where = rng.randrange(len(lines) + 1)
        lines.insert(where, "# a comment line that must survive\n")
        text = "".join(lines)
    if rng.random() < 0.15:
        lines = text.splitlines(keepends=True)
        row = rng.randrange(len(lines)) if lines else 0
        if lines and lines[row].strip() and not lines[row].rstrip().endswith(("\\", ",", "(")):
            lines[row] = lines[row].rstrip("\n") + "  # noqa\n"
        text = "".join(lines)
    if extra:
        text = extra.rstrip("\n") + "\n\n" + text if rng.random() < 0.5 else text.rstrip("\n") + "\n\n" + extra
    return text


def refused(text: str, rng: random.Random) -> tuple[str, bytes]:
    """A file CPython refuses to compile, made from a valid program."""
    shape = rng.choice(["nul", "two-boms", "utf-16", "async-name"])
    if shape == "nul":
        lines = text.splitlines(keepends=True)
        row = rng.randrange(len(lines))
        lines[row] = lines[row].rstrip("\n") + "  # \0\n"
        return shape, "".join(lines).encode()
    if shape == "two-boms":
        return shape, codecs.BOM_UTF8 * 2 + text.encode()
    if shape == "utf-16":
        return shape, text.encode(rng.choice(["utf-16-le", "utf-16-be"]))
    return shape, (text.rstrip("\n") + "\n\n\ndef to_gpu(batch):\n    return batch.cuda(async=True)\n").encode()


def _compiles(data: bytes) -> bool:
    """CPython's verdict on the bytes of a file (it decodes them as it would read the file)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # generated code is full of `1()` and the like
            compile(data, "<fuzz>", "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def _decode(data: bytes) -> str:
    return data.decode("utf-8-sig")


def _line_ending_style(text: str) -> str:
    crlf, lf, cr = text.count("\r\n"), text.count("\n"), text.count("\r")
    if crlf and crlf == lf == cr:
        return "crlf"
    if cr and not lf:
        return "cr"
    if lf and not cr:
        return "lf"
    return "mixed" if lf or cr else "none"


def allowed_rows(path: Path) -> set[int]:
    """Rows (1-based, Python's) of the file that some single fix may change."""
    rows: set[int] = set()
    for finding in check_file(path, SETTINGS, FixMode(), with_edits=True).findings:
        if finding.fix is None:
            continue
        for edit in finding.fix.edits:
            rows.update(range(edit.row, max(edit.end_row, edit.row + 1)))
    return rows


def check_program(data: bytes | str, directory: Path) -> str:
    """The outcome for one file; raises AssertionError when memlint misbehaves on it."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    path = directory / "fuzz.py"
    path.write_bytes(data)
    outcome = check_file(path, SETTINGS, FIX_ALL)
    after = path.read_bytes()
    if not _compiles(data):
        assert after == data, "a file Python refuses was rewritten"
        return "refused"
    if after == data:
        assert not outcome.fixed, "fixes counted but nothing changed"
        return "fix-refused" if outcome.problems else "no-fix"
    assert _compiles(after), "fixed file does not compile"
    assert data.startswith(codecs.BOM_UTF8) == after.startswith(codecs.BOM_UTF8), "BOM changed"
    again = check_file(path, SETTINGS, FIX_ALL)
    assert path.read_bytes() == after and not again.fixed, f"a second --fix changed the file ({dict(again.fixed)})"
    original, fixed = _decode(data), _decode(after)
    style = _line_ending_style(original)
    if style in ("crlf", "cr", "lf"):
        assert _line_ending_style(fixed) == style, f"{style} line endings became {_line_ending_style(fixed)}"
    path.write_bytes(data)
    allowed = allowed_rows(path)
    old_lines, new_lines = split_lines(original), split_lines(fixed)
    for tag, i1, i2, j1, j2 in line_opcodes(old_lines, new_lines):
        if tag == "equal":
            continue
        if tag == "insert":
            near = any(row in allowed for row in (i1, i1 + 1))
            imports_only = all(_IMPORT_LINE.match(line) or not line.strip() for line in new_lines[j1:j2])
            assert near or imports_only, f"lines inserted away from any fix at row {i1 + 1}: {new_lines[j1:j2]!r}"
        else:
            outside = [row for row in range(i1 + 1, i2 + 1) if row not in allowed]
            assert not outside, f"rows {outside} changed but no fix of the original touches them"
    return "fixed"


def grammar_programs(count: int) -> list[str]:
    """hypothesmith programs (random, valid Python), drawn reproducibly."""
    import hypothesmith
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    drawn: list[str] = []

    @settings(
        max_examples=count, deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(hypothesmith.from_grammar(), hypothesmith.from_node()))
    def collect(program: str) -> None:
        drawn.append(program)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        collect()
    return drawn


# ---------------------------------------------------------------------------- running scripts
def _warm_up(torch) -> None:
    """First calls of torch's kernels and optimizers cost seconds; pay them once, before forking."""
    from torch import nn

    for model, x in (
        (nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 2)), torch.randn(8, 4)),
        (nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.MaxPool2d(2), nn.Flatten(),
                       nn.Linear(64, 2)), torch.randn(8, 1, 8, 8)),
    ):
        for optimizer in (torch.optim.SGD(model.parameters(), lr=0.01), torch.optim.Adam(model.parameters())):
            loss = nn.CrossEntropyLoss()(model(x), torch.randint(0, 2, (8,)))
            loss.backward()
            optimizer.step()
            model.eval()
            model(x).softmax(1).argmax(1)
    rnn = nn.LSTM(4, 8, batch_first=True)
    rnn(torch.randn(2, 5, 4))[0].sum().backward()


def _warm_up_keras(keras) -> None:
    import numpy as np

    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((16, 6), dtype="float32")
    model.fit(x, x[:, 0], epochs=1, batch_size=16, verbose=0)
    model.evaluate(x, x[:, 0], verbose=0)
    model.predict(x[:1], verbose=0)
    model.predict_on_batch(x[:1])
    keras.backend.clear_session()


class ScriptRunner:
    """Runs scripts in forked children of a process that imported torch (and keras) once.

    A child starts in milliseconds instead of the seconds an import of torch takes; it runs the
    script as ``python script.py`` would (``runpy``, ``__main__``, its folder as working directory).
    """

    def __init__(self, keras: bool = True) -> None:
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import numpy  # noqa: F401
        import torch

        torch.set_num_threads(1)  # no thread pool in the parent: forked children would inherit it broken
        _warm_up(torch)
        self.keras = False
        if keras:
            try:
                import keras

                _warm_up_keras(keras)
                self.keras = True
            except Exception:
                pass

    def run(self, script: Path, timeout: float = 120) -> tuple[int, str, str]:
        out_path, err_path = script.with_suffix(".out"), script.with_suffix(".err")
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 1
            try:
                os.chdir(script.parent)
                with open(out_path, "wb") as out, open(err_path, "wb") as err:
                    os.dup2(out.fileno(), 1)
                    os.dup2(err.fileno(), 2)
                sys.stdout = open(1, "w", closefd=False)
                sys.stderr = open(2, "w", closefd=False)
                sys.argv = [str(script)]
                import runpy

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    runpy.run_path(str(script), run_name="__main__")
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return 124, "", "timed out"
            time.sleep(0.01)
        code = os.waitstatus_to_exitcode(status)
        return code, out_path.read_text(errors="replace"), err_path.read_text(errors="replace")


_GRAPH_NOTES = re.compile(r",\s*(?:grad_fn=<\w+>|requires_grad=True)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def numbers(output: str) -> list[float]:
    """The numbers a script printed; `tensor(0.5, grad_fn=<AddBackward0>)` and `0.5` read the same."""
    return [float(n) for n in _NUMBER.findall(_GRAPH_NOTES.sub("", output))]


def same_numbers(a: str, b: str) -> bool:
    x, y = numbers(a), numbers(b)
    return len(x) == len(y) and all(abs(p - q) <= 1e-3 * max(1.0, abs(p)) for p, q in zip(x, y))


def check_training_script(text: str, runner: ScriptRunner, directory: Path) -> list[str]:
    """Outcomes for one script: run as written, after --fix, after --fix --unsafe-fixes."""
    outcomes = []
    data = text.encode("utf-8")
    base = directory / "original"
    base.mkdir()
    (base / "train.py").write_bytes(data)
    code, expected, err = runner.run(base / "train.py")
    assert code == 0, f"the generated script itself fails ({code}):\n{err[-3000:]}"
    for mode, label in ((FixMode(fix=True), "safe"), (FIX_ALL, "unsafe")):
        folder = directory / label
        folder.mkdir()
        path = folder / "train.py"
        path.write_bytes(data)
        outcome = check_file(path, SETTINGS, mode)
        assert not outcome.problems, f"--fix ({label}) reported {[str(p) for p in outcome.problems]}"
        after = path.read_bytes()
        if after == data:
            outcomes.append(f"script-{label}-nothing-to-fix")
            continue
        assert _compiles(after), f"--fix ({label}) wrote code that does not compile"
        again = check_file(path, SETTINGS, mode)
        assert path.read_bytes() == after and not again.fixed, f"a second --fix ({label}) changed the script"
        code, output, err = runner.run(path)
        assert code == 0, f"the script fixed with {label} fixes {dict(outcome.fixed)} fails:\n{err[-3000:]}"
        if same_numbers(expected, output):
            outcomes.append(f"script-{label}-ran-same")
        else:
            assert label == "unsafe", f"safe fixes {dict(outcome.fixed)} changed the output:\n{expected}\n---\n{output}"
            outcomes.append("script-unsafe-ran-different")
    return outcomes


# ---------------------------------------------------------------------------- the run
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=4000)
    parser.add_argument("--grammar", type=int, default=600)
    parser.add_argument("--refused", type=int, default=200)
    parser.add_argument("--scripts", type=int, default=400)
    parser.add_argument("--no-keras", action="store_true", help="PyTorch training scripts only")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--save-failures", type=Path, metavar="DIR", help="write each failing program here")
    args = parser.parse_args(argv)
    pool = samples()
    rng = random.Random(args.seed)
    start = time.perf_counter()
    outcomes: Counter[str] = Counter()
    shapes: Counter[str] = Counter()
    failures: list[tuple[str, str]] = []

    def record(kind: str, program: str, check) -> None:
        done = sum(outcomes.values())
        if done and done % 250 == 0:  # a long run shows where it is, and a killed one what it found
            print(f"... {done} programs, {time.perf_counter() - start:.0f} s: {dict(sorted(outcomes.items()))}",
                  flush=True)
        with tempfile.TemporaryDirectory(prefix="memlint-fuzz-") as tmp:
            try:
                result = check(Path(tmp))
                for item in result if isinstance(result, list) else [result]:
                    outcomes[item] += 1
            except AssertionError as exc:
                outcomes[f"FAILED-{kind}"] += 1
                failures.append((str(exc), program))

    generated = grammar_programs(args.grammar) if args.grammar else []
    programs = [mutate(rng.choice(pool), rng, others=pool) for _ in range(args.mutations)]
    programs += [mutate(rng.choice(pool), rng, extra=g) if rng.random() < 0.7 else g for g in generated]
    for program in programs:
        shape, text = file_shape(program, rng)
        shapes[shape] += 1
        record("program", text, lambda d, t=text: check_program(t, d))
    for _ in range(args.refused):
        shape, data = refused(rng.choice(pool), rng)
        shapes[shape] += 1
        record("refused", repr(data[:200]), lambda d, b=data: check_program(b, d))
    if args.scripts:
        runner = ScriptRunner(keras=not args.no_keras)
        for _ in range(args.scripts):
            shape, text = file_shape(training_script(rng, keras=runner.keras), rng)
            shapes[f"script-{shape}"] += 1
            record("script", text, lambda d, t=text: check_training_script(t, runner, d))
    elapsed = time.perf_counter() - start
    total = len(programs) + args.refused + args.scripts
    print(f"{total} programs in {elapsed:.0f} s: {args.mutations} mutated rule samples, {len(generated)} "
          f"hypothesmith programs, {args.refused} files Python refuses, {args.scripts} training scripts "
          f"(each run as written, after --fix and after --fix --unsafe-fixes)")
    print("outcomes:")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome:<32} {count}")
    print("file shapes:", ", ".join(f"{k} {v}" for k, v in sorted(shapes.items())))
    kinds = Counter(_failure_kind(message) for message, _ in failures)
    for kind, count in kinds.most_common():
        print(f"  FAILED x{count}: {kind}")
    if args.save_failures and failures:
        args.save_failures.mkdir(parents=True, exist_ok=True)
        for number, (message, program) in enumerate(failures):
            (args.save_failures / f"failure{number:03d}.py").write_text(
                "# " + message.replace("\n", "\n# ") + "\n" + program, encoding="utf-8", errors="surrogateescape"
            )
    for message, program in failures[:3]:
        print(f"\n--- FAILED: {message}\n{program}")
    return 1 if failures else 0


def _failure_kind(message: str) -> str:
    """A failure's first line and the exception that ended the script, without the numbers that vary."""
    lines = [line for line in message.splitlines() if line.strip()]
    last = lines[-1] if len(lines) > 1 else ""
    return re.sub(r"\d+", "N", f"{lines[0] if lines else message} ... {last}")[:200]


if __name__ == "__main__":
    sys.exit(main())
