"""A short embedded run: the load is paced by default, every record names its locust user, and
summary.json and the report carry the outage measures (issue 18 item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.e2e import run_harness

from harness.load.pacing import DEFAULT_USER_RATE_PER_S
from harness.records import read_records

pytestmark = pytest.mark.slow


def test_a_default_run_is_paced_and_its_records_name_their_users(tmp_path: Path) -> None:
    users = 4
    run_dir, summary = run_harness(
        [
            "--backend", "embedded", "--orders", "naive", "--duration", "6", "--deletions", "2",
            "--users", str(users),
        ],
        tmp_path,
        timeout_s=240,
    )  # fmt: skip
    outage = summary["orders"]["naive"]["outage"]
    assert outage["load_model"] == "paced"
    assert outage["offered_rate_per_s"] == users * DEFAULT_USER_RATE_PER_S
    assert [d["pod"] for d in outage["per_deletion"]] == [
        d["pod"] for d in summary["orders"]["naive"]["per_deletion"]
    ]
    assert outage["user_wait_s"]["users"] == users
    assert summary["ranking"] == ["naive"]
    assert summary["ranking_reason"]["naive"].startswith("naive ranks 1st of 1")
    records = read_records(run_dir / "records-naive.jsonl")
    assert records and {r.user for r in records} == set(range(users))
    page = (run_dir / "report.html").read_text()
    assert '<section id="outage">' in page
    assert 'id="load-model" data-value="paced"' in page
