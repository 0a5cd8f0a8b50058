//! Cluster calls against kube's own mock service (tower-test): every request is asserted
//! exactly — method, path, query (fieldManager, force) and body — and answered with what a
//! kube-apiserver would answer, including 403/404/409/429/500, silence (timeouts), and the CSR
//! signer, which the mock plays with a real CA.

use std::{
    future::Future,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use http::{Request, Response};
use kube::{Client, client::Body};
use kubeconfig::{ClusterEntry, Kubeconfig};
use pki_core::{CertSpec, CertificateAuthority, Csr, KeyAlgorithm, PrivateKey, Usage, Validity};
use serde_json::{Value, json};
use tenantctl::{
    Cli, Command, Error, Output,
    cli::Format,
    cluster::{Cluster, RECORD_NAMESPACE},
    tenant::{CreatePlan, CsrOptions, Signer},
};

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

fn plan(args: &[&str], output: &Path) -> CreatePlan {
    let mut argv = vec!["tenantctl", "create"];
    argv.extend_from_slice(args);
    let out = output.to_str().unwrap().to_owned();
    argv.extend(["--kubeconfig-out", &out]);
    let cli = <Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let Command::Create(args) = cli.command else {
        unreachable!()
    };
    CreatePlan::from_args(&args).unwrap()
}

fn view_rules() -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
           "metadata": {"name": "view"},
           "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}]})
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

/// The claim: the record namespace applied, then the record created (POST, never apply) as
/// Pending, answered with resourceVersion 1.
fn claim_steps(check: impl FnOnce(&Value) + Send + 'static) -> Vec<Step> {
    vec![
        apply(
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}{APPLY_QUERY}"),
            |ns| {
                assert_eq!(ns["kind"], "Namespace");
            },
        ),
        step(
            "POST",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?"),
            move |cm| {
                assert_eq!(cm["metadata"]["name"], "tenant-alice");
                assert_eq!(cm["metadata"]["labels"]["tenantctl.io/tenant"], "alice");
                let record = record_of(cm);
                assert_eq!(record["phase"], "Pending");
                check(&record);
                Some((201, stored(cm, 1)))
            },
        ),
    ]
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

/// The record marked Active at resourceVersion `rv`.
fn activate(rv: u32) -> Step {
    put_record(rv, |r| assert_eq!(r["phase"], "Active"))
}

/// The verification the tenant's own client makes.
fn verify_steps(
    user: &str,
    groups: &[&str],
    allowed: bool,
    resource_check: impl FnOnce(&Value) + Send + 'static,
) -> Vec<Step> {
    let mut seen: Vec<&str> = groups.to_vec();
    seen.push("system:authenticated");
    let user = user.to_owned();
    let seen: Vec<String> = seen.into_iter().map(String::from).collect();
    vec![
        step(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews?",
            move |body| {
                assert_eq!(body["kind"], "SelfSubjectReview");
                Some((
                    201,
                    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                "metadata": {}, "status": {"userInfo": {"username": user, "groups": seen}}}),
                ))
            },
        ),
        step(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews?",
            move |body| {
                resource_check(&body["spec"]["resourceAttributes"]);
                Some((
                    201,
                    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "metadata": {}, "spec": body["spec"].clone(), "status": {"allowed": allowed}}),
                ))
            },
        ),
    ]
}

async fn run_create(
    plan: &CreatePlan,
    pki: &Pki,
    signer: Signer<'_>,
    admin: Vec<Step>,
    tenant: Vec<Step>,
) -> (Result<(), Error>, Streams) {
    let (client, handle) = mock();
    let (tenant_client, tenant_handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let entry = pki.entry();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let tenant_client = Mutex::new(Some(tenant_client));
        let r = tenantctl::tenant::create_online(
            &cluster,
            &entry,
            plan,
            &signer,
            pki.path(),
            &mut Output::new(&mut out, &mut err),
            |kc: Kubeconfig| {
                // The kubeconfig handed to the verifier is the one written later: check it here.
                let current = kc.current().unwrap();
                assert_eq!(current.server, "https://10.0.0.10:6443");
                let client = tenant_client.lock().unwrap().take().unwrap();
                async move { Ok(client) }
            },
        )
        .await;
        drop(cluster);
        r
    };
    let (r, (), ()) = tokio::join!(run, serve(handle, admin), serve(tenant_handle, tenant));
    (r, Streams::of(out, err))
}

#[tokio::test(start_paused = true)]
async fn create_cluster_wide_with_the_local_ca() {
    let pki = Pki::new();
    let out_dir = tempfile::tempdir().unwrap();
    let kc_path = out_dir.path().join("alice.kubeconfig");
    let plan = plan(&["alice", "--role", "view", "--group", "dev"], &kc_path);
    let mut admin = vec![
        reply(
            "GET",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-alice"),
            404,
            not_found(),
        ),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            200,
            view_rules(),
        ),
    ];
    admin.extend(claim_steps(|r| {
        assert_eq!(r["user"], "alice");
        assert_eq!(r["groups"], json!(["dev"]));
        assert_eq!(
            r["credentials"],
            json!([]),
            "nothing minted before the claim"
        );
    }));
    let (before, after) = (kc_path.clone(), kc_path.clone());
    admin.push(put_record(1, move |r| {
        assert!(
            !before.exists(),
            "recorded before the kubeconfig is written"
        );
        let cred = &r["credentials"][0];
        assert_eq!(cred["signer"], "local");
        assert_eq!(cred["serial"].as_str().unwrap().len() % 2, 0);
        assert_eq!(cred["sha256"].as_str().unwrap().len(), 64);
    }));
    admin.push(apply(
        format!(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/tenantctl:alice:view{APPLY_QUERY}"
        ),
        |b| {
            assert_eq!(b["kind"], "ClusterRoleBinding");
            assert_eq!(
                b["roleRef"],
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"})
            );
            assert_eq!(
                b["subjects"],
                json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}])
            );
            assert_eq!(
                b["metadata"]["labels"]["app.kubernetes.io/managed-by"],
                "tenantctl"
            );
        },
    ));
    admin.push(put_record(2, move |r| {
        assert!(after.exists(), "Active once the kubeconfig is out");
        assert_eq!(r["phase"], "Active");
    }));
    let tenant = verify_steps("alice", &["dev"], true, |attrs| {
        assert_eq!(
            attrs,
            &json!({"group": "", "resource": "pods", "verb": "get"})
        );
    });
    let (r, out) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        tenant,
    )
    .await;
    r.unwrap();
    assert!(out.stderr.contains("verified: the API server sees alice (groups dev, system:authenticated); can get pods cluster-wide (ClusterRole/view)"), "{out}");

    // The kubeconfig: 0600, parsed by kube's own loader, a cert for CN=alice, O=dev from the CA.
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&kc_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let kc = kube::config::Kubeconfig::read_from(&kc_path).unwrap();
    assert_eq!(kc.current_context.as_deref(), Some("alice@kubernetes"));
    let ours = Kubeconfig::from_yaml(&std::fs::read_to_string(&kc_path).unwrap()).unwrap();
    let v = ours.current().unwrap().validate(SystemTime::now()).unwrap();
    let cert = v.client_certificate.unwrap();
    assert_eq!(cert.common_name().as_deref(), Some("alice"));
    assert_eq!(cert.organizations(), ["dev"]);
    assert_eq!(cert.key_algorithm().unwrap(), KeyAlgorithm::EcdsaP256);
    let days = cert
        .not_after()
        .duration_since(SystemTime::now())
        .unwrap()
        .as_secs()
        / 86_400;
    assert_eq!(days, 29, "30 days minus the backdate");
}

/// Runs `create_online` against a scripted admin API server and a tenant API server.
async fn run_scripted<S>(
    plan: &CreatePlan,
    pki: &Pki,
    signer: Signer<'_>,
    server: impl FnOnce(Script) -> S,
    tenant: Vec<Step>,
) -> (Result<(), Error>, Streams)
where
    S: Future<Output = ()>,
{
    let (client, handle) = mock();
    let (tenant_client, tenant_handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let entry = pki.entry();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let tc = Mutex::new(Some(tenant_client));
        let r = tenantctl::tenant::create_online(
            &cluster,
            &entry,
            plan,
            &signer,
            pki.path(),
            &mut Output::new(&mut out, &mut err),
            |_kc| {
                let c = tc.lock().unwrap().take();
                async move { Ok(c.expect("one tenant client")) }
            },
        )
        .await;
        drop(cluster);
        r
    };
    let script = Script {
        handle,
        held: Vec::new(),
    };
    let (r, (), ()) = tokio::join!(run, server(script), serve(tenant_handle, tenant));
    (r, Streams::of(out, err))
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

#[tokio::test(start_paused = true)]
async fn create_with_the_csr_api_in_a_new_namespace() {
    let pki = Arc::new(Pki::new());
    let out_dir = tempfile::tempdir().unwrap();
    let kc_path = out_dir.path().join("alice.kubeconfig");
    let plan = plan(
        &[
            "alice",
            "--role",
            "view",
            "-n",
            "team-a",
            "--create-namespace",
            "--ttl",
            "12h",
            "--signer",
            "csr",
            "--approve",
        ],
        &kc_path,
    );
    let signer = Signer::CsrApi(CsrOptions {
        approve: true,
        timeout: Duration::from_secs(60),
        poll: Duration::from_secs(1),
    });
    let ca = pki.clone();
    let server = |mut s: Script| async move {
        s.expect(
            "GET",
            &format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-alice"),
            |_| Some((404, not_found())),
        )
        .await;
        s.expect("GET", "/api/v1/namespaces/team-a", |_| {
            Some((404, not_found()))
        })
        .await;
        s.expect(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            |_| Some((200, view_rules())),
        )
        .await;
        s.claim().await;
        let created = s
            .expect("POST", &format!("{CSR_URI}?"), |b| Some((201, b.clone())))
            .await;
        let (name, pem) = posted_csr(&created, 43_200);
        let uri = format!("{CSR_URI}/{name}");
        let approval = s
            .expect("PATCH", &format!("{uri}/approval?"), |b| {
                Some((200, b.clone()))
            })
            .await;
        assert_eq!(approval["status"]["conditions"][0]["type"], "Approved");
        assert_eq!(approval["status"]["conditions"][0]["status"], "True");
        // Approved but not issued yet (the race of capsule#385): tenantctl polls again.
        let pending = csr_object(
            &name,
            &created["spec"],
            json!([{"type": "Approved", "status": "True"}]),
        );
        s.expect("GET", &uri, {
            let p = pending.clone();
            |_| Some((200, p))
        })
        .await;
        let mut issued = pending;
        issued["status"]["certificate"] =
            json!(B64.encode(ca.sign(&pem, Duration::from_secs(12 * 3600))));
        s.expect("GET", &uri, |_| Some((200, issued))).await;
        s.expect("DELETE", &format!("{uri}?"), |_| Some((200, deleted())))
            .await;
        let cm = s.put_record(1).await;
        let record = record_of(&cm);
        assert_eq!(record["createdNamespace"], true);
        assert_eq!(
            record["credentials"][0]["signer"],
            "kubernetes.io/kube-apiserver-client"
        );
        assert_eq!(
            record["credentials"][0]["approve"], true,
            "renew approves too"
        );
        let ns = s
            .expect(
                "PATCH",
                &format!("/api/v1/namespaces/team-a{APPLY_QUERY}"),
                |b| Some((200, b.clone())),
            )
            .await;
        assert_eq!(ns["metadata"]["name"], "team-a");
        let rb = s.expect("PATCH", &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/tenantctl:alice:view{APPLY_QUERY}"), |b| Some((200, b.clone()))).await;
        assert_eq!(rb["kind"], "RoleBinding");
        assert_eq!(rb["metadata"]["namespace"], "team-a");
        let cm = s.put_record(2).await;
        assert_eq!(record_of(&cm)["phase"], "Active");
        s.finish().await;
    };
    let tenant = verify_steps("alice", &[], true, |a| assert_eq!(a["namespace"], "team-a"));
    let (r, out) = run_scripted(&plan, &pki, signer, server, tenant).await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(
        out.stderr
            .contains("from the CSR API (kubernetes.io/kube-apiserver-client)"),
        "{out}"
    );
    let kc = Kubeconfig::from_yaml(&std::fs::read_to_string(&kc_path).unwrap()).unwrap();
    assert_eq!(kc.current().unwrap().namespace, Some("team-a"));
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

#[tokio::test(start_paused = true)]
async fn unknown_role_lists_close_names_and_changes_nothing() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let plan = plan(&["alice", "--role", "veiw"], &kc_path);
    let items: Vec<Value> = ["admin", "edit", "view", "cluster-admin"]
        .iter()
        .map(|n| json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": {"name": n}}))
        .collect();
    let admin = vec![
        reply("GET", record_uri(), 404, not_found()),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/veiw",
            404,
            not_found(),
        ),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles?",
            200,
            json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {},
            "items": items}),
        ),
    ];
    let (r, _) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        vec![],
    )
    .await;
    let err = r.unwrap_err();
    assert_eq!(
        err.to_string(),
        "ClusterRole \"veiw\" not found; close names: view"
    );
    assert!(!kc_path.exists());
}

