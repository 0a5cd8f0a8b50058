//! `create`, `renew` and `revoke` of certificate, CSR-API and token tenants on the real API
//! server, each kubeconfig then used by kubectl.

use std::path::Path;

use serde_json::Value;
use workspace_tests::{control_plane::ControlPlane, tenantctl};

/// `tenantctl ARGS… --kubeconfig admin.conf --cert-dir PKI`.
pub(super) fn run(cp: &ControlPlane, args: &[&str]) -> Result<String, tenantctl::Error> {
    let admin = cp.admin().display().to_string();
    let pki = cp.cluster.pki.display().to_string();
    let mut argv = args.to_vec();
    argv.extend(["--kubeconfig", &admin, "--cert-dir", &pki]);
    tenantctl(&argv)
}

/// The tenant record from the ledger, through `tenantctl show -o json`.
pub(super) fn show(cp: &ControlPlane, user: &str) -> Value {
    let admin = cp.admin().display().to_string();
    let out = tenantctl(&["show", user, "-o", "json", "--kubeconfig", &admin]).unwrap();
    serde_json::from_str(&out).unwrap()
}

/// kubectl with a tenant's kubeconfig: (success, stdout + stderr).
pub(super) fn as_tenant(cp: &ControlPlane, kubeconfig: &Path, args: &[&str]) -> (bool, String) {
    let (ok, out, err) = cp.kubectl_as(kubeconfig, args);
    (ok, format!("{out}{err}"))
}

/// Runs kubectl with `kubeconfig` until it fails (the API server's caches catch up with a
/// revoke within seconds), at most 10 s; returns what it said.
fn refused_within(cp: &ControlPlane, kubeconfig: &Path, args: &[&str]) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (ok, out) = as_tenant(cp, kubeconfig, args);
        if !ok {
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} still allowed 10 s after revoke",
            kubeconfig.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn certificate_tenant_create_renew_revoke() {
    let Some(cp) = ControlPlane::start() else {
        return;
    };
    // admin.conf (O = kubeadm:cluster-admins) works once the group is bound.
    let (ok, out, err) = cp.kubectl_as(&cp.admin(), &["get", "ns", "-o", "name"]);
    assert!(ok && out.contains("namespace/kube-system"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("alice.kubeconfig");
    let kc_s = kc.display().to_string();
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
            &kc_s,
        ],
    )
    .unwrap();
    let record = show(&cp, "alice");
    assert_eq!(record["phase"], "Active", "{record}");
    // view (aggregated by the controller manager) lets alice read, not write.
    let (ok, out) = as_tenant(&cp, &kc, &["get", "configmaps", "-n", "team-a"]);
    assert!(ok, "{out}");
    let (ok, out) = as_tenant(&cp, &kc, &["create", "configmap", "x", "-n", "team-a"]);
    assert!(!ok && out.contains("forbidden"), "{out}");
    let (ok, out) = as_tenant(&cp, &kc, &["get", "pods", "-n", "default"]);
    assert!(!ok && out.contains("forbidden"), "{out}");

    // renew: a new certificate that works, recorded in the ledger.
    let kc2 = dir.path().join("alice2.kubeconfig");
    let kc2_s = kc2.display().to_string();
    run(&cp, &["renew", "alice", "--kubeconfig-out", &kc2_s]).unwrap();
    let record = show(&cp, "alice");
    assert_eq!(
        record["credentials"].as_array().unwrap().len(),
        2,
        "{record}"
    );
    let (ok, out) = as_tenant(&cp, &kc2, &["get", "configmaps", "-n", "team-a"]);
    assert!(ok, "{out}");

    // revoke: the bindings go, so both certificates (still valid) are forbidden.
    let admin = cp.admin().display().to_string();
    tenantctl(&["revoke", "alice", "--kubeconfig", &admin]).unwrap();
    assert_eq!(show(&cp, "alice")["phase"], "Revoked");
    for k in [&kc, &kc2] {
        let out = refused_within(&cp, k, &["get", "configmaps", "-n", "team-a"]);
        assert!(out.contains("forbidden"), "{out}");
    }
}

