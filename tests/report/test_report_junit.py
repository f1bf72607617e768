"""JUnit XML: the structure CI systems parse, and what each testcase says."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from helpers.summaries import SUMMARY, summary

from harness.gate import GateLimits, evaluate_run
from harness.report.junit import junit_element, write_junit


def junit_of(data: dict[str, Any], limits: GateLimits | None) -> ET.Element:
    return junit_element(data, evaluate_run(data, limits))


def write_judged(data: dict[str, Any], limits: GateLimits | None, path: Path) -> Path:
    return write_junit(data, evaluate_run(data, limits), path)


# The common JUnit schema (Ant's junit task as Jenkins, GitLab and the GitHub reporters read it):
# element -> (required attributes, allowed attributes, allowed children).
SCHEMA: dict[str, tuple[set[str], set[str], set[str]]] = {
    "testsuites": (
        set(),
        {"name", "time", "tests", "failures", "errors", "disabled"},
        {"testsuite"},
    ),
    "testsuite": (
        {"name", "tests", "failures", "errors"},
        {
            "name",
            "tests",
            "failures",
            "errors",
            "skipped",
            "time",
            "timestamp",
            "hostname",
            "id",
            "package",
            "group",
            "file",
            "log",
            "url",
            "disabled",
        },
        {"properties", "testcase", "system-out", "system-err"},
    ),
    "properties": (set(), set(), {"property"}),
    "property": ({"name", "value"}, {"name", "value"}, set()),
    "testcase": (
        {"name", "classname", "time"},  # Ant's XSD requires all three; keep to the strictest
        {"name", "classname", "time", "group", "assertions", "status", "file", "line"},
        {"skipped", "error", "failure", "system-out", "system-err"},
    ),
    "failure": (set(), {"message", "type"}, set()),
    "error": (set(), {"message", "type"}, set()),
    "skipped": (set(), {"message", "type"}, set()),
    "system-out": (set(), set(), set()),
    "system-err": (set(), set(), set()),
}
DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")


def check_schema(element: ET.Element) -> None:
    required, allowed, children = SCHEMA[element.tag]
    assert required <= set(element.attrib), (element.tag, element.attrib)
    assert set(element.attrib) <= allowed, (element.tag, set(element.attrib) - allowed)
    for key in ("tests", "failures", "errors", "skipped"):
        if key in element.attrib:
            assert element.attrib[key].isdigit(), (element.tag, key)
    if "time" in element.attrib:
        assert DECIMAL.match(element.attrib["time"]), element.attrib["time"]
    tags = [child.tag for child in element]
    assert set(tags) <= children, (element.tag, tags)
    if element.tag == "testcase":
        assert len([t for t in tags if t in ("failure", "error", "skipped")]) <= 1
    if element.tag == "testsuite" and "properties" in tags:
        assert tags[0] == "properties" and tags.count("properties") == 1
    for child in element:
        check_schema(child)


def check_counts(suite: ET.Element) -> None:
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "-1")) == len(cases)
    assert int(suite.get("failures", "-1")) == sum(c.find("failure") is not None for c in cases)
    assert int(suite.get("errors", "-1")) == sum(c.find("error") is not None for c in cases)
    assert int(suite.get("skipped", "-1")) == sum(c.find("skipped") is not None for c in cases)


def cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(c.get("classname", ""), c.get("name", "")): c for c in root.iter("testcase")}


def test_file_is_well_formed_and_follows_the_schema(tmp_path: Path) -> None:
    path = write_judged(SUMMARY, GateLimits("graceful"), tmp_path / "reports" / "junit.xml")
    assert path.read_bytes().startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    check_schema(root)
    suites = root.findall("testsuite")
    assert len(suites) == 1
    check_counts(suites[0])
    assert root.get("tests") == suites[0].get("tests")


def test_one_testcase_per_order_and_rule() -> None:
    root = junit_of(SUMMARY, GateLimits("graceful", max_failed=0, max_failure_rate=0.01))
    names = {f"{c}/{n}" for c, n in cases(root)}
    for order in ("naive", "graceful", "prestop"):
        for rule in ("measured", "complete", "evidence", "max_failed", "max_failure_rate"):
            assert f"drainlab.{order}/{rule}" in names
    assert len(names) == 15


def test_the_gated_order_fails_with_the_numbers_in_the_message() -> None:
    root = junit_of(SUMMARY, GateLimits("naive", max_failed=5))
    failure = cases(root)[("drainlab.naive", "max_failed")].find("failure")
    assert failure is not None
    assert failure.get("message") == "naive: 8 failed of 5120 requests > max_failed 5 (over by 3)"
    assert failure.get("type") == "max_failed"
    assert root.find("testsuite").get("failures") == "1"  # type: ignore[union-attr]


def test_other_orders_breaking_a_rule_are_skipped_not_failed() -> None:
    root = junit_of(SUMMARY, GateLimits("graceful"))
    naive = cases(root)[("drainlab.naive", "max_failed")]
    assert naive.find("failure") is None
    skipped = naive.find("skipped")
    assert skipped is not None
    assert skipped.get("message", "").startswith("not gated (informational): naive: 8 failed")
    passed = cases(root)[("drainlab.graceful", "max_failed")]
    assert next(iter(passed)).tag == "system-out"
    assert root.find("testsuite").get("failures") == "0"  # type: ignore[union-attr]


def test_a_partial_run_fails_the_complete_rule() -> None:
    root = junit_of(summary(partial=True), GateLimits("graceful"))
    assert cases(root)[("drainlab.graceful", "complete")].find("failure") is not None
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["partial"] == "true" and props["gate.order"] == "graceful"


def test_a_missing_gated_order_is_a_failed_testcase() -> None:
    root = junit_of(SUMMARY, GateLimits("close-first"))
    check_schema(root)
    case = cases(root)[("drainlab.close-first", "ran")]
    failure = case.find("failure")
    assert failure is not None and "not in the summary" in (failure.get("message") or "")


def test_suite_time_is_the_sum_of_the_windows() -> None:
    data: dict[str, Any] = summary()
    data["orders"]["naive"]["window"] = {"start": 100.0, "end": 120.5}
    data["orders"]["graceful"]["window"] = {"start": 200.0, "end": 210.0}
    suite = junit_of(data, GateLimits("graceful")).find("testsuite")
    assert suite is not None and suite.get("time") == "30.500"


def test_messages_with_markup_characters_survive(tmp_path: Path) -> None:
    data = summary()
    data["orders"]["<a&b>"] = data["orders"].pop("naive")
    path = write_judged(data, GateLimits("<a&b>"), tmp_path / "junit.xml")
    failure = ET.parse(path).getroot().find(".//failure")
    assert failure is not None and failure.get("message", "").startswith("<a&b>: 8 failed")


@pytest.mark.parametrize("order", ["graceful", "naive"])
def test_synthetic_run_round_trip(tmp_path: Path, order: str) -> None:
    import json

    from test_report_synthetic import make_run

    run_dir = make_run(tmp_path, rate=20)
    data = json.loads((run_dir / "summary.json").read_text())
    root = ET.parse(write_judged(data, GateLimits(order), run_dir / "junit.xml")).getroot()
    check_schema(root)
    expected_failures = 0 if order == "graceful" else 1
    assert root.find("testsuite").get("failures") == str(expected_failures)  # type: ignore[union-attr]


def test_without_limits_nothing_fails_but_everything_is_reported() -> None:
    root = junit_of(SUMMARY, None)
    check_schema(root)
    assert root.find("testsuite").get("failures") == "0"  # type: ignore[union-attr]
    naive = cases(root)[("drainlab.naive", "max_failed")]
    assert naive.find("skipped") is not None
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["gate.order"] == "none (informational only)"


def no_deletion(data: dict[str, Any]) -> dict[str, Any]:
    """Every order of ``data`` as a run with ``--deletions 0`` leaves it."""
    for entry in data["orders"].values():
        entry["deletions"] = entry["confidence"]["deletions"] = 0
        entry["confidence"]["requests_in_windows"] = 0
        entry["confidence"]["inconclusive"] = "no deletion"
    return data


def test_an_inconclusive_gated_order_is_an_error_ci_counts_red() -> None:
    """Not <skipped> (CI counts it green) and not <failure> (no limit broke): <error>."""
    root = junit_of(no_deletion(summary()), GateLimits("graceful"))
    check_schema(root)
    suite = root.find("testsuite")
    assert suite is not None
    check_counts(suite)
    assert (suite.get("errors"), suite.get("failures")) == ("1", "0")
    error = cases(root)[("drainlab.graceful", "evidence")].find("error")
    assert error is not None and error.get("type") == "inconclusive"
    assert error.get("message") == "graceful: no deletion, so no shutdown was tested"
    assert (error.text or "").startswith("inconclusive, never a pass")
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["gate.verdict"] == "inconclusive"
    # The other orders say so too, for information.
    for order in ("naive", "prestop"):
        skipped = cases(root)[(f"drainlab.{order}", "evidence")].find("skipped")
        assert skipped is not None and "no deletion" in (skipped.get("message") or "")


def test_a_gated_order_with_evidence_has_a_passing_evidence_case() -> None:
    root = junit_of(SUMMARY, GateLimits("graceful"))
    case = cases(root)[("drainlab.graceful", "evidence")]
    assert next(iter(case)).tag == "system-out"
    assert root.find("testsuite").get("errors") == "0"  # type: ignore[union-attr]
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["gate.verdict"] == "pass"
