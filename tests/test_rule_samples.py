"""Tests generated from every rule's own VALID / INVALID samples.

Adding a rule adds its samples here automatically; this file never lists rules.
"""

import textwrap

import pytest

from memlint.engine import fix_text, lint_text
from memlint.rules import all_rules


def _params(kind):
    for code, rule in all_rules().items():
        for index, sample in enumerate(getattr(rule, kind)):
            yield pytest.param(rule, sample, id=f"{code}-{kind.lower()}-{index}")


def _source(code):
    return textwrap.dedent(code).lstrip("\n")


@pytest.mark.parametrize("rule, sample", list(_params("VALID")))
def test_valid_sample_is_silent(rule, sample):
    findings = lint_text(_source(sample.code), "sample.py", [rule], sample.options)
    assert [f"{f.row}:{f.column} {f.message}" for f in findings] == []


@pytest.mark.parametrize("rule, sample", list(_params("INVALID")))
def test_invalid_sample_fires_and_fixes(rule, sample):
    source = _source(sample.code)
    findings = lint_text(source, "sample.py", [rule], sample.options)
    assert findings, "rule stayed silent on a must-fire sample"
    assert all(f.code == rule.code for f in findings)
    if sample.count is not None:
        assert len(findings) == sample.count
    if sample.line is not None:
        assert findings[0].row == sample.line
    if sample.fixed is None:
        assert all(f.fix is None for f in findings), "finding carries a fix but the sample expects none"
        return
    fixable = [f for f in findings if f.fix is not None]
    assert fixable, "sample expects a fix but no finding carries one"
    if sample.applicability is not None:
        assert fixable[0].fix.applicability == sample.applicability
    fixed, applied = fix_text(source, "sample.py", [rule], sample.options, unsafe=True)
    assert fixed == _source(sample.fixed)
    assert applied[rule.code] >= 1
    compile(fixed, "sample.py", "exec")
    again, applied_again = fix_text(fixed, "sample.py", [rule], sample.options, unsafe=True)
    assert again == fixed and not applied_again, "a second --fix changed the file"
