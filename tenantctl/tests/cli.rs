//! The real binary: `pki init` into temporary directories.

use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    process::{Command, Output},
};

const BIN: &str = env!("CARGO_BIN_EXE_tenantctl");

fn init(dir: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args([
            "pki",
            "init",
            "--node-name",
            "cp1",
            "--apiserver-advertise-address",
            "10.0.0.10",
        ])
        .arg("--cert-dir")
        .arg(dir.join("pki"))
        .arg("--kubeconfig-dir")
        .arg(dir)
        .args(extra)
        .output()
        .unwrap()
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            let meta = fs::metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p.clone());
                out.insert(p, (Vec::new(), meta.mode() & 0o7777));
            } else {
                out.insert(p.clone(), (fs::read(&p).unwrap(), meta.mode() & 0o7777));
            }
        }
    }
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn writes_the_kubeadm_layout_with_modes_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let out = init(dir.path(), &["--encryption-algorithm", "ECDSA-P256"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("apiserver serving cert is signed for DNS names [cp1 kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local] and IPs [10.96.0.1 10.0.0.10]"), "{stdout}");
    let snap = snapshot(dir.path());
    let rel = |p: &Path| p.strip_prefix(dir.path()).unwrap().display().to_string();
    let files: BTreeMap<String, u32> = snap.iter().map(|(p, (_, m))| (rel(p), *m)).collect();
    let mut expected: BTreeMap<String, u32> = BTreeMap::new();
    for base in [
        "ca",
        "apiserver",
        "apiserver-kubelet-client",
        "front-proxy-ca",
        "front-proxy-client",
        "etcd/ca",
        "etcd/server",
        "etcd/peer",
        "etcd/healthcheck-client",
        "apiserver-etcd-client",
    ] {
        expected.insert(format!("pki/{base}.crt"), 0o644);
        expected.insert(format!("pki/{base}.key"), 0o600);
    }
    expected.insert("pki/sa.key".into(), 0o600);
    expected.insert("pki/sa.pub".into(), 0o600);
    for kc in [
        "admin.conf",
        "super-admin.conf",
        "controller-manager.conf",
        "scheduler.conf",
        "kubelet.conf",
    ] {
        expected.insert(kc.into(), 0o600);
    }
    expected.insert("pki".into(), 0o755);
    expected.insert("pki/etcd".into(), 0o755);
    assert_eq!(files, expected);
    assert!(
        stdout.lines().filter(|l| l.contains("generated")).count() >= 27,
        "{stdout}"
    );

    let again = init(dir.path(), &["--encryption-algorithm", "ECDSA-P256"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(snapshot(dir.path()), snap, "a second run changed something");
    let stdout = String::from_utf8(again.stdout).unwrap();
    assert!(!stdout.contains("generated"), "{stdout}");
}

#[test]
fn dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = init(dir.path(), &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("would generate")
    );
    assert!(snapshot(dir.path()).is_empty());
}

#[test]
fn bad_flags_are_one_clear_line_and_write_nothing() {
    let cases: [(&[&str], &str); 8] = [
        (
            &["--apiserver-advertise-address", "not-an-ip"],
            "--apiserver-advertise-address",
        ),
        (&["--service-cidr", "10.96.0.0/33"], "10.96.0.0/33"),
        (&["--apiserver-cert-extra-sans", "bad san"], "bad san"),
        (&["--encryption-algorithm", "DSA-1024"], "DSA-1024"),
        (&["--node-name", "Bad_Name"], "Bad_Name"),
        (&["--cert-validity", "10y"], "10y"),
        // A leading '-' is the flag's value, refused by its own check (not "unexpected
        // argument '-5'").
        (
            &["--cert-validity", "-5h"],
            "\"-5h\" is negative; a duration must be positive",
        ),
        (&["--ca-validity=-1d"], "\"-1d\" is negative"),
    ];
    for (flags, culprit) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut base = vec!["pki", "init"];
        for (flag, value) in [
            ("--node-name", "cp1"),
            ("--apiserver-advertise-address", "10.0.0.10"),
        ] {
            if !flags.contains(&flag) {
                base.extend([flag, value]);
            }
        }
        let out = Command::new(BIN)
            .args(base)
            .arg("--cert-dir")
            .arg(dir.path().join("pki"))
            .arg("--kubeconfig-dir")
            .arg(dir.path())
            .args(flags)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(culprit),
            "{flags:?}: {}",
            stderr(&out)
        );
        assert!(snapshot(dir.path()).is_empty(), "{flags:?} wrote something");
    }
}

