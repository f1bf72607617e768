"""How the page writes a number: one formatter per kind of quantity, used by every part of it.

Every formatter takes whatever the summary holds (a number, None, or something unexpected) and
returns text; anything that is not a number is written as ``MISSING``, so a gap in the data
reads as a gap, never as 0.
"""

from __future__ import annotations

import json
import math
from typing import Any

MISSING = "—"


def fmt_int(value: Any) -> str:
    if not _is_number(value):
        return MISSING
    return f"{int(value):,}"


def fmt_pct(value: Any) -> str:
    """A fraction as a percentage, three significant digits (0.0015625 → "0.156 %")."""
    if not _is_number(value):
        return MISSING
    if value == 0:
        return "0 %"
    pct = value * 100
    return f"{pct:.3g} %" if pct >= 0.001 else f"{pct:.1e} %"


def fmt_ms(value: Any) -> str:
    """Milliseconds, always in ms so columns compare at a glance: whole ms with thousands
    separators from 100 ms on, one decimal below (where the decimal still says something)."""
    if not _is_number(value):
        return MISSING
    return f"{value:,.0f} ms" if abs(value) >= 100 else f"{value:.1f} ms"


def fmt_s(value: Any) -> str:
    if not _is_number(value):
        return MISSING
    return f"{value:g} s"


def fmt_size(n: int) -> str:
    """A file size in bytes, KB, MB or GB (powers of 1024)."""
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"


def fmt_plain(value: Any) -> str:
    """A free-form value (a version, a backend detail): strings as they are, the rest as JSON."""
    return MISSING if value is None else value if isinstance(value, str) else json.dumps(value)


def as_int(value: Any) -> int | None:
    """A count from the summary, or None when it is missing or not a whole number."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_float(value: Any) -> float | None:
    """A time or duration from the summary, or None when it is missing or not a finite number
    (an integer past a float's range included)."""
    return float(value) if _is_number(value) else None


def plural_s(n: int | None) -> str:
    """The "s" of "1 deletion" / "2 deletions"."""
    return "" if n == 1 else "s"


def _is_number(value: Any) -> bool:
    """A number the page can write: not a bool, finite, within a float's range."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer past float's range
        return False
