"""Fixtures of the report tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.synthetic import GATE, make_run

from harness.report.html import write_report


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gated synthetic run folder and its report, one per test module."""
    folder = make_run(tmp_path_factory.mktemp("run"), gate=GATE)
    write_report(folder)
    return folder
