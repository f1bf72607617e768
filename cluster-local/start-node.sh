#!/usr/bin/env bash
# Start the node: kubelet, then kube-proxy in iptables mode.
#
# Both run in the cluster's network namespace. The kubelet's node IP and API address are the
# node's end of the link (DL_NODE_IP), its read-only port is off, it refuses anonymous
# callers and trusts only our CA (the API server's client certificate, for logs and exec).
# cgroupfs without QoS cgroups, no eviction and no image GC: a test node, not a production one.
# kube-proxy serves NodePorts on the node address only (clients on this machine use
# DL_NODE_IP:<nodePort>): see start_proxy in lib.sh.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root

PKI="$DL_STATE/pki"
mkdir -p "$DL_STATE/kubelet" "$DL_STATE/kubelet/volume-plugins"

# The kubelet writes pod logs to the fixed /var/log/pods (and links in /var/log/containers).
# Record the folders we create, so teardown removes only what this cluster made. (A marker file
# inside would not do: the kubelet's log GC deletes whatever it does not know in /var/log/pods.)
for d in /var/log/pods /var/log/containers; do
  if [[ ! -d "$d" ]]; then
    mkdir -p "$d"
    echo "$d" >>"$DL_STATE/created-paths"
    undo "rmdir $d"
  fi
done

if ! pid_alive kubelet; then
  # AWS_EC2_METADATA_DISABLED: the kubelet's built-in ECR credential provider would otherwise ask
  # the EC2 metadata address (169.254.169.254), which is not this machine.
  AWS_EC2_METADATA_DISABLED=true start_daemon kubelet "${DL_IN_NS[@]}" "$DL_BIN/kubelet" \
    --kubeconfig "$DL_KUBECONFIG" --root-dir "$DL_STATE/kubelet" --cert-dir "$DL_STATE/kubelet/pki" \
    --container-runtime remote --container-runtime-endpoint "unix://$DL_CONTAINERD_SOCK" \
    --image-service-endpoint "unix://$DL_CONTAINERD_SOCK" --runtime-request-timeout 5m \
    --pod-infra-container-image "$DL_SANDBOX_IMAGE" \
    --cgroup-driver cgroupfs --cgroups-per-qos=false --enforce-node-allocatable= \
    --fail-swap-on=false --eviction-hard= --image-gc-high-threshold 100 --image-gc-low-threshold 99 \
    --network-plugin cni --cni-bin-dir /usr/lib/cni --cni-conf-dir "$DL_STATE/cni/net.d" \
    --hostname-override "$DL_NODE" --node-ip "$DL_NODE_IP" \
    --address "$DL_NODE_IP" --read-only-port 0 --healthz-bind-address 127.0.0.1 \
    --anonymous-auth=false --client-ca-file "$PKI/ca.crt" --authorization-mode AlwaysAllow \
    --volume-plugin-dir "$DL_STATE/kubelet/volume-plugins" \
    --v=1
fi
wait_for "kubelet health" 90 kubelet http_ok http://127.0.0.1:10248/healthz
say "kubelet up"

proxy_period="$(proxy_period_wanted)"
pid_alive kube-proxy || start_proxy "$proxy_period"
say "kube-proxy up (iptables mode, NodePorts on $DL_NODE_IP, min sync period ${proxy_period:-default})"
