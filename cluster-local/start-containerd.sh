#!/usr/bin/env bash
# Start this cluster's own containerd (never the system one): its own config, root, state and
# socket, so it cannot disturb anything else on the machine and teardown can remove all of it.
#
# - sandbox_image is our locally built pause image (containerd ignores the kubelet's flag).
# - runc is reached through a wrapper: this VM denies CAP_SYS_RESOURCE, and runc fails with
#   "can't get final child's PID from pipe: EOF" when a bundle asks for a negative oom_score_adj
#   (the pod sandbox asks for -998). The wrapper clamps it to 0 and execs runc.
# - network namespaces are mounted under the state dir, the CNI config is ours.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root

CTRD="$DL_STATE/containerd"
mkdir -p "$CTRD/root" "$DL_RUN" "$DL_STATE/bin"
RUNC="$(command -v runc || true)"
[[ -n "$RUNC" ]] || die "runc is not installed (run install-deps.sh)"

cat >"$DL_STATE/bin/runc-wrapper" <<WRAPPER
#!/bin/sh
# drainlab-local: clamp a negative oom_score_adj in the bundle (CAP_SYS_RESOURCE is denied here).
prev=""
for a in "\$@"; do
  if [ "\$prev" = "--bundle" ] || [ "\$prev" = "-b" ]; then
    if [ -f "\$a/config.json" ]; then
      sed -i -E 's/"oomScoreAdj":-[0-9]+/"oomScoreAdj":0/' "\$a/config.json"
    fi
  fi
  prev="\$a"
done
exec $RUNC "\$@"
WRAPPER
chmod 0755 "$DL_STATE/bin/runc-wrapper"

cat >"$CTRD/config.toml" <<TOML
# drainlab-local: a private containerd for the local cluster.
version = 2
root = "$CTRD/root"
state = "$DL_RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$DL_CONTAINERD_SOCK"

[ttrpc]
  address = "$DL_CONTAINERD_SOCK.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$DL_SANDBOX_IMAGE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$DL_STATE/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$DL_STATE/bin/runc-wrapper"
        Root = "$DL_RUN/runc"
        SystemdCgroup = false
TOML

start_daemon containerd "${DL_IN_NS[@]}" /usr/bin/containerd --config "$CTRD/config.toml"
wait_for "containerd" 60 containerd ctr --address "$DL_CONTAINERD_SOCK" version
say "containerd up ($DL_CONTAINERD_SOCK)"