#[tokio::test(start_paused = true)]
async fn transient_errors_and_silence_are_retried() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let plan = plan(&["alice", "--role", "view"], &kc_path);
    let role = "/apis/rbac.authorization.k8s.io/v1/clusterroles/view";
    let mut admin = vec![
        reply("GET", record_uri(), 429, status(429, "TooManyRequests")),
        reply("GET", record_uri(), 404, not_found()),
        reply("GET", role, 500, status(500, "InternalError")),
        step("GET", role, |_| None), // no answer: the 30 s call timeout fires
        reply("GET", role, 503, status(503, "ServiceUnavailable")),
        reply("GET", role, 200, view_rules()),
    ];
    admin.extend(claim_steps(|_| {}));
    admin.extend([
        put_record(1, |_| {}),
        apply(format!("{CRB_URI}{APPLY_QUERY}"), |_| {}),
        activate(2),
    ]);
    let tenant = verify_steps("alice", &[], true, |_| {});
    let started = tokio::time::Instant::now();
    let (r, out) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        tenant,
    )
    .await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    // Backoff 0.5 s + (0.5 + 1 s) + 30 s timeout + 2 s, on tokio's paused clock.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(34) && waited < Duration::from_secs(40),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_that_keeps_failing_gives_up_after_five_attempts() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&["alice", "--role", "view"], &dir.path().join("k"));
    let admin = (0..5)
        .map(|_| reply("GET", record_uri(), 503, status(503, "ServiceUnavailable")))
        .collect();
    let (r, _) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        vec![],
    )
    .await;
    let err = r.unwrap_err();
    assert_eq!(
        err.to_string(),
        "get configmap/tenant-alice in tenantctl-system failed: 503 ServiceUnavailable (mock says ServiceUnavailable)"
    );
}

#[tokio::test(start_paused = true)]
async fn forbidden_binding_rolls_back_the_namespace() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let plan = plan(
        &[
            "alice",
            "--role",
            "view",
            "-n",
            "team-a",
            "--create-namespace",
        ],
        &kc_path,
    );
    let mut admin = vec![
        reply("GET", record_uri(), 404, not_found()),
        reply("GET", "/api/v1/namespaces/team-a", 404, not_found()),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            200,
            view_rules(),
        ),
    ];
    admin.extend(claim_steps(|_| {}));
    admin.extend([
        put_record(1, |_| {}),
        apply(format!("/api/v1/namespaces/team-a{APPLY_QUERY}"), |_| {}),
        reply(
            "PATCH",
            format!(
                "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/tenantctl:alice:view{APPLY_QUERY}"
            ),
            403,
            status(403, "Forbidden"),
        ),
        // Only the namespace this run created (its uid), only the record version it wrote.
        step("DELETE", "/api/v1/namespaces/team-a?", |b| {
            assert_eq!(b["preconditions"], json!({"uid": "uid-team-a"}));
            Some((200, deleted()))
        }),
        step("DELETE", format!("{}?", record_uri()), |b| {
            assert_eq!(
                b["preconditions"],
                json!({"uid": "uid-record", "resourceVersion": "2"})
            );
            Some((200, deleted()))
        }),
    ]);
    let (r, _) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        vec![],
    )
    .await;
    let err = r.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("apply rolebinding/tenantctl:alice:view failed: 403 Forbidden"),
        "{text}"
    );
    assert!(
        text.ends_with("rolled back: namespace/team-a, configmap/tenant-alice"),
        "{text}"
    );
    assert_eq!(err.exit_code(), 1);
    assert!(err.hint().unwrap().contains("lack this permission"));
    assert!(!kc_path.exists());
}

#[tokio::test(start_paused = true)]
async fn failed_verification_rolls_back_bindings_and_record() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let plan = plan(&["alice", "--role", "view"], &kc_path);
    let mut admin = vec![
        reply("GET", record_uri(), 404, not_found()),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            200,
            view_rules(),
        ),
    ];
    admin.extend(claim_steps(|_| {}));
    admin.extend([
        put_record(1, |_| {}),
        apply(format!("{CRB_URI}{APPLY_QUERY}"), |_| {}),
        reply("DELETE", format!("{CRB_URI}?"), 200, deleted()),
        reply("DELETE", format!("{}?", record_uri()), 200, deleted()),
    ]);
    // An authorizer that denies outright (a webhook's `denied: true`): no second ask.
    let mut tenant = verify_steps("alice", &[], true, |_| {});
    tenant[1] = step(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews?",
        |body| {
            Some((
                201,
                json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                    "metadata": {}, "spec": body["spec"].clone(),
                    "status": {"allowed": false, "denied": true, "reason": "alice's certificate is revoked"}}),
            ))
        },
    );
    let (r, _) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        tenant,
    )
    .await;
    let text = r.unwrap_err().to_string();
    assert!(text.starts_with("verification with the new credentials failed: denied: alice may get pods as ClusterRole/view allows (alice's certificate is revoked)"), "{text}");
    assert!(
        text.ends_with(
            "rolled back: clusterrolebinding/tenantctl:alice:view, configmap/tenant-alice"
        ),
        "{text}"
    );
    assert!(!kc_path.exists(), "no kubeconfig after a rollback");
}

/// Two creates of one tenant: the one whose POST of the record comes second gets a 409 and
/// stops — exit 3, nothing minted, applied or handed out.
#[tokio::test(start_paused = true)]
async fn a_concurrent_create_of_the_same_tenant_gets_409_and_hands_out_nothing() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("k");
    let plan = plan(&["alice", "--role", "view"], &kc_path);
    let admin = vec![
        reply("GET", record_uri(), 404, not_found()),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            200,
            view_rules(),
        ),
        apply(
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}{APPLY_QUERY}"),
            |_| {},
        ),
        reply(
            "POST",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?"),
            409,
            status(409, "AlreadyExists"),
        ),
    ];
    let (r, _) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        vec![],
    )
    .await;
    let err = r.unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.to_string().contains(
            "another tenantctl run created this tenant's record first; nothing was handed out"
        ),
        "{err}"
    );
    assert!(!matches!(err, Error::RolledBack { .. }), "nothing to undo");
    assert!(!kc_path.exists());
}

/// Renew and revoke race on one record: the update that loses (409) re-reads and re-applies its
/// change, so both credentials are in the record.
#[tokio::test(start_paused = true)]
async fn a_conflicting_update_is_re_read_and_re_applied() {
    let out = renew_case_with(&[], |_kubeconfig| {
        // The first PUT loses to another renew that added serial 02 meanwhile.
        let theirs = {
            let mut r = alice_record("local");
            r["credentials"].as_array_mut().unwrap().push(json!({
                "kind": "cert", "signer": "local", "serial": "02", "sha256": "cd",
                "notBefore": "2026-01-01T00:00:00Z", "notAfter": "2099-01-01T00:00:00Z"}));
            r
        };
        vec![
            reply("GET", record_uri(), 200, record_map(alice_record("local"))),
            reply(
                "PUT",
                format!("{}?", record_uri()),
                409,
                status(409, "Conflict"),
            ),
            reply("GET", record_uri(), 200, {
                let mut cm = record_map(theirs);
                cm["metadata"]["resourceVersion"] = json!("8");
                cm
            }),
            put_record(8, |r| {
                let serials: Vec<&str> = r["credentials"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["serial"].as_str().unwrap())
                    .collect();
                assert_eq!(serials.len(), 3, "{serials:?}");
                assert_eq!(&serials[..2], ["01", "02"], "theirs kept, ours added");
            }),
        ]
    })
    .await;
    assert!(out.stdout.starts_with("wrote "), "{out}");
}

#[tokio::test(start_paused = true)]
async fn an_existing_tenant_is_refused() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&["alice", "--role", "view"], &dir.path().join("k"));
    let admin = vec![reply(
        "GET",
        record_uri(),
        200,
        record_map(json!({
        "user": "alice", "auth": "cert", "roles": [], "bindings": [], "credentials": [], "created": "2026-01-01T00:00:00Z"})),
    )];
    let (r, _) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        vec![],
    )
    .await;
    let err = r.unwrap_err();
    assert_eq!(err.exit_code(), 3);
    let text = err.to_string();
    assert!(
        text.contains("already exists (created 2026-01-01T00:00:00Z); use `tenantctl renew alice`"),
        "{text}"
    );
}

fn record_map(record: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "tenant-alice", "namespace": RECORD_NAMESPACE,
                        "uid": "uid-record", "resourceVersion": "7",
                        "labels": {"app.kubernetes.io/component": "tenant-record"}},
           "data": {"tenant.json": record.to_string()}})
}

async fn csr_failure(
    respond_after_post: impl FnOnce(&str, &Value) -> Vec<(u16, Value)>,
    approve: bool,
    timeout: Duration,
) -> String {
    let pki = Arc::new(Pki::new());
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let mut args = vec!["alice", "--role", "view", "--signer", "csr", "--ttl", "1h"];
    if approve {
        args.push("--approve");
    }
    let plan = plan(&args, &kc_path);
    let signer = Signer::CsrApi(CsrOptions {
        approve,
        timeout,
        poll: Duration::from_secs(1),
    });
    let server = |mut s: Script| async move {
        s.expect("GET", &record_uri(), |_| Some((404, not_found())))
            .await;
        s.expect(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            |_| Some((200, view_rules())),
        )
        .await;
        s.claim().await;
        let created = s
            .expect("POST", &format!("{CSR_URI}?"), |b| Some((201, b.clone())))
            .await;
        let (name, pem) = posted_csr(&created, 3600);
        let uri = format!("{CSR_URI}/{name}");
        if approve {
            s.expect("PATCH", &format!("{uri}/approval?"), |b| {
                Some((200, b.clone()))
            })
            .await;
        }
        for (code, body) in
            respond_after_post(&pem, &csr_object(&name, &created["spec"], json!([])))
        {
            s.expect("GET", &uri, |_| Some((code, body))).await;
        }
        s.expect("DELETE", &format!("{uri}?"), |_| Some((200, deleted())))
            .await;
        // The claim is undone: only the record version this run wrote.
        let del = s
            .expect("DELETE", &format!("{}?", record_uri()), |_| {
                Some((200, deleted()))
            })
            .await;
        assert_eq!(
            del["preconditions"],
            json!({"uid": "uid-record", "resourceVersion": "1"})
        );
        s.finish().await;
    };
    let (r, out) = run_scripted(&plan, &pki, signer, server, vec![]).await;
    assert!(!kc_path.exists());
    let err = r.expect_err(&out.to_string());
    let Error::RolledBack { cause, undone, .. } = err else {
        panic!("the claim is rolled back: {err}")
    };
    assert_eq!(undone, ["configmap/tenant-alice"], "nothing else was made");
    cause.to_string()
}

