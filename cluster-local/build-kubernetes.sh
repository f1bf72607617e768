#!/usr/bin/env bash
# Build the Kubernetes binaries (and the static pause binary) from Debian's source package, once.
#
# There is no registry and no upstream download here: the only Kubernetes we can have is the one
# Debian ships as source (v1.20.2 in bookworm). The tree's own `make` is used because a plain
# `go build -mod=vendor` fails ("updates to go.mod needed") and the apiserver needs the generated
# OpenAPI code that `make` produces first. The binaries land in $DL_BIN and are never rebuilt
# while they are there; the (large) build tree and Go cache are removed afterwards.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root

BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl pause)

have_all() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$DL_BIN/$b" ]] || return 1; done
}

mkdir -p "$DL_CACHE"
# One build at a time, even when two bring-ups race (two test sessions, make + pytest).
exec 9>"$DL_CACHE/.build-kubernetes.lock"
flock 9

if have_all; then
  say "Kubernetes $DL_K8S_VERSION binaries cached in $DL_BIN"
  exit 0
fi

WORK="$DL_CACHE/build-kubernetes.tmp"
remove_tree "$WORK"
mkdir -p "$WORK"
always 'remove_tree "$WORK"'
cd "$WORK" || exit

# `apt-get source` needs a deb-src entry. When the host has none, one is added for the time of
# the download and removed again (with the index it fetched), whatever way this script ends.
SRC_LIST=/etc/apt/sources.list.d/drainlab-src.sources
if ! grep -qsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/*; then
  mirror="$(debian_mirror)"
  say "adding a deb-src entry for $DL_SUITE main ($mirror) for the download"
  always 'rm -f "$SRC_LIST"; apt-get update -qq >/dev/null 2>&1'
  cat >"$SRC_LIST" <<SRC
# Added by drainlab cluster-local for \`apt-get source kubernetes\`; removed after the download.
Types: deb-src
URIs: $mirror
Suites: $DL_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed: no network to the Debian mirror ($mirror)?"
fi

say "fetching the kubernetes source package (apt-get source kubernetes)"
apt-get source -qq kubernetes >"$WORK/apt-source.log" 2>&1 || {
  tail -n 5 "$WORK/apt-source.log" >&2
  die "apt-get source kubernetes failed (is there a deb-src entry? run install-deps.sh; network?)"
}
SRC="$(find "$WORK" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)"
[[ -n "$SRC" && -d "$SRC/cmd/kube-apiserver" ]] || die "apt-get source kubernetes gave no source tree"

# The package version is "1.20.5+really1.20.2-...": the code is 1.20.2, whatever the prefix says.
upstream="$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)"
upstream="v${upstream##*really}"
upstream="${upstream%%-*}"
[[ "$upstream" == "$DL_K8S_VERSION" ]] || \
  die "Debian's kubernetes source is $upstream, these scripts expect $DL_K8S_VERSION (update DL_K8S_VERSION in lib.sh)"

cd "$SRC" || exit
# The tree's make expects to sit inside a GOPATH as k8s.io/kubernetes.
mkdir -p .go/src/k8s.io
ln -sfn ../../.. .go/src/k8s.io/kubernetes
export GOPATH="$SRC/.go" GOCACHE="$WORK/go-cache" GOFLAGS="" GO111MODULE=""
export CGO_ENABLED=0
export KUBE_GIT_VERSION="$DL_K8S_VERSION" KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 KUBE_GIT_TREE_STATE=clean
WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kube-proxy cmd/kubelet cmd/kubectl"
say "building $DL_K8S_VERSION ($WHAT) with the tree's make: several minutes on 2 cores; log in $DL_CACHE/build-kubernetes.log"
start=$SECONDS
cd "$SRC/.go/src/k8s.io/kubernetes" || exit
# nice: the machine's CPUs are shared; the build takes whatever is left.
run_logged building "$DL_CACHE/build-kubernetes.log" nice -n 10 make WHAT="$WHAT" GOLDFLAGS="-s -w" || {
  tail -n 20 "$DL_CACHE/build-kubernetes.log" >&2
  die "the Kubernetes build failed (log: $DL_CACHE/build-kubernetes.log)"
}

OUT="$SRC/_output/local/bin/linux/amd64"
STAGE="$DL_BIN.tmp"
remove_tree "$STAGE"
always 'remove_tree "$STAGE"'
mkdir -p "$STAGE"
for b in "${BINARIES[@]}"; do
  [[ "$b" == pause ]] && continue
  install -m 0755 "$OUT/$b" "$STAGE/$b"
done
# The pod sandbox's process: a static build of the tree's own pause.c (the image holds nothing else).
gcc -Os -static -o "$STAGE/pause" "$SRC/build/pause/linux/pause.c" -DVERSION="$DL_K8S_VERSION" || \
  die "building the static pause binary failed (gcc and libc6-dev installed?)"
strip "$STAGE/pause" 2>/dev/null || true
remove_tree "$DL_BIN"
mv "$STAGE" "$DL_BIN"
say "built Kubernetes $DL_K8S_VERSION in $((SECONDS - start)) s: $DL_BIN"
