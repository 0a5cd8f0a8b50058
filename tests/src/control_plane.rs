//! A real control plane on loopback for the end-to-end tests: Debian's etcd, upstream
//! kube-apiserver and (optionally) kube-controller-manager from `../shared/k8s`, on free ports,
//! with a PKI and kubeconfigs made by `tenantctl pki init`. Everything is stopped by pid on drop.
//!
//! The binaries are found through one environment variable, [`ENV`]: the directory that
//! `../shared/k8s/install` unpacks into (it holds `v1.28.7/` and `v1.35.0-alpha.0/`). Without it
//! [`ControlPlane::start`] prints one line saying how to enable the tests and returns `None`, so
//! `cargo test --workspace` passes on a machine without them; with it set, a missing binary or a
//! control plane that does not come up is a test failure, never a skip. `.ci/run` sets it.
//!
//! At most [`MAX_RUNNING`] control planes run at once in one test binary (each costs about a
//! core for its first seconds and ~300 MiB); further starts wait for one to stop.

use std::{
    fs,
    io::Write as _,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Condvar, Mutex, PoisonError},
    time::{Duration, Instant},
};

use crate::Cluster;

/// The variable naming the directory `../shared/k8s/install` unpacked the binaries into.
pub const ENV: &str = "TENANTCTL_K8S";

/// How many control planes may run at once in one test process.
pub const MAX_RUNNING: usize = 2;

/// An upstream Kubernetes version from `../shared/k8s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// v1.28.7, with kubeadm: the kubeadm reference.
    V1_28,
    /// The v1.35 pre-release: X.509 credential ids and structured authorization.
    V1_35,
}

impl Version {
    /// The folder name under the install directory.
    pub fn dir(self) -> &'static str {
        match self {
            Self::V1_28 => "v1.28.7",
            Self::V1_35 => "v1.35.0-alpha.0",
        }
    }
}

/// What to start.
#[derive(Clone, Debug)]
pub struct Options {
    /// Which kube-apiserver and kube-controller-manager.
    pub version: Version,
    /// Start kube-controller-manager too (CSR signing and approval, the bootstrap signer,
    /// ClusterRole aggregation, ServiceAccount tokens, namespace deletion, garbage collection).
    pub controller_manager: bool,
    /// Bind `kubeadm:cluster-admins` to `cluster-admin`, as `kubeadm init` does, so admin.conf
    /// works from the start (off: only super-admin.conf does, until something binds it).
    pub cluster_admins_binding: bool,
    /// `--authorization-config FILE` instead of `--authorization-mode=Node,RBAC`.
    pub authorization_config: Option<PathBuf>,
    /// Extra `pki init` flags (the node and endpoint flags are set by the harness).
    pub pki_flags: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            version: Version::V1_28,
            controller_manager: true,
            cluster_admins_binding: true,
            authorization_config: None,
            pki_flags: vec!["--encryption-algorithm".into(), "ECDSA-P256".into()],
        }
    }
}

/// A running etcd + kube-apiserver (+ kube-controller-manager) on `127.0.0.1`.
pub struct ControlPlane {
    /// The PKI (`cluster.pki`) and kubeconfigs (`cluster.etc`), pointing at this server.
    pub cluster: Cluster,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The API server's port.
    pub port: u16,
    /// The directory holding the binaries of this version (kubeadm for v1.28).
    pub bin: PathBuf,
    /// kube-controller-manager's `--cluster-signing-cert-file` from its next (re)start; `None`
    /// is `ca.crt` (during a CA rotation it must be the one certificate matching `ca.key`).
    pub signing_cert: Option<PathBuf>,
    opts: Options,
    etcd: Option<Child>,
    apiserver: Option<Child>,
    controller_manager: Option<Child>,
    etcd_url: String,
    logs: PathBuf,
    _slot: Slot,
}

impl ControlPlane {
    /// Starts a control plane with the default [`Options`] (v1.28.7 with the controller
    /// manager), or returns `None` after one line on stderr when [`ENV`] is not set.
    pub fn start() -> Option<Self> {
        Self::start_with(Options::default())
    }

