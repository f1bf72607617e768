#!/usr/bin/env bash
# Build the cached image parts: the pause image archive and the Python base layer.
#
# Without a registry, images are made here: the pod sandbox image is the tree's static pause
# binary alone; the sample app's base is a Debian minbase rootfs with python3 and python3-aiohttp
# (debootstrap from the same mirror apt uses). Both are cached in $DL_IMAGES and built once. The
# app's own small top layer is made on every bring-up by import-images.sh, because the app changes.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root

mkdir -p "$DL_IMAGES"
exec 9>"$DL_CACHE/.build-images.lock"
flock 9

PAUSE_ARCHIVE="$DL_IMAGES/pause.tar"
BASE_LAYER="$DL_IMAGES/python-base-$DL_SUITE.layer.tar"

if [[ ! -s "$BASE_LAYER" ]]; then
  mirror="$(debian_mirror)"
  say "building the Python base layer: debootstrap --variant=minbase $DL_SUITE + python3-aiohttp from $mirror (about a minute)"
  start=$SECONDS
  rootfs="$DL_IMAGES/rootfs.tmp"
  # --one-file-system: debootstrap mounts /proc and /sys inside the rootfs; if one is still
  # mounted, rm must not descend into the host's.
  remove_tree "$rootfs"
  always 'remove_tree "$rootfs" "$BASE_LAYER.part"'
  run_logged debootstrapping "$DL_IMAGES/debootstrap.log" \
    debootstrap --variant=minbase --include=python3,python3-aiohttp "$DL_SUITE" "$rootfs" "$mirror" || {
    tail -n 5 "$DL_IMAGES/debootstrap.log" >&2
    die "debootstrap failed (network to $mirror?); log: $DL_IMAGES/debootstrap.log"
  }
  # What a container never needs: package downloads and lists, docs; /dev /proc /sys are mounted
  # by the runtime.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  find "$rootfs/dev" -mindepth 1 -delete
  mkdir -p "$rootfs/app"
  "$rootfs/usr/bin/python3" -c 'import aiohttp' 2>/dev/null || \
    chroot "$rootfs" python3 -c 'import aiohttp' || die "the base rootfs has no working aiohttp"
  tar --numeric-owner --sort=name -C "$rootfs" -cf "$BASE_LAYER.part" .
  mv "$BASE_LAYER.part" "$BASE_LAYER"
  say "Python base layer built in $((SECONDS - start)) s ($(du -h "$BASE_LAYER" | cut -f1))"
fi

if [[ ! -s "$PAUSE_ARCHIVE" ]]; then
  [[ -x "$DL_BIN/pause" ]] || die "no pause binary in $DL_BIN (run build-kubernetes.sh first)"
  say "building the pause image ($DL_SANDBOX_IMAGE) from the static pause binary"
  tmp="$(mktemp -d "$DL_IMAGES/pause.XXXXXX")"
  always 'remove_tree "$tmp"'
  install -m 0755 "$DL_BIN/pause" "$tmp/pause"
  tar --numeric-owner --owner=0 --group=0 -C "$tmp" -cf "$tmp/layer.tar" pause
  python3 "$DL_DIR/image-archive.py" "$PAUSE_ARCHIVE" "$tmp/layer.tar" \
    --tag "$DL_SANDBOX_IMAGE" --cmd '["/pause"]' >/dev/null
fi
say "image parts cached in $DL_IMAGES"
