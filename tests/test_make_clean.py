"""`make clean` removes run folders under OUT and nothing else, and refuses an empty OUT.

`OUT=/tmp make clean` once removed everything in /tmp, and `make clean OUT=` ran on the
repository's root.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from helpers.paths import REPO


def make_clean(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "clean", *args],
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_only_run_folders_go(tmp_path: Path) -> None:
    run = tmp_path / "20261130-120000-default"
    run.mkdir()
    (run / "run.json").write_text("{}")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("x")
    (tmp_path / "file.txt").write_text("x")
    done = make_clean(env={"OUT": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "notes"]


def test_an_empty_out_is_refused() -> None:
    before = sorted(p.name for p in REPO.iterdir())
    done = make_clean("OUT=")
    assert done.returncode != 0
    assert "OUT is empty" in done.stdout + done.stderr
    assert sorted(p.name for p in REPO.iterdir()) == before
