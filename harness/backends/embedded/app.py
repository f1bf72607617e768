"""How a pod's app is launched: its command line, its environment, and its log file.

The command is a template with ``{host}``/``{port}`` placeholders (the sample app by default),
filled in at each container start with the pod's own address. Each pod's stderr (and any stdout
line that is not an event, see applog.py) goes to ``<log_dir>/<pod>.log``, whose last lines
explain a pod that never became ready.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from harness.errors import BackendError
from harness.packaged import sample_app_path

SAMPLE_APP = sample_app_path()
_LOG_TAIL_LINES = 5


def default_app_command() -> list[str]:
    """The sample app, run by this Python; BackendError when the checkout has none."""
    if not SAMPLE_APP.is_file():
        raise BackendError(
            f"the sample app is missing ({SAMPLE_APP}); give app.command to run your own app"
        )
    return [sys.executable, str(SAMPLE_APP), "--host", "{host}", "--port", "{port}"]


class AppLaunch:
    """The app's command (None: the sample app) and where pods' logs go (None: discarded)."""

    def __init__(
        self,
        command: list[str] | None,
        log_dir: Path | None,
        app_env: Mapping[str, str] | None = None,
    ) -> None:
        self._command = list(command) if command is not None else default_app_command()
        if not any("{port}" in part for part in self._command):
            raise BackendError("app.command: must contain {port} so each pod gets its own port")
        self._log_dir = log_dir
        self._app_env = dict(app_env or {})

    def prepare(self) -> None:
        """Before a deploy: the program must exist, and the log directory is created."""
        program = self._command[0]
        if shutil.which(program) is None:
            raise BackendError(f"app command not found: {program!r}")
        if self._log_dir is not None:
            self._log_dir.mkdir(parents=True, exist_ok=True)

    def argv(self, host: str, port: int) -> list[str]:
        return [part.replace("{host}", host).replace("{port}", str(port)) for part in self._command]

    def env(self, variant_env: Mapping[str, str], pod: str) -> dict[str, str]:
        """The harness's environment, the app's, the variant's, ``POD_NAME`` and unbuffered
        stdio."""
        env = {**os.environ, **self._app_env, **variant_env, "POD_NAME": pod}
        # The app's event lines must not wait in a stdio buffer until it exits.
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def log_path(self, pod: str) -> Path | None:
        return self._log_dir / f"{pod}.log" if self._log_dir is not None else None

    def log_tail(self, pod: str) -> str:
        """`` (log: a | b | c)`` with the pod's last non-empty log lines, or "" when none."""
        path = self.log_path(pod)
        if path is None:
            return ""
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        tail = [line for line in lines if line.strip()][-_LOG_TAIL_LINES:]
        return f" (log: {' | '.join(tail)})" if tail else ""
