"""harness.gate: the pure verdict, the summary loader's errors, and every exit of `harness gate`."""

from __future__ import annotations

import contextlib
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from helpers.summaries import SUMMARY, order_entry, summary

from harness.cli import EXIT_GATE, EXIT_INCONCLUSIVE, EXIT_OK, EXIT_USAGE, main
from harness.errors import HarnessError
from harness.gate import GateLimits, GateUsageError, evaluate
from harness.summaryfile import (
    OrderNotInSummaryError,
    SummaryInvalidError,
    SummaryNotFoundError,
    SummarySchemaError,
    load_summary,
)

# -- evaluate ------------------------------------------------------------------------------------


def test_holds_when_the_order_dropped_nothing() -> None:
    result = evaluate(SUMMARY, GateLimits(order="graceful"))
    assert result.ok
    assert result.line == (
        "ok graceful: 0 failed of 5000 requests, failure rate < 0.0599% at 95% confidence, "
        "1250 of them inside the windows of 3 deletions (max_failed 0)"
    )
    assert (result.failed, result.requests) == (0, 5000)


def test_breaks_max_failed_and_says_by_how_much() -> None:
    result = evaluate(SUMMARY, GateLimits(order="naive", max_failed=5))
    assert not result.ok
    assert result.line == "FAIL naive: 8 failed of 5120 requests > max_failed 5 (over by 3)"
    assert "\n" not in result.line


def test_max_failure_rate_compares_the_fraction() -> None:
    limits = GateLimits(order="naive", max_failed=None, max_failure_rate=0.001)
    result = evaluate(SUMMARY, limits)
    assert not result.ok
    assert "failure rate 0.156% (8/5120) > max_failure_rate 0.1%" in result.line
    assert "over by 0.0563 points" in result.line
    assert evaluate(SUMMARY, GateLimits("naive", None, 0.002)).ok


def test_both_limits_broken_are_both_named() -> None:
    result = evaluate(SUMMARY, GateLimits("naive", max_failed=0, max_failure_rate=0.0001))
    assert result.line.startswith("FAIL naive: 8 failed")
    assert "; naive: failure rate" in result.line
    assert [c.name for c in result.checks if not c.ok] == ["max_failed", "max_failure_rate"]


def test_classes_count_only_those_errors() -> None:
    only_timeouts = GateLimits("naive", max_failed=2, classes=("timeout",))
    result = evaluate(SUMMARY, only_timeouts)
    assert result.ok and result.failed == 2
    assert result.line.startswith("ok naive: 2 timeout failures of 5120 requests, ")
    assert result.line.endswith(" (max_failed 2, classes timeout)")
    refused = evaluate(SUMMARY, GateLimits("naive", 5, classes=("connection_refused", "timeout")))
    assert not refused.ok and refused.failed == 8
    # a class the summary does not list counts as zero
    assert evaluate(SUMMARY, GateLimits("naive", 0, classes=("http_5xx",))).ok


def test_an_order_that_completed_no_request_never_passes() -> None:
    data = summary()
    data["orders"]["graceful"] = order_entry(0, 0)
    result = evaluate(data, GateLimits("graceful"))
    assert not result.ok
    assert "no request completed, so nothing was measured" in result.line


def test_a_partial_run_never_passes() -> None:
    result = evaluate(summary(partial=True), GateLimits("graceful"))
    assert not result.ok
    assert "interrupted" in result.line


def test_no_limits_at_all_still_checks_the_evidence() -> None:
    result = evaluate(SUMMARY, GateLimits("naive", max_failed=None))
    assert result.ok
    assert result.line.endswith("(no limits)")


def test_order_not_in_summary() -> None:
    with pytest.raises(
        OrderNotInSummaryError, match=r"'close-first' is not in the summary .*naive"
    ):
        evaluate(SUMMARY, GateLimits("close-first"))


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (GateLimits("graceful", max_failed=-1), "max_failed must be >= 0"),
        (GateLimits("graceful", max_failure_rate=1.5), "fraction from 0 to 1"),
        (GateLimits("graceful", classes=("refused",)), "unknown error class 'refused'"),
        (GateLimits(""), "name the order"),
    ],
)
def test_nonsense_limits_are_usage_errors(limits: GateLimits, message: str) -> None:
    with pytest.raises(GateUsageError, match=message):
        evaluate(SUMMARY, limits)


