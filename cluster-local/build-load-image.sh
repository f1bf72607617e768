#!/usr/bin/env bash
# Build the load image, drainlab/load:KEY, for `traffic.from: cluster`: the pods of locust's master
# and workers run it. Without Docker, as an archive for `ctr images import` (docker-save format):
#
#   1. the cached Python base layer (build-images.sh: bookworm minbase, python3 3.11, aiohttp);
#   2. locust and orjson, at the versions PYTHON has, and their dependencies at the versions
#      PYTHON has too (its installed closure of both, as pip constraints), installed by PYTHON's
#      pip into /usr/local/lib/python3.11/dist-packages: wheels only, chosen for the image's
#      Python and glibc (cp311, manylinux up to 2.36), whatever this machine runs; console
#      scripts in /usr/local/bin; byte-compiled by the image's own python3;
#   3. drainlab's harness package (its .py files and py.typed, nothing else of the repository)
#      at /opt/drainlab/harness, byte-compiled the same way.
#
# Config: PYTHONPATH=/opt/drainlab, PYTHONUNBUFFERED=1, workdir /opt/drainlab, cmd
# `python3 -m locust --help` (the harness gives each pod its own command).
#
# usage: build-load-image.sh [--key] PYTHON
#   PYTHON   the harness's venv python: asked for the versions, and its pip installs them.
#   --key    print the image's key and stop (nothing is built; no root needed).
# The last line of stdout is "ARCHIVE REF" (REF: drainlab/load:KEY). The key covers everything
# that goes in: this script, image-archive.py, the base layer's digest, the pinned packages and
# the harness files (names and contents), so any changed harness file gives a new image. The
# archive is cached in $DL_IMAGES/drainlab-load-images/ under the key, the packages layer under
# a key of its own (a harness change rebuilds only the small harness layer).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
umask 022  # the image's files must be readable by any user a pod runs as

IMAGE_PYTHON=3.11  # bookworm's python3 (the base layer's)
IMAGE_GLIBC=36     # bookworm's glibc 2.36: the newest manylinux_2_N wheel the image can run
SITE="usr/local/lib/python$IMAGE_PYTHON/dist-packages"  # where Debian's python3 looks first

key_only=0
if [[ "${1:-}" == --key ]]; then
  key_only=1
  shift