#[tokio::test(start_paused = true)]
async fn csr_denied() {
    let text = csr_failure(|_, pending| {
        let mut denied = pending.clone();
        denied["status"]["conditions"] = json!([{"type": "Denied", "status": "True", "reason": "PolicyDenied", "message": "not on my watch"}]);
        vec![(200, denied)]
    }, false, Duration::from_secs(60)).await;
    assert!(
        text.ends_with(": denied (PolicyDenied: not on my watch)"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn csr_failed() {
    let text = csr_failure(|_, pending| {
        let mut failed = pending.clone();
        failed["status"]["conditions"] = json!([{"type": "Approved", "status": "True"}, {"type": "Failed", "status": "True", "reason": "SignerValidationFailure", "message": "bad usages"}]);
        vec![(200, failed)]
    }, true, Duration::from_secs(60)).await;
    assert!(
        text.ends_with(": failed (SignerValidationFailure: bad usages)"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn csr_never_approved_times_out() {
    let text = csr_failure(
        |_, pending| vec![(200, pending.clone()); 6],
        false,
        Duration::from_secs(5),
    )
    .await;
    assert!(
        text.contains(
            "not approved within 5s; approve it with `kubectl certificate approve tenantctl-alice-"
        ),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn csr_certificate_shorter_than_asked() {
    let pki = Pki::new();
    let text = csr_failure(
        |pem, pending| {
            let mut issued = pending.clone();
            issued["status"]["certificate"] =
                json!(B64.encode(pki.sign(pem, Duration::from_secs(1800))));
            vec![(200, issued)]
        },
        true,
        Duration::from_secs(60),
    )
    .await;
    // The mock's own CA signed, not the tenant's: the chain is not checked here, the lifetime is.
    assert!(
        text.contains("the signer issued 30m instead of the 1h asked"),
        "{text}"
    );
}

/// A token tenant whose TokenRequest the API server grants for `granted_secs`; `extra` are
/// more `create` flags (`-o json`). Returns what was printed.
async fn token_tenant_case(extra: &[&str], granted_secs: u64) -> Streams {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("ci-bot.kubeconfig");
    let mut args = vec![
        "ci-bot", "--auth", "token", "--role", "edit", "-n", "ci", "--ttl", "8h",
    ];
    args.extend_from_slice(extra);
    let plan = plan(&args, &kc_path);
    let edit = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "edit"},
        "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create", "delete"]}]});
    let admin = vec![
        reply(
            "GET",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-ci-bot"),
            404,
            not_found(),
        ),
        reply(
            "GET",
            "/api/v1/namespaces/ci",
            200,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ci"}}),
        ),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/edit",
            200,
            edit,
        ),
        apply(
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}{APPLY_QUERY}"),
            |_| {},
        ),
        step(
            "POST",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?"),
            |cm| {
                let r = record_of(cm);
                assert_eq!(r["phase"], "Pending");
                assert_eq!(r["serviceAccount"], "ci-bot");
                Some((201, stored(cm, 1)))
            },
        ),
        apply(
            format!("/api/v1/namespaces/ci/serviceaccounts/ci-bot{APPLY_QUERY}"),
            |sa| assert_eq!(sa["kind"], "ServiceAccount"),
        ),
        apply(
            format!(
                "/apis/rbac.authorization.k8s.io/v1/namespaces/ci/rolebindings/tenantctl:ci-bot:edit{APPLY_QUERY}"
            ),
            |rb| {
                assert_eq!(
                    rb["subjects"],
                    json!([{"kind": "ServiceAccount", "name": "ci-bot", "namespace": "ci"}])
                );
            },
        ),
        step(
            "POST",
            "/api/v1/namespaces/ci/serviceaccounts/ci-bot/token?",
            move |b| {
                assert_eq!(b["kind"], "TokenRequest");
                assert_eq!(b["spec"]["expirationSeconds"], 28_800);
                let expires =
                    tenantctl::time::rfc3339(SystemTime::now() + Duration::from_secs(granted_secs));
                Some((
                    201,
                    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {},
                "spec": b["spec"].clone(), "status": {"token": "eyJhbGciOi.fake.token", "expirationTimestamp": expires}}),
                ))
            },
        ),
        step(
            "PUT",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-ci-bot?"),
            |cm| {
                assert_eq!(cm["metadata"]["resourceVersion"], "1");
                let text = cm["data"]["tenant.json"].as_str().unwrap();
                assert!(
                    !text.contains("eyJhbGciOi"),
                    "the record never holds the token"
                );
                let r: Value = serde_json::from_str(text).unwrap();
                assert_eq!(r["credentials"][0]["signer"], "tokenrequest");
                Some((200, stored(cm, 2)))
            },
        ),
        step(
            "PUT",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-ci-bot?"),
            |cm| {
                assert_eq!(cm["metadata"]["resourceVersion"], "2");
                assert_eq!(record_of(cm)["phase"], "Active");
                Some((200, stored(cm, 3)))
            },
        ),
    ];
    let tenant = verify_steps(
        "system:serviceaccount:ci:ci-bot",
        &["system:serviceaccounts", "system:serviceaccounts:ci"],
        true,
        |a| {
            assert_eq!(
                a,
                &json!({"group": "apps", "resource": "deployments", "verb": "create", "namespace": "ci"})
            );
        },
    );
    let (r, out) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        tenant,
    )
    .await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(
        !out.stdout.contains("eyJhbGciOi") && !out.stderr.contains("eyJhbGciOi"),
        "{out}"
    );
    let kc = Kubeconfig::from_yaml(&std::fs::read_to_string(&kc_path).unwrap()).unwrap();
    let current = kc.current().unwrap();
    assert_eq!(current.namespace, Some("ci"));
    assert!(matches!(
        current.credentials,
        kubeconfig::Credentials::Token(_)
    ));
    out
}

#[tokio::test(start_paused = true)]
async fn token_tenant() {
    let out = token_tenant_case(&[], 28_800).await;
    assert!(!out.stderr.contains("warning"), "{out}");
    assert!(
        out.stdout.starts_with("wrote ") && out.stdout.lines().count() == 1,
        "the result is one line: {out}"
    );
}

/// `-o json` prints the record and nothing else on stdout, even with a warning to give.
#[tokio::test(start_paused = true)]
async fn token_tenant_json_with_a_shortened_token() {
    let out = token_tenant_case(&["-o", "json"], 14_400).await;
    assert!(
        out.stderr
            .contains("warning: the API server shortened the token"),
        "{out}"
    );
    let record: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(record["user"], "ci-bot");
    assert_eq!(record["serviceAccount"], "ci-bot");
    assert_eq!(record["credentials"][0]["signer"], "tokenrequest");
}

fn alice_record(signer: &str) -> Value {
    json!({"user": "alice", "auth": "cert", "groups": ["dev"], "roles": [{"kind": "ClusterRole", "name": "view"}],
        "bindings": [{"kind": "ClusterRoleBinding", "name": "tenantctl:alice:view", "role": {"kind": "ClusterRole", "name": "view"}}],
        "credentials": [{"kind": "cert", "signer": signer, "serial": "01", "sha256": "ab", "keyAlgorithm": "ECDSA-P256",
            "notBefore": "2026-11-01T00:00:00Z", "notAfter": "2099-01-01T00:00:00Z"}],
        "created": "2026-11-01T00:00:00Z"})
}

/// The API server's answer to revoke's SubjectAccessReview carrying the revoked certificate's
/// credential id: denied by the revocation webhook, or not (no webhook).
fn credential_review(webhook: bool) -> Step {
    step(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews?",
        move |body| {
            let id = &body["spec"]["extra"]["authentication.kubernetes.io/credential-id"][0];
            assert!(id.as_str().unwrap().starts_with("X509SHA256="), "{body}");
            let status = if webhook {
                json!({"allowed": false, "denied": true, "reason": "tenantctl: revoked credential (tenantctl revoke)"})
            } else {
                json!({"allowed": false})
            };
            Some((
                201,
                json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "metadata": {}, "spec": body["spec"], "status": status}),
            ))
        },
    )
}

async fn revoke_case(format: Format) -> Streams {
    revoke_case_with(format, false).await
}

async fn revoke_case_with(format: Format, webhook: bool) -> Streams {
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let mut admin = vec![
        reply("GET", record_uri(), 200, record_map(alice_record("local"))),
        reply("DELETE", format!("{CRB_URI}?"), 200, deleted()),
        put_record(7, |r| {
            assert_eq!(r["phase"], "Revoked");
            assert!(r["revoked"].is_string());
            assert!(r["credentials"][0]["revoked"].is_string());
        }),
    ];
    if webhook {
        admin.push(credential_review(true));
    } else {
        // Asked 9 times a quarter second apart, then the honest warning.
        admin.extend((0..9).map(|_| credential_review(false)));
    }
    let listing = vec![
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?",
            200,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBindingList", "metadata": {}, "items": [
            {"metadata": {"name": "devs-read"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
             "subjects": [{"kind": "Group", "name": "dev", "apiGroup": "rbac.authorization.k8s.io"}]},
            {"metadata": {"name": "unrelated"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
             "subjects": [{"kind": "User", "name": "bob", "apiGroup": "rbac.authorization.k8s.io"}]}]}),
        ),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/rolebindings?",
            200,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBindingList", "metadata": {}, "items": []}),
        ),
    ];
    if !webhook {
        admin.extend(listing);
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let r = tenantctl::tenant::revoke_online(
            &cluster,
            "alice",
            format,
            &mut Output::new(&mut out, &mut err),
        )
        .await;
        drop(cluster);
        r
    };
    let (r, ()) = tokio::join!(run, serve(handle, admin));
    r.unwrap();
    Streams::of(out, err)
}

