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

/// A certificate key from `pki upload-certs`, the CA hash, then a new token (last, so a join
/// that follows at once meets a cluster-info the bootstrap signer has not signed yet).
fn join_material(cp: &ControlPlane) -> (String, String, String) {
    let pki = cp.cluster.pki.display().to_string();
    let upload: Value = serde_json::from_str(&as_admin(
        &cp.admin(),
        &["pki", "upload-certs", "--cert-dir", &pki, "-o", "json"],
    ))
    .unwrap();
    let key = upload["certificateKey"]
        .as_str()
        .unwrap_or_else(|| panic!("{upload}"))
        .to_owned();
    let hash = tenantctl(&["pki", "ca-hash", "--cert-dir", &pki])
        .unwrap()
        .trim()
        .to_owned();
    let token: Value =
        serde_json::from_str(&as_admin(&cp.admin(), &["token", "create", "-o", "json"])).unwrap();
    let token = token["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{token}"))
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

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// `tenantctl join 127.0.0.1:PORT --token T --cert-dir NODE/pki --kubeconfig-dir NODE ARGS…`
/// → (exit code, stderr).
fn join(port: u16, node: &Path, token: &str, args: &[&str]) -> (u8, String) {
    let endpoint = format!("127.0.0.1:{port}");
    let pki = node.join("pki").display().to_string();
    let etc = node.display().to_string();
    let mut argv = vec![
        "tenantctl",
        "join",
        &endpoint,
        "--token",
        token,
        "--cert-dir",
        &pki,
        "--kubeconfig-dir",
        &etc,
    ];
    argv.extend_from_slice(args);
    let cli = <tenantctl::Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let r = tenantctl::run_with(cli, &mut tenantctl::Output::new(&mut out, &mut err));
    let mut err = String::from_utf8(err).unwrap();
    match r {
        Ok(()) => (0, err),
        Err(e) => {
            err.push_str(&format!(
                "error: {e}\nhint: {}",
                e.hint().unwrap_or_default()
            ));
            (e.exit_code(), err)
        }
    }
}

/// `join --control-plane` as node cp2 (127.0.0.2) with the certificate key, pinned to `hash`.
fn join_control_plane(port: u16, node: &Path, token: &str, hash: &str, key: &str) -> (u8, String) {
    let p = port.to_string();
    join(
        port,
        node,
        token,
        &[
            "--discovery-token-ca-cert-hash",
            hash,
            "--control-plane",
            "--certificate-key",
            key,
            "--node-name",
            "cp2",
            "--apiserver-advertise-address",
            "127.0.0.2",
            "--apiserver-bind-port",
            &p,
        ],
    )
}

