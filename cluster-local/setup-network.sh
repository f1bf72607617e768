#!/usr/bin/env bash
# Prepare this machine's network for the cluster, before any component starts.
#
# - Unreachable routes for the service range and a /16 around the pod bridge's /24: no packet for
#   a service or pod address can ever be routed off this machine (the bridge's own /24 is more
#   specific and wins while it exists). They go in before kube-proxy ever runs.
# - The pod bridge cni0 is created here with its gateway address, so the kubelet and the API
#   server's advertise address can use an address that exists only on this machine (loopback
#   cannot be a node IP). The CNI bridge plugin adopts the existing bridge.
# - A FORWARD guard: nothing from the pod bridge is forwarded out of any other interface.
# - The sysctls kube-proxy and the bridge need; their previous values are saved for teardown.
# - The CNI config (bridge + host-local IPAM with its data in the state dir + portmap).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root

mkdir -p "$DL_STATE" "$DL_STATE/cni/net.d" "$DL_STATE/cni/networks"

# Refuse address ranges that this machine already uses for something else.
for cidr in "$DL_POD_WIDE" "$DL_SERVICE_CIDR"; do
  clash="$(ip -4 route show match "${cidr%/*}" | grep -vE "^(default|unreachable $cidr)" \
    | grep -v "dev $DL_BRIDGE" || true)"
  [[ -z "$clash" ]] || die "$cidr is already routed on this machine ($clash); free it or change lib.sh"
done

ip route replace unreachable "$DL_SERVICE_CIDR"
ip route replace unreachable "$DL_POD_WIDE"

if ! ip link show "$DL_BRIDGE" >/dev/null 2>&1; then
  ip link add "$DL_BRIDGE" type bridge
fi
ip addr replace "$DL_POD_GATEWAY/${DL_POD_SUBNET#*/}" dev "$DL_BRIDGE"
ip link set "$DL_BRIDGE" up

# FORWARD guard, first in the chain (kube-proxy's accept rules come later).
iptables -w -N DRAINLAB-FORWARD 2>/dev/null || iptables -w -F DRAINLAB-FORWARD
iptables -w -A DRAINLAB-FORWARD -i "$DL_BRIDGE" ! -o "$DL_BRIDGE" -j DROP \
  -m comment --comment "drainlab-local: pod traffic never leaves this machine"
iptables -w -C FORWARD -j DRAINLAB-FORWARD 2>/dev/null || iptables -w -I FORWARD 1 -j DRAINLAB-FORWARD

# Sysctls: remember what they were (once) so teardown puts them back.
SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.ipv4.conf.all.route_localnet)
if [[ ! -s "$DL_STATE/sysctl.saved" ]]; then
  for s in "${SYSCTLS[@]}"; do printf '%s=%s\n' "$s" "$(sysctl -n "$s")"; done >"$DL_STATE/sysctl.saved"
fi
for s in "${SYSCTLS[@]}"; do sysctl -q -w "$s=1"; done

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
say "network ready: $DL_BRIDGE $DL_POD_GATEWAY/${DL_POD_SUBNET#*/}, unreachable $DL_POD_WIDE and $DL_SERVICE_CIDR"
