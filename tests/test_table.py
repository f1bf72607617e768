from harness.table import comparison_table, lifecycle_table


def test_comparison_table_aligns_orders_side_by_side() -> None:
    summary = {
        "orders": {
            "naive": {"requests": 1057, "failed": 18, "failure_rate": 18 / 1057,
                      "failures_by_class": {"connection_reset": 7}, "latency_ms": {"p50": 2.4},
                      "propagation_ms": {"p99": None}, "deletions": 4},
            "graceful": {"requests": 1038, "failed": 0, "failure_rate": 0.0, "deletions": 4},
        }
    }  # fmt: skip
    lines = comparison_table(summary).splitlines()
    assert lines[0].split()[:4] == ["variant", "requests", "failed", "rate"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split()[:6] == ["naive", "1057", "18", "1.703%", "0", "7"]
    assert lines[3].split()[:3] == ["graceful", "1038", "0"]
    assert len({len(line) for line in lines}) == 1  # every row padded to the same width


def test_lifecycle_table_shows_median_and_max() -> None:
    report = {"durations_ms": {"delete_to_sigterm": {"median": 0.4, "max": 5012.0}}}
    text = lifecycle_table({"prestop": report})
    assert text.splitlines() == [
        "pod lifecycle, median/max ms",
        "variant  delete→sigterm",
        "prestop          0/5012",
    ]
