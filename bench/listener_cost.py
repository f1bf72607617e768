"""CPU time of the record listener per request, measured in a tight loop on real locust objects.

    python -m bench.listener_cost URL   (prints: success_us failure_us)

Run by ``bench.recording`` in a process of its own (it imports locust, which patches the
process for gevent). Whole-run requests/s on a shared machine swing by more than the listener
costs; this number does not, and against locust's own CPU per request it gives the expected
capacity ratio.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.load.config import LoadConfig
from harness.scenario import Traffic

_CALLS = 50_000


class _Capture:
    """Stands in for locust's request event: keeps what a real request reports."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def fire(self, **meta: Any) -> None:
        self.seen.append(meta)


def _cost(listener: Any, meta: dict[str, Any]) -> float:
    start = time.process_time()
    for _ in range(_CALLS):
        listener(**meta)
    return 1e6 * (time.process_time() - start) / _CALLS


def main() -> None:
    url = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="drainlab-listener-") as tmp:
        config = LoadConfig(Path(tmp) / "r.jsonl", Path(tmp) / "s.jsonl", Traffic(), 1, 0.0)
        os.environ.update(config.to_env())
        from locust.contrib.fasthttp import FastHttpSession

        from harness.jsonl import LineFile
        from harness.load import locustfile
        from harness.load.recordsink import RecordSink

        hook = _Capture()
        FastHttpSession(url, hook, None).get("/", context={"path": "/"})
        with socket.socket() as closed:  # bound, never listening: a refused connection
            closed.bind(("127.0.0.1", 0))
            refused = f"http://127.0.0.1:{closed.getsockname()[1]}"
            FastHttpSession(refused, hook, None).get("/", context={"path": "/"})
        ok, failed = hook.seen
        assert ok["exception"] is None and failed["exception"] is not None
        out = LineFile(Path(tmp) / "cost.jsonl")
        # Each record written at once: the sink's worst case, one request per pass of gevent's
        # loop (a lone user). Under load a pass ends several requests and shares the write.
        sink = RecordSink(out, lambda flush: None)
        listener = locustfile._request_listener(sink)

        def per_request(**meta: Any) -> None:
            listener(**meta)
            sink.flush()

        print(f"{_cost(per_request, ok):.2f} {_cost(per_request, failed):.2f}", flush=True)
        out.close()


if __name__ == "__main__":
    main()