    /// Starts a control plane as `opts` says; `None` when [`ENV`] is not set.
    pub fn start_with(opts: Options) -> Option<Self> {
        let root = install_dir()?;
        let bin = root.join(opts.version.dir());
        for b in ["kube-apiserver", "kube-controller-manager"] {
            assert!(
                bin.join(b).is_file(),
                "{ENV}={} has no {}/{b}: run ../shared/k8s/install",
                root.display(),
                opts.version.dir()
            );
        }
        let slot = Slot::take();
        let port = free_port();
        let endpoint = format!("127.0.0.1:{port}");
        let port_s = port.to_string();
        let mut flags: Vec<&str> = vec![
            "--node-name",
            "cp1",
            "--apiserver-advertise-address",
            "127.0.0.1",
            "--apiserver-bind-port",
            &port_s,
            "--control-plane-endpoint",
            &endpoint,
        ];
        flags.extend(opts.pki_flags.iter().map(String::as_str));
        let cluster = Cluster::init_with_node(&flags);
        let logs = cluster.dir.path().join("logs");
        fs::create_dir_all(&logs).expect("logs dir");
        let mut cp = Self {
            url: format!("https://{endpoint}"),
            port,
            bin,
            signing_cert: None,
            etcd: None,
            apiserver: None,
            controller_manager: None,
            etcd_url: String::new(),
            logs,
            opts,
            cluster,
            _slot: slot,
        };
        cp.start_etcd();
        cp.start_apiserver();
        if cp.opts.cluster_admins_binding {
            cp.kubectl_super(&[
                "create",
                "clusterrolebinding",
                "kubeadm:cluster-admins",
                "--clusterrole=cluster-admin",
                "--group=kubeadm:cluster-admins",
            ]);
        }
        if cp.opts.controller_manager {
            cp.start_controller_manager();
        }
        Some(cp)
    }

    /// `admin.conf` (O = kubeadm:cluster-admins).
    pub fn admin(&self) -> PathBuf {
        self.cluster.etc.join("admin.conf")
    }

    /// `super-admin.conf` (O = system:masters: never denied by RBAC).
    pub fn super_admin(&self) -> PathBuf {
        self.cluster.etc.join("super-admin.conf")
    }

    /// The kubeadm binary (v1.28.7 only).
    pub fn kubeadm(&self) -> PathBuf {
        let root = self.bin.parent().expect("install dir");
        root.join(Version::V1_28.dir()).join("kubeadm")
    }

    /// Runs kubectl with `--kubeconfig KUBECONFIG ARGS…`; returns (success, stdout, stderr).
    pub fn kubectl_as(&self, kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .output()
            .expect("kubectl on PATH");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs kubectl as super-admin and returns stdout; panics with stderr on failure.
    pub fn kubectl_super(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl_as(&self.super_admin(), args);
        assert!(ok, "kubectl {}: {err}", args.join(" "));
        out
    }

    /// The API server's `apiserver_request_total` counters summed by verb (`GET`, `LIST`,
    /// `WATCH`, `POST`, `PUT`, `PATCH`, `DELETE`, `APPLY`), read from `/metrics`.
    pub fn requests_by_verb(&self) -> std::collections::BTreeMap<String, u64> {
        self.requests_by_verb_for(&[])
    }

    /// [`Self::requests_by_verb`] for requests on `resources` only (`tenants`, `secrets`, …;
    /// none: every resource) — the API server's own leases and the controller manager's
    /// writes left out.
    pub fn requests_by_verb_for(
        &self,
        resources: &[&str],
    ) -> std::collections::BTreeMap<String, u64> {
        let text = self.kubectl_super(&["get", "--raw", "/metrics"]);
        let mut by_verb = std::collections::BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once("} ") else {
                continue;
            };
            let resource = labels
                .split(',')
                .find_map(|kv| kv.strip_prefix("resource=\""))
                .map(|v| v.trim_end_matches('"'))
                .unwrap_or_default();
            if !resources.is_empty() && !resources.contains(&resource) {
                continue;
            }
            let verb = labels
                .split(',')
                .find_map(|kv| kv.strip_prefix("verb=\""))
                .map(|v| v.trim_end_matches('"').to_owned())
                .unwrap_or_default();
            let n: f64 = value.trim().parse().unwrap_or(0.0);
            *by_verb.entry(verb).or_insert(0) += n as u64;
        }
        by_verb
    }

    /// Stops kube-apiserver and starts it again with the same flags, reading the PKI files
    /// anew (etcd, and so every object, is kept). Waits for `/readyz`.
    pub fn restart_apiserver(&mut self) {
        stop(&mut self.apiserver);
        self.start_apiserver();
    }