#[test]
fn join_right_after_token_create_and_a_refused_control_plane_join_writes_nothing() {
    let Some(mut cp) = ControlPlane::start() else {
        return;
    };
    let pki = cp.cluster.pki.display().to_string();
    as_admin(&cp.admin(), &["bootstrap-setup", "--cert-dir", &pki]);
    let (token, hash, _) = join_material(&cp);

    // A worker joins with a token the bootstrap signer has not signed yet (the controller
    // manager is down for 2 s): discovery waits for the signature, as kubeadm does.
    cp.stop_controller_manager();
    let (late, _, key) = join_material(&cp);
    let worker = tempfile::tempdir().unwrap();
    let port = cp.port;
    let (code, err) = std::thread::scope(|s| {
        let joining = s.spawn(|| {
            join(
                port,
                worker.path(),
                &late,
                &["--discovery-token-ca-cert-hash", &hash],
            )
        });
        std::thread::sleep(std::time::Duration::from_secs(2));
        cp.restart_controller_manager();
        joining.join().unwrap()
    });
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("is not signed for token") && err.contains("waiting up to 5m"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(worker.path().join("pki/ca.crt")).unwrap(),
        std::fs::read(cp.cluster.pki.join("ca.crt")).unwrap()
    );
    // Again: refused with a hint join itself can follow, nothing changed.
    let before = snapshot(worker.path());
    let (code, err) = join(
        cp.port,
        worker.path(),
        &token,
        &["--discovery-token-ca-cert-hash", &hash],
    );
    assert_eq!(code, 3, "{err}");
    assert!(
        !err.contains("--kubeconfig-out") && !err.contains("--force"),
        "{err}"
    );
    assert_eq!(snapshot(worker.path()), before);

    // A control-plane node whose directory holds another cluster's API server certificate:
    // refused before anything is written, no CA key left behind.
    let other = workspace_tests::Cluster::init(&["--encryption-algorithm", "ECDSA-P256"]);
    let node = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(node.path().join("pki")).unwrap();
    for f in ["apiserver.crt", "apiserver.key"] {
        std::fs::copy(other.pki.join(f), node.path().join("pki").join(f)).unwrap();
    }
    let before = snapshot(node.path());
    let (code, err) = join_control_plane(cp.port, node.path(), &token, &hash, &key);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("apiserver"), "{err}");
    assert_eq!(snapshot(node.path()), before, "the directory is as it was");

    // The same node, emptied: it joins, with the cluster's CAs and keys byte for byte.
    std::fs::remove_dir_all(node.path().join("pki")).unwrap();
    let (code, err) = join_control_plane(cp.port, node.path(), &token, &hash, &key);
    assert_eq!(code, 0, "{err}");
    for f in ["ca.key", "sa.key", "front-proxy-ca.key", "etcd/ca.key"] {
        assert_eq!(
            std::fs::read(node.path().join("pki").join(f)).unwrap(),
            std::fs::read(cp.cluster.pki.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn tenantctl_joins_with_certs_kubeadm_uploaded() {
    let Some(cp) = ControlPlane::start() else {
        return;
    };
    let pki = cp.cluster.pki.display().to_string();
    as_admin(&cp.admin(), &["bootstrap-setup", "--cert-dir", &pki]);
    // kubeadm's own upload of our PKI. kubeadm refuses a loopback advertise address, so the
    // config names one from TEST-NET-1 (RFC 5737): upload-certs only talks to admin.conf's
    // server, never to that address.
    let key = "a".repeat(16) + &"0123456789abcdef".repeat(3);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubeadm.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\ncertificateKey: {key}\nlocalAPIEndpoint:\n  advertiseAddress: 192.0.2.10\n  bindPort: {}\nnodeRegistration:\n  name: cp1\n  criSocket: unix:///var/run/containerd/containerd.sock\n---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.28.7\ncertificatesDir: {pki}\ncontrolPlaneEndpoint: 127.0.0.1:{}\n",
            cp.port, cp.port
        ),
    )
    .unwrap();
    let out = Command::new(cp.kubeadm())
        .args(["init", "phase", "upload-certs", "--upload-certs"])
        .arg("--config")
        .arg(&config)
        .arg("--kubeconfig")
        .arg(cp.admin())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubeadm upload-certs: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // tenantctl join --control-plane opens kubeadm's Secret.
    let hash = tenantctl(&["pki", "ca-hash", "--cert-dir", &pki])
        .unwrap()
        .trim()
        .to_owned();
    let token: Value =
        serde_json::from_str(&as_admin(&cp.admin(), &["token", "create", "-o", "json"])).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let node = tempfile::tempdir().unwrap();
    let (code, err) = join_control_plane(cp.port, node.path(), &token, &hash, &key);
    assert_eq!(code, 0, "{err}");
    for f in [
        "ca.crt",
        "ca.key",
        "sa.key",
        "sa.pub",
        "front-proxy-ca.key",
        "etcd/ca.key",
    ] {
        assert_eq!(
            std::fs::read(node.path().join("pki").join(f)).unwrap(),
            std::fs::read(cp.cluster.pki.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn joins_mid_rotation_pinned_to_either_ca() {
    let Some(mut cp) = ControlPlane::start() else {
        return;
    };
    let (pki, etc, admin) = (
        cp.cluster.pki.display().to_string(),
        cp.cluster.etc.display().to_string(),
        cp.admin().display().to_string(),
    );
    let rotate = |step: &str| {
        tenantctl(&[
            "pki",
            "rotate-ca",
            step,
            "--cert-dir",
            &pki,
            "--kubeconfig-dir",
            &etc,
            "--kubeconfig",
            &admin,
        ])
        .unwrap_or_else(|e| panic!("rotate-ca {step}: {e}"));
    };
    // The README's restart order: kube-apiserver, then kube-controller-manager on the one
    // certificate matching ca.key (its bootstrap signer must keep reaching the API server).
    rotate("begin");
    cp.restart_apiserver();
    cp.signing_cert = Some(cp.cluster.pki.join("rotation/cluster/signing.crt"));
    cp.restart_controller_manager();
    rotate("reissue");
    cp.restart_apiserver();
    cp.restart_controller_manager();
    // cluster-info and kubeadm-certs carry both CAs, the API server presents the new one.
    as_admin(&cp.admin(), &["bootstrap-setup", "--cert-dir", &pki]);
    let (token, _, key) = join_material(&cp);
    let bundle = pki_core::Certificate::chain_from_pem(
        &std::fs::read_to_string(cp.cluster.pki.join("ca.crt")).unwrap(),
    )
    .unwrap();
    assert_eq!(bundle.len(), 2);
    let hashes: Vec<String> = bundle.iter().map(|c| c.discovery_hash().unwrap()).collect();
    // kubeadm prints one hash per CA; so does the join line.
    let line = as_admin(&cp.admin(), &["token", "create", "--print-join-command"]);
    for h in &hashes {
        assert!(
            line.contains(&format!("--discovery-token-ca-cert-hash {h}")),
            "{line}"
        );
    }

    for (which, hash) in ["new", "old"].iter().zip(&hashes) {
        // A worker pinned to either CA joins and trusts the whole bundle.
        let worker = tempfile::tempdir().unwrap();
        let (code, err) = join(
            cp.port,
            worker.path(),
            &token,
            &[
                "--discovery-token-ca-cert-hash",
                hash,
                "--discovery-timeout",
                "1m",
            ],
        );
        assert_eq!(code, 0, "worker pinned to the {which} CA: {err}");
        assert_eq!(
            std::fs::read(worker.path().join("pki/ca.crt")).unwrap(),
            std::fs::read(cp.cluster.pki.join("ca.crt")).unwrap()
        );
        // A control-plane node is refused, naming the steps, with nothing written.
        let node = tempfile::tempdir().unwrap();
        let (code, err) = join_control_plane(cp.port, node.path(), &token, hash, &key);
        assert_eq!(code, 3, "control plane pinned to the {which} CA: {err}");
        assert!(err.contains("rotate-ca finish"), "{err}");
        assert!(
            snapshot(node.path()).is_empty(),
            "{which}: wrote {:?}",
            snapshot(node.path()).keys()
        );
    }
}

#[test]
fn the_lock_file_names_the_command_only_and_is_private() {
    let Some(mut cp) = ControlPlane::start() else {
        return;
    };
    let bin = ControlPlane::tenantctl_bin();
    let (pki, etc, admin) = (
        cp.cluster.pki.display().to_string(),
        cp.cluster.etc.display().to_string(),
        cp.admin().display().to_string(),
    );
    let ok = Command::new(&bin)
        .args([
            "pki",
            "rotate-ca",
            "begin",
            "--cert-dir",
            &pki,
            "--kubeconfig-dir",
            &etc,
        ])
        .args(["--kubeconfig", &admin])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // reissue reads the tenant records under the lock; with the API server down it retries
    // for seconds, holding the lock all the while.
    cp.stop_apiserver();
    let mut holder = Command::new(&bin)
        .args([
            "pki",
            "rotate-ca",
            "reissue",
            "--cert-dir",
            &pki,
            "--kubeconfig-dir",
            &etc,
        ])
        .args(["--kubeconfig", &admin, "--request-timeout", "1s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = cp.cluster.pki.join(".tenantctl-lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !lock.exists() {
        assert!(std::time::Instant::now() < deadline, "no lock file");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&lock).unwrap();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&lock).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "{text}");
    assert!(
        text.starts_with(&format!(
            "pid {} (tenantctl pki rotate-ca reissue) since ",
            holder.id()
        )),
        "{text}"
    );
    // A second run is told who holds the lock: the command words, never a flag or a value.
    let second = Command::new(&bin)
        .args(["pki", "init", "--cert-dir", &pki, "--kubeconfig-dir", &etc])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(4), "{err}");
    assert!(err.contains("(tenantctl pki rotate-ca reissue)"), "{err}");
    assert!(
        !err.contains("--kubeconfig") && !err.contains("--request-timeout"),
        "{err}"
    );
    let _ = holder.kill();
    let _ = holder.wait();
    cp.restart_apiserver();
}
