"""Running the load from a synchronous test: ``run_async`` (a coroutine made inside its own event
loop, as the harness's death signal needs) and ``start`` (locust at a folder's usual paths)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from harness.load.runner import LoadRun, start_load
from harness.load.traffic import Traffic

T = TypeVar("T")


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await make()

    return asyncio.run(main())


async def start(url: str, folder: Path, traffic: Traffic, duration_s: float) -> LoadRun:
    """Locust against ``url`` for ``duration_s``, seed 7, its files in ``folder``."""
    return await start_load(
        url, traffic, duration_s, folder / "records.jsonl", 7, folder / "locust.log"
    )
