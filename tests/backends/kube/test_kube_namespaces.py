"""A system namespace is refused with one line before anything exists: no run folder, no
cluster, no process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cli import main


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a process was started: {args[:1]}")

    monkeypatch.setattr("subprocess.Popen", refuse)


@pytest.mark.parametrize("dry", [[], ["--dry-run"]])
@pytest.mark.parametrize("namespace", ["kube-system", "default"])
def test_a_system_namespace_is_one_line_before_any_run_folder(
    namespace: str,
    dry: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    nothing_starts: None,
) -> None:
    """Finding: `--namespace kube-system` was accepted without a word."""
    out = tmp_path / "reports"
    args = ["run", *dry, "--backend", "kind", "--namespace", namespace, "--out", str(out)]
    code = main(args)
    captured = capsys.readouterr()
    assert code == 2 and not out.exists()
    assert captured.err == (
        f"harness: error: refusing namespace {namespace!r}: it is a system namespace and the "
        "harness deletes pods; use a namespace of its own (the default: drainlab)\n"
    )
