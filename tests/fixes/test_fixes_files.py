"""fix-<v>.yaml and the fixes block from a whole run folder (the synthetic run of the report
tests), and the change a later run reads back from summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.synthetic import make_run

from harness.appspec import App, ProbeChange, Variant
from harness.errors import WriteError
from harness.fixes import files
from harness.fixes.files import FixServer, change_from, change_of, derive_fixes, run_fixes
from harness.fixes.model import Fix
from harness.scenario import load_scenario


def test_each_variant_that_dropped_gets_a_file_and_an_entry_and_no_other(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    dropped = {name for name, o in summary["orders"].items() if o["failed"]}
    assert dropped and dropped != set(summary["orders"])  # some did, some did not
    run_fixes(run_dir, summary, load_scenario(None).to_dict(), None)
    block = summary["fixes"]
    assert set(block) == dropped
    for name in summary["orders"]:
        entry = block.get(name)
        written = (run_dir / f"fix-{name}.yaml").exists()
        assert written == (entry is not None and entry["file"] is not None), name
        if entry is not None:
            assert entry["sentence"] and entry["server_version"] is None
            assert entry["validated"] in ("client", "nothing to validate: no patch")
            assert change_from(entry).prestop_sleep_s == entry["change"]["prestop_sleep_s"]


def test_a_command_app_gets_placeholder_names_and_is_not_validated(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, orders=("naive",))
    summary = json.loads((run_dir / "summary.json").read_text())
    scenario = load_scenario(None).to_dict()
    scenario["app"]["command"] = ["./server", "{port}"]
    scenario["orders"] = None
    scenario["variants"] = {"naive": {}}
    run_fixes(run_dir, summary, scenario, None)
    block = summary["fixes"]
    entry = block["naive"]
    assert entry["file"] == "fix-naive.yaml"  # its routed refusals call for a preStop sleep
    assert entry["validated"].startswith("not validated: no manifests")
    assert "name: YOUR-CONTAINER" in (run_dir / entry["file"]).read_text()


def test_the_change_reads_back_from_summary_json() -> None:
    fix = Fix(
        variant="naive",
        change=Variant(
            prestop_sleep_s=3.0,
            grace_period_s=9.0,
            readiness=ProbeChange(period_s=1.0, failure_threshold=1),
        ),
    )
    stored = json.loads(json.dumps({"change": change_of(fix)}))
    assert change_from(stored) == fix.change


def test_a_fix_that_fails_to_derive_costs_the_run_nothing_but_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = make_run(tmp_path, orders=("naive",))
    summary = json.loads((run_dir / "summary.json").read_text())

    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(files, "derive_fix", broken)
    run_fixes(run_dir, summary, None, None)
    assert summary["fixes"] == {} and summary["fixes_error"] == "RuntimeError: boom"


def test_a_refused_write_of_a_fix_file_ends_the_run_as_any_refused_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = make_run(tmp_path, orders=("naive",))
    summary = json.loads((run_dir / "summary.json").read_text())

    def full(path: Path, _: bytes) -> None:
        raise WriteError(path, "No space left on device")

    monkeypatch.setattr(files, "write_bytes_durably", full)
    with pytest.raises(WriteError, match=r"fix-naive\.yaml"):
        run_fixes(run_dir, summary, None, None)


@pytest.mark.parametrize("minor", [20, 31])
def test_an_image_without_sleep_makes_an_exec_fix_partial_and_not_a_sleep_action_one(
    tmp_path: Path, minor: int
) -> None:
    run_dir = make_run(tmp_path, orders=("close-first",))
    summary = json.loads((run_dir / "summary.json").read_text())
    absent = "absent: `sleep 0` in pod p: executable file not found in $PATH"
    server = FixServer(minor, None, None, None, {"close-first": absent})
    run_fixes(run_dir, summary, load_scenario(None).to_dict(), server)
    entry = summary["fixes"]["close-first"]
    assert entry["server_version"] == f"1.{minor}" and entry["sleep_binary"] == absent
    said = [u for u in entry["unfixable"] if "no `sleep` binary" in u["what"]]
    if minor == 20:
        assert said and said[0]["evidence"] == absent and entry["partial"]
        assert entry["sentence"].endswith("no `sleep` binary for the preStop exec")
    else:
        assert not said and "sleep:" in (run_dir / "fix-close-first.yaml").read_text()


def test_a_fixs_own_run_gets_no_fix_of_its_own(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, orders=("naive",))
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["orders"]["naive+fix"] = summary["orders"]["naive"]  # as --verify-fix names it
    assert set(derive_fixes(run_dir, summary, {}, App())) == {"naive"}