def test_a_summary_missing_counts_is_invalid_not_a_crash() -> None:
    data = summary()
    del data["orders"]["graceful"]["failed"]
    with pytest.raises(SummaryInvalidError, match=r"orders.graceful.failed is missing"):
        evaluate(data, GateLimits("graceful"))
    data["orders"]["graceful"]["failed"] = "0"
    with pytest.raises(SummaryInvalidError, match="whole number"):
        evaluate(data, GateLimits("graceful"))


def test_limits_from_a_scenario_or_summary_section() -> None:
    limits = GateLimits.from_mapping(
        {"order": "prestop", "max_failed": None, "max_failure_rate": 0.01, "classes": "timeout"}
    )
    assert limits == GateLimits("prestop", None, 0.01, ("timeout",))
    assert GateLimits.from_mapping({}) == GateLimits()
    with pytest.raises(GateUsageError):
        GateLimits.from_mapping({"max_failed": "none"})


# -- load_summary --------------------------------------------------------------------------------


def write(path: Path, data: Any) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_loads_from_a_run_folder_or_the_file(tmp_path: Path) -> None:
    write(tmp_path / "summary.json", SUMMARY)
    assert load_summary(tmp_path) == SUMMARY
    assert load_summary(tmp_path / "summary.json", order="graceful") == SUMMARY


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (None, SummaryNotFoundError, "has no summary.json"),
        ("{not json", SummaryInvalidError, r"not valid JSON \(line 1, column 2"),
        ("[1, 2]", SummaryInvalidError, "expected a JSON object"),
        ({"orders": {}}, SummarySchemaError, "schema_version None, this harness reads version 1"),
        ({"schema_version": 2, "orders": {}}, SummarySchemaError, "schema_version 2"),
        ({"schema_version": 1}, SummaryInvalidError, "'orders' is missing"),
        ({"schema_version": 1, "orders": {"naive": 3}}, SummaryInvalidError, "naive is not an"),
    ],
)
def test_unusable_summaries_are_one_line_harness_errors(
    tmp_path: Path, content: Any, error: type[Exception], message: str
) -> None:
    if content is not None:
        write(tmp_path / "summary.json", content)
    with pytest.raises(error, match=message) as caught:
        load_summary(tmp_path)
    assert isinstance(caught.value, HarnessError)
    assert "\n" not in str(caught.value)


def test_missing_file_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(SummaryNotFoundError, match=r"nope\.json does not exist"):
        load_summary(tmp_path / "nope.json")


def test_load_checks_the_order_when_asked(tmp_path: Path) -> None:
    write(tmp_path / "summary.json", SUMMARY)
    with pytest.raises(OrderNotInSummaryError):
        load_summary(tmp_path, order="graceful-quiet")


# -- `harness gate`: every exit ------------------------------------------------------------------


def run(*argv: str) -> tuple[int, str, str]:
    """``harness gate ARGV`` in this process (argparse ends its usage errors with SystemExit)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["gate", *argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    write(tmp_path / "summary.json", SUMMARY)
    return tmp_path


def test_exit_0_when_it_holds(run_dir: Path) -> None:
    code, out, err = run(str(run_dir), "--order", "graceful")
    assert (code, err) == (EXIT_OK, "")
    assert out.startswith("ok graceful: 0 failed of 5000 requests, ") and out.count("\n") == 1
    assert out.endswith(" (max_failed 0)\n")


def test_exit_1_with_one_line_when_it_breaks(run_dir: Path) -> None:
    code, out, err = run(str(run_dir / "summary.json"), "--order", "naive")
    assert code == EXIT_GATE
    assert out.count("\n") == 1 and out.startswith("FAIL naive: 8 failed")
    assert err == ""


def test_rate_alone_drops_the_default_count_limit(run_dir: Path) -> None:
    code, out, _ = run(str(run_dir), "--order", "naive", "--max-failure-rate", "0.002")
    assert code == EXIT_OK, out
    code, out, _ = run(str(run_dir), "--order", "naive", "--max-failure-rate", "0.001")
    assert code == EXIT_GATE and "max_failure_rate" in out


def test_classes_count_only_their_failures(run_dir: Path) -> None:
    code, out, _ = run(
        str(run_dir), "--order", "naive", "--classes", "timeout", "--max-failed", "1"
    )
    assert code == EXIT_GATE and "2 timeout failures" in out and "over by 1" in out


def test_without_flags_the_runs_own_gate_applies(tmp_path: Path) -> None:
    """The limits the run's scenario declared, order included; flags override them one by one."""
    write(
        tmp_path / "summary.json",
        summary(scenario={"gate": {"order": "naive", "max_failed": 8, "classes": None}}),
    )
    code, out, _ = run(str(tmp_path))
    assert code == EXIT_OK and out.startswith("ok naive: 8 failed"), out
    code, out, _ = run(str(tmp_path), "--max-failed", "7")
    assert code == EXIT_GATE and "max_failed 7" in out
    code, out, _ = run(str(tmp_path), "--order", "prestop")
    assert code == EXIT_OK and out.startswith("ok prestop: 3 failed"), out


