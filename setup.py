"""setuptools' package list: the harness package, and the repository's sample-app/, manifests/
and cluster-local/ mapped into it as package data (harness.sample_app, harness.sample_manifests,
harness.cluster_local), so `pip install <git URL or path>` ships them. Everything else about the
distribution is in pyproject.toml; code finds these files through harness/packaged.py.

Why here and not in pyproject.toml: setuptools' declarative `packages.find` ignores
`package-dir`, so a mapping there needs a hand-kept list of every package, including each data
folder that looks importable (manifests/base, manifests/overlays/naive, ...), which would go stale
as folders are added. Discovery here keeps the list whole.
"""

from setuptools import find_namespace_packages, setup

# The folders keep their place at the repository's root (README, Makefile, tests and
# `kubectl apply -k manifests/...` use them there); installed, they live inside harness/.
SHIPPED = {
    "harness.sample_app": "sample-app",
    "harness.sample_manifests": "manifests",
    "harness.cluster_local": "cluster-local",
}
_NOT_SHIPPED = ["*__pycache__*"]


def _packages() -> list[str]:
    packages = find_namespace_packages(include=["harness", "harness.*"], exclude=_NOT_SHIPPED)
    for package, folder in SHIPPED.items():
        inside = find_namespace_packages(where=folder, exclude=_NOT_SHIPPED)
        packages += [package, *(f"{package}.{sub}" for sub in inside)]
    return packages


PACKAGES = _packages()

setup(
    packages=PACKAGES,
    package_dir=SHIPPED,
    package_data={
        "harness": ["py.typed", "report/templates/*", "scenarios/*.yaml", "load/*.py"],
        # Every file of the shipped folders (a script's executable bit is kept).
        **{package: ["*"] for package in PACKAGES if package.startswith(tuple(SHIPPED))},
    },
)
