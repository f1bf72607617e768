"""The request records (records-<order>.jsonl): the one owner of their line format.

One line per request the load generator completed: a JSON object with ``RequestRecord``'s fields
in order, compact separators; ``method`` only when it is not GET (so a GET's line is the same as
before requests could be anything else, and an older line reads as a GET); ``user`` (the locust
user's number) when known: an older line without it reads as user None; ``worker`` when several
load workers sent the requests (traffic.workers); ``client_pod`` and ``client_node`` last, when the
load ran inside the cluster (traffic.from: cluster; the harness appends them to the lines it reads
from each load pod's log: ``client_suffix``). Everything that writes or reads such a line goes
through here:

- writing: ``record_line`` (inside locust, on every request) and ``JsonlWriter`` with a
  ``RequestRecord`` (tests, benchmarks);
- reading: ``parse_row`` (one line), ``RecordRows`` (a stream of lines: the traffic chart),
  ``read_rows`` (a file: the analysis), ``RecordTail`` (what a growing file gained since the last
  look: the progress line), ``read_last_end`` (the last record of a file, from its tail) and
  ``read_records`` (whole ``RequestRecord`` objects); ``harness.samples.read_samples``: what the
  outage measures need (start, end, failed, user);
- several workers: each appends to its own file (``runfolder.worker_file``: records-<order>.w<k>
  .jsonl) and ``merge_worker_files`` joins them into records-<order>.jsonl, one stream in order
  of ``end``, when the order ends (or when a killed run is summarised later);
- the rows file (records-<order>.rows): the rows the progress tail parsed during the run, kept in
  binary so that ``read_rows`` need not parse those lines again.

A reader takes what it needs as a ``Row`` (end, latency_ms, pod, error). A line is a record when
it is a JSON object with numeric ``end`` and ``latency_ms`` and a string or null ``pod`` and
``error``; anything else (a line torn by a crash mid-write, garbage) is skipped, never fatal.
Parsing is orjson's, about 0.9 µs a line with the row taken out: more than the analysis of the
row itself (bench/RESULTS.md).
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import re
import struct
import sys
from array import array
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

import orjson

from harness.durable import sync_dir, sync_file, write_all
from harness.errors import WriteError
from harness.jsonl import iter_jsonl


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One completed request, as the client saw it."""

    start: float  # unix seconds when the request was sent
    end: float  # unix seconds when it completed or failed
    latency_ms: float
    name: str  # the request path, e.g. "/" or "/work?ms=200"
    status: int  # HTTP status, 0 when no response arrived
    bytes: int
    pod: str | None  # X-Served-By, when a response carried it
    error: str | None  # one of classify.ERROR_CLASSES, None when the request succeeded
    message: str | None = None  # the client's own error text, for humans
    method: str = "GET"
    user: int | None = None  # the locust user's number (records before it had none)
    worker: int | None = None  # the load worker that sent it (traffic.workers > 1), else None
    client_pod: str | None = None  # the load pod that sent it (traffic.from: cluster)
    client_node: str | None = None  # and the node that pod ran on

    @property
    def failed(self) -> bool:
        return self.error is not None


Row = tuple[float, float, str | None, str | None]  # end, latency_ms, pod, error