    /// Restarts kube-apiserver with `--authorization-config=FILE` (a file written after the
    /// PKI exists, such as `webhook setup`'s), or back to `--authorization-mode=Node,RBAC`.
    pub fn use_authorization_config(&mut self, file: Option<PathBuf>) {
        self.opts.authorization_config = file;
        self.restart_apiserver();
    }

    /// Stops kube-apiserver (etcd keeps the objects); [`Self::restart_apiserver`] brings it back.
    pub fn stop_apiserver(&mut self) {
        stop(&mut self.apiserver);
    }

    /// The `tenantctl` binary cargo built next to this test binary (`target/<profile>/`), for
    /// tests that need a separate process (its command line, a kill).
    pub fn tenantctl_bin() -> PathBuf {
        let exe = std::env::current_exe().expect("test binary path");
        let bin = exe
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("tenantctl"))
            .expect("target directory");
        assert!(
            bin.is_file(),
            "{} is missing: cargo test --workspace builds it (or cargo build -p tenantctl)",
            bin.display()
        );
        bin
    }

    /// Stops kube-controller-manager (if running) and starts it again.
    pub fn restart_controller_manager(&mut self) {
        self.stop_controller_manager();
        self.start_controller_manager();
    }

    /// Stops kube-controller-manager: no signing, no bootstrap signer, until
    /// [`Self::restart_controller_manager`].
    pub fn stop_controller_manager(&mut self) {
        stop(&mut self.controller_manager);
    }

    /// The last lines of a component's log (`etcd`, `kube-apiserver`,
    /// `kube-controller-manager`), for failure messages.
    pub fn log_tail(&self, component: &str) -> String {
        let text =
            fs::read_to_string(self.logs.join(format!("{component}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn start_etcd(&mut self) {
        let client = free_port();
        let peer = free_port();
        self.etcd_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let data = self.cluster.dir.path().join("etcd");
        let child = spawn(
            Path::new("etcd"),
            &[
                "--name=cp1".into(),
                format!("--data-dir={}", data.display()),
                format!("--listen-client-urls={}", self.etcd_url),
                format!("--advertise-client-urls={}", self.etcd_url),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=cp1={peer_url}"),
                "--log-level=warn".into(),
            ],
            &self.logs.join("etcd.log"),
        );
        self.etcd = Some(child);
    }

    fn start_apiserver(&mut self) {
        let pki = &self.cluster.pki;
        let p = |f: &str| pki.join(f).display().to_string();
        let mut args = vec![
            format!("--etcd-servers={}", self.etcd_url),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={}", self.port),
            format!("--client-ca-file={}", p("ca.crt")),
            format!("--tls-cert-file={}", p("apiserver.crt")),
            format!("--tls-private-key-file={}", p("apiserver.key")),
            format!(
                "--kubelet-client-certificate={}",
                p("apiserver-kubelet-client.crt")
            ),
            format!("--kubelet-client-key={}", p("apiserver-kubelet-client.key")),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            "--service-cluster-ip-range=10.96.0.0/12".into(),
            "--enable-bootstrap-token-auth=true".into(),
            "--enable-admission-plugins=NodeRestriction".into(),
            "--allow-privileged=true".into(),
            format!("--requestheader-client-ca-file={}", p("front-proxy-ca.crt")),
            format!("--proxy-client-cert-file={}", p("front-proxy-client.crt")),
            format!("--proxy-client-key-file={}", p("front-proxy-client.key")),
            "--requestheader-allowed-names=front-proxy-client".into(),
            "--requestheader-extra-headers-prefix=X-Remote-Extra-".into(),
            "--requestheader-group-headers=X-Remote-Group".into(),
            "--requestheader-username-headers=X-Remote-User".into(),
            "--profiling=false".into(),
            "--v=1".into(),
        ];
        match &self.opts.authorization_config {
            Some(file) => args.push(format!("--authorization-config={}", file.display())),
            None => args.push("--authorization-mode=Node,RBAC".into()),
        }
        let child = spawn(
            &self.bin.join("kube-apiserver"),
            &args,
            &self.logs.join("kube-apiserver.log"),
        );
        self.apiserver = Some(child);
        self.wait_ready();
    }

    fn start_controller_manager(&mut self) {
        let pki = &self.cluster.pki;
        let p = |f: &str| pki.join(f).display().to_string();
        let conf = self
            .cluster
            .etc
            .join("controller-manager.conf")
            .display()
            .to_string();
        let args = vec![
            format!("--kubeconfig={conf}"),
            format!("--authentication-kubeconfig={conf}"),
            format!("--authorization-kubeconfig={conf}"),
            "--bind-address=127.0.0.1".into(),
            "--secure-port=0".into(),
            format!(
                "--cluster-signing-cert-file={}",
                self.signing_cert
                    .as_ref()
                    .map_or_else(|| p("ca.crt"), |c| c.display().to_string())
            ),
            format!("--cluster-signing-key-file={}", p("ca.key")),
            format!("--root-ca-file={}", p("ca.crt")),
            format!("--service-account-private-key-file={}", p("sa.key")),
            format!("--requestheader-client-ca-file={}", p("front-proxy-ca.crt")),
            "--use-service-account-credentials=true".into(),
            "--controllers=*,bootstrapsigner,tokencleaner".into(),
            "--leader-elect=false".into(),
            "--profiling=false".into(),
            "--v=1".into(),
        ];
        let child = spawn(
            &self.bin.join("kube-controller-manager"),
            &args,
            &self.logs.join("kube-controller-manager.log"),
        );
        self.controller_manager = Some(child);
        self.wait_controllers();
    }

    /// Waits up to 60 s for the controller manager's ClusterRole aggregation (`view` has
    /// rules), the sign that its controllers run.
    fn wait_controllers(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (ok, out, _) = self.kubectl_as(
                &self.super_admin(),
                &[
                    "get",
                    "clusterrole",
                    "view",
                    "-o",
                    "jsonpath={.rules[0].verbs}",
                ],
            );
            if ok && !out.trim().is_empty() {
                return;
            }
            if let Some(Ok(Some(status))) = self.controller_manager.as_mut().map(Child::try_wait) {
                panic!(
                    "kube-controller-manager exited ({status}):\n{}",
                    self.log_tail("kube-controller-manager")
                );
            }
            assert!(
                Instant::now() < deadline,
                "kube-controller-manager did not aggregate ClusterRole view in 60 s:\n{}",
                self.log_tail("kube-controller-manager")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits up to 60 s for `/readyz` (super-admin: RBAC may not be bootstrapped yet).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (ok, out, _) = self.kubectl_as(
                &self.super_admin(),
                &["get", "--raw", "/readyz", "--request-timeout=2s"],
            );
            if ok && out.trim() == "ok" {
                return;
            }
            if let Some(Ok(Some(status))) = self.apiserver.as_mut().map(Child::try_wait) {
                panic!(
                    "kube-apiserver exited ({status}):\n{}",
                    self.log_tail("kube-apiserver")
                );
            }
            assert!(
                Instant::now() < deadline,
                "kube-apiserver not ready after 60 s:\n{}\netcd:\n{}",
                self.log_tail("kube-apiserver"),
                self.log_tail("etcd")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        stop(&mut self.controller_manager);
        stop(&mut self.apiserver);
        stop(&mut self.etcd);
    }
}

/// The install directory from [`ENV`], or `None` after saying how to set it.
fn install_dir() -> Option<PathBuf> {
    match std::env::var_os(ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => {
            // One visible line per skipped test (cargo test shows it with the test's output on
            // failure, and `--nocapture` always); the summary counts the test as passed.
            let mut err = std::io::stderr();
            let _ = writeln!(
                err,
                "skipped: no real control plane; run ../shared/k8s/install, apt-get install etcd-server, and set {ENV} to the directory it prints (without the version)"
            );
            None
        }
    }
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

fn spawn(program: &Path, args: &[String], log: &Path) -> Child {
    let file = fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let err = file.try_clone().expect("log file");
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()))
}

/// Kills a process by pid and reaps it.
fn stop(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// One of [`MAX_RUNNING`] places; given back on drop.
struct Slot;

static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

impl Slot {
    fn take() -> Self {
        let mut n = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        while *n >= MAX_RUNNING {
            n = FREED.wait(n).unwrap_or_else(PoisonError::into_inner);
        }
        *n += 1;
        Self
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut n = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        *n -= 1;
        FREED.notify_one();
    }
}
