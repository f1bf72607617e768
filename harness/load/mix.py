"""The traffic mix as data: the requests a user picks from, the statuses each accepts, the draw.

``Request`` is one entry of the scenario's ``traffic.requests``; ``Mix`` turns a list of them
into what the locustfile sends. The sample app's mix is two such entries (``sample_app_mix``), so
the default traffic and a user's own go through the same code.

- A path may hold ``{ms}``: each request replaces it with a whole number of milliseconds drawn
  uniformly from [traffic.slow_ms_min, traffic.slow_ms_max] (the sample app's ``/work?ms={ms}``).
- ``expect`` lists the accepted statuses: ``404``, a range ``200-399`` or a class ``5xx``. A
  response with any other status is a failure, sorted like every HTTP failure by
  ``harness.classify.status_class`` (``http_5xx`` or ``http_other``).
- The draw uses the user's own RNG: one ``random()`` for the entry, one ``randint`` for ``{ms}``
  when the path has it. For the sample app's mix that is exactly the sequence drainlab always drew,
  so a seed gives the same requests as before requests were data.

Pure and free of locust, gevent and asyncio: the scenario's validation imports it too.
"""

from __future__ import annotations

import bisect
import random
import re
from dataclasses import dataclass, field

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MS = "{ms}"  # the one placeholder a path may hold
DEFAULT_EXPECT = ("200-399",)
# Headers drainlab writes itself: Connection from keepalive, the length from the body.
OWN_HEADERS = ("connection", "content-length", "transfer-encoding")
LOWEST_STATUS, HIGHEST_STATUS = 100, 599

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110 token)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EXPECT_HELP = "expected a status (404), a range (200-299) or a class (5xx)"


@dataclass
class Request:
    """One kind of request in the mix."""

    method: str = "GET"
    path: str = "/"  # from the Service's root; may hold {ms}
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    expect: list[str] = field(default_factory=lambda: list(DEFAULT_EXPECT))
    weight: float = 1.0  # share among the mix's weights
    keepalive: bool | None = None  # None: traffic.keepalive


def sample_app_mix(fast_weight: int, slow_weight: int) -> list[Request]:
    """The sample app's traffic: ``GET /`` and ``GET /work?ms={ms}``, in this order (the draw's)."""
    return [
        Request(path="/", weight=fast_weight),
        Request(path="/work?ms=" + MS, weight=slow_weight),
    ]


def accepted_statuses(expect: list[str]) -> frozenset[int]:
    """Every status the items of ``expect`` accept; ValueError names the first bad item."""
    accepted: set[int] = set()
    for item in expect:
        accepted.update(_status_range(item))
    return frozenset(accepted)


def _status_range(item: str) -> range:
    text = item.strip().lower()
    if len(text) == 3 and text.endswith("xx") and text[0] in "12345":
        low = int(text[0]) * 100
        return range(low, low + 100)
    first, dash, last = text.partition("-")
    numbers = [first.strip(), last.strip()] if dash else [first]
    if all(n.isascii() and n.isdigit() for n in numbers):
        low, high = int(numbers[0]), int(numbers[-1])
        if LOWEST_STATUS <= low <= high <= HIGHEST_STATUS:
            return range(low, high + 1)
    raise ValueError(f"{_EXPECT_HELP}, each within {LOWEST_STATUS}-{HIGHEST_STATUS}")


def request_problems(request: Request, key: str) -> list[str]:
    """What is wrong with one entry, one line each naming its key (``traffic.requests[2].path``).
    The weight's bounds are the scenario's (harness.scenario checks them like every number)."""
    problems = []
    if request.method not in METHODS:
        problems.append(
            f"{key}.method: expected one of {', '.join(METHODS)}, got {request.method!r}"
        )
    if not request.path.startswith("/"):
        problems.append(f"{key}.path: must start with '/', got {request.path!r}")
    elif any(c.isspace() for c in request.path) or _CONTROL.search(request.path):
        problems.append(f"{key}.path: no spaces or control characters (percent-encode them)")
    for name, value in request.headers.items():
        if not _TOKEN.fullmatch(name):
            problems.append(f"{key}.headers: {name!r} is not a header name")
        elif name.lower() in OWN_HEADERS:
            problems.append(
                f"{key}.headers.{name}: drainlab sets it (Connection from keepalive, the length "
                "from body)"
            )
        elif _CONTROL.search(value.replace("\t", " ")):
            problems.append(f"{key}.headers.{name}: a header value cannot hold control characters")
    if request.body is not None and "\x00" in request.body:
        problems.append(f"{key}.body: a NUL character cannot be sent as text")
    if not request.expect:
        problems.append(f"{key}.expect: list at least one status")
    for index, item in enumerate(request.expect):
        try:
            _status_range(item)
        except ValueError as exc:
            problems.append(f"{key}.expect[{index}]: {exc}, got {item!r}")
    return problems


@dataclass(frozen=True)
class Prepared:
    """A mix entry as the locustfile sends it."""

    method: str
    path: str  # the template
    name: str  # locust's statistics row: the path without its query, one row per entry
    headers: dict[str, str] | None
    body: str | None
    accepted: frozenset[int]
    expect: str  # for the failure message


class Mix:
    """Draws the requests of a validated mix with a user's RNG."""

    def __init__(self, requests: list[Request], ms_min: int, ms_max: int, keepalive: bool) -> None:
        self.prepared = [_prepare(r, keepalive) for r in requests]
        self._cumulative: list[float] = []
        total = 0.0
        for request in requests:
            total += request.weight
            self._cumulative.append(total)
        self._total = total
        # random() * total can round up to total itself: that draw goes to the last weighed entry.
        self._last = max(i for i, r in enumerate(requests) if r.weight > 0)
        self._ms = (ms_min, ms_max)

    def draw(self, rng: random.Random) -> tuple[Prepared, str]:
        """One entry by weight, and its path with ``{ms}`` drawn."""
        index = bisect.bisect_right(self._cumulative, rng.random() * self._total)
        request = self.prepared[min(index, self._last)]
        if MS not in request.path:
            return request, request.path
        return request, request.path.replace(MS, str(rng.randint(*self._ms)))


def _prepare(request: Request, keepalive: bool) -> Prepared:
    headers = dict(request.headers)
    if not (keepalive if request.keepalive is None else request.keepalive):
        headers["Connection"] = "close"  # the server closes after answering: a new one next time
    return Prepared(
        method=request.method,
        path=request.path,
        name=request.path.partition("?")[0],
        headers=headers or None,
        body=request.body,
        accepted=accepted_statuses(request.expect),
        expect=", ".join(request.expect),
    )
