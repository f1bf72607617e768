#!/usr/bin/env bash
# Make the cluster's own network namespace, before any component starts.
#
# - The namespace DL_NETNS holds the whole cluster network: loopback, the node's end of a veth
#   pair (DL_NODE_IP), the pod bridge cni0 with its gateway, the forwarding sysctls, and later the
#   kube-proxy and kubelet iptables chains. The host keeps only the other end, DL_VETH_HOST
#   (DL_LINK_HOST), and the route the kernel adds for that link: clients on this machine reach
#   the API server and the NodePorts at DL_NODE_IP through it.
# - The namespace has no default route: a pod or Service address can never be routed off this
#   machine, and packets from pods leave the namespace only as replies on the link.
# - The CNI config (bridge + host-local IPAM with its data in the state dir + portmap).
# On failure everything made so far is removed again (the undo steps of lib.sh).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root

netns_exists && die "network namespace $DL_NETNS exists already (run down.sh first)"
if ip link show "$DL_VETH_HOST" >/dev/null 2>&1; then
  die "an interface named $DL_VETH_HOST exists already (run down.sh first)"
fi
# The link's addresses must not be in use on this machine: read-only, our link net only.
in_use="$(ip -4 -o addr show to "$DL_LINK_NET" | awk '{print $2 " " $4}' | head -n1)"
[[ -z "$in_use" ]] || die "$DL_LINK_NET is already used on this machine ($in_use); free it or change DL_LINK_NET in lib.sh"

mkdir -p "$DL_STATE" "$DL_STATE/cni/net.d" "$DL_STATE/cni/networks"

ip netns add "$DL_NETNS"
undo 'ip netns del "$DL_NETNS"'
ip link add "$DL_VETH_HOST" type veth peer name "$DL_VETH_NODE" netns "$DL_NETNS"
undo 'ip link del "$DL_VETH_HOST" 2>/dev/null'
ip addr add "$DL_LINK_HOST/${DL_LINK_NET#*/}" dev "$DL_VETH_HOST"
ip link set "$DL_VETH_HOST" up

in_ns ip link set lo up
in_ns ip addr add "$DL_NODE_IP/${DL_LINK_NET#*/}" dev "$DL_VETH_NODE"
in_ns ip link set "$DL_VETH_NODE" up
# The pod bridge exists before the kubelet starts so the CNI bridge plugin adopts it.
in_ns ip link add "$DL_BRIDGE" type bridge
in_ns ip addr add "$DL_POD_GATEWAY/${DL_POD_SUBNET#*/}" dev "$DL_BRIDGE"
in_ns ip link set "$DL_BRIDGE" up
# Per-namespace sysctls: routing between the bridge and the link, and bridged pod traffic through
# iptables (kube-proxy's Service rules must see pod-to-Service packets on the bridge).
in_ns sysctl -q -w net.ipv4.ip_forward=1
if ! in_ns sysctl -q -w net.bridge.bridge-nf-call-iptables=1 2>/dev/null; then
  modprobe br_netfilter 2>/dev/null || true
  in_ns sysctl -q -w net.bridge.bridge-nf-call-iptables=1 || \
    die "net.bridge.bridge-nf-call-iptables cannot be set (is the br_netfilter module available?)"
fi

cat >"$DL_STATE/cni/net.d/10-drainlab.conflist" <<CNI
{
  "cniVersion": "0.4.0",
  "name": "drainlab-local",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$DL_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DL_STATE/cni/networks",
        "ranges": [[{"subnet": "$DL_POD_SUBNET", "gateway": "$DL_POD_GATEWAY"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
CNI
say "network ready: namespace $DL_NETNS, node $DL_NODE_IP via $DL_VETH_HOST ($DL_LINK_HOST), pods $DL_POD_SUBNET on $DL_BRIDGE"
