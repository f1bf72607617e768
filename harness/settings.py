"""Typed settings from plain data: a mapping (read from YAML or JSON) into nested dataclasses.

The dataclasses' type hints are the schema: ``build`` checks every key and value against them as
it goes, and a wrong one is a one-line ``ScenarioError`` naming its dotted key
(``traffic.users: expected an integer, got 'ten'``). Bounds on numbers are checked by
``bound_problem`` once the values are in.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from typing import Any

from harness.errors import ScenarioError, cut, shown

HOUR_S, DAY_S = 3600.0, 86400.0
# A number's bounds: (lowest, highest, whether the lowest itself is allowed).
Bound = tuple[float, float, bool]


def bound_problem(key: str, value: float | None, limits: Bound) -> list[str]:
    """The problem of one bounded number, if any (None: an optional setting left unset)."""
    low, high, low_allowed = limits
    if value is None or ((value >= low if low_allowed else value > low) and value <= high):
        return []
    sign = ">=" if low_allowed else ">"
    return [f"{key}: must be {sign} {_number(low)} and <= {_number(high)}, got {_number(value)}"]


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def settings_dict(obj: Any) -> Any:
    """A dataclass as its settings mapping (``dataclasses.asdict`` with each field under its YAML
    key, ``metadata["key"]`` where it has one): what ``build`` reads back."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.metadata.get("key", f.name): settings_dict(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
        }
    if isinstance(obj, (list, tuple)):
        return type(obj)(settings_dict(item) for item in obj)
    if isinstance(obj, dict):
        return {key: settings_dict(value) for key, value in obj.items()}
    return copy.deepcopy(obj)


def build(cls: type[Any], raw: Any, prefix: str) -> Any:
    """Builds dataclass ``cls`` from a mapping, checking keys and types as it goes."""
    if not isinstance(raw, dict):
        raise ScenarioError(f"{prefix.rstrip('.') or 'scenario'}: expected a mapping")
    hints = typing.get_type_hints(cls)
    # A field's YAML key is its name, or ``metadata["key"]`` where the name cannot be (``from``).
    fields = {f.metadata.get("key", f.name): f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(name) for name in set(raw) - set(fields))
    if unknown:
        raise ScenarioError(
            f"{prefix}{cut(unknown[0])}: unknown setting (known here: {', '.join(sorted(fields))})"
        )
    values = {fields[key]: _coerce(hints[fields[key]], raw[key], prefix + key) for key in raw}
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key + ".")  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, key)
    if origin is dict:
        if not isinstance(value, dict):
            raise ScenarioError(f"{key}: expected a mapping, got {shown(value)}")
        key_hint, value_hint = args
        mapping = {}
        for name, item in value.items():
            label = f"{key}.{cut(str(name))}"  # headers.X-Token: the key names the entry
            mapping[_coerce(key_hint, name, label)] = _coerce(value_hint, item, label)
        return mapping
    if origin in (list, tuple):
        if isinstance(value, str) and args[0] is str:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ScenarioError(f"{key}: expected a list, got {shown(value)}")
        items = [_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ScenarioError(f"{key}: expected true or false, got {shown(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ScenarioError(f"{key}: expected an integer, got {shown(value)}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf  # an integer past float's range
            if math.isfinite(number):
                return number
            raise ScenarioError(f"{key}: expected a finite number, got {shown(value)}")
        raise ScenarioError(f"{key}: expected a number, got {shown(value)}")
    if hint is str:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
        raise ScenarioError(f"{key}: expected a string, got {shown(value)}")
    raise ScenarioError(f"{key}: unsupported setting type")  # pragma: no cover - schema bug
