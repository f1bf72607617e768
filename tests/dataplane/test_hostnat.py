"""NatPoller with a scripted read function: no cluster, no sleeps.

The script hands the poller one item per read (a NAT text, or an exception to raise) and, once
it is used up, holds the next read until the test releases it; the poller's interval is 0, so
what the test sees depends only on the script.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator

import pytest

from harness.dataplane.hostnat import NatPoller

WAIT_S = 10.0  # only a broken poller makes a test wait this long


def nat(*addresses: str) -> str:
    """kube-proxy's nat table with Service ns1/web's endpoints at ``addresses``."""
    lines = [
        "*nat",
        "-A OUTPUT -j KUBE-SERVICES",
        '-A KUBE-SERVICES -m comment --comment "ns1/web:http cluster IP" -j KUBE-SVC-WEB',
        '-A KUBE-SERVICES -m comment --comment "ns1/other cluster IP" -j KUBE-SVC-OTHER',
        '-A KUBE-SVC-OTHER -m comment --comment "ns1/other" -j KUBE-SEP-OTHER',
        '-A KUBE-SEP-OTHER -m comment --comment "ns1/other" -j DNAT --to-destination 10.0.0.99:80',
    ]
    for i, address in enumerate(addresses):
        lines += [
            f'-A KUBE-SVC-WEB -m comment --comment "ns1/web:http" -j KUBE-SEP-{i}',
            f'-A KUBE-SEP-{i} -m comment --comment "ns1/web:http" -j DNAT '
            f"--to-destination {address}",
        ]
    return "\n".join([*lines, "COMMIT"])


class Script:
    """The read function: one scripted item per call, then the last text again, once released."""

    def __init__(self, *items: str | Exception) -> None:
        self._items = list(items)
        self.reads = 0  # reads that returned or raised
        self.used_up = threading.Event()
        self.release = threading.Event()
        self._last_text: str | None = None

    def read(self) -> str:
        if not self._items:
            self.used_up.set()
            assert self.release.wait(WAIT_S), "the test never released the script"
            assert self._last_text is not None
            return self._last_text
        item = self._items.pop(0)
        self.reads += 1
        if isinstance(item, Exception):
            raise item
        self._last_text = item
        return item


class Recorder:
    def __init__(self, script: Script) -> None:
        self._script = script
        self.snapshots: list[tuple[str, str, float, frozenset[str]]] = []
        self.errors: list[str] = []
        self.ended = threading.Event()

    def clock(self) -> float:
        # The reads done so far: a snapshot's ts says after which read the clock was read.
        return float(self._script.reads)

    def on_snapshot(self, node: str, method: str, ts: float, addresses: frozenset[str]) -> None:
        self.snapshots.append((node, method, ts, addresses))

    def on_error(self, line: str) -> None:
        self.errors.append(line)
        if "no longer polled" in line:
            self.ended.set()


@pytest.fixture
def pollers() -> Iterator[list[tuple[NatPoller, Script]]]:
    made: list[tuple[NatPoller, Script]] = []
    yield made
    for poller, script in made:
        script.release.set()
        poller.stop()


def poll(
    made: list[tuple[NatPoller, Script]], *items: str | Exception, max_failures: int = 3
) -> tuple[NatPoller, Script, Recorder]:
    script = Script(*items)
    recorder = Recorder(script)
    poller = NatPoller(
        script.read,
        "ns1",
        "web",
        "node-a",
        recorder.on_snapshot,
        interval_s=0,
        on_error=recorder.on_error,
        max_failures=max_failures,
        clock=recorder.clock,
    )
    made.append((poller, script))
    poller.start()
    return poller, script, recorder


def run_out(poller: NatPoller, script: Script) -> None:
    """Wait until every scripted item was read, then stop the poller."""
    assert script.used_up.wait(WAIT_S)
    script.release.set()
    poller.stop()


def test_a_snapshot_at_start_then_one_per_change(pollers: list[tuple[NatPoller, Script]]) -> None:
    a, b = "10.0.0.1:8080", "10.0.0.2:8080"
    poller, script, seen = poll(pollers, nat(a, b), nat(a, b), nat(b, a), nat(a), nat(a), nat(a, b))
    run_out(poller, script)
    assert seen.snapshots == [
        ("node-a", "nat_rules_host", 1.0, frozenset({a, b})),
        ("node-a", "nat_rules_host", 4.0, frozenset({a})),  # ts read after the 4th read
        ("node-a", "nat_rules_host", 6.0, frozenset({a, b})),
    ]
    assert seen.errors == []
    assert poller.failed is None


def test_an_empty_set_is_a_change_too(pollers: list[tuple[NatPoller, Script]]) -> None:
    poller, script, seen = poll(pollers, nat(), nat("10.0.0.1:80"), nat())
    run_out(poller, script)
    assert [s[3] for s in seen.snapshots] == [frozenset(), {"10.0.0.1:80"}, frozenset()]


def test_a_failed_read_is_reported_once_and_polling_goes_on(
    pollers: list[tuple[NatPoller, Script]],
) -> None:
    boom = OSError("iptables-save: Permission denied\n(you must be root)")
    poller, script, seen = poll(
        pollers, boom, nat("10.0.0.1:80"), boom, boom, nat("10.0.0.2:80"), boom, max_failures=3
    )
    run_out(poller, script)
    assert seen.errors == [
        "the NAT rules of node node-a could not be read (iptables-save: Permission denied (you "
        "must be root)); retrying"
    ]
    assert [s[3] for s in seen.snapshots] == [{"10.0.0.1:80"}, {"10.0.0.2:80"}]
    assert poller.failed is None


def test_failures_in_a_row_stop_polling(pollers: list[tuple[NatPoller, Script]]) -> None:
    poller, script, seen = poll(
        pollers, nat("10.0.0.1:80"), RuntimeError("x"), RuntimeError(""), RuntimeError("z")
    )
    assert seen.ended.wait(WAIT_S)
    poller.stop()
    assert not script.used_up.is_set()  # it stopped reading by itself
    assert seen.errors == [
        "the NAT rules of node node-a could not be read (x); retrying",
        "the NAT rules of node node-a could not be read 3 times in a row (z); no longer polled",
    ]
    assert poller.failed == "the NAT rules of node node-a could not be read 3 times in a row (z)"
    assert [s[3] for s in seen.snapshots] == [{"10.0.0.1:80"}]


def test_a_table_without_kube_proxy_rules_is_no_news(
    pollers: list[tuple[NatPoller, Script]],
) -> None:
    """IPVS or nftables mode: an empty set there would read as every endpoint gone."""
    empty = "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n"
    poller, _, seen = poll(pollers, empty, empty, max_failures=2)
    assert seen.ended.wait(WAIT_S)
    assert seen.snapshots == []
    assert "no kube-proxy rules in its nat table" in seen.errors[0]
    assert poller.failed is not None


def test_without_on_error_failures_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(OSError("gone"))
    poller = NatPoller(
        script.read, "ns1", "web", "node-a", lambda *_: None, interval_s=0, max_failures=1
    )
    with caplog.at_level(logging.WARNING, logger="harness.dataplane.hostnat"):
        poller.start()
        poller._thread.join(WAIT_S)
    assert [r.getMessage() for r in caplog.records] == [
        "the NAT rules of node node-a could not be read (gone); no longer polled"
    ]


def test_a_failing_consumer_stops_the_poller_without_raising(
    pollers: list[tuple[NatPoller, Script]], caplog: pytest.LogCaptureFixture
) -> None:
    script = Script(nat("10.0.0.1:80"), nat())
    calls: list[frozenset[str]] = []

    def consumer(node: str, method: str, ts: float, addresses: frozenset[str]) -> None:
        calls.append(addresses)
        raise KeyError("bug")

    poller = NatPoller(script.read, "ns1", "web", "node-a", consumer, interval_s=0)
    pollers.append((poller, script))
    with caplog.at_level(logging.ERROR, logger="harness.dataplane.hostnat"):
        poller.start()
        poller._thread.join(WAIT_S)
    assert calls == [{"10.0.0.1:80"}]
    assert poller.failed == "the NAT snapshot consumer failed"
    assert "polling stopped" in caplog.records[0].getMessage()


def test_stop_is_prompt_and_no_snapshot_follows_it(
    pollers: list[tuple[NatPoller, Script]],
) -> None:
    """stop() does not wait out the interval, and returns only when the thread has ended."""
    texts: queue.Queue[str] = queue.Queue()
    texts.put(nat("10.0.0.1:80"))
    snapshots: queue.Queue[frozenset[str]] = queue.Queue()
    poller = NatPoller(
        texts.get, "ns1", "web", "node-a", lambda *s: snapshots.put(s[3]), interval_s=3600
    )
    poller.start()
    assert snapshots.get(timeout=WAIT_S) == {"10.0.0.1:80"}
    began = time.monotonic()
    poller.stop()
    assert time.monotonic() - began < WAIT_S / 2
    assert not poller._thread.is_alive()
    texts.put(nat())
    assert snapshots.empty()


def test_stop_before_start_and_twice() -> None:
    poller = NatPoller(lambda: "", "ns1", "web", "node-a", lambda *_: None, interval_s=0)
    poller.stop()
    poller.stop()
