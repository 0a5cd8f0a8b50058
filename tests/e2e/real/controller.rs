//! `tenantctl controller run` as its own process on the real control plane: Tenant objects
//! applied with kubectl become Ready with a working kubeconfig in a Secret; a role edit
//! rebinds without a new credential; a short lifetime renews; a deleted binding or Secret comes
//! back; expiresAt ends access; a system: group is refused; deletion revokes through the
//! finalizer; at rest nothing is written; two replicas elect one leader and the other takes
//! over after `kill -9`; the manifests pass a server-side dry run.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde_json::Value;
use workspace_tests::control_plane::ControlPlane;

use super::tenant::{as_tenant, show};

const NS: &str = "tenantctl-system";

/// A `tenantctl controller run` process, killed on drop; its stderr in a file.
struct Running {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Signing with the CA in `--cert-dir`.
    fn start(cp: &ControlPlane, extra: &[&str]) -> Self {
        let pki = cp.cluster.pki.display().to_string();
        let mut args = vec!["--cert-dir", pki.as_str()];
        args.extend_from_slice(extra);
        Self::start_with(cp, &args)
    }

    /// `args` say where the CA is (`--cert-dir` or `--ca-secret`).
    fn start_with(cp: &ControlPlane, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("controller.log");
        let child = Command::new(ControlPlane::tenantctl_bin())
            .args(["controller", "run", "--kubeconfig"])
            .arg(cp.admin())
            .args([
                "--metrics-bind-address",
                "127.0.0.1:0",
                "--health-probe-bind-address",
                "127.0.0.1:0",
                "--verify-timeout",
                "60s",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self {
            child,
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log has `needle` (at most `secs`).
    fn wait_log(&self, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < deadline, "no {needle:?} in\n{log}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT` of `what` (`metrics` or `probes`).
    fn endpoint(&self, what: &str) -> String {
        let log = self.wait_log(&format!("{what} on http://"), 30);
        let line = log
            .lines()
            .find(|l| l.contains(&format!("{what} on http://")))
            .unwrap();
        line[line.find("http://").unwrap()..].trim().to_owned()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// HTTP GET over a plain TCP stream: (status line, body).
fn http_get(url: &str) -> (String, String) {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').map_or((rest, "/"), |(h, p)| (h, p));
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        path.trim_start_matches('/')
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

/// The CRD, installed and established.
pub(super) fn install_crd(cp: &ControlPlane) {
    let crd = workspace_tests::tenantctl(&["controller", "manifests", "--crd-only"]).unwrap();
    kubectl_stdin(cp, &["apply", "--server-side", "-f", "-"], &crd).unwrap();
    cp.kubectl_super(&[
        "wait",
        "--for=condition=Established",
        "crd/tenants.tenantctl.io",
        "--timeout=60s",
    ]);
}

/// kubectl as super-admin with `input` on stdin: stdout, or stderr as the error.
fn kubectl_stdin(cp: &ControlPlane, args: &[&str], input: &str) -> Result<String, String> {
    use std::io::Write as _;
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cp.super_admin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn apply_tenant(cp: &ControlPlane, name: &str, spec: &str) -> Result<String, String> {
    let doc = format!(
        "apiVersion: tenantctl.io/v1\nkind: Tenant\nmetadata:\n  name: {name}\nspec:\n{spec}"
    );
    kubectl_stdin(cp, &["apply", "-f", "-"], &doc)
}

fn tenant(cp: &ControlPlane, name: &str) -> Option<Value> {
    let (ok, out, _) = cp.kubectl_as(&cp.super_admin(), &["get", "tenant", name, "-o", "json"]);
    ok.then(|| serde_json::from_str(&out).unwrap())
}

/// The Ready condition's (status, reason).
fn ready(t: &Value) -> (String, String) {
    let c = t["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    c.map_or_else(Default::default, |c| {
        (
            c["status"].as_str().unwrap_or_default().to_owned(),
            c["reason"].as_str().unwrap_or_default().to_owned(),
        )
    })
}

/// Polls the Tenant until `done` holds (at most `secs`).
fn wait_tenant(cp: &ControlPlane, name: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let t = tenant(cp, name).unwrap_or(Value::Null);
        if done(&t) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "tenant/{name} after {secs} s: {t}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_ready(cp: &ControlPlane, name: &str, secs: u64) -> Value {
    wait_tenant(cp, name, secs, |t| ready(t).0 == "True")
}

fn serial(t: &Value) -> String {
    t["status"]["credential"]["serial"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The kubeconfig in the Tenant's Secret, written to `dir/NAME.kubeconfig`.
fn secret_kubeconfig(cp: &ControlPlane, secret: &str, dir: &Path) -> Option<PathBuf> {
    let (ok, out, _) = cp.kubectl_as(
        &cp.super_admin(),
        &[
            "get",
            "secret",
            "-n",
            NS,
            secret,
            "-o",
            "jsonpath={.data.kubeconfig}",
        ],
    );
    if !ok || out.is_empty() {
        return None;
    }
    let path = dir.join(format!("{secret}.kubeconfig"));
    std::fs::write(&path, STANDARD.decode(out.trim()).unwrap()).unwrap();
    Some(path)
}

/// Runs `check` until it holds (at most `secs`).
fn eventually(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn controller_issues_rebinds_renews_restores_expires_refuses_and_revokes() {
    let Some(mut cp) = ControlPlane::start() else {
        return;
    };
    install_crd(&cp);
    let controller = Running::start(&cp, &[]);
    let dir = tempfile::tempdir().unwrap();

    // The schema refuses what needs no cluster to refuse, before the controller sees it.
    let e = apply_tenant(
        &cp,
        "bad",
        "  roles: [view]\n  ttl: 1h\n  renewBefore: 2h\n",
    )
    .unwrap_err();
    assert!(e.contains("renewBefore must be shorter than ttl"), "{e}");
    let e = apply_tenant(&cp, "bad", "  roles: [view]\n  ttl: 7 weeks\n").unwrap_err();
    assert!(e.contains("spec.ttl"), "{e}");
    let e = apply_tenant(&cp, "bad", "  roles: [view]\n  expiresAt: tomorrow\n").unwrap_err();
    assert!(e.contains("spec.expiresAt"), "{e}");
    let e = apply_tenant(&cp, "bad", "  user: system:admin\n  roles: [view]\n").unwrap_err();
    assert!(e.contains("system: users"), "{e}");

    // Ready, with a kubeconfig that works as the tenant's roles say.
    apply_tenant(
        &cp,
        "alice",
        "  roles: [view]\n  namespace: team-a\n  createNamespace: true\n  ttl: 1h\n",
    )
    .unwrap();
    let alice = wait_ready(&cp, "alice", 60);
    assert_eq!(ready(&alice).1, "Issued", "{alice}");
    assert_eq!(alice["status"]["user"], "alice");
    assert_eq!(
        alice["status"]["kubeconfigSecretRef"]["name"],
        "tenant-alice-kubeconfig"
    );
    assert!(alice["status"]["nextRenewal"].is_string(), "{alice}");
    assert_eq!(alice["metadata"]["finalizers"][0], "tenantctl.io/revoke");
    let kc = secret_kubeconfig(&cp, "tenant-alice-kubeconfig", dir.path()).unwrap();
    let (ok, out) = as_tenant(&cp, &kc, &["get", "configmaps", "-n", "team-a"]);
    assert!(ok, "{out}");
    let (ok, out) = as_tenant(&cp, &kc, &["create", "configmap", "x", "-n", "team-a"]);
    assert!(!ok && out.contains("forbidden"), "{out}");
    // The ledger has it, as `create` would record it: list/show see controller tenants.
    let record = show(&cp, "alice");
    assert_eq!(record["phase"], "Active", "{record}");
    assert_eq!(record["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(
        record["credentials"][0]["serial"],
        alice["status"]["credential"]["serial"]
    );
    let events = cp.kubectl_super(&[
        "get",
        "events",
        "-A",
        "--field-selector",
        "involvedObject.name=alice",
        "-o",
        "json",
    ]);
    assert!(events.contains("\"Issued\""), "{events}");

    // A role edit rebinds with the same credential.
    let first_serial = serial(&alice);
    apply_tenant(
        &cp,
        "alice",
        "  roles: [edit]\n  namespace: team-a\n  createNamespace: true\n  ttl: 1h\n",
    )
    .unwrap();
    eventually("alice may create a configmap", 60, || {
        as_tenant(&cp, &kc, &["create", "configmap", "y", "-n", "team-a"]).0
    });
    let alice = wait_tenant(&cp, "alice", 30, |t| {
        t["status"]["observedGeneration"] == t["metadata"]["generation"]
    });
    assert_eq!(serial(&alice), first_serial, "{alice}");
    assert_eq!(
        show(&cp, "alice")["credentials"].as_array().unwrap().len(),
        1
    );

    // A binding deleted by hand comes back.
    let binding = cp.kubectl_super(&[
        "get",
        "rolebindings",
        "-n",
        "team-a",
        "-l",
        "tenantctl.io/tenant=alice",
        "-o",
        "name",
    ]);
    let binding = binding.trim().to_owned();
    assert!(!binding.is_empty());
    cp.kubectl_super(&["delete", "-n", "team-a", &binding]);
    eventually("the binding is put back", 30, || {
        cp.kubectl_as(&cp.super_admin(), &["get", "-n", "team-a", &binding])
            .0
    });

    // A Secret deleted by hand: a new credential (its key was only in the Secret).
    cp.kubectl_super(&["delete", "secret", "-n", NS, "tenant-alice-kubeconfig"]);
    let alice = wait_tenant(&cp, "alice", 60, |t| {
        ready(t).0 == "True" && serial(t) != first_serial
    });
    let kc = secret_kubeconfig(&cp, "tenant-alice-kubeconfig", dir.path()).unwrap();
    assert!(as_tenant(&cp, &kc, &["get", "configmaps", "-n", "team-a"]).0);
    assert_eq!(
        show(&cp, "alice")["credentials"].as_array().unwrap().len(),
        2,
        "{alice}"
    );

    // A system: group is refused, nothing issued.
    apply_tenant(
        &cp,
        "root",
        "  groups: [system:masters]\n  roles: [view]\n  namespace: team-a\n",
    )
    .unwrap();
    let root = wait_tenant(&cp, "root", 30, |t| ready(t).1 == "Refused");
    assert!(
        root["status"]["conditions"][0]["message"]
            .as_str()
            .unwrap()
            .contains("spec.groups[0]"),
        "{root}"
    );
    assert!(secret_kubeconfig(&cp, "tenant-root-kubeconfig", dir.path()).is_none());
    let (ok, _, _) = cp.kubectl_as(
        &cp.super_admin(),
        &["get", "configmap", "-n", NS, "tenant-root"],
    );
    assert!(!ok, "a refused tenant has no record");

    // At rest: no write at all on what the controller touches.
    std::thread::sleep(Duration::from_secs(2));
    let resources = [
        "tenants",
        "secrets",
        "configmaps",
        "rolebindings",
        "clusterrolebindings",
        "events",
        "subjectaccessreviews",
        "namespaces",
        "serviceaccounts",
    ];
    let before = cp.requests_by_verb_for(&resources);
    std::thread::sleep(Duration::from_secs(10));
    let after = cp.requests_by_verb_for(&resources);
    for verb in ["POST", "PUT", "PATCH", "APPLY", "DELETE"] {
        assert_eq!(
            before.get(verb),
            after.get(verb),
            "{verb} at rest: before {before:?}, after {after:?}"
        );
    }

    // A short lifetime renews before it ends, with a new key; the old kubeconfig is replaced.
    apply_tenant(
        &cp,
        "bob",
        "  roles: [view]\n  namespace: team-a\n  ttl: 90s\n  renewBefore: 75s\n",
    )
    .unwrap();
    let bob = wait_ready(&cp, "bob", 60);
    let bob_serial = serial(&bob);
    let renewed = wait_tenant(&cp, "bob", 45, |t| {
        ready(t).0 == "True" && serial(t) != bob_serial
    });
    let kc = secret_kubeconfig(&cp, "tenant-bob-kubeconfig", dir.path()).unwrap();
    assert!(as_tenant(&cp, &kc, &["get", "configmaps", "-n", "team-a"]).0);
    let bob_record = show(&cp, "bob");
    assert!(
        bob_record["credentials"].as_array().unwrap().len() >= 2,
        "{bob_record}"
    );
    let events = cp.kubectl_super(&[
        "get",
        "events",
        "-A",
        "--field-selector",
        "involvedObject.name=bob",
        "-o",
        "json",
    ]);
    assert!(events.contains("\"Renewed\""), "{renewed} {events}");
    // The expiry metric names the tenant.
    let (status, metrics) = http_get(&format!("{}/metrics", controller.endpoint("metrics")));
    assert!(status.contains("200"), "{status}");
    assert!(
        metrics.contains("tenantctl_tenant_credential_expiry_timestamp_seconds{tenant=\"bob\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tenantctl_reconcile_total{result=\"renewed\"}"),
        "{metrics}"
    );
    let (status, _) = http_get(&format!("{}/readyz", controller.endpoint("probes")));
    assert!(status.contains("200"), "{status}");
    cp.kubectl_super(&["delete", "tenant", "bob", "--wait=true"]);

    // expiresAt: access ends then.
    let at = |secs: u64| {
        let t = SystemTime::now() + Duration::from_secs(secs);
        let s = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        k8s_openapi::jiff::Timestamp::from_second(s as i64)
            .unwrap()
            .to_string()
    };
    apply_tenant(
        &cp,
        "carol",
        &format!(
            "  roles: [view]\n  namespace: team-a\n  ttl: 1h\n  expiresAt: \"{}\"\n",
            at(20)
        ),
    )
    .unwrap();
    wait_ready(&cp, "carol", 60);
    let kc = secret_kubeconfig(&cp, "tenant-carol-kubeconfig", dir.path()).unwrap();
    assert!(as_tenant(&cp, &kc, &["get", "configmaps", "-n", "team-a"]).0);
    let carol = wait_tenant(&cp, "carol", 60, |t| ready(t).1 == "Expired");
    assert!(carol["status"]["credential"].is_null(), "{carol}");
    assert!(secret_kubeconfig(&cp, "tenant-carol-kubeconfig", dir.path()).is_none());
    let record = show(&cp, "carol");
    assert_eq!(record["phase"], "Revoked", "{record}");
    assert_eq!(record["revokedReason"], "expired", "{record}");
    eventually("carol is forbidden", 10, || {
        !as_tenant(&cp, &kc, &["get", "configmaps", "-n", "team-a"]).0
    });

    // Deletion goes through the finalizer: revoked, Secret and bindings gone.
    cp.kubectl_super(&["delete", "tenant", "alice", "--wait=true", "--timeout=60s"]);
    assert!(tenant(&cp, "alice").is_none());
    let record = show(&cp, "alice");
    assert_eq!(record["phase"], "Revoked", "{record}");
    assert_eq!(record["revokedReason"], "deleted", "{record}");
    assert!(secret_kubeconfig(&cp, "tenant-alice-kubeconfig", dir.path()).is_none());
    let left = cp.kubectl_super(&[
        "get",
        "rolebindings",
        "-A",
        "-l",
        "tenantctl.io/tenant=alice",
        "-o",
        "name",
    ]);
    assert!(left.trim().is_empty(), "{left}");

    // A controller restart on a settled cluster changes nothing.
    drop(controller);
    let before = cp.requests_by_verb_for(&resources);
    let again = Running::start(&cp, &[]);
    again.wait_log("reconciling Tenant objects", 30);
    std::thread::sleep(Duration::from_secs(5));
    let after = cp.requests_by_verb_for(&resources);
    for verb in ["POST", "PUT", "PATCH", "APPLY", "DELETE"] {
        assert_eq!(
            before.get(verb),
            after.get(verb),
            "{verb} after a restart: {}",
            again.log()
        );
    }
    drop(again);
    cp.stop_controller_manager();
}

#[test]
fn two_controllers_elect_one_leader_and_a_killed_leader_is_replaced() {
    let Some(cp) = ControlPlane::start() else {
        return;
    };
    install_crd(&cp);
    // The manifests pass the API server's own validation (server-side dry run).
    cp.kubectl_super(&["create", "namespace", NS]);
    let manifests = workspace_tests::tenantctl(&[
        "controller",
        "manifests",
        "--image",
        "example.org/tenantctl:test",
        "--server",
        &cp.url,
    ])
    .unwrap();
    let out = kubectl_stdin(
        &cp,
        &["apply", "--server-side", "--dry-run=server", "-f", "-"],
        &manifests,
    )
    .unwrap_or_else(|e| panic!("{e}\n{manifests}"));
    for kind in [
        "deployment.apps/tenantctl-controller",
        "clusterrole.rbac.authorization.k8s.io/tenantctl-controller",
    ] {
        assert!(out.contains(kind), "{out}");
    }

    // Both replicas sign with the CA from a Secret, as the Deployment does.
    let pki = &cp.cluster.pki;
    cp.kubectl_super(&[
        "create",
        "secret",
        "tls",
        "tenantctl-ca",
        "-n",
        NS,
        &format!("--cert={}", pki.join("ca.crt").display()),
        &format!("--key={}", pki.join("ca.key").display()),
    ]);
    let lease = [
        "--leader-elect",
        "--leader-elect-lease-duration",
        "6s",
        "--ca-secret",
        "tenantctl-ca",
    ];
    let mut a = Running::start_with(&cp, &lease);
    a.wait_log("holding lease", 30);
    let b = Running::start_with(&cp, &lease);
    b.wait_log("waiting for lease", 30);
    let holder = cp.kubectl_super(&[
        "get",
        "lease",
        "-n",
        NS,
        "tenantctl-controller",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert!(a.log().contains(&holder), "holder {holder}: {}", a.log());
    apply_tenant(&cp, "dave", "  roles: [view]\n  namespace: default\n").unwrap();
    wait_ready(&cp, "dave", 60);
    assert!(!b.log().contains("holding lease"), "{}", b.log());

    a.kill();
    let killed = Instant::now();
    b.wait_log("holding lease", 30);
    let takeover = killed.elapsed();
    assert!(takeover < Duration::from_secs(15), "took {takeover:?}");
    apply_tenant(&cp, "erin", "  roles: [view]\n  namespace: default\n").unwrap();
    wait_ready(&cp, "erin", 60);
    eprintln!("leader takeover after kill -9: {takeover:?}");
}
