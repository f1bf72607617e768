#!/usr/bin/env bash
# Build the load pods' image (traffic.from: cluster) for the local cluster, without Docker, as an
# archive its containerd imports: the cached Python base layer (build-images.sh: Debian minbase,
# python3 3.11), a layer with locust and orjson at the versions of the harness's own Python (the
# locustfile uses locust's API, so the pods run the same locust as this machine would), installed
# by that Python's pip as binary wheels (bookworm's python3 is CPython 3.11 on glibc, as the
# harness's is here), and a layer with drainlab's harness package at /opt/drainlab.
#
# usage: build-load-image.sh PYTHON [HARNESS]   (the harness's Python: its versions and its pip;
#        the harness package's folder, by default ../harness beside this folder)
# The last line of stdout is "ARCHIVE REF" (REF: drainlab/load:KEY). The archive is cached in
# $DL_IMAGES/drainlab-load-images/ under a key of everything that goes into it (this script, the
# base layer, the two versions, the harness's files) and built once per key.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
umask 022  # the image's files must be readable by the pods' unprivileged user

python="${1:-}"
[[ -n "$python" && -x "$python" ]] || die "usage: $0 PYTHON (the harness's python3)"
BASE_LAYER="$DL_IMAGES/python-base-$DL_SUITE.layer.tar"
[[ -s "$BASE_LAYER" ]] || die "no base layer $BASE_LAYER (build-images.sh makes it; up.sh runs that)"
HARNESS="$(cd "${2:-$DL_DIR/../harness}" 2>/dev/null && pwd)" || die "no harness package at ${2:-}"
[[ -f "$HARNESS/load/locustfile.py" ]] || die "no harness package at $HARNESS"
OUT="$DL_IMAGES/drainlab-load-images"
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

versions="$("$python" -c 'import locust, orjson; print(f"locust=={locust.__version__} orjson=={orjson.__version__}")')" ||
  die "$python cannot import locust and orjson (make venv)"
read -r -a wanted <<<"$versions"
if [[ -s "$BASE_LAYER.sha256" && ! "$BASE_LAYER" -nt "$BASE_LAYER.sha256" ]]; then
  base_digest="$(cat "$BASE_LAYER.sha256")"
else
  base_digest="$(sha256sum "$BASE_LAYER" | cut -d' ' -f1)"
fi
harness_digest="$(cd "$HARNESS" && find . -name '*.py' -o -name py.typed | LC_ALL=C sort |
  xargs sha256sum | sha256sum | cut -d' ' -f1)"
key="$({ cat "${BASH_SOURCE[0]}"; echo "$base_digest $versions $harness_digest"; } | sha256sum | cut -c1-16)"
ref="drainlab/load:$key"
archive="$OUT/load-$key.tar"
if [[ -s "$archive" ]]; then
  touch "$archive"  # its time is when it was last handed out: see the pruning below
  printf '%s %s\n' "$archive" "$ref"
  exit 0
fi

say "building $ref: ${wanted[*]} and drainlab's harness package" >&2
work="$(mktemp -d "$OUT/build.XXXXXX")"
always 'remove_tree "$work"'
site="$work/root/usr/local/lib/python3.11/dist-packages"
mkdir -p "$site" "$work/root/opt/drainlab"
"$python" -m pip install --quiet --disable-pip-version-check --no-compile --only-binary=:all: \
  --target "$site" "${wanted[@]}" >"$work/pip.log" 2>&1 ||
  die "pip could not install ${wanted[*]}: $(tail -n1 "$work/pip.log")"
rm -rf "${site:?}/bin"  # console scripts for this machine's Python; the pods run `python3 -m locust`
(cd "$HARNESS/.." && find harness -name '*.py' -o -name py.typed) |
  (cd "$HARNESS/.." && xargs cp --parents -t "$work/root/opt/drainlab")
# The wheels must load under the image's own python3 (same CPython 3.11, glibc of bookworm).
mkdir -p "$work/check"
if ! tar -xf "$BASE_LAYER" -C "$work/check" || ! cp -a "$work/root/." "$work/check/"; then
  die "cannot unpack the base layer to check the image"
fi
imports='import locust, orjson, gevent, zmq, geventhttpclient, harness.load.distributed'
PYTHONPATH=/opt/drainlab chroot "$work/check" /usr/bin/python3 -c "$imports" >"$work/check.log" 2>&1 ||
  die "the image's python3 cannot import locust: $(tail -n1 "$work/check.log")"
mapfile -t top < <(find "$work/root" -mindepth 1 -maxdepth 1 -printf '%P\n' | sort)
tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$work/root" \
  -cf "$work/layer.tar" "${top[@]}"
python3 "$DL_DIR/image-archive.py" "$work/image.tar" "$BASE_LAYER" "$work/layer.tar" \
  --tag "$ref" --cmd '["python3", "-m", "locust", "--help"]' --env PYTHONUNBUFFERED=1 \
  --env PYTHONPATH=/opt/drainlab --workdir /opt/drainlab >/dev/null
mv "$work/image.tar" "$archive"
# Older keys' archives are stale, but another checkout may be using one right now: only those not
# handed out for a day go.
find "$OUT" -maxdepth 1 -name 'load-*.tar' ! -name "${archive##*/}" -mmin +1440 -delete
say "built $archive ($(du -h "$archive" | cut -f1))" >&2
printf '%s %s\n' "$archive" "$ref"
