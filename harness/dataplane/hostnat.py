"""Polls one node's NAT rules from outside the node and reports each change of a Service's
endpoint set: the data plane's ground truth where drainlab can read a node's iptables itself
(the local cluster: ``LocalProvisioner.read_node_nat``).

:class:`NatPoller` runs ``read`` (which returns ``iptables-save -t nat`` text) every
``interval_s`` in a daemon thread, reduces it to the Service's ``IP:PORT`` set
(:func:`harness.dataplane.natrules.service_endpoints`) and calls
``on_snapshot(node, "nat_rules_host", ts, addresses)`` once at the first good read and then
whenever the set changes.

The moment's accuracy: ``ts`` is the wall clock (unix seconds) taken just after ``read``
returned, before the text is parsed. The rules were read somewhere during the read, so ``ts``
is at most one read's duration late for the state it shows; a change made just after a read
took its state shows in the next one, so ``ts`` follows kube-proxy's iptables-restore by at
most one interval plus the parse and two reads' durations. On the local cluster
``iptables-save -t nat`` through nsenter takes about 4 ms (p50 3.7 ms, max 5.3 ms over 50
reads of its ~80 nat rules) and the parse well under a millisecond (about 0.2 s of CPU for a
30000-line table).

A read that fails (it raises) is reported once through ``on_error`` (or logged as a warning):
polling goes on, and after ``max_failures`` failures in a row it stops, reporting why once
more; ``failed`` then says why. A text without kube-proxy's rules (IPVS or nftables mode, or
kube-proxy not started yet) counts as a failed read: an empty set there would be no news of the
Service. A consumer that raises stops the poller (logged). ``start`` and ``stop`` never raise
(``start`` once); ``stop`` returns once the thread has ended (it waits up to
``STOP_JOIN_S`` for a read in flight), and no snapshot is delivered after it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from harness.dataplane.natrules import has_kube_proxy_rules, service_endpoints

log = logging.getLogger(__name__)

METHOD = "nat_rules_host"
MAX_FAILURES = 5
STOP_JOIN_S = 10.0  # a read in flight is waited for (iptables-save takes milliseconds)

OnSnapshot = Callable[[str, str, float, frozenset[str]], None]
OnError = Callable[[str], None]


class NatPoller:
    """A thread that reports a Service's endpoint set on one node each time it changes."""

    def __init__(
        self,
        read: Callable[[], str],
        namespace: str,
        service: str,
        node: str,
        on_snapshot: OnSnapshot,
        interval_s: float,
        on_error: OnError | None = None,
        max_failures: int = MAX_FAILURES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._read = read
        self._namespace = namespace
        self._service = service
        self._node = node
        self._on_snapshot = on_snapshot
        self._interval_s = interval_s
        self._on_error = on_error
        self._max_failures = max(1, max_failures)
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"nat-{node}", daemon=True)
        self.failed: str | None = None  # why polling stopped by itself, if it did
        self._reported = False  # a failed read was reported: only giving up is reported again

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(STOP_JOIN_S)

    def _run(self) -> None:
        last: frozenset[str] | None = None
        failures = 0
        while not self._stop.is_set():
            try:
                text = self._read()
                ts = self._clock()
                if not has_kube_proxy_rules(text):
                    raise ValueError("no kube-proxy rules in its nat table (not iptables mode?)")
                addresses = service_endpoints(text, self._namespace, self._service)
            except Exception as exc:
                failures += 1
                if not self._failed_read(exc, failures):
                    return
            else:
                failures = 0
                if addresses != last and not self._stop.is_set():
                    last = addresses
                    if not self._deliver(ts, addresses):
                        return
            self._stop.wait(self._interval_s)

    def _failed_read(self, exc: Exception, failures: int) -> bool:
        """Reports a failed read (the first one, and the one that ends polling); whether to go
        on."""
        why = " ".join(str(exc).split()) or type(exc).__name__
        where = f"the NAT rules of node {self._node}"
        if failures >= self._max_failures:
            times = f" {failures} times in a row" if failures > 1 else ""
            self.failed = f"{where} could not be read{times} ({why})"
            self._report(self.failed + "; no longer polled")
            return False
        if not self._reported:
            self._reported = True
            self._report(f"{where} could not be read ({why}); retrying")
        return True

    def _report(self, line: str) -> None:
        if self._on_error is None:
            log.warning("%s", line)
            return
        try:
            self._on_error(line)
        except Exception:
            log.exception("reporting a NAT read failure failed")

    def _deliver(self, ts: float, addresses: frozenset[str]) -> bool:
        try:
            self._on_snapshot(self._node, METHOD, ts, addresses)
        except Exception:
            # A consumer that fails once would fail again: stop rather than log it every poll.
            log.exception(
                "the NAT snapshot consumer of node %s failed; polling stopped", self._node
            )
            self.failed = "the NAT snapshot consumer failed"
            return False
        return True
