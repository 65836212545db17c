"""Output formats. Each module renders a finished run; none of them touches syntax trees."""

from __future__ import annotations

FORMATS = ("concise", "full", "json", "github", "sarif")
