#!/usr/bin/env bash
# Regenerates the seed corpora in fuzz/corpus/<target>/ from the project's own output:
# `tenantctl pki init` with RSA-2048, RSA-3072 (IPv6, dual-stack, wildcard SAN), ECDSA-P256 and
# ECDSA-P384; the keys re-encoded by openssl (PKCS#8, EC PARAMETERS + SEC1, encrypted); CSRs made
# by openssl with the project's keys; the control-plane kubeconfigs, tenant kubeconfigs from
# `tenantctl create --offline`, hand-written token and plugin kubeconfigs; tenantctl's kubeadm
# config fixtures; plus edge cases (empty, truncated, wrong label, CRLF, trailing garbage, and the
# YAML shapes listed in kubeadm_config_corpus).
#
# Every key written here is a throwaway test fixture. Needs openssl, and builds the release
# tenantctl (`cargo build --release -p tenantctl`) unless TENANTCTL=path names one.
#
# `./make-corpus.sh kubeadm_config` regenerates only corpus/kubeadm_config/ (kubeadm config files:
# the parser's test fixtures plus hand-written edge cases), which needs neither tenantctl nor
# openssl.
set -euo pipefail
cd "$(dirname "$0")"

# --- kubeadm config files: tenantctl's fixtures, then edge cases, one file each ---------------
kubeadm_config_corpus() {
  local d=corpus/kubeadm_config f
  rm -rf "$d"
  mkdir -p "$d"
  for f in ../tenantctl/tests/fixtures/kubeadm/*.yaml; do
    cp "$f" "$d/fixture-$(basename "$f")"
  done
  # CRLF and lone-CR line endings (YAML line breaks either way; error lines count them).
  sed 's/$/\r/' "$d/fixture-v1beta4-full.yaml" >"$d/fixture-v1beta4-full-crlf.yaml"
  tr '\n' '\r' <"$d/fixture-v1beta3.yaml" >"$d/fixture-v1beta3-cr-only.yaml"
  head -c "$(($(wc -c <"$d/fixture-v1beta4-full.yaml") / 2))" "$d/fixture-v1beta4-full.yaml" \
    >"$d/fixture-v1beta4-full-truncated.yaml"
  local v4='apiVersion: kubeadm.k8s.io/v1beta4'
  local v3='apiVersion: kubeadm.k8s.io/v1beta3'
  local cc='kind: ClusterConfiguration' ic='kind: InitConfiguration'
  : >"$d/empty"
  printf -- '---\n' >"$d/only-separator"
  printf -- '---\n---\n...\n---\n' >"$d/only-separators-and-end"
  printf '# just a comment\n' >"$d/only-comment"
  printf '%s\n%s\nclusterName: c' "$v4" "$cc" >"$d/no-final-newline"
  printf '%s\n%s\nclusterName: c\n...\n' "$v4" "$cc" >"$d/document-end-marker"
  printf '%%YAML 1.2\n---\n%s\n%s\nclusterName: c\n' "$v4" "$cc" >"$d/yaml-directive"
  printf '\xef\xbb\xbf%s\n%s\n' "$v4" "$ic" >"$d/bom"
  printf '%s\n%s\n---\n%s\n%s\n' "$v4" "$cc" "$v3" "$cc" >"$d/duplicate-kind"
  printf '%s\n%s\n---\napiVersion: v1\nkind: ConfigMap\n' "$v4" "$cc" >"$d/with-configmap"
  printf 'apiVersion: kubeadm.k8s.io/v1beta2\n%s\ncertificatesDir: /pki\n' "$cc" >"$d/v1beta2"
  printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n---\napiVersion: v1\n%s\n' "$ic" \
    >"$d/join-and-core-group"
  printf '%s\n%s\nclusterName: a\nclusterName: b\n' "$v4" "$cc" >"$d/duplicate-key"
  printf '%s\n%s\napiServer:\n  certSans: [a.example]\n' "$v4" "$cc" >"$d/wrong-case-field"
  printf '%s\n%s\nlocalAPIEndpoint:\n  bindPort: 6443\n---\n%s\n%s\nclusterName: x\n' "$v4" "$cc" "$v4" "$ic" \
    >"$d/misplaced-fields"
  printf '%s\n%s\nencryptionAlgorithm: ECDSA-P256\n' "$v3" "$cc" >"$d/v1beta3-encryption-algorithm"
  printf '%s\n%s\nencryptionAlgorithm: RSA-3072\nfeatureGates:\n  PublicKeysECDSA: true\n' "$v4" "$cc" \
    >"$d/feature-gate-contradicts"
  printf '%s\n%s\nencryptionAlgorithm: ecdsa-p256\n' "$v4" "$cc" >"$d/algorithm-wrong-spelling"
  cat >"$d/anchors-aliases-merge" <<'EOF'
x-base: &base
  apiVersion: kubeadm.k8s.io/v1beta4
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
x-sans: &sans
- a.example
- 10.0.0.1
- fd00::1
apiServer:
  certSANs: *sans
etcd:
  local: &local
    serverCertSANs: *sans
    peerCertSANs: [*sans]
networking: &net
  <<: {serviceSubnet: "10.96.0.0/12,fd00:10:96::/112", dnsDomain: &d cluster.local}
clusterName: *d
EOF
  printf 'a: &a [*a]\n' >"$d/self-alias"
  printf '*undefined\n' >"$d/undefined-alias"
  { printf 'a: &x [1, 2, 3]\n'; for i in $(seq 1 40); do printf 'b%d: [*x, *x, *x, *x]\n' "$i"; done; } \
    >"$d/many-aliases"
  cat >"$d/huge-numbers" <<'EOF'
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  bindPort: 340282366920938463463374607431768211456
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
certificateValidityPeriod: 99999999999999999999999h
caCertificateValidityPeriod: 18446744073709551615s
EOF
  printf '%s\n%s\nlocalAPIEndpoint:\n  bindPort: 1e400\n' "$v4" "$ic" >"$d/float-port"
  printf '%s\n%s\nlocalAPIEndpoint:\n  bindPort: -65536\n' "$v4" "$ic" >"$d/negative-port"
  printf '%s\n%s\nlocalAPIEndpoint:\n  bindPort: 0x1F90\n  advertiseAddress: "::"\n' "$v4" "$ic" \
    >"$d/hex-port-unspecified-address"
  printf '%s\n%s\nclusterName:\tc\napiServer:\n\tcertSANs: [a]\n' "$v4" "$cc" >"$d/tabs"
  printf '%s\n%s\napiServer: {certSANs: [\ta.example,\t10.0.0.1 ]}\n' "$v4" "$cc" >"$d/tabs-in-flow"
  printf '{"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration", "networking": {"serviceSubnet": "fd00::/108"}, "apiServer": {"certSANs": ["x.example"]}}\n' \
    >"$d/json"
  printf '%s\n%s\nnetworking:\n  serviceSubnet: 10.96.0.0/12,10.97.0.0/16\n' "$v4" "$cc" >"$d/same-family-subnets"
  printf '%s\n%s\nnetworking:\n  serviceSubnet: " 10.96.0.0/12 , fd00::/112 ,::/0"\n' "$v4" "$cc" \
    >"$d/three-subnets"
  printf '%s\n%s\nnetworking:\n  serviceSubnet: 10.96.5.7/33\n' "$v4" "$cc" >"$d/bad-prefix"
  printf '%s\n%s\netcd:\n  external:\n    endpoints: [https://e:2379]\n  local: ~\n' "$v4" "$cc" \
    >"$d/external-etcd-null-local"
  printf '%s\n%s\netcd: {local: {}, external: {endpoints: []}}\n' "$v4" "$cc" >"$d/etcd-both"
  printf '%s\n%s\ncontrolPlaneEndpoint: "[fd00::1]:8443"\napiServer:\n  certSANs: ["*.api.example", "::ffff:10.0.0.1", "XN--BCHER-KVA.example", ""]\n' \
    "$v4" "$cc" >"$d/san-shapes"
  printf '%s\n%s\nclusterName: |\n  multi\n  line\ncertificatesDir: !!str /pki\n' "$v4" "$cc" >"$d/block-scalar-and-tag"
  printf '%s\n%s\nclusterName: !!binary aGVsbG8=\nnodeRegistration: {name: !custom x}\n' "$v4" "$cc" >"$d/binary-and-custom-tags"
  printf '%s\n%s\n? [complex, key]\n: value\n"apiServer": {"certSANs": null}\n' "$v4" "$cc" >"$d/complex-key"
  printf '%s\n%s\nnodeRegistration:\n  name: Node_1\n' "$v4" "$ic" >"$d/bad-node-name"
  { printf '%s\n%s\nx: ' "$v4" "$cc"; printf '[%.0s' $(seq 1 200); printf '\n'; } >"$d/deep-nesting"
}

if [ "${1:-}" = kubeadm_config ]; then
  kubeadm_config_corpus
  exit 0
fi

if [ -z "${TENANTCTL:-}" ]; then
  (cd .. && nice -n 19 cargo build --release -p tenantctl)
fi
tenantctl=${TENANTCTL:-../target/release/tenantctl}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for alg in RSA-2048 ECDSA-P256 ECDSA-P384; do
  "$tenantctl" pki init --cert-dir "$work/$alg/pki" --kubeconfig-dir "$work/$alg" \
    --node-name cp1 --apiserver-advertise-address 10.0.0.10 --encryption-algorithm "$alg" >/dev/null
done
"$tenantctl" pki init --cert-dir "$work/RSA-3072/pki" --kubeconfig-dir "$work/RSA-3072" \
  --node-name cp-2.example --apiserver-advertise-address fd00::10 \
  --control-plane-endpoint '[fd00::1]:8443' --apiserver-cert-extra-sans '*.api.example.com,203.0.113.7' \
  --service-cidr 10.96.0.0/12,fd00:10:96::/112 --encryption-algorithm RSA-3072 >/dev/null
# Tenant kubeconfigs (client certificate signed by the cluster CA), as `create --offline` writes them.
"$tenantctl" create alice --role view -n team-a -g devs --offline --cert-dir "$work/RSA-2048/pki" \
  --kubeconfig-out "$work/alice.kubeconfig" >/dev/null 2>&1
"$tenantctl" create bob --role edit --key-algorithm RSA-2048 --offline \
  --cert-dir "$work/ECDSA-P384/pki" --kubeconfig-out "$work/bob.kubeconfig" >/dev/null 2>&1

rm -rf corpus/cert_pem corpus/cert_der corpus/key_pem corpus/csr corpus/kubeconfig_yaml corpus/san
kubeadm_config_corpus
mkdir -p corpus/cert_pem corpus/cert_der corpus/key_pem corpus/csr corpus/kubeconfig_yaml corpus/san

# Edge cases of one PEM or YAML text: CRLF line endings, cut in half, trailing garbage.
variants() { # variants <file> <dir> <name>
  sed 's/$/\r/' "$1" >"$2/$3-crlf"
  head -c "$(($(wc -c <"$1") / 2))" "$1" >"$2/$3-truncated"
  { cat "$1"; printf 'garbage after the block \xc3\xa9\x00\n-----END\n'; } >"$2/$3-trailing-garbage"
}
lower() { tr 'A-Z' 'a-z' <<<"$1"; }

# --- certificates: every algorithm, every kind (CA, serving, client, server+client) ----------
for alg in RSA-2048 RSA-3072 ECDSA-P256 ECDSA-P384; do
  a=$(lower "$alg")
  for c in ca apiserver apiserver-kubelet-client etcd/peer; do
    n="$a-$(tr / - <<<"$c")"
    cp "$work/$alg/pki/$c.crt" "corpus/cert_pem/$n.crt"
    openssl x509 -in "$work/$alg/pki/$c.crt" -outform der -out "corpus/cert_der/$n.der"
  done
done
pki="$work/ECDSA-P256/pki"
cat "$pki/apiserver.crt" "$pki/ca.crt" >corpus/cert_pem/chain-apiserver-ca.crt
openssl x509 -in "$pki/ca.crt" -text >corpus/cert_pem/openssl-text-before.crt
openssl x509 -in "$pki/ca.crt" -trustout >corpus/cert_pem/trusted-certificate-label.crt
sed 's/CERTIFICATE/X509 CRL/' "$pki/ca.crt" >corpus/cert_pem/wrong-label.crt
sed 's/END CERTIFICATE/END CERTIFICATX/' "$pki/ca.crt" >corpus/cert_pem/mismatched-end.crt
cat "$work/RSA-2048/pki/sa.pub" >corpus/cert_pem/public-key-not-cert.pem
tr -d '\n' <"$pki/ca.crt" >corpus/cert_pem/one-line.crt
variants "$pki/apiserver.crt" corpus/cert_pem ecdsa-p256-apiserver
: >corpus/cert_pem/empty
# Shapes the project never writes: Ed25519 key, email/URI SANs, name constraints, no extensions.
openssl req -x509 -newkey ed25519 -keyout "$work/ed.key" -nodes -subj "/CN=ed/O=a/O=b" -days 1 \
  -addext "subjectAltName=DNS:x.example,IP:::1,email:a@x.example,URI:https://x.example/" \
  -addext "nameConstraints=critical,permitted;DNS:.example" -out corpus/cert_pem/ed25519-other-sans.crt 2>/dev/null
openssl req -new -newkey rsa:1024 -keyout "$work/r1024.key" -nodes -subj "/CN=v1" -out "$work/v1.csr" 2>/dev/null
openssl x509 -req -in "$work/v1.csr" -signkey "$work/r1024.key" -set_serial 0 -days 1 \
  -out corpus/cert_pem/rsa1024-v1-serial0.crt 2>/dev/null
for f in ed25519-other-sans rsa1024-v1-serial0; do
  openssl x509 -in "corpus/cert_pem/$f.crt" -outform der -out "corpus/cert_der/$f.der"
done
der=corpus/cert_der/ecdsa-p256-apiserver.der
head -c "$(($(wc -c <"$der") - 1))" "$der" >corpus/cert_der/truncated-by-one.der
{ cat "$der"; printf '\x00'; } >corpus/cert_der/trailing-zero.der
: >corpus/cert_der/empty

# --- private keys: PKCS#1 / SEC1 (kubeadm's encoding), PKCS#8, EC PARAMETERS + SEC1 -----------
for alg in RSA-2048 ECDSA-P256 ECDSA-P384; do
  a=$(lower "$alg")
  cp "$work/$alg/pki/ca.key" "corpus/key_pem/$a-kubeadm.key"
  openssl pkcs8 -topk8 -nocrypt -in "$work/$alg/pki/ca.key" -out "corpus/key_pem/$a-pkcs8.key"
done
cp "$work/RSA-3072/pki/sa.key" corpus/key_pem/rsa-3072-kubeadm.key
for curve in P256 P384; do
  key="$work/ECDSA-$curve/pki/ca.key"
  { openssl ec -in "$key" -param_out 2>/dev/null; cat "$key"; } \
    >"corpus/key_pem/ecdsa-$(lower "$curve")-with-ec-parameters.key"
done
openssl pkcs8 -topk8 -v2 aes-128-cbc -passout pass:x -in "$work/ECDSA-P256/pki/ca.key" \
  -out corpus/key_pem/encrypted-pkcs8.key
openssl rsa -in "$work/RSA-2048/pki/ca.key" -aes128 -passout pass:x -traditional \
  -out corpus/key_pem/encrypted-legacy-proc-type.key 2>/dev/null
openssl genpkey -algorithm ed25519 -out corpus/key_pem/ed25519-unsupported.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out corpus/key_pem/p521-unsupported.key
openssl genrsa -traditional -out corpus/key_pem/rsa-1024-unsupported.key 1024 2>/dev/null
cp "$work/RSA-2048/pki/sa.pub" corpus/key_pem/public-key-not-private.pem
sed 's/EC PRIVATE KEY/RSA PRIVATE KEY/' "$work/ECDSA-P256/pki/ca.key" >corpus/key_pem/wrong-label-ec-as-rsa.key
variants "$work/ECDSA-P256/pki/ca.key" corpus/key_pem ecdsa-p256-kubeadm
: >corpus/key_pem/empty

# --- CSRs: openssl requests with the project's keys, DER and PEM, both labels ----------------
for alg in RSA-2048 ECDSA-P256 ECDSA-P384; do
  a=$(lower "$alg")
  openssl req -new -key "$work/$alg/pki/apiserver-kubelet-client.key" \
    -subj "/O=system:masters/O=team-a/CN=alice" \
    -addext "subjectAltName=DNS:alice.example,IP:10.0.0.10,IP:fd00::10,email:alice@x.example" \
    -out "corpus/csr/$a.csr"
  openssl req -in "corpus/csr/$a.csr" -outform der -out "corpus/csr/$a.der"
done
openssl req -new -key "$work/ECDSA-P256/pki/ca.key" -subj "/CN=no-sans" -out "$work/plain.csr"
sed 's/CERTIFICATE REQUEST/NEW CERTIFICATE REQUEST/' "$work/plain.csr" >corpus/csr/legacy-label.csr
openssl req -new -key "$work/ed.key" -subj "/CN=ed" -out corpus/csr/ed25519-unsupported.csr
variants corpus/csr/ecdsa-p256.csr corpus/csr ecdsa-p256
: >corpus/csr/empty

# --- kubeconfigs: client certificate (pki init) and token / plugin / file references ---------
cp "$work/RSA-2048/admin.conf" corpus/kubeconfig_yaml/rsa-2048-admin.conf
cp "$work/ECDSA-P256/kubelet.conf" corpus/kubeconfig_yaml/ecdsa-p256-kubelet.conf
cp "$work/ECDSA-P384/super-admin.conf" corpus/kubeconfig_yaml/ecdsa-p384-super-admin.conf
cp "$work/RSA-3072/controller-manager.conf" corpus/kubeconfig_yaml/rsa-3072-ipv6-controller-manager.conf
cp "$work/alice.kubeconfig" corpus/kubeconfig_yaml/tenant-alice-p256-key-rsa-ca.kubeconfig
cp "$work/bob.kubeconfig" corpus/kubeconfig_yaml/tenant-bob-rsa-key-p384-ca.kubeconfig
ca_data=$(base64 -w0 "$work/ECDSA-P256/pki/ca.crt")
cat >corpus/kubeconfig_yaml/token.yaml <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster:
    server: https://[fd00::1]:8443
    certificate-authority-data: $ca_data
contexts:
- name: alice@kubernetes
  context:
    cluster: kubernetes
    user: alice
    namespace: team-a
current-context: alice@kubernetes
users:
- name: alice
  user:
    token: abcdef.0123456789abcdef
preferences: {}
EOF
cat >corpus/kubeconfig_yaml/plugins-and-files.yaml <<'EOF'
apiVersion: v1
kind: Config
current-context: exec
clusters:
- name: files
  cluster: {server: "https://lb.example.com/k8s/clusters/c-1", certificate-authority: /etc/ca.crt, tls-server-name: api, proxy-url: "http://proxy:3128"}
- name: insecure
  cluster: {server: "https://10.0.0.1", insecure-skip-tls-verify: true}
contexts:
- {name: exec, context: {cluster: files, user: exec, namespace: ns}}
- {name: files, context: {cluster: files, user: files}}
- {name: tokenfile, context: {cluster: insecure, user: tokenfile}}
- {name: basic, context: {cluster: insecure, user: basic}}
- {name: oidc, context: {cluster: insecure, user: oidc}}
users:
- name: exec
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: kubectl-oidc
      args: [get-token, "--x=1"]
      env: [{name: A, value: b}, {name: C, value: d}]
      interactiveMode: Never
- {name: files, user: {client-certificate: /c.crt, client-key: /c.key}}
- {name: tokenfile, user: {tokenFile: /var/run/token, as: bob, as-groups: [g1, g2], as-user-extra: {k: [v1, v2], l: [w]}}}
- {name: basic, user: {username: u, password: p}}
- name: oidc
  user:
    auth-provider:
      name: oidc
      config: {client-id: k, idp-issuer-url: "https://x", id-token: t}
extensions:
- {name: ext, extension: {a: [1, 2.5, true, null], b: {c: d}}}
EOF
printf '{"apiVersion":"v1","kind":"Config","clusters":[{"name":"k","cluster":{"server":"https://[::1]:6443"}}],"contexts":[{"name":"c","context":{"cluster":"k","user":"u"}}],"users":[{"name":"u","user":{"token":"t"}}],"current-context":"c"}\n' \
  >corpus/kubeconfig_yaml/json.json
printf 'current-context: a\nusers: [{name: a, user: {token: x}}]\n---\ncurrent-context: b\nusers: [{name: a, user: {token: y}}, {name: b, user: {token: z}}]\n' \
  >corpus/kubeconfig_yaml/multi-document.yaml
printf 'users:\n- name: a\n  user: {token: x}\n- name: a\n  user: {token: y}\n' >corpus/kubeconfig_yaml/duplicate-user.yaml
printf 'clusters:\n- name: a\n  cluster: {server: &s "https://x"}\ncontexts:\n- name: *s\n  context: {cluster: a, user: *s}\n' \
  >corpus/kubeconfig_yaml/anchors.yaml
for f in ../kubeconfig/tests/data/*.yaml; do cp "$f" "corpus/kubeconfig_yaml/tests-data-$(basename "$f")"; done
variants corpus/kubeconfig_yaml/token.yaml corpus/kubeconfig_yaml token
: >corpus/kubeconfig_yaml/empty

# --- SANs, CIDRs, endpoints, server URLs, key algorithms: one string per file ----------------
i=0
while IFS= read -r s; do
  printf '%s' "$s" >"corpus/san/$(printf '%02d' $i)"
  i=$((i + 1))
done <<'EOF'
10.0.0.10
fd00::10
::ffff:10.0.0.1
kubernetes.default.svc.cluster.local
*.api.example.com
API.Example.COM
-bad-.example
a..b
10.96.0.0/12
fd00:10:96::/112
10.96.5.7/12
0.0.0.0/0
10.0.0.1/32
vip.example.com:6443
[fd00::1]:8443
10.0.0.10:6443
https://10.0.0.10:6443
https://[fd00::10]:6443
https://lb.example.com/k8s/clusters/c-1
https://k8s_vip.example:443
RSA-2048
ecdsa_p384
EOF
printf '' >corpus/san/empty
