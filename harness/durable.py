"""Writing the run folder's files so that a failed write is never silent and what was promised
survives the machine going down.

- ``write_all``: one whole buffer to a descriptor, or ``WriteError`` naming the file and the
  error (a full disk, a read-only or vanished folder, an I/O error).
- ``sync_file`` / ``sync_dir``: ``fsync`` of a file's data, and of the folder that names a new
  file (without it a crash can lose the file's name although its data is on disk). They are
  called at a few points only (a file the run finished, run.json and summary.json when written),
  never per record: README.md "When a run is cut short" says which.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import WriteError


def write_all(fd: int, data: bytes, path: Path) -> None:
    """Writes every byte of ``data`` (a short write is continued); ``WriteError`` on failure,
    after which the file may end in a torn line, which every reader skips."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise WriteError(path, exc) from None


def sync_file(fd: int, path: Path) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        raise WriteError(path, exc) from None


def sync_path(path: Path) -> None:
    """fsync of a file another process wrote (and of its folder, which names it)."""
    _sync_opened(path, os.O_RDONLY | os.O_CLOEXEC)
    sync_dir(path.parent)


def sync_dir(folder: Path) -> None:
    """Makes the names of the files created in ``folder`` durable."""
    _sync_opened(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _sync_opened(path: Path, flags: int) -> None:
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise WriteError(path, exc) from None
    try:
        sync_file(fd, path)
    finally:
        os.close(fd)


def write_bytes_durably(path: Path, data: bytes) -> None:
    """``path`` replaced whole by ``data``, via a temp file and rename, both fsynced: a reader
    never sees half a file, and a crash leaves the old file or the new one. On failure the temp
    file is removed and ``WriteError`` raised."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise WriteError(path, exc) from None
    try:
        try:
            write_all(fd, data, path)
            sync_file(fd, path)
        finally:
            os.close(fd)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise WriteError(path, exc) from None
    except WriteError:
        tmp.unlink(missing_ok=True)
        raise
    sync_dir(path.parent)


class ReservedNotes:
    """A few lines that can still be written when the disk is full: the file's space is reserved
    (``RESERVE`` bytes, zeros) when it is made, and each note rewrites it in place. What a run
    could not write goes here, so a later ``harness report`` can say what is missing. Best effort
    by nature: a note that does not fit or cannot be written is dropped (the run's one-line error
    says the same on the terminal)."""

    RESERVE = 4096

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.posix_fallocate(self._fd, 0, self.RESERVE)
        except OSError:
            os.close(self._fd)
            raise

    def add(self, line: str) -> None:
        self.lines.append(line)
        text = "".join(f"{one}\n" for one in self.lines).encode()
        if len(text) > self.RESERVE:
            return
        try:
            os.pwrite(self._fd, text, 0)
            os.fdatasync(self._fd)
        except OSError:
            return

    def close(self) -> None:
        """Closes the file; removes it when no note was written (a run without a fault)."""
        os.close(self._fd)
        if not self.lines:
            self.path.unlink(missing_ok=True)

    @staticmethod
    def read(path: Path) -> list[str]:
        """The notes in a reserved file (none if it is missing or unreadable)."""
        try:
            text = path.read_bytes().split(b"\0", 1)[0].decode("utf-8", "replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line]
