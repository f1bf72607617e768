"""summary.json as a file: where it is, reading it, and the schema checks every reader relies on.

``load_summary`` reads a run folder or a ``summary.json`` and turns every way that can go wrong
into a one-line ``SummaryError``; ``summary_orders`` and ``order_entry`` are the checked ways in
to the per-order blocks. The gate, the report and the CLI all read the file through here, so the
contract (``docs/summary-v1.md``) is checked in one place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness import runfolder
from harness.errors import HarnessError, cut

SUMMARY_NAME = runfolder.SUMMARY
# A summary of 10 000 deletions in each of four orders is about 16 MB: past this, a file is not
# one (/dev/zero, a log), and reading it whole would only fill memory.
MAX_SUMMARY_BYTES = 64 << 20


class SummaryError(HarnessError):
    """A summary.json that cannot be used."""


class SummaryNotFoundError(SummaryError):
    """No summary.json where the user pointed."""


class SummaryInvalidError(SummaryError):
    """A summary.json that is not valid JSON or lacks a field the gate needs."""


class SummarySchemaError(SummaryError):
    """A summary.json written to a schema version this harness does not read."""


class OrderNotInSummaryError(SummaryError):
    """The gated order did not run (or is misspelt)."""


def summary_path(target: Path) -> Path:
    """A run folder or a summary.json path, as the user may give either."""
    # os.path.isdir, not Path.is_dir: a name too long or with a NUL byte is simply no folder.
    return target / SUMMARY_NAME if os.path.isdir(target) else target


def load_summary(target: Path, order: str | None = None) -> dict[str, Any]:
    """Reads and checks a summary; with ``order``, also checks that the order ran."""
    path = summary_path(target)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SUMMARY_BYTES + 1)
    except FileNotFoundError:
        where = (
            f"{target} has no {SUMMARY_NAME}" if os.path.isdir(target) else f"{path} does not exist"
        )
        if os.path.exists(path.parent / runfolder.RUN_JOURNAL):
            where += f" (the run ended without one: `harness report {path.parent}` rebuilds it)"
        raise SummaryNotFoundError(f"no summary: {where}") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise SummaryInvalidError(f"cannot read {path}: {exc}") from None
    if len(raw) > MAX_SUMMARY_BYTES:
        raise SummaryInvalidError(f"{path}: larger than {MAX_SUMMARY_BYTES >> 20} MiB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SummaryInvalidError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SummaryInvalidError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except (RecursionError, ValueError) as exc:  # nested too deep; an integer of 4300+ digits
        raise SummaryInvalidError(f"{path}: not a summary ({cut(str(exc))})") from None
    if not isinstance(data, dict):
        raise SummaryInvalidError(f"{path}: expected a JSON object at the top level")
    version = data.get("schema_version")
    if version != runfolder.SCHEMA_VERSION:
        raise SummarySchemaError(
            f"{path}: schema_version {version!r}, "
            f"this harness reads version {runfolder.SCHEMA_VERSION}"
        )
    for name, entry in summary_orders(data).items():
        if not isinstance(entry, dict):
            raise SummaryInvalidError(f"{path}: orders.{name} is not an object")
    if order is not None:
        order_entry(data, order)
    return data


def summary_orders(summary: Mapping[str, Any]) -> Mapping[str, Any]:
    orders = summary.get("orders")
    if not isinstance(orders, dict):
        raise SummaryInvalidError("summary: 'orders' is missing or not an object")
    return orders


def order_entry(summary: Mapping[str, Any], order: str) -> Mapping[str, Any]:
    orders = summary_orders(summary)
    if order not in orders:
        ran = ", ".join(orders) or "none"
        raise OrderNotInSummaryError(f"order {order!r} is not in the summary (orders run: {ran})")
    entry = orders[order]
    if not isinstance(entry, dict):
        raise SummaryInvalidError(f"summary: orders.{order} is not an object")
    return entry


def order_names(summary: Mapping[str, Any]) -> list[str]:
    """Orders in the scenario's order (the order they ran), then any others the summary has."""
    present = list(summary_orders(summary))
    scenario = summary.get("scenario")
    listed = scenario.get("orders") if isinstance(scenario, dict) else None
    ordered = [o for o in listed if o in present] if isinstance(listed, list) else []
    return ordered + [o for o in present if o not in ordered]
