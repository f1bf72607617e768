"""The user's app images on clusters without a registry: what to load, and what an archive holds.

A scenario names them in ``app:`` (harness.scenario.App):

- ``images``: references the nodes need. kind loads each from this machine's Docker (``kind load
  docker-image``); the local cluster checks that its containerd has each (it cannot pull: its
  network namespace has no route out).
- ``image_archive``: a ``docker save`` archive or an OCI image layout as a tar, read here before
  any cluster sees it (:func:`read_archive`): the local cluster imports it into its containerd,
  kind loads it with ``kind load image-archive``.

:func:`load_app_images` is what the kube backend calls once the cluster is up and before it
deploys anything. On ``--backend kube`` (any context) nothing is loaded: the nodes must pull the
images themselves, and a warning says so. Every failure is one line (a BackendError).
"""

from __future__ import annotations

import json
import logging
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.appspec import App
from harness.backends.clusters import ClusterProvisioner
from harness.errors import BackendError, shown

log = logging.getLogger(__name__)

# What containerd names an image by, in an OCI layout's index (its own key first, as it does).
_OCI_NAME_KEYS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
_MAX_INDEX_BYTES = 1 << 20  # manifest.json / index.json: a few hundred bytes per image


@dataclass(frozen=True, slots=True)
class AppImages:
    """The scenario's images to load: references, and one archive (absolute, or None)."""

    images: tuple[str, ...] = ()
    archive: Path | None = None

    @classmethod
    def from_app(cls, app: App) -> AppImages:
        archive = Path(app.image_archive) if app.image_archive else None
        return cls(tuple(app.images), archive)

    def __bool__(self) -> bool:
        return bool(self.images) or self.archive is not None


NO_IMAGES = AppImages()


@dataclass(frozen=True, slots=True)
class ImageArchive:
    """An image archive that was read and found to hold at least one named image."""

    path: Path
    format: Literal["docker-save", "oci-layout"]
    refs: tuple[str, ...]  # normalized, as containerd lists them (docker.io/library/nginx:1.25)


def load_app_images(cluster: ClusterProvisioner | None, wanted: AppImages) -> list[str]:
    """Loads the scenario's images into a provisioned cluster; returns the references it has.

    ``cluster`` None is the plain kube backend: nothing is loaded, and a warning says so when the
    scenario names images. Raises a one-line BackendError when an image cannot be loaded."""
    if not wanted:
        return []
    if cluster is None:
        log.warning(
            "kube: app.images and app.image_archive are loaded only on --backend kind and local; "
            "on this context the nodes must be able to pull the images themselves"
        )
        return []
    refs = cluster.load_images(wanted.images, wanted.archive)
    log.info("%s: images ready: %s", cluster.name, ", ".join(refs))
    return refs


def read_archive(path: Path, who: str) -> ImageArchive:
    """What the archive at ``path`` holds; a one-line BackendError (prefixed ``who``) when it is
    missing, unreadable, not a tar, or neither a ``docker save`` archive nor an OCI layout, or
    names no image."""
    where = f"{who}: app.image_archive {path}"
    if not path.is_file():
        raise BackendError(f"{where}: no such file")
    try:
        with tarfile.open(path, "r:*") as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
            if "manifest.json" in members:
                refs = _docker_save_refs(_json_member(tar, members["manifest.json"], where), where)
                form: Literal["docker-save", "oci-layout"] = "docker-save"
            elif "index.json" in members and "oci-layout" in members:
                refs = _oci_refs(_json_member(tar, members["index.json"], where), where)
                form = "oci-layout"
            else:
                raise BackendError(
                    f"{where}: not an image archive (no manifest.json of `docker save`, nor the "
                    "index.json and oci-layout of an OCI layout)"
                )
    except (tarfile.TarError, EOFError):
        raise BackendError(f"{where}: not an image archive (not a tar file)") from None
    except OSError as exc:
        raise BackendError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    if not refs:
        raise BackendError(
            f"{where}: names no image (save it with a tag: `docker save -o FILE NAME:TAG`)"
        )
    return ImageArchive(path, form, tuple(dict.fromkeys(normalize_ref(r) for r in refs)))


def _json_member(tar: tarfile.TarFile, member: tarfile.TarInfo, where: str) -> Any:
    if member.size > _MAX_INDEX_BYTES:
        raise BackendError(f"{where}: {member.name} is {member.size} bytes, not an image index")
    f = tar.extractfile(member)
    if f is None:  # pragma: no cover - members are regular files
        raise BackendError(f"{where}: {member.name} cannot be read")
    try:
        return json.loads(f.read())
    except ValueError:
        raise BackendError(f"{where}: {member.name} is not JSON") from None


def _docker_save_refs(manifest: Any, where: str) -> list[str]:
    if not isinstance(manifest, list) or not all(isinstance(m, dict) for m in manifest):
        raise BackendError(f"{where}: manifest.json is not a list of images")
    refs: list[str] = []
    for image in manifest:
        tags = image.get("RepoTags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise BackendError(f"{where}: manifest.json: RepoTags is not a list of names")
        refs.extend(tags)
    return refs


def _oci_refs(index: Any, where: str) -> list[str]:
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list):
        raise BackendError(f"{where}: index.json has no manifests list")
    refs = []
    for entry in manifests:
        notes = (entry.get("annotations") if isinstance(entry, dict) else None) or {}
        name = next((notes[k] for k in _OCI_NAME_KEYS if isinstance(notes.get(k), str)), None)
        if not name:
            continue
        if ":" not in name and "/" not in name:
            # A bare tag, as the OCI spec allows: ctr would name the image "import-<date>:TAG".
            raise BackendError(
                f"{where}: index.json names an image by the tag {shown(name)} alone; name it in "
                "full (org.opencontainers.image.ref.name: NAME:TAG)"
            )
        if name != normalize_ref(name):
            # ctr keeps an OCI layout's names as written, while the kubelet (through the CRI)
            # knows each image by its full name: an image named "web:1" would be listed there
            # under a name containerd does not have, and no pod could start from it.
            raise BackendError(
                f"{where}: index.json names an image {shown(name)}; name it in full, as the "
                f"kubelet does: {shown(normalize_ref(name))}"
            )
        refs.append(name)
    return refs


def normalize_ref(ref: str) -> str:
    """An image reference as containerd and the kubelet spell it in full: ``nginx`` is
    ``docker.io/library/nginx:latest``, ``me/app:1`` is ``docker.io/me/app:1``, and a reference
    whose first part looks like a host (a dot, a port, or ``localhost``) keeps it; with a digest,
    the tag goes."""
    name, at, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    tagged = ":" in last
    if tagged and at:  # a digest names the image exactly: containerd drops the tag
        name, tagged = name.rsplit(":", 1)[0], False
    first, slash, rest = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        domain, path = "docker.io", name
    else:
        domain, path = first, rest
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path
    full = f"{domain}/{path}"
    if not tagged and not at:
        full += ":latest"
    return full + (f"@{digest}" if at else "")


def absent(wanted: Sequence[str], present: Sequence[str]) -> list[str]:
    """The references of ``wanted`` that ``present`` (normalized names) lacks, as given."""
    have = set(present)
    return [ref for ref in wanted if normalize_ref(ref) not in have]


def describe(refs: Sequence[str]) -> str:
    """A short list of references for a one-line message."""
    shown_refs = ", ".join(shown(r) for r in refs[:3])
    return shown_refs + (f" and {len(refs) - 3} more" if len(refs) > 3 else "")
