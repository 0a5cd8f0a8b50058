//! A fake kube-apiserver good enough for `tenantctl create`, `revoke` and `apply` to run
//! against: HTTPS with the PKI's own serving certificate, client certificates verified against
//! its CA, keep-alive HTTP/1.1 (kube's hyper client reuses connections), an in-memory object
//! store with real `Status` errors, server-side apply, TokenRequest, the self reviews, and a
//! tiny RBAC evaluator. Every request waits `latency` before it is answered (like etcd).
//!
//! One thread per connection, one lock over the store: requests on different connections
//! overlap during their latency, and are applied one at a time.
//!
//! Deviations from kube-apiserver worth knowing: server-side apply has one field manager
//! (top-level fields of the body replace the stored ones, labels and annotations merge, no
//! `managedFields`, nothing a manager dropped is removed); deleting a namespace removes it and
//! its objects at once (no Terminating phase); no watch, no pagination (`limit` is ignored), no
//! admission (no `default` ServiceAccount, no defaulting or schema validation); RBAC has no
//! aggregation and no escalation check; `system:masters` bypasses authorization as in the real
//! server. Bound tokens stop authenticating when their ServiceAccount is deleted or they expire.

use std::{
    collections::{BTreeMap, HashMap, hash_map::RandomState},
    hash::{BuildHasher as _, Hasher as _},
    io::{self, BufRead, BufReader, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    path::Path,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rustls::{
    RootCertStore, ServerConfig, ServerConnection, StreamOwned,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
    server::WebPkiClientVerifier,
};
use serde_json::{Map, Value, json};

/// A running fake API server on `127.0.0.1`; stopped on drop.
pub struct FakeApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FakeApiServer {
    /// Starts the server on an ephemeral loopback port, serving `pki_dir/apiserver.crt` and
    /// `apiserver.key` and verifying client certificates against `pki_dir/ca.crt` (optional:
    /// a request may authenticate with a bearer token from the TokenRequest endpoint instead).
    /// Each request is answered `latency` after it arrived.
    pub fn start(pki_dir: &Path, latency: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::seeded()),
            latency,
            requests: AtomicUsize::new(0),
            verbs: Mutex::new(BTreeMap::new()),
            stopping: AtomicBool::new(false),
            connections: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(0),
            tls: Mutex::new(Arc::new(tls_config(pki_dir))),
            pki_dir: pki_dir.to_owned(),
        });
        let accept_shared = shared.clone();
        let accept = std::thread::Builder::new()
            .name("fake-apiserver-accept".into())
            .spawn(move || accept_loop(&listener, &accept_shared))
            .expect("spawn the accept thread");
        Self {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// How many HTTP requests it has received.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests per verb (`get`, `list`, `create`, `update`, `apply`, `patch`, `delete`,
    /// `token`, `review`, `other`).
    pub fn requests_by_verb(&self) -> BTreeMap<String, usize> {
        lock(&self.shared.verbs)
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect()
    }

    /// A stored object as the server would return it: `resource` is the plural
    /// (`configmaps`), `namespace` `None` for cluster-scoped objects.
    pub fn get(&self, resource: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let store = lock(&self.shared.store);
        store
            .objects
            .get(resource)?
            .get(&(namespace.unwrap_or_default().to_owned(), name.to_owned()))
            .cloned()
    }

    /// Every stored object of `resource`, in namespace and name order.
    pub fn objects(&self, resource: &str) -> Vec<Value> {
        let store = lock(&self.shared.store);
        store
            .objects
            .get(resource)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// What restarting kube-apiserver does to its TLS, with etcd (the objects) kept: the serving
    /// certificate and key and the client CAs are read again from the PKI directory, and every
    /// open connection is closed (clients reconnect and handshake anew).
    pub fn restart(&self) {
        *lock(&self.shared.tls) = Arc::new(tls_config(&self.shared.pki_dir));
        for conn in lock(&self.shared.connections).values() {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }

    /// Stops accepting, closes every open connection and waits for the accept thread.
    pub fn stop(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        for conn in lock(&self.shared.connections).values() {
            let _ = conn.shutdown(Shutdown::Both);
        }
        // Wakes the accept loop, which then sees `stopping`.
        let _ = TcpStream::connect(self.addr);
        let _ = accept.join();
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Replaces the `server:` URL of every cluster in the kubeconfig at `path` with `url` (a PKI
/// made for `127.0.0.1:6443` then talks to a [`FakeApiServer`] on its ephemeral port).
pub fn set_kubeconfig_server(path: &Path, url: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("server:")
            && rest.trim_start().starts_with("https://")
        {
            out.push_str(&line[..line.len() - trimmed.len()]);
            out.push_str("server: ");
            out.push_str(url);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The `pki init` flags of a control plane on `127.0.0.1:6443` (node `cp1`), whose serving
/// certificate covers `127.0.0.1`: pass them with `--cert-dir` and `--kubeconfig-dir`, then
/// point the kubeconfigs at the server with [`set_kubeconfig_server`].
pub const LOOPBACK_INIT_FLAGS: [&str; 6] = [
    "--node-name",
    "cp1",
    "--apiserver-advertise-address",
    "127.0.0.1",
    "--control-plane-endpoint",
    "127.0.0.1:6443",
];

// ---------------------------------------------------------------------------------------------
// Connections.

struct Shared {
    store: Mutex<Store>,
    latency: Duration,
    requests: AtomicUsize,
    verbs: Mutex<BTreeMap<&'static str, usize>>,
    stopping: AtomicBool,
    connections: Mutex<HashMap<u64, TcpStream>>,
    next_connection: AtomicU64,
    /// The TLS configuration new connections get; [`FakeApiServer::restart`] reloads it.
    tls: Mutex<Arc<ServerConfig>>,
    pki_dir: std::path::PathBuf,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn tls_config(pki_dir: &Path) -> ServerConfig {
    let read = |name: &str| {
        let path = pki_dir.join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let certs = |pem: &[u8]| {
        CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM certificates")
    };
    let mut roots = RootCertStore::empty();
    for ca in certs(&read("ca.crt")) {
        roots.add(ca).expect("the cluster CA");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .expect("client verifier");
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            certs(&read("apiserver.crt")),
            PrivateKeyDer::from_pem_slice(&read("apiserver.key")).expect("apiserver.key"),
        )
        .expect("serving certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for tcp in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(tcp) = tcp else { continue };
        let id = shared.next_connection.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = tcp.try_clone() {
            lock(&shared.connections).insert(id, clone);
        }
        let tls = lock(&shared.tls).clone();
        let shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("fake-apiserver-{id}"))
            .spawn(move || {
                serve(&shared, tls, tcp);
                lock(&shared.connections).remove(&id);
            });
        if spawned.is_err() {
            continue;
        }
    }
}

/// Serves one connection: requests one after another until the client closes it.
fn serve(shared: &Shared, tls: Arc<ServerConfig>, tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    let Ok(conn) = ServerConnection::new(tls) else {
        return;
    };
    let mut stream = BufReader::new(StreamOwned::new(conn, tcp));
    // The client certificate's identity, read once the handshake is done (first request).
    let mut cert: Option<Option<Identity>> = None;
    while let Ok(Some(request)) = read_request(&mut stream) {
        let cert = cert.get_or_insert_with(|| cert_identity(&stream.get_ref().conn));
        shared.requests.fetch_add(1, Ordering::SeqCst);
        if !shared.latency.is_zero() {
            std::thread::sleep(shared.latency);
        }
        let (verb, (code, body)) = {
            let mut store = lock(&shared.store);
            store.handle(&request, cert.as_ref())
        };
        *lock(&shared.verbs).entry(verb).or_default() += 1;
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let body = serde_json::to_vec(&body).expect("JSON");
        if write_response(stream.get_mut(), code, &body, close).is_err() || close {
            break;
        }
    }
    let tls = stream.get_mut();
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn cert_identity(conn: &ServerConnection) -> Option<Identity> {
    let der = conn.peer_certificates()?.first()?;
    let cert = pki_core::Certificate::from_der(der.as_ref()).ok()?;
    let mut groups = cert.organizations();
    groups.push("system:authenticated".into());
    Some(Identity {
        user: cert.common_name()?,
        groups,
    })
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1.

struct Request {
    method: String,
    /// The percent-decoded path segments.
    segments: Vec<String>,
    query: Vec<(String, String)>,
    /// Lower-case names.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Result<Value, Reply> {
        if self.body.is_empty() {
            return Ok(Value::Object(Map::new()));
        }
        let value: Value = serde_json::from_slice(&self.body)
            .map_err(|e| bad_request(format!("the request body is not JSON: {e}")))?;
        if !value.is_object() || !(value["metadata"].is_object() || value["metadata"].is_null()) {
            return Err(bad_request("the request body is not an object".into()));
        }
        Ok(value)
    }
}

/// One request, or `None` when the client closed the connection between requests.
fn read_request(r: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "request line"));
    };
    let method = method.to_owned();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect();
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let mut request = Request {
        method,
        segments,
        query,
        headers,
        body: Vec::new(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        request.body = read_chunked(r)?;
    } else if let Some(len) = request.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "content-length"))?;
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        request.body = body;
    }
    Ok(Some(request))
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size)?;
        let size = size.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut t = String::new();
                if r.read_line(&mut t)? == 0 || t.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = String::new();
        r.read_line(&mut crlf)?;
    }
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                if let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) {
                    // Two hex digits: at most 0xff.
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn write_response(w: &mut impl Write, code: u16, body: &[u8], close: bool) -> io::Result<()> {
    let reason = match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        _ => "Internal Server Error",
    };
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes();
    out.extend_from_slice(body);
    w.write_all(&out)?;
    w.flush()
}

// ---------------------------------------------------------------------------------------------
// Resources and routes.

struct Kind {
    resource: &'static str,
    group: &'static str,
    kind: &'static str,
    namespaced: bool,
    /// Writes to the main resource keep the stored `status` (a status subresource).
    has_status: bool,
}

const RBAC: &str = "rbac.authorization.k8s.io";

const KINDS: [Kind; 8] = [
    Kind {
        resource: "namespaces",
        group: "",
        kind: "Namespace",
        namespaced: false,
        has_status: true,
    },
    Kind {
        resource: "configmaps",
        group: "",
        kind: "ConfigMap",
        namespaced: true,
        has_status: false,
    },
    Kind {
        resource: "serviceaccounts",
        group: "",
        kind: "ServiceAccount",
        namespaced: true,
        has_status: false,
    },
    Kind {
        resource: "secrets",
        group: "",
        kind: "Secret",
        namespaced: true,
        has_status: false,
    },
    Kind {
        resource: "clusterroles",
        group: RBAC,
        kind: "ClusterRole",
        namespaced: false,
        has_status: false,
    },
    Kind {
        resource: "clusterrolebindings",
        group: RBAC,
        kind: "ClusterRoleBinding",
        namespaced: false,
        has_status: false,
    },
    Kind {
        resource: "roles",
        group: RBAC,
        kind: "Role",
        namespaced: true,
        has_status: false,
    },
    Kind {
        resource: "rolebindings",
        group: RBAC,
        kind: "RoleBinding",
        namespaced: true,
        has_status: false,
    },
];

impl Kind {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            "v1".into()
        } else {
            format!("{}/v1", self.group)
        }
    }

    /// `configmaps` or `clusterroles.rbac.authorization.k8s.io`, as messages name them.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_owned()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn by_resource(resource: &str) -> Option<&'static Self> {
        KINDS.iter().find(|k| k.resource == resource)
    }
}

