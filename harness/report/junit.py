"""JUnit XML for CI systems: one testcase per order and gate rule, so the verdict shows natively.

Only the gated order can fail: the other orders get the same rules, but a rule they break is
written as ``<skipped>`` with the numbers in its message. The comparison orders (naive,
close-first) are expected to drop requests; a red test for them on every run would teach people
to ignore the report.

An inconclusive rule of the gated order (no deletion, no request inside a deletion window,
less evidence than the limits ask) is written as ``<error type="inconclusive">``, not as
``<skipped>`` and not as ``<failure>``. Not skipped: Jenkins, GitLab, GitHub test reporters and
Azure count a skipped test as not failed, so a run that tested no shutdown would show green.
Not a failure: a failure says the service broke a limit, which it did not. JUnit's error means
"the test could not reach a verdict", which is what inconclusive is, and every CI system that
reads JUnit counts errors as red, like failures. The suite's ``errors`` attribute counts them.

The layout follows the common JUnit schema (Ant/Jenkins): ``testsuites`` > ``testsuite`` (name,
tests, failures, errors, skipped, time, timestamp, hostname, then ``properties`` first) >
``testcase`` (classname, name, time) with at most one ``failure``, ``error`` or ``skipped``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.gate import GateResult, LimitCheck, Verdicts
from harness.report.formats import as_float
from harness.summaryfile import summary_orders

SUITE_NAME = "drainlab"
INCONCLUSIVE = "inconclusive"  # the error type of a rule that could not be judged


def write_junit(summary: Mapping[str, Any], verdicts: Verdicts, path: Path) -> Path:
    """Writes the JUnit XML of ``summary`` judged by ``verdicts`` to ``path`` and returns it.

    An ungated run (``verdicts.gated`` None) shows every order against the default limits, for
    information only: nothing fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(junit_element(summary, verdicts))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path


def junit_element(summary: Mapping[str, Any], verdicts: Verdicts) -> ET.Element:
    """The ``<testsuites>`` element, kept separate from writing so tests can inspect it."""
    gated = verdicts.gated
    cases: list[ET.Element] = []
    for name, result in verdicts.results.items():
        cases.extend(_cases(result, gated=name == gated))
    if gated is not None and gated not in verdicts.results:
        cases.append(_missing_order_case(summary, gated))

    failures = sum(1 for c in cases if c.find("failure") is not None)
    errors = sum(1 for c in cases if c.find("error") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    counts = {
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
        "time": _duration(summary),
    }
    root = ET.Element("testsuites", {"name": SUITE_NAME, **_without("skipped", counts)})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": SUITE_NAME,
            **counts,
            "timestamp": str(summary.get("started") or ""),
            "hostname": str(summary.get("backend") or "unknown"),
        },
    )
    properties = ET.SubElement(suite, "properties")
    for key, value in _properties(summary, verdicts, gated):
        ET.SubElement(properties, "property", {"name": key, "value": value})
    suite.extend(cases)
    return root


def _cases(result: GateResult, *, gated: bool) -> list[ET.Element]:
    return [_case(check, gated=gated) for check in result.checks]


def _case(check: LimitCheck, *, gated: bool) -> ET.Element:
    case = ET.Element(
        "testcase", {"classname": f"{SUITE_NAME}.{check.order}", "name": check.name, "time": "0"}
    )
    if not check.ok and gated and check.inconclusive:
        error = ET.SubElement(case, "error", {"message": check.message, "type": INCONCLUSIVE})
        error.text = f"inconclusive, never a pass: {check.message}"
    elif not check.ok and gated:
        failure = ET.SubElement(case, "failure", {"message": check.message, "type": check.name})
        failure.text = check.message
    elif not check.ok:
        ET.SubElement(
            case,
            "skipped",
            {"message": f"not gated (informational): {check.message}", "type": check.name},
        )
    else:
        ET.SubElement(case, "system-out").text = check.message
    return case


def _missing_order_case(summary: Mapping[str, Any], order: str) -> ET.Element:
    ran = ", ".join(summary_orders(summary)) or "none"
    message = f"order {order!r} is not in the summary (orders run: {ran})"
    case = ET.Element(
        "testcase", {"classname": f"{SUITE_NAME}.{order}", "name": "ran", "time": "0"}
    )
    ET.SubElement(case, "failure", {"message": message, "type": "ran"}).text = message
    return case


def _properties(
    summary: Mapping[str, Any], verdicts: Verdicts, gated: str | None
) -> list[tuple[str, str]]:
    versions = summary.get("versions") or {}
    result = verdicts.gated_result
    return [
        ("gate.order", gated or "none (informational only)"),
        ("gate.limits", verdicts.limits.describe()),
        ("gate.verdict", result.verdict if result is not None else "none"),
        ("backend", str(summary.get("backend"))),
        ("seed", str(summary.get("seed"))),
        ("partial", str(bool(summary.get("partial"))).lower()),
        ("drainlab", str(versions.get("drainlab")) if isinstance(versions, dict) else "None"),
    ]


def _duration(summary: Mapping[str, Any]) -> str:
    """Seconds the run took, from its windows; JUnit wants a plain decimal."""
    spans: list[float] = []
    for entry in summary_orders(summary).values():
        window = entry.get("window") if isinstance(entry, dict) else None
        if isinstance(window, dict):
            start, end = as_float(window.get("start")), as_float(window.get("end"))
            if start is not None and end is not None and end >= start:
                spans.append(end - start)
    return f"{sum(spans):.3f}"


def _without(key: str, data: dict[str, str]) -> dict[str, str]:
    # The schema allows "skipped" on <testsuite> but not on <testsuites>.
    return {k: v for k, v in data.items() if k != key}
