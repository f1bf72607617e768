"""The outage measures' view of a records file (harness.analysis.outage): per request its start,
end, whether it failed and its locust user, streamed from records-<order>.jsonl.

The rows file beside the JSONL (harness.records) has no start or user, so this reads the JSONL
itself: about 1 µs a line (orjson), a second pass next to the analysis's own. A line is read when
harness.records would read it as a record; the user is None on lines written before it existed.
"""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path

import orjson

from harness.records import user_of

Sample = tuple[float, float, bool, int | None]  # start, end, failed, user

_NOT_A_ROW = (ValueError, KeyError, TypeError)  # orjson.JSONDecodeError is a ValueError


def _is_label(value: object) -> bool:
    return value is None or value.__class__ is str


def read_samples(path: Path) -> Iterator[Sample]:
    """Streams the outage measures' view of a records file (harness.analysis.outage), from the
    JSONL: the rows file has no start or user. A line that is not a record is skipped, as
    ``RecordRows`` skips it; a start that is not a number is taken from end - latency."""
    loads, fields = orjson.loads, _SAMPLE_FIELDS  # local names: this runs once per record
    with path.open("rb") as handle:
        for line in handle:
            try:
                # Every field present, as locust writes them (user only since it has one).
                data = loads(line)
                start, end, latency_ms, pod, error = fields(data)
                user = data.get("user")
                if (
                    start.__class__ is float
                    and end.__class__ is float
                    and latency_ms.__class__ is float
                    and (pod is None or pod.__class__ is str)
                    and (error is None or error.__class__ is str)
                    and (user is None or user.__class__ is int)
                ):
                    yield start, end, error is not None, user
                    continue
            except (*_NOT_A_ROW, AttributeError):  # AttributeError: JSON but not an object
                pass
            sample = _parse(line)  # an older line (no user), or one not written by us
            if sample is not None:
                yield sample


_SAMPLE_FIELDS = itemgetter("start", "end", "latency_ms", "pod", "error")


def _parse(line: bytes) -> Sample | None:
    try:
        data = orjson.loads(line)
        pod, error = data.get("pod"), data.get("error")
        if not (_is_label(pod) and _is_label(error)):
            return None
        end = float(data["end"])
        latency_s = float(data["latency_ms"]) / 1000.0
        start = data.get("start")
        start = float(start) if start.__class__ in (int, float) else end - latency_s
        return start, end, error is not None, user_of(data.get("user"))
    except (*_NOT_A_ROW, AttributeError):
        return None
