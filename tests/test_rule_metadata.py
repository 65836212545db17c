"""Every rule carries what a newcomer needs: metadata, samples, a document and a fixture pair."""

import re
from pathlib import Path

import pytest

from memlint.rules import all_rules

REPO = Path(__file__).resolve().parent.parent
SECTIONS = [
    "## What it does",
    "## Why is this bad?",
    "## Known problems",
    "## Example",
    "## Use instead",
    "## Options",
    "## Fix safety",
    "## Measured effect",
    "## References",
]
RULES = list(all_rules().items())


@pytest.mark.parametrize("code, rule", RULES, ids=[c for c, _ in RULES])
def test_metadata(code, rule):
    assert re.fullmatch(r"MEM\d{3}", code)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)
    assert rule.summary and len(rule.summary) < 120
    assert rule.fix_availability in ("always", "sometimes", "none")
    assert rule.severity in ("error", "warning")
    assert rule.libraries
    assert len(rule.VALID) >= 8 and len(rule.INVALID) >= 8
    if rule.fix_availability == "none":
        assert all(sample.fixed is None for sample in rule.INVALID)
    else:
        assert any(sample.fixed is not None for sample in rule.INVALID)


@pytest.mark.parametrize("code, rule", RULES, ids=[c for c, _ in RULES])
def test_document_has_ruff_sections_in_order(code, rule):
    text = (REPO / "rules" / f"{code}.md").read_text(encoding="utf-8")
    assert text.startswith(f"# {rule.name} ({code})")
    positions = [text.find(section) for section in SECTIONS]
    assert all(p >= 0 for p in positions), [s for s, p in zip(SECTIONS, positions) if p < 0]
    assert positions == sorted(positions)


def _documented_fixes(text: str) -> dict[str, str]:
    """The "| fix | applicability |" table of a document's Fix safety section."""
    section = text[text.find("## Fix safety") : text.find("## Measured effect")]
    rows = re.findall(r"^\|\s*(.+?)\s*\|\s*(safe|unsafe)\s*\|\s*$", section, re.MULTILINE)
    return {fix.replace("\\|", "|"): applicability for fix, applicability in rows}


@pytest.mark.parametrize("code, rule", RULES, ids=[c for c, _ in RULES])
def test_fix_applicability_matches_the_document(code, rule):
    """The engine refuses any fix not in the rule's fix_kinds table; the document states the same table."""
    text = (REPO / "rules" / f"{code}.md").read_text(encoding="utf-8")
    assert _documented_fixes(text) == dict(rule.fix_kinds)
    if rule.fix_availability == "none":
        assert not rule.fix_kinds
    for sample in rule.INVALID:
        if sample.applicability is not None:
            assert sample.applicability in rule.fix_kinds.values()


@pytest.mark.parametrize("code, rule", RULES, ids=[c for c, _ in RULES])
def test_fixture_pair_exists(code, rule):
    assert (REPO / "fixtures" / code / "bad.py").is_file()
    assert (REPO / "fixtures" / code / "fixed.py").is_file()


def test_option_names_are_unique_and_kebab_case():
    seen = {}
    for code, rule in RULES:
        for option in rule.options:
            assert re.fullmatch(r"[a-z]+(-[a-z]+)*", option.name)
            assert option.name not in seen, f"{option.name} used by {seen.get(option.name)} and {code}"
            seen[option.name] = code


def test_catalog_is_current():
    """memlint/rules/catalog.json serves the metadata without importing the rules (fast start-up).

    After adding or changing a rule, regenerate it: `python -m memlint.rules`.
    """
    import json

    from memlint.rule_meta import RuleInfo
    from memlint.rules import CATALOG, sources_digest

    stored = json.loads(CATALOG.read_text(encoding="utf-8"))
    assert stored["sources"] == sources_digest(), "catalog.json is stale: run `python -m memlint.rules`"
    assert [RuleInfo.from_json(entry) for entry in stored["rules"]] == [RuleInfo.of(rule) for _, rule in RULES]


def test_stale_catalog_falls_back_to_the_rule_classes(monkeypatch):
    import memlint.rules as registry

    monkeypatch.setattr(registry, "sources_digest", lambda: "a rule changed since")
    registry._stored_catalog.cache_clear()
    try:
        assert registry._stored_catalog() is None
        assert list(registry.rule_catalog()) == [code for code, _ in RULES]
    finally:
        monkeypatch.undo()
        registry._stored_catalog.cache_clear()


LOCAL_REFERENCES = re.compile(r"EVIDENCE\.md|/work/|/root/|/\.pyenv/")


@pytest.mark.parametrize("document", sorted((REPO / "rules").glob("*.md")) + [REPO / "README.md"],
                         ids=lambda p: p.name)
def test_documents_cite_public_sources_only(document):
    """A reader of the repository cannot open a file of the machine a document was written on."""
    text = document.read_text(encoding="utf-8")
    assert [line for line in text.splitlines() if LOCAL_REFERENCES.search(line)] == []


def test_catalog_refuses_an_option_type_it_cannot_read_back():
    from memlint.rule_meta import Option, RuleInfo

    info = RuleInfo("MEM999", "x", "x", True, "none", "warning", frozenset({"torch"}),
                    (Option("names", frozenset, frozenset(), "x"),), "")
    with pytest.raises(ValueError, match="MEM999 option names: type frozenset"):
        info.to_json()
