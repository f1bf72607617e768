"""What a pod's spec and a container's terminated state say about how it stops (pure).

- ``prestop_sleep_s``: how long a preStop hook takes, when it is nothing but a sleep (``exec`` of
  ``sleep N``, directly or through ``sh -c``, or the ``sleep`` action); any other hook takes a
  time nobody can know from outside.
- ``ended_by``: what an exit code says: below 128 the process exited by itself; 128 + n, signal n
  ended it (143: SIGTERM's default action, an app with no handler for it); 137 is SIGKILL (the
  kubelet's at the end of the grace period, or the OOM killer's when the reason says so).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Mapping, Sequence
from typing import Any

SIGKILL_EXIT = 137
OOM_REASON = "OOMKilled"
# Exit codes above this are 128 + the number of the signal that ended the process.
SIGNAL_BASE = 128
# A shell script that is nothing but a sleep: "sleep 5", "exec sleep 2.5".
SLEEP_SCRIPT = re.compile(r"\s*(?:exec\s+)?sleep\s+(\d+(?:\.\d+)?)\s*;?\s*")
SHELLS = frozenset({"sh", "bash", "ash", "dash"})


def prestops(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = pod.get("spec") or {}
    hooks = [(c.get("lifecycle") or {}).get("preStop") for c in spec.get("containers") or []]
    return [h for h in hooks if h]


def prestop_sleep_s(hook: Mapping[str, Any]) -> float | None:
    """How long a preStop hook takes when it is nothing but a sleep; None for any other hook."""
    action = hook.get("sleep")
    if isinstance(action, Mapping):
        seconds = action.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            return None
        return float(seconds)
    command = (hook.get("exec") or {}).get("command")
    if not isinstance(command, Sequence) or isinstance(command, str):
        return None
    words = [str(w) for w in command]
    if len(words) == 2 and words[0].rsplit("/", 1)[-1] == "sleep":
        return _seconds(words[1])
    if len(words) == 3 and words[0].rsplit("/", 1)[-1] in SHELLS and words[1] == "-c":
        match = SLEEP_SCRIPT.fullmatch(words[2])
        return float(match.group(1)) if match else None
    return None


def _seconds(word: str) -> float | None:
    return float(word) if re.fullmatch(r"\d+(?:\.\d+)?", word) else None


def ended_by(code: Any, reason: Any) -> dict[str, Any]:
    """What a terminated state's exit code says about how the process ended."""
    if not isinstance(code, int) or isinstance(code, bool):
        return {"ended_by": "unknown"}
    if code == SIGKILL_EXIT:
        return {"ended_by": "oom_killed" if reason == OOM_REASON else "sigkill"}
    if code > SIGNAL_BASE:
        number = code - SIGNAL_BASE
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = None
        return {"ended_by": "signal", "signal_number": number, "signal_name": name}
    return {"ended_by": "exit"}
