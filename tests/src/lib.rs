//! Shared fixtures for the cross-crate tests: a PKI made by `tenantctl pki init` in a
//! temporary directory.

use std::{
    path::{Path, PathBuf},
    pin::pin,
    task::{Context, Poll, Waker},
};

use clap::Parser as _;

pub mod control_plane;
pub mod fake_apiserver;

/// A PKI and kubeconfig set written by the real `pki init` code path.
pub struct Cluster {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// `<dir>/pki`.
    pub pki: PathBuf,
    /// `<dir>` (kubeconfigs).
    pub etc: PathBuf,
}

impl Cluster {
    /// Runs `tenantctl pki init` with `extra` flags on top of a fixed node and endpoint.
    pub fn init(extra: &[&str]) -> Self {
        Self::init_with(
            &[
                "--node-name",
                "cp1",
                "--apiserver-advertise-address",
                "10.0.0.10",
                "--control-plane-endpoint",
                "vip.example.com:6443",
            ],
            extra,
        )
    }

    /// A control plane on `127.0.0.1:6443` (its serving certificate covers 127.0.0.1), for a
    /// [`fake_apiserver::FakeApiServer`]: point the kubeconfigs at its port with
    /// [`fake_apiserver::set_kubeconfig_server`].
    pub fn init_loopback(extra: &[&str]) -> Self {
        Self::init_with(&fake_apiserver::LOOPBACK_INIT_FLAGS, extra)
    }

    /// Runs `tenantctl pki init` with exactly `flags` (plus `--cert-dir` and
    /// `--kubeconfig-dir`).
    pub fn init_with_node(flags: &[&str]) -> Self {
        Self::init_with(flags, &[])
    }

    fn init_with(node: &[&str], extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = dir.path().join("pki");
        let etc = dir.path().to_path_buf();
        let mut args: Vec<String> = ["tenantctl", "pki", "init"]
            .iter()
            .chain(node)
            .map(ToString::to_string)
            .collect();
        args.push("--cert-dir".into());
        args.push(pki.display().to_string());
        args.push("--kubeconfig-dir".into());
        args.push(etc.display().to_string());
        args.extend(extra.iter().map(ToString::to_string));
        let cli = tenantctl::Cli::try_parse_from(args).expect("valid flags");
        let (mut out, mut err) = (std::io::sink(), std::io::sink());
        tenantctl::run_with(cli, &mut tenantctl::Output::new(&mut out, &mut err))
            .expect("pki init");
        Self { dir, pki, etc }
    }

    /// The text of a file under the PKI directory.
    pub fn pki_file(&self, rel: &str) -> String {
        read(&self.pki.join(rel))
    }

    /// The text of a kubeconfig.
    pub fn kubeconfig(&self, name: &str) -> String {
        read(&self.etc.join(name))
    }
}

/// Reads a text file or panics naming it.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Drives a future that never waits on I/O (kube's kubeconfig resolution) to completion.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Runs `tenantctl ARGS...` in process and returns its result (stdout; messages for people
/// are dropped).
pub fn tenantctl(args: &[&str]) -> Result<String, tenantctl::Error> {
    let mut argv = vec!["tenantctl"];
    argv.extend_from_slice(args);
    let cli = tenantctl::Cli::try_parse_from(argv).expect("valid flags");
    let (mut out, mut err) = (Vec::new(), std::io::sink());
    tenantctl::run_with(cli, &mut tenantctl::Output::new(&mut out, &mut err))?;
    Ok(String::from_utf8(out).expect("UTF-8 output"))
}

/// Just enough of a kube-apiserver for `kubectl apply --dry-run=client`: the discovery
/// documents for core/v1 and rbac.authorization.k8s.io/v1, and 404 for every object (so each
/// one would be created). Plain HTTP on loopback; one thread; every request is logged.
pub struct FakeDiscovery {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Method and path of every request served.
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeDiscovery {
    /// Starts the server on an ephemeral port.
    pub fn start() -> Self {
        use std::io::{BufRead as _, BufReader, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut content_length = 0usize;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        content_length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; content_length];
                let _ = std::io::Read::read_exact(&mut reader, &mut body);
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_owned();
                let target = parts.next().unwrap_or_default().to_owned();
                let path = target.split('?').next().unwrap_or_default().to_owned();
                log.lock().expect("log").push(format!("{method} {path}"));
                let (status, json) = discovery(&path);
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                    json.len()
                );
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        Self { url, requests }
    }
}

fn discovery(path: &str) -> (&'static str, String) {
    let resource = |name: &str, kind: &str, namespaced: bool| {
        format!(
            r#"{{"name":"{name}","singularName":"","namespaced":{namespaced},"kind":"{kind}","verbs":["create","delete","get","list","patch","update","watch"]}}"#
        )
    };
    match path {
        "/api" => ("200 OK", r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:6443"}]}"#.into()),
        "/apis" => ("200 OK", r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"rbac.authorization.k8s.io","versions":[{"groupVersion":"rbac.authorization.k8s.io/v1","version":"v1"}],"preferredVersion":{"groupVersion":"rbac.authorization.k8s.io/v1","version":"v1"}}]}"#.into()),
        "/api/v1" => ("200 OK", format!(
            r#"{{"kind":"APIResourceList","groupVersion":"v1","resources":[{},{},{}]}}"#,
            resource("namespaces", "Namespace", false),
            resource("configmaps", "ConfigMap", true),
            resource("serviceaccounts", "ServiceAccount", true)
        )),
        "/apis/rbac.authorization.k8s.io/v1" => ("200 OK", format!(
            r#"{{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"rbac.authorization.k8s.io/v1","resources":[{},{},{},{}]}}"#,
            resource("rolebindings", "RoleBinding", true),
            resource("clusterrolebindings", "ClusterRoleBinding", false),
            resource("roles", "Role", true),
            resource("clusterroles", "ClusterRole", false)
        )),
        _ => ("404 Not Found", r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"not found","reason":"NotFound","code":404}"#.into()),
    }
}
