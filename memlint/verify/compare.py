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
from itertools import zip_longest
from typing import Any, Iterable, Iterator, Sequence

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
    return first_difference_in_chunks([before], [after])


MAX_CARRY = 16 * 2**20


def iter_tokens(chunks: Iterable[str]) -> Iterator[str]:
    """Tokens of a text given in chunks; a token cut by a chunk boundary is carried into the next chunk."""
    carry = ""
    for chunk in chunks:
        text = carry + chunk
        cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t"), text.rfind("\r"))
        if cut < 0 and len(text) < MAX_CARRY:
            carry = text
            continue
        head, carry = (text[: cut + 1], text[cut + 1:]) if cut >= 0 else (text, "")
        yield from _TOKEN.findall(head)
    if carry:
        yield from _TOKEN.findall(carry)


def first_difference_in_chunks(before: Iterable[str], after: Iterable[str]) -> str | None:
    """``first_difference`` over two outputs read in chunks: memory stays bounded by the chunk size."""
    a, b = iter_tokens(before), iter_tokens(after)
    count = 0
    for x, y in zip_longest(a, b):
        if x is None or y is None:
            rest_a = count + (x is not None) + sum(1 for _ in a)
            rest_b = count + (y is not None) + sum(1 for _ in b)
            return f"{rest_a} output tokens became {rest_b}"
        count += 1
        if x == y:
            continue
        nx, ny = _number(x), _number(y)
        if nx is not None and ny is not None and close(nx, ny):
            continue
        return f"token {count}: {x!r} became {y!r}"
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


def summarize_peaks(
    before: Sequence[float], after: Sequence[float], minimum: float = MIN_REDUCTION_MB
) -> dict[str, float | bool | None]:
    """Median peaks, their ratio, and whether the cut beats max(minimum, 3x the run-to-run spread)."""
    peak_before, peak_after = median(before), median(after)
    noise = max(spread(before), spread(after))
    threshold = max(minimum, SPREAD_FACTOR * noise)
    ratio = peak_before / peak_after if peak_after > 0 else (math.inf if peak_before > 0 else 1.0)
    return {
        "before": peak_before,
        "after": peak_after,
        "spread_mb": noise,
        "threshold_mb": threshold,
        "ratio": ratio,
        "confirmed": peak_before - peak_after > threshold,
    }


# --- leak slope ---------------------------------------------------------------------------------

MIN_SLOPE_SAMPLES = 4
LEAK_BYTES_PER_ITERATION = 64 * 1024  # below this, growth per iteration is not called a leak
_T95 = ((1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (5, 2.571), (6, 2.447), (7, 2.365), (8, 2.306),
        (9, 2.262), (10, 2.228), (12, 2.179), (15, 2.131), (20, 2.086), (30, 2.042), (60, 2.000))


def _t95(dof: int) -> float:
    """Student's t for a two-sided 95% interval (conservative: the next smaller tabulated dof)."""
    value = 1.96
    for table_dof, t in reversed(_T95):
        if dof >= table_dof:
            return t if dof < 120 else value
    return _T95[0][1]


def fit_slope(values: Sequence[float]) -> dict[str, float] | None:
    """Growth per iteration (least squares) after a warm-up of the first fifth, with a 95% band.

    None with fewer than MIN_SLOPE_SAMPLES samples.
    """
    n = len(values)
    if n < MIN_SLOPE_SAMPLES:
        return None
    warmup = max(1, n // 5)
    ys = list(values[warmup:])
    if len(ys) < 3:
        warmup, ys = n - 3, list(values[-3:])
    xs = range(len(ys))
    mean_x, mean_y = sum(xs) / len(ys), sum(ys) / len(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sxx
    dof = len(ys) - 2
    residual = sum((y - (mean_y + slope * (x - mean_x))) ** 2 for x, y in zip(xs, ys))
    ci = _t95(dof) * math.sqrt(residual / dof / sxx) if dof > 0 else 0.0
    return {"bytes_per_iteration": slope, "ci95_bytes": ci, "samples": n, "warmup": warmup}


def is_leak(slope: dict[str, float] | None) -> bool:
    """Growth that the band cannot explain away and that is above the noise floor."""
    return slope is not None and slope["bytes_per_iteration"] - slope["ci95_bytes"] > LEAK_BYTES_PER_ITERATION


def format_slope(slope: dict[str, float] | None) -> str:
    if slope is None:
        return "-"
    mib = slope["bytes_per_iteration"] / 2**20
    return f"{'+' if mib >= 0 else '-'}{abs(mib):.1f} MiB/iteration (±{slope['ci95_bytes'] / 2**20:.1f})"
