# shellcheck shell=bash disable=SC2034  # the settings are used by the scripts that source this
# Shared settings and helpers for the cluster-local scripts. Sourced, never run.
#
# Every path, address and port of the local cluster is decided here, once, so the scripts that
# bring it up and the one that tears it down can never disagree about what they own.

set -euo pipefail

# Where this checkout's scripts and the sample app live.
DL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DL_REPO="$(cd "$DL_DIR/.." && pwd)"
# Paths given in the environment may be relative to where the user typed the command; the
# scripts change folder and start daemons elsewhere, so each is made absolute here, once.
DL_APP="$(realpath -m -- "${DRAINLAB_APP:-$DL_REPO/sample-app/app.py}")"

# The cache survives teardown (binaries, base images); the state dir does not.
DL_CACHE="$(realpath -m -- "${DRAINLAB_CACHE:-/var/cache/drainlab}")"
DL_STATE="$(realpath -m -- "${DRAINLAB_STATE:-/var/lib/drainlab-local}")"
# Sockets and runtime state: short paths (unix socket paths are limited to 108 bytes).
DL_RUN="$(realpath -m -- "${DRAINLAB_RUN:-/run/drainlab-local}")"

DL_K8S_VERSION="v1.20.2"   # what Debian bookworm's `kubernetes` source package builds
DL_BIN="$DL_CACHE/kubernetes-$DL_K8S_VERSION/bin"
DL_IMAGES="$DL_CACHE/images"
DL_SUITE="bookworm"

DL_CONTEXT="drainlab-local"
DL_NODE="drainlab-local"
DL_KUBECONFIG="$DL_STATE/kubeconfig"
DL_LOGS="$DL_STATE/logs"
DL_PIDS="$DL_STATE/pids"

# Networks. The whole cluster (its daemons, the pod bridge, kube-proxy's and the kubelet's
# iptables, routes and sysctls) lives in a network namespace of its own, DL_NETNS; nothing of the
# host's network is read or changed except one veth pair with drainlab's names: DL_VETH_HOST on
# the host (DL_LINK_HOST) and DL_VETH_NODE in the namespace (DL_NODE_IP, the node's address: the
# API server, the kubelet and the NodePorts answer there). The namespace has no default route,
# so no packet from a pod or a Service can leave it except as a reply on that link.
DL_NETNS="drainlab-local"
DL_VETH_HOST="drainlab-host"   # at most 15 characters: Linux's interface name limit
DL_VETH_NODE="drainlab-node"
DL_LINK_NET="10.250.77.0/30"
DL_LINK_HOST="10.250.77.1"
DL_NODE_IP="10.250.77.2"
DL_BRIDGE="cni0"               # inside the namespace only
DL_POD_SUBNET="10.244.0.0/24"
DL_POD_GATEWAY="10.244.0.1"
DL_POD_WIDE="10.244.0.0/16"
DL_SERVICE_CIDR="10.96.0.0/16"
DL_NODEPORT_RANGE="30000-32767"

# Ports, inside the namespace: etcd on its loopback only (mutual TLS, the API server is its one
# client), the API server, kubelet and NodePorts on DL_NODE_IP, health and metrics on loopback.
DL_ETCD_PORT=2379
DL_ETCD_PEER_PORT=2380
DL_APISERVER_PORT=6443
DL_CONTAINERD_SOCK="$DL_RUN/containerd.sock"

DL_SANDBOX_IMAGE="registry.k8s.io/pause:3.6"  # the name containerd 1.6 asks for by default
DL_APP_IMAGE="drainlab/sample-app:0.1.0"

# kube-proxy's --iptables-min-sync-period: the least time between two rewrites of its rules, so
# how late after an endpoint change the node may stop routing to a pod (issue 21 measures it).
# DRAINLAB_PROXY_MIN_SYNC_PERIOD asks for one (e.g. 3s; "default": the flag unset, kube-proxy's
# own 1s on 1.20); unset, a running kube-proxy keeps the period it was started with.
DL_PROXY_MIN_SYNC_PERIOD="${DRAINLAB_PROXY_MIN_SYNC_PERIOD:-}"