fi
python="${1:-}"
[[ $# -eq 1 && -n "$python" ]] || die "usage: $0 [--key] PYTHON (the harness venv's python)"
command -v -- "$python" >/dev/null || die "no python $python"

BASE_LAYER="$DL_IMAGES/python-base-$DL_SUITE.layer.tar"
[[ -s "$BASE_LAYER" ]] || die "no base layer $BASE_LAYER (build-images.sh makes it; up.sh runs that)"
OUT="$DL_IMAGES/drainlab-load-images"

# The harness package that goes with this script: ../harness in a checkout; installed (pip), the
# scripts are harness/cluster_local/ and the package is their parent, which also holds the
# repository folders setup.py ships inside it (they are not the harness's code).
if [[ -f "$DL_REPO/harness/__init__.py" ]]; then
  harness="$DL_REPO/harness"
elif [[ "${DL_REPO##*/}" == harness && -f "$DL_REPO/__init__.py" ]]; then
  harness="$DL_REPO"
else
  die "no harness package beside $DL_DIR"
fi
mapfile -t harness_files < <(cd "$harness" && find . \
  \( -name __pycache__ -o -path ./cluster_local -o -path ./sample_app -o -path ./sample_manifests \) -prune \
  -o -type f \( -name '*.py' -o -name py.typed \) -printf '%P\n' | LC_ALL=C sort)
((${#harness_files[@]} > 0)) || die "no .py files in $harness"
[[ -f "$harness/load/locustfile.py" ]] || die "$harness has no load/locustfile.py"
harness_hash="$(cd "$harness" && sha256sum -- "${harness_files[@]}" | sha256sum | cut -c1-64)"

# locust and orjson as PYTHON has them, and every package they need (markers evaluated, extras
# followed), at PYTHON's versions: the image runs what the harness was tested with.
pins="$("$python" - 2>&1 <<'EOF'
from importlib import metadata

for name in ("locust", "orjson"):
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise SystemExit(f"it has no {name} installed") from None

from packaging.requirements import Requirement  # locust needs it (through pytest)
from packaging.utils import canonicalize_name

todo, seen = [("locust", ()), ("orjson", ())], {}
while todo:
    name, extras = todo.pop()
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise SystemExit(f"it has no {name} installed") from None
    key = canonicalize_name(dist.metadata["Name"])
    followed = seen.setdefault(key, (dist.version, set()))[1]
    if key in seen and followed and set(extras) <= followed:
        continue
    followed.update(extras, [""])
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in followed):
            todo.append((req.name, tuple(req.extras)))
for key, (version, _) in sorted(seen.items()):
    print(f"{key}=={version}")
EOF
)" || die "$python cannot say its locust and orjson versions: $(tail -n1 <<<"$pins")"
grep -qvE '^[a-z0-9._-]+==[^[:space:]]+$' <<<"$pins" && die "$python said more than its packages: $(grep -vE '^[a-z0-9._-]+==' <<<"$pins" | tail -n1)"
locust_version="$(sed -n 's/^locust==//p' <<<"$pins")"
orjson_version="$(sed -n 's/^orjson==//p' <<<"$pins")"

if [[ -s "$BASE_LAYER.sha256" && ! "$BASE_LAYER" -nt "$BASE_LAYER.sha256" ]]; then
  base_digest="$(cat "$BASE_LAYER.sha256")"
else
  base_digest="$(sha256sum "$BASE_LAYER" | cut -d' ' -f1)"
fi
packages_key="$({ cat "${BASH_SOURCE[0]}"; echo "$base_digest"; echo "$pins"; } | sha256sum | cut -c1-16)"
key="$({ echo "$packages_key"; cat "$DL_DIR/image-archive.py"; echo "$harness_hash"; } | sha256sum | cut -c1-16)"
ref="drainlab/load:$key"
if ((key_only)); then
  printf '%s\n' "$key"
  exit 0
fi

need_root  # writes below the cache; the checks run in a chroot
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
archive="$OUT/load-$key.tar"
packages_layer="$OUT/packages-$packages_key.layer.tar"
if [[ -s "$archive" ]]; then
  touch -c "$archive" "$packages_layer" "$packages_layer.sha256"  # handed out now: see the pruning below
  printf '%s %s\n' "$archive" "$ref"
  exit 0
fi

start=$SECONDS
work="$(mktemp -d "$OUT/build.XXXXXX")"
always 'remove_tree "$work"'
root="$work/root"  # the image's whole file system, to run its python3 in
mkdir -p "$root"
tar --numeric-owner -xf "$BASE_LAYER" -C "$root" || die "cannot unpack $BASE_LAYER"
[[ -x "$root/usr/bin/python$IMAGE_PYTHON" ]] || die "the base layer has no python$IMAGE_PYTHON"

# The image's python3 in the image's file system, with nothing of this machine's environment.
in_image() {
  chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONPATH=/opt/drainlab HOME=/root "$@"
}
# Byte-compiled against each file's hash, not its time: the layers' times are all set to 0.
compile() { in_image python3 -m compileall -q --invalidation-mode checked-hash "$@"; }
# A layer of the given top-level folders of $root: fixed owners, times and order, so the same
# files give the same layer (and containerd keeps one copy of it).
layer_of() {  # OUT DIR...
  local out="$1"
  shift
  tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$root" -cf "$out" "$@"
}

if [[ -s "$packages_layer" ]]; then
  tar --numeric-owner -xf "$packages_layer" -C "$root" || die "cannot unpack $packages_layer"
else
  say "building the packages of $ref: locust==$locust_version orjson==$orjson_version and their dependencies" >&2
  # Only this layer may write to /usr/local: the base has nothing there but empty folders.
  [[ -z "$(find "$root/usr/local" -type f -print -quit)" ]] || die "the base layer has files in /usr/local"
  platforms=()
  for ((n = IMAGE_GLIBC; n >= 5; n--)); do platforms+=(--platform "manylinux_2_${n}_x86_64"); done
  platforms+=(--platform manylinux2014_x86_64 --platform linux_x86_64)
  grep -v -e '^locust==' -e '^orjson==' <<<"$pins" >"$work/constraints.txt"
  "$python" -m pip install --disable-pip-version-check --no-input --progress-bar off \
    --root-user-action=ignore --no-warn-script-location --no-compile \
    --only-binary=:all: --implementation cp --python-version "$IMAGE_PYTHON" \
    --abi "cp${IMAGE_PYTHON/./}" "${platforms[@]}" --target "$root/$SITE" \
    -c "$work/constraints.txt" "locust==$locust_version" "orjson==$orjson_version" \
    >"$work/pip.log" 2>&1 || die "pip install failed: $(grep -v '^\s*$' "$work/pip.log" | tail -n1)"
  # --target leaves console scripts in SITE/bin, started by PYTHON: they belong in /usr/local/bin,
  # started by the image's python3.
  if [[ -d "$root/$SITE/bin" ]]; then
    for script in "$root/$SITE/bin"/*; do
      sed '1s|^#!.*python.*$|#!/usr/bin/python3|' "$script" >"$root/usr/local/bin/${script##*/}"
      chmod 0755 "$root/usr/local/bin/${script##*/}"
    done
    rm -rf "${root:?}/$SITE/bin"
  fi
  compile "/$SITE" >"$work/compile.log" 2>&1 || die "byte-compiling the packages failed: $(tail -n1 "$work/compile.log")"
  got="$(in_image python3 -c 'import locust, orjson, gevent, zmq; print(locust.__version__, orjson.__version__)' 2>&1)" ||
    die "the image cannot import locust, orjson, gevent and zmq: $(tail -n1 <<<"$got")"
  [[ "$got" == "$locust_version $orjson_version" ]] || die "the image has locust and orjson $got, not $locust_version $orjson_version"
  got="$(in_image locust --version 2>&1)" || die "the image's locust command fails: $(tail -n1 <<<"$got")"
  layer_of "$work/packages.layer.tar" usr/local
  mv "$work/packages.layer.tar" "$packages_layer"
fi

say "building $ref: the harness package ($harness, ${#harness_files[@]} files)" >&2
mkdir -p "$root/opt/drainlab/harness"
(cd "$harness" && cp --parents -- "${harness_files[@]}" "$root/opt/drainlab/harness/") || die "cannot copy $harness"
compile /opt/drainlab/harness >"$work/compile.log" 2>&1 || die "byte-compiling the harness failed: $(tail -n1 "$work/compile.log")"
# What the locust processes import (the locustfile reads its settings from these at import).
got="$(in_image DRAINLAB_RECORDS=/tmp/r DRAINLAB_STATUS=/tmp/s DRAINLAB_TRAFFIC='{}' python3 -c \
  'import harness.load.locustfile, harness.load.distributed, locust; print(locust.__version__)' 2>&1)" ||
  die "the image cannot import harness.load.locustfile: $(tail -n1 <<<"$got")"
layer_of "$work/harness.layer.tar" opt

python3 "$DL_DIR/image-archive.py" "$work/image.tar" "$BASE_LAYER" "$packages_layer" "$work/harness.layer.tar" \
  --tag "$ref" --cmd '["python3", "-m", "locust", "--help"]' --workdir /opt/drainlab \
  --env PYTHONPATH=/opt/drainlab --env PYTHONUNBUFFERED=1 >/dev/null || die "image-archive.py failed"
mv "$work/image.tar" "$archive"
touch -c "$packages_layer" "$packages_layer.sha256"  # the digest no older than its layer: still good
# Older keys' files are stale, but another checkout (another harness, another version of this
# script) may be using one right now: only those not handed out for a day go.
find "$OUT" -maxdepth 1 \( -name 'load-*.tar' -o -name 'packages-*.layer.tar' \) \
  ! -name "${archive##*/}" ! -name "${packages_layer##*/}" -mmin +1440 -delete
for digest in "$OUT"/packages-*.layer.tar.sha256; do  # image-archive.py's, beside each layer
  [[ -e "${digest%.sha256}" ]] || rm -f -- "$digest"
done
say "built $archive in $((SECONDS - start)) s ($(du -h "$archive" | cut -f1))" >&2
printf '%s %s\n' "$archive" "$ref"
