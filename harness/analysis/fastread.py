"""Streams the four fields the analysis needs out of a records JSONL file, without building a
RequestRecord (or even a dict) per line.

``json.loads`` costs more per line than the whole rest of the analysis (about 6 µs a line on a
slow machine, against about 1.5 µs for everything below). Lines written by ``JsonlWriter`` have a
fixed shape (RequestRecord's fields in order, compact separators), so a block of lines is matched
by one regular expression instead. A block is only trusted when every one of its lines matched
in full; otherwise (another key order, spaces after separators, an added field, an escaped
string, a torn or garbled line) that block is read line by line with ``json.loads`` and the
skipping rule of ``records.iter_jsonl``, so both paths give the same rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from harness.analysis.scan import Row

# Deliberately simple, because its speed is the point. The message is not used, so any text up
# to the line's closing '"}' is accepted for it.
_NUM = rb"[-+0-9.eE]+"
_PLAIN_STR = rb'"[^"\\\n]*"'  # a JSON string without escapes
_LINE = re.compile(
    rb'^\{"start":' + _NUM
    + rb',"end":(' + _NUM + rb")"
    + rb',"latency_ms":(' + _NUM + rb")"
    + rb',"name":' + _PLAIN_STR
    + rb',"status":-?[0-9]+'
    + rb',"bytes":-?[0-9]+'
    + rb',"pod":(null|' + _PLAIN_STR + rb")"
    + rb',"error":(null|' + _PLAIN_STR + rb")"
    + rb'(?:,"message":(?:null|".*"))?'
    + rb"\}\r?$",
    re.MULTILINE,
)  # fmt: skip
BLOCK_BYTES = 1 << 22  # ~25 k records: big enough to amortise, small enough to stay cheap


def iter_record_rows(path: Path) -> Iterator[Row]:
    """(end, latency_ms, pod, error) for each record line of ``path``, in file order."""
    strings: dict[bytes, str | None] = {b"null": None}  # pod and error names repeat: decode once
    with path.open("rb") as handle:
        while True:
            block = handle.read(BLOCK_BYTES)
            if not block:
                return
            block += handle.readline()  # finish the line the block cut through
            matches = _LINE.findall(block)
            lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
            if not matches or len(matches) != lines:
                yield from _rows_by_json(block)
                continue
            ends, latencies, pods, errors = zip(*matches, strict=True)
            for token in set(pods).union(errors).difference(strings):
                strings[token] = _decode(token)
            # Conversions run in C (map, zip), not in a Python loop per record.
            yield from zip(
                map(float, ends),
                map(float, latencies),
                map(strings.__getitem__, pods),
                map(strings.__getitem__, errors),
                strict=True,
            )


def _decode(token: bytes) -> str | None:
    value = json.loads(token)  # a JSON string literal or null
    return value if isinstance(value, str) else None


def _rows_by_json(block: bytes) -> Iterator[Row]:
    for line in block.split(b"\n"):
        line = line.strip()
        if not line:
            continue
        try:
            data = json.loads(line)
            row = (
                float(data["end"]),
                float(data["latency_ms"]),
                data.get("pod"),
                data.get("error"),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            continue  # a torn or garbled line, skipped as iter_jsonl skips it
        yield row
