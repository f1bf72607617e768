#!/usr/bin/env bash
# Bring the local single-node Kubernetes up (or make sure it is up), from whatever state.
#
#   healthy already  -> only re-imports the sample app if app.py changed, then prints the ready line
#   anything else    -> tears down leftovers of a crashed or partial run, then starts fresh
# First run on a fresh machine installs packages, builds Kubernetes and the base image (minutes);
# later runs use the cache ($DL_CACHE). The last line is machine-readable:
#   drainlab-local: ready: kubeconfig=PATH context=NAME version=vX.Y.Z node=NAME host=NODE_IP started=1|0
# A bring-up that fails (or is interrupted) tears down what it started: nothing is left running.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root

lifecycle_lock

all_running() {
  local c
  for c in "${DL_COMPONENTS[@]}"; do pid_alive "$c" || return 1; done
}

if [[ -x "$DL_BIN/kubectl" ]] && all_running; then
  # Every component runs (others may be using the cluster right now): give a busy machine a
  # minute to answer before calling the cluster broken and restarting it.
  deadline=$((SECONDS + 60))
  until cluster_healthy || ((SECONDS >= deadline)); do sleep 1; done
  if cluster_healthy; then
    "$DL_DIR/import-images.sh"
    "$DL_DIR/proxy-period.sh"
    say "already up and healthy"
    ready_line 0
    exit 0
  fi
  say "all components run but the cluster has not been healthy for 60 s: restarting it"
fi

[[ -f "$DL_APP" ]] || die "the sample app is missing: $DL_APP (set DRAINLAB_APP to another file)"
start=$SECONDS
"$DL_DIR/install-deps.sh"
"$DL_DIR/build-kubernetes.sh"
"$DL_DIR/build-images.sh"

# Whatever an earlier run left (stale pid files, processes, iptables, mounts, the bridge): gone.
if [[ -d "$DL_STATE" || -d "$DL_RUN" ]] || netns_exists; then
  say "cleaning up an earlier run that is not healthy"
fi
"$DL_DIR/down.sh"
say "starting the cluster (state and component logs in $DL_STATE)"
undo 'say "bring-up failed: tearing down what was started"; "$DL_DIR/down.sh"'
t0=$SECONDS
"$DL_DIR/setup-network.sh"
"$DL_DIR/make-credentials.sh"
# containerd and the image import (unpacking the base layer takes seconds) do not need the API:
# run them while the control plane boots.
("$DL_DIR/start-containerd.sh" && "$DL_DIR/import-images.sh") &
runtime_pid=$!
undo 'wait "$runtime_pid" 2>/dev/null'  # before the teardown: it may still be starting containerd
"$DL_DIR/start-control-plane.sh"
wait "$runtime_pid" || die "containerd or the image import failed (see above; logs in $DL_LOGS)"
"$DL_DIR/start-node.sh"

wait_for "node $DL_NODE to register" 90 kubelet kc get node "$DL_NODE"
wait_for "node $DL_NODE to be Ready" 120 kubelet node_ready
# The controller-manager is working once it has made the default service account (pods need it).
wait_for "the default service account" 60 kube-controller-manager kc get serviceaccount default
say "node $DL_NODE Ready ($((SECONDS - t0)) s after start, $((SECONDS - start)) s in all)"
ready_line 1