#[tokio::test(start_paused = true)]
async fn revoke_deletes_bindings_marks_the_record_and_lists_what_still_grants() {
    let out = revoke_case(Format::Table).await;
    assert!(
        out.stderr
            .contains("clusterrolebinding/tenantctl:alice:view deleted"),
        "{out}"
    );
    assert!(out.stderr.contains("warning: Kubernetes cannot revoke client certificates and no revocation webhook denies them: 1 still authenticate(s) as alice with groups dev until it expires"), "{out}");
    assert!(
        out.stdout
            .contains("These certificates still authenticate as alice until they expire:"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("serial 01  sha256 ab  until 2099-01-01T00:00:00Z"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("clusterrolebinding/devs-read (ClusterRole/view)"),
        "{out}"
    );
    assert!(
        !out.stdout.contains("unrelated") && !out.stderr.contains("unrelated"),
        "{out}"
    );
}

#[tokio::test(start_paused = true)]
async fn revoke_json_is_the_record_and_what_still_works() {
    let out = revoke_case(Format::Json).await;
    assert!(
        out.stderr
            .contains("warning: Kubernetes cannot revoke client certificates"),
        "{out}"
    );
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(v["record"]["revoked"].is_string());
    assert_eq!(v["stillAuthenticating"][0]["serial"], "01");
    assert_eq!(
        v["stillGranting"],
        json!(["clusterrolebinding/devs-read (ClusterRole/view)"])
    );
}

/// With the revocation webhook in the API server, revoke says the certificate is denied from
/// now on (the webhook's own answer to a review carrying its credential id), and no warning.
#[tokio::test(start_paused = true)]
async fn revoke_with_the_webhook_says_denied_from_now_on() {
    let out = revoke_case_with(Format::Json, true).await;
    assert!(
        out.stderr
            .contains("denied by the API server from now on (the revocation webhook)"),
        "{out}"
    );
    assert!(!out.stderr.contains("warning:"), "{out}");
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(v["deniedByWebhook"][0]["serial"], "01");
    assert_eq!(v["stillAuthenticating"], json!([]));
}

async fn renew_case(extra: &[&str]) -> Streams {
    renew_case_with(extra, |_| {
        vec![
            reply("GET", record_uri(), 200, record_map(alice_record("local"))),
            put_record(7, |r| {
                assert_eq!(r["credentials"].as_array().unwrap().len(), 2);
                assert_eq!(r["credentials"][1]["signer"], "local");
                assert_eq!(r["bindings"][0]["name"], "tenantctl:alice:view");
            }),
        ]
    })
    .await
}

/// `renew alice` against the admin requests `steps` makes (given the kubeconfig path).
async fn renew_case_with(extra: &[&str], steps: impl FnOnce(&Path) -> Vec<Step>) -> Streams {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    std::fs::write(&kc_path, "old").unwrap();
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let admin = steps(&kc_path);
    let cert_dir = pki.path().to_str().unwrap().to_owned();
    let out_path = kc_path.to_str().unwrap().to_owned();
    let mut argv = vec![
        "tenantctl",
        "renew",
        "alice",
        "--cert-dir",
        &cert_dir,
        "--kubeconfig-out",
        &out_path,
        "--ttl",
        "7d",
    ];
    argv.extend_from_slice(extra);
    let cli = <Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let Command::Renew(args) = cli.command else {
        unreachable!()
    };
    let entry = pki.entry();
    let (r, out) = run_renew(cluster, &entry, &args, serve(handle, admin)).await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    let kc = Kubeconfig::from_yaml(&std::fs::read_to_string(&kc_path).unwrap()).unwrap();
    let cert = kc
        .current()
        .unwrap()
        .validate(SystemTime::now())
        .unwrap()
        .client_certificate
        .unwrap();
    assert_eq!(cert.organizations(), ["dev"], "same identity");
    out
}

#[tokio::test(start_paused = true)]
async fn renew_mints_a_new_certificate_and_keeps_bindings() {
    let out = renew_case(&[]).await;
    assert!(
        out.stderr.contains(
            "note: the previous certificate (serial 01) stays valid until 2099-01-01T00:00:00Z"
        ),
        "{out}"
    );
}

#[tokio::test(start_paused = true)]
async fn renew_json_is_the_updated_record() {
    let out = renew_case(&["-o", "yaml"]).await;
    assert!(
        out.stderr.contains("note: the previous certificate"),
        "{out}"
    );
    let v: Value = serde_saphyr::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(v["user"], "alice");
    assert_eq!(v["credentials"].as_array().unwrap().len(), 2);
}

/// A record that cannot be written means no kubeconfig: the claim is undone.
#[tokio::test(start_paused = true)]
async fn a_failure_to_record_the_credential_hands_out_nothing() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let plan = plan(&["alice", "--role", "view"], &kc_path);
    let mut admin = vec![
        reply("GET", record_uri(), 404, not_found()),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            200,
            view_rules(),
        ),
    ];
    admin.extend(claim_steps(|_| {}));
    admin.extend([
        reply(
            "PUT",
            format!("{}?", record_uri()),
            403,
            status(403, "Forbidden"),
        ),
        reply("DELETE", format!("{}?", record_uri()), 200, deleted()),
    ]);
    let (r, out) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        vec![],
    )
    .await;
    let text = r.unwrap_err().to_string();
    assert!(text.contains("403 Forbidden"), "{text}");
    assert!(
        text.ends_with("rolled back: configmap/tenant-alice"),
        "{text}"
    );
    assert!(!kc_path.exists(), "{out}");
}

fn pending_alice(roles: Value) -> Value {
    json!({"user": "alice", "phase": "Pending", "auth": "cert", "groups": [], "roles": roles,
        "bindings": [{"kind": "ClusterRoleBinding", "name": "tenantctl:alice:view", "role": {"kind": "ClusterRole", "name": "view"}}],
        "credentials": [{"kind": "cert", "signer": "local", "serial": "0d", "sha256": "ee",
            "notBefore": "2026-01-01T00:00:00Z", "notAfter": "2099-01-01T00:00:00Z"}],
        "created": "2026-01-01T00:00:00Z"})
}

/// A create that died left a Pending record: the same create resumes it (no POST), keeps the
/// dead run's credential in the record, adds its own, and finishes.
#[tokio::test(start_paused = true)]
async fn the_same_create_resumes_a_pending_tenant() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let plan = plan(&["alice", "--role", "view"], &kc_path);
    let admin = vec![
        reply(
            "GET",
            record_uri(),
            200,
            record_map(pending_alice(
                json!([{"kind": "ClusterRole", "name": "view"}]),
            )),
        ),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
            200,
            view_rules(),
        ),
        apply(
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}{APPLY_QUERY}"),
            |_| {},
        ),
        put_record(7, |r| {
            assert_eq!(r["phase"], "Pending");
            let creds = r["credentials"].as_array().unwrap();
            assert_eq!(creds.len(), 2);
            assert_eq!(
                creds[0]["serial"], "0d",
                "the dead run's credential stays known"
            );
        }),
        apply(format!("{CRB_URI}{APPLY_QUERY}"), |_| {}),
        activate(8),
    ];
    let tenant = verify_steps("alice", &[], true, |_| {});
    let (r, out) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        tenant,
    )
    .await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(
        out.stderr
            .contains("note: tenant alice is Pending since 2026-01-01T00:00:00Z: resuming"),
        "{out}"
    );
    assert!(kc_path.exists());
}

#[tokio::test(start_paused = true)]
async fn a_pending_tenant_with_another_spec_is_refused() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(
        &["alice", "--role", "view", "-g", "dev"],
        &dir.path().join("k"),
    );
    let admin = vec![reply(
        "GET",
        record_uri(),
        200,
        record_map(pending_alice(
            json!([{"kind": "ClusterRole", "name": "view"}]),
        )),
    )];
    let (r, _) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        vec![],
    )
    .await;
    let err = r.unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.to_string().contains("is Pending (a create that did not finish, or is running now) with another spec: groups [] (asked: [\"dev\"])"),
        "{err}"
    );
}

/// A cluster-wide binding of a role that reads every secret is refused, naming the rule;
/// nothing is written.
#[tokio::test(start_paused = true)]
async fn a_cluster_wide_privileged_role_is_refused_naming_its_rule() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(&["eve", "--role", "secret-reader"], &dir.path().join("k"));
    let admin = vec![
        reply(
            "GET",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-eve"),
            404,
            not_found(),
        ),
        reply(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/secret-reader",
            200,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "secret-reader"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]}),
        ),
    ];
    let (r, _) = run_create(
        &plan,
        &pki,
        Signer::Local {
            cert_dir: pki.path(),
        },
        admin,
        vec![],
    )
    .await;
    let err = r.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert_eq!(
        err.to_string(),
        "refusing a cluster-wide binding of ClusterRole/secret-reader (rule verbs [get,list] on resources [secrets] reads every secret): that makes the tenant a cluster administrator; bind it in a namespace with -n, or pass --allow-privileged"
    );
}

/// Runs `renew_online` against `server` (which plays the admin API server).
async fn run_renew(
    cluster: Cluster,
    entry: &ClusterEntry,
    args: &tenantctl::cli::RenewArgs,
    server: impl Future<Output = ()>,
) -> (Result<(), Error>, Streams) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let r = tenantctl::tenant::renew_online(
            &cluster,
            entry,
            args,
            &mut Output::new(&mut out, &mut err),
        )
        .await;
        drop(cluster);
        r
    };
    let (r, ()) = tokio::join!(run, server);
    (r, Streams::of(out, err))
}

fn renew_args(argv: &[&str]) -> Box<tenantctl::cli::RenewArgs> {
    let mut all = vec!["tenantctl", "renew", "alice"];
    all.extend_from_slice(argv);
    let cli = <Cli as clap::Parser>::try_parse_from(all).unwrap();
    let Command::Renew(args) = cli.command else {
        unreachable!()
    };
    args
}

/// `create --approve` is recorded with the credential; `renew` approves its own request the
/// same way instead of waiting for an approval that will not come.
#[tokio::test(start_paused = true)]
async fn renew_by_the_csr_api_approves_as_create_did() {
    let pki = Arc::new(Pki::new());
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let kc_arg = kc_path.display().to_string();
    let args = renew_args(&["--kubeconfig-out", &kc_arg, "--ttl", "1h"]);
    let mut record = alice_record("kubernetes.io/kube-apiserver-client");
    record["credentials"][0]["approve"] = json!(true);
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let ca = pki.clone();
    let server = |mut s: Script| async move {
        s.expect("GET", &record_uri(), |_| Some((200, record_map(record))))
            .await;
        let created = s
            .expect("POST", &format!("{CSR_URI}?"), |b| Some((201, b.clone())))
            .await;
        let (name, pem) = posted_csr(&created, 3600);
        let uri = format!("{CSR_URI}/{name}");
        s.expect("PATCH", &format!("{uri}/approval?"), |b| {
            Some((200, b.clone()))
        })
        .await;
        let mut issued = csr_object(
            &name,
            &created["spec"],
            json!([{"type": "Approved", "status": "True"}]),
        );
        issued["status"]["certificate"] =
            json!(B64.encode(ca.sign(&pem, Duration::from_secs(3600))));
        s.expect("GET", &uri, |_| Some((200, issued))).await;
        s.expect("DELETE", &format!("{uri}?"), |_| Some((200, deleted())))
            .await;
        let cm = s.put_record(7).await;
        let r = record_of(&cm);
        assert_eq!(r["credentials"][1]["approve"], true);
        assert_eq!(
            r["credentials"][1]["signer"],
            "kubernetes.io/kube-apiserver-client"
        );
        s.finish().await;
    };
    let entry = pki.entry();
    let script = Script {
        handle,
        held: Vec::new(),
    };
    let (r, out) = run_renew(cluster, &entry, &args, server(script)).await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(kc_path.exists());
}

/// A locally signed tenant renewed without the right --cert-dir: the error says the record
/// names the local CA and which flag to pass; nothing is written.
#[tokio::test(start_paused = true)]
async fn renew_of_a_local_tenant_names_the_missing_ca() {
    let dir = tempfile::tempdir().unwrap();
    let kc_path = dir.path().join("alice.kubeconfig");
    let kc_arg = kc_path.display().to_string();
    let missing = dir.path().join("no-pki").display().to_string();
    let args = renew_args(&["--kubeconfig-out", &kc_arg, "--cert-dir", &missing]);
    let mut record = alice_record("local");
    record["credentials"][0]["issuer"] = json!("kubernetes");
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let admin = vec![reply("GET", record_uri(), 200, record_map(record))];
    let entry = Pki::new().entry();
    let (r, _) = run_renew(cluster, &entry, &args, serve(handle, admin)).await;
    let err = r.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let text = err.to_string();
    assert!(
        text.starts_with("invalid --cert-dir: alice's certificate was signed by the local cluster CA (issuer kubernetes), but ")
            && text.ends_with("no-pki/ca.crt is not there: pass --cert-dir DIR holding that CA's ca.crt and ca.key, or --signer csr"),
        "{text}"
    );
    assert!(!kc_path.exists());
}