#[test]
fn damaged_pki_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        init(dir.path(), &["--encryption-algorithm", "ECDSA-P256"])
            .status
            .success()
    );
    let other = tempfile::tempdir().unwrap();
    assert!(
        init(other.path(), &["--encryption-algorithm", "ECDSA-P256"])
            .status
            .success()
    );
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "pki/ca.key",
            fs::read(other.path().join("pki/ca.key")).unwrap(),
            "ca.key: does not belong to ca.crt",
        ),
        (
            "pki/ca.crt",
            b"garbage".to_vec(),
            "ca.crt: cannot be read as a certificate",
        ),
        (
            "pki/apiserver.key",
            b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n".to_vec(),
            "apiserver.key: cannot be read as a private key",
        ),
    ];
    for (file, bytes, message) in cases {
        let path = dir.path().join(file);
        let original = fs::read(&path).unwrap();
        fs::write(&path, &bytes).unwrap();
        let before = snapshot(dir.path());
        let out = init(dir.path(), &["--encryption-algorithm", "ECDSA-P256"]);
        assert_eq!(out.status.code(), Some(3), "{file}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{file}: {}", stderr(&out));
        assert_eq!(snapshot(dir.path()), before, "{file}: something changed");
        fs::write(&path, original).unwrap();
    }
    // A missing SAN on the existing apiserver certificate.
    let out = init(
        dir.path(),
        &[
            "--encryption-algorithm",
            "ECDSA-P256",
            "--apiserver-cert-extra-sans",
            "new.example.com",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("apiserver.crt: is not valid for new.example.com"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn external_ca_keeps_everything_and_generates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        init(dir.path(), &["--encryption-algorithm", "ECDSA-P256"])
            .status
            .success()
    );
    fs::remove_file(dir.path().join("pki/ca.key")).unwrap();
    let before = snapshot(dir.path());
    let out = init(dir.path(), &["--encryption-algorithm", "ECDSA-P256"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("kept external")
    );
    assert_eq!(snapshot(dir.path()), before);
    fs::remove_file(dir.path().join("pki/apiserver.crt")).unwrap();
    fs::remove_file(dir.path().join("pki/apiserver.key")).unwrap();
    let out = init(dir.path(), &["--encryption-algorithm", "ECDSA-P256"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("apiserver.crt: is missing; the ca CA is external"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unwritable_directory_is_a_clear_error() {
    if nix_is_root() {
        // root bypasses directory permissions; the check below would not fail as a user's would.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        // A regular file where the PKI directory should be fails for root too.
        let out = Command::new(BIN)
            .args([
                "pki",
                "init",
                "--node-name",
                "cp1",
                "--apiserver-advertise-address",
                "10.0.0.10",
                "--encryption-algorithm",
                "ECDSA-P256",
            ])
            .arg("--cert-dir")
            .arg(file.join("pki"))
            .arg("--kubeconfig-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains("file/pki"), "{}", stderr(&out));
        assert_eq!(snapshot(dir.path()).len(), 1, "something was written");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o555)).unwrap();
    let out = init(dir.path(), &["--encryption-algorithm", "ECDSA-P256"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot write"), "{}", stderr(&out));
}

fn nix_is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn create(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .arg("create")
        .args(args)
        .args(["--offline", "--cert-dir", "pki"])
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

#[test]
fn offline_create_writes_three_files_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        init(dir.path(), &["--encryption-algorithm", "ECDSA-P256"])
            .status
            .success()
    );
    let before = snapshot(dir.path());

    let dry = create(dir.path(), &["alice", "--role", "view", "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(String::from_utf8_lossy(&dry.stdout).contains("kind: ClusterRoleBinding"));
    assert_eq!(snapshot(dir.path()), before, "--dry-run writes nothing");

    let out = create(dir.path(), &["alice", "--role", "view", "--group", "dev"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("server https://10.0.0.10:6443"), "{stdout}");
    assert!(
        stderr(&out).contains("warning: groups dev are baked into the certificate"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stdout.contains("warning"),
        "warnings go to stderr: {stdout}"
    );
    let mode = |name: &str| fs::metadata(dir.path().join(name)).unwrap().mode() & 0o777;
    assert_eq!(mode("alice.kubeconfig"), 0o600);
    assert_eq!(mode("alice-rbac.yaml"), 0o644);
    assert_eq!(mode("alice-tenant.yaml"), 0o644);
    let kc = fs::read_to_string(dir.path().join("alice.kubeconfig")).unwrap();
    assert!(!stdout.contains("PRIVATE KEY") && !stderr(&out).contains("PRIVATE KEY"));
    let after = snapshot(dir.path());

    // Again: the kubeconfig exists; exit 3, nothing changed.
    let again = create(dir.path(), &["alice", "--role", "view"]);
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("alice.kubeconfig already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(snapshot(dir.path()), after);

    // --force replaces all three, atomically, with a new certificate.
    let forced = create(dir.path(), &["alice", "--role", "view", "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_ne!(
        fs::read_to_string(dir.path().join("alice.kubeconfig")).unwrap(),
        kc
    );
    assert_eq!(mode("alice.kubeconfig"), 0o600);
}

#[test]
fn guardrails_and_bad_names_exit_2_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        init(dir.path(), &["--encryption-algorithm", "ECDSA-P256"])
            .status
            .success()
    );
    let before = snapshot(dir.path());
    for (args, message) in [
        (
            &["alice", "--role", "view", "--group", "system:masters"][..],
            "refusing group \"system:masters\"",
        ),
        (
            &["system:kube-proxy", "--role", "view"],
            "refusing user name \"system:kube-proxy\"",
        ),
        (
            &["", "--role", "view"],
            "invalid user name: must not be empty",
        ),
        (
            &["al\tice", "--role", "view"],
            "contains control characters",
        ),
        (&["alice", "--role", "Role/x"], "is namespaced"),
        (
            &["alice", "--role", "view", "-n", "Team_A"],
            "is not a namespace name",
        ),
        (
            &["alice", "--role", "view", "--auth", "token", "-n", "ci"],
            "--auth token cannot be offline",
        ),
    ] {
        let out = create(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(snapshot(dir.path()), before);

    let forced = create(
        dir.path(),
        &[
            "root",
            "--role",
            "view",
            "--group",
            "system:masters",
            "--allow-privileged",
            "--ttl",
            "400d",
        ],
    );
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stderr(&forced).contains("warning: --ttl 400d is longer than a year"));
    assert!(!String::from_utf8_lossy(&forced.stdout).contains("longer than a year"));
}

#[test]
fn cluster_admin_cluster_wide_needs_allow_privileged() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        init(dir.path(), &["--encryption-algorithm", "ECDSA-P256"])
            .status
            .success()
    );
    for role in ["cluster-admin", "admin", "edit"] {
        let out = create(dir.path(), &["eve", "--role", role]);
        assert_eq!(out.status.code(), Some(2), "{role}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(
                "refusing a cluster-wide binding of ClusterRole/{role} (the built-in ClusterRole {role} grants it)"
            )),
            "{}",
            stderr(&out)
        );
        assert!(!dir.path().join("eve.kubeconfig").exists());
    }
    // Namespaced admin/edit is the normal tenant case.
    let ns = create(dir.path(), &["eve", "--role", "edit", "-n", "team-a"]);
    assert!(ns.status.success(), "{}", stderr(&ns));
    let forced = create(
        dir.path(),
        &["root", "--role", "cluster-admin", "--allow-privileged"],
    );
    assert!(forced.status.success(), "{}", stderr(&forced));
}

#[test]
fn offline_create_without_a_usable_ca_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("pki")).unwrap();
    fs::write(dir.path().join("pki/ca.crt"), "garbage").unwrap();
    let out = create(
        dir.path(),
        &[
            "alice",
            "--role",
            "view",
            "--server",
            "https://10.0.0.10:6443",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("ca.key"), "{}", stderr(&out));
    assert!(!dir.path().join("alice.kubeconfig").exists());
}

#[test]
fn a_server_outside_the_apiserver_sans_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        init(dir.path(), &["--encryption-algorithm", "ECDSA-P256"])
            .status
            .success()
    );
    let out = create(
        dir.path(),
        &[
            "alice",
            "--role",
            "view",
            "--server",
            "https://lb.example.net:443",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("warning: lb.example.net is not among the API server certificate's SANs"),
        "{}",
        stderr(&out)
    );
    let covered = create(
        dir.path(),
        &[
            "bob",
            "--role",
            "view",
            "--server",
            "https://kubernetes.default.svc:6443",
        ],
    );
    assert!(covered.status.success(), "{}", stderr(&covered));
    assert!(!stderr(&covered).contains("SANs"), "{}", stderr(&covered));
}

#[test]
fn csr_out_then_an_offline_ca_signs_then_create_imports_it() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        init(dir.path(), &["--encryption-algorithm", "ECDSA-P256"])
            .status
            .success()
    );
    let csr = Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "create",
            "alice",
            "--role",
            "view",
            "--group",
            "dev",
            "--csr-out",
            "alice.csr",
        ])
        .output()
        .unwrap();
    assert!(csr.status.success(), "{}", stderr(&csr));
    assert_eq!(
        fs::metadata(dir.path().join("alice.key")).unwrap().mode() & 0o777,
        0o600
    );
    // The offline CA: openssl, as the printed instructions say.
    let ext = dir.path().join("ext.cnf");
    fs::write(
        &ext,
        "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n",
    )
    .unwrap();
    let signed = Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "x509",
            "-req",
            "-in",
            "alice.csr",
            "-CA",
            "pki/ca.crt",
            "-CAkey",
            "pki/ca.key",
            "-days",
            "7",
            "-extfile",
            "ext.cnf",
            "-out",
            "alice.crt",
        ])
        .output()
        .expect("openssl is installed");
    assert!(signed.status.success(), "{}", stderr(&signed));
    let again = Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "create",
            "alice",
            "--role",
            "view",
            "--csr-out",
            "alice.csr",
        ])
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(3),
        "never overwrites: {}",
        stderr(&again)
    );

    let wrong = create(
        dir.path(),
        &[
            "alice",
            "--role",
            "view",
            "--cert",
            "alice.crt",
            "--key",
            "pki/apiserver.key",
        ],
    );
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("is not the certificate of pki/apiserver.key"),
        "{}",
        stderr(&wrong)
    );
    let other = create(
        dir.path(),
        &[
            "bob",
            "--role",
            "view",
            "--cert",
            "alice.crt",
            "--key",
            "alice.key",
        ],
    );
    assert!(
        stderr(&other).contains("not the tenant's CN=\"bob\""),
        "{}",
        stderr(&other)
    );

    let out = create(
        dir.path(),
        &[
            "alice",
            "--role",
            "view",
            "--group",
            "dev",
            "--cert",
            "alice.crt",
            "--key",
            "alice.key",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let kc = kubeconfig::Kubeconfig::from_yaml(
        &fs::read_to_string(dir.path().join("alice.kubeconfig")).unwrap(),
    )
    .unwrap();
    let v = kc
        .current()
        .unwrap()
        .validate(std::time::SystemTime::now())
        .unwrap();
    assert_eq!(
        v.client_certificate.unwrap().der(),
        pki_core::Certificate::from_pem(&fs::read_to_string(dir.path().join("alice.crt")).unwrap())
            .unwrap()
            .der()
    );
    assert!(
        fs::read_to_string(dir.path().join("alice-tenant.yaml"))
            .unwrap()
            .contains("\"signer\": \"external\"")
    );
}
