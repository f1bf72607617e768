"""The run's endpoint semantics in words (summary.json's ``semantics``, harness.kubeversion),
and the sentence of a variant whose readiness flip disabled the fallback (``fallback_disabled``,
harness.analysis.semantics). Pure functions of the summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def semantics_line(summary: Mapping[str, Any]) -> str | None:
    """One line: the version and where it came from, the conditions, the fallback. None for a
    summary without the block (written before it, or a run that never deployed)."""
    block = summary.get("semantics")
    if not isinstance(block, dict):
        return None
    version = block.get("version") or "version unknown"
    source = "the server" if block.get("source") == "server" else "the embedded profile"
    return (
        f"Endpoint semantics: Kubernetes {version}, from {source}; {_conditions(block)}; "
        f"{_fallback(block.get('fallback'))}."
    )


def _conditions(block: Mapping[str, Any]) -> str:
    seen, implied = block.get("conditions_seen"), block.get("conditions")
    what = "serving/terminating conditions (KEP-1672)"
    if seen is True:
        return f"{what} published"
    if seen is False:
        return f"{what} not published"
    if implied is None:
        return f"{what} not known"
    said = "published" if implied else "not published"
    return f"{what} {said} by the version (no endpoint event showed them)"


def _fallback(fallback: Any) -> str:
    what = "serving-terminating fallback (KEP-1669)"
    if fallback is None:
        return f"{what} not known"
    return f"{what} {'on' if fallback else 'off'}"


def fallback_sentence(entry: Mapping[str, Any]) -> str | None:
    """The variant's ``fallback_disabled`` finding as one sentence; None when it has none."""
    finding = entry.get("fallback_disabled")
    if not isinstance(finding, dict) or not finding.get("why"):
        return None
    return f"A readiness flip disabled the fallback: {finding['why']}."
