"""Running the tools the provisioners drive (kind, docker, ctr), with one line on failure."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

from harness.errors import BackendError, cut


def run_tool(who: str, what: str, argv: Sequence[str], timeout_s: float, label: str = "") -> str:
    """Runs ``argv``; its stdout, or a BackendError ``{who}: cannot {what}: ...`` that says how it
    ended, with the tool's last line of output. ``label`` names the command in that line (default:
    its first three words)."""
    label = label or " ".join(argv[:3])
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            env=os.environ.copy(),
        )
    except FileNotFoundError:
        raise BackendError(f"{who}: cannot {what}: {argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise BackendError(
            f"{who}: cannot {what}: `{label}` still running after {timeout_s:g} s"
        ) from None
    except OSError as exc:
        raise BackendError(f"{who}: cannot {what}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = [x.strip() for x in (done.stderr + "\n" + done.stdout).splitlines()]
        last = next((x for x in reversed(lines) if x), "no output")
        raise BackendError(
            f"{who}: cannot {what}: `{label}` exited {done.returncode}: {cut(last, 200)}"
        )
    return done.stdout
