#!/usr/bin/env bash
# Start the control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler.
#
# Everything listens on 127.0.0.1 only. v1.20 has no insecure port, so clients use TLS (our CA)
# and the static admin token; authorisation is AlwaysAllow. Leader election is off (one node),
# and the nodeipam controller is off because pod addresses come from the CNI's host-local range.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root

PKI="$DL_STATE/pki"
[[ -s "$PKI/ca.crt" && -s "$DL_KUBECONFIG" ]] || die "no credentials in $PKI (run make-credentials.sh)"

if ! pid_alive etcd; then
  port_free "$DL_ETCD_PORT"; port_free "$DL_ETCD_PEER_PORT"
  mkdir -p "$DL_STATE/etcd"
  chmod 0700 "$DL_STATE/etcd"
  start_daemon etcd /usr/bin/etcd --name drainlab-local --data-dir "$DL_STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$DL_ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$DL_ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$DL_ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$DL_ETCD_PEER_PORT" \
    --initial-cluster "drainlab-local=http://127.0.0.1:$DL_ETCD_PEER_PORT" \
    --initial-cluster-state new --listen-metrics-urls "" --log-level warn
fi
wait_for "etcd health" 60 etcd http_ok "http://127.0.0.1:$DL_ETCD_PORT/health"
say "etcd up"

if ! pid_alive kube-apiserver; then
  port_free "$DL_APISERVER_PORT"
  start_daemon kube-apiserver "$DL_BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$DL_ETCD_PORT" \
    --bind-address 127.0.0.1 --secure-port "$DL_APISERVER_PORT" --insecure-port 0 \
    --advertise-address "$DL_POD_GATEWAY" \
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
    --allow-privileged=true --profiling=false --v=1
fi
# With AlwaysAllow the API server turns anonymous auth off: even /readyz needs the token.
token="$(cut -d, -f1 "$PKI/tokens.csv")"
wait_for "kube-apiserver readiness" 120 kube-apiserver \
  http_ok "https://127.0.0.1:$DL_APISERVER_PORT/readyz" --cacert "$PKI/ca.crt" \
  -H "Authorization: Bearer $token"
say "kube-apiserver up on https://127.0.0.1:$DL_APISERVER_PORT"

start_daemon kube-controller-manager "$DL_BIN/kube-controller-manager" \
  --kubeconfig "$DL_KUBECONFIG" --controllers '*,-nodeipam' --leader-elect=false \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --bind-address 127.0.0.1 --port 0 --use-service-account-credentials=false \
  --authentication-kubeconfig "$DL_KUBECONFIG" --authorization-kubeconfig "$DL_KUBECONFIG" \
  --authentication-skip-lookup=true \
  --profiling=false --v=1
start_daemon kube-scheduler "$DL_BIN/kube-scheduler" \
  --kubeconfig "$DL_KUBECONFIG" --leader-elect=false --bind-address 127.0.0.1 --port 0 \
  --authentication-kubeconfig "$DL_KUBECONFIG" --authorization-kubeconfig "$DL_KUBECONFIG" \
  --authentication-skip-lookup=true \
  --profiling=false --v=1
say "kube-controller-manager and kube-scheduler started"
