#!/usr/bin/env bash
# Import the images into this cluster's containerd (namespace k8s.io, where the CRI looks):
# the pause image, and the sample app = cached Python base layer + a fresh top layer holding the
# repo's sample-app/app.py. The app changes over time, so its layer is rebuilt from the current
# file on every bring-up; the image is tagged drainlab/sample-app:0.1.0 (what the harness uses) and
# also drainlab/sample-app:app-<hash> (the exact content). Nothing is pulled from a registry.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root

ctr_() { ctr --address "$DL_CONTAINERD_SOCK" -n k8s.io "$@"; }

[[ -f "$DL_APP" ]] || die "the sample app is missing: $DL_APP (set DRAINLAB_APP to another file)"
PAUSE_ARCHIVE="$DL_IMAGES/pause.tar"
BASE_LAYER="$DL_IMAGES/python-base-$DL_SUITE.layer.tar"
[[ -s "$PAUSE_ARCHIVE" && -s "$BASE_LAYER" ]] || die "image parts missing in $DL_IMAGES (run build-images.sh)"

if ! ctr_ images ls -q | grep -qxF "$DL_SANDBOX_IMAGE"; then
  ctr_ images import "$PAUSE_ARCHIVE" >/dev/null
  say "imported $DL_SANDBOX_IMAGE"
fi

hash="$(sha256sum "$DL_APP" | cut -c1-12)"
if [[ "$(cat "$DL_STATE/app-image.hash" 2>/dev/null || true)" == "$hash" ]] && \
   ctr_ images ls -q | grep -q "sample-app:app-$hash\$"; then
  say "$DL_APP unchanged (app-$hash), image already imported"
  exit 0
fi

work="$(mktemp -d "$DL_STATE/app-image.XXXXXX")"
always 'remove_tree "$work"'
mkdir -p "$work/root/app"
install -m 0644 "$DL_APP" "$work/root/app/app.py"
tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$work/root" -cf "$work/app.layer.tar" app
repo="${DL_APP_IMAGE%:*}"
python3 "$DL_DIR/image-archive.py" "$work/sample-app.tar" "$BASE_LAYER" "$work/app.layer.tar" \
  --tag "$DL_APP_IMAGE" --tag "$repo:app-$hash" --cmd '["python3", "/app/app.py"]' \
  --env PYTHONUNBUFFERED=1 --workdir /app >/dev/null
ctr_ images import "$work/sample-app.tar" >/dev/null
echo "$hash" >"$DL_STATE/app-image.hash"
say "imported $DL_APP_IMAGE (and $repo:app-$hash) from $DL_APP"
