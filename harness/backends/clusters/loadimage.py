"""The load pods' image for the local cluster (``traffic.from: cluster``), built without Docker.

:func:`load_image_archive` runs cluster-local/build-load-image.sh with this Python (the harness's
venv: the image gets its locust and orjson versions, and their dependencies', and this harness
package) and returns the image archive and the reference it names, ``drainlab/load:<key>``. The
key covers everything that goes in, so the archive is built once per content (the first time in
seconds to a minute, after that it is found in the cache at once) and a changed harness file gives
a new image. The caller imports it: ``LocalProvisioner().load_images([ref], archive)``.

Every failure is a :class:`BackendError` with one line: the script's own error line (no base
layer, a pip that cannot download, an image that cannot import locust...), or why it could not
run at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from harness.backends.clusters.local import SCRIPTS_DIR, Progress, unsupported_reason
from harness.errors import BackendError, one_line

BUILDER = "build-load-image.sh"
BUILD_TIMEOUT_S = 900.0  # a cold build takes seconds to a minute; pip's own timeout is 180 s
STOP_GRACE_S = 30.0  # how long a stopped build may take to remove its work folder

_WHO = "local cluster: the load image"
_ERROR = "drainlab-local: error: "


def build_command(python: str | None = None) -> list[str]:
    """The command that builds the image for ``python`` (default: this one)."""
    return ["bash", str(SCRIPTS_DIR / BUILDER), python or sys.executable]


def load_image_archive(
    progress: Progress | None = None, *, timeout_s: float = BUILD_TIMEOUT_S
) -> tuple[Path, str]:
    """Builds the load image if its archive is not cached yet; returns (archive, reference).

    ``progress`` gets the script's lines as they come (a build says what it builds, and how long
    it took). BackendError with one line when it fails or takes longer than ``timeout_s``; an
    interrupted or timed-out build is stopped, and removes what it was making."""
    reason = unsupported_reason()
    if reason is not None:
        raise BackendError(f"{_WHO} cannot be built: {reason}")
    command = build_command()
    if not Path(command[1]).is_file():
        raise BackendError(f"{_WHO} cannot be built: {command[1]} not found (reinstall drainlab)")
    if shutil.which("bash") is None:
        raise BackendError(f"{_WHO} cannot be built: bash is not on PATH")
    lines: list[str] = []
    timed_out = threading.Event()
    with tempfile.TemporaryFile("w+") as out:
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,  # one line; a file, so that only stderr needs reading
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
                start_new_session=True,  # its pip and tar are stopped with it
            )
        except OSError as e:
            raise BackendError(f"{_WHO} cannot be built: {e.strerror or e}") from e

        def too_long() -> None:
            timed_out.set()
            _stop(proc)

        timer = threading.Timer(timeout_s, too_long)
        timer.start()
        try:
            assert proc.stderr is not None
            with proc.stderr:
                for raw in proc.stderr:
                    lines.append(raw.rstrip("\n"))
                    if progress is not None:
                        progress(lines[-1])
            code = proc.wait()
        except BaseException:
            _stop(proc)
            raise
        finally:
            timer.cancel()
        out.seek(0)
        stdout = out.read().splitlines()
    if timed_out.is_set():
        raise BackendError(f"{_WHO}: {BUILDER} did not finish in {timeout_s:g} s; stopped")
    if code != 0:
        raise BackendError(_error_line(lines, code))
    return _parse_result(stdout)


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the script's process group (it cleans up on it), SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(STOP_GRACE_S)
            return


def _error_line(lines: list[str], code: int) -> str:
    """The script's last error line, else its last line at all."""
    said = [line for line in lines if line.strip()]
    errors = [line.removeprefix(_ERROR) for line in said if line.startswith(_ERROR)]
    if errors:
        return one_line(f"{_WHO}: {errors[-1].strip()}")
    tail = said[-1].strip() if said else "no output"
    return one_line(f"{_WHO}: {BUILDER} failed (exit {code}): {tail}")


def _parse_result(stdout: list[str]) -> tuple[Path, str]:
    """The last line, ``ARCHIVE REF`` (the archive's path may hold spaces, the reference not)."""
    last = stdout[-1].strip() if stdout else ""
    archive, _, ref = last.rpartition(" ")
    if not archive or not ref.startswith("drainlab/load:"):
        raise BackendError(one_line(f"{_WHO}: {BUILDER} did not end with 'ARCHIVE REF': {last!r}"))
    path = Path(archive)
    if not path.is_file():
        raise BackendError(one_line(f"{_WHO}: {BUILDER} named {path}, which is not a file"))
    return path, ref