/// `token create`: one POST of the Secret exactly as kubeadm writes it; the token alone on
/// stdout.
#[tokio::test(start_paused = true)]
async fn token_create_posts_kubeadms_secret() {
    use tenantctl::join::token::{BootstrapToken, create_online};
    let now = SystemTime::now();
    let token = BootstrapToken::generate(
        Some(Duration::from_secs(86_400)),
        Some("node-3".into()),
        &["signing".into(), "authentication".into()],
        &["system:bootstrappers:kubeadm:default-node-token".into()],
        now,
    )
    .unwrap();
    let (id, secret) = (token.id.clone(), token.secret().to_owned());
    let expiration = tenantctl::time::rfc3339(now + Duration::from_secs(86_400));
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let admin = vec![step(
        "POST",
        "/api/v1/namespaces/kube-system/secrets?",
        move |b| {
            assert_eq!(b["metadata"]["name"], format!("bootstrap-token-{id}"));
            assert_eq!(b["metadata"]["namespace"], "kube-system");
            assert_eq!(b["type"], "bootstrap.kubernetes.io/token");
            let data: std::collections::BTreeMap<String, String> = b["data"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let bytes = B64.decode(v.as_str().unwrap()).unwrap();
                    (k.clone(), String::from_utf8(bytes).unwrap())
                })
                .collect();
            let want: std::collections::BTreeMap<String, String> = [
                (
                    "auth-extra-groups",
                    "system:bootstrappers:kubeadm:default-node-token",
                ),
                ("description", "node-3"),
                ("expiration", expiration.as_str()),
                ("token-id", id.as_str()),
                ("token-secret", secret.as_str()),
                ("usage-bootstrap-authentication", "true"),
                ("usage-bootstrap-signing", "true"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            assert_eq!(data, want);
            Some((201, b.clone()))
        },
    )];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let r = create_online(
            &cluster,
            &token,
            None,
            Format::Table,
            &mut Output::new(&mut out, &mut err),
        )
        .await;
        drop(cluster);
        r
    };
    let (r, ()) = tokio::join!(run, serve(handle, admin));
    r.unwrap();
    let out = Streams::of(out, err);
    assert_eq!(out.stdout, format!("{}\n", token.token()));
    assert!(!out.stderr.contains(token.secret()), "{out}");
}

/// `token list` reads kubeadm's Secrets (by field selector, as kubeadm lists them) and warns
/// about a damaged one; `token delete` by token and by id.
#[tokio::test(start_paused = true)]
async fn token_list_and_delete() {
    use tenantctl::join::token::{delete_online, list_online};
    let secret = |name: &str, data: Value| {
        json!({"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
               "metadata": {"name": name, "namespace": "kube-system"}, "data": data})
    };
    let b = |s: &str| json!(B64.encode(s));
    let list = json!({"apiVersion": "v1", "kind": "SecretList", "metadata": {}, "items": [
        secret("bootstrap-token-abcdef", json!({"token-id": b("abcdef"), "token-secret": b("0123456789abcdef"),
            "expiration": b("2099-01-01T00:00:00Z"), "usage-bootstrap-signing": b("true"),
            "usage-bootstrap-authentication": b("true"),
            "auth-extra-groups": b("system:bootstrappers:kubeadm:default-node-token")})),
        secret("bootstrap-token-broken", json!({"token-id": b("abcdeg")})),
    ]});
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let admin = vec![
        reply(
            "GET",
            "/api/v1/namespaces/kube-system/secrets?&fieldSelector=type%3Dbootstrap.kubernetes.io%2Ftoken",
            200,
            list,
        ),
        reply(
            "DELETE",
            "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef?",
            200,
            deleted(),
        ),
        reply(
            "DELETE",
            "/api/v1/namespaces/kube-system/secrets/bootstrap-token-zzzzzz?",
            404,
            not_found(),
        ),
    ];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let mut o = Output::new(&mut out, &mut err);
        let listed = list_online(&cluster, Format::Table, SystemTime::now(), &mut o).await;
        let deleted = delete_online(&cluster, &["abcdef".into(), "zzzzzz".into()], &mut o).await;
        drop(cluster);
        (listed, deleted)
    };
    let ((listed, deleted), ()) = tokio::join!(run, serve(handle, admin));
    listed.unwrap();
    let err_text = deleted.unwrap_err().to_string();
    let out = Streams::of(out, err);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("TOKEN                     TTL"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("abcdef.0123456789abcdef")
            && lines[1].contains("2099-01-01T00:00:00Z   authentication,signing   <none>")
            && lines[1].ends_with("system:bootstrappers:kubeadm:default-node-token"),
        "{out}"
    );
    assert_eq!(lines[2], "bootstrap token \"abcdef\" deleted");
    assert!(
        out.stderr
            .contains("warning: bootstrap token Secret bootstrap-token-broken"),
        "{out}"
    );
    assert!(err_text.contains("no bootstrap token zzzzzz"), "{err_text}");
}

fn bootstrap_setup_args(flags: &[&str]) -> tenantctl::cli::BootstrapSetupArgs {
    let argv = ["tenantctl", "bootstrap-setup"].iter().chain(flags);
    match <Cli as clap::Parser>::try_parse_from(argv).unwrap().command {
        Command::BootstrapSetup(args) => args,
        other => panic!("{other:?}"),
    }
}

/// Runs `bootstrap-setup` against the mock: the admin kubeconfig names the first node
/// (10.0.0.10), the flags name the VIP.
async fn bootstrap_setup(
    flags: &[&str],
    ca_pem: &str,
    steps: Vec<Step>,
) -> (Result<(), Error>, Streams) {
    use tenantctl::join::bootstrap_setup::{AdminView, setup};
    let args = bootstrap_setup_args(flags);
    let admin = AdminView {
        server: "https://10.0.0.10:6443".parse().unwrap(),
        cluster_name: "kubernetes".into(),
        ca_pem: ca_pem.to_owned(),
    };
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let r = setup(
            &cluster,
            &args,
            &admin,
            &mut Output::new(&mut out, &mut err),
        )
        .await;
        drop(cluster);
        r
    };
    let (r, ()) = tokio::join!(run, serve(handle, steps));
    (r, Streams::of(out, err))
}

/// The reads `bootstrap-setup` makes before it applies: `/version`, then kubeadm's three
/// ConfigMaps in kube-system (`found` answers them; `None` is 404).
fn bootstrap_setup_reads(found: [Option<Value>; 3]) -> Vec<Step> {
    let version = json!({"major": "1", "minor": "28", "gitVersion": "v1.28.7",
        "gitCommit": "c8dcb00be9961ec36d141d2e4103f85f92bcf291", "gitTreeState": "clean",
        "buildDate": "2024-02-14T10:32:39Z", "goVersion": "go1.21.7", "compiler": "gc",
        "platform": "linux/amd64"});
    let mut steps = vec![reply("GET", "/version", 200, version)];
    for (name, found) in ["kubeadm-config", "kubelet-config", "kube-proxy"]
        .into_iter()
        .zip(found)
    {
        let uri = format!("/api/v1/namespaces/kube-system/configmaps/{name}");
        steps.push(match found {
            Some(cm) => reply("GET", uri, 200, cm),
            None => reply("GET", uri, 404, not_found()),
        });
    }
    steps
}

/// kube-proxy's kubeconfig.conf as kubeadm's template renders it, for `server`.
fn kube_proxy_kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: {server}
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token"
    )
}

/// `bootstrap-setup`: what kubeadm init leaves for joining nodes — kubeadm:cluster-admins,
/// kubeadm-config, kubelet-config, cluster-info and the bootstrap RBAC, kube-proxy — each request
/// asserted exactly, by server-side apply, in kubeadm's phase order, with kubeadm's names, keys
/// and subjects; kube-proxy and cluster-info name the control-plane endpoint, not the node.
#[tokio::test(start_paused = true)]
async fn bootstrap_setup_applies_kubeadms_objects() {
    let pki = Pki::new();
    let ca_pem = pki.ca.certificate().to_pem();
    let cert_dir = pki.path().to_str().unwrap().to_owned();
    let rbac = "/apis/rbac.authorization.k8s.io/v1";
    let labels = json!({"app.kubernetes.io/managed-by": "tenantctl"});
    let meta = |name: &str, ns: Option<&str>| match ns {
        Some(ns) => json!({"name": name, "namespace": ns, "labels": labels}),
        None => json!({"name": name, "labels": labels}),
    };
    let group = |name: &str| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name});
    let node_group = group("system:bootstrappers:kubeadm:default-node-token");
    let nodes = group("system:nodes");
    let exact =
        |uri: String, want: Value| apply(uri.clone(), move |b| assert_eq!(b, &want, "{uri}"));
    let configmap = |ns: &str, name: &str, data: Value| {
        exact(
            format!("/api/v1/namespaces/{ns}/configmaps/{name}{APPLY_QUERY}"),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, Some(ns)), "data": data}),
        )
    };
    let reader = |ns: &str, name: &str, configmap: &str| {
        exact(
            format!("{rbac}/namespaces/{ns}/roles/{name}{APPLY_QUERY}"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": meta(name, Some(ns)),
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [configmap], "verbs": ["get"]}]}),
        )
    };
    let binding = |ns: &str, name: &str, subjects: Value| {
        exact(
            format!("{rbac}/namespaces/{ns}/rolebindings/{name}{APPLY_QUERY}"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": meta(name, Some(ns)),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": subjects}),
        )
    };
    let crb = |name: &str, role: &str, subject: &Value| {
        exact(
            format!("{rbac}/clusterrolebindings/{name}{APPLY_QUERY}"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": meta(name, None),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [subject]}),
        )
    };
    let cluster_configuration = format!(
        "apiServer:
  timeoutForControlPlane: 4m0s
apiVersion: kubeadm.k8s.io/v1beta3
certificatesDir: {cert_dir}
clusterName: kubernetes
controlPlaneEndpoint: vip.example.com:6443
controllerManager: {{}}
dns: {{}}
etcd:
  local:
    dataDir: /var/lib/etcd
imageRepository: registry.k8s.io
kind: ClusterConfiguration
kubernetesVersion: v1.28.7
networking:
  dnsDomain: cluster.local
  podSubnet: 10.244.0.0/16
  serviceSubnet: 10.96.0.0/12
scheduler: {{}}
"
    );
    let kubelet = format!(
        "apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {cert_dir}/ca.crt
authorization:
  mode: Webhook
cgroupDriver: systemd
clusterDNS:
- \"10.96.0.10\"
clusterDomain: cluster.local
healthzBindAddress: \"127.0.0.1\"
healthzPort: 10248
kind: KubeletConfiguration
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
"
    );
    let kube_proxy = "apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: \"0.0.0.0\"
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
clusterCIDR: 10.244.0.0/16
kind: KubeProxyConfiguration";
    let ca = ca_pem.clone();
    let cluster_info_meta = meta("cluster-info", Some("kube-public"));
    let mut steps = bootstrap_setup_reads([None, None, None]);
    steps.extend([
        // phases/kubeconfig: admin.conf's group.
        crb(
            "kubeadm:cluster-admins",
            "cluster-admin",
            &group("kubeadm:cluster-admins"),
        ),
        // phases/uploadconfig.
        configmap(
            "kube-system",
            "kubeadm-config",
            json!({"ClusterConfiguration": cluster_configuration}),
        ),
        reader(
            "kube-system",
            "kubeadm:nodes-kubeadm-config",
            "kubeadm-config",
        ),
        binding(
            "kube-system",
            "kubeadm:nodes-kubeadm-config",
            json!([node_group, nodes]),
        ),
        // phases/kubelet.
        configmap("kube-system", "kubelet-config", json!({"kubelet": kubelet})),
        reader("kube-system", "kubeadm:kubelet-config", "kubelet-config"),
        binding(
            "kube-system",
            "kubeadm:kubelet-config",
            json!([nodes, node_group]),
        ),
        // phases/bootstraptoken.
        apply(
            format!("/api/v1/namespaces/kube-public/configmaps/cluster-info{APPLY_QUERY}"),
            move |cm| {
                assert_eq!(cm["metadata"], cluster_info_meta);
                assert_eq!(cm["data"].as_object().unwrap().len(), 1);
                let kc = cm["data"]["kubeconfig"].as_str().unwrap();
                let parsed: kube::config::Kubeconfig = serde_saphyr::from_str(kc).unwrap();
                assert_eq!(parsed.clusters.len(), 1);
                assert_eq!(parsed.clusters[0].name, "");
                let c = parsed.clusters[0].cluster.as_ref().unwrap();
                assert_eq!(c.server.as_deref(), Some("https://vip.example.com:6443"));
                let data = B64
                    .decode(c.certificate_authority_data.as_ref().unwrap())
                    .unwrap();
                assert_eq!(String::from_utf8(data).unwrap(), ca);
                assert!(parsed.contexts.is_empty() && parsed.auth_infos.is_empty());
            },
        ),
        reader(
            "kube-public",
            "kubeadm:bootstrap-signer-clusterinfo",
            "cluster-info",
        ),
        binding(
            "kube-public",
            "kubeadm:bootstrap-signer-clusterinfo",
            json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:anonymous"}]),
        ),
        exact(
            format!("{rbac}/clusterroles/kubeadm:get-nodes{APPLY_QUERY}"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": meta("kubeadm:get-nodes", None),
                "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]}),
        ),
        crb("kubeadm:get-nodes", "kubeadm:get-nodes", &node_group),
        crb(
            "kubeadm:kubelet-bootstrap",
            "system:node-bootstrapper",
            &node_group,
        ),
        crb(
            "kubeadm:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            &node_group,
        ),
        crb(
            "kubeadm:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            &nodes,
        ),
        // phases/addons/proxy: the VIP, never the node's 10.0.0.10.
        exact(
            format!("/api/v1/namespaces/kube-system/configmaps/kube-proxy{APPLY_QUERY}"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kube-proxy", "namespace": "kube-system",
                    "labels": {"app.kubernetes.io/managed-by": "tenantctl", "app": "kube-proxy"}},
                "data": {"config.conf": kube_proxy,
                    "kubeconfig.conf": kube_proxy_kubeconfig("https://vip.example.com:6443")}}),
        ),
        reader("kube-system", "kube-proxy", "kube-proxy"),
        binding("kube-system", "kube-proxy", json!([node_group])),
    ]);
    let (r, out) = bootstrap_setup(
        &[
            "--cert-dir",
            &cert_dir,
            "--control-plane-endpoint",
            "vip.example.com:6443",
            "--pod-network-cidr",
            "10.244.0.0/16",
            "-o",
            "json",
        ],
        &ca_pem,
        steps,
    )
    .await;
    r.unwrap();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["server"], "https://vip.example.com:6443", "{out}");
    assert_eq!(v["controlPlaneEndpoint"], "vip.example.com:6443");
    assert_eq!(v["kubernetesVersion"], "v1.28.7");
    assert_eq!(v["applied"].as_array().unwrap().len(), 18);
    assert_eq!(v["applied"][0], "clusterrolebinding/kubeadm:cluster-admins");
    // The PKI has no apiserver.crt to tell the DNS domain: what was defaulted is named.
    let notes: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("note: "))
        .collect();
    assert_eq!(notes.len(), 2, "{out}");
    assert!(
        notes[0].starts_with("note: networking.dnsDomain: cluster.local"),
        "{out}"
    );
    assert!(
        notes[1].starts_with("note: networking.serviceSubnet: 10.96.0.0/12"),
        "{out}"
    );
    // A --cert-dir other than kubeadm's is every node's certificatesDir: a warning says so.
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 1, "{out}");
    assert!(
        warnings[0].starts_with(&format!("warning: certificatesDir {cert_dir} (--cert-dir)")),
        "{out}"
    );
}

