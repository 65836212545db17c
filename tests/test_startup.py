"""Start-up (issue 17, item 1): a check served from the cache imports no libcst, torch or rich console.

The speed itself is measured by benchmarks/bench_startup.py (ratios against `python -c pass`);
these tests pin what makes it fast: which modules a warm run imports, and the rule catalog.
"""

import subprocess
import sys

from samples import CLEAN, EVAL_LOOP

HEAVY_ROOTS = ("libcst", "torch", "numpy", "keras", "tensorflow")
HEAVY_MODULES = ("rich.console", "rich.table", "concurrent.futures.process", "memlint.engine", "memlint.rule")


def imported_modules(*args, cwd):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "memlint", *args], cwd=cwd, capture_output=True, text=True,
        timeout=300,
    )
    names = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    return result, names


def heavy(names):
    return sorted(n for n in names if n.split(".")[0] in HEAVY_ROOTS or n in HEAVY_MODULES)


def test_warm_check_imports_nothing_heavy(tmp_path):
    (tmp_path / "evaluate.py").write_text(EVAL_LOOP)
    (tmp_path / "clean.py").write_text(CLEAN)
    cold, cold_names = imported_modules("check", ".", cwd=tmp_path)
    assert cold.returncode == 1 and "memlint.engine" in cold_names  # the first run analyses
    warm, warm_names = imported_modules("check", ".", cwd=tmp_path)
    assert warm.returncode == 1
    assert warm.stdout == cold.stdout and "evaluate.py:8:15: MEM001" in warm.stdout
    assert heavy(warm_names) == []
    for output_format in ("json", "sarif", "github", "full"):
        result, names = imported_modules("check", "--output-format", output_format, ".", cwd=tmp_path)
        result_again, names_again = imported_modules("check", "--output-format", output_format, ".", cwd=tmp_path)
        assert result_again.stdout == result.stdout
        assert heavy(names_again) == [], output_format


def test_usage_errors_and_help_import_nothing_heavy(tmp_path):
    for args in (("--help",), ("verfiy", "x.py"), ("check", "--help"), ("--version",)):
        _, names = imported_modules(*args, cwd=tmp_path)
        assert heavy(names) == [], args
