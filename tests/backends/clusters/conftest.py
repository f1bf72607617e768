"""Fake `kind` and `docker` executables for the kind provisioner's tests (no Docker engine here).

Each fake is a real executable script that records its argv (one JSON line per call) and answers
as the environment tells it to (clusters present, a failing step).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

FAKE = f"""#!{sys.executable}
import json, os, sys
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([name, *args]) + "\\n")
fail = os.environ.get("FAKE_FAIL", "")
if fail and " ".join([name, *args]).startswith(fail):
    sys.stderr.write("step one\\n" + os.environ.get("FAKE_FAIL_MESSAGE", "failed") + "\\n")
    sys.exit(1)
if args[:2] == ["get", "clusters"]:
    for cluster in filter(None, os.environ.get("FAKE_CLUSTERS", "").split(",")):
        print(cluster)
    if not os.environ.get("FAKE_CLUSTERS"):
        sys.stderr.write("No kind clusters found.\\n")
if args[:1] == ["info"]:
    print("27.0.1")
"""


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only fake `kind` and `docker`; returns the argv log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kind", "docker"):
        script = bin_dir / tool
        script.write_text(FAKE)
        script.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    log.touch()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.delenv("FAKE_CLUSTERS", raising=False)
    monkeypatch.delenv("FAKE_FAIL", raising=False)
    return log
