#!/usr/bin/env bash
# Install the Debian packages the local cluster is built and run from, only those missing.
#
# Everything comes from Debian bookworm: the Go toolchain and make helpers to build Kubernetes
# from Debian's own source package, and the runtime pieces (etcd, containerd, runc, CNI plugins,
# iptables, conntrack) the control plane and node need. A deb-src entry is added because
# build-kubernetes.sh fetches the source with `apt-get source kubernetes`.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root

PACKAGES=(golang-go rsync make dpkg-dev gcc libc6-dev etcd-server containerd runc
  containernetworking-plugins iptables conntrack socat debootstrap openssl iproute2 procps
  python3 ca-certificates curl)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# deb-src for bookworm main, same mirror as the deb entry (apt-get source needs it).
SRC_LIST=/etc/apt/sources.list.d/drainlab-src.sources
need_update=0
if ! grep -qsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/*; then
  mirror="$(debian_mirror)"
  say "adding a deb-src entry for $DL_SUITE main ($mirror) in $SRC_LIST"
  cat >"$SRC_LIST" <<SRC
# Added by drainlab cluster-local: \`apt-get source kubernetes\` needs a deb-src entry.
Types: deb-src
URIs: $mirror
Suites: $DL_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  need_update=1
fi
# Also refresh when the source index was never fetched (a fresh machine).
if ! ls /var/lib/apt/lists/*_source_Sources* >/dev/null 2>&1; then need_update=1; fi
if ((${#missing[@]})); then need_update=1; fi

if ((need_update)); then
  say "apt-get update"
  apt-get update -qq >/dev/null 2>&1 || \
    die "apt-get update failed: no network to the Debian mirror ($(debian_mirror))?"
fi
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  # Do not let package scripts start the system containerd/etcd services: the cluster runs its own
  # instances with their own configs and data dirs, and tears them down again.
  export DEBIAN_FRONTEND=noninteractive
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# drainlab: keep package scripts from starting services\nexit 101\n' \
      >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  mkdir -p "$DL_CACHE"
  run_logged installing "$DL_CACHE/apt-install.log" apt-get install -y -qq --no-install-recommends "${missing[@]}" || \
    die "apt-get install ${missing[*]} failed (network to the Debian mirror? dpkg lock held?)"
fi
say "Debian packages present"
