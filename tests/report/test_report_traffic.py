"""The one-pass records scan (fast path and JSON path must agree) and the binning."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from harness.classify import ERROR_CLASSES
from harness.jsonl import iter_jsonl
from harness.records import RequestRecord
from harness.report.traffic import (
    BIN_WIDTHS,
    MAX_BINS,
    TrafficScan,
    bin_traffic,
    bin_width,
    scan_file,
    scan_lines,
)


def rec(
    end: float, error: str | None = None, pod: str | None = "p-0", **kw: object
) -> RequestRecord:
    fields = {
        "start": end - 0.01,
        "end": end,
        "latency_ms": 10.0,
        "name": "/",
        "status": 0 if error else 200,
        "bytes": 2,
        "pod": pod,
        "error": error,
        "message": None,
    }
    fields.update(kw)
    return RequestRecord(**fields)  # type: ignore[arg-type]


def compact(r: RequestRecord) -> bytes:
    return json.dumps(asdict(r), separators=(",", ":")).encode() + b"\n"


def reference(lines: list[bytes]) -> tuple[list[float], list[tuple[float, str | None, str]]]:
    """What a plain JSON reader (harness.records.iter_jsonl's rules) makes of the same lines."""
    ok, failed = [], []
    for line in lines:
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if data.get("error") is None:
            ok.append(float(data["end"]))
        else:
            failed.append((float(data["end"]), data.get("pod"), data["error"]))
    return ok, failed


def as_lists(scan: TrafficScan) -> tuple[list[float], list[tuple[float, str | None, str]]]:
    failed = [
        (end, scan.pods[pod] if pod >= 0 else None, ERROR_CLASSES[cls])
        for end, pod, cls in zip(scan.failed_ends, scan.failed_pod, scan.failed_class, strict=True)
    ]
    return list(scan.ok_ends), failed


def test_fast_path_agrees_with_json_on_a_random_mix() -> None:
    rng = random.Random(7)
    lines = []
    for i in range(3000):
        error = rng.choice([None, None, None, *ERROR_CLASSES])
        pod = rng.choice([None, "a-1", "b-2", 'we"ird\\pod'])
        r = rec(1000.0 + i * 0.013 + rng.random(), error, pod, message=rng.choice([None, "x"]))
        line = compact(r) if rng.random() < 0.8 else json.dumps(asdict(r)).encode() + b"\n"
        lines.append(line)
    assert as_lists(scan_lines(lines)) == reference(lines)


def test_text_inside_strings_cannot_fool_the_fast_path() -> None:
    # A failed request whose name and message contain what the fast path looks for.
    tricky = rec(5.0, "timeout", None, name='/"error":null,"end":1', message='"error":null')
    line = compact(tricky)
    assert b'"error":null' not in line  # escaping makes the quotes \" ...
    scan = scan_lines([line])
    assert list(scan.failed_ends) == [5.0] and not scan.ok_ends


def test_torn_and_garbled_lines_are_skipped_as_iter_jsonl_does(tmp_path: Path) -> None:
    good = [compact(rec(1.0)), compact(rec(2.0, "connection_refused", None))]
    torn = compact(rec(3.0))[:-20]  # a crash mid-line: ok marker and "end" are already there
    torn_ok = (  # cut just before its closing brace
        b'{"start":1,"end":4.0,"latency_ms":1,"name":"/","status":200,"bytes":0,'
        b'"pod":null,"error":null'
    )
    garbled = b"\x00\x00garbage\n"
    path = tmp_path / "records.jsonl"
    path.write_bytes(good[0] + garbled + good[1] + b"\n\n" + torn_ok + b"\n" + torn)
    scan = scan_file(path)
    assert list(scan.ok_ends) == [1.0]
    assert list(scan.failed_ends) == [2.0]
    assert scan.skipped_lines == 3
    assert scan.requests == sum(1 for _ in iter_jsonl(path))


def test_unknown_error_class_is_counted_as_other() -> None:
    scan = scan_lines([compact(rec(1.0, "brand_new_class"))])
    assert ERROR_CLASSES[scan.failed_class[0]] == "other"


def test_bins_are_per_second_rates_and_keep_every_request() -> None:
    lines = [compact(rec(100.0 + i * 0.005)) for i in range(2000)]  # 200 req/s for 10 s
    lines += [compact(rec(103.5 + i * 0.1, "connection_refused", None)) for i in range(5)]
    bins = bin_traffic(scan_lines(lines), t0=100.0, span=(-1.0, 12.0))
    assert bins.requests == 2005 and bins.failed == 5
    assert bins.width == 0.5  # ~154 req/s over the axis: the narrowest with >= 40 per bin
    assert np.isclose((bins.ok_rate * bins.width).sum(), 2000)
    assert np.isclose((bins.failed_rate * bins.width).sum(), 5)
    assert bins.starts[0] <= -1.0 and bins.starts[-1] + bins.width >= 12.0
    steady = bins.ok_rate[(bins.starts >= 1) & (bins.starts < 9)]
    assert np.allclose(steady, 200.0)
    failing = bins.starts[bins.failed_rate > 0]
    assert failing.min() >= 3.5 and failing.max() < 4.0


def test_empty_scan_still_gives_an_axis() -> None:
    bins = bin_traffic(TrafficScan(), t0=0.0)
    assert bins.requests == 0 and bins.starts.size >= 1 and not bins.ok_rate.any()


@pytest.mark.parametrize(
    ("span", "requests", "width"),
    [
        (20.0, 3000, 0.5),  # 150 req/s: a 1 s outage still spans two bars
        (20.0, 6000, 0.25),
        (20.0, 60_000, 0.1),
        (20.0, 200, 5.0),  # 10 req/s: wider bins, or the line is noise
        (7200.0, 10_000_000, 30.0),  # two hours: never more than MAX_BINS bars
        (1e6, 10, 3600.0),
    ],
)
def test_bin_width(span: float, requests: int, width: float) -> None:
    assert bin_width(span, requests) == width
    assert span / width <= MAX_BINS or width == BIN_WIDTHS[-1]
