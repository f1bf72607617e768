"""read_samples (the outage measures' view of a records file) on anything a crash or a stranger
may leave in it: no exception escapes, every sample has the types the analysis relies on, and
every line the formatter wrote is read, with its user when it has one."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from helpers.fuzz import SCALARS, fuzz, json_trees
from hypothesis import given
from hypothesis import strategies as st

from harness.records import record_line
from harness.samples import read_samples

TMP = Path(tempfile.mkdtemp(prefix="drainlab-fuzz-samples-"))
LABELS = st.one_of(st.none(), st.text(max_size=8))
GOOD = st.builds(
    lambda start, latency, pod, error, user: record_line(
        start, latency, "/", 200, 1, pod, error, None, user=user
    ),
    st.floats(0, 2e9),
    st.floats(0, 1e6),
    LABELS,
    LABELS,
    st.one_of(st.none(), st.integers(0, 10_000)),
).map(str.encode)
FIELDS = ["start", "end", "latency_ms", "pod", "error", "user"]
JUNK = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), SCALARS, max_size=6).map(
        lambda d: json.dumps(d).encode() + b"\n"
    ),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ") + b"\n"),
    json_trees(max_leaves=6).map(lambda tree: json.dumps(tree).encode() + b"\n"),
)


@fuzz(150)
@given(st.lists(st.one_of(GOOD, JUNK), max_size=10), st.lists(GOOD, max_size=6))
def test_samples_of_any_lines(lines: list[bytes], good: list[bytes]) -> None:
    path = TMP / "records.jsonl"
    path.write_bytes(b"".join([*lines, *good]))
    samples = list(read_samples(path))
    for start, end, failed, user in samples:
        assert type(start) is float and type(end) is float and type(failed) is bool
        assert user is None or type(user) is int
    expected = [json.loads(line) for line in good]
    tail = samples[len(samples) - len(good) :] if good else []
    assert [(s[1], s[2], s[3]) for s in tail] == [
        (d["end"], d["error"] is not None, d.get("user")) for d in expected
    ]
