"""Did the fix keep the output, and is the memory reduction real?

Output: exit codes equal, stdout equal token by token with numbers compared within a tolerance
(an ``.item()`` fix moves a float32 sum to float64, so the last digits may move), and optionally
a file the script writes. stderr is ignored (warnings, progress bars, timings).
"""

from __future__ import annotations

import io
import math
import re
from statistics import median
from typing import Any, Sequence

RTOL = 1e-4
ATOL = 1e-6
MIN_REDUCTION_MB = 5.0
SPREAD_FACTOR = 3.0

_TOKEN = re.compile(
    r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])"  # a number (not part of a name)
    r"|[-+]?(?:nan|inf)\b"
    r"|[^\s\d.+-]+|[\d.+-]"  # everything else, whitespace-insensitive
)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _number(token: str) -> float | None:
    if not token or not (token[0].isdigit() or token[0] in "+-." or token.lower() in ("nan", "inf")):
        return None
    try:
        return float(token)
    except ValueError:
        return None


def close(a: float, b: float, rtol: float = RTOL, atol: float = ATOL) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(b)


def first_difference(before: str, after: str) -> str | None:
    """None when the outputs agree; otherwise a short description of the first difference."""
    a, b = tokens(before), tokens(after)
    for i, (x, y) in enumerate(zip(a, b)):
        if x == y:
            continue
        nx, ny = _number(x), _number(y)
        if nx is not None and ny is not None and close(nx, ny):
            continue
        return f"token {i + 1}: {x!r} became {y!r}"
    if len(a) != len(b):
        return f"{len(a)} output tokens became {len(b)}"
    return None


def compare_file_contents(before: bytes | None, after: bytes | None) -> str | None:
    """Compare two versions of a written file: tensors/state_dicts with allclose, else bytes."""
    if before is None or after is None:
        which = "the original" if before is None else "the fixed copy"
        return f"{which} did not write the compare file"
    if before == after:
        return None
    loaded = _torch_load(before), _torch_load(after)
    if loaded[0] is _NOT_TORCH or loaded[1] is _NOT_TORCH:
        return "the compare file's bytes differ"
    return _compare_objects(loaded[0], loaded[1], "file")


_NOT_TORCH = object()


def _torch_load(data: bytes) -> Any:
    if not (data.startswith(b"PK\x03\x04") or data.startswith(b"\x80")):  # torch.save: zip or pickle
        return _NOT_TORCH
    try:
        import torch

        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:
        return _NOT_TORCH


def _compare_objects(a: Any, b: Any, where: str) -> str | None:
    import torch

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"{where}: {tuple(a.shape)} {a.dtype} became {tuple(b.shape)} {b.dtype}"
        if a.is_floating_point() or a.is_complex():
            same = torch.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True)
        else:
            same = torch.equal(a, b)
        return None if same else f"{where}: values differ beyond rtol={RTOL}, atol={ATOL}"
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return f"{where}: keys differ"
        for key in a:
            diff = _compare_objects(a[key], b[key], f"{where}[{key!r}]")
            if diff:
                return diff
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and type(a) is type(b):
        if len(a) != len(b):
            return f"{where}: length {len(a)} became {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            diff = _compare_objects(x, y, f"{where}[{i}]")
            if diff:
                return diff
        return None
    if isinstance(a, float) and isinstance(b, float):
        return None if close(a, b) else f"{where}: {a!r} became {b!r}"
    return None if a == b else f"{where}: {a!r} became {b!r}"


def spread(peaks: Sequence[float]) -> float:
    return max(peaks) - min(peaks) if peaks else 0.0


def summarize_peaks(before: Sequence[float], after: Sequence[float]) -> dict[str, float | bool | None]:
    """Median peaks, their ratio, and whether the cut beats max(5 MB, 3x the run-to-run spread)."""
    peak_before, peak_after = median(before), median(after)
    noise = max(spread(before), spread(after))
    threshold = max(MIN_REDUCTION_MB, SPREAD_FACTOR * noise)
    ratio = peak_before / peak_after if peak_after > 0 else (math.inf if peak_before > 0 else 1.0)
    return {
        "before": peak_before,
        "after": peak_after,
        "spread_mb": noise,
        "threshold_mb": threshold,
        "ratio": ratio,
        "confirmed": peak_before - peak_after > threshold,
    }
