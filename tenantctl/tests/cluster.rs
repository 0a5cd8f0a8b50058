//! Cluster calls against kube's own mock service (tower-test): every request is asserted
//! exactly — method, path, query (fieldManager, force) and body — and answered with what a
//! kube-apiserver would answer, including 403/404/409/429/500, silence (timeouts), and the CSR
//! signer, which the mock plays with a real CA.

use std::{
    path::Path,
    time::{Duration, SystemTime},
};

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use http::{Request, Response};
use kube::{Client, client::Body};
use kubeconfig::ClusterEntry;
use pki_core::{CertSpec, CertificateAuthority, Csr, KeyAlgorithm, PrivateKey, Usage, Validity};
use serde_json::{Value, json};
use tenantctl::cluster::RECORD_NAMESPACE;

// The crate root is tests/cluster.rs, so a bare `mod x;` would look for tests/x.rs (the
// other test crates live there): each group names its file under tests/cluster/.
#[path = "cluster/apply.rs"]
mod apply;
#[path = "cluster/bootstrap_setup.rs"]
mod bootstrap_setup;
#[path = "cluster/create.rs"]
mod create;
#[path = "cluster/create_csr.rs"]
mod create_csr;
#[path = "cluster/create_failures.rs"]
mod create_failures;
#[path = "cluster/renew.rs"]
mod renew;
#[path = "cluster/revoke.rs"]
mod revoke;
#[path = "cluster/token.rs"]
mod token;
#[path = "cluster/token_tenant.rs"]
mod token_tenant;
#[path = "cluster/upload_certs.rs"]
mod upload_certs;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// What a command wrote: its result (stdout) and its messages for people (stderr).
#[derive(Default)]
struct Streams {
    stdout: String,
    stderr: String,
}

impl Streams {
    fn of(stdout: Vec<u8>, stderr: Vec<u8>) -> Self {
        Self {
            stdout: String::from_utf8(stdout).unwrap(),
            stderr: String::from_utf8(stderr).unwrap(),
        }
    }
}

impl std::fmt::Display for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}
type Respond = Box<dyn FnOnce(&Value) -> Option<(u16, Value)> + Send>;

/// One expected request and its answer (`None`: never answer, so the client times out).
struct Step {
    method: &'static str,
    uri: String,
    respond: Respond,
}

fn step(
    method: &'static str,
    uri: impl Into<String>,
    respond: impl FnOnce(&Value) -> Option<(u16, Value)> + Send + 'static,
) -> Step {
    Step {
        method,
        uri: uri.into(),
        respond: Box::new(respond),
    }
}

fn reply(method: &'static str, uri: impl Into<String>, code: u16, body: Value) -> Step {
    step(method, uri, move |_| Some((code, body)))
}

/// Server-side apply: asserts the query and content type (in `serve`) and echoes the object.
fn apply(uri: impl Into<String>, check: impl FnOnce(&Value) + Send + 'static) -> Step {
    step("PATCH", uri, move |body| {
        check(body);
        let mut made = body.clone();
        made["metadata"]["uid"] = json!(format!(
            "uid-{}",
            body["metadata"]["name"].as_str().unwrap_or_default()
        ));
        Some((200, made))
    })
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": format!("mock says {reason}"), "reason": reason, "code": code})
}

fn not_found() -> Value {
    status(404, "NotFound")
}

const APPLY_QUERY: &str = "?&force=true&fieldManager=tenantctl";

/// Plays `steps` in order against the client, then checks that no request follows.
async fn serve(mut handle: Handle, steps: Vec<Step>) {
    let mut held = Vec::new();
    for (i, s) in steps.into_iter().enumerate() {
        let Some((req, send)) = handle.next_request().await else {
            panic!("step {i}: the client stopped before {} {}", s.method, s.uri);
        };
        let (method, uri) = (req.method().to_string(), req.uri().to_string());
        assert_eq!(
            (method.as_str(), uri.as_str()),
            (s.method, s.uri.as_str()),
            "step {i}"
        );
        if uri.contains("fieldManager") {
            assert_eq!(
                req.headers()["content-type"],
                "application/apply-patch+yaml",
                "step {i}: server-side apply"
            );
        }
        let bytes = req.into_body().collect_bytes().await.unwrap();
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        match (s.respond)(&body) {
            Some((code, json)) => send.send_response(
                Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&json).unwrap()))
                    .unwrap(),
            ),
            None => held.push(send),
        }
    }
    if let Some((req, _)) = handle.next_request().await {
        panic!("unexpected request {} {}", req.method(), req.uri());
    }
}

fn mock() -> (Client, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), handle)
}

struct Pki {
    dir: tempfile::TempDir,
    ca: CertificateAuthority,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let spec = CertSpec {
            common_name: "kubernetes".into(),
            organizations: vec![],
            usage: Usage::Ca,
            sans: vec![],
            validity: Validity::kubeadm(now, Duration::from_secs(10 * 365 * 86_400)),
        };
        let ca = CertificateAuthority::self_signed(&spec, key).unwrap();
        std::fs::write(dir.path().join("ca.crt"), ca.certificate().to_pem()).unwrap();
        std::fs::write(
            dir.path().join("ca.key"),
            ca.key().secret_pem().unwrap().as_bytes(),
        )
        .unwrap();
        Self { dir, ca }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn entry(&self) -> ClusterEntry {
        ClusterEntry {
            name: "kubernetes".into(),
            server: "https://10.0.0.10:6443".parse().unwrap(),
            ca_pem: self.ca.certificate().to_pem(),
        }
    }

