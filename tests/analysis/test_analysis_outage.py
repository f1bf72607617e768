"""Outage measures that the client's speed cannot bend (harness.analysis.outage, issue 18 item 4).

The issue's example: under a closed loop, a 2.5 s outage of connections refused in under a
millisecond made hundreds of failures a second, while a 4 s outage under a steady load made far
fewer; read by the counts, the shorter outage looked five times worse."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from helpers.analysis import ev

from harness.analysis import build_order_summary, summary_of_orders
from harness.analysis.outage import OutageScan, outage_block, rank, ranking_reasons
from harness.jsonl import JsonlWriter
from harness.load.pacing import Load
from harness.records import RequestRecord, record_line
from harness.samples import read_samples
from harness.timeline import EventKind

WINDOW = (0.0, 10.0)
USERS = 10


def record(start: float, end: float, failed: bool, user: int | None) -> RequestRecord:
    return RequestRecord(
        start=start,
        end=end,
        latency_ms=(end - start) * 1000.0,
        name="/",
        status=0 if failed else 200,
        bytes=0 if failed else 2,
        pod=None if failed else "a",
        error="connection_refused" if failed else None,
        user=user,
    )


def closed_loop_burst(outage: tuple[float, float]) -> list[RequestRecord]:
    """Each user loops at once: 20 ms successes, and inside the outage refusals that fail in
    0.5 ms, so a user sends about 2000 a second."""
    down, up = outage
    records = []
    for user in range(USERS):
        t = user * 0.002
        while t < WINDOW[1]:
            failed = down <= t < up
            end = t + (0.0005 if failed else 0.02)
            records.append(record(t, end, failed, user))
            t = end
    return sorted(records, key=lambda r: r.end)


def paced_stream(outage: tuple[float, float], rate_per_user: float = 10.0) -> list[RequestRecord]:
    """Each user sends on a fixed schedule, whatever the answer."""
    down, up = outage
    records = []
    for user in range(USERS):
        for i in range(int(WINDOW[1] * rate_per_user)):
            t = i / rate_per_user + user * 0.01
            failed = down <= t < up
            records.append(record(t, t + (0.0005 if failed else 0.02), failed, user))
    return sorted(records, key=lambda r: r.end)


def outage_of(records: list[RequestRecord], load: Load) -> dict[str, Any]:
    block: dict[str, Any] = build_order_summary("v", records, [], WINDOW, load)["outage"]
    return block


PACED = Load("paced", USERS * 10.0)
CLOSED = Load("closed", None)


def test_a_longer_outage_ranks_worse_though_its_count_is_lower() -> None:
    burst = closed_loop_burst((2.0, 4.5))  # the graceful: ~2.5 s, hundreds a second
    paced = paced_stream((2.0, 6.0))  # the naive: 4 s, a steady 100 a second
    burst_failed = sum(r.failed for r in burst)
    paced_failed = sum(r.failed for r in paced)
    assert burst_failed > 10 * paced_failed  # the counts say the burst is far worse

    graceful, naive = outage_of(burst, CLOSED), outage_of(paced, PACED)
    assert graceful["total_s"] == pytest.approx(2.5, abs=0.05)
    assert naive["total_s"] == pytest.approx(4.0, abs=0.05)
    assert (graceful["stretches"], naive["stretches"]) == (1, 1)
    assert naive["longest_s"] == naive["total_s"]
    # failures per offered second: 400 failures at 100 offered a second = 4 s of load lost.
    assert naive["failures_per_offered_s"] == pytest.approx(paced_failed / 100.0)
    assert graceful["failures_per_offered_s"] is None  # a closed loop offers no rate
    assert (graceful["load_model"], naive["load_model"]) == ("closed", "paced")

    summary = summary_of_orders(
        {
            "naive": build_order_summary("naive", paced, [], WINDOW, PACED),
            "graceful": build_order_summary("graceful", burst, [], WINDOW, CLOSED),
        }
    )
    assert summary["ranking"] == ["graceful", "naive"]
    assert "longer outage than graceful" in summary["ranking_reason"]["naive"]
    assert summary["ranking_reason"]["graceful"].startswith("graceful ranks 1st of 2: 2.")


def test_the_same_outage_gives_the_same_total_whatever_the_client_speed() -> None:
    burst = outage_of(closed_loop_burst((2.0, 5.0)), CLOSED)
    paced = outage_of(paced_stream((2.0, 5.0)), PACED)
    assert burst["total_s"] == pytest.approx(paced["total_s"], abs=0.05)
    assert burst["user_wait_s"]["p50"] == pytest.approx(paced["user_wait_s"]["p50"], abs=0.12)


def test_each_user_waits_from_its_first_failure_to_its_next_success() -> None:
    records = [
        record(1.0, 1.1, False, 0),
        record(2.0, 2.001, True, 0),  # user 0 fails at 2.0 and 2.5, succeeds at 3.0-3.2
        record(2.5, 2.501, True, 0),
        record(3.0, 3.2, False, 0),
        record(4.0, 4.001, True, 0),  # then a 0.5 s wait: shorter, not its longest
        record(4.4, 4.5, False, 0),
        record(1.0, 1.1, False, 1),  # user 1 never fails: waited 0
        record(2.0, 2.1, False, 1),
        record(8.0, 8.001, True, 2),  # user 2's last request failed: its wait runs to the end
    ]
    wait = outage_of(records, PACED)["user_wait_s"]
    assert wait["users"] == 3
    assert wait["max"] == pytest.approx(10.0 - 8.0)
    assert wait["p50"] == pytest.approx(3.2 - 2.0)


def test_records_without_a_user_still_give_the_stretches() -> None:
    records = [
        record(1.0, 1.1, False, None),
        record(2.0, 2.001, True, None),
        record(3.0, 3.1, False, None),
    ]
    block = outage_of(records, PACED)
    assert block["total_s"] == pytest.approx(3.1 - 1.1)
    assert block["user_wait_s"] == {"users": 0, "p50": None, "max": None}


def test_each_deletion_gets_the_stretches_overlapping_its_window() -> None:
    # Successes every 0.1 s except in [3, 5) (after deleting a at 3) and [7.2, 7.5) (b at 7).
    records = [
        record(t / 10, t / 10 + (0.001 if failed else 0.02), failed, 0)
        for t in range(100)
        if not (failed := (30 <= t < 50 or 72 <= t < 75)) or t % 2 == 0
    ]
    timeline = [
        ev(0.0, EventKind.ENDPOINT_ADDED, "a"),
        ev(0.0, EventKind.ENDPOINT_ADDED, "b"),
        ev(3.0, EventKind.DELETE_REQUESTED, "a"),
        ev(3.1, EventKind.SIGTERM_SENT, "a"),
        ev(3.5, EventKind.REMOVAL_APPLIED, "a"),
        ev(4.0, EventKind.EXITED, "a"),
        ev(7.0, EventKind.DELETE_REQUESTED, "b"),
        ev(7.1, EventKind.SIGTERM_SENT, "b"),
        ev(7.5, EventKind.REMOVAL_APPLIED, "b"),
        ev(8.0, EventKind.EXITED, "b"),
    ]
    summary = build_order_summary("v", records, timeline, WINDOW, PACED)
    block = summary["outage"]
    assert [d["pod"] for d in block["per_deletion"]] == [d["pod"] for d in summary["per_deletion"]]
    first, second = block["per_deletion"]
    assert (first["pod"], first["ts"]) == ("a", 3.0)
    assert first["no_success_s"] == pytest.approx(5.02 - 2.92)  # last success before, first after
    assert second["no_success_s"] == pytest.approx(7.52 - 7.12)
    assert block["total_s"] == pytest.approx(first["no_success_s"] + second["no_success_s"])
    assert block["stretches"] == 2


def test_no_failure_is_no_outage() -> None:
    block = outage_of(paced_stream((20.0, 20.0)), PACED)
    assert (block["total_s"], block["longest_s"], block["stretches"]) == (0.0, 0.0, 0)
    assert block["failures_per_offered_s"] == 0.0
    assert block["user_wait_s"] == {"users": USERS, "p50": 0.0, "max": 0.0}


def test_records_out_of_end_order_give_the_same_measures() -> None:
    records = paced_stream((2.0, 6.0))
    shuffled = records[1::2] + records[0::2]
    assert outage_of(shuffled, PACED) == outage_of(records, PACED)


def test_a_failure_before_any_success_starts_its_stretch_at_the_window_start() -> None:
    scan = OutageScan()
    scan.add(1.0, 1.001, True, 0)
    scan.add(2.0, 2.5, False, 0)
    block = outage_block(scan, [("a", 1.5, math.inf)], WINDOW, PACED)
    assert block["total_s"] == pytest.approx(2.5)
    assert block["per_deletion"] == [{"pod": "a", "ts": 1.5, "no_success_s": 2.5}]


def test_ranking_breaks_a_tie_on_seconds_of_offered_load_lost() -> None:
    outages = {
        "b": {"total_s": 1.0, "stretches": 1, "longest_s": 1.0, "failures_per_offered_s": 2.0},
        "a": {"total_s": 1.0, "stretches": 1, "longest_s": 1.0, "failures_per_offered_s": 0.5},
        "c": {"total_s": 1.0, "stretches": 1, "longest_s": 1.0, "failures_per_offered_s": 2.0},
        "old": {},
    }
    ranking = rank(outages)
    assert ranking == ["a", "b", "c", "old"]
    reasons = ranking_reasons(outages, ranking)
    assert "the same outage as a, more seconds of offered load lost" in reasons["b"]
    assert "level with b on both measures" in reasons["c"]
    assert "older drainlab" in reasons["old"]


def test_read_samples_reads_the_user_and_lines_without_it(tmp_path: Path) -> None:
    path = tmp_path / "records-v.jsonl"
    line = record_line
    with path.open("w") as out:
        out.write(line(1.0, 5.0, "/", 200, 2, "a", None, None, user=3))
        out.write(line(2.0, 1.0, "/", 0, 0, None, "connection_refused", "refused"))
        out.write("not json\n")
    assert list(read_samples(path)) == [(1.0, 1.005, False, 3), (2.0, 2.001, True, None)]
    with JsonlWriter(tmp_path / "old.jsonl") as old:
        old.write({"end": 5.0, "latency_ms": 1000.0, "pod": None, "error": "timeout"})
    assert list(read_samples(tmp_path / "old.jsonl")) == [(4.0, 5.0, True, None)]
