"""Fuzz the fixes: generated programs through `--fix --unsafe-fixes`, checked three ways.

    python benchmarks/fuzz_fixes.py                  # 2,000 mutated samples + 300 hypothesmith programs
    python benchmarks/fuzz_fixes.py --mutations 200 --grammar 50 --seed 7

For every program: (1) the fixed output parses and compiles (or the fix is refused and nothing
changes); (2) a second fix pass changes nothing; (3) every line outside the lines a fix of the
original touches is byte-identical (added import lines excepted). Programs are the rules' own
samples (must-fire and must-not-fire), mutated: aliased imports, CRLF, a BOM, tabs, nesting in a
class or an `if`, two samples in one file, comments, `# noqa`, and hypothesmith-generated code
around them. tests/test_fuzz_fixes.py runs a bounded number of the same checks in CI.
"""

from __future__ import annotations

import argparse
import difflib
import random
import re
import sys
import textwrap
import time
import warnings
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from memlint.engine import FixFailure, ParseFailure, fix_text, lint_text  # noqa: E402
from memlint.rules import all_rules  # noqa: E402

_IMPORT_LINE = re.compile(r"^\s*(import |from \S+ import )")


def samples() -> list[str]:
    found = []
    for rule in all_rules().values():
        for sample in (*rule.INVALID, *rule.VALID):
            codes = sample.code.values() if isinstance(sample.code, dict) else [sample.code]
            found.extend(textwrap.dedent(code).lstrip("\n") for code in codes)
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
    if rng.random() < 0.15:
        text = re.sub(r"(?m)^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), text)
    if extra:
        text = extra.rstrip("\n") + "\n\n" + text if rng.random() < 0.5 else text.rstrip("\n") + "\n\n" + extra
    if rng.random() < 0.2:
        text = text.replace("\n", "\r\n")
    if rng.random() < 0.1:
        text = "\ufeff" + text
    return text


def _compiles(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # generated code is full of `1()` and the like
            compile(text.lstrip("\ufeff"), "<fuzz>", "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def allowed_rows(text: str, rules) -> set[int]:
    """Rows (1-based) of the original that some single fix may change."""
    rows: set[int] = set()
    for finding in lint_text(text, "fuzz.py", rules, with_edits=True):
        if finding.fix is None:
            continue
        for edit in finding.fix.edits:
            rows.update(range(edit.row, max(edit.end_row, edit.row + 1)))
    return rows


def check_program(text: str) -> str:
    """The outcome for one program; raises AssertionError when a fix misbehaves."""
    if not _compiles(text):
        return "not-python"
    rules = list(all_rules().values())
    try:
        fixed, applied = fix_text(text, "fuzz.py", rules, unsafe=True)
    except FixFailure:
        return "fix-refused"  # reported to the user, nothing written
    except ParseFailure:
        return "unparsable-by-libcst"
    if fixed == text:
        assert not applied, "fixes counted but nothing changed"
        return "no-fix"
    assert _compiles(fixed), "fixed output does not compile"
    again, applied_again = fix_text(fixed, "fuzz.py", rules, unsafe=True)
    assert again == fixed and not applied_again, f"a second --fix changed the output ({dict(applied_again)})"
    allowed = allowed_rows(text, rules)
    old_lines = text.lstrip("\ufeff").splitlines(keepends=True)
    new_lines = fixed.lstrip("\ufeff").splitlines(keepends=True)
    assert text.startswith("\ufeff") == fixed.startswith("\ufeff"), "BOM changed"
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        outside = [row for row in range(i1 + 1, i2 + 1) if row not in allowed]
        if tag == "insert":
            near = any(row in allowed for row in (i1, i1 + 1))
            imports_only = all(_IMPORT_LINE.match(line) or not line.strip() for line in new_lines[j1:j2])
            assert near or imports_only, f"lines inserted away from any fix at row {i1 + 1}: {new_lines[j1:j2]!r}"
        else:
            assert not outside, f"rows {outside} changed but no fix of the original touches them"
    if "\r\n" in text and "\n" in text.replace("\r\n", ""):
        pass  # mixed endings: no promise beyond the checks above
    elif "\r\n" in text:
        assert "\n" not in fixed.replace("\r\n", ""), "a fix wrote LF lines into a CRLF file"
    return "fixed"


def grammar_programs(count: int, seed: int) -> list[str]:
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

    del seed  # derandomize: the same programs on every run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        collect()
    return drawn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=2000)
    parser.add_argument("--grammar", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20260101)
    args = parser.parse_args(argv)
    pool = samples()
    if not pool:
        print("no rule samples yet: nothing to fuzz")
        return 0
    rng = random.Random(args.seed)
    start = time.perf_counter()
    generated = grammar_programs(args.grammar, args.seed) if args.grammar else []
    outcomes: Counter[str] = Counter()
    failures: list[tuple[str, str]] = []
    programs = [mutate(rng.choice(pool), rng, others=pool) for _ in range(args.mutations)]
    programs += [mutate(rng.choice(pool), rng, extra=g) if rng.random() < 0.7 else g for g in generated]
    for program in programs:
        try:
            outcomes[check_program(program)] += 1
        except AssertionError as exc:
            outcomes["FAILED"] += 1
            failures.append((str(exc), program))
    elapsed = time.perf_counter() - start
    print(f"{len(programs)} programs ({args.mutations} mutated samples, {len(generated)} hypothesmith) "
          f"from {len(pool)} rule samples in {elapsed:.0f} s")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome:<22} {count}")
    for message, program in failures[:5]:
        print(f"\n--- FAILED: {message}\n{program}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
