"""Installing a Debian package a test needs, when it is missing and we may (root, apt-get)."""

from __future__ import annotations

import os
import shutil
import subprocess


def apt_install(package: str) -> str:
    """apt-get install ``package``; returns why not, or "" when it worked."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "not root, so apt-get cannot install it"
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Another apt-get (a colleague's test, unattended upgrades) may hold the lock for a while.
    lock = ["-o", "DPkg::Lock::Timeout=300"]
    for argv in (
        ["apt-get", *lock, "update"],
        ["apt-get", *lock, "install", "-y", "--no-install-recommends", package],
    ):
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(argv)} failed: {exc}"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"{' '.join(argv)} exited {done.returncode}: {tail[0]}"
    return ""