#[test]
fn csr_api_and_token_tenants_work_and_are_revoked() {
    let Some(cp) = ControlPlane::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The controller manager's signer (kubernetes.io/kube-apiserver-client) signs carol.
    let carol = dir.path().join("carol.kubeconfig");
    let carol_s = carol.display().to_string();
    run(
        &cp,
        &[
            "create",
            "carol",
            "--role",
            "view",
            "-n",
            "team-c",
            "--create-namespace",
            "--signer",
            "csr",
            "--approve",
            "--ttl",
            "2h",
            "--kubeconfig-out",
            &carol_s,
        ],
    )
    .unwrap();
    let record = show(&cp, "carol");
    assert_eq!(
        record["credentials"][0]["signer"], "kubernetes.io/kube-apiserver-client",
        "{record}"
    );
    let (ok, out) = as_tenant(&cp, &carol, &["get", "configmaps", "-n", "team-c"]);
    assert!(ok, "{out}");
    let (ok, out, _) = cp.kubectl_as(
        &carol,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert!(ok && out == "carol", "{out}");

    // A token tenant: a ServiceAccount and a bound token from the TokenRequest API.
    let bot = dir.path().join("bot.kubeconfig");
    let bot_s = bot.display().to_string();
    run(
        &cp,
        &[
            "create",
            "bot",
            "--auth",
            "token",
            "--role",
            "edit",
            "-n",
            "team-t",
            "--create-namespace",
            "--ttl",
            "1h",
            "--kubeconfig-out",
            &bot_s,
        ],
    )
    .unwrap();
    let (ok, out) = as_tenant(
        &cp,
        &bot,
        &["create", "configmap", "made-by-bot", "-n", "team-t"],
    );
    assert!(ok, "{out}");
    let admin = cp.admin().display().to_string();
    tenantctl(&["revoke", "bot", "--kubeconfig", &admin]).unwrap();
    // The ServiceAccount is gone, so its bound token stops authenticating.
    let out = refused_within(&cp, &bot, &["get", "configmaps", "-n", "team-t"]);
    assert!(
        out.contains("Unauthorized") || out.contains("forbidden"),
        "{out}"
    );
}

#[test]
fn a_role_without_rules_is_a_warning_never_a_silent_pass() {
    // Without the controller manager `view` is never aggregated: it has no rules.
    let Some(cp) = ControlPlane::start_with(workspace_tests::control_plane::Options {
        controller_manager: false,
        ..Default::default()
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("dora.kubeconfig").display().to_string();
    let admin = cp.admin().display().to_string();
    let pki = cp.cluster.pki.display().to_string();
    let argv = [
        "tenantctl",
        "create",
        "dora",
        "--role",
        "view",
        "--kubeconfig-out",
        &kc,
        "--kubeconfig",
        &admin,
        "--cert-dir",
        &pki,
    ];
    let cli = <tenantctl::Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    tenantctl::run_with(cli, &mut tenantctl::Output::new(&mut out, &mut err)).unwrap();
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.contains("ClusterRole/view has no rules: the tenant can do nothing"),
        "{err}"
    );
}

/// The v1.35 pre-release starts in the harness too, and its X.509 authenticator names each
/// certificate by `authentication.kubernetes.io/credential-id: X509SHA256=<hex>`: the same
/// SHA-256 over the DER that the ledger records for the tenant's credential (what the
/// revocation webhook will match on).
#[test]
fn v1_35_credential_id_is_the_ledgers_sha256() {
    let Some(cp) = ControlPlane::start_with(workspace_tests::control_plane::Options {
        version: workspace_tests::control_plane::Version::V1_35,
        ..Default::default()
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("alice.kubeconfig");
    let kc_s = kc.display().to_string();
    run(
        &cp,
        &[
            "create",
            "alice",
            "--role",
            "view",
            "--kubeconfig-out",
            &kc_s,
        ],
    )
    .unwrap();
    let (ok, out, err) = cp.kubectl_as(&kc, &["auth", "whoami", "-o", "json"]);
    assert!(ok, "{err}");
    let review: Value = serde_json::from_str(&out).unwrap();
    let ids = &review["status"]["userInfo"]["extra"]["authentication.kubernetes.io/credential-id"];
    let id = ids[0]
        .as_str()
        .unwrap_or_else(|| panic!("no credential id: {review}"));
    let recorded = show(&cp, "alice")["credentials"][0]["sha256"]
        .as_str()
        .unwrap()
        .replace(':', "")
        .to_ascii_lowercase();
    assert_eq!(id, format!("X509SHA256={recorded}"));
}
