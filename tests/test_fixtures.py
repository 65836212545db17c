"""Generated over fixtures/MEMxxx/{bad,fixed}.py: the real `memlint check` agrees with each pair.

bad.py fires its directory's rule; fixed.py is silent for every rule; and where the rule's fix
applies, `memlint check --fix --unsafe-fixes --select MEMxxx` turns a copy of bad.py into
exactly fixed.py. (Running the pairs and measuring memory is `memlint verify`'s job: see
tests/test_verify.py and benchmarks/verify_fixtures.py.)
"""

import json
import shutil

import pytest

from conftest import REPO, run_memlint

FIXTURE_BADS = sorted((REPO / "fixtures").glob("MEM*/bad.py"))
pairs = pytest.mark.parametrize("bad", FIXTURE_BADS, ids=lambda p: p.parent.name)


def findings(path, *options):
    proc = run_memlint("check", "--no-cache", "--output-format", "json", *options, path)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


@pairs
def test_bad_fires_its_rule(bad):
    code = bad.parent.name
    found = findings(bad, "--select", "ALL")
    assert code in {f["code"] for f in found}, f"{code} did not fire on {bad}"


@pairs
def test_fixed_is_silent_for_every_rule(bad):
    fixed = bad.with_name("fixed.py")
    assert fixed.is_file(), f"{fixed} is missing"
    found = findings(fixed, "--select", "ALL")
    assert found == [], [f"{f['code']} line {f['location']['row']}: {f['message']}" for f in found]


@pairs
def test_fix_turns_bad_into_fixed(bad, tmp_path):
    code = bad.parent.name
    if not any(f["fix"] for f in findings(bad, "--select", code)):
        pytest.skip(f"{code}'s findings in {bad.name} carry no fix")
    copy = tmp_path / "bad.py"
    shutil.copyfile(bad, copy)
    proc = run_memlint("check", "--no-cache", "--fix", "--unsafe-fixes", "--select", code, copy)
    assert proc.returncode in (0, 1), proc.stderr
    assert copy.read_text(encoding="utf-8") == bad.with_name("fixed.py").read_text(encoding="utf-8")