def test_a_gated_run_is_regated_with_the_limits_it_was_gated_with(tmp_path: Path) -> None:
    """`harness run --gate naive --max-failed 8` stores those limits; they beat the scenario's."""
    stored = {"order": "naive", "max_failed": 8, "max_failure_rate": None, "classes": None}
    write(
        tmp_path / "summary.json",
        summary(gate={**stored, "ok": True}, scenario={"gate": {"order": "graceful"}}),
    )
    code, out, _ = run(str(tmp_path))
    assert code == EXIT_OK and out.startswith("ok naive: 8 failed"), out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--order", "graceful"], "required"),  # no run folder
        (["RUN", "--max-failed", "-3"], "must be >= 0"),
        (["RUN", "--max-failed", "many"], "invalid int value"),
        (["RUN", "--max-failed", "none"], "invalid int value"),
        (["RUN", "--max-failure-rate", "2"], "fraction from 0 to 1"),
        (["RUN", "--max-failure-rate", "lots"], "invalid float value"),
        (["RUN", "--classes", "refused"], "unknown error class 'refused'"),
        (["RUN", "--bogus"], "unrecognized arguments"),
    ],
)
def test_exit_2_for_bad_usage(run_dir: Path, argv: list[str], message: str) -> None:
    argv = [str(run_dir) if a == "RUN" else a for a in argv]
    code, out, err = run(*argv)
    assert code == EXIT_USAGE
    assert message in err and err.count("\n") == 1, err
    assert out == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no summary"),
        ("{", "not valid JSON"),
        ({"schema_version": 9, "orders": {}}, "schema_version 9"),
        (SUMMARY, "'close-first' is not in the summary"),
    ],
)
def test_exit_2_for_an_unreadable_summary(tmp_path: Path, content: Any, message: str) -> None:
    if content is not None:
        write(tmp_path / "summary.json", content)
    code, out, err = run(str(tmp_path), "--order", "close-first")
    assert code == EXIT_USAGE
    assert out == ""
    assert err.startswith("harness: error: ") and message in err and err.count("\n") == 1


def test_junit_is_written_beside_the_verdict(run_dir: Path) -> None:
    junit = run_dir / "out" / "junit.xml"
    code, _, _ = run(str(run_dir), "--order", "naive", "--junit", str(junit))
    assert code == EXIT_GATE
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert [f.get("type") for f in failures] == ["max_failed"]


def test_junit_records_a_missing_order_before_exit_2(run_dir: Path) -> None:
    junit = run_dir / "junit.xml"
    code, _, err = run(str(run_dir), "--order", "close-first", "--junit", str(junit))
    assert code == EXIT_USAGE and "not in the summary" in err
    case = ET.parse(junit).getroot().find(".//testcase[@classname='drainlab.close-first']")
    assert case is not None and case.get("name") == "ran"
    assert case.find("failure") is not None


def test_unwritable_junit_is_exit_2(run_dir: Path) -> None:
    (run_dir / "blocker").write_text("a file, not a folder")
    code, _, err = run(str(run_dir), "--junit", str(run_dir / "blocker" / "junit.xml"))
    assert code == EXIT_USAGE and "cannot write" in err and err.count("\n") == 1


def test_result_to_dict_is_the_summary_gate_section_and_round_trips() -> None:
    limits = GateLimits("naive", max_failed=5, classes=["timeout", "connection_refused"])
    assert limits.classes == ("timeout", "connection_refused")  # a list from argparse is fine
    section = evaluate(SUMMARY, limits).to_dict()
    assert section == {
        "order": "naive",
        "max_failed": 5,
        "max_failure_rate": None,
        "classes": ["timeout", "connection_refused"],
        "min_deletions": None,
        "max_upper_bound": None,
        "max_outage_s": None,
        "ok": False,
        "verdict": "fail",
        "line": "FAIL naive: 8 timeout,connection_refused failures of 5120 requests > max_failed 5 "
        "(over by 3)",
        "failed": 8,
        "requests": 5120,
    }
    assert GateLimits.from_mapping(json.loads(json.dumps(section))) == limits


# -- inconclusive: evidence, min_deletions, max_upper_bound, max_outage_s -----------------------


