"""A node's containerd, through ``ctr``: list, import and remove images in the CRI's namespace.

The local cluster has no registry: its images are imported into containerd's ``k8s.io``
namespace, where the kubelet (through the CRI) looks for them. ``ctr`` talks to containerd's
socket only, so it needs no network namespace (cluster-local/import-images.sh does the same).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.backends.clusters.images import ImageArchive, describe
from harness.backends.clusters.tool import run_tool
from harness.errors import BackendError

NAMESPACE = "k8s.io"  # the CRI's containerd namespace
LIST_TIMEOUT_S = 30.0
IMPORT_TIMEOUT_S = 600.0  # a few hundred MB from disk on a busy machine


@dataclass(frozen=True, slots=True)
class Containerd:
    """One containerd, reached at ``socket``; ``who`` starts its error lines."""

    socket: Path
    who: str = "containerd"

    def images(self) -> list[str]:
        """Every image reference in the namespace, as containerd names them."""
        return list(self.targets())

    def targets(self) -> dict[str, str]:
        """Each image reference in the namespace, and the digest of what it names."""
        out = self._ctr("list images", ["images", "ls"], LIST_TIMEOUT_S)
        rows = [line.split() for line in out.splitlines()[1:]]  # REF TYPE DIGEST SIZE ...
        return {row[0]: row[2] for row in rows if len(row) >= 3}

    def import_archive(self, archive: ImageArchive) -> list[str]:
        """Imports ``archive`` and checks that every reference it names is now present; returns
        them. On failure, removes what this import added, and raises a one-line BackendError."""
        before = set(self.images())
        try:
            self._ctr(
                f"import {archive.path}", ["images", "import", str(archive.path)], IMPORT_TIMEOUT_S
            )
            added = sorted(set(self.images()) - before)
            missing = [ref for ref in archive.refs if ref not in before and ref not in added]
            if missing:
                raise BackendError(
                    f"{self.who}: `ctr images import {archive.path}` did not make "
                    f"{describe(missing)} (it made: {describe(added) or 'none'})"
                )
        except BaseException:
            # A refused archive may still have named some images (ctr imports one at a time).
            with contextlib.suppress(BackendError):
                self.remove(sorted(set(self.images()) - before))
            raise
        return list(archive.refs)

    def remove(self, refs: Sequence[str]) -> None:
        """Removes image references, and the image IDs (``sha256:...``) the CRI added for them
        once no name is left for their image (an ID alone would keep it); containerd's garbage
        collection then frees the content."""
        if not refs:
            return
        before = self.targets()
        gone = {before[ref] for ref in refs if ref in before}
        self._ctr(f"remove {describe(refs)}", ["images", "rm", *refs], LIST_TIMEOUT_S)
        left = self.targets()
        named = {digest for ref, digest in left.items() if not ref.startswith("sha256:")}
        ids = [r for r, d in left.items() if r.startswith("sha256:") and d in gone - named]
        if ids:
            self._ctr(f"remove {describe(ids)}", ["images", "rm", *ids], LIST_TIMEOUT_S)

    def _ctr(self, what: str, args: Sequence[str], timeout_s: float) -> str:
        """Runs one ctr command; its stdout, or a BackendError with its last line of output."""
        ctr = shutil.which("ctr")
        if ctr is None:
            raise BackendError(f"{self.who}: cannot {what}: `ctr` (containerd's CLI) not on PATH")
        argv = [ctr, "--address", str(self.socket), "-n", NAMESPACE, *args]
        return run_tool(self.who, what, argv, timeout_s, label=" ".join(["ctr", *args[:2]]))
