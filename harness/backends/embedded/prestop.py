"""The preStop hook of a kill sequence: a sleep, or a command exec'd in the container.

An exec hook runs the way the kubelet runs one in the container: with the pod's environment and
working directory, its output going to the pod's log, and it dies with the container (a hook
still running when the container ends is killed with it). It gets what is left of the grace
period; one still running then is killed, and the kill sequence goes on to SIGTERM. A hook that
fails (a non-zero exit, a program that cannot run) is reported and the sequence goes on, as the
kubelet does after a ``FailedPreStopHook``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.backends.embedded.process import Container, exit_code

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrestopHook:
    """``sleep_s`` > 0: ``sleep N``; ``command``: an exec hook (placeholders filled in);
    neither: no hook."""

    sleep_s: float = 0.0
    command: list[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    log_path: Path | None = None

    @property
    def defined(self) -> bool:
        return bool(self.command) or self.sleep_s > 0

    def started_detail(self) -> dict[str, Any]:
        """What PRESTOP_STARTED says about the hook."""
        if self.command:
            return {"command": list(self.command)}
        return {"sleep_s": self.sleep_s}


@dataclass(frozen=True)
class HookOutcome:
    duration_s: float
    cut_short: bool  # by the grace period, or because the container ended
    exit_code: int | None = None  # exec hooks that ended on their own
    error: str | None = None  # an exec hook that could not start

    def detail(self) -> dict[str, Any]:
        """What PRESTOP_ENDED says about the hook (besides the time since the delete)."""
        detail: dict[str, Any] = {
            "duration_s": round(self.duration_s, 3),
            "cut_short": self.cut_short,
        }
        if self.exit_code is not None:
            detail["exit_code"] = self.exit_code
        if self.error is not None:
            detail["error"] = self.error
        return detail


async def run_hook(hook: PrestopHook, exited: asyncio.Future[int], limit_s: float) -> HookOutcome:
    """Runs ``hook`` for at most ``limit_s``, or until the container (``exited``) ends."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    if not hook.command:
        # The sleep runs in the container: it ends early if the container does.
        await asyncio.wait({exited}, timeout=max(0.0, min(hook.sleep_s, limit_s)))
        cut_short = hook.sleep_s > limit_s or exited.done()
        return HookOutcome(loop.time() - started, cut_short)
    try:
        process = await Container.start(hook.command, hook.env, _to_log, hook.log_path, hook.cwd)
    except OSError as exc:
        log.warning("preStop hook %s cannot start: %s", hook.command[0], exc)
        return HookOutcome(loop.time() - started, False, error=str(exc))
    ended = asyncio.ensure_future(process.wait())
    try:
        done, _ = await asyncio.wait(
            {ended, exited}, timeout=max(0.0, limit_s), return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        if not ended.done():
            # Cut short (or the run is stopping): its processes die, as with the container's.
            await process.destroy()
            await asyncio.wait({ended})
    finished = ended in done  # by itself, before the time limit and the container's end
    return HookOutcome(
        loop.time() - started,
        cut_short=not finished,
        exit_code=exit_code(ended.result()) if finished else None,
    )


def _to_log(line: str) -> bool:
    return False  # the hook's stdout goes to the pod's log, not the timeline