def with_order(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    data = summary()
    data["orders"][name] = entry
    return data


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (order_entry(5000, 0, deletions=0), "graceful: no deletion, so no shutdown was tested"),
        (
            order_entry(5000, 0, deletions=3, in_windows=0),
            "graceful: no request inside any deletion window (3 deletions), so no request met "
            "a shutdown",
        ),
        (order_entry(0, 0), "graceful: no request completed, so nothing was measured"),
    ],
)
def test_no_evidence_is_inconclusive_never_a_pass(entry: dict[str, Any], reason: str) -> None:
    result = evaluate(with_order("graceful", entry), GateLimits("graceful"))
    assert not result.ok and result.inconclusive and result.verdict == "inconclusive"
    assert result.line == f"INCONCLUSIVE {reason}"
    assert result.to_dict()["verdict"] == "inconclusive"


def test_a_broken_limit_fails_even_without_evidence() -> None:
    """Failures without a deletion are still failures: fail beats inconclusive."""
    data = with_order("naive", order_entry(100, 4, deletions=0, timeout=4))
    result = evaluate(data, GateLimits("naive"))
    assert result.verdict == "fail" and not result.inconclusive
    assert result.line.startswith("FAIL naive: 4 failed of 100 requests > max_failed 0")
    assert "naive: no deletion" in result.line


def test_a_summary_from_before_the_evidence_counts_is_inconclusive() -> None:
    entry = order_entry(5000, 0)
    del entry["confidence"]
    result = evaluate(with_order("graceful", entry), GateLimits("graceful"))
    assert result.inconclusive
    assert "does not count requests inside deletion windows" in result.line
    del entry["deletions"]
    result = evaluate(with_order("graceful", entry), GateLimits("graceful"))
    assert result.inconclusive and "does not record its deletions" in result.line
    entry["deletions"] = 0
    result = evaluate(with_order("graceful", entry), GateLimits("graceful"))
    assert result.line == "INCONCLUSIVE graceful: no deletion, so no shutdown was tested"


def test_min_deletions() -> None:
    assert evaluate(SUMMARY, GateLimits("graceful", min_deletions=3)).ok
    result = evaluate(SUMMARY, GateLimits("graceful", min_deletions=4))
    assert result.inconclusive
    assert result.line == (
        "INCONCLUSIVE graceful: 3 deletions < min_deletions 4, not enough evidence"
    )


def test_max_upper_bound_passes_fails_or_asks_for_more_requests() -> None:
    # graceful: 0 of 5000, bound 1 - 0.05 ** (1/5000) = 0.0599 %
    assert evaluate(SUMMARY, GateLimits("graceful", max_upper_bound=0.001)).ok
    unsure = evaluate(SUMMARY, GateLimits("graceful", max_upper_bound=0.0005))
    assert unsure.inconclusive
    assert "95% upper bound on the failure rate 0.0599% (0/5000) > max_upper_bound 0.05%" in (
        unsure.line
    )
    assert "too few requests to be 95% sure; 0 failures need 5990 requests" in unsure.line
    # naive: 8 of 5120 = 0.156 %, above the limit as measured: that is a failure
    broken = evaluate(SUMMARY, GateLimits("naive", max_failed=None, max_upper_bound=0.001))
    assert broken.verdict == "fail" and "the measured rate alone is above it" in broken.line
    # ... and within a looser one, but not surely: inconclusive
    loose = evaluate(SUMMARY, GateLimits("naive", max_failed=None, max_upper_bound=0.002))
    assert loose.inconclusive


def test_max_outage_s_reads_the_outage_block_and_never_passes_without_it() -> None:
    unchecked = evaluate(SUMMARY, GateLimits("graceful", max_outage_s=2))
    assert unchecked.inconclusive
    assert "max_outage_s 2 cannot be checked" in unchecked.line
    assert "orders.graceful.outage.total_s" in unchecked.line
    data = summary()
    data["orders"]["graceful"]["outage"] = {"total_s": 1.5}
    assert evaluate(data, GateLimits("graceful", max_outage_s=2)).ok
    over = evaluate(data, GateLimits("graceful", max_outage_s=1))
    assert over.verdict == "fail"
    assert over.line == "FAIL graceful: outage 1.5 s > max_outage_s 1 (over by 0.5 s)"
    data["orders"]["graceful"]["outage"] = {"total_s": "long"}
    with pytest.raises(SummaryInvalidError, match=r"outage\.total_s should be a number"):
        evaluate(data, GateLimits("graceful", max_outage_s=1))


