"""What the benches that drive nginx need."""

from __future__ import annotations

import pytest
from helpers.debian import PackageUnavailable
from helpers.nginx import nginx_binary

from bench.workers import find_nginx


@pytest.fixture(scope="module")
def nginx() -> str:
    """nginx installed, else Debian's unpacked into the cache (as the proof tests have it)."""
    found = find_nginx()
    if found is not None:
        return found
    try:
        return str(nginx_binary())
    except PackageUnavailable as exc:
        pytest.skip(f"nginx is not installed and Debian's cannot be fetched here: {exc}")