# Components in start order; teardown stops them in reverse.
DL_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)

say() { printf 'drainlab-local: %s\n' "$*"; }
die() { printf 'drainlab-local: error: %s\n' "$*" >&2; exit 1; }

# Teardown removes the state folders whole, and the build scripts write below the cache: a path
# the user sets must be drainlab's own (its last component starts with "drainlab"), so that a
# slip like DRAINLAB_STATE=/var/lib can never remove a folder that holds anything else.
own_path() {  # variable path
  local base
  base="$(basename -- "$2")"
  [[ "$base" == drainlab* && "$2" != / ]] || \
    die "$1=$2: drainlab only writes to (and removes) folders named drainlab*; choose one, e.g. ${2%/}/drainlab"
}
own_path DRAINLAB_CACHE "$DL_CACHE"
own_path DRAINLAB_STATE "$DL_STATE"
own_path DRAINLAB_RUN "$DL_RUN"
[[ "$DL_STATE" != "$DL_RUN" && "$DL_STATE" != "$DL_CACHE" && "$DL_RUN" != "$DL_CACHE" ]] || \
  die "DRAINLAB_STATE, DRAINLAB_RUN and DRAINLAB_CACHE must be three different folders"

# Undo on failure: each script registers, as it goes, how to take back what it just did
# (undo 'cmd args...'); if the script then exits with an error (or is interrupted), the steps run
# last-first. A script that succeeds keeps what it made. `always` registers a step that runs at
# any exit (temporary files). Steps are run with `eval`: quote their arguments.
DL_UNDO=()
DL_ALWAYS=()
undo() { DL_UNDO+=("$1"); }
always() { DL_ALWAYS+=("$1"); }
on_exit() {
  local rc=$? i
  trap - EXIT INT TERM HUP
  if ((rc != 0)); then
    for ((i = ${#DL_UNDO[@]} - 1; i >= 0; i--)); do eval "${DL_UNDO[i]}" || true; done
  fi
  for ((i = ${#DL_ALWAYS[@]} - 1; i >= 0; i--)); do eval "${DL_ALWAYS[i]}" || true; done
  exit "$rc"
}
trap on_exit EXIT
# A signal ends the script through the same path, as a failure (128 + the signal number).
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

need_root() {
  [[ "$(uname -s)" == Linux ]] || die "the local cluster needs Linux (this is $(uname -s))"
  [[ "$(id -u)" == 0 ]] || die "the local cluster needs root (it runs a kubelet, containerd and iptables); run as root"
}

# The Debian mirror apt already uses, so debootstrap and deb-src use the same one.
debian_mirror() {
  local uri
  uri="$(grep -hs -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | head -n1 || true)"
  if [[ -z "$uri" ]]; then
    uri="$(grep -hs -E '^deb ' /etc/apt/sources.list | awk '{print $2}' | head -n1 || true)"
  fi
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

# Remove folders whole, never beyond them: whatever is mounted below one (a rootfs's /proc left by
# an interrupted debootstrap, container overlays, pod volumes) is unmounted first, deepest first,
# and rm stays on the folder's own file system in case an unmount failed.
remove_tree() {
  local root m
  for root in "$@"; do
    [[ -n "$root" && "$root" != / ]] || continue
    awk -v r="${root%/}/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r | \
      while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system -- "$root"
  done
}

# The host's OS, read (not sourced) from os-release.
os_field() {  # KEY: its value, quotes removed; empty when absent
  awk -F= -v k="$1" '$1 == k {v = substr($0, length(k) + 2); gsub(/^"|"$/, "", v); print v; exit}' \
    /etc/os-release 2>/dev/null || true
}
os_name() { local n; n="$(os_field PRETTY_NAME)"; printf '%s\n' "${n:-unknown}"; }
debian_host() { [[ "$(os_field ID)" == debian ]]; }

# A process that exists and is not a zombie (our daemons are reparented to PID 1, which may be
# slow to reap them: kill -0 alone would wait for that).
running() {
  local state
  state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# Is a recorded component process alive, and really the program we started (not a reused pid)?
pid_alive() {
  local name="$1" pid exe
  [[ -s "$DL_PIDS/$name.pid" ]] || return 1
  pid="$(cat "$DL_PIDS/$name.pid")"
  [[ "$pid" =~ ^[0-9]+$ ]] && running "$pid" || return 1
  exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
  [[ "$(basename "${exe% (deleted)}")" == "$name" ]]
}

# Run a command in the cluster's network namespace (the mount namespace stays the host's: the
# kubelet and containerd must see each other's mounts, which `ip netns exec` would hide).
DL_IN_NS=(nsenter --net="/run/netns/$DL_NETNS" --)
in_ns() { "${DL_IN_NS[@]}" "$@"; }
netns_exists() { [[ -e "/run/netns/$DL_NETNS" ]]; }

# kubectl from the cache, against this cluster only.
kc() { "$DL_BIN/kubectl" --kubeconfig "$DL_KUBECONFIG" --context "$DL_CONTEXT" "$@"; }

# Start a long-running component detached from the caller (its own session, no inherited pipes:
# a caller streaming our output must not wait on it), its log in $DL_LOGS, its pid in $DL_PIDS.
# The cluster's components are started as `start_daemon NAME "${DL_IN_NS[@]}" PROGRAM ARGS...`.
# Returns once the program runs, or has failed to start (wait_for then says it exited).
start_daemon() {
  local name="$1"; shift
  mkdir -p "$DL_LOGS" "$DL_PIDS"
  if pid_alive "$name"; then return 0; fi
  {
    printf '\n===== %s starting: %s\n' "$(date -Is)" "$*"
  } >>"$DL_LOGS/$name.log"
  # 8>&- 9>&-: the lifecycle and build locks must not live on in the daemons.
  setsid "$@" </dev/null >>"$DL_LOGS/$name.log" 2>&1 8>&- 9>&- &
  local pid=$! i
  echo "$pid" >"$DL_PIDS/$name.pid"
  undo "stop_daemon $name"
  # Until its exec is done, $! is still a forked shell, and pid_alive would take the start for an
  # exit. Exec can take a while on a busy machine (the kubelet's did, in a clean-clone CI run).
  for ((i = 0; i < 600; i++)); do
    if pid_alive "$name" || ! running "$pid"; then break; fi
    sleep 0.05
  done
}

# Stop one recorded component: SIGTERM, then SIGKILL after a grace period. Only the pid we
# recorded, and only if it still is that program.
stop_daemon() {
  local name="$1" grace="${2:-10}" pid i
  if pid_alive "$name"; then
    pid="$(cat "$DL_PIDS/$name.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      running "$pid" || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$DL_PIDS/$name.pid"
}

# Wait until a command succeeds; fail with the component's log tail if it never does, or if the
# component has died meanwhile.
wait_for() {
  local what="$1" timeout="$2" component="$3"; shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [[ -n "$component" ]] && ! pid_alive "$component"; then
      tail -n 15 "$DL_LOGS/$component.log" >&2 || true
      die "$component exited while waiting for $what (log: $DL_LOGS/$component.log)"
    fi
    if ((SECONDS >= deadline)); then
      [[ -z "$component" ]] || tail -n 15 "$DL_LOGS/$component.log" >&2 || true
      die "timed out after ${timeout}s waiting for $what${component:+ (log: $DL_LOGS/$component.log)}"
    fi
    sleep 0.5
  done
}

# Run a long command with its output in a log, printing a line every 30 s so that whoever streams
# our output (a test session, CI) sees it is alive. Returns the command's status.
run_logged() {  # label logfile command...
  local label="$1" log="$2" pid next t0=$SECONDS; shift 2
  "$@" >"$log" 2>&1 &
  pid=$!
  next=$((SECONDS + 30))
  while running "$pid"; do
    sleep 1
    if ((SECONDS >= next)); then
      next=$((SECONDS + 30))
      say "still $label ($((SECONDS - t0)) s): $(tail -n1 "$log" | sed 's/^ *//' | cut -c1-90)"
    fi
  done
  wait "$pid"
}

# A URL answers, asked from inside the cluster's network namespace (where everything listens).
http_ok() {  # url [curl args...]
  local url="$1"; shift
  in_ns curl -fsS --max-time 3 "$@" "$url" >/dev/null
}

# The min sync period asked for ("default" or a Go duration kube-proxy takes, e.g. 500ms, 3s, 1m);
# empty when none was asked for. A malformed one ends the script before anything changes.
proxy_period_wanted() {
  local p="$DL_PROXY_MIN_SYNC_PERIOD"
  [[ -z "$p" || "$p" == default || "$p" =~ ^[0-9]+(ms|s|m)$ ]] ||
    die "DRAINLAB_PROXY_MIN_SYNC_PERIOD must be a duration like 500ms, 3s or 1m, or default (got '$p')"
  printf '%s\n' "$p"
}

# The min sync period the running kube-proxy was started with ("default" without the flag).
proxy_period_running() {
  local arg next=0 period=default
  while IFS= read -r -d '' arg; do
    if ((next)); then period="$arg"; next=0; fi
    if [[ "$arg" == --iptables-min-sync-period ]]; then next=1; fi
  done <"/proc/$(cat "$DL_PIDS/kube-proxy.pid")/cmdline"
  printf '%s\n' "$period"
}

# kube-proxy in iptables mode, NodePorts on the node address only, conntrack table size left
# alone; $1: its min sync period ("default" or empty: kube-proxy's own).
start_proxy() {
  local sync=()
  [[ -z "$1" || "$1" == default ]] || sync=(--iptables-min-sync-period "$1")
  start_daemon kube-proxy "${DL_IN_NS[@]}" "$DL_BIN/kube-proxy" \
    --kubeconfig "$DL_KUBECONFIG" --hostname-override "$DL_NODE" --proxy-mode iptables \
    --bind-address 127.0.0.1 --healthz-bind-address 127.0.0.1:10256 \
    --metrics-bind-address 127.0.0.1:10249 --nodeport-addresses "$DL_NODE_IP/32" \
    --cluster-cidr "$DL_POD_WIDE" --conntrack-max-per-core 0 "${sync[@]}" --v=1
  wait_for "kube-proxy health" 60 kube-proxy http_ok http://127.0.0.1:10256/healthz
}

# The whole cluster answers: every component alive, API ready, node Ready, kube-proxy healthy.
cluster_healthy() {
  local c
  for c in "${DL_COMPONENTS[@]}"; do pid_alive "$c" || return 1; done
  [[ -s "$DL_KUBECONFIG" && -x "$DL_BIN/kubectl" ]] || return 1
  netns_exists || return 1
  http_ok http://127.0.0.1:10248/healthz || return 1
  http_ok http://127.0.0.1:10256/healthz || return 1
  kc get --raw /readyz --request-timeout 5s >/dev/null 2>&1 || return 1
  node_ready
}

node_ready() {
  [[ "$(kc get node "$DL_NODE" --request-timeout 5s \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

# The machine-readable last line of up.sh and status.sh; $1 (up.sh only): started=1|0.
ready_line() {
  say "kubeconfig: $DL_KUBECONFIG (context $DL_CONTEXT); e.g. $DL_BIN/kubectl --kubeconfig $DL_KUBECONFIG get nodes"
  say "ready: kubeconfig=$DL_KUBECONFIG context=$DL_CONTEXT version=$DL_K8S_VERSION node=$DL_NODE host=$DL_NODE_IP${1:+ started=$1}"
}

# One bring-up or teardown at a time on this machine (whatever state folders each uses: they
# share the namespace, the link and its addresses); scripts called by a holder inherit it.
lifecycle_lock() {
  [[ "${DL_LOCK_HELD:-}" == 1 ]] && return 0
  exec 8>/run/drainlab-local.lock
  flock 8
  export DL_LOCK_HELD=1
}