enum Route {
    /// A collection: of a cluster-scoped kind, of one namespace, or of all namespaces (`None`).
    Collection(&'static Kind, Option<String>),
    /// One object (namespace `None` for cluster-scoped kinds).
    Object(&'static Kind, Option<String>, String),
    /// `serviceaccounts/NAME/token` in a namespace.
    Token(String, String),
    SelfSubjectReview,
    SelfSubjectAccessReview,
    SubjectAccessReview,
}

fn route(segments: &[String]) -> Option<Route> {
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (group, rest) = match s.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, "v1", rest @ ..] => (*group, rest),
        _ => return None,
    };
    match (group, rest) {
        ("authentication.k8s.io", ["selfsubjectreviews"]) => {
            return Some(Route::SelfSubjectReview);
        }
        ("authorization.k8s.io", ["selfsubjectaccessreviews"]) => {
            return Some(Route::SelfSubjectAccessReview);
        }
        ("authorization.k8s.io", ["subjectaccessreviews"]) => {
            return Some(Route::SubjectAccessReview);
        }
        _ => {}
    }
    let find = |resource: &str| {
        KINDS
            .iter()
            .find(|k| k.group == group && k.resource == resource)
    };
    match rest {
        ["namespaces", ns, resource, tail @ ..] => {
            let kind = find(resource).filter(|k| k.namespaced)?;
            let ns = (*ns).to_owned();
            match tail {
                [] => Some(Route::Collection(kind, Some(ns))),
                [name] => Some(Route::Object(kind, Some(ns), (*name).to_owned())),
                [name, "token"] if kind.resource == "serviceaccounts" => {
                    Some(Route::Token(ns, (*name).to_owned()))
                }
                _ => None,
            }
        }
        [resource] => Some(Route::Collection(find(resource)?, None)),
        [resource, name] => {
            let kind = find(resource).filter(|k| !k.namespaced)?;
            Some(Route::Object(kind, None, (*name).to_owned()))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Statuses.

/// An HTTP status code and a JSON body.
type Reply = (u16, Value);

fn status(code: u16, reason: &str, message: String) -> Reply {
    (
        code,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }),
    )
}

fn status_with(code: u16, reason: &str, message: String, kind: &Kind, name: &str) -> Reply {
    let (code, mut body) = status(code, reason, message);
    body["details"] = json!({ "name": name, "group": kind.group, "kind": kind.resource });
    (code, body)
}

fn bad_request(message: String) -> Reply {
    status(400, "BadRequest", message)
}

fn not_found(kind: &Kind, name: &str) -> Reply {
    status_with(
        404,
        "NotFound",
        format!("{} \"{name}\" not found", kind.qualified()),
        kind,
        name,
    )
}

fn conflict(kind: &Kind, name: &str, why: &str) -> Reply {
    status_with(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": {why}",
            kind.qualified()
        ),
        kind,
        name,
    )
}