/// On a cluster kubeadm made, its kubeadm-config and kube-proxy config.conf are kept (only
/// kube-proxy's server is set); `--dry-run` reads the cluster, prints the objects and applies
/// nothing; and without a PKI every defaulted value is named on stderr.
#[tokio::test(start_paused = true)]
async fn bootstrap_setup_keeps_kubeadms_configmaps_and_dry_run_applies_nothing() {
    let pki = Pki::new();
    let ca_pem = pki.ca.certificate().to_pem();
    let no_pki = tempfile::tempdir().unwrap();
    let kubeadms = |name: &str, data: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "kube-system", "labels": {"app": name}},
            "data": data})
    };
    let steps = bootstrap_setup_reads([
        Some(kubeadms(
            "kubeadm-config",
            json!({"ClusterConfiguration": "kubeadm's"}),
        )),
        None,
        Some(kubeadms(
            "kube-proxy",
            json!({"config.conf": "mode: ipvs",
                "kubeconfig.conf": kube_proxy_kubeconfig("https://10.0.0.10:6443")}),
        )),
    ]);
    let (r, out) = bootstrap_setup(
        &[
            "--cert-dir",
            no_pki.path().to_str().unwrap(),
            "--server",
            "https://vip.example.com:6443",
            "--dry-run",
            "-o",
            "json",
        ],
        &ca_pem,
        steps,
    )
    .await;
    r.unwrap();
    let list: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(list["kind"], "List", "{out}");
    let items = list["items"].as_array().unwrap();
    let names: Vec<String> = items
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["kind"].as_str().unwrap(),
                i["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(items.len(), 17, "{names:?}");
    assert!(!names.contains(&"ConfigMap/kubeadm-config".to_owned()));
    assert!(names.contains(&"ConfigMap/kubelet-config".to_owned()));
    assert!(names.contains(&"Role/kubeadm:nodes-kubeadm-config".to_owned()));
    let proxy = items
        .iter()
        .find(|i| i["metadata"]["name"] == "kube-proxy" && i["kind"] == "ConfigMap")
        .unwrap();
    assert_eq!(
        proxy,
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"kubeconfig.conf": kube_proxy_kubeconfig("https://vip.example.com:6443")}})
    );
    // --cert-dir names where nodes keep the PKI, even when this machine has none there.
    let kubelet = items
        .iter()
        .find(|i| i["metadata"]["name"] == "kubelet-config")
        .unwrap();
    let ca_file = format!("clientCAFile: {}/ca.crt", no_pki.path().display());
    assert!(
        kubelet["data"]["kubelet"]
            .as_str()
            .unwrap()
            .contains(&ca_file),
        "{out}"
    );
    assert!(!out.stderr.contains("note: certificatesDir"), "{out}");
    for defaulted in [
        "note: no PKI in",
        "note: networking.dnsDomain: cluster.local",
        "note: networking.serviceSubnet: 10.96.0.0/12",
        "note: networking.podSubnet: unset",
        "note: controlPlaneEndpoint: vip.example.com:6443 (from --server",
        "note: configmap/kubeadm-config in kube-system was made by someone else",
        "note: configmap/kube-proxy in kube-system was made by someone else",
    ] {
        assert!(out.stderr.contains(defaulted), "{defaulted}: {out}");
    }
    assert!(
        out.stderr
            .contains("it named https://10.0.0.10:6443: restart kube-proxy"),
        "{out}"
    );
    assert!(out.stderr.contains("dry run"), "{out}");
}

/// `pki upload-certs`: the 2-hour owner token, kubeadm-certs owned by it (so the garbage
/// collector removes it with the token), and kubeadm's Role and RoleBinding for bootstrap tokens.
#[tokio::test(start_paused = true)]
async fn upload_certs_makes_kubeadms_objects() {
    use tenantctl::pki::upload_certs::upload_online;
    let data: std::collections::BTreeMap<String, k8s_openapi::ByteString> =
        [("ca.crt", b"sealed".to_vec())]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), k8s_openapi::ByteString(v)))
            .collect();
    let admin = vec![
        step("POST", "/api/v1/namespaces/kube-system/secrets?", |b| {
            assert_eq!(b["type"], "bootstrap.kubernetes.io/token");
            assert_eq!(
                B64.decode(b["data"]["description"].as_str().unwrap())
                    .unwrap(),
                b"Proxy for managing TTL for the kubeadm-certs secret"
            );
            assert!(b["data"].get("usage-bootstrap-authentication").is_none());
            let mut made = b.clone();
            made["metadata"]["uid"] = json!("uid-owner");
            Some((201, made))
        }),
        apply(
            format!("/api/v1/namespaces/kube-system/secrets/kubeadm-certs{APPLY_QUERY}"),
            |s| {
                let owner = &s["metadata"]["ownerReferences"][0];
                assert_eq!(owner["kind"], "Secret");
                assert_eq!(owner["uid"], "uid-owner");
                assert!(
                    owner["name"]
                        .as_str()
                        .unwrap()
                        .starts_with("bootstrap-token-")
                );
                assert_eq!(owner["controller"], true);
                assert_eq!(s["data"]["ca.crt"], json!(B64.encode(b"sealed")));
            },
        ),
        apply(
            format!(
                "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/roles/kubeadm:kubeadm-certs{APPLY_QUERY}"
            ),
            |r| {
                assert_eq!(
                    r["rules"],
                    json!([{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["kubeadm-certs"], "verbs": ["get"]}])
                );
            },
        ),
        apply(
            format!(
                "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings/kubeadm:kubeadm-certs{APPLY_QUERY}"
            ),
            |rb| {
                assert_eq!(
                    rb["subjects"],
                    json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:bootstrappers:kubeadm:default-node-token"}])
                );
            },
        ),
    ];
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let r = upload_online(&cluster, data, &mut Output::new(&mut out, &mut err)).await;
        drop(cluster);
        r
    };
    let (r, ()) = tokio::join!(run, serve(handle, admin));
    assert_eq!(r.unwrap().len(), 6, "the owner token's id");
}

// ---- apply -f: the exact requests of a mixed apply, with --concurrency 1 so they come in
// order (with more, the same requests interleave).

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";
const MANAGED_SELECTOR: &str = "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dtenantctl";

/// A stored record ConfigMap of `user` bound to ClusterRole `role`.
/// An Active certificate tenant of the set `team` (apply --set team).
fn ledger_entry(user: &str, role: &str, rv: u32) -> Value {
    ledger_entry_in(user, role, rv, Some("team"))
}

fn ledger_entry_in(user: &str, role: &str, rv: u32, set: Option<&str>) -> Value {
    let mut record = json!({"user": user, "auth": "cert", "phase": "Active",
        "roles": [{"kind": "ClusterRole", "name": role}],
        "bindings": [{"kind": "ClusterRoleBinding", "name": format!("tenantctl:{user}:{role}"),
                      "role": {"kind": "ClusterRole", "name": role}}],
        "credentials": [{"kind": "cert", "signer": "local", "serial": "01", "sha256": "ab",
            "keyAlgorithm": "ECDSA-P256", "notBefore": "2026-11-01T00:00:00Z", "notAfter": "2099-01-01T00:00:00Z"}],
        "created": "2026-11-01T00:00:00Z"});
    if let Some(set) = set {
        record["set"] = json!(set);
    }
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": format!("tenant-{user}"), "namespace": RECORD_NAMESPACE,
                        "uid": format!("uid-{user}"), "resourceVersion": rv.to_string(),
                        "labels": {"app.kubernetes.io/managed-by": "tenantctl", "tenantctl.io/tenant": user,
                                   "app.kubernetes.io/component": "tenant-record"}},
           "data": {"tenant.json": record.to_string()}})
}