def test_junk_evidence_is_one_line_not_a_crash() -> None:
    data = summary()
    data["orders"]["graceful"]["confidence"] = {"deletions": "3", "requests_in_windows": 1}
    with pytest.raises(SummaryInvalidError, match=r"confidence\.deletions should be a whole"):
        evaluate(data, GateLimits("graceful"))
    data["orders"]["graceful"]["confidence"] = [1]
    with pytest.raises(SummaryInvalidError, match="confidence is not an object"):
        evaluate(data, GateLimits("graceful"))


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (GateLimits("graceful", min_deletions=-1), "min_deletions must be >= 0"),
        (GateLimits("graceful", max_upper_bound=0), "max_upper_bound is a fraction above 0"),
        (GateLimits("graceful", max_upper_bound=1.5), "max_upper_bound is a fraction above 0"),
        (
            GateLimits("graceful", max_outage_s=-1),
            "max_outage_s must be a finite number of seconds >= 0",
        ),
        (GateLimits("graceful", max_outage_s=float("inf")), "max_outage_s must be a finite number"),
    ],
)
def test_nonsense_evidence_limits_are_usage_errors(limits: GateLimits, message: str) -> None:
    with pytest.raises(GateUsageError, match=message):
        evaluate(SUMMARY, limits)


def test_evidence_limits_round_trip_through_a_mapping() -> None:
    limits = GateLimits("graceful", min_deletions=5, max_upper_bound=0.01, max_outage_s=2.5)
    section = evaluate(SUMMARY, limits).to_dict()
    assert (section["min_deletions"], section["max_upper_bound"], section["max_outage_s"]) == (
        5,
        0.01,
        2.5,
    )
    assert GateLimits.from_mapping(json.loads(json.dumps(section))) == limits
    assert "min_deletions 5, max_upper_bound 1%, max_outage_s 2.5" in limits.describe()
    with pytest.raises(GateUsageError, match="min_deletions should be a whole number"):
        GateLimits.from_mapping({"min_deletions": 2.5})


def test_exit_4_when_inconclusive(tmp_path: Path) -> None:
    write(tmp_path / "summary.json", with_order("graceful", order_entry(900, 0, deletions=0)))
    code, out, err = run(str(tmp_path), "--variant", "graceful")
    assert (code, err) == (EXIT_INCONCLUSIVE, "")
    assert out == "INCONCLUSIVE graceful: no deletion, so no shutdown was tested\n"


def test_exit_4_for_evidence_limits_and_their_junit(run_dir: Path) -> None:
    junit = run_dir / "junit.xml"
    code, out, _ = run(str(run_dir), "--min-deletions", "4", "--junit", str(junit))
    assert code == EXIT_INCONCLUSIVE and out.startswith("INCONCLUSIVE graceful: 3 deletions")
    root = ET.parse(junit).getroot()
    (error,) = root.findall(".//error")
    assert error.get("type") == "inconclusive" and "min_deletions 4" in str(error.get("message"))
    assert root.findall(".//failure") == []
    code, out, _ = run(str(run_dir), "--max-upper-bound", "0.0005")
    assert code == EXIT_INCONCLUSIVE and "too few requests" in out
    code, out, _ = run(str(run_dir), "--max-outage-s", "3")
    assert code == EXIT_INCONCLUSIVE and "cannot be checked" in out
    code, out, _ = run(str(run_dir), "--min-deletions", "3", "--max-upper-bound", "0.001")
    assert code == EXIT_OK, out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--min-deletions", "-1"], "min_deletions must be >= 0"),
        (["--min-deletions", "two"], "invalid int value"),
        (["--max-upper-bound", "0"], "max_upper_bound is a fraction above 0 and up to 1, got 0"),
        (["--max-upper-bound", "1.5"], "max_upper_bound is a fraction above 0"),
        (["--max-upper-bound", "nan"], "max_upper_bound is a fraction above 0"),
        (["--max-outage-s", "-2"], "max_outage_s must be a finite number of seconds >= 0"),
        (["--max-outage-s", "inf"], "max_outage_s must be a finite number of seconds >= 0"),
        (["--max-outage-s", "soon"], "invalid float value"),
    ],
)
def test_exit_2_for_bad_evidence_limits(run_dir: Path, argv: list[str], message: str) -> None:
    code, out, err = run(str(run_dir), *argv)
    assert code == EXIT_USAGE and out == ""
    assert message in err and err.count("\n") == 1, err


def test_help_documents_exit_code_4() -> None:
    for command in ("gate", "run"):
        code, out, _ = run_help(command)
        assert code == EXIT_OK
        assert "4 inconclusive" in " ".join(out.split()), out


def run_help(command: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([command, "--help"])
    return code, out.getvalue(), err.getvalue()
