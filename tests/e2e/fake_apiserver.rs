//! The fake API server itself, which the suite keeps for what a real one cannot do on demand
//! (injected latency in `benches/apply_bench`, and as the baseline beside the real server in
//! `benches/apply_real`): its answers to the requests kube-apiserver answers with a `Status`,
//! its preconditions, selectors and authorization. The tenant flows themselves run on the real
//! control plane (`real/`).

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    sync::Arc,
    time::Duration,
};

use base64::Engine as _;
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, StreamOwned,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject as _},
};
use serde_json::{Value, json};
use workspace_tests::{
    Cluster, block_on,
    fake_apiserver::{FakeApiServer, set_kubeconfig_server},
};

/// A loopback PKI and the fake server, admin.conf pointing at it.
fn start() -> (Cluster, FakeApiServer, String) {
    let cluster = Cluster::init_loopback(&["--encryption-algorithm", "ECDSA-P256"]);
    let server = FakeApiServer::start(&cluster.pki, Duration::ZERO);
    let admin = cluster.etc.join("admin.conf");
    set_kubeconfig_server(&admin, &server.url());
    (cluster, server, admin.display().to_string())
}

#[test]
fn statuses_preconditions_selectors_and_authorization() {
    let (cluster, server, _) = start();
    let admin = Credentials::from_kubeconfig(&cluster.kubeconfig("admin.conf"));
    let cms = "/api/v1/namespaces/default/configmaps";
    let cm = |labels: Value| {
        json!({ "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "c1", "labels": labels }, "data": { "k": "v" } })
    };

    let (code, s) = admin.call(
        &server,
        "POST",
        "/api/v1/namespaces/nope/configmaps",
        &cm(json!({})),
    );
    assert_eq!((code, &s["reason"]), (404, &json!("NotFound")), "{s}");
    let (code, created) = admin.call(&server, "POST", cms, &cm(json!({ "app": "x" })));
    assert_eq!(code, 201, "{created}");
    let uid = created["metadata"]["uid"].as_str().unwrap().to_owned();
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, s) = admin.call(&server, "POST", cms, &cm(json!({})));
    assert_eq!((code, &s["reason"]), (409, &json!("AlreadyExists")), "{s}");

    // PUT with the version read succeeds once; the stale version then conflicts.
    let mut update = created;
    update["data"]["k"] = json!("w");
    let (code, updated) = admin.call(&server, "PUT", &format!("{cms}/c1"), &update);
    assert_eq!(code, 200, "{updated}");
    assert_ne!(updated["metadata"]["resourceVersion"], json!(rv));
    assert_eq!(updated["metadata"]["uid"], json!(uid));
    let (code, s) = admin.call(&server, "PUT", &format!("{cms}/c1"), &update);
    assert_eq!((code, &s["reason"]), (409, &json!("Conflict")), "{s}");

    // Server-side apply: unchanged content keeps the version, labels merge.
    let apply = |labels: Value| {
        admin.call_as(
            &server,
            "PATCH",
            &format!("{cms}/c1?fieldManager=t&force=true"),
            "application/apply-patch+yaml",
            &json!({ "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "name": "c1", "labels": labels }, "data": { "k": "w" } }),
        )
    };
    let (code, same) = apply(json!({ "app": "x" }));
    assert_eq!(code, 200, "{same}");
    assert_eq!(
        same["metadata"]["resourceVersion"],
        updated["metadata"]["resourceVersion"]
    );
    let (_, merged) = apply(json!({ "tier": "db" }));
    assert_eq!(
        merged["metadata"]["labels"],
        json!({ "app": "x", "tier": "db" })
    );
    assert_ne!(
        merged["metadata"]["resourceVersion"],
        updated["metadata"]["resourceVersion"]
    );

    // Label selectors, URL-encoded.
    let names = |query: &str| {
        let (code, list) = admin.call(
            &server,
            "GET",
            &format!("/api/v1/configmaps?labelSelector={query}"),
            &Value::Null,
        );
        assert_eq!(code, 200, "{list}");
        assert_eq!(list["kind"], "ConfigMapList");
        list["items"].as_array().unwrap().len()
    };
    assert_eq!(names("app%3Dx%2Ctier%3Ddb"), 1);
    assert_eq!(names("app%3Dy"), 0);

    // Delete only the version named, then 404.
    let delete = |pre: Value| {
        admin.call(
            &server,
            "DELETE",
            &format!("{cms}/c1"),
            &json!({ "preconditions": pre }),
        )
    };
    let (code, s) = delete(json!({ "uid": "another" }));
    assert_eq!((code, &s["reason"]), (409, &json!("Conflict")), "{s}");
    let (code, s) =
        delete(json!({ "uid": uid, "resourceVersion": merged["metadata"]["resourceVersion"] }));
    assert_eq!((code, &s["status"]), (200, &json!("Success")), "{s}");
    let (code, s) = delete(json!({}));
    assert_eq!((code, &s["reason"]), (404, &json!("NotFound")), "{s}");

    // Unknown paths, unauthenticated and unauthorized requests.
    let (code, s) = admin.call(&server, "GET", "/apis/apps/v1/deployments", &Value::Null);
    assert_eq!((code, &s["kind"]), (404, &json!("Status")));
    let anonymous = Credentials {
        cert: None,
        ..admin.clone()
    };
    assert_eq!(anonymous.call(&server, "GET", cms, &Value::Null).0, 401);
    let sar = |user: &str| {
        let body = json!({ "spec": { "user": user, "groups": ["system:authenticated"],
            "resourceAttributes": { "verb": "list", "resource": "configmaps", "namespace": "default" } } });
        admin
            .call(
                &server,
                "POST",
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                &body,
            )
            .1["status"]["allowed"]
            .clone()
    };
    assert_eq!(sar("nobody"), json!(false));
    assert!(server.requests() >= 15);
}

/// What a kubeconfig authenticates with, as kube's loader reads it; requests made with a
/// hand-written HTTP/1.1 client (one connection each).
#[derive(Clone)]
struct Credentials {
    ca: Vec<Vec<u8>>,
    cert: Option<(String, String)>,
    token: Option<String>,
}

impl Credentials {
    fn from_kubeconfig(text: &str) -> Self {
        use secrecy::ExposeSecret as _;
        let kc = kube::config::Kubeconfig::from_yaml(text).unwrap();
        let config = block_on(kube::Config::from_custom_kubeconfig(
            kc,
            &kube::config::KubeConfigOptions::default(),
        ))
        .unwrap();
        let b64 = |s: &str| {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap()).unwrap()
        };
        let auth = &config.auth_info;
        let cert = auth.client_certificate_data.as_deref().map(b64).zip(
            auth.client_key_data
                .as_ref()
                .map(|k| b64(k.expose_secret())),
        );
        Self {
            ca: config.root_cert.clone().unwrap(),
            cert,
            token: auth.token.as_ref().map(|t| t.expose_secret().to_owned()),
        }
    }

    fn call(&self, server: &FakeApiServer, method: &str, path: &str, body: &Value) -> (u16, Value) {
        self.call_as(server, method, path, "application/json", body)
    }

    fn call_as(
        &self,
        server: &FakeApiServer,
        method: &str,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> (u16, Value) {
        let mut roots = RootCertStore::empty();
        for der in &self.ca {
            roots.add(CertificateDer::from(der.clone())).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match &self.cert {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(cert.as_bytes())
                        .collect::<Result<_, _>>()
                        .unwrap(),
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let conn = ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        let mut tls = StreamOwned::new(conn, tcp);
        let body = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body).unwrap()
        };
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n",
            body.len()
        );
        tls.write_all(head.as_bytes()).unwrap();
        tls.write_all(&body).unwrap();
        tls.flush().unwrap();
        let mut response = Vec::new();
        // The server closes after answering (`Connection: close`), with a close_notify.
        let _ = tls.read_to_end(&mut response);
        let text = String::from_utf8(response).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("a response");
        let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (code, serde_json::from_str(body).unwrap())
    }
}
