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

# Networks. The pod bridge's /24 sits inside a wider /16 that is made unreachable, and so is the
# service range: no packet for a pod or service address can ever leave this machine.
DL_BRIDGE="cni0"
DL_POD_SUBNET="10.244.0.0/24"
DL_POD_GATEWAY="10.244.0.1"
DL_POD_WIDE="10.244.0.0/16"
DL_SERVICE_CIDR="10.96.0.0/16"
DL_NODEPORT_RANGE="30000-32767"

# Ports, all bound to 127.0.0.1 (the kubelet's API to the bridge gateway, see start-node.sh).
DL_ETCD_PORT=2379
DL_ETCD_PEER_PORT=2380
DL_APISERVER_PORT=6443
DL_CONTAINERD_SOCK="$DL_RUN/containerd.sock"

DL_SANDBOX_IMAGE="registry.k8s.io/pause:3.6"  # the name containerd 1.6 asks for by default
DL_APP_IMAGE="drainlab/sample-app:0.1.0"

# Components in start order; teardown stops them in reverse.
DL_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)

say() { printf 'drainlab-local: %s\n' "$*"; }
die() { printf 'drainlab-local: error: %s\n' "$*" >&2; exit 1; }

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

# kubectl from the cache, against this cluster only.
kc() { "$DL_BIN/kubectl" --kubeconfig "$DL_KUBECONFIG" --context "$DL_CONTEXT" "$@"; }

# Start a long-running component detached from the caller (its own session, no inherited pipes:
# a caller streaming our output must not wait on it), its log in $DL_LOGS, its pid in $DL_PIDS.
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

# A port this cluster wants must be free (another etcd or kubelet on this machine would clash).
port_free() {
  local port="$1" who
  who="$(ss -Htlnp "sport = :$port" 2>/dev/null || true)"
  [[ -z "$who" ]] || die "port $port is already in use on this machine: $who"
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

http_ok() {  # url [curl args...]
  local url="$1"; shift
  curl -fsS --max-time 3 "$@" "$url" >/dev/null
}

# The whole cluster answers: every component alive, API ready, node Ready, kube-proxy healthy.
cluster_healthy() {
  local c
  for c in "${DL_COMPONENTS[@]}"; do pid_alive "$c" || return 1; done
  [[ -s "$DL_KUBECONFIG" && -x "$DL_BIN/kubectl" ]] || return 1
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
  say "ready: kubeconfig=$DL_KUBECONFIG context=$DL_CONTEXT version=$DL_K8S_VERSION node=$DL_NODE host=127.0.0.1${1:+ started=$1}"
}

# One bring-up or teardown at a time on this machine (whatever cache each uses: they share the
# addresses and ports); scripts called by a holder inherit it.
lifecycle_lock() {
  [[ "${DL_LOCK_HELD:-}" == 1 ]] && return 0
  exec 8>"$DL_RUN.lock"
  flock 8
  export DL_LOCK_HELD=1
}
