#!/usr/bin/env bash
# Install the Debian packages the local cluster is built and run from, only those missing.
#
# Everything comes from Debian bookworm: the Go toolchain and make helpers to build Kubernetes
# from Debian's own source package, and the runtime pieces (etcd, containerd, runc, CNI plugins,
# iptables, conntrack) the control plane and node need. Refuses a host that is not Debian, and one
# where installing them would remove another package.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root

PACKAGES=(golang-go rsync make dpkg-dev gcc libc6-dev etcd-server containerd runc
  containernetworking-plugins iptables conntrack socat debootstrap openssl iproute2 procps
  python3 ca-certificates curl)

debian_host || die "the local cluster is built from Debian's packages: this host is not Debian ($(os_name)); use kind or an existing cluster instead"

# Earlier drainlab versions left their deb-src entry in place; it is ours to remove.
OLD_SRC_LIST=/etc/apt/sources.list.d/drainlab-src.sources
if grep -qs '^# Added by drainlab cluster-local' "$OLD_SRC_LIST"; then
  say "removing the deb-src entry an earlier drainlab left in $OLD_SRC_LIST"
  rm -f "$OLD_SRC_LIST"
fi

# One simulated install says both what is missing ("Inst") and what installing it would remove
# ("Remv"): on a host with Docker's containerd.io, installing containerd and runc removes Docker.
# Nothing is installed when anything would be removed. APT_CONFIG, if set, is honoured as apt does.
simulate() { apt-get -s -qq install --no-install-recommends "${PACKAGES[@]}" 2>&1; }
if ! plan="$(simulate)"; then
  say "apt-get update"
  apt-get update -qq >/dev/null 2>&1 || \
    die "apt-get update failed: no network to the Debian mirror ($(debian_mirror))?"
  plan="$(simulate)" || die "apt-get cannot install the packages: $(tail -n1 <<<"$plan")"
fi
removals="$(awk '$1 == "Remv" {print $2}' <<<"$plan" | sort -u | tr '\n' ' ')"
[[ -z "$removals" ]] || \
  die "installing the local cluster's packages would remove ${removals% } from this host; refusing (use kind, or a machine without them)"
# Missing: ours that would be newly installed ("Inst name (version...)"; an upgrade of one already
# installed reads "Inst name [old] (new...)" and is left alone).
mapfile -t missing < <(awk -v ours=" ${PACKAGES[*]} " \
  '$1 == "Inst" && $3 !~ /^\[/ && index(ours, " " $2 " ") {print $2}' <<<"$plan")

if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  # Do not let package scripts start the system containerd/etcd services: the cluster runs its own
  # instances with their own configs and data dirs, and tears them down again.
  export DEBIAN_FRONTEND=noninteractive
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    always 'rm -f /usr/sbin/policy-rc.d'
    printf '#!/bin/sh\n# drainlab: keep package scripts from starting services\nexit 101\n' \
      >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
  fi
  mkdir -p "$DL_CACHE"
  run_logged installing "$DL_CACHE/apt-install.log" apt-get install -y -qq --no-install-recommends "${missing[@]}" || \
    die "apt-get install ${missing[*]} failed (network to the Debian mirror? dpkg lock held?)"
fi
say "Debian packages present"
