#!/usr/bin/env bash
# Make this cluster's credentials and the kubeconfig every client uses, once per state dir.
#
# A small CA signs the API server's serving certificate (so clients verify TLS instead of
# skipping it), the API server's client certificate for the kubelet (so the kubelet can refuse
# anonymous callers), and etcd's serving certificate and the API server's client certificate for
# it: etcd accepts only clients with a certificate from this CA (mutual TLS), so only the API
# server can read or write the cluster's data. Users and components authenticate with one static admin token in the
# system:masters group; authorisation is AlwaysAllow. The service-account RSA key pair is required
# by v1.20's API server and used by the controller-manager to sign pod tokens.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
need_root

PKI="$DL_STATE/pki"
mkdir -p "$PKI"
chmod 0700 "$PKI"
undo 'remove_tree "$PKI"; rm -f "$DL_KUBECONFIG" "$DL_KUBECONFIG.part"'
cd "$PKI" || exit

if [[ ! -s ca.crt ]]; then
  say "making credentials in $PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout ca.key -out ca.crt \
    -subj "/CN=drainlab-local-ca" 2>/dev/null

  cert() {  # name subject [subjectAltName]
    local name="$1" subj="$2" san="${3:-}" ext
    openssl req -new -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj" 2>/dev/null
    ext="$(mktemp)"
    {
      echo "basicConstraints=CA:FALSE"
      echo "keyUsage=digitalSignature,keyEncipherment"
      if [[ -n "$san" ]]; then
        echo "extendedKeyUsage=serverAuth"
        echo "subjectAltName=$san"
      else
        echo "extendedKeyUsage=clientAuth"
      fi
    } >"$ext"
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 3650 \
      -extfile "$ext" -out "$name.crt" 2>/dev/null
    rm -f "$name.csr" "$ext"
  }
  # The first address of the service range is the `kubernetes` Service's cluster IP.
  svc_ip="${DL_SERVICE_CIDR%.*/*}.1"
  cert apiserver "/CN=kube-apiserver" \
    "IP:127.0.0.1,IP:$DL_NODE_IP,IP:$DL_POD_GATEWAY,IP:$svc_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  cert etcd "/CN=drainlab-local-etcd" "IP:127.0.0.1,DNS:localhost"
  cert apiserver-etcd-client "/CN=kube-apiserver-etcd-client"

  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null

  token="$(openssl rand -hex 24)"
  printf '%s,admin,admin,"system:masters"\n' "$token" >tokens.csv
  chmod 0600 ./*.key tokens.csv
fi

token="$(cut -d, -f1 tokens.csv)"
umask 077
cat >"$DL_KUBECONFIG.part" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: $DL_CONTEXT
  cluster:
    server: https://$DL_NODE_IP:$DL_APISERVER_PORT
    certificate-authority-data: $(base64 -w0 ca.crt)
users:
- name: $DL_CONTEXT-admin
  user:
    token: $token
contexts:
- name: $DL_CONTEXT
  context:
    cluster: $DL_CONTEXT
    user: $DL_CONTEXT-admin
    namespace: default
current-context: $DL_CONTEXT
KUBECONFIG
mv "$DL_KUBECONFIG.part" "$DL_KUBECONFIG"
say "kubeconfig written: $DL_KUBECONFIG (context $DL_CONTEXT)"
