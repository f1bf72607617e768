#!/usr/bin/env bash
# Start the control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler.
#
# All of it runs in the cluster's network namespace (setup-network.sh). etcd listens on that
# namespace's loopback and requires a client certificate from our CA (only the API server has
# one). The API server listens on the node address; v1.20 has no insecure port, so clients use
# TLS (our CA) and the static admin token; authorisation is AlwaysAllow. Privileged pods are
# refused unless DRAINLAB_ALLOW_PRIVILEGED=1 asks for them. Leader election is off (one node),
# and the nodeipam controller is off because pod addresses come from the CNI's host-local range.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root

PKI="$DL_STATE/pki"
[[ -s "$PKI/ca.crt" && -s "$DL_KUBECONFIG" ]] || die "no credentials in $PKI (run make-credentials.sh)"

netns_exists || die "no network namespace $DL_NETNS (run setup-network.sh)"
case "${DRAINLAB_ALLOW_PRIVILEGED:-0}" in
  1) privileged=true ;;
  0) privileged=false ;;
  *) die "DRAINLAB_ALLOW_PRIVILEGED=${DRAINLAB_ALLOW_PRIVILEGED}: use 1 or 0" ;;
esac
ETCD_URL="https://127.0.0.1:$DL_ETCD_PORT"
# EndpointSliceTerminatingCondition (KEP-1672, alpha in v1.20, on by default from v1.22): the
# EndpointSlice controller keeps a terminating pod's endpoint, with conditions serving and
# terminating, instead of dropping it at once; drainlab records those conditions (issue 19). Both
# need it: the API server drops the fields from slices while the gate is off, and the controller
# in kube-controller-manager only publishes them with it on.
FEATURE_GATES="EndpointSliceTerminatingCondition=true"

if ! pid_alive etcd; then
  mkdir -p "$DL_STATE/etcd"
  chmod 0700 "$DL_STATE/etcd"
  start_daemon etcd "${DL_IN_NS[@]}" /usr/bin/etcd --name drainlab-local --data-dir "$DL_STATE/etcd" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --cert-file "$PKI/etcd.crt" --key-file "$PKI/etcd.key" \
    --client-cert-auth --trusted-ca-file "$PKI/ca.crt" \
    --listen-peer-urls "http://127.0.0.1:$DL_ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$DL_ETCD_PEER_PORT" \
    --initial-cluster "drainlab-local=http://127.0.0.1:$DL_ETCD_PEER_PORT" \
    --initial-cluster-state new --listen-metrics-urls "" --log-level warn
fi
wait_for "etcd health" 60 etcd http_ok "$ETCD_URL/health" --cacert "$PKI/ca.crt" \
  --cert "$PKI/apiserver-etcd-client.crt" --key "$PKI/apiserver-etcd-client.key"
say "etcd up"

if ! pid_alive kube-apiserver; then
  start_daemon kube-apiserver "${DL_IN_NS[@]}" "$DL_BIN/kube-apiserver" \
    --etcd-servers "$ETCD_URL" --etcd-cafile "$PKI/ca.crt" \
    --etcd-certfile "$PKI/apiserver-etcd-client.crt" --etcd-keyfile "$PKI/apiserver-etcd-client.key" \
    --bind-address "$DL_NODE_IP" --secure-port "$DL_APISERVER_PORT" --insecure-port 0 \
    --advertise-address "$DL_NODE_IP" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --token-auth-file "$PKI/tokens.csv" --authorization-mode AlwaysAllow \
    --service-cluster-ip-range "$DL_SERVICE_CIDR" --service-node-port-range "$DL_NODEPORT_RANGE" \
    --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer "https://kubernetes.default.svc" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --allow-privileged="$privileged" --feature-gates "$FEATURE_GATES" --profiling=false --v=1
fi
# With AlwaysAllow the API server turns anonymous auth off: even /readyz needs the token.
token="$(cut -d, -f1 "$PKI/tokens.csv")"
wait_for "kube-apiserver readiness" 120 kube-apiserver \
  http_ok "https://$DL_NODE_IP:$DL_APISERVER_PORT/readyz" --cacert "$PKI/ca.crt" \
  -H "Authorization: Bearer $token"
say "kube-apiserver up on https://$DL_NODE_IP:$DL_APISERVER_PORT (privileged pods: $privileged)"

start_daemon kube-controller-manager "${DL_IN_NS[@]}" "$DL_BIN/kube-controller-manager" \
  --kubeconfig "$DL_KUBECONFIG" --controllers '*,-nodeipam' --leader-elect=false \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --bind-address 127.0.0.1 --port 0 --use-service-account-credentials=false \
  --authentication-kubeconfig "$DL_KUBECONFIG" --authorization-kubeconfig "$DL_KUBECONFIG" \
  --authentication-skip-lookup=true --feature-gates "$FEATURE_GATES" \
  --profiling=false --v=1
start_daemon kube-scheduler "${DL_IN_NS[@]}" "$DL_BIN/kube-scheduler" \
  --kubeconfig "$DL_KUBECONFIG" --leader-elect=false --bind-address 127.0.0.1 --port 0 \
  --authentication-kubeconfig "$DL_KUBECONFIG" --authorization-kubeconfig "$DL_KUBECONFIG" \
  --authentication-skip-lookup=true \
  --profiling=false --v=1
say "kube-controller-manager and kube-scheduler started"
