//! The revocation webhook on the v1.35 API server started with `webhook setup`'s
//! authorization config: a revoked certificate is denied while the same user's other one works;
//! a revoked tenant stays denied when someone binds it again by hand; a tenant created again
//! works with its new certificate while the old ones stay denied; service accounts, the
//! controller manager's identity, admin.conf and super-admin.conf never depend on it, also with
//! the webhook stopped; bad requests to the webhook get an error and it stays up.

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, StreamOwned,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject as _},
};
use serde_json::Value;
use workspace_tests::{
    control_plane::{ControlPlane, Options, Version},
    tenantctl,
};

use super::tenant::{as_tenant, run, show};

/// `tenantctl webhook serve`, killed on drop.
struct Webhook(Child);

impl Webhook {
    fn start(cp: &ControlPlane, dir: &Path, log: &Path) -> Self {
        let child = Command::new(ControlPlane::tenantctl_bin())
            .args(["webhook", "serve", "--config-dir"])
            .arg(dir)
            .arg("--kubeconfig")
            .arg(cp.admin())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Self(child)
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTPS request to the webhook (raw HTTP/1.1 over rustls), with the API server's client
/// certificate from webhook.kubeconfig or none: (status code, body).
fn call(
    dir: &Path,
    port: u16,
    client_cert: bool,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, String) {
    let kc = kube::config::Kubeconfig::from_yaml(
        &std::fs::read_to_string(dir.join("webhook.kubeconfig")).unwrap(),
    )
    .unwrap();
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&ca) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = if client_cert {
        use secrecy::ExposeSecret as _;
        let user = kc.auth_infos[0].auth_info.as_ref().unwrap();
        let cert = STANDARD
            .decode(user.client_certificate_data.as_ref().unwrap())
            .unwrap();
        let key = STANDARD
            .decode(user.client_key_data.as_ref().unwrap().expose_secret())
            .unwrap();
        builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(&cert)
                    .collect::<Result<_, _>>()
                    .unwrap(),
                PrivateKeyDer::from_pem_slice(&key).unwrap(),
            )
            .unwrap()
    } else {
        builder.with_no_client_auth()
    };
    let conn = ClientConnection::new(Arc::new(config), ServerName::try_from("127.0.0.1").unwrap())
        .unwrap();
    let Ok(tcp) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, "connection refused".into());
    };
    let mut tls = StreamOwned::new(conn, tcp);
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // A body over the webhook's limit is refused from its Content-Length, before it is sent
    // (a server closing on a half-sent body would reset the connection, answer and all).
    let _ = tls.write_all(head.as_bytes());
    if body.len() <= 1 << 20 {
        let _ = tls.write_all(body);
    } else {
        let _ = tls.flush();
        let _ = tls.sock.set_read_timeout(Some(Duration::from_secs(10)));
    }
    let mut text = Vec::new();
    let _ = tls.read_to_end(&mut text);
    let text = String::from_utf8_lossy(&text).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (code, body)
}

fn review(user: &str, id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": ["system:authenticated"],
                 "extra": {"authentication.kubernetes.io/credential-id": [format!("X509SHA256={id}")]},
                 "resourceAttributes": {"verb": "get", "resource": "pods"}}
    }))
    .unwrap()
}

/// kubectl with `kubeconfig` until it is refused with `why` in the answer (at most `secs`);
/// returns how long it took.
fn denied_within(cp: &ControlPlane, kubeconfig: &Path, secs: u64) -> Duration {
    refused_within(cp, kubeconfig, secs, "forbidden")
}