fn modified(kind: &Kind, name: &str) -> Reply {
    conflict(
        kind,
        name,
        "the object has been modified; please apply your changes to the latest version and try again",
    )
}

// ---------------------------------------------------------------------------------------------
// The store.

#[derive(Clone)]
struct Identity {
    user: String,
    groups: Vec<String>,
}

struct BoundToken {
    namespace: String,
    name: String,
    service_account_uid: String,
    expires: SystemTime,
}

/// What an authorization asks: a verb on a resource, or on a non-resource URL.
struct Attributes {
    verb: String,
    group: String,
    /// `serviceaccounts/token` for a subresource.
    resource: String,
    namespace: String,
    name: String,
    /// A non-resource request (`/healthz`) when not empty.
    path: String,
}

struct Store {
    /// resource → (namespace or "", name) → object.
    objects: BTreeMap<&'static str, BTreeMap<(String, String), Value>>,
    revision: u64,
    tokens: HashMap<String, BoundToken>,
}

impl Store {
    fn seeded() -> Self {
        let mut store = Self {
            objects: BTreeMap::new(),
            revision: 0,
            tokens: HashMap::new(),
        };
        let namespaces = Kind::by_resource("namespaces").expect("namespaces");
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            store.insert_new(namespaces, "", json!({ "metadata": { "name": ns } }));
        }
        let reads = ["get", "list", "watch"];
        let writes = [
            "create",
            "update",
            "patch",
            "delete",
            "deletecollection",
            "get",
            "list",
            "watch",
        ];
        let core = [
            "pods",
            "services",
            "configmaps",
            "endpoints",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "serviceaccounts",
        ];
        let apps = [
            "deployments",
            "replicasets",
            "statefulsets",
            "daemonsets",
            "jobs",
        ];
        let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| json!({ "apiGroups": groups, "resources": resources, "verbs": verbs });
        let view = vec![
            rule(&[""], &core, &reads),
            rule(&["apps", "batch"], &apps, &reads),
        ];
        let mut edit = vec![
            rule(&[""], &core, &writes),
            rule(&["apps", "batch"], &apps, &writes),
            rule(&[""], &["secrets"], &writes),
            rule(&[""], &["serviceaccounts/token"], &["create"]),
        ];
        let mut admin = edit.clone();
        admin.push(rule(&[RBAC], &["roles", "rolebindings"], &writes));
        admin.push(rule(
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
            &["create"],
        ));
        edit.push(rule(&[""], &["namespaces"], &reads));
        let cluster_admin = vec![
            rule(&["*"], &["*"], &["*"]),
            json!({ "nonResourceURLs": ["*"], "verbs": ["*"] }),
        ];
        let roles = Kind::by_resource("clusterroles").expect("clusterroles");
        for (name, rules) in [
            ("view", view),
            ("edit", edit),
            ("admin", admin),
            ("cluster-admin", cluster_admin),
        ] {
            store.insert_new(
                roles,
                "",
                json!({
                    "metadata": {
                        "name": name,
                        "labels": { "kubernetes.io/bootstrapping": "rbac-defaults" },
                    },
                    "rules": rules,
                }),
            );
        }
        let bindings = Kind::by_resource("clusterrolebindings").expect("clusterrolebindings");
        for (name, group) in [
            ("cluster-admin", "system:masters"),
            ("kubeadm:cluster-admins", "kubeadm:cluster-admins"),
        ] {
            store.insert_new(
                bindings,
                "",
                json!({
                    "metadata": { "name": name },
                    "roleRef": { "apiGroup": RBAC, "kind": "ClusterRole", "name": "cluster-admin" },
                    "subjects": [{ "apiGroup": RBAC, "kind": "Group", "name": group }],
                }),
            );
        }
        store
    }

    fn next_revision(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    fn lookup(&self, kind: &Kind, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(kind.resource)?
            .get(&(ns.to_owned(), name.to_owned()))
    }

    fn put(&mut self, kind: &'static Kind, ns: &str, name: &str, obj: Value) {
        self.objects
            .entry(kind.resource)
            .or_default()
            .insert((ns.to_owned(), name.to_owned()), obj);
    }

    /// Stores a new object: type fields, namespace, uid, creation time, resource version.
    fn insert_new(&mut self, kind: &'static Kind, ns: &str, mut obj: Value) -> Value {
        stamp(kind, ns, &mut obj);
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let meta = &mut obj["metadata"];
        meta["uid"] = json!(uid());
        meta["creationTimestamp"] = json!(rfc3339(SystemTime::now()));
        if let Some(m) = meta.as_object_mut() {
            m.remove("managedFields");
            m.remove("deletionTimestamp");
        }
        if kind.resource == "namespaces" {
            obj["spec"] = json!({ "finalizers": ["kubernetes"] });
            obj["status"] = json!({ "phase": "Active" });
        }
        obj["metadata"]["resourceVersion"] = json!(self.next_revision());
        self.put(kind, ns, &name, obj.clone());
        obj
    }

    fn namespace_exists(&self, ns: &str) -> bool {
        self.objects
            .get("namespaces")
            .is_some_and(|m| m.contains_key(&(String::new(), ns.to_owned())))
    }

    /// The request's answer, and the verb it is counted under.
    fn handle(&mut self, req: &Request, cert: Option<&Identity>) -> (&'static str, Reply) {
        let Some(route) = route(&req.segments) else {
            return (
                "other",
                status(
                    404,
                    "NotFound",
                    format!("the server could not find the requested resource ({})", {
                        let mut p = String::from("/");
                        p.push_str(&req.segments.join("/"));
                        p
                    }),
                ),
            );
        };
        let verb = match (&route, req.method.as_str()) {
            (Route::Collection(..), "GET") => "list",
            (Route::Collection(..), "POST") => "create",
            (Route::Object(..), "GET") => "get",
            (Route::Object(..), "PUT") => "update",
            (Route::Object(..), "PATCH")
                if req
                    .header("content-type")
                    .is_some_and(|c| c.starts_with("application/apply-patch")) =>
            {
                "apply"
            }
            (Route::Object(..), "PATCH") => "patch",
            (Route::Object(..), "DELETE") => "delete",
            (Route::Token(..), "POST") => "token",
            (
                Route::SelfSubjectReview
                | Route::SelfSubjectAccessReview
                | Route::SubjectAccessReview,
                "POST",
            ) => "review",
            _ => {
                return (
                    "other",
                    status(
                        405,
                        "MethodNotAllowed",
                        format!(
                            "the server does not allow this method ({}) on the requested resource",
                            req.method
                        ),
                    ),
                );
            }
        };
        let Some(who) = cert.cloned().or_else(|| self.token_identity(req)) else {
            return (verb, status(401, "Unauthorized", "Unauthorized".into()));
        };
        if req.param("watch").is_some_and(|w| w == "true" || w == "1") {
            return (
                verb,
                status(
                    405,
                    "MethodNotAllowed",
                    "the fake API server does not implement watch".into(),
                ),
            );
        }
        if let Some(attrs) = request_attributes(&route, verb)
            && self.authorize(&who.user, &who.groups, &attrs).is_none()
        {
            return (verb, forbidden(&who.user, &attrs));
        }
        let reply = match self.dispatch(route, verb, req, &who) {
            Ok(reply) | Err(reply) => reply,
        };
        (verb, reply)
    }

    fn dispatch(
        &mut self,
        route: Route,
        verb: &str,
        req: &Request,
        who: &Identity,
    ) -> Result<Reply, Reply> {
        match route {
            Route::Collection(kind, ns) if verb == "list" => {
                Ok(self.list(kind, ns.as_deref(), req)?)
            }
            Route::Collection(kind, ns) => {
                let ns = match (kind.namespaced, ns) {
                    (true, Some(ns)) => ns,
                    (false, _) => String::new(),
                    (true, None) => {
                        return Err(status(
                            405,
                            "MethodNotAllowed",
                            format!("create is not allowed on all-namespace {}", kind.resource),
                        ));
                    }
                };
                self.create(kind, &ns, req.json()?)
            }
            Route::Object(kind, ns, name) => {
                let ns = ns.unwrap_or_default();
                match verb {
                    "get" => {
                        let obj = self
                            .lookup(kind, &ns, &name)
                            .ok_or_else(|| not_found(kind, &name))?;
                        Ok((200, metadata_only(req, obj.clone(), false)))
                    }
                    "update" => self.replace(kind, &ns, &name, req.json()?),
                    "apply" => {
                        if req.param("fieldManager").is_none_or(str::is_empty) {
                            return Err(status(
                                422,
                                "Invalid",
                                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
                            ));
                        }
                        self.apply(kind, &ns, &name, req.json()?)
                    }
                    "patch" => self.merge_patch(kind, &ns, &name, req),
                    _ => self.delete(kind, &ns, &name, &req.json()?),
                }
            }
            Route::Token(ns, name) => self.token_request(&ns, &name, &req.json()?),
            Route::SelfSubjectReview => Ok((
                201,
                json!({
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "SelfSubjectReview",
                    "metadata": { "creationTimestamp": rfc3339(SystemTime::now()) },
                    "status": { "userInfo": { "username": who.user, "groups": who.groups } },
                }),
            )),
            Route::SelfSubjectAccessReview => {
                let body = req.json()?;
                Ok(self.review(body, "SelfSubjectAccessReview", &who.user, &who.groups))
            }
            Route::SubjectAccessReview => {
                let body = req.json()?;
                let user = body["spec"]["user"].as_str().unwrap_or_default().to_owned();
                let groups: Vec<String> = body["spec"]["groups"]
                    .as_array()
                    .map(|g| {
                        g.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(self.review(body, "SubjectAccessReview", &user, &groups))
            }
        }
    }

    fn token_identity(&self, req: &Request) -> Option<Identity> {
        let token = req.header("authorization")?.strip_prefix("Bearer ")?.trim();
        let bound = self.tokens.get(token)?;
        let sa = self.lookup(
            Kind::by_resource("serviceaccounts")?,
            &bound.namespace,
            &bound.name,
        )?;
        if sa["metadata"]["uid"].as_str() != Some(bound.service_account_uid.as_str())
            || bound.expires <= SystemTime::now()
        {
            return None;
        }
        Some(Identity {
            user: format!("system:serviceaccount:{}:{}", bound.namespace, bound.name),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{}", bound.namespace),
                "system:authenticated".into(),
            ],
        })
    }

    fn list(&self, kind: &Kind, ns: Option<&str>, req: &Request) -> Result<Reply, Reply> {
        let labels = parse_label_selector(req.param("labelSelector").unwrap_or_default())
            .map_err(bad_request)?;
        let fields = parse_field_selector(req.param("fieldSelector").unwrap_or_default())
            .map_err(bad_request)?;
        let items: Vec<Value> = self
            .objects
            .get(kind.resource)
            .into_iter()
            .flat_map(BTreeMap::iter)
            .filter(|((obj_ns, _), _)| ns.is_none_or(|ns| !kind.namespaced || obj_ns == ns))
            .map(|(_, obj)| obj)
            .filter(|obj| labels.iter().all(|r| r.matches(&obj["metadata"]["labels"])))
            .filter(|obj| fields.iter().all(|r| r.matches_fields(obj)))
            .cloned()
            .collect();
        let list = json!({
            "kind": format!("{}List", kind.kind),
            "apiVersion": kind.api_version(),
            "metadata": { "resourceVersion": self.revision.to_string() },
            "items": items,
        });
        Ok((200, metadata_only(req, list, true)))
    }

    fn create(&mut self, kind: &'static Kind, ns: &str, mut body: Value) -> Result<Reply, Reply> {
        check_type(kind, &body)?;
        if let Some(body_ns) = body["metadata"]["namespace"].as_str()
            && kind.namespaced
            && body_ns != ns
        {
            return Err(bad_request(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
        let name = match body["metadata"]["name"].as_str() {
            Some(n) if !n.is_empty() => n.to_owned(),
            _ => match body["metadata"]["generateName"].as_str() {
                Some(prefix) if !prefix.is_empty() => {
                    let name = format!("{prefix}{:05x}", random_u64() & 0xf_ffff);
                    body["metadata"]["name"] = json!(name);
                    name
                }
                _ => {
                    return Err(status(
                        422,
                        "Invalid",
                        format!(
                            "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                            kind.kind
                        ),
                    ));
                }
            },
        };
        self.check_namespace(kind, ns)?;
        if self.lookup(kind, ns, &name).is_some() {
            return Err(status_with(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", kind.qualified()),
                kind,
                &name,
            ));
        }
        Ok((201, self.insert_new(kind, ns, body)))
    }

    /// A namespaced object needs its namespace (`NotFound` as the real server says it).
    fn check_namespace(&self, kind: &Kind, ns: &str) -> Result<(), Reply> {
        if kind.namespaced && !self.namespace_exists(ns) {
            let namespaces = Kind::by_resource("namespaces").expect("namespaces");
            return Err(not_found(namespaces, ns));
        }
        Ok(())
    }

    fn replace(
        &mut self,
        kind: &'static Kind,
        ns: &str,
        name: &str,
        mut body: Value,
    ) -> Result<Reply, Reply> {
        check_type(kind, &body)?;
        check_name(&body, name)?;
        let old = self
            .lookup(kind, ns, name)
            .ok_or_else(|| not_found(kind, name))?
            .clone();
        let old_meta = &old["metadata"];
        if let Some(rv) = body["metadata"]["resourceVersion"].as_str()
            && !rv.is_empty()
            && Some(rv) != old_meta["resourceVersion"].as_str()
        {
            return Err(modified(kind, name));
        }
        if let Some(uid) = body["metadata"]["uid"].as_str()
            && !uid.is_empty()
            && Some(uid) != old_meta["uid"].as_str()
        {
            return Err(conflict(
                kind,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    old_meta["uid"].as_str().unwrap_or_default()
                ),
            ));
        }
        stamp(kind, ns, &mut body);
        for key in ["uid", "creationTimestamp"] {
            body["metadata"][key] = old_meta[key].clone();
        }
        if kind.has_status {
            body["status"] = old["status"].clone();
        }
        if kind.resource == "namespaces" && body["spec"].is_null() {
            body["spec"] = old["spec"].clone();
        }
        Ok((200, self.commit(kind, ns, name, &old, body)?))
    }

    fn apply(
        &mut self,
        kind: &'static Kind,
        ns: &str,
        name: &str,
        mut body: Value,
    ) -> Result<Reply, Reply> {
        check_type(kind, &body)?;
        if body["metadata"]["name"].is_null() {
            body["metadata"]["name"] = json!(name);
        }
        check_name(&body, name)?;
        if let Some(body_ns) = body["metadata"]["namespace"].as_str()
            && kind.namespaced
            && body_ns != ns
        {
            return Err(bad_request(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
        let Some(old) = self.lookup(kind, ns, name).cloned() else {
            self.check_namespace(kind, ns)?;
            return Ok((201, self.insert_new(kind, ns, body)));
        };
        let mut merged = old.clone();
        let Value::Object(fields) = body else {
            return Err(bad_request("the request body is not an object".into()));
        };
        for (key, value) in fields {
            match key.as_str() {
                "apiVersion" | "kind" => {}
                "status" if kind.has_status => {}
                "metadata" => {
                    for part in ["labels", "annotations"] {
                        if let Some(m) = value[part].as_object() {
                            for (k, v) in m {
                                merged["metadata"][part][k] = v.clone();
                            }
                        }
                    }
                    for part in ["ownerReferences", "finalizers"] {
                        if !value[part].is_null() {
                            merged["metadata"][part] = value[part].clone();
                        }
                    }
                }
                _ => merged[key] = value,
            }
        }
        Ok((200, self.commit(kind, ns, name, &old, merged)?))
    }

    fn merge_patch(
        &mut self,
        kind: &'static Kind,
        ns: &str,
        name: &str,
        req: &Request,
    ) -> Result<Reply, Reply> {
        let content_type = req.header("content-type").unwrap_or_default();
        if !content_type.starts_with("application/merge-patch+json")
            && !content_type.starts_with("application/strategic-merge-patch+json")
        {
            return Err(status(
                415,
                "UnsupportedMediaType",
                format!("the fake API server does not implement {content_type} patches"),
            ));
        }
        let patch = req.json()?;
        let old = self
            .lookup(kind, ns, name)
            .ok_or_else(|| not_found(kind, name))?
            .clone();
        if let Some(rv) = patch["metadata"]["resourceVersion"].as_str()
            && Some(rv) != old["metadata"]["resourceVersion"].as_str()
        {
            return Err(modified(kind, name));
        }
        let mut new = old.clone();
        merge(&mut new, &patch);
        for key in ["name", "namespace", "uid", "creationTimestamp"] {
            new["metadata"][key] = old["metadata"][key].clone();
        }
        if let Some(m) = new["metadata"].as_object_mut() {
            m.retain(|_, v| !v.is_null());
        }
        stamp(kind, ns, &mut new);
        Ok((200, self.commit(kind, ns, name, &old, new)?))
    }

    /// Writes `new` over `old` (a new resource version only when something changed).
    fn commit(
        &mut self,
        kind: &'static Kind,
        ns: &str,
        name: &str,
        old: &Value,
        mut new: Value,
    ) -> Result<Value, Reply> {
        if kind.resource.ends_with("bindings") && new["roleRef"] != old["roleRef"] {
            return Err(status(
                422,
                "Invalid",
                format!(
                    "{} \"{name}\" is invalid: roleRef: Invalid value: cannot change roleRef",
                    kind.kind
                ),
            ));
        }
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        if &new == old {
            return Ok(new);
        }
        new["metadata"]["resourceVersion"] = json!(self.next_revision());
        self.put(kind, ns, name, new.clone());
        Ok(new)
    }

    fn delete(
        &mut self,
        kind: &'static Kind,
        ns: &str,
        name: &str,
        body: &Value,
    ) -> Result<Reply, Reply> {
        let old = self
            .lookup(kind, ns, name)
            .ok_or_else(|| not_found(kind, name))?;
        let pre = &body["preconditions"];
        for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
            if let Some(want) = pre[field].as_str()
                && Some(want) != old["metadata"][field].as_str()
            {
                return Err(conflict(
                    kind,
                    name,
                    &format!(
                        "Precondition failed: {label} in precondition: {want}, {label} in object meta: {}",
                        old["metadata"][field].as_str().unwrap_or_default()
                    ),
                ));
            }
        }
        let uid = old["metadata"]["uid"].clone();
        let mut old = self
            .objects
            .get_mut(kind.resource)
            .and_then(|m| m.remove(&(ns.to_owned(), name.to_owned())))
            .unwrap_or_default();
        self.revision += 1;
        if kind.resource == "namespaces" {
            for k in KINDS.iter().filter(|k| k.namespaced) {
                if let Some(m) = self.objects.get_mut(k.resource) {
                    m.retain(|(obj_ns, _), _| obj_ns != name);
                }
            }
            old["status"]["phase"] = json!("Terminating");
            old["metadata"]["deletionTimestamp"] = json!(rfc3339(SystemTime::now()));
            return Ok((200, old));
        }
        Ok((
            200,
            json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": { "name": name, "group": kind.group, "kind": kind.resource, "uid": uid },
            }),
        ))
    }

    fn token_request(&mut self, ns: &str, name: &str, body: &Value) -> Result<Reply, Reply> {
        let accounts = Kind::by_resource("serviceaccounts").expect("serviceaccounts");
        let sa = self
            .lookup(accounts, ns, name)
            .ok_or_else(|| not_found(accounts, name))?;
        let sa_uid = sa["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let seconds = body["spec"]["expirationSeconds"].as_u64().unwrap_or(3600);
        if seconds < 600 {
            return Err(status(
                422,
                "Invalid",
                format!(
                    "TokenRequest.authentication.k8s.io \"{name}\" is invalid: spec.expirationSeconds: Invalid value: {seconds}: may not specify a duration less than 10 minutes"
                ),
            ));
        }
        let now = SystemTime::now();
        let expires = now + Duration::from_secs(seconds);
        let token = format!(
            "fake.{:016x}{:016x}.{:016x}{:016x}",
            random_u64(),
            random_u64(),
            random_u64(),
            random_u64()
        );
        self.tokens.insert(
            token.clone(),
            BoundToken {
                namespace: ns.to_owned(),
                name: name.to_owned(),
                service_account_uid: sa_uid,
                expires,
            },
        );
        let mut spec = body["spec"].clone();
        if spec["audiences"].as_array().is_none_or(Vec::is_empty) {
            spec["audiences"] = json!(["https://kubernetes.default.svc.cluster.local"]);
        }
        spec["expirationSeconds"] = json!(seconds);
        Ok((
            201,
            json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "metadata": { "name": name, "namespace": ns, "creationTimestamp": rfc3339(now) },
                "spec": spec,
                "status": { "token": token, "expirationTimestamp": rfc3339(expires) },
            }),
        ))
    }

    fn review(&self, mut body: Value, kind: &str, user: &str, groups: &[String]) -> Reply {
        let spec = &body["spec"];
        let attrs = if spec["nonResourceAttributes"].is_object() {
            let a = &spec["nonResourceAttributes"];
            Attributes {
                verb: a["verb"].as_str().unwrap_or_default().to_owned(),
                group: String::new(),
                resource: String::new(),
                namespace: String::new(),
                name: String::new(),
                path: a["path"].as_str().unwrap_or_default().to_owned(),
            }
        } else {
            let a = &spec["resourceAttributes"];
            let field = |f: &str| a[f].as_str().unwrap_or_default().to_owned();
            let mut resource = field("resource");
            let sub = field("subresource");
            if !sub.is_empty() {
                resource = format!("{resource}/{sub}");
            }
            Attributes {
                verb: field("verb"),
                group: field("group"),
                resource,
                namespace: field("namespace"),
                name: field("name"),
                path: String::new(),
            }
        };
        let reason = self.authorize(user, groups, &attrs);
        body["apiVersion"] = json!("authorization.k8s.io/v1");
        body["kind"] = json!(kind);
        body["metadata"] = json!({ "creationTimestamp": rfc3339(SystemTime::now()) });
        body["status"] = match reason {
            Some(reason) => json!({ "allowed": true, "reason": reason }),
            None => json!({ "allowed": false }),
        };
        (201, body)
    }

    /// Why RBAC allows `attrs` to `user` with `groups` (`None`: it does not).
    fn authorize(&self, user: &str, groups: &[String], attrs: &Attributes) -> Option<String> {
        if groups.iter().any(|g| g == "system:masters") {
            return Some("system:masters".into());
        }
        let cluster_roles = Kind::by_resource("clusterroles")?;
        let roles = Kind::by_resource("roles")?;
        let rules_of = |role_ref: &Value, ns: &str| -> Vec<Value> {
            let name = role_ref["name"].as_str().unwrap_or_default();
            let role = match role_ref["kind"].as_str() {
                Some("ClusterRole") => self.lookup(cluster_roles, "", name),
                Some("Role") if !ns.is_empty() => self.lookup(roles, ns, name),
                _ => None,
            };
            role.and_then(|r| r["rules"].as_array().cloned())
                .unwrap_or_default()
        };
        let grants = |binding: &Value, ns: &str| -> Option<String> {
            let subject = binding["subjects"]
                .as_array()?
                .iter()
                .find(|s| subject_matches(s, ns, user, groups))?;
            let role_ref = &binding["roleRef"];
            rules_of(role_ref, ns)
                .iter()
                .any(|rule| rule_allows(rule, attrs))
                .then(|| {
                    format!(
                        "RBAC: allowed by {} \"{}\" of {} \"{}\" to {} \"{}\"",
                        binding["kind"].as_str().unwrap_or_default(),
                        binding["metadata"]["name"].as_str().unwrap_or_default(),
                        role_ref["kind"].as_str().unwrap_or_default(),
                        role_ref["name"].as_str().unwrap_or_default(),
                        subject["kind"].as_str().unwrap_or_default(),
                        subject["name"].as_str().unwrap_or_default(),
                    )
                })
        };
        if let Some(reason) = self
            .objects
            .get("clusterrolebindings")
            .into_iter()
            .flat_map(BTreeMap::values)
            .find_map(|b| grants(b, ""))
        {
            return Some(reason);
        }
        if attrs.namespace.is_empty() {
            return None;
        }
        let ns = attrs.namespace.as_str();
        self.objects
            .get("rolebindings")?
            .iter()
            .filter(|((b_ns, _), _)| b_ns == ns)
            .find_map(|(_, b)| grants(b, ns))
    }
}

/// The RBAC attributes of a stored-object request (`None` for the self reviews, which every
/// authenticated user may make).
fn request_attributes(route: &Route, verb: &str) -> Option<Attributes> {
    let attrs = |verb: &str, kind: &Kind, ns: &Option<String>, name: &str| Attributes {
        verb: verb.to_owned(),
        group: kind.group.to_owned(),
        resource: kind.resource.to_owned(),
        namespace: ns.clone().unwrap_or_default(),
        name: name.to_owned(),
        path: String::new(),
    };
    match route {
        Route::Collection(kind, ns) => Some(attrs(verb, kind, ns, "")),
        Route::Object(kind, ns, name) => {
            let verb = if verb == "apply" { "patch" } else { verb };
            Some(attrs(verb, kind, ns, name))
        }
        Route::Token(ns, name) => Some(Attributes {
            verb: "create".into(),
            group: String::new(),
            resource: "serviceaccounts/token".into(),
            namespace: ns.clone(),
            name: name.clone(),
            path: String::new(),
        }),
        Route::SubjectAccessReview => Some(Attributes {
            verb: "create".into(),
            group: "authorization.k8s.io".into(),
            resource: "subjectaccessreviews".into(),
            namespace: String::new(),
            name: String::new(),
            path: String::new(),
        }),
        Route::SelfSubjectReview | Route::SelfSubjectAccessReview => None,
    }
}

fn forbidden(user: &str, a: &Attributes) -> Reply {
    let what = if a.name.is_empty() {
        a.resource.clone()
    } else {
        format!("{} \"{}\"", a.resource, a.name)
    };
    let scope = if a.namespace.is_empty() {
        "at the cluster scope".to_owned()
    } else {
        format!("in the namespace \"{}\"", a.namespace)
    };
    status(
        403,
        "Forbidden",
        format!(
            "{what} is forbidden: User \"{user}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
            a.verb, a.resource, a.group
        ),
    )
}

fn subject_matches(s: &Value, binding_ns: &str, user: &str, groups: &[String]) -> bool {
    let name = s["name"].as_str().unwrap_or_default();
    match s["kind"].as_str() {
        Some("User") => name == user,
        Some("Group") => groups.iter().any(|g| g == name),
        Some("ServiceAccount") => {
            let ns = s["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_ns);
            user == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let has = |field: &str, want: &str| {
        rule[field]
            .as_array()
            .is_some_and(|v| v.iter().any(|x| x == "*" || x == want))
    };
    if !has("verbs", &a.verb) {
        return false;
    }
    if !a.path.is_empty() {
        return rule["nonResourceURLs"].as_array().is_some_and(|urls| {
            urls.iter()
                .filter_map(Value::as_str)
                .any(|u| u == a.path || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p)))
        });
    }
    let names_ok = rule["resourceNames"]
        .as_array()
        .is_none_or(|names| names.is_empty() || names.iter().any(|n| n == a.name.as_str()));
    has("apiGroups", &a.group) && has("resources", &a.resource) && names_ok
}

/// Type fields and the namespace as the server stores them.
fn stamp(kind: &Kind, ns: &str, obj: &mut Value) {
    obj["apiVersion"] = json!(kind.api_version());
    obj["kind"] = json!(kind.kind);
    if kind.namespaced {
        obj["metadata"]["namespace"] = json!(ns);
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
}

fn check_type(kind: &Kind, body: &Value) -> Result<(), Reply> {
    let api_version = kind.api_version();
    for (field, want) in [("kind", kind.kind), ("apiVersion", api_version.as_str())] {
        if let Some(got) = body[field].as_str()
            && got != want
        {
            return Err(bad_request(format!(
                "the {field} of the provided object ({got}) is not {want}"
            )));
        }
    }
    Ok(())
}

fn check_name(body: &Value, name: &str) -> Result<(), Reply> {
    match body["metadata"]["name"].as_str() {
        Some(n) if n == name => Ok(()),
        _ => Err(bad_request(
            "the name of the object does not match the name on the URL".into(),
        )),
    }
}

/// The object or list as `PartialObjectMetadata[List]` when the client asked for that.
fn metadata_only(req: &Request, value: Value, list: bool) -> Value {
    let accept = req.header("accept").unwrap_or_default();
    let partial = |obj: &Value| {
        json!({
            "apiVersion": "meta.k8s.io/v1",
            "kind": "PartialObjectMetadata",
            "metadata": obj["metadata"],
        })
    };
    if list && accept.contains("as=PartialObjectMetadataList") {
        let items: Vec<Value> = value["items"]
            .as_array()
            .map(|items| items.iter().map(partial).collect())
            .unwrap_or_default();
        json!({
            "apiVersion": "meta.k8s.io/v1",
            "kind": "PartialObjectMetadataList",
            "metadata": value["metadata"],
            "items": items,
        })
    } else if !list && accept.contains("as=PartialObjectMetadata") {
        partial(&value)
    } else {
        value
    }
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    for (k, v) in patch {
        if v.is_null() {
            if let Some(t) = target.as_object_mut() {
                t.remove(k);
            }
        } else {
            merge(&mut target[k], v);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Selectors.

enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

impl Requirement {
    fn matches(&self, labels: &Value) -> bool {
        let get = |k: &str| labels[k].as_str();
        match self {
            Self::Equals(k, v) => get(k) == Some(v.as_str()),
            Self::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Self::Exists(k) => get(k).is_some(),
            Self::NotExists(k) => get(k).is_none(),
            Self::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Self::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
        }
    }

    /// For field selectors: `metadata.name` and `metadata.namespace`; other fields match all.
    fn matches_fields(&self, obj: &Value) -> bool {
        let fields = json!({
            "metadata.name": obj["metadata"]["name"],
            "metadata.namespace": obj["metadata"]["namespace"],
        });
        match self {
            Self::Equals(k, _) | Self::NotEquals(k, _) if fields[k.as_str()].is_null() => true,
            _ => self.matches(&fields),
        }
    }
}

/// Terms separated by commas outside parentheses.
fn terms(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_label_selector(s: &str) -> Result<Vec<Requirement>, String> {
    let set = |v: &str| -> Result<Vec<String>, String> {
        let inner = v
            .trim()
            .strip_prefix('(')
            .and_then(|v| v.strip_suffix(')'))
            .ok_or_else(|| format!("unable to parse requirement: found '{v}', expected: '('"))?;
        Ok(inner.split(',').map(|x| x.trim().to_owned()).collect())
    };
    terms(s)
        .into_iter()
        .map(|t| {
            Ok(if let Some(k) = t.strip_prefix('!') {
                Requirement::NotExists(k.trim().to_owned())
            } else if let Some((k, v)) = t.split_once("!=") {
                Requirement::NotEquals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = t.split_once(" notin ") {
                Requirement::NotIn(k.trim().to_owned(), set(v)?)
            } else if let Some((k, v)) = t.split_once(" in ") {
                Requirement::In(k.trim().to_owned(), set(v)?)
            } else if t.contains(char::is_whitespace) {
                return Err(format!("unable to parse requirement: {t:?}"));
            } else {
                Requirement::Exists(t.to_owned())
            })
        })
        .collect()
}

fn parse_field_selector(s: &str) -> Result<Vec<Requirement>, String> {
    terms(s)
        .into_iter()
        .map(|t| {
            if let Some((k, v)) = t.split_once("!=") {
                Ok(Requirement::NotEquals(
                    k.trim().to_owned(),
                    v.trim().to_owned(),
                ))
            } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                Ok(Requirement::Equals(
                    k.trim().to_owned(),
                    v.trim().to_owned(),
                ))
            } else {
                Err(format!("invalid selector: '{t}'; can't understand '{t}'"))
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

fn uid() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// `2026-11-24T08:00:00Z`.
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_selectors() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_478_400 + 3_661)),
            "2026-11-24T01:01:01Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
        let labels = json!({ "a": "1", "b": "2" });
        let sel = |s: &str| {
            parse_label_selector(s)
                .unwrap()
                .iter()
                .all(|r| r.matches(&labels))
        };
        assert!(sel("a=1,b==2"));
        assert!(sel("a, !c, b in (2,3), a notin (3)"));
        assert!(!sel("a=1,b!=2"));
        assert!(sel(""));
        assert_eq!(percent_decode("a%3Db%2Cc+d", true), "a=b,c d");
        assert_eq!(
            percent_decode("tenantctl%3Aalice%3Aview", false),
            "tenantctl:alice:view"
        );
        assert_eq!(percent_decode("100%", false), "100%");
    }
}
