"""Tests generated from every rule's own VALID / INVALID samples.

Adding a rule adds its samples here automatically; this file never lists rules. A sample whose
code is a mapping of file names to sources is a project: the files are written to a temporary
directory and checked with the project index, as `memlint check` does.
"""

import textwrap
from pathlib import Path

import pytest

from memlint.analysis.project import ProjectView, build_project
from memlint.engine import fix_text, lint_text
from memlint.rules import all_rules


def _params(kind):
    for code, rule in all_rules().items():
        for index, sample in enumerate(getattr(rule, kind)):
            yield pytest.param(rule, sample, id=f"{code}-{kind.lower()}-{index}")


def _source(code):
    return textwrap.dedent(code).lstrip("\n")


class _Sample:
    """One sample, single file or project: what to lint and with which project view."""

    def __init__(self, sample, tmp_path: Path) -> None:
        self.options = sample.options
        if isinstance(sample.code, str):
            self.files = {"sample.py": _source(sample.code)}
            self.target = "sample.py"
            self.root = None
        else:
            self.files = {name: _source(code) for name, code in sample.code.items()}
            self.target = getattr(sample, "path", None) or next(iter(self.files))
            self.root = tmp_path / "project"
            for name, code in self.files.items():
                path = self.root / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(code)
            (self.root / "pyproject.toml").write_text("")

    def filename(self, name: str) -> str:
        return name if self.root is None else str(self.root / name)

    def view(self):
        if self.root is None:
            return None
        paths = [self.root / name for name in self.files if name.endswith(".py")]
        project, _ = build_project(self.root, paths)
        return ProjectView(project)

    def lint(self, rule, name=None, text=None):
        name = name or self.target
        return lint_text(text if text is not None else self.files[name], self.filename(name), [rule], self.options, project=self.view())

    def fix(self, rule, text):
        return fix_text(text, self.filename(self.target), [rule], self.options, unsafe=True, project=self.view())


@pytest.mark.parametrize("rule, sample", list(_params("VALID")))
def test_valid_sample_is_silent(rule, sample, tmp_path):
    case = _Sample(sample, tmp_path)
    for name in case.files:
        if name.endswith(".py"):
            findings = case.lint(rule, name)
            assert [f"{name}:{f.row}:{f.column} {f.message}" for f in findings] == []


@pytest.mark.parametrize("rule, sample", list(_params("INVALID")))
def test_invalid_sample_fires_and_fixes(rule, sample, tmp_path):
    case = _Sample(sample, tmp_path)
    source = case.files[case.target]
    findings = case.lint(rule)
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
    fixed, applied = case.fix(rule, source)
    assert fixed == _source(sample.fixed)
    assert applied[rule.code] >= 1
    compile(fixed, "sample.py", "exec")
    again, applied_again = case.fix(rule, fixed)
    assert again == fixed and not applied_again, "a second --fix changed the file"