def record_from_dict(data: dict[str, Any]) -> RequestRecord:
    return RequestRecord(
        start=float(data["start"]),
        end=float(data["end"]),
        latency_ms=float(data["latency_ms"]),
        name=str(data["name"]),
        status=int(data["status"]),
        bytes=int(data.get("bytes", 0)),
        pod=data.get("pod"),
        error=data.get("error"),
        message=data.get("message"),
        method=str(data.get("method", "GET")),
        user=user_of(data.get("user")),
        worker=user_of(data.get("worker")),
        client_pod=_text(data.get("client_pod")),
        client_node=_text(data.get("client_node")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def client_suffix(pod: str, node: str | None) -> bytes:
    """What the harness appends inside a record line read from a load pod's log (before its
    closing brace): the pod and the node that sent it."""
    return f',"client_pod":{json.dumps(pod)},"client_node":{json.dumps(node)}'.encode()


def with_client(line: bytes, suffix: bytes) -> bytes:
    """A record line (ending in ``}`` or ``}\n``) with ``suffix`` (client_suffix) added."""
    body = line.rstrip(b"\r\n")
    return body[:-1] + suffix + b"}\n" if body.endswith(b"}") else line


def user_of(value: object) -> int | None:
    """A record's user number; anything but an int (absent, garbled) is None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_records(path: Path) -> list[RequestRecord]:
    """The file's records; a line that is not one (see below) is skipped."""
    records = []
    for data in iter_jsonl(path):
        try:
            record = record_from_dict(data)
        except (*_NOT_A_ROW, OverflowError):  # OverflowError: int() of an infinite status
            continue
        if _is_label(record.pod) and _is_label(record.error):
            records.append(record)
    return records


# -- Writing ------------------------------------------------------------------------------------

_MESSAGE_LIMIT = 300
_LINE = orjson.OPT_APPEND_NEWLINE


def record_line(
    start: float,
    latency_ms: float,
    name: str,
    status: int,
    size: int,
    pod: str | None,
    error: str | None,
    message: str | None,
    method: str = "GET",
    user: int | None = None,
    worker: int | None = None,
) -> str:
    """One record line from the values locust reports, with its newline.

    Cheap on purpose: it runs inside locust on every request, where each microsecond is about 1 %
    of a worker's rate (bench/RESULTS.md). One dict in ``RequestRecord`` order and orjson's
    serialiser: 0.5 µs on this machine (timeit), where an f-string with six-decimal floats and
    cached quoted strings took 1.6 µs. Floats keep their shortest exact form. The caller
    (``harness.load.recordsink``) writes the lines of one pass of gevent's loop with one write(2),
    each before its user sends again, so a SIGKILL loses no more than the requests in flight.
    """
    record: dict[str, Any] = {
        "start": start,
        "end": start + latency_ms / 1000.0,
        "latency_ms": latency_ms,
        "name": name,
        "status": status,
        "bytes": size,
        "pod": pod,
        "error": error,
        "message": None if message is None else message[:_MESSAGE_LIMIT],
    }
    if method != "GET":
        record["method"] = method
    if user is not None:
        record["user"] = user
    if worker is not None:
        record["worker"] = worker
    return orjson.dumps(record, option=_LINE).decode()


# -- Reading ------------------------------------------------------------------------------------

_ROW_FIELDS = itemgetter("end", "latency_ms", "pod", "error")
_NOT_A_ROW = (ValueError, KeyError, TypeError)  # orjson.JSONDecodeError is a ValueError


def parse_row(line: bytes) -> Row | None:
    """The row of one record line, or None when the line is not a record (torn, garbled)."""
    try:
        data = orjson.loads(line)
        pod, error = data.get("pod"), data.get("error")
        if _is_label(pod) and _is_label(error):
            return float(data["end"]), float(data["latency_ms"]), pod, error
    except (*_NOT_A_ROW, AttributeError):
        pass
    return None


def _is_label(value: object) -> bool:
    """A pod or error as a row holds it: a string or None (the analysis groups by them)."""
    return value is None or value.__class__ is str


class RecordRows:
    """The rows of record lines, in order; ``skipped`` counts the non-blank lines that were not
    records, once the iteration is done."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._lines = lines
        self.skipped = 0

    def __iter__(self) -> Iterator[Row]:
        loads, fields = orjson.loads, _ROW_FIELDS  # local names: this runs once per record
        for line in self._lines:
            try:
                # Every field present: the case of every line our writers write.
                end, latency_ms, pod, error = fields(loads(line))
                if (pod is None or pod.__class__ is str) and (
                    error is None or error.__class__ is str
                ):
                    yield float(end), float(latency_ms), pod, error
                    continue
                self.skipped += 1
            except _NOT_A_ROW:
                row = parse_row(line)  # a missing pod or error is None; anything else: skipped
                if row is not None:
                    yield row
                elif line.strip():
                    self.skipped += 1


def read_rows(path: Path) -> Iterator[Row]:
    """Streams the rows of a records file without keeping them: from its rows file as far as
    that goes (see below), the rest parsed from the JSONL."""
    with path.open("rb") as handle:
        covered = yield from _side_rows(path, handle)
        handle.seek(covered)
        yield from RecordRows(handle)


class RecordTail:
    """The rows appended to a records file since the last call; cheap to call every second.

    Reads only the new bytes; a line without its newline yet (being written) waits for the next
    call. A missing file has no rows yet. With ``keep_rows``, the rows also go to the file's
    rows file (which starts anew here: a run owns its files)."""

    def __init__(self, path: Path, keep_rows: bool = False) -> None:
        self.path = path
        self._offset = 0
        self._side = _RowsWriter(rows_path(path)) if keep_rows else None

    def new_rows(self) -> list[Row]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
                stat = os.fstat(handle.fileno())
        except FileNotFoundError:
            return []
        complete = chunk.rfind(b"\n") + 1
        self._offset += complete
        rows = list(RecordRows(chunk[:complete].splitlines()))
        if self._side is not None and complete:
            self._side.append(stat, self._offset, rows)
        return rows


# -- The rows file --------------------------------------------------------------------------------
# During a run the progress tail parses every line anyway; it appends the rows it parsed to
# records-<order>.rows, in binary, so that the analysis need not parse the JSONL a second time
# (most of its cost). The JSONL stays the truth. The rows file is a header (the JSONL's device
# and inode) and chunks, each: how many JSONL bytes it covers so far, the pod and error strings
# first seen in it, then its rows as columns (end, latency_ms: float64; pod, error: int32 codes,
# 0 for None, else 1 + the string's position in the file). A reader uses chunks up to the first
# one that is torn or does not end on a line end of the JSONL, and parses the rest of the JSONL.

_MAGIC = f"drainlab rows 1 {sys.byteorder}\n".encode()  # columns are in native byte order
_HEAD = struct.Struct("<QQ")  # st_dev, st_ino of the JSONL
_CHUNK = struct.Struct("<4sQII")  # tag, JSONL bytes covered, new strings, rows
_TAG = b"rows"
_LENGTH = struct.Struct("<I")


def rows_path(records_path: Path) -> Path:
    return records_path.with_suffix(".rows")


class _RowsWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        self._codes: dict[str | None, int] = {None: 0}
        self._started = False
        self._stopped = False

    def append(self, stat: os.stat_result, covered: int, rows: list[Row]) -> None:
        if self._stopped:
            return
        try:
            chunk = self._chunk(covered, rows)
            if not self._started:
                chunk = _MAGIC + _HEAD.pack(stat.st_dev, stat.st_ino) + chunk
            with self.path.open("ab") as out:
                out.write(chunk)
            self._started = True
        except (OSError, TypeError, ValueError):
            # A pod or error that is not a string (no code for it), or a full disk: what was
            # written stays valid for the JSONL bytes it covers, the rest is read from the JSONL.
            self._stopped = True

    def _chunk(self, covered: int, rows: list[Row]) -> bytes:
        ends, latencies, pods, errors = zip(*rows, strict=True) if rows else ((), (), (), ())
        codes = self._codes
        new = [value for value in set(pods).union(errors) if value not in codes]
        if not all(isinstance(value, str) for value in new):
            raise TypeError("a pod or error that is not a string")
        texts = [str(value).encode() for value in new]  # may raise (a lone surrogate)
        for value in new:
            codes[value] = len(codes)  # None is 0
        head = [_CHUNK.pack(_TAG, covered, len(new), len(rows))]
        for text in texts:
            head += [_LENGTH.pack(len(text)), text]
        code = codes.__getitem__
        columns = [
            array("d", ends),
            array("d", latencies),
            array("i", map(code, pods)),
            array("i", map(code, errors)),
        ]
        return b"".join(head + [column.tobytes() for column in columns])


def _side_rows(path: Path, records: IO[bytes]) -> Generator[Row, None, int]:
    """Yields the rows of ``path``'s rows file that match ``records`` (the open JSONL); returns
    how many bytes of the JSONL they cover."""
    try:
        side = rows_path(path).open("rb")
    except FileNotFoundError:
        return 0
    with side:
        stat = os.fstat(records.fileno())
        if side.read(len(_MAGIC) + _HEAD.size) != _MAGIC + _HEAD.pack(stat.st_dev, stat.st_ino):
            return 0
        strings: list[str | None] = [None]
        covered = 0
        size = os.fstat(side.fileno()).st_size
        while (chunk := _read_chunk(side, strings, size)) is not None:
            upto, rows = chunk
            records.seek(upto - 1)
            if upto < covered or upto > stat.st_size or records.read(1) != b"\n":
                break
            covered = upto
            yield from rows
        return covered


def _read_chunk(
    side: IO[bytes], strings: list[str | None], size: int
) -> tuple[int, Iterator[Row]] | None:
    """The next chunk, None at the end or at anything this module did not write. ``size``: the
    file's; a length past it is garbage, and reading it would first allocate that much."""
    head = side.read(_CHUNK.size)
    if len(head) < _CHUNK.size:
        return None
    tag, upto, new, count = _CHUNK.unpack(head)
    if tag != _TAG or upto == 0:
        return None
    added: list[str | None] = []
    for _ in range(new):
        prefix = side.read(_LENGTH.size)
        if len(prefix) < _LENGTH.size:
            return None
        length = _LENGTH.unpack(prefix)[0]
        if side.tell() + length > size:
            return None
        text = side.read(length)
        if len(text) < length:
            return None
        try:
            added.append(text.decode())
        except UnicodeDecodeError:
            return None  # not a file this module wrote
    columns = (array("d"), array("d"), array("i"), array("i"))
    if side.tell() + count * sum(column.itemsize for column in columns) > size:
        return None
    for column in columns:
        data = side.read(count * column.itemsize)
        if len(data) < count * column.itemsize:
            return None
        column.frombytes(data)
    strings += added
    ends, latencies, pods, errors = columns
    if count and not (
        0 <= min(min(pods), min(errors)) <= max(max(pods), max(errors)) < len(strings)
    ):
        return None  # a code without its string: not a file this module wrote
    string = strings.__getitem__
    return upto, zip(ends, latencies, map(string, pods), map(string, errors), strict=True)


def read_last_end(path: Path, tail_bytes: int = 65536) -> float | None:
    """The ``end`` of the file's last whole record, reading only its tail."""
    with path.open("rb") as handle:
        handle.seek(max(0, handle.seek(0, os.SEEK_END) - tail_bytes))
        lines = handle.read().splitlines()
    for line in reversed(lines):
        row = parse_row(line)  # None for a torn line, or the cut-off start of the tail
        if row is not None:
            return row[0]
    return None


# -- Several workers' files -----------------------------------------------------------------------


def worker_files(path: Path) -> list[Path]:
    """The per-worker files of a records file that exist, by worker number."""
    pattern = re.compile(re.escape(path.stem) + r"\.w(\d+)" + re.escape(path.suffix))
    found = []
    for candidate in path.parent.iterdir() if path.parent.is_dir() else ():
        match = pattern.fullmatch(candidate.name)
        if match:
            found.append((int(match.group(1)), candidate))
    return [part for _, part in sorted(found)]


def merge_worker_files(path: Path, shifts: dict[int, float] | None = None) -> int:
    """Joins the per-worker files of ``path`` into ``path``: one stream in order of ``end`` (each
    worker's file is in the order its requests completed), lines kept byte for byte, a line that
    is not a record (torn by a kill) after the rest. The joined file replaces ``path`` atomically
    and is synced before the parts go, so a crash at any point leaves the records whole; joining
    again is harmless. ``shifts``: seconds to move worker k's ``start`` and ``end`` by (its node's
    clock against the harness's, harness.load.clocks); those lines are written anew. Returns how
    many parts were joined (0: nothing to do); ``WriteError`` when the disk refuses."""
    parts = worker_files(path)
    if not parts:
        return 0
    joined = path.with_name(f".{path.name}.joining")
    try:
        with contextlib.ExitStack() as stack:
            handles = [stack.enter_context(part.open("rb")) for part in parts]
            fd = os.open(joined, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            stack.callback(os.close, fd)
            batch: list[bytes] = []
            streams = [
                _shifted(handle, (shifts or {}).get(number, 0.0))
                for number, handle in zip(_numbers(parts), handles, strict=True)
            ]
            for _, line in heapq.merge(*streams):
                batch.append(line if line.endswith(b"\n") else line + b"\n")
                if len(batch) >= 4096:
                    write_all(fd, b"".join(batch), path)
                    batch.clear()
            write_all(fd, b"".join(batch), path)
            sync_file(fd, path)
        os.replace(joined, path)
        sync_dir(path.parent)
        rows_path(path).unlink(missing_ok=True)  # it described another file
        for part in parts:
            part.unlink()
    except OSError as exc:
        raise WriteError(path, exc) from None
    finally:
        with contextlib.suppress(OSError):
            joined.unlink(missing_ok=True)
    return len(parts)


def _numbers(parts: list[Path]) -> list[int]:
    return [int(part.stem.rsplit(".w", 1)[1]) for part in parts]


def _shifted(lines: Iterable[bytes], shift_s: float) -> Iterator[tuple[float, bytes]]:
    if not shift_s:
        yield from map(_keyed, lines)
        return
    for line in lines:
        try:
            data = orjson.loads(line)
            data["start"] = round(float(data["start"]) + shift_s, 6)
            data["end"] = round(float(data["end"]) + shift_s, 6)
            line = orjson.dumps(data) + b"\n"
        except (*_NOT_A_ROW, AttributeError):
            pass  # not a record: kept as it is, after the rest
        yield _keyed(line)


def _keyed(line: bytes) -> tuple[float, bytes]:
    row = parse_row(line)
    return (row[0] if row is not None else float("inf")), line
