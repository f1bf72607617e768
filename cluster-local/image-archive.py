#!/usr/bin/env python3
"""Write a docker-save style image archive from layer tars, for `ctr images import`.

There is no registry and no image builder on these machines, so images are assembled by hand:
a manifest.json naming the tags, one image config JSON, and each layer as an uncompressed tar.
Layers are hard-linked (or copied) in, never rewritten. Standard library only, so it runs on
Debian's python3 before the project's venv exists.

usage: image-archive.py OUT.tar --tag NAME:TAG [--tag ...] --cmd JSON [--env K=V ...]
                        [--workdir DIR] LAYER.tar [LAYER.tar ...]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path


def sha256_of(path: Path) -> str:
    """Digest of a layer tar (its diff_id), cached next to it for the big base layer."""
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.exists() and sidecar.stat().st_mtime >= path.stat().st_mtime:
        return sidecar.read_text().strip()
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with contextlib.suppress(OSError):  # a read-only cache still works, only slower
        sidecar.write_text(digest + "\n")
    return digest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("layers", type=Path, nargs="+")
    p.add_argument("--tag", action="append", required=True)
    p.add_argument("--cmd", required=True, help='JSON list, e.g. ["/pause"]')
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--workdir", default="/")
    a = p.parse_args()

    diff_ids = [sha256_of(layer) for layer in a.layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *a.env],
            "Cmd": json.loads(a.cmd),
            "WorkingDir": a.workdir,
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in diff_ids]},
        "history": [{"created_by": f"drainlab cluster-local: {layer.name}"} for layer in a.layers],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"

    with tempfile.TemporaryDirectory(dir=a.out.parent) as tmp:
        root = Path(tmp)
        names = []
        for layer, digest in zip(a.layers, diff_ids, strict=True):
            (root / digest).mkdir(exist_ok=True)
            dest = root / digest / "layer.tar"
            try:
                os.link(layer, dest)
            except OSError:
                shutil.copyfile(layer, dest)
            names.append(f"{digest}/layer.tar")
        (root / config_name).write_bytes(config_bytes)
        manifest = [{"Config": config_name, "RepoTags": a.tag, "Layers": names}]
        (root / "manifest.json").write_text(json.dumps(manifest))
        part = a.out.with_name(a.out.name + ".part")
        with tarfile.open(part, "w") as tar:
            for entry in sorted(os.listdir(root)):
                tar.add(root / entry, arcname=entry)
        part.replace(a.out)
    print(config_name.removesuffix(".json"))


if __name__ == "__main__":
    main()
