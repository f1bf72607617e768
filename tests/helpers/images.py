"""Images of servers not written for drainlab, for tests on the local cluster.

:func:`test_image` builds them (cluster-local/build-test-images.sh: Debian's packages on the
cached Python base layer, no Docker) once per content and returns the archive, for
``app.image_archive``, and the reference the archive names, for a manifest's ``image:``:

- ``nginx``: Debian's nginx on port 8080 (``/`` a static page, ``/slow`` about one second);
  SIGTERM is its fast shutdown, SIGQUIT its graceful one.
- ``lighttpd``: Debian's lighttpd on port 8080 (``/`` a static page); SIGTERM is its immediate
  shutdown (connections cut), SIGINT its graceful one.
- ``http-server``: ``python3 -m http.server 8080``; as its container's PID 1, without a SIGTERM
  handler, it ignores SIGTERM (the kernel drops default-action signals to a namespace's init).

:func:`oci_layout` rewrites an archive as an OCI image layout, :func:`hollow_docker_save` writes
one that only looks like an archive, and :func:`retagged` copies one under another name, so that
a test can import and remove an image of its own without touching one that another test (or a
colleague's run) uses.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from harness.backends.clusters import local
from helpers.paths import REPO

BUILDER = REPO / "cluster-local" / "build-test-images.sh"
NAMES = ("nginx", "lighttpd", "http-server")


@functools.cache
def test_image(name: str) -> tuple[Path, str]:
    """(archive, image reference) of test image ``name``, built if needed; skips the test on a
    machine that cannot build it (not Linux, not root), fails it when the build fails."""
    if name not in NAMES:
        raise ValueError(f"no test image {name!r} (known: {', '.join(NAMES)})")
    reason = local.unsupported_reason()
    if reason is not None:
        pytest.skip(reason)
    done = subprocess.run(
        ["bash", str(BUILDER), name], capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"{BUILDER.name} {name} failed: {done.stderr.strip()}")
    archive, ref = done.stdout.splitlines()[-1].split(" ")
    return Path(archive), ref


test_image.__test__ = False  # type: ignore[attr-defined]  # a helper, whatever imports it


def write_tar(path: Path, files: dict[str, bytes]) -> Path:
    """A tar at ``path`` holding ``files`` (name: content)."""
    with tarfile.open(path, "w") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return path


def hollow_docker_save(path: Path, tags: list[str]) -> Path:
    """An archive that looks like ``docker save`` output naming ``tags``, but whose config and
    layer are missing: a reader of names accepts it, containerd refuses it."""
    manifest = [{"Config": "c.json", "RepoTags": tags, "Layers": ["l/layer.tar"]}]
    return write_tar(path, {"manifest.json": json.dumps(manifest).encode()})


def oci_layout(archive: Path, ref: str, dest: Path) -> Path:
    """The one image of docker-save ``archive`` as an OCI image layout tar at ``dest``, its index
    naming it ``ref`` (``org.opencontainers.image.ref.name``), as ``skopeo copy`` writes one."""
    with tarfile.open(archive) as src:

        def read(name: str) -> bytes:
            f = src.extractfile(name)
            assert f is not None, name
            return f.read()

        (image,) = json.loads(read("manifest.json"))
        blobs: dict[str, bytes] = {}

        def blob(data: bytes, media_type: str) -> dict[str, object]:
            digest = hashlib.sha256(data).hexdigest()
            blobs[f"blobs/sha256/{digest}"] = data
            return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

        config = blob(read(image["Config"]), "application/vnd.oci.image.config.v1+json")
        layers = [blob(read(n), "application/vnd.oci.image.layer.v1.tar") for n in image["Layers"]]
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": layers,
    }
    entry = blob(json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    entry["annotations"] = {"org.opencontainers.image.ref.name": ref}
    index = {"schemaVersion": 2, "manifests": [entry]}
    return write_tar(
        dest,
        {
            "oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
            "index.json": json.dumps(index).encode(),
            **blobs,
        },
    )


def retagged(archive: Path, ref: str, dest: Path) -> Path:
    """A copy of docker-save ``archive`` at ``dest`` whose one image is named ``ref`` only."""
    with tarfile.open(archive) as src, tarfile.open(dest, "w") as out:
        for member in src.getmembers():
            data = src.extractfile(member) if member.isfile() else None
            if member.name.removeprefix("./") == "manifest.json" and data is not None:
                manifest = json.loads(data.read())
                for image in manifest:
                    image["RepoTags"] = [ref]
                body = json.dumps(manifest).encode()
                member.size = len(body)
                data = io.BytesIO(body)
            out.addfile(member, data)
    return dest
