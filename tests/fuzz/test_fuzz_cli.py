"""``harness.cli.main`` on any command line made of its real flags and junk values: exit 0, 1
or 4 with work done, or exit 2 with exactly one line on stderr; never an exception, never a
traceback.

``harness run`` stops where the run would begin (the backend choice): everything before it, the
parsing, the scenario and the limits, is what is tested here.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from unittest import mock

from helpers.fuzz import fuzz
from helpers.summaries import MINIMAL
from hypothesis import given
from hypothesis import strategies as st

from harness import cli

TMP = Path(tempfile.mkdtemp(prefix="drainlab-fuzz-cli-"))
(TMP / "good.yaml").write_text("orders: [naive, graceful]\nduration_s: 12\n")
(TMP / "bad.yaml").write_bytes(b"traffic:\n  users: [\xff\n")
(TMP / "run").mkdir()
(TMP / "run" / "summary.json").write_text(json.dumps(MINIMAL))
LIMITS = ["--max-failed", "--max-failure-rate", "--classes", "--min-deletions"]
LIMITS += ["--max-upper-bound", "--max-outage-s"]

FLAGS = {
    "run": [
        "--backend", "--scenario", "--orders", "--duration", "--users", "--replicas", "--seed",
        "--deletions", "--new-connections", "--out", "--context", "--allow-context",
        "--namespace", "--gate", *LIMITS, "--quiet",
    ],
    "gate": ["--order", *LIMITS, "--junit"],
    "report": [],
    "validate": [],
}  # fmt: skip
# Values that mean something to some flag, and junk; no NUL: a real argv cannot carry one.
MEANINGFUL = [
    *["good.yaml", "bad.yaml", "run", "run/summary.json", "missing", ".", "", "-", "--"],
    *["0", "-1", "1", "5", "1e9", "100000000", "nan", "inf", "-inf", "0.5", "1.5"],
    *["graceful", "naive", "naive,graceful", "embedded", "timeout", "x" * 300],
    *["/proc/x.xml", "/dev/null/x", "a\nb", "\udcff", "--help"],
]
VALUES = st.one_of(
    st.sampled_from(MEANINGFUL), st.text(st.characters(exclude_characters="\x00"), max_size=12)
)


class Reached(Exception):
    """The run got as far as choosing its backend: its input was valid."""


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from([*FLAGS, "frobnicate"]))
    argv = [command]
    if command in ("report", "validate", "gate"):
        argv.append(draw(VALUES))
    for _ in range(draw(st.integers(0, 4))):
        flag = draw(st.sampled_from(FLAGS.get(command) or ["--x"]))
        argv += [flag] if flag in ("--quiet", "--new-connections") else [flag, draw(VALUES)]
    return argv


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(TMP)
    try:
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            mock.patch("harness.backends.select.choose_backend", side_effect=Reached),
        ):
            try:
                code = cli.main(argv)
            except Reached:
                code = -1
    finally:
        os.chdir(cwd)
        (TMP / "run" / "report.html").unlink(missing_ok=True)
    return code, out.getvalue(), err.getvalue()


@fuzz(400)
@given(command_lines())
def test_any_command_line(argv: list[str]) -> None:
    code, _out, err = run_main(argv)
    lines = err.splitlines()
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("harness"), (argv, err)
    else:
        assert code in (-1, 0, 1, 4), (argv, code, err)
        assert "Traceback" not in err


def test_valid_command_lines_still_work() -> None:
    assert run_main(["validate", "good.yaml"])[0] == 0
    assert run_main(["gate", "run"])[:2] == (
        0,
        "ok graceful: 0 failed of 10 requests, failure rate < 25.9% at 95% confidence, "
        "2 of them inside the windows of 1 deletion (max_failed 0)\n",
    )
    code, out, _ = run_main(["gate", "run", "--min-deletions", "2"])
    assert code == 4 and out.startswith("INCONCLUSIVE graceful: 1 deletion < min_deletions 2")
    assert run_main(["report", "run"])[0] == 0
    assert run_main(["run", "--duration", "30", "--deletions", "10000"])[0] == 2  # past the end
    assert run_main(["run", "--duration", "30", "--deletions", "12", "--seed", "-3"])[0] == -1
    assert run_main(["--version"])[0] == 0
