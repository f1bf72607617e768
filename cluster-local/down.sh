#!/usr/bin/env bash
# Tear the local cluster down and leave the machine as it was, keeping only the caches.
#
# Safe to run at any time, more than once, and after a crash: it stops the processes this cluster
# started (by pid file, and leftovers of an earlier run found by what they are: our cached
# binaries, or etcd/containerd/shims running on our state dir or socket, never by name alone),
# kills the pods' processes, removes the mounts under our state dirs, deletes the cluster's
# network namespace (with it go the pod bridge, the pods' veths, every iptables rule of
# kube-proxy and the kubelet, routes and sysctls: they all live in it) and our veth on the host,
# and deletes the state dirs. Nothing else of the host's network is read or changed. $DL_CACHE
# is left alone.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root
lifecycle_lock

# --- processes -----------------------------------------------------------------------------
# Pids of processes that belong to this cluster, whatever their pid files say.
our_pids() {  # [kind...]: kube | etcd | containerd | shim
  local p exe cmd kind
  for p in /proc/[0-9]*; do
    exe="$(readlink "$p/exe" 2>/dev/null)" || continue
    exe="${exe% (deleted)}"
    cmd="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" || continue
    kind=""
    case "$exe" in
      "$DL_BIN"/kube-apiserver | "$DL_BIN"/kube-controller-manager | "$DL_BIN"/kube-scheduler | \
        "$DL_BIN"/kubelet | "$DL_BIN"/kube-proxy) kind=kube ;;
      */etcd) [[ "$cmd" == *"--data-dir $DL_STATE/etcd"* ]] && kind=etcd ;;
      */containerd) [[ "$cmd" == *"--config $DL_STATE/containerd/config.toml"* ]] && kind=containerd ;;
      */containerd-shim*) [[ "$cmd" == *"-address $DL_CONTAINERD_SOCK"* ]] && kind=shim ;;
    esac
    [[ -n "$kind" ]] || continue
    if (($# == 0)) || [[ " $* " == *" $kind "* ]]; then echo "${p#/proc/}"; fi
  done
}

kill_and_wait() {  # grace pids...
  local grace="$1" i p alive; shift
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    alive=0
    for p in "$@"; do running "$p" && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
  sleep 0.2
}

say "stopping the node and control-plane components"
for c in kube-proxy kubelet kube-scheduler kube-controller-manager; do stop_daemon "$c" 10; done
# Leftover kube components of an earlier run whose pid files are gone.
mapfile -t left < <(our_pids kube)
for p in "${left[@]}"; do
  [[ "$(readlink "/proc/$p/exe")" == *kube-apiserver ]] || kill_and_wait 10 "$p"
done

# Pods: each shim is the parent of its container's init; kill those, then the shims. Container
# children die with their init (own pid namespace).
mapfile -t shims < <(our_pids shim)
if ((${#shims[@]})); then
  say "killing ${#shims[@]} pod shim(s) and their containers"
  kids=()
  for s in "${shims[@]}"; do
    mapfile -t -O "${#kids[@]}" kids < <(ps -o pid= --ppid "$s" | tr -d ' ')
  done
  ((${#kids[@]} == 0)) || kill -KILL "${kids[@]}" 2>/dev/null || true
  kill_and_wait 5 "${shims[@]}"
fi

stop_daemon containerd 10
mapfile -t left < <(our_pids containerd shim)
kill_and_wait 10 "${left[@]}"
stop_daemon kube-apiserver 10
stop_daemon etcd 10
mapfile -t left < <(our_pids)
kill_and_wait 10 "${left[@]}"
# Whatever else still runs in the cluster's network namespace is ours too (only our scripts put
# processes there); the namespace cannot go while they live.
if netns_exists; then
  mapfile -t left < <(ip netns pids "$DL_NETNS" 2>/dev/null)
  kill_and_wait 5 "${left[@]}"
fi

# --- network -------------------------------------------------------------------------------
# The namespace goes once its last process has (all are stopped above); our end of the link
# goes with it, and is removed by name in case the namespace was already gone.
if netns_exists; then
  say "removing the network namespace $DL_NETNS"
  ip netns del "$DL_NETNS" || die "cannot delete the network namespace $DL_NETNS"
fi
if ip link show "$DL_VETH_HOST" >/dev/null 2>&1; then
  ip link del "$DL_VETH_HOST" || true
fi

# --- files ---------------------------------------------------------------------------------
if [[ -s "$DL_STATE/created-paths" ]]; then
  while read -r d; do
    case "$d" in /var/log/pods | /var/log/containers) remove_tree "$d" ;; esac
  done <"$DL_STATE/created-paths"
fi
# Everything mounted under our dirs (container rootfs overlays, shm, pod netns, secret volumes)
# goes with them.
remove_tree "$DL_STATE" "$DL_RUN"
say "down (caches kept in $DL_CACHE)"
