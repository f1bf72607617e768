"""bench.write_cost: CPU per round trip to nginx, plain, with a write(2), with an mmap copy."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.write_cost import LINE, MODES, _run, summary


def test_summary_gives_each_mode_its_median_and_its_median_extra() -> None:
    lines = summary({"none": [10.0, 12.0, 11.0], "write": [13.0, 16.0, 15.0], "mmap": [9, 12, 12]})
    assert lines == [
        " none:   11.00 us CPU per round trip, +0.00 us against none",
        "write:   15.00 us CPU per round trip, +4.00 us against none",
        " mmap:   12.00 us CPU per round trip, +0.00 us against none",
    ]


@pytest.mark.slow
def test_a_tiny_run_measures_every_mode_and_writes_every_line(nginx: str, tmp_path: Path) -> None:
    by_mode = asyncio.run(_run(nginx, 2, 200, tmp_path))
    assert list(by_mode) == list(MODES)
    assert all(len(values) == 2 and all(v > 0 for v in values) for values in by_mode.values())
    # The files of the last round: each holds one line per round trip (the mmap'd one exactly).
    assert (tmp_path / "write.jsonl").read_bytes() == LINE * 200
    assert (tmp_path / "mmap.jsonl").read_bytes() == LINE * 200
    assert (tmp_path / "none.jsonl").read_bytes() == b""
