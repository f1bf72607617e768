"""The report's Fix section and the terminal's sentences, from a fixes block."""

from __future__ import annotations

from harness.report.fixes import fix_section, fix_sentences

ENTRY = {
    "file": "fix-naive.yaml",
    "partial": True,
    "fields": [{"field": "preStop", "value": "sleep 3", "why": "p99 1292 ms + 1000 ms"}],
    "unfixable": [{"what": "the app exits <with> requests in flight", "evidence": "8 cut"}],
    "sentence": "6 of 14 failures were ... (fix-naive.yaml, partial)",
    "notes": [],
    "server_version": "1.20",
    "validated": "server-dry-run",
    "prestop_spelling": "exec sleep",
    "prestop_spelling_why": "server 1.20",
    "sleep_binary": "present",
}


def test_a_partial_fix_is_said_field_by_field_with_what_no_patch_fixes() -> None:
    html = str(fix_section({"fixes": {"naive": ENTRY}}))
    assert '<div class="fix" data-variant="naive" data-partial="true">' in html
    assert '<a class="raw" href="fix-naive.yaml">fix-naive.yaml</a>' in html
    assert "this fix is partial" in html
    assert "<td>sleep 3</td><td>p99 1292 ms + 1000 ms</td>" in html
    assert "the app exits &lt;with&gt; requests in flight" in html  # escaped
    assert "`sleep` binary in the image: present" in html
    assert "by the API server in a dry run" in html and "server version: 1.20" in html


def test_no_fixes_block_no_section_and_an_empty_one_says_nothing_dropped() -> None:
    assert str(fix_section({})) == ""
    assert "nothing to fix" in str(fix_section({"fixes": {}}))


def test_the_terminal_gets_one_line_per_failing_variant() -> None:
    assert fix_sentences({"fixes": {"naive": ENTRY}}) == [f"naive: {ENTRY['sentence']}"]
