"""What the property-based tests (tests/fuzz/) share: one settings profile and junk values.

Deterministic on purpose: ``derandomize`` draws the same examples on every run and no example
database is kept, so CI and a laptop test the same inputs. The deadline is loose (the machine is
shared); it is there to catch an input that makes a parser hang, not to time it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

F = TypeVar("F", bound=Callable[..., Any])


def fuzz(max_examples: int = 150) -> Callable[[F], F]:
    """The settings of one property test: ``max_examples`` inputs, the same ones every run."""
    return settings(  # type: ignore[return-value]
        max_examples=max_examples,
        deadline=timedelta(seconds=30),
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Numbers a user (or a broken file) may write: the edges, not only typical values.
EDGE_NUMBERS = st.sampled_from(
    [0, -1, 1, 2**31, 2**63, 10**30, -(10**400), 1e308, -0.0, 1e-300, math.inf, -math.inf, math.nan]
)
NUMBERS = st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True), EDGE_NUMBERS)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=20))


def json_trees(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Any JSON-like value: scalars, lists and objects with text keys, nested."""
    return st.recursive(
        SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def deep_json(depth: int, leaf: str = "1") -> str:
    """JSON text (also YAML flow) nesting ``leaf`` in ``depth`` alternating objects and lists,
    built as text: json.dumps itself would overflow the stack on the deep ones."""
    opens = "".join('{"k": ' if level % 2 else "[" for level in range(depth))
    closes = "".join("}" if level % 2 else "]" for level in reversed(range(depth)))
    return opens + leaf + closes
