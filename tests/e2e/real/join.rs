//! Nodes joining a cluster that only tenantctl set up: `bootstrap-setup` completes what
//! `kubeadm init` leaves in the cluster, so the real `kubeadm join` (v1.28.7) downloads our
//! kubeadm-certs, and `tenantctl join` works too.

use std::{path::Path, process::Command};

use serde_json::Value;
use workspace_tests::{
    control_plane::{ControlPlane, Options},
    tenantctl,
};

/// `tenantctl ARGS… --kubeconfig KUBECONFIG` → stdout.
fn as_admin(kubeconfig: &Path, args: &[&str]) -> String {
    let k = kubeconfig.display().to_string();
    let mut argv = args.to_vec();
    argv.extend(["--kubeconfig", &k]);
    tenantctl(&argv).unwrap_or_else(|e| panic!("tenantctl {}: {e}", args.join(" ")))
}

/// A new token, the CA hash and a certificate key from `pki upload-certs`.
fn join_material(cp: &ControlPlane) -> (String, String, String) {
    let pki = cp.cluster.pki.display().to_string();
    let token: Value =
        serde_json::from_str(&as_admin(&cp.admin(), &["token", "create", "-o", "json"])).unwrap();
    let token = token["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{token}"))
        .to_owned();
    let hash = tenantctl(&["pki", "ca-hash", "--cert-dir", &pki])
        .unwrap()
        .trim()
        .to_owned();
    let upload: Value = serde_json::from_str(&as_admin(
        &cp.admin(),
        &["pki", "upload-certs", "--cert-dir", &pki, "-o", "json"],
    ))
    .unwrap();
    let key = upload["certificateKey"]
        .as_str()
        .unwrap_or_else(|| panic!("{upload}"))
        .to_owned();
    (token, hash, key)
}

#[test]
fn kubeadm_joins_a_cluster_set_up_by_tenantctl() {
    let Some(cp) = ControlPlane::start_with(Options {
        cluster_admins_binding: false,
        ..Options::default()
    }) else {
        return;
    };
    // Before: admin.conf (O = kubeadm:cluster-admins) is powerless.
    let (ok, _, err) = cp.kubectl_as(&cp.admin(), &["get", "ns"]);
    assert!(!ok && err.contains("forbidden"), "{err}");

    // What kube-proxy would be told behind a VIP, without applying anything.
    let pki = cp.cluster.pki.display().to_string();
    let dry = as_admin(
        &cp.super_admin(),
        &[
            "bootstrap-setup",
            "--cert-dir",
            &pki,
            "--server",
            "https://vip.example.com:6443",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    let list: Value = serde_json::from_str(&dry).unwrap();
    let proxy = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "kube-proxy")
        .unwrap_or_else(|| panic!("no kube-proxy ConfigMap: {dry}"));
    let conf = proxy["data"]["kubeconfig.conf"].as_str().unwrap();
    assert!(
        conf.contains("server: https://vip.example.com:6443"),
        "{conf}"
    );
    assert!(!conf.contains("127.0.0.1"), "{conf}");

    // The real thing, with super-admin.conf (the only identity that works yet).
    as_admin(&cp.super_admin(), &["bootstrap-setup", "--cert-dir", &pki]);
    let (ok, out, err) = cp.kubectl_as(&cp.admin(), &["get", "ns", "-o", "name"]);
    assert!(ok && out.contains("namespace/kube-system"), "{err}");
    let conf = cp.kubectl_super(&[
        "get",
        "configmap",
        "kube-proxy",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.data.kubeconfig\\.conf}",
    ]);
    assert!(conf.contains(&format!("server: {}", cp.url)), "{conf}");
    // Idempotent: a second run changes nothing kubeadm reads.
    let before = cp.kubectl_super(&[
        "get",
        "configmap",
        "kubeadm-config",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    as_admin(&cp.admin(), &["bootstrap-setup", "--cert-dir", &pki]);
    let after = cp.kubectl_super(&[
        "get",
        "configmap",
        "kubeadm-config",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    assert_eq!(before, after);

    // kubeadm join's download-certs phase, chrooted into an empty node root.
    let (token, hash, key) = join_material(&cp);
    let node = tempfile::tempdir().unwrap();
    let endpoint = format!("127.0.0.1:{}", cp.port);
    let out = Command::new(cp.kubeadm())
        .arg("--rootfs")
        .arg(node.path())
        .args([
            "join",
            "phase",
            "control-plane-prepare",
            "download-certs",
            &endpoint,
            "--token",
            &token,
            "--discovery-token-ca-cert-hash",
            &hash,
            "--certificate-key",
            &key,
            "--control-plane",
            "--v=1",
        ])
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kubeadm join: {log}");
    // kubeadm wrote into kubeadm-config's certificatesDir (our PKI's path) under the root.
    let joined = node.path().join(cp.cluster.pki.strip_prefix("/").unwrap());
    for f in [
        "ca.crt",
        "ca.key",
        "sa.key",
        "sa.pub",
        "front-proxy-ca.crt",
        "front-proxy-ca.key",
        "etcd/ca.crt",
        "etcd/ca.key",
    ] {
        let theirs = std::fs::read(joined.join(f)).unwrap_or_else(|e| panic!("{f}: {e}\n{log}"));
        let ours = std::fs::read(cp.cluster.pki.join(f)).unwrap();
        assert_eq!(theirs, ours, "{f} differs");
    }
}
