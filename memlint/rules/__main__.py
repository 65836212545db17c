"""``python -m memlint.rules``: write catalog.json from the rule classes (after adding or changing a rule)."""

from memlint.rules import write_catalog

print(f"wrote {write_catalog()}")
