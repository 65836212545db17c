"""What a run reports: findings and their fixes as plain data (no syntax trees, no libcst).

Front ends, the cache and the output formats use these; ``memlint.engine`` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

URL_BASE = "https://github.com/memlint/memlint/blob/main/rules/"


@dataclass(frozen=True)
class Edit:
    content: str
    row: int
    column: int
    end_row: int
    end_column: int


@dataclass(frozen=True)
class FixInfo:
    applicability: str
    message: str
    edits: tuple[Edit, ...] = ()


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    message: str
    filename: str
    row: int  # 1-based
    column: int  # 1-based
    end_row: int
    end_column: int  # 1-based, exclusive
    fix: FixInfo | None = None
    cell: int | None = None  # notebooks: 1-based cell number; row/column are then within the cell

    @property
    def sort_key(self) -> tuple[Any, ...]:
        return (self.filename, self.cell or 0, self.row, self.column, self.code)
