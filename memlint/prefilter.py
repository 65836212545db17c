"""The text pre-filter: which rules a file can concern, from its import lines alone.

Light on purpose (no syntax tree, no rule module): the runner asks it for every file, also in a run
served from the cache, before deciding whether the engine is needed at all.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from memlint.rule import Rule

# Top-level packages that memlint's rules care about; a file importing none of them is skipped.
TRACKED_LIBRARIES = frozenset(
    {"torch", "numpy", "keras", "tensorflow", "lightning", "pytorch_lightning", "tf_keras", "keras_hub", "keras_nlp", "keras_cv"}
)

_LIBRARY_IMPORT = re.compile(
    r"^[ \t]*(?:import|from)[ \t]+(" + "|".join(sorted(TRACKED_LIBRARIES)) + r")\b", re.MULTILINE
)


def libraries_mentioned(text: str) -> frozenset[str]:
    return frozenset(_LIBRARY_IMPORT.findall(text))


def rules_for_text(
    text: str, rules: Sequence[type["Rule"]], also: frozenset[str] = frozenset()
) -> list[type["Rule"]]:
    """Rules whose libraries the file imports somewhere (or, ``also``, its callers in the project do)."""
    present = libraries_mentioned(text) | also
    if not present:
        return []
    return [rule for rule in rules if rule.libraries & present]