fn refused_within(cp: &ControlPlane, kubeconfig: &Path, secs: u64, why: &str) -> Duration {
    let started = Instant::now();
    loop {
        let (ok, out) = as_tenant(cp, kubeconfig, &["get", "configmaps", "-n", "team-a"]);
        if !ok {
            assert!(out.to_ascii_lowercase().contains(why), "{out}");
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "{} still allowed after {secs} s",
            kubeconfig.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sha_hex(record: &Value, serial: &str) -> String {
    record["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == serial)
        .and_then(|c| c["sha256"].as_str())
        .unwrap()
        .replace(':', "")
        .to_ascii_lowercase()
}

#[test]
fn revoked_certificates_are_denied_and_nothing_else_depends_on_the_webhook() {
    let Some(mut cp) = ControlPlane::start_with(Options {
        version: Version::V1_35,
        ..Options::default()
    }) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("webhook");
    let port = free_port();
    let pki = cp.cluster.pki.display().to_string();
    let out = tenantctl(&[
        "webhook",
        "setup",
        "--cert-dir",
        &pki,
        "--address",
        &format!("127.0.0.1:{port}"),
        "--out-dir",
        &dir.display().to_string(),
        "-o",
        "json",
    ])
    .unwrap();
    let setup: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(setup["failurePolicy"], "Deny");
    let config = dir.join("authorization-config.yaml");
    let status = tenantctl(&[
        "webhook",
        "status",
        "--authorization-config",
        &config.display().to_string(),
        "-o",
        "json",
    ])
    .unwrap();
    assert!(status.contains("\"configured\": true"), "{status}");

    cp.use_authorization_config(Some(config));
    let log = tmp.path().join("webhook.log");
    let mut webhook = Some(Webhook::start(&cp, &dir, &log));
    let deadline = Instant::now() + Duration::from_secs(30);
    while call(&dir, port, false, "GET", "/healthz", b"").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "webhook not healthy: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Two credentials of alice: the first revoked alone is denied; the second keeps working.
    let kc = |n: &str| tmp.path().join(format!("{n}.kubeconfig"));
    let s = |p: PathBuf| p.display().to_string();
    run(
        &cp,
        &[
            "create",
            "alice",
            "--role",
            "view",
            "-n",
            "team-a",
            "--create-namespace",
            "--kubeconfig-out",
            &s(kc("a1")),
        ],
    )
    .unwrap();
    run(&cp, &["renew", "alice", "--kubeconfig-out", &s(kc("a2"))]).unwrap();
    for k in ["a1", "a2"] {
        let (ok, out) = as_tenant(&cp, &kc(k), &["get", "configmaps", "-n", "team-a"]);
        assert!(ok, "{k}: {out}");
    }
    let record = show(&cp, "alice");
    let first = record["credentials"][0]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = cp.admin().display().to_string();
    let said = tenantctl(&[
        "revoke",
        "alice",
        "--credential",
        &first,
        "--kubeconfig",
        &admin,
    ])
    .unwrap();
    assert!(
        said.contains("denied by the API server from now on"),
        "{said}"
    );
    let took = denied_within(&cp, &kc("a1"), 10);
    eprintln!("one credential revoked: denied after {took:?}");
    let (ok, out) = as_tenant(&cp, &kc("a2"), &["get", "configmaps", "-n", "team-a"]);
    assert!(ok, "the other credential must keep working: {out}");
    assert_eq!(show(&cp, "alice")["phase"], "Active");

    // The whole tenant revoked; a binding made again by hand does not bring it back.
    tenantctl(&["revoke", "alice", "--kubeconfig", &admin]).unwrap();
    denied_within(&cp, &kc("a2"), 10);
    cp.kubectl_super(&[
        "create",
        "rolebinding",
        "by-hand",
        "--clusterrole",
        "view",
        "--user",
        "alice",
        "-n",
        "team-a",
    ]);
    std::thread::sleep(Duration::from_secs(2));
    let (ok, out) = as_tenant(&cp, &kc("a2"), &["get", "configmaps", "-n", "team-a"]);
    assert!(
        !ok,
        "a revoked certificate must stay denied after a binding by hand: {out}"
    );

    // Created again: the new certificate works, the old ones stay denied.
    run(
        &cp,
        &[
            "create",
            "alice",
            "--role",
            "view",
            "-n",
            "team-a",
            "--kubeconfig-out",
            &s(kc("a3")),
        ],
    )
    .unwrap();
    let (ok, out) = as_tenant(&cp, &kc("a3"), &["get", "configmaps", "-n", "team-a"]);
    assert!(ok, "{out}");
    for k in ["a1", "a2"] {
        assert!(
            !as_tenant(&cp, &kc(k), &["get", "configmaps", "-n", "team-a"]).0,
            "{k}"
        );
    }

    // Bad requests: an error each, and the webhook stays up.
    let revoked_id = sha_hex(&show(&cp, "alice"), &first);
    assert_eq!(
        call(
            &dir,
            port,
            false,
            "POST",
            "/authorize",
            &review("alice", &revoked_id)
        )
        .0,
        403
    );
    let (code, body) = call(&dir, port, true, "POST", "/authorize", b"{not json");
    assert_eq!(code, 400, "{body}");
    let wrong =
        br#"{"apiVersion":"authorization.k8s.io/v1beta1","kind":"SubjectAccessReview","spec":{}}"#;
    assert_eq!(call(&dir, port, true, "POST", "/authorize", wrong).0, 400);
    let big = vec![b' '; 10 * 1024 * 1024];
    assert_eq!(call(&dir, port, true, "POST", "/authorize", &big).0, 413);
    let (code, body) = call(
        &dir,
        port,
        true,
        "POST",
        "/authorize",
        &review("alice", &revoked_id),
    );
    assert_eq!(code, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["status"]["denied"], true, "{answer}");
    let (_, metrics) = call(&dir, port, false, "GET", "/metrics", b"");
    assert!(
        metrics.contains("tenantctl_webhook_decisions_total{result=\"denied_credential\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tenantctl_webhook_bad_requests_total{result=\"too_large\"} 1"),
        "{metrics}"
    );

    // Identities that never depend on the webhook, with it running and with it stopped.
    cp.kubectl_super(&["create", "serviceaccount", "ci", "-n", "team-a"]);
    cp.kubectl_super(&[
        "create",
        "rolebinding",
        "ci-view",
        "--clusterrole",
        "view",
        "--serviceaccount",
        "team-a:ci",
        "-n",
        "team-a",
    ]);
    let token = cp.kubectl_super(&["create", "token", "ci", "-n", "team-a"]);
    let server = cp.url.clone();
    let unaffected = |cp: &ControlPlane| {
        cp.kubectl_super(&["get", "ns"]);
        let (ok, _, err) = cp.kubectl_as(&cp.admin(), &["get", "ns"]);
        assert!(ok, "admin.conf: {err}");
        // The controller manager's own client certificate (controller-manager.conf).
        let (ok, _, err) = cp.kubectl_as(
            &cp.cluster.etc.join("controller-manager.conf"),
            &["get", "serviceaccounts", "-n", "kube-system"],
        );
        assert!(ok, "controller-manager.conf: {err}");
    };
    let sa_kc = tmp.path().join("sa.kubeconfig");
    std::fs::write(
        &sa_kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority: {}\nusers:\n- name: ci\n  user:\n    token: {}\ncontexts:\n- name: ci\n  context: {{cluster: c, user: ci}}\ncurrent-context: ci\n",
            cp.cluster.pki.join("ca.crt").display(),
            token.trim()
        ),
    )
    .unwrap();
    let sa_works = |cp: &ControlPlane| {
        let (ok, out) = as_tenant(cp, &sa_kc, &["get", "configmaps", "-n", "team-a"]);
        assert!(ok, "service account: {out}");
    };
    unaffected(&cp);
    sa_works(&cp);
    webhook.take();
    std::thread::sleep(Duration::from_secs(2));
    unaffected(&cp);
    sa_works(&cp);
    // Fail closed for tenants: with the webhook down, even alice's live certificate is refused
    // (the API server answers 500, naming the unreachable webhook).
    refused_within(&cp, &kc("a3"), 10, "authorize");
    // Back up: alice works again.
    let standalone = Webhook::start(&cp, &dir, &log);
    let works_again = |cp: &ControlPlane, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !as_tenant(cp, &kc("a3"), &["get", "configmaps", "-n", "team-a"]).0 {
            assert!(
                Instant::now() < deadline,
                "alice not allowed again ({what})"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    works_again(&cp, "webhook serve");
    drop(standalone);

    // The same webhook inside the controller: one implementation.
    super::controller::install_crd(&cp);
    let ctl_log = tmp.path().join("controller.log");
    let mut controller = Command::new(ControlPlane::tenantctl_bin())
        .args(["controller", "run", "--kubeconfig"])
        .arg(cp.admin())
        .args([
            "--cert-dir",
            &pki,
            "--metrics-bind-address",
            "0",
            "--health-probe-bind-address",
            "0",
            "--webhook-config-dir",
        ])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&ctl_log).unwrap())
        .spawn()
        .unwrap();
    works_again(&cp, "controller run --webhook-config-dir");
    let (ok, out) = as_tenant(&cp, &kc("a1"), &["get", "configmaps", "-n", "team-a"]);
    let log = std::fs::read_to_string(&ctl_log).unwrap_or_default();
    let _ = controller.kill();
    let _ = controller.wait();
    assert!(
        !ok,
        "a revoked certificate through the controller's webhook: {out}\n{log}"
    );
    assert!(log.contains("revocation webhook on https://"), "{log}");
}