/// tenantctl's ClusterRoleBinding of `user` to `role`, as listed.
fn listed_crb(user: &str, role: &str) -> Value {
    json!({"metadata": {"name": format!("tenantctl:{user}:{role}"), "uid": format!("uid-crb-{user}"),
                        "labels": {"app.kubernetes.io/managed-by": "tenantctl", "tenantctl.io/tenant": user}},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
           "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]})
}

fn list_of(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": {"resourceVersion": "1"}, "items": items})
}

/// The reads every apply starts with, in order: records, bindings, namespaces, roles.
fn observe_steps(records: Vec<Value>, crbs: Vec<Value>) -> Vec<Step> {
    let role = |name: &str, verbs: Value| json!({"metadata": {"name": name}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": verbs}]});
    vec![
        reply(
            "GET",
            format!(
                "/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dtenantctl%2Capp.kubernetes.io%2Fcomponent%3Dtenant-record"
            ),
            200,
            list_of("ConfigMap", records),
        ),
        reply(
            "GET",
            format!("{RBAC}/clusterrolebindings?&{MANAGED_SELECTOR}"),
            200,
            list_of("ClusterRoleBinding", crbs),
        ),
        reply(
            "GET",
            format!("{RBAC}/rolebindings?&{MANAGED_SELECTOR}"),
            200,
            list_of("RoleBinding", vec![]),
        ),
        reply(
            "GET",
            "/api/v1/namespaces?",
            200,
            list_of("Namespace", vec![json!({"metadata": {"name": "default"}})]),
        ),
        reply(
            "GET",
            format!("{RBAC}/clusterroles?"),
            200,
            list_of(
                "ClusterRole",
                vec![
                    role("view", json!(["get", "list"])),
                    role("reader", json!(["get", "create"])),
                ],
            ),
        ),
    ]
}

/// The SubjectAccessReview for `user`'s first rule of `role`; `allowed` is the answer.
fn review(user: &'static str, allowed: bool) -> Step {
    step(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews?",
        move |b| {
            assert_eq!(b["spec"]["user"], user);
            assert_eq!(b["spec"]["groups"], json!(["system:authenticated"]));
            assert_eq!(b["spec"]["resourceAttributes"]["resource"], "pods");
            assert_eq!(b["spec"]["resourceAttributes"]["verb"], "get");
            Some((
                201,
                json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "metadata": {}, "spec": b["spec"].clone(), "status": {"allowed": allowed}}),
            ))
        },
    )
}

fn tenant_doc(user: &str, role: &str) -> String {
    format!(
        "apiVersion: tenantctl.io/v1\nkind: Tenant\nmetadata:\n  name: {user}\nspec:\n  roles: [{role}]\n---\n"
    )
}

async fn run_apply(
    file: &str,
    flags: &[&str],
    pki: &Pki,
    steps: Vec<Step>,
) -> (Result<(), Error>, Streams, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenants.yaml");
    std::fs::write(&path, file).unwrap();
    let out_dir = dir.path().join("out");
    let mut argv = vec![
        "tenantctl".to_owned(),
        "apply".into(),
        "-f".into(),
        path.display().to_string(),
        "--out-dir".into(),
        out_dir.display().to_string(),
        "--concurrency".into(),
        "1".into(),
        "--cert-dir".into(),
        pki.path().display().to_string(),
    ];
    argv.extend(flags.iter().map(|f| (*f).to_owned()));
    let cli = <Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let Command::Apply(args) = cli.command else {
        unreachable!()
    };
    let desired =
        tenantctl::tenant::load_tenants(&args.files, tenantctl::tenant::ParseOptions::default())
            .unwrap();
    let settings = tenantctl::tenant::ApplySettings::from_args(&args);
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let entry = pki.entry();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let r = tenantctl::tenant::apply_online(
            &cluster,
            &entry,
            desired,
            &settings,
            &mut Output::new(&mut out, &mut err),
        )
        .await;
        drop(cluster);
        r
    };
    let (r, ()) = tokio::join!(run, serve(handle, steps));
    (r, Streams::of(out, err), dir)
}

#[tokio::test(start_paused = true)]
async fn apply_creates_updates_keeps_and_prunes_with_the_exact_requests() {
    let pki = Pki::new();
    // alice is new, bob is as the file says, carol moves from view to edit, dave is not named.
    let file = [
        tenant_doc("alice", "view"),
        tenant_doc("bob", "view"),
        tenant_doc("carol", "reader"),
    ]
    .concat();
    let mut steps = observe_steps(
        vec![
            ledger_entry("bob", "view", 11),
            ledger_entry("carol", "view", 21),
            ledger_entry("dave", "view", 31),
            // erin came from `tenantctl create` (no set), frank from another team's file:
            // neither is pruned.
            ledger_entry_in("erin", "view", 41, None),
            ledger_entry_in("frank", "view", 51, Some("other")),
        ],
        vec![
            listed_crb("bob", "view"),
            listed_crb("carol", "view"),
            listed_crb("dave", "view"),
            listed_crb("erin", "view"),
            listed_crb("frank", "view"),
        ],
    );
    steps.push(apply(
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}{APPLY_QUERY}"),
        |ns| assert_eq!(ns["kind"], "Namespace"),
    ));
    // alice: the record is claimed with its certificate already in it (Pending), then bound,
    // checked, handed out, Active.
    steps.push(step(
        "POST",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?"),
        |cm| {
            assert_eq!(cm["metadata"]["name"], "tenant-alice");
            let r = record_of(cm);
            assert_eq!(r["phase"], "Pending");
            assert_eq!(r["credentials"].as_array().unwrap().len(), 1);
            assert_eq!(r["credentials"][0]["kind"], "cert");
            assert_eq!(r["roles"], json!([{"kind": "ClusterRole", "name": "view"}]));
            assert_eq!(r["set"], "team");
            assert_eq!(cm["metadata"]["labels"]["tenantctl.io/set"], "team");
            Some((201, stored(cm, 1)))
        },
    ));
    steps.push(apply(
        format!("{RBAC}/clusterrolebindings/tenantctl:alice:view{APPLY_QUERY}"),
        |b| {
            assert_eq!(b["subjects"][0]["name"], "alice");
            assert_eq!(b["metadata"]["labels"]["tenantctl.io/tenant"], "alice");
            assert_eq!(b["metadata"]["labels"]["tenantctl.io/set"], "team");
        },
    ));
    steps.push(review("alice", true));
    steps.push(step(
        "PUT",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-alice?"),
        |cm| {
            assert_eq!(cm["metadata"]["resourceVersion"], "1");
            assert_eq!(record_of(cm)["phase"], "Active");
            Some((200, stored(cm, 2)))
        },
    ));
    // bob: nothing. carol: edit bound, view deleted (only the listed object), access checked,
    // the record updated at the version read, its credential kept.
    steps.push(apply(
        format!("{RBAC}/clusterrolebindings/tenantctl:carol:reader{APPLY_QUERY}"),
        |b| {
            assert_eq!(b["roleRef"]["name"], "reader");
        },
    ));
    steps.push(step(
        "DELETE",
        format!("{RBAC}/clusterrolebindings/tenantctl:carol:view?"),
        |b| {
            assert_eq!(b["preconditions"]["uid"], "uid-crb-carol");
            Some((200, deleted()))
        },
    ));
    steps.push(review("carol", true));
    steps.push(step(
        "PUT",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-carol?"),
        |cm| {
            assert_eq!(cm["metadata"]["resourceVersion"], "21");
            let r = record_of(cm);
            assert_eq!(
                r["roles"],
                json!([{"kind": "ClusterRole", "name": "reader"}])
            );
            assert_eq!(r["bindings"][0]["name"], "tenantctl:carol:reader");
            assert_eq!(
                r["credentials"].as_array().unwrap().len(),
                1,
                "credential unchanged"
            );
            assert_eq!(r["phase"], "Active");
            Some((200, stored(cm, 22)))
        },
    ));
    // dave (--prune): binding deleted, record revoked.
    steps.push(reply(
        "DELETE",
        format!("{RBAC}/clusterrolebindings/tenantctl:dave:view?"),
        200,
        deleted(),
    ));
    steps.push(step(
        "PUT",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-dave?"),
        |cm| {
            assert_eq!(cm["metadata"]["resourceVersion"], "31");
            let r = record_of(cm);
            assert_eq!(r["phase"], "Revoked");
            assert!(r["credentials"][0]["revoked"].is_string());
            Some((200, stored(cm, 32)))
        },
    ));
    let (r, out, dir) = run_apply(
        &file,
        &["--set", "team", "--prune", "-o", "json"],
        &pki,
        steps,
    )
    .await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    let result: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(result["kind"], "ApplyResult");
    assert_eq!(
        result["summary"],
        json!({"created": 1, "updated": 1, "renewed": 0, "unchanged": 1, "revoked": 1, "failed": 0})
    );
    let actions: Vec<(&str, &str)> = result["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["user"].as_str().unwrap(), t["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("alice", "created"),
            ("bob", "unchanged"),
            ("carol", "updated"),
            ("dave", "revoked")
        ]
    );
    // alice's kubeconfig: 0600, her certificate from the CA, and nothing for bob.
    let kc = dir.path().join("out/alice.kubeconfig");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&kc).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let parsed = Kubeconfig::from_yaml(&std::fs::read_to_string(&kc).unwrap()).unwrap();
    assert_eq!(parsed.current_context(), Some("alice@kubernetes"));
    assert!(!dir.path().join("out/bob.kubeconfig").exists());
    assert!(out.stderr.contains("still authenticate"), "{out}");
}

#[tokio::test(start_paused = true)]
async fn one_tenant_failing_rolls_back_only_its_own_changes_and_exit_is_1() {
    let pki = Pki::new();
    let file = [tenant_doc("alice", "view"), tenant_doc("erin", "reader")].concat();
    let mut steps = observe_steps(vec![], vec![]);
    steps.push(apply(
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}{APPLY_QUERY}"),
        |_| {},
    ));
    // alice: the authorizer says no → her binding and her record are removed again.
    steps.push(step(
        "POST",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?"),
        |cm| Some((201, stored(cm, 1))),
    ));
    steps.push(apply(
        format!("{RBAC}/clusterrolebindings/tenantctl:alice:view{APPLY_QUERY}"),
        |_| {},
    ));
    // Never allowed within --verify-timeout 1s: asked at 0, 50, 150, 350, 750 and 1000 ms
    // (backoff doubling from 50 ms, the last pause cut to the deadline), then given up.
    for _ in 0..6 {
        steps.push(review("alice", false));
    }
    steps.push(step(
        "DELETE",
        format!("{RBAC}/clusterrolebindings/tenantctl:alice:view?"),
        |b| {
            assert_eq!(b["preconditions"]["uid"], "uid-tenantctl:alice:view");
            Some((200, deleted()))
        },
    ));
    steps.push(step(
        "DELETE",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-alice?"),
        |b| {
            assert_eq!(b["preconditions"]["resourceVersion"], "1");
            Some((200, deleted()))
        },
    ));
    // erin goes on regardless.
    steps.push(step(
        "POST",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?"),
        |cm| {
            assert_eq!(cm["metadata"]["name"], "tenant-erin");
            Some((201, stored(cm, 5)))
        },
    ));
    steps.push(apply(
        format!("{RBAC}/clusterrolebindings/tenantctl:erin:reader{APPLY_QUERY}"),
        |_| {},
    ));
    steps.push(review("erin", true));
    steps.push(step(
        "PUT",
        format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-erin?"),
        |cm| Some((200, stored(cm, 6))),
    ));
    let (r, out, dir) = run_apply(&file, &["--verify-timeout", "1s"], &pki, steps).await;
    let err = r.expect_err("alice failed");
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(err.to_string().contains("1 of 2 tenant(s) failed"), "{err}");
    let table = &out.stdout;
    assert!(
        table.contains("alice")
            && table.contains("failed")
            && table.contains("not effective yet after 1s: alice may get pods"),
        "{out}"
    );
    assert!(table.contains("rolled back"), "{out}");
    assert!(
        table.contains("1 created, 0 updated, 0 renewed, 0 unchanged, 0 revoked, 1 failed"),
        "{out}"
    );
    assert!(!dir.path().join("out/alice.kubeconfig").exists());
    assert!(dir.path().join("out/erin.kubeconfig").exists());
}

