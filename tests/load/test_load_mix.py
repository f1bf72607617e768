"""The mix's draw and status rules, without locust."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from harness.load.mix import Mix, Request, accepted_statuses, sample_app_mix
from harness.scenario import Traffic


def legacy_draws(seed: str, n: int, fast: int, slow: int, ms: tuple[int, int]) -> list[str]:
    """The paths the locustfile drew before requests were data (its code, verbatim in effect)."""
    rng = random.Random(seed)
    paths = []
    for _ in range(n):
        if rng.random() * (fast + slow) < fast:
            paths.append("/")
        else:
            paths.append(f"/work?ms={rng.randint(*ms)}")
    return paths


@pytest.mark.parametrize(("fast", "slow"), [(3, 1), (0, 1), (1, 0), (7, 5)])
def test_the_default_mix_draws_what_drainlab_always_drew(fast: int, slow: int) -> None:
    traffic = Traffic(fast_weight=fast, slow_weight=slow, slow_ms_min=100, slow_ms_max=600)
    mix = Mix(traffic.mix(), traffic.slow_ms_min, traffic.slow_ms_max, keepalive=True)
    rng = random.Random("1:0")
    drawn = [mix.draw(rng)[1] for _ in range(2000)]
    assert drawn == legacy_draws("1:0", 2000, fast, slow, (100, 600))


def test_weights_are_respected_and_a_zero_weight_is_never_drawn() -> None:
    requests = [
        Request(path="/a", weight=1),
        Request(path="/never", weight=0),
        Request(method="POST", path="/b", weight=2.5),
        Request(path="/c?ms={ms}", weight=0.5),
    ]
    mix = Mix(requests, 5, 9, keepalive=True)
    rng = random.Random(7)
    n = 40_000
    counts = Counter(mix.draw(rng)[0].name for _ in range(n))
    assert "/never" not in counts
    for name, share in (("/a", 0.25), ("/b", 0.625), ("/c", 0.125)):
        sd = (n * share * (1 - share)) ** 0.5
        assert abs(counts[name] - n * share) < 5 * sd, (name, counts)


def test_ms_is_drawn_within_its_bounds_and_other_braces_stay() -> None:
    mix = Mix([Request(path="/w?ms={ms}&x={y}")], 5, 9, keepalive=True)
    rng = random.Random(3)
    paths = {mix.draw(rng)[1] for _ in range(500)}
    assert paths == {f"/w?ms={ms}&x={{y}}" for ms in range(5, 10)}


def test_connection_close_follows_keepalive_and_its_per_request_override() -> None:
    requests = [
        Request(path="/k"),
        Request(path="/c", keepalive=False, headers={"X-A": "1"}),
        Request(path="/o", keepalive=True),
    ]
    kept = Mix(requests, 0, 0, keepalive=True).prepared
    assert [p.headers for p in kept] == [None, {"X-A": "1", "Connection": "close"}, None]
    closed = Mix(requests, 0, 0, keepalive=False).prepared
    assert [p.headers for p in closed] == [
        {"Connection": "close"},
        {"X-A": "1", "Connection": "close"},
        None,
    ]


def test_expect_accepts_statuses_ranges_and_classes() -> None:
    assert accepted_statuses(["200-399"]) == frozenset(range(200, 400))
    assert accepted_statuses(["404", "5xx", " 201 - 202 "]) == frozenset(
        [404, 201, 202, *range(500, 600)]
    )
    with pytest.raises(ValueError, match="a range"):
        accepted_statuses(["2xx", "99"])


def test_sample_app_mix_is_its_two_requests() -> None:
    assert [(r.method, r.path, r.weight) for r in sample_app_mix(3, 1)] == [
        ("GET", "/", 3),
        ("GET", "/work?ms={ms}", 1),
    ]