    /// The CSR signer: issues what the request asks, for `ttl` from now.
    fn sign(&self, csr_pem: &str, ttl: Duration) -> String {
        let csr = Csr::from_pem(csr_pem).unwrap();
        csr.verify_self_signature().unwrap();
        let spec = CertSpec {
            common_name: csr.common_name().unwrap(),
            organizations: csr.organizations(),
            usage: Usage::Client,
            sans: vec![],
            validity: Validity::kubeadm(SystemTime::now(), ttl),
        };
        self.ca.issue(&spec, csr.public_key_der()).unwrap().to_pem()
    }
}

/// The record inside a record ConfigMap.
fn record_of(cm: &Value) -> Value {
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/component"],
        "tenant-record"
    );
    serde_json::from_str(cm["data"]["tenant.json"].as_str().unwrap()).unwrap()
}

/// A record ConfigMap as the API server returns it: with a uid and a resourceVersion.
fn stored(cm: &Value, rv: u32) -> Value {
    let mut cm = cm.clone();
    cm["metadata"]["uid"] = json!("uid-record");
    cm["metadata"]["resourceVersion"] = json!(rv.to_string());
    cm
}

/// A record update (PUT) that must carry resourceVersion `rv`; answered with `rv + 1`.
fn put_record(rv: u32, check: impl FnOnce(&Value) + Send + 'static) -> Step {
    step("PUT", format!("{}?", record_uri()), move |cm| {
        assert_eq!(
            cm["metadata"]["resourceVersion"],
            rv.to_string(),
            "optimistic concurrency: the version read"
        );
        check(&record_of(cm));
        Some((200, stored(cm, rv + 1)))
    })
}

const CSR_URI: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

/// Reads the CSR the client posted: its name and PEM, after checking the spec.
fn posted_csr(created: &Value, ttl_secs: u64) -> (String, String) {
    let name = created["metadata"]["name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("tenantctl-alice-"), "{name}");
    assert_eq!(
        created["spec"]["signerName"],
        "kubernetes.io/kube-apiserver-client"
    );
    assert_eq!(created["spec"]["expirationSeconds"], ttl_secs);
    assert_eq!(created["spec"]["usages"], json!(["client auth"]));
    let pem = B64
        .decode(created["spec"]["request"].as_str().unwrap())
        .unwrap();
    (name, String::from_utf8(pem).unwrap())
}

fn csr_object(name: &str, spec: &Value, conditions: Value) -> Value {
    json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
           "metadata": {"name": name}, "spec": spec, "status": {"conditions": conditions}})
}

fn deleted() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}})
}

/// A sequential script for flows whose later URIs depend on earlier bodies.
struct Script {
    handle: Handle,
    held: Vec<tower_test::mock::SendResponse<Response<Body>>>,
}

impl Script {
    async fn expect(
        &mut self,
        method: &str,
        uri: &str,
        respond: impl FnOnce(&Value) -> Option<(u16, Value)>,
    ) -> Value {
        let Some((req, send)) = self.handle.next_request().await else {
            panic!("the client stopped before {method} {uri}");
        };
        assert_eq!(
            (req.method().as_str(), req.uri().to_string().as_str()),
            (method, uri)
        );
        let bytes = req.into_body().collect_bytes().await.unwrap();
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        match respond(&body) {
            Some((code, json)) => send.send_response(
                Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&json).unwrap()))
                    .unwrap(),
            ),
            None => self.held.push(send),
        }
        body
    }

    /// The claim: the record namespace applied, the record created as Pending.
    async fn claim(&mut self) {
        self.expect(
            "PATCH",
            &format!("/api/v1/namespaces/{RECORD_NAMESPACE}{APPLY_QUERY}"),
            |b| Some((200, b.clone())),
        )
        .await;
        let cm = self
            .expect(
                "POST",
                &format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?"),
                |b| Some((201, stored(b, 1))),
            )
            .await;
        assert_eq!(record_of(&cm)["phase"], "Pending");
    }

    /// A record update carrying resourceVersion `rv`.
    async fn put_record(&mut self, rv: u32) -> Value {
        let cm = self
            .expect("PUT", &format!("{}?", record_uri()), move |b| {
                Some((200, stored(b, rv + 1)))
            })
            .await;
        assert_eq!(cm["metadata"]["resourceVersion"], rv.to_string());
        cm
    }

    async fn finish(mut self) {
        if let Some((req, _)) = self.handle.next_request().await {
            panic!("unexpected request {} {}", req.method(), req.uri());
        }
    }
}

fn record_uri() -> String {
    format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-alice")
}

const CRB_URI: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/tenantctl:alice:view";

fn record_map(record: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "tenant-alice", "namespace": RECORD_NAMESPACE,
                        "uid": "uid-record", "resourceVersion": "7",
                        "labels": {"app.kubernetes.io/component": "tenant-record"}},
           "data": {"tenant.json": record.to_string()}})
}

fn alice_record(signer: &str) -> Value {
    json!({"user": "alice", "auth": "cert", "groups": ["dev"], "roles": [{"kind": "ClusterRole", "name": "view"}],
        "bindings": [{"kind": "ClusterRoleBinding", "name": "tenantctl:alice:view", "role": {"kind": "ClusterRole", "name": "view"}}],
        "credentials": [{"kind": "cert", "signer": signer, "serial": "01", "sha256": "ab", "keyAlgorithm": "ECDSA-P256",
            "notBefore": "2026-11-01T00:00:00Z", "notAfter": "2099-01-01T00:00:00Z"}],
        "created": "2026-11-01T00:00:00Z"})
}

fn list_of(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": {"resourceVersion": "1"}, "items": items})
}
