"""A rule's document: ``rules/<CODE>.md`` from the source tree, else one built from the rule class."""

from __future__ import annotations

import textwrap
from pathlib import Path

from memlint.rule import Rule

DOCS_DIR = Path(__file__).resolve().parent.parent / "rules"


def rule_document(rule: type[Rule]) -> str:
    path = DOCS_DIR / f"{rule.code}.md"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    parts = [f"# {rule.name} ({rule.code})", "", rule.summary, ""]
    if rule.__doc__:
        parts += [textwrap.dedent(rule.__doc__).strip(), ""]
    parts += [f"Default: {'on' if rule.default_enabled else 'off'}. Fix: {rule.fix_availability}.", ""]
    return "\n".join(parts)
