//! `tenantctl join` against a real HTTPS server on loopback (rustls, the API server's
//! certificate from a `pki init`), serving `cluster-info` as kube-apiserver would: the signed
//! kubeconfig, a tampered one, another CA behind the TLS, an unknown token. Each failure is one
//! clear error with nothing written.

use std::{
    collections::BTreeMap,
    io::{Read as _, Write as _},
    net::TcpListener,
    path::Path,
    process::{Command, Output},
    sync::Arc,
    time::{Duration, Instant},
};

use rustls::{
    ServerConfig, ServerConnection, StreamOwned,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
};
use tenantctl::join::{bootstrap_setup::cluster_info_kubeconfig, jws};

const BIN: &str = env!("CARGO_BIN_EXE_tenantctl");
const TOKEN: &str = "abcdef.0123456789abcdef";

/// A PKI in `dir` whose API server certificate also names 127.0.0.1.
fn pki(dir: &Path) {
    let out = Command::new(BIN)
        .args([
            "pki",
            "init",
            "--encryption-algorithm",
            "ECDSA-P256",
            "--node-name",
            "cp1",
            "--apiserver-advertise-address",
            "10.0.0.10",
            "--apiserver-cert-extra-sans",
            "127.0.0.1",
            "--cert-dir",
        ])
        .arg(dir.join("pki"))
        .arg("--kubeconfig-dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap()
}

/// Serves `cluster-info` with `data` over TLS with `dir`'s apiserver certificate, for at most
/// `life`; returns the port.
fn serve(dir: &Path, data: BTreeMap<String, String>, life: Duration) -> u16 {
    serve_with(dir, data, None, life)
}

/// [`serve`], plus `kube-system/secrets/kubeadm-certs` (`certs`, a Secret's JSON) for clients
/// presenting the bootstrap token.
fn serve_with(
    dir: &Path,
    data: BTreeMap<String, String>,
    kubeadm_certs: Option<String>,
    life: Duration,
) -> u16 {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(read(dir, "pki/apiserver.crt").as_bytes())
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_slice(read(dir, "pki/apiserver.key").as_bytes()).unwrap();
    let config = Arc::new(
        ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let body = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cluster-info", "namespace": "kube-public"},
        "data": data,
    })
    .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < life {
            let Ok((tcp, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            tcp.set_nonblocking(false).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let conn = ServerConnection::new(config.clone()).unwrap();
            let mut tls = StreamOwned::new(conn, tcp);
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // A client that rejects the certificate ends the handshake: next connection.
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
            let ok = |body: &str| {
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let certs_route = head
                .starts_with("get /api/v1/namespaces/kube-system/secrets/kubeadm-certs")
                && head.contains(&format!("authorization: bearer {TOKEN}"));
            let response = match &kubeadm_certs {
                _ if head
                    .starts_with("get /api/v1/namespaces/kube-public/configmaps/cluster-info") =>
                {
                    ok(&body)
                }
                Some(certs) if certs_route => ok(certs),
                _ => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .into(),
            };
            let _ = tls.write_all(response.as_bytes());
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    port
}

/// cluster-info as the bootstrap signer leaves it: the kubeconfig (server `server`, CA of
/// `dir`) and its JWS for token `abcdef`.
fn cluster_info(dir: &Path, server: &str) -> BTreeMap<String, String> {
    let kc = cluster_info_kubeconfig(&server.parse().unwrap(), &read(dir, "pki/ca.crt")).unwrap();
    let sig = jws::detached_signature(&kc, "abcdef", "0123456789abcdef");
    BTreeMap::from([
        ("kubeconfig".to_owned(), kc),
        ("jws-kubeconfig-abcdef".to_owned(), sig),
    ])
}

fn ca_hash(dir: &Path) -> String {
    pki_core::Certificate::from_pem(&read(dir, "pki/ca.crt"))
        .unwrap()
        .discovery_hash()
        .unwrap()
}

fn join(node: &Path, port: u16, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["join", &format!("127.0.0.1:{port}"), "--token", TOKEN])
        .arg("--kubeconfig-dir")
        .arg(node)
        .arg("--cert-dir")
        .arg(node.join("pki"))
        .args(["--request-timeout", "5s"])
        .args(extra)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn join_discovers_pins_and_writes_the_endpoint_it_was_given() {
    let cp = tempfile::tempdir().unwrap();
    pki(cp.path());
    let hash = ca_hash(cp.path());
    // cluster-info names the first control-plane node, as `init` wrote it.
    let port = serve(
        cp.path(),
        cluster_info(cp.path(), "https://10.0.0.10:6443"),
        Duration::from_secs(30),
    );

    let node = tempfile::tempdir().unwrap();
    let out = join(
        node.path(),
        port,
        &["--discovery-token-ca-cert-hash", &hash],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("note: cluster-info names https://10.0.0.10:6443 but https://127.0.0.1:"),
        "{}",
        text(&out.stderr)
    );
    let kc =
        kubeconfig::Kubeconfig::from_yaml(&read(node.path(), "bootstrap-kubelet.conf")).unwrap();
    let current = kc.current().unwrap();
    assert_eq!(
        current.server,
        format!("https://127.0.0.1:{port}"),
        "the endpoint given"
    );
    assert_eq!(current.user, "tls-bootstrap-token-user");
    assert_eq!(current.cluster, "kubernetes");
    assert!(matches!(
        current.credentials,
        kubeconfig::Credentials::Token(_)
    ));
    assert_eq!(
        read(node.path(), "pki/ca.crt"),
        read(cp.path(), "pki/ca.crt")
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(node.path().join("bootstrap-kubelet.conf"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        !text(&out.stdout).contains("0123456789abcdef"),
        "the token is not printed"
    );

    // kubeadm's behaviour on request.
    let node2 = tempfile::tempdir().unwrap();
    let out = join(
        node2.path(),
        port,
        &[
            "--discovery-token-ca-cert-hash",
            &hash,
            "--use-cluster-info-server",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let kc =
        kubeconfig::Kubeconfig::from_yaml(&read(node2.path(), "bootstrap-kubelet.conf")).unwrap();
    assert_eq!(kc.current().unwrap().server, "https://10.0.0.10:6443");

    // Running it again: the kubeconfig exists, exit 3, nothing changed.
    let again = join(
        node.path(),
        port,
        &["--discovery-token-ca-cert-hash", &hash],
    );
    assert_eq!(again.status.code(), Some(3), "{}", text(&again.stderr));
}

#[test]
fn join_refuses_what_it_cannot_trust_and_writes_nothing() {
    let cp = tempfile::tempdir().unwrap();
    pki(cp.path());
    let hash = ca_hash(cp.path());
    let server = "https://10.0.0.10:6443";
    let life = Duration::from_secs(30);

    let mut tampered = cluster_info(cp.path(), server);
    let kc = tampered["kubeconfig"].replace("10.0.0.10", "10.6.6.6");
    tampered.insert("kubeconfig".into(), kc);

    // Another cluster's CA in cluster-info (signed with the token) behind this server's TLS:
    // the pin matches the claimed CA, the verified second fetch does not.
    let other = tempfile::tempdir().unwrap();
    pki(other.path());
    let other_hash = ca_hash(other.path());

    let cases: Vec<(&str, u16, Vec<String>, String)> = vec![
        (
            "tampered kubeconfig",
            serve(cp.path(), tampered, life),
            vec!["--discovery-token-ca-cert-hash".into(), hash.clone()],
            "signature for token abcdef does not verify".into(),
        ),
        (
            "wrong CA hash",
            serve(cp.path(), cluster_info(cp.path(), server), life),
            vec![
                "--discovery-token-ca-cert-hash".into(),
                format!("sha256:{}", "0".repeat(64)),
            ],
            format!("does not match any --discovery-token-ca-cert-hash: its hash is {hash}"),
        ),
        (
            "another CA behind the TLS",
            serve(cp.path(), cluster_info(other.path(), server), life),
            vec!["--discovery-token-ca-cert-hash".into(), other_hash],
            "the second fetch of cluster-info, over TLS verified by the pinned CA, failed".into(),
        ),
        (
            "unknown token",
            serve(
                cp.path(),
                {
                    let mut d = cluster_info(cp.path(), server);
                    d.remove("jws-kubeconfig-abcdef");
                    d
                },
                life,
            ),
            // Discovery waits for a signature that never comes, then names the token.
            vec![
                "--discovery-token-ca-cert-hash".into(),
                hash.clone(),
                "--discovery-timeout".into(),
                "2s".into(),
            ],
            "token id \"abcdef\" is unknown to the cluster".into(),
        ),
    ];
    for (what, port, args, message) in cases {
        let node = tempfile::tempdir().unwrap();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = join(node.path(), port, &args);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(&message),
            "{what}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            std::fs::read_dir(node.path()).unwrap().count(),
            0,
            "{what}: nothing written"
        );
    }

    // Bad input before any network: a malformed token, no hash.
    let node = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "join",
            "127.0.0.1:1",
            "--token",
            "not-a-token",
            "--discovery-token-ca-cert-hash",
            &hash,
        ])
        .arg("--kubeconfig-dir")
        .arg(node.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("[a-z0-9]{6}.[a-z0-9]{16}"),
        "{}",
        text(&out.stderr)
    );
    let out = Command::new(BIN)
        .args(["join", "127.0.0.1:1", "--token", TOKEN])
        .arg("--kubeconfig-dir")
        .arg(node.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("tenantctl pki ca-hash"),
        "{}",
        text(&out.stderr)
    );
    // An unreachable endpoint: a clear error, quickly.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let out = join(
        node.path(),
        closed,
        &["--discovery-token-ca-cert-hash", &hash],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("get configmap/cluster-info in kube-public failed"),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(std::fs::read_dir(node.path()).unwrap().count(), 0);
}

/// A second control-plane node: kubeadm-certs downloaded with the bootstrap token and the
/// certificate key, the CAs and SA keys identical to the first node's, its own serving
/// certificate signed by that CA, admin.conf on the endpoint.
#[test]
fn control_plane_join_downloads_the_cas_and_makes_this_nodes_pki() {
    use tenantctl::pki::upload_certs::{decode_key, new_certificate_key, secret_data};
    let cp = tempfile::tempdir().unwrap();
    pki(cp.path());
    let hash = ca_hash(cp.path());
    let hex = new_certificate_key().unwrap();
    let key = decode_key(&hex).unwrap();
    let data = secret_data(&cp.path().join("pki"), false, &key).unwrap();
    let certs = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "kubeadm-certs", "namespace": "kube-system"},
        "data": data,
    })
    .to_string();
    let port = serve_with(
        cp.path(),
        cluster_info(cp.path(), "https://10.0.0.10:6443"),
        Some(certs),
        Duration::from_secs(30),
    );
    let node = tempfile::tempdir().unwrap();
    let join_cp = |key: &str| {
        join(
            node.path(),
            port,
            &[
                "--discovery-token-ca-cert-hash",
                &hash,
                "--control-plane",
                "--certificate-key",
                key,
                "--node-name",
                "cp2",
                "--apiserver-advertise-address",
                "10.0.0.11",
                "--encryption-algorithm",
                "ECDSA-P256",
            ],
        )
    };
    // The wrong key opens nothing and writes nothing.
    let wrong = join_cp(&new_certificate_key().unwrap());
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong.stderr));
    assert!(
        text(&wrong.stderr).contains("does not open it"),
        "{}",
        text(&wrong.stderr)
    );
    assert_eq!(std::fs::read_dir(node.path()).unwrap().count(), 0);

    let out = join_cp(&hex);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for f in [
        "ca.crt",
        "ca.key",
        "front-proxy-ca.key",
        "sa.key",
        "sa.pub",
        "etcd/ca.key",
    ] {
        assert_eq!(
            read(node.path(), &format!("pki/{f}")),
            read(cp.path(), &format!("pki/{f}")),
            "{f}"
        );
    }
    let ca = pki_core::Certificate::from_pem(&read(node.path(), "pki/ca.crt")).unwrap();
    let api = pki_core::Certificate::from_pem(&read(node.path(), "pki/apiserver.crt")).unwrap();
    api.verify_signed_by(&ca).unwrap();
    assert!(api.covers(&pki_core::San::Dns("cp2".into())));
    assert!(api.covers(&"10.0.0.11".parse().unwrap()));
    assert_ne!(
        read(node.path(), "pki/apiserver.key"),
        read(cp.path(), "pki/apiserver.key"),
        "its own serving key"
    );
    let admin = kubeconfig::Kubeconfig::from_yaml(&read(node.path(), "admin.conf")).unwrap();
    assert_eq!(
        admin.current().unwrap().server,
        format!("https://127.0.0.1:{port}")
    );
}
