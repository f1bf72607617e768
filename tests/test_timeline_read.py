"""Reading a timeline (harness.timeline.read_timeline): lines that are no event are skipped."""

from __future__ import annotations

from pathlib import Path

from harness.timeline import TimelineEvent, read_timeline


def test_lines_that_are_no_event_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "timeline.jsonl"
    path.write_bytes(
        b'{"ts": 2.0, "kind": "pod_ready", "pod": "p-0", "detail": {"a": 1}}\n'
        b'{"kind": "pod_ready"}\n'  # no ts
        b'{"ts": "x", "kind": "k"}\n'
        b'{"ts": NaN, "kind": "k"}\n'
        b'{"ts": 1' + b"0" * 400 + b', "kind": "k"}\n'  # past a float's range
        b'{"ts": 1, "kind": 3}\n'
        b'{"ts": 1, "kind": "k", "pod": ["p"]}\n'
        b'{"ts": 1, "kind": "k", "detail": "text"}\n'
        b'{"ts": 1.5, "kind": "\xff\xfe"}\n'  # not UTF-8
         + b"[" * 100_000 + b"\n"  # nested past the stack
        b'{"ts": 1.0, "kind": "app_exit", "pod": null, "detail": null}\n'
        b'{"ts": 3.0, "kind": "chaos_act'  # torn by a crash
    )
    assert read_timeline(path) == [
        TimelineEvent(1.0, "app_exit", None, {}),
        TimelineEvent(2.0, "pod_ready", "p-0", {"a": 1}),
    ]
