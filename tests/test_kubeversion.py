"""The endpoint semantics a run states (harness.kubeversion.RunSemantics): the embedded
profile, or what a server's version implies (KEP-1672 conditions, KEP-1669 fallback)."""

from __future__ import annotations

import pytest

from harness.kubeversion import embedded_semantics, server_semantics


@pytest.mark.parametrize(
    ("version", "conditions", "fallback"),
    [("1.20", False, False), ("1.22", True, False), ("1.26", True, True), ("1.28", True, True)],
)
def test_an_embedded_profile_states_its_conditions_and_fallback(
    version: str, conditions: bool, fallback: bool
) -> None:
    assert embedded_semantics(version).block() == {
        "source": "embedded profile",
        "version": version,
        "profile": version,
        "conditions": conditions,
        "fallback": fallback,
        "reason": None,
    }


def test_a_server_states_its_git_version_and_what_its_minor_implies() -> None:
    block = server_semantics("v1.25.16", 25).block()
    assert (block["source"], block["version"], block["profile"]) == ("server", "v1.25.16", "1.25")
    assert (block["conditions"], block["fallback"]) == (True, False)
    # A minor that says nothing ("" on some builds): read from the gitVersion.
    assert server_semantics("v1.28.3-gke.100", None).block()["fallback"] is True


def test_a_server_that_does_not_say_its_version_states_why_not() -> None:
    block = server_semantics(None, None).block()
    assert block["profile"] is None and block["conditions"] is None and block["fallback"] is None
    assert block["reason"] == "the server did not say its version"
