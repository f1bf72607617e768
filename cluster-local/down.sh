#!/usr/bin/env bash
# Tear the local cluster down and leave the machine as it was, keeping only the caches.
#
# Safe to run at any time, more than once, and after a crash: it stops the processes this cluster
# started (by pid file, and leftovers of an earlier run found by what they are: our cached
# binaries, or etcd/containerd/shims running on our state dir or socket, never by name alone),
# kills the pods' processes, removes kube-proxy's and the kubelet's iptables chains, the CNI
# rules, our FORWARD guard, the mounts under our state dirs, the veths and the bridge, the
# unreachable routes, restores the sysctls, and deletes the state dirs. $DL_CACHE is left alone.
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

# --- iptables ------------------------------------------------------------------------------
# Every KUBE-* chain (kube-proxy's and the kubelet's) and the jumps to it, our DRAINLAB-* guard,
# and rules and chains the CNI plugins made for our network (they carry its name in a comment).
# Not `kube-proxy --cleanup`: it also flushes every IPVS service on the machine, not only ours.
clean_iptables() {  # iptables | ip6tables
  local ipt="$1" table rules line chain target chains c
  command -v "$ipt" >/dev/null || return 0
  for table in filter nat mangle; do
    rules="$("$ipt" -w -t "$table" -S 2>/dev/null)" || continue
    chains="$(grep -oE '^-N (KUBE-|DRAINLAB-)[A-Za-z0-9_-]+' <<<"$rules" | awk '{print $2}' || true)"
    while read -r line; do
      [[ -n "$line" ]] || continue
      chain="$(awk '{print $2}' <<<"$line")"
      target="$(grep -oE -- '-j [A-Za-z0-9_-]+' <<<"$line" | awk '{print $2}' || true)"
      case "$chain" in KUBE-* | DRAINLAB-*) continue ;; esac  # whole chain goes below
      if [[ "$target" == CNI-* ]]; then
        [[ "$line" == *drainlab-local* ]] || continue  # another network's
        chains+=$'\n'"$target"
      fi
      eval "$ipt -w -t $table ${line/-A /-D }" 2>/dev/null || true
    done < <(grep -E -- '^-A .*(-j (KUBE-|DRAINLAB-|CNI-)|drainlab-local)' <<<"$rules" || true)
    for c in $chains; do "$ipt" -w -t "$table" -F "$c" 2>/dev/null || true; done
    for c in $chains; do "$ipt" -w -t "$table" -X "$c" 2>/dev/null || true; done
  done
}
say "removing iptables rules (KUBE-*, DRAINLAB-*, CNI rules of our network)"
clean_iptables iptables
clean_iptables ip6tables

# --- mounts, network -----------------------------------------------------------------------
# Everything mounted under our dirs (container rootfs overlays, shm, netns, secret volumes),
# deepest first.
for root in "$DL_STATE" "$DL_RUN"; do
  awk -v r="$root/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
done

if ip link show "$DL_BRIDGE" >/dev/null 2>&1; then
  say "removing $DL_BRIDGE and its veths"
  for v in $(ip -o link show master "$DL_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$v" 2>/dev/null || true
  done
  ip link del "$DL_BRIDGE" 2>/dev/null || true
fi
for cidr in "$DL_SERVICE_CIDR" "$DL_POD_WIDE"; do
  if ip route show type unreachable | grep -q "^unreachable $cidr\b"; then
    ip route del unreachable "$cidr" || true
  fi
done

if [[ -s "$DL_STATE/sysctl.saved" ]]; then
  while IFS='=' read -r key value; do
    sysctl -q -w "$key=$value" 2>/dev/null || true
  done <"$DL_STATE/sysctl.saved"
fi

# --- files ---------------------------------------------------------------------------------
if [[ -s "$DL_STATE/created-paths" ]]; then
  while read -r d; do
    case "$d" in /var/log/pods | /var/log/containers) rm -rf --one-file-system "$d" ;; esac
  done <"$DL_STATE/created-paths"
fi
rm -rf --one-file-system "$DL_STATE" "$DL_RUN"
say "down (caches kept in $DL_CACHE)"