#[tokio::test(start_paused = true)]
async fn apply_dry_run_reads_only_and_a_second_apply_is_all_unchanged() {
    let pki = Pki::new();
    let file = [tenant_doc("bob", "view"), tenant_doc("zed", "view")].concat();
    // Dry run: the reads, nothing else; the plan says what would happen.
    let steps = observe_steps(
        vec![ledger_entry("bob", "view", 3)],
        vec![listed_crb("bob", "view")],
    );
    let (r, out, _dir) = run_apply(&file, &["--dry-run", "-o", "yaml"], &pki, steps).await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    let plan: Value = serde_saphyr::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(plan["kind"], "ApplyPlan");
    assert_eq!(plan["tenants"][0]["action"], "unchanged");
    assert_eq!(plan["tenants"][1]["action"], "created");
    assert!(
        plan["tenants"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("clusterrolebinding/tenantctl:zed:view"),
        "{out}"
    );
    // Applied already: the reads and nothing else, whatever the flags.
    let steps = observe_steps(
        vec![
            ledger_entry("bob", "view", 3),
            ledger_entry("zed", "view", 4),
        ],
        vec![listed_crb("bob", "view"), listed_crb("zed", "view")],
    );
    let (r, out, dir) = run_apply(&file, &["--set", "team", "--prune"], &pki, steps).await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(
        out.stdout
            .contains("0 created, 0 updated, 0 renewed, 2 unchanged, 0 revoked, 0 failed"),
        "{out}"
    );
    assert!(
        !dir.path().join("out").exists(),
        "nothing to hand out, no directory"
    );
}

/// A stored record ConfigMap of any tenant, at resourceVersion `rv`.
fn record_cm(record: &Value, rv: u32) -> Value {
    let user = record["user"].as_str().unwrap();
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": format!("tenant-{user}"), "namespace": RECORD_NAMESPACE,
                        "uid": format!("uid-{user}"), "resourceVersion": rv.to_string(),
                        "labels": {"app.kubernetes.io/managed-by": "tenantctl", "tenantctl.io/tenant": user,
                                   "app.kubernetes.io/component": "tenant-record"}},
           "data": {"tenant.json": record.to_string()}})
}

/// `renew --all` against a list of records: every Active tenant renewed in name order (a
/// certificate tenant from the local CA, a token tenant by a TokenRequest), each new credential
/// recorded with the issuer's key identifier and the CAs its kubeconfig trusts before the
/// kubeconfig is written; Revoked and Pending tenants untouched; with `--expiring`, a tenant
/// not expiring is left as it is.
#[tokio::test(start_paused = true)]
async fn renew_all_renews_every_active_tenant_in_the_ledger_and_records_the_issuer() {
    use std::os::unix::fs::PermissionsExt as _;
    let pki = Pki::new();
    let ski = pki_core_hex(&pki.ca.certificate().subject_key_id().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("kubeconfigs");
    let mut alice = alice_record("local");
    alice["phase"] = json!("Active");
    let mut bob = alice_record("local");
    bob["user"] = json!("bob");
    bob["phase"] = json!("Revoked");
    bob["revoked"] = json!("2026-11-02T00:00:00Z");
    let carol = json!({"user": "carol", "phase": "Active", "auth": "token", "namespace": "team-a",
        "serviceAccount": "carol", "roles": [{"kind": "ClusterRole", "name": "view"}], "bindings": [],
        "credentials": [{"kind": "token", "signer": "tokenrequest",
            "notBefore": "2026-11-01T00:00:00Z", "notAfter": "2026-11-02T00:00:00Z"}],
        "created": "2026-11-01T00:00:00Z"});
    let mut dave = alice_record("local");
    dave["user"] = json!("dave");
    dave["phase"] = json!("Pending");
    let list = list_of(
        "ConfigMap",
        vec![
            record_cm(&carol, 3),
            record_cm(&bob, 4),
            record_cm(&alice, 5),
            record_cm(&dave, 6),
        ],
    );
    let (ski_a, ski_c) = (ski.clone(), ski.clone());
    let alice_kc = out_dir.join("alice.kubeconfig");
    let carol_kc = out_dir.join("carol.kubeconfig");
    let (alice_path, carol_path) = (alice_kc.clone(), carol_kc.clone());
    let admin = vec![
        reply(
            "GET",
            format!(
                "/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dtenantctl%2Capp.kubernetes.io%2Fcomponent%3Dtenant-record"
            ),
            200,
            list,
        ),
        step("PUT", format!("{}?", record_uri()), move |cm| {
            assert_eq!(cm["metadata"]["resourceVersion"], "5", "the version listed");
            assert!(
                !alice_path.exists(),
                "recorded before the kubeconfig is written"
            );
            let r = record_of(cm);
            let new = &r["credentials"][1];
            assert_eq!(new["signer"], "local");
            assert_eq!(new["issuerKeyId"], ski_a.as_str());
            assert_eq!(new["trustedCaKeyIds"], json!([ski_a]));
            Some((200, stored(cm, 6)))
        }),
        step(
            "POST",
            "/api/v1/namespaces/team-a/serviceaccounts/carol/token?",
            |b| {
                assert_eq!(b["spec"]["expirationSeconds"], 7 * 86_400);
                let expires =
                    tenantctl::time::rfc3339(SystemTime::now() + Duration::from_secs(7 * 86_400));
                Some((
                    201,
                    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {},
                    "spec": b["spec"].clone(), "status": {"token": "eyJhbGciOi.carol.token", "expirationTimestamp": expires}}),
                ))
            },
        ),
        step(
            "PUT",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-carol?"),
            move |cm| {
                assert_eq!(cm["metadata"]["resourceVersion"], "3");
                assert!(
                    !carol_path.exists(),
                    "recorded before the kubeconfig is written"
                );
                let r = record_of(cm);
                assert_eq!(r["credentials"][1]["kind"], "token");
                assert_eq!(r["credentials"][1]["trustedCaKeyIds"], json!([ski_c]));
                assert!(!cm.to_string().contains("eyJhbGciOi"), "never the token");
                Some((200, stored(cm, 4)))
            },
        ),
    ];
    let out_arg = out_dir.display().to_string();
    let cert_dir = pki.path().display().to_string();
    let (r, out) = renew_all_case(
        &pki,
        &[
            "--out-dir",
            &out_arg,
            "--cert-dir",
            &cert_dir,
            "--ttl",
            "7d",
            "-o",
            "json",
        ],
        admin,
    )
    .await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(v["kind"], "TenantRenewal");
    let users: Vec<&str> = v["renewed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["alice", "carol"], "{out}");
    assert_eq!(v["failed"], json!([]));
    assert_eq!(
        std::fs::metadata(&out_dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for kc in [&alice_kc, &carol_kc] {
        assert_eq!(
            std::fs::metadata(kc).unwrap().permissions().mode() & 0o777,
            0o600
        );
        Kubeconfig::from_yaml(&std::fs::read_to_string(kc).unwrap()).unwrap();
    }
    let cert = Kubeconfig::from_yaml(&std::fs::read_to_string(&alice_kc).unwrap())
        .unwrap()
        .current()
        .unwrap()
        .validate(SystemTime::now())
        .unwrap()
        .client_certificate
        .unwrap();
    cert.verify_signed_by(pki.ca.certificate()).unwrap();
    assert_eq!(cert.organizations(), ["dev"], "same identity");

    // --expiring 30d: alice (until 2099) is left alone, carol (expired) renewed.
    let mut carol_now = carol.clone();
    carol_now["credentials"][0]["notAfter"] = json!("2026-11-02T00:00:00Z");
    let admin = vec![
        reply(
            "GET",
            format!(
                "/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dtenantctl%2Capp.kubernetes.io%2Fcomponent%3Dtenant-record"
            ),
            200,
            list_of(
                "ConfigMap",
                vec![record_cm(&alice, 5), record_cm(&carol_now, 3)],
            ),
        ),
        reply(
            "POST",
            "/api/v1/namespaces/team-a/serviceaccounts/carol/token?",
            201,
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {},
                "spec": {}, "status": {"token": "eyJhbGciOi.carol.token", "expirationTimestamp": "2099-01-01T00:00:00Z"}}),
        ),
        step(
            "PUT",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-carol?"),
            |cm| Some((200, stored(cm, 4))),
        ),
    ];
    let (r, out) = renew_all_case(
        &pki,
        &[
            "--expiring",
            "30d",
            "--out-dir",
            &out_arg,
            "--cert-dir",
            &cert_dir,
        ],
        admin,
    )
    .await;
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(out.stdout.contains("renewed carol"), "{out}");
    assert!(
        out.stdout
            .contains("1 renewed, 0 failed, 1 left as they are"),
        "{out}"
    );
}

/// A tenant that fails is reported and the others are still renewed; exit 1.
#[tokio::test(start_paused = true)]
async fn renew_all_goes_on_past_a_failure_and_exits_1() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let out_arg = dir.path().display().to_string();
    let mut alice = alice_record("local");
    alice["phase"] = json!("Active");
    let mut erin = alice_record("local");
    erin["user"] = json!("erin");
    let admin = vec![
        reply(
            "GET",
            format!(
                "/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps?&labelSelector=app.kubernetes.io%2Fmanaged-by%3Dtenantctl%2Capp.kubernetes.io%2Fcomponent%3Dtenant-record"
            ),
            200,
            list_of("ConfigMap", vec![record_cm(&alice, 5), record_cm(&erin, 8)]),
        ),
        reply(
            "PUT",
            format!("{}?", record_uri()),
            403,
            status(403, "Forbidden"),
        ),
        step(
            "PUT",
            format!("/api/v1/namespaces/{RECORD_NAMESPACE}/configmaps/tenant-erin?"),
            |cm| Some((200, stored(cm, 9))),
        ),
    ];
    let cert_dir = pki.path().display().to_string();
    let (r, out) = renew_all_case(
        &pki,
        &["--out-dir", &out_arg, "--cert-dir", &cert_dir],
        admin,
    )
    .await;
    let err = r.unwrap_err();
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(out.stderr.contains("warning: alice: not renewed"), "{out}");
    assert!(out.stdout.contains("FAILED  alice"), "{out}");
    assert!(out.stdout.contains("renewed erin"), "{out}");
    assert!(
        !dir.path().join("alice.kubeconfig").exists(),
        "nothing handed out for alice"
    );
    assert!(dir.path().join("erin.kubeconfig").exists());
}

/// `renew --all ARGS…` against the admin requests `admin`.
async fn renew_all_case(
    pki: &Pki,
    argv: &[&str],
    admin: Vec<Step>,
) -> (Result<(), Error>, Streams) {
    let mut all = vec!["tenantctl", "renew", "--all"];
    all.extend_from_slice(argv);
    let cli = <Cli as clap::Parser>::try_parse_from(all).unwrap();
    let Command::Renew(args) = cli.command else {
        unreachable!()
    };
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    run_renew(cluster, &pki.entry(), &args, serve(handle, admin)).await
}

fn pki_core_hex(id: &[u8]) -> String {
    id.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
