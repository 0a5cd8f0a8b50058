//! `pki check`, `pki renew`, `pki ca-hash` and `pki csr` on the real binary, with openssl as
//! the independent judge.

use std::{
    fs,
    path::Path,
    process::{Command, Output},
};

use pki_core::{Certificate, San};

const BIN: &str = env!("CARGO_BIN_EXE_tenantctl");

fn flags(dir: &Path) -> Vec<String> {
    [
        "--cert-dir",
        &dir.join("pki").display().to_string(),
        "--kubeconfig-dir",
        &dir.display().to_string(),
        "--node-name",
        "cp1",
        "--apiserver-advertise-address",
        "10.0.0.10",
    ]
    .map(String::from)
    .to_vec()
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .args(flags(dir))
        .output()
        .unwrap()
}

fn init(alg: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["pki", "init", "--encryption-algorithm", alg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    dir
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn cert(dir: &Path, rel: &str) -> Certificate {
    Certificate::from_pem(&fs::read_to_string(dir.join("pki").join(rel)).unwrap()).unwrap()
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push((p.display().to_string(), fs::read(&p).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn ca_hash_equals_the_openssl_pipeline() {
    for alg in ["RSA-2048", "ECDSA-P256"] {
        let dir = init(alg);
        let ca = dir.path().join("pki/ca.crt");
        let ours = Command::new(BIN)
            .args(["pki", "ca-hash", "--ca-cert"])
            .arg(&ca)
            .output()
            .unwrap();
        assert!(ours.status.success());
        // kubeadm's documented pipeline (spec §3.5), with `pkey` so it works for EC keys too.
        let pubkey = dir.path().join("ca.pub");
        fs::write(
            &pubkey,
            openssl(&["x509", "-pubkey", "-noout", "-in", ca.to_str().unwrap()]),
        )
        .unwrap();
        let der = dir.path().join("ca.pub.der");
        openssl(&[
            "pkey",
            "-pubin",
            "-in",
            pubkey.to_str().unwrap(),
            "-outform",
            "der",
            "-out",
            der.to_str().unwrap(),
        ]);
        let digest = openssl(&["dgst", "-sha256", "-hex", der.to_str().unwrap()]);
        let hex = digest.trim().rsplit(' ').next().unwrap();
        assert_eq!(text(&ours.stdout).trim(), format!("sha256:{hex}"), "{alg}");
        let by_dir = Command::new(BIN)
            .args(["pki", "ca-hash", "--cert-dir"])
            .arg(dir.path().join("pki"))
            .output()
            .unwrap();
        assert_eq!(by_dir.stdout, ours.stdout);
    }
}

#[test]
fn check_exit_codes_json_and_prometheus() {
    let dir = init("ECDSA-P256");
    let ok = run(dir.path(), &["pki", "check"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let table = text(&ok.stdout);
    assert!(table.starts_with("CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED\nadmin.conf "), "{table}");
    assert!(table.contains("\nca                      "), "{table}");

    let soon = run(dir.path(), &["pki", "check", "--warn-within", "400d"]);
    assert_eq!(soon.status.code(), Some(1));
    assert!(
        text(&soon.stderr).contains("12 expire(s) within 400d"),
        "{}",
        text(&soon.stderr)
    );
    assert_eq!(
        run(dir.path(), &["pki", "check", "--warn-within", "300d"])
            .status
            .code(),
        Some(0)
    );

    let prom = dir.path().join("pki.prom");
    let json = run(
        dir.path(),
        &[
            "pki",
            "check",
            "-o",
            "json",
            "--prometheus-textfile",
            prom.to_str().unwrap(),
        ],
    );
    assert_eq!(json.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        schema(&v),
        include_str!("snapshots/pki-check-schema.txt").trim(),
        "the JSON schema is stable"
    );
    let metrics = fs::read_to_string(&prom).unwrap();
    assert!(metrics.contains("# TYPE tenantctl_certificate_expiration_timestamp_seconds gauge\n"));
    let apiserver = cert(dir.path(), "apiserver.crt");
    let secs = apiserver
        .not_after()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        metrics.contains(&format!(
            "{{name=\"apiserver\",path=\"{}\",authority=\"ca\"}} {secs}\n",
            dir.path().join("pki/apiserver.crt").display()
        )),
        "{metrics}"
    );
    assert!(metrics.contains("tenantctl_certificate_problems{name=\"apiserver\"} 0\n"));

    // A kubeconfig pointing at a host the API server certificate does not name (kubeadm#3267).
    let admin = dir.path().join("admin.conf");
    let original = fs::read_to_string(&admin).unwrap();
    fs::write(
        &admin,
        original.replace("https://10.0.0.10:6443", "https://lb.example.net:6443"),
    )
    .unwrap();
    let moved = run(dir.path(), &["pki", "check"]);
    assert_eq!(moved.status.code(), Some(2));
    assert!(text(&moved.stdout).contains("admin.conf: server https://lb.example.net:6443: lb.example.net is not among the API server certificate's SANs"), "{}", text(&moved.stdout));
    fs::write(&admin, original).unwrap();

    // Missing, truncated and foreign files: exit 2, each named.
    fs::remove_file(dir.path().join("scheduler.conf")).unwrap();
    let key = fs::read_to_string(dir.path().join("pki/front-proxy-client.key")).unwrap();
    fs::write(
        dir.path().join("pki/front-proxy-client.key"),
        &key[..key.len() / 2],
    )
    .unwrap();
    fs::copy(
        dir.path().join("pki/etcd/peer.crt"),
        dir.path().join("pki/etcd/server.crt"),
    )
    .unwrap();
    let bad = run(dir.path(), &["pki", "check"]);
    assert_eq!(bad.status.code(), Some(2));
    let out = text(&bad.stdout);
    assert!(out.contains("scheduler.conf             MISSING"), "{out}");
    assert!(out.contains("  front-proxy-client: "), "{out}");
    assert!(out.contains("  etcd-server: "), "{out}");
    assert!(
        text(&bad.stderr).contains("3 item(s) missing or failing their checks"),
        "{}",
        text(&bad.stderr)
    );
}

/// The JSON document's shape: every key path with its JSON type, one per line.
fn schema(v: &serde_json::Value) -> String {
    fn walk(v: &serde_json::Value, path: &str, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    walk(v, &format!("{path}.{k}"), out);
                }
            }
            serde_json::Value::Array(a) => {
                out.insert(format!("{path}[] array"));
                for v in a {
                    walk(v, &format!("{path}[]"), out);
                }
            }
            other => {
                let t = match other {
                    serde_json::Value::String(_) => "string",
                    serde_json::Value::Number(_) => "number",
                    serde_json::Value::Bool(_) => "bool",
                    _ => "null",
                };
                out.insert(format!("{path} {t}"));
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(v, "", &mut out);
    out.into_iter().collect::<Vec<_>>().join("\n")
}

#[test]
fn renew_keeps_identity_and_adds_sans_verified_by_openssl() {
    let dir = init("ECDSA-P256");
    let before = cert(dir.path(), "apiserver.crt");
    let old_key = fs::read(dir.path().join("pki/apiserver.key")).unwrap();
    let out = run(
        dir.path(),
        &[
            "pki",
            "renew",
            "apiserver",
            "--add-san",
            "api.example.com,203.0.113.7",
            "--remove-san",
            "10.96.0.1",
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(
        plan.contains("+ SAN api.example.com\n")
            && plan.contains("+ SAN 203.0.113.7\n")
            && plan.contains("- SAN 10.96.0.1\n"),
        "{plan}"
    );
    assert_eq!(
        cert(dir.path(), "apiserver.crt").der(),
        before.der(),
        "dry run writes nothing"
    );

    let out = run(
        dir.path(),
        &[
            "pki",
            "renew",
            "apiserver",
            "--add-san",
            "api.example.com,203.0.113.7",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("note: restart kube-apiserver"),
        "{}",
        text(&out.stderr)
    );
    let after = cert(dir.path(), "apiserver.crt");
    assert_ne!(after.serial_hex(), before.serial_hex());
    assert_ne!(
        fs::read(dir.path().join("pki/apiserver.key")).unwrap(),
        old_key,
        "a new key by default"
    );
    // Identity and SANs as openssl reads them.
    let pki = dir.path().join("pki");
    let crt = pki.join("apiserver.crt");
    let subject = openssl(&[
        "x509",
        "-in",
        crt.to_str().unwrap(),
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
    ]);
    assert_eq!(subject.trim(), "subject=CN=kube-apiserver");
    let sans = openssl(&[
        "x509",
        "-in",
        crt.to_str().unwrap(),
        "-noout",
        "-ext",
        "subjectAltName",
    ]);
    for want in [
        "DNS:api.example.com",
        "DNS:kubernetes.default.svc.cluster.local",
        "DNS:cp1",
        "IP Address:203.0.113.7",
        "IP Address:10.96.0.1",
        "IP Address:10.0.0.10",
    ] {
        assert!(sans.contains(want), "{want} in {sans}");
    }
    let mut expected = before.sans();
    expected.push(San::Dns("api.example.com".into()));
    expected.push(San::Ip("203.0.113.7".parse().unwrap()));
    let mut got = after.sans();
    expected.sort_by_key(ToString::to_string);
    got.sort_by_key(ToString::to_string);
    assert_eq!(got, expected);
    let verify = openssl(&[
        "verify",
        "-x509_strict",
        "-purpose",
        "sslserver",
        "-CAfile",
        pki.join("ca.crt").to_str().unwrap(),
        crt.to_str().unwrap(),
    ]);
    assert!(verify.contains(": OK"), "{verify}");
    let check = run(dir.path(), &["pki", "check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
}

#[test]
fn renew_all_keeps_every_identity_and_refreshes_kubeconfigs() {
    let dir = init("RSA-2048");
    let before: Vec<(String, Certificate)> = [
        "apiserver-kubelet-client",
        "front-proxy-client",
        "etcd/peer",
        "apiserver-etcd-client",
    ]
    .iter()
    .map(|n| (n.to_string(), cert(dir.path(), &format!("{n}.crt"))))
    .collect();
    let admin_before = fs::read_to_string(dir.path().join("admin.conf")).unwrap();
    let out = run(dir.path(), &["pki", "renew", "all", "--reuse-key"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("11 renewed."), "{stdout}");
    assert!(
        text(&out.stderr).contains(
            "note: restart etcd, kube-apiserver, kube-controller-manager, kube-scheduler to load"
        ),
        "{}",
        text(&out.stderr)
    );
    for (name, old) in &before {
        let new = cert(dir.path(), &format!("{name}.crt"));
        assert_ne!(new.serial_hex(), old.serial_hex(), "{name}");
        assert_eq!(
            (
                new.common_name(),
                new.organizations(),
                new.sans(),
                new.ext_key_usages()
            ),
            (
                old.common_name(),
                old.organizations(),
                old.sans(),
                old.ext_key_usages()
            ),
            "{name}"
        );
        assert_eq!(
            new.public_key_der().unwrap(),
            old.public_key_der().unwrap(),
            "--reuse-key"
        );
    }
    let admin = fs::read_to_string(dir.path().join("admin.conf")).unwrap();
    assert_ne!(admin, admin_before);
    let kc = kubeconfig::Kubeconfig::from_yaml(&admin).unwrap();
    let v = kc
        .current()
        .unwrap()
        .validate(std::time::SystemTime::now())
        .unwrap();
    let client = v.client_certificate.unwrap();
    assert_eq!(client.common_name().as_deref(), Some("kubernetes-admin"));
    assert_eq!(client.organizations(), ["kubeadm:cluster-admins"]);
    assert_eq!(run(dir.path(), &["pki", "check"]).status.code(), Some(0));
    // CAs are refused, and unknown names too.
    let ca = run(dir.path(), &["pki", "renew", "ca"]);
    assert_eq!(ca.status.code(), Some(2));
    assert!(
        text(&ca.stderr).contains("ca is a CA; CAs are not renewed here"),
        "{}",
        text(&ca.stderr)
    );
    assert_eq!(
        run(dir.path(), &["pki", "renew", "apiservr"]).status.code(),
        Some(2)
    );
}

#[test]
fn renew_with_an_external_or_expired_ca_changes_nothing() {
    let dir = init("ECDSA-P256");
    fs::remove_file(dir.path().join("pki/ca.key")).unwrap();
    let before = tree(dir.path());
    let out = run(dir.path(), &["pki", "renew", "apiserver"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("ca.key is absent (external CA): apiserver cannot be renewed here"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(tree(dir.path()), before);

    let dir = tempfile::tempdir().unwrap();
    let init = run(
        dir.path(),
        &[
            "pki",
            "init",
            "--encryption-algorithm",
            "ECDSA-P256",
            "--ca-validity",
            "1s",
            "--cert-validity",
            "1s",
        ],
    );
    assert!(init.status.success(), "{}", text(&init.stderr));
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let before = tree(dir.path());
    let out = run(dir.path(), &["pki", "renew", "all"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("the CA \"kubernetes\" has expired"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(tree(dir.path()), before);
    let check = run(dir.path(), &["pki", "check"]);
    assert_eq!(check.status.code(), Some(2));
    assert!(
        text(&check.stdout).contains("<invalid>"),
        "{}",
        text(&check.stdout)
    );
}

#[test]
fn csr_writes_keys_and_requests_openssl_verifies_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["pki", "csr", "--encryption-algorithm", "ECDSA-P256"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pki = dir.path().join("pki");
    for (csr, subject) in [
        (pki.join("apiserver.csr"), "subject=CN=kube-apiserver"),
        (
            pki.join("apiserver-kubelet-client.csr"),
            "subject=CN=kube-apiserver-kubelet-client,O=kubeadm:cluster-admins",
        ),
        (pki.join("etcd/server.csr"), "subject=CN=cp1"),
        (
            dir.path().join("admin.conf.csr"),
            "subject=CN=kubernetes-admin,O=kubeadm:cluster-admins",
        ),
        (
            dir.path().join("kubelet.conf.csr"),
            "subject=CN=system:node:cp1,O=system:nodes",
        ),
    ] {
        let p = csr.to_str().unwrap();
        let verified = Command::new("openssl")
            .args(["req", "-in", p, "-noout", "-verify"])
            .output()
            .unwrap();
        // OpenSSL 3.0 exits 0 even on a bad signature; the text is what counts.
        assert!(
            text(&verified.stderr).contains("verify OK")
                || text(&verified.stdout).contains("verify OK"),
            "{p}"
        );
        assert_eq!(
            openssl(&["req", "-in", p, "-noout", "-subject", "-nameopt", "RFC2253"]).trim(),
            subject,
            "{p}"
        );
    }
    let sans = openssl(&[
        "req",
        "-in",
        pki.join("apiserver.csr").to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(
        sans.contains("DNS:kubernetes.default.svc") && sans.contains("IP Address:10.0.0.10"),
        "{sans}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        fs::metadata(pki.join("apiserver.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(
        !pki.join("ca.csr").exists() && !pki.join("ca.key").exists(),
        "no CA requests"
    );
    let before = tree(dir.path());
    let again = run(
        dir.path(),
        &["pki", "csr", "--encryption-algorithm", "ECDSA-P256"],
    );
    assert_eq!(again.status.code(), Some(3));
    assert_eq!(tree(dir.path()), before);
}

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/kubeadm/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `--config` only (plus the directories): the file decides everything else.
fn with_config(dir: &Path, args: &[&str], config: &str) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["--config", &fixture(config), "--cert-dir"])
        .arg(dir.join("pki"))
        .arg("--kubeconfig-dir")
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn kubeadm_v1beta4_config_drives_init_check_and_renew() {
    let dir = tempfile::tempdir().unwrap();
    let out = with_config(dir.path(), &["pki", "init"], "v1beta4-full.yaml");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let api = cert(dir.path(), "apiserver.crt");
    let sans: Vec<String> = api.sans().iter().map(ToString::to_string).collect();
    for want in [
        "cp-1.example.internal",
        "kubernetes.default.svc.cluster.example",
        "api.example.com",
        "*.api.example.com",
        "10.96.0.1",
        "fd00:10:96::1",
        "fd00:10:100::1",
        "fd00:10:100::100",
        "10.100.1.1",
    ] {
        assert!(sans.iter().any(|s| s == want), "{want} in {sans:?}");
    }
    assert_eq!(
        api.key_algorithm().unwrap(),
        pki_core::KeyAlgorithm::EcdsaP384
    );
    let days = |c: &Certificate| {
        c.not_after()
            .duration_since(c.not_before())
            .unwrap()
            .as_secs()
            / 86_400
    };
    assert_eq!(days(&api), 90, "certificateValidityPeriod 2160h");
    assert_eq!(
        days(&cert(dir.path(), "ca.crt")),
        7300,
        "caCertificateValidityPeriod 175200h"
    );
    let etcd = cert(dir.path(), "etcd/server.crt");
    assert!(
        etcd.sans()
            .contains(&San::Dns("etcd.example.internal".into()))
    );
    let admin = fs::read_to_string(dir.path().join("admin.conf")).unwrap();
    assert!(
        admin.contains("server: https://[fd00:10:100::100]:6443"),
        "{admin}"
    );
    assert!(
        admin.contains("kubernetes-admin@example-cluster"),
        "{admin}"
    );

    let check = with_config(dir.path(), &["pki", "check"], "v1beta4-full.yaml");
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    // A flag overrides the file: a new node name is a SAN the current certificate lacks.
    let mut moved = Command::new(BIN);
    moved
        .args([
            "pki",
            "check",
            "--node-name",
            "cp-2",
            "--config",
            &fixture("v1beta4-full.yaml"),
            "--cert-dir",
        ])
        .arg(dir.path().join("pki"))
        .arg("--kubeconfig-dir")
        .arg(dir.path());
    let moved = moved.output().unwrap();
    assert_eq!(moved.status.code(), Some(2));
    assert!(
        text(&moved.stdout).contains("cp-2"),
        "{}",
        text(&moved.stdout)
    );
    let renew = with_config(
        dir.path(),
        &["pki", "renew", "apiserver", "--dry-run"],
        "v1beta4-full.yaml",
    );
    assert!(renew.status.success(), "{}", text(&renew.stderr));
    assert!(
        !text(&renew.stdout).contains("SAN"),
        "the config's SANs are the certificate's: {}",
        text(&renew.stdout)
    );
}

#[test]
fn kubeadm_v1beta3_config_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = with_config(dir.path(), &["pki", "init"], "v1beta3-full.yaml");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let api = cert(dir.path(), "apiserver.crt");
    assert!(api.sans().contains(&San::Dns("ec2-10-100-0-1".into())));
    assert!(api.sans().contains(&San::Ip("10.100.0.1".parse().unwrap())));

    let bad = dir.path().join("bad.yaml");
    fs::write(&bad, "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  serviceSubnet: 10.96.0.0/33\n").unwrap();
    let out = Command::new(BIN)
        .args(["pki", "init", "--config"])
        .arg(&bad)
        .arg("--cert-dir")
        .arg(dir.path().join("new"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("invalid --config: ")
            && err.contains(
                "ClusterConfiguration.networking.serviceSubnet: \"10.96.0.0/33\" is not a CIDR"
            ),
        "{err}"
    );
    assert!(!dir.path().join("new").exists());
}

/// `pki check` with only the directories, on a PKI made with other flags than this host would
/// give (another node name and address, an HA endpoint, another service CIDR and DNS domain):
/// the identity comes from the PKI itself, so nothing is falsely reported — and a real problem
/// still is.
#[test]
fn check_without_flags_takes_the_identity_from_the_pki() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = Command::new(BIN)
        .args(["pki", "init", "--encryption-algorithm", "ECDSA-P256"])
        .args(flags(d))
        .args([
            "--control-plane-endpoint",
            "vip.example.com:8443",
            "--service-cidr",
            "10.100.0.0/16,fd00:10:96::/112",
            "--service-dns-domain",
            "corp.internal",
            "--apiserver-cert-extra-sans",
            "203.0.113.7",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dirs = [
        "--cert-dir".to_owned(),
        d.join("pki").display().to_string(),
        "--kubeconfig-dir".to_owned(),
        d.display().to_string(),
    ];
    let check = Command::new(BIN)
        .args(["pki", "check"])
        .args(&dirs)
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
    let note = text(&check.stderr);
    assert!(
        note.contains("node name cp1 from etcd/server.crt")
            && note.contains("advertise address 10.0.0.10:6443 from controller-manager.conf")
            && note.contains("control-plane endpoint https://vip.example.com:8443 from admin.conf"),
        "{note}"
    );
    // A real problem is still one.
    fs::remove_file(d.join("pki/front-proxy-client.crt")).unwrap();
    let bad = Command::new(BIN)
        .args(["pki", "check"])
        .args(&dirs)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
}
