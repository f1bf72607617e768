"""How a pod's app is launched: its command line, environment, working directory and log file.

The command is a template with ``{host}``/``{port}`` placeholders (the sample app by default),
filled in at each container start with the pod's own address. A variant's ``args`` replace the
command's arguments (everything after the program), placeholders included; its ``prestop_command``
gets the same placeholders filled in. Each pod's stderr (and any stdout
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
        workdir: str | None = None,
    ) -> None:
        self._command = list(command) if command is not None else default_app_command()
        if not any("{port}" in part for part in self._command):
            raise BackendError("app.command: must contain {port} so each pod gets its own port")
        self._log_dir = log_dir
        self._app_env = dict(app_env or {})
        self.workdir = workdir  # the app's (and its exec hooks') working directory; None: ours

    def prepare(self, args: list[str] | None = None) -> None:
        """Before a deploy (of a variant with ``args``): the program and the working directory
        must exist, and the log directory is created."""
        program = self._command[0]
        if shutil.which(program, path=self._search_path()) is None:
            raise BackendError(f"app command not found: {program!r}")
        if self.workdir is not None and not Path(self.workdir).is_dir():
            raise BackendError(f"app.workdir: no such directory: {self.workdir!r}")
        if args is not None and not any("{port}" in part for part in args):
            raise BackendError("variant args: must contain {port} so each pod gets its own port")
        if self._log_dir is not None:
            self._log_dir.mkdir(parents=True, exist_ok=True)

    def _search_path(self) -> str | None:
        """Where the program is looked up: the app's PATH if it sets one."""
        return self._app_env.get("PATH")

    def argv(self, host: str, port: int, args: list[str] | None = None) -> list[str]:
        """The command line of a pod at ``host:port``; ``args`` replace the command's own."""
        command = self._command if args is None else [self._command[0], *args]
        return self.fill(command, host, port)

    @staticmethod
    def fill(template: list[str], host: str, port: int) -> list[str]:
        """``template`` with ``{host}`` and ``{port}`` replaced by the pod's address."""
        return [part.replace("{host}", host).replace("{port}", str(port)) for part in template]

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
