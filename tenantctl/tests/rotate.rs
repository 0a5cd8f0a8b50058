//! `pki rotate-ca` on the real binary, offline (`--skip-tenants`), with openssl judging every
//! chain: each step for every CA, each step twice (the second run writes nothing), abort from
//! each phase, and each refusal. The whole sequence over TLS with tenants is in
//! `tests/e2e/rotate.rs`; kill -9 in each step is in `tests/crash.rs`.

use std::{
    fs,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use pki_core::{Certificate, PrivateKey};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tenantctl");

/// The leaves under each CA, as `(ca.crt, leaf bases)`.
const CHAINS: [(&str, &[&str]); 3] = [
    ("ca", &["apiserver", "apiserver-kubelet-client"]),
    ("front-proxy-ca", &["front-proxy-client"]),
    (
        "etcd/ca",
        &[
            "etcd/server",
            "etcd/peer",
            "etcd/healthcheck-client",
            "apiserver-etcd-client",
        ],
    ),
];
const KUBECONFIGS: [&str; 5] = [
    "admin.conf",
    "super-admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
    "kubelet.conf",
];

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
        .env_remove("KUBECONFIG")
        .env("HOME", dir)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `pki rotate-ca STEP --ca CA --skip-tenants -o json`, which must succeed.
fn step(dir: &Path, step: &str, ca: &str) -> Value {
    let out = run(
        dir,
        &[
            "pki",
            "rotate-ca",
            step,
            "--ca",
            ca,
            "--skip-tenants",
            "-o",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "rotate-ca {step} --ca {ca}: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

/// A refused step: its exit code and stderr.
fn refused(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut argv = vec!["pki", "rotate-ca"];
    argv.extend_from_slice(args);
    let out = run(dir, &argv);
    assert!(!out.status.success(), "{args:?} should be refused");
    (out.status.code().unwrap_or(-1), text(&out.stderr))
}

fn init() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["pki", "init", "--encryption-algorithm", "ECDSA-P256"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    dir
}

fn pki(dir: &Path, rel: &str) -> PathBuf {
    dir.join("pki").join(rel)
}

fn certs(path: &Path) -> Vec<Certificate> {
    Certificate::chain_from_pem(&fs::read_to_string(path).unwrap()).unwrap()
}

/// openssl's verdict on `leaf` against the CA file `ca`.
fn verifies(ca: &Path, leaf: &Path) -> bool {
    let out = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(ca)
        .arg(leaf)
        .output()
        .expect("openssl is installed");
    out.status.success()
}

/// Every file under the directory with its bytes (to show that a second run wrote nothing).
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

/// The CA certificate(s) a kubeconfig trusts.
fn kubeconfig_trust(dir: &Path, name: &str) -> Vec<Certificate> {
    let kc =
        kubeconfig::Kubeconfig::from_yaml(&fs::read_to_string(dir.join(name)).unwrap()).unwrap();
    match kc.current().unwrap().ca {
        kubeconfig::ClusterCa::Embedded(pem) => Certificate::chain_from_pem(&pem).unwrap(),
        other => panic!("{name}: {other:?}"),
    }
}

fn kubeconfig_client(dir: &Path, name: &str) -> Certificate {
    let kc =
        kubeconfig::Kubeconfig::from_yaml(&fs::read_to_string(dir.join(name)).unwrap()).unwrap();
    match kc.current().unwrap().credentials {
        kubeconfig::Credentials::ClientCertificate { cert_pem, .. } => {
            Certificate::from_pem(&cert_pem).unwrap()
        }
        _ => panic!("{name}: no client certificate"),
    }
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().mode() & 0o777
}

fn check_passes(dir: &Path) -> String {
    let out = run(dir, &["pki", "check"]);
    assert!(
        out.status.success(),
        "pki check: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn each_step_for_every_ca_is_idempotent_and_every_chain_verifies_with_openssl() {
    let dir = init();
    let d = dir.path();
    let old: Vec<Certificate> = CHAINS
        .iter()
        .map(|(ca, _)| certs(&pki(d, &format!("{ca}.crt"))).remove(0))
        .collect();

    // begin: each CA file trusts old then new; the old key still signs every leaf.
    let begun = step(d, "begin", "all");
    assert_eq!(begun["steps"].as_array().map(Vec::len), Some(3), "{begun}");
    let mut new = Vec::new();
    for ((ca, leaves), old) in CHAINS.iter().zip(&old) {
        let bundle = certs(&pki(d, &format!("{ca}.crt")));
        assert_eq!(bundle.len(), 2, "{ca}.crt");
        assert_eq!(&bundle[0], old, "{ca}: the old CA first");
        assert_eq!(bundle[1].common_name(), old.common_name(), "same subject");
        assert_ne!(
            bundle[1].subject_key_id(),
            old.subject_key_id(),
            "a new key"
        );
        assert!(bundle[1].is_ca());
        let key = PrivateKey::from_pem(&fs::read_to_string(pki(d, &format!("{ca}.key"))).unwrap())
            .unwrap();
        assert!(
            old.matches_key(&key).unwrap(),
            "{ca}.key is still the old key"
        );
        for leaf in *leaves {
            assert!(
                verifies(
                    &pki(d, &format!("{ca}.crt")),
                    &pki(d, &format!("{leaf}.crt"))
                ),
                "{leaf}"
            );
        }
        new.push(bundle[1].clone());
    }
    for kc in KUBECONFIGS {
        assert_eq!(
            kubeconfig_trust(d, kc),
            vec![old[0].clone(), new[0].clone()],
            "{kc}"
        );
    }
    let rotation = pki(d, "rotation");
    assert_eq!(mode(&rotation), 0o700);
    for ca in ["cluster", "front-proxy", "etcd"] {
        assert_eq!(mode(&rotation.join(ca)), 0o700, "{ca}");
        for key in ["old.key", "new.key"] {
            assert_eq!(mode(&rotation.join(ca).join(key)), 0o600, "{ca}/{key}");
        }
    }
    // kubectl reads a kubeconfig that trusts two CAs.
    let kubectl = Command::new("kubectl")
        .args([
            "config",
            "view",
            "--raw",
            "-o",
            "jsonpath={.clusters[0].cluster.certificate-authority-data}",
            "--kubeconfig",
        ])
        .arg(d.join("admin.conf"))
        .output()
        .expect("kubectl is installed");
    assert!(kubectl.status.success(), "{}", text(&kubectl.stderr));
    let report = check_passes(d);
    assert!(report.contains("CA ROTATION IN PROGRESS"), "{report}");
    // pki init reuses every file of a PKI mid-rotation (kubeconfigs trusting the bundle).
    let again = run(d, &["pki", "init", "-o", "json"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    let files = again["files"].as_array().unwrap();
    assert!(files.iter().all(|f| f["action"] == "reused"), "{again}");
    let status: Value = serde_json::from_slice(
        &run(
            d,
            &[
                "pki",
                "rotate-ca",
                "status",
                "--ca",
                "all",
                "--skip-tenants",
                "-o",
                "json",
            ],
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(status["cas"][0]["phase"], "begun", "{status}");
    let on_old = status["cas"][0]["stillOnOldCa"].to_string();
    assert!(
        on_old.contains("apiserver") && on_old.contains("admin.conf"),
        "{status}"
    );
    let before = tree(d);
    let again = step(d, "begin", "all");
    assert!(
        again["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["written"] == serde_json::json!([])),
        "{again}"
    );
    assert_eq!(tree(d), before, "a second begin changes nothing");

    // reissue: the new key signs; every leaf and kubeconfig client certificate is on the new CA.
    step(d, "reissue", "all");
    for ((ca, leaves), new) in CHAINS.iter().zip(&new) {
        let bundle = certs(&pki(d, &format!("{ca}.crt")));
        assert_eq!(&bundle[0], new, "{ca}: the new CA first");
        let alone = pki(d, &format!("rotation/{}/new.crt", rotation_name(ca)));
        for leaf in *leaves {
            let leaf_path = pki(d, &format!("{leaf}.crt"));
            assert!(verifies(&alone, &leaf_path), "{leaf} from the new CA");
            assert!(
                verifies(&pki(d, &format!("{ca}.crt")), &leaf_path),
                "{leaf} in the bundle"
            );
        }
    }
    for kc in KUBECONFIGS {
        kubeconfig_client(d, kc).verify_signed_by(&new[0]).unwrap();
        assert_eq!(
            kubeconfig_trust(d, kc),
            vec![new[0].clone(), old[0].clone()],
            "{kc}"
        );
    }
    // pki renew during the rotation keeps the kubeconfig's bundle; check still passes.
    let renewed = run(d, &["pki", "renew", "admin.conf"]);
    assert!(renewed.status.success(), "{}", text(&renewed.stderr));
    assert_eq!(
        kubeconfig_trust(d, "admin.conf"),
        vec![new[0].clone(), old[0].clone()]
    );
    kubeconfig_client(d, "admin.conf")
        .verify_signed_by(&new[0])
        .unwrap();
    let apiserver = certs(&pki(d, "apiserver.crt")).remove(0);
    assert!(
        apiserver.sans().len() >= 6,
        "SANs kept: {:?}",
        apiserver.sans()
    );
    check_passes(d);
    let before = tree(d);
    step(d, "reissue", "all");
    assert_eq!(tree(d), before, "a second reissue changes nothing");

    // finish: only the new CA; old key material shredded; a second finish changes nothing.
    let finished = step(d, "finish", "all");
    for s in finished["steps"].as_array().unwrap() {
        assert_eq!(s["shredded"].as_array().map(Vec::len), Some(4), "{s}");
    }
    for ((ca, leaves), new) in CHAINS.iter().zip(&new) {
        assert_eq!(
            certs(&pki(d, &format!("{ca}.crt"))),
            vec![new.clone()],
            "{ca}"
        );
        for leaf in *leaves {
            assert!(
                verifies(
                    &pki(d, &format!("{ca}.crt")),
                    &pki(d, &format!("{leaf}.crt"))
                ),
                "{leaf}"
            );
        }
        let rot = pki(d, &format!("rotation/{}", rotation_name(ca)));
        for f in ["old.key", "old.crt", "new.key", "new.crt"] {
            assert!(!rot.join(f).exists(), "{ca}: {f} left");
        }
    }
    for kc in KUBECONFIGS {
        assert_eq!(kubeconfig_trust(d, kc), vec![new[0].clone()], "{kc}");
    }
    let report = check_passes(d);
    assert!(!report.contains("CA ROTATION IN PROGRESS"), "{report}");
    let before = tree(d);
    step(d, "finish", "all");
    assert_eq!(tree(d), before, "a second finish changes nothing");
    // Nothing to abort after finish.
    let (code, err) = refused(d, &["abort", "--skip-tenants"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("finished"), "{err}");
}

fn rotation_name(ca: &str) -> &'static str {
    match ca {
        "ca" => "cluster",
        "front-proxy-ca" => "front-proxy",
        _ => "etcd",
    }
}

#[test]
fn abort_from_each_phase_puts_the_old_ca_back_alone() {
    for from in ["begin", "reissue"] {
        let dir = init();
        let d = dir.path();
        let old_ca = fs::read(pki(d, "ca.crt")).unwrap();
        let old = certs(&pki(d, "ca.crt")).remove(0);
        step(d, "begin", "all");
        if from == "reissue" {
            step(d, "reissue", "all");
        }
        let aborted = step(d, "abort", "all");
        for s in aborted["steps"].as_array().unwrap() {
            assert_eq!(s["phase"], "aborted", "{s}");
            assert_eq!(
                s["shredded"].as_array().map(Vec::len),
                Some(4),
                "{from}: {s}"
            );
        }
        assert_eq!(
            fs::read(pki(d, "ca.crt")).unwrap(),
            old_ca,
            "{from}: ca.crt as it was"
        );
        let key = PrivateKey::from_pem(&fs::read_to_string(pki(d, "ca.key")).unwrap()).unwrap();
        assert!(
            old.matches_key(&key).unwrap(),
            "{from}: the old key signs again"
        );
        for (ca, leaves) in CHAINS {
            assert_eq!(
                certs(&pki(d, &format!("{ca}.crt"))).len(),
                1,
                "{from}: {ca}"
            );
            for leaf in leaves {
                assert!(
                    verifies(
                        &pki(d, &format!("{ca}.crt")),
                        &pki(d, &format!("{leaf}.crt"))
                    ),
                    "{from}: {leaf}"
                );
            }
        }
        for kc in KUBECONFIGS {
            assert_eq!(kubeconfig_trust(d, kc), vec![old.clone()], "{from}: {kc}");
            kubeconfig_client(d, kc).verify_signed_by(&old).unwrap();
        }
        check_passes(d);
        let before = tree(d);
        step(d, "abort", "all");
        assert_eq!(tree(d), before, "{from}: a second abort changes nothing");
        // A new rotation can begin after an abort.
        step(d, "begin", "cluster");
        assert_eq!(certs(&pki(d, "ca.crt")).len(), 2);
    }
}

#[test]
fn steps_out_of_order_and_unsafe_ones_are_refused_and_change_nothing() {
    let dir = init();
    let d = dir.path();
    // Nothing under way.
    for s in ["reissue", "finish", "abort"] {
        let (code, err) = refused(d, &[s, "--skip-tenants"]);
        assert_eq!(code, 2, "{s}: {err}");
        assert!(
            err.contains("begin") || err.contains("none was begun"),
            "{s}: {err}"
        );
    }
    // A kubeconfig in --kubeconfig-dir that trusts only the old CA blocks reissue.
    fs::copy(d.join("admin.conf"), d.join("ops.conf")).unwrap();
    let saved_apiserver = (
        fs::read(pki(d, "apiserver.crt")).unwrap(),
        fs::read(pki(d, "apiserver.key")).unwrap(),
    );
    step(d, "begin", "cluster");
    let (code, err) = refused(d, &["finish", "--skip-tenants"]);
    assert_eq!(code, 2, "finish before reissue: {err}");
    assert!(err.contains("reissue"), "{err}");
    let before = tree(d);
    let (code, err) = refused(d, &["reissue", "--skip-tenants"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("ops.conf") && err.contains("--force"), "{err}");
    assert_eq!(tree(d), before, "a refused reissue writes nothing");
    // Without --skip-tenants and no cluster to read the records from: a clear error.
    let (code, err) = refused(d, &["reissue"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--skip-tenants"), "{err}");
    // --force goes on, naming what it overrode.
    let out = run(
        d,
        &["pki", "rotate-ca", "reissue", "--skip-tenants", "--force"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--force: reissue goes on although"),
        "{}",
        text(&out.stderr)
    );
    // begin again while reissued is refused.
    let (code, err) = refused(d, &["begin"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already reissued"), "{err}");
    // A leaf put back on the old CA blocks finish, by name.
    fs::write(pki(d, "apiserver.crt"), &saved_apiserver.0).unwrap();
    fs::write(pki(d, "apiserver.key"), &saved_apiserver.1).unwrap();
    let before = tree(d);
    let (code, err) = refused(d, &["finish", "--skip-tenants"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("apiserver ("), "{err}");
    assert_eq!(tree(d), before, "a refused finish writes nothing");
    // reissue again moves it to the new CA; then finish goes through.
    step(d, "reissue", "cluster");
    step(d, "finish", "cluster");
}

#[test]
fn begin_refuses_an_external_ca_and_a_bundle_without_a_rotation() {
    let dir = init();
    let d = dir.path();
    let key = fs::read(pki(d, "front-proxy-ca.key")).unwrap();
    fs::remove_file(pki(d, "front-proxy-ca.key")).unwrap();
    let (code, err) = refused(d, &["begin", "--ca", "front-proxy"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("external CA"), "{err}");
    fs::write(pki(d, "front-proxy-ca.key"), key).unwrap();
    // Two certificates in ca.crt and no state: someone else's bundle.
    let ca = fs::read_to_string(pki(d, "ca.crt")).unwrap();
    let other = fs::read_to_string(pki(d, "front-proxy-ca.crt")).unwrap();
    fs::write(pki(d, "ca.crt"), format!("{ca}{other}")).unwrap();
    let (code, err) = refused(d, &["begin"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("2 certificates but no rotation"), "{err}");
    assert!(!pki(d, "rotation/cluster/state.yaml").exists());
}

/// Copies every file under `from` into `to`, keeping modes.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// HA: a second control-plane node with the same CAs takes the rotation directory from the
/// first and runs the same steps: it converges to the same CA files; a node of another cluster
/// is refused.
#[test]
fn a_second_control_plane_node_follows_with_the_copied_rotation_directory() {
    let first = init();
    let second = tempfile::tempdir().unwrap();
    copy_tree(first.path(), second.path());
    let foreign = init();
    step(first.path(), "begin", "all");
    let rotation = pki(first.path(), "rotation");
    copy_tree(&rotation, &pki(second.path(), "rotation"));
    copy_tree(&rotation, &pki(foreign.path(), "rotation"));
    let joined = step(second.path(), "begin", "all");
    assert!(
        joined["steps"][0]["written"]
            .as_array()
            .is_some_and(|w| !w.is_empty()),
        "{joined}"
    );
    for ca in ["ca.crt", "front-proxy-ca.crt", "etcd/ca.crt"] {
        assert_eq!(
            fs::read(pki(first.path(), ca)).unwrap(),
            fs::read(pki(second.path(), ca)).unwrap(),
            "{ca}: the same bundle on both nodes"
        );
    }
    let (code, err) = refused(foreign.path(), &["begin", "--ca", "all"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("neither CA key of the rotation"), "{err}");
    for node in [first.path(), second.path()] {
        step(node, "reissue", "all");
        step(node, "finish", "all");
        check_passes(node);
    }
    assert_eq!(
        fs::read(pki(first.path(), "ca.crt")).unwrap(),
        fs::read(pki(second.path(), "ca.crt")).unwrap()
    );
}

/// `--dry-run` says what each step would write and shred, and changes nothing.
#[test]
fn dry_run_of_each_step_reports_and_changes_nothing() {
    let dir = init();
    let d = dir.path();
    for s in ["begin", "reissue", "finish"] {
        let before = tree(d);
        let out = run(
            d,
            &[
                "pki",
                "rotate-ca",
                s,
                "--ca",
                "all",
                "--skip-tenants",
                "--dry-run",
                "-o",
                "json",
            ],
        );
        assert!(out.status.success(), "{s}: {}", text(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["dryRun"], true);
        assert!(
            v["steps"]
                .as_array()
                .unwrap()
                .iter()
                .all(|st| !st["written"].as_array().unwrap().is_empty()),
            "{s}: {v}"
        );
        assert_eq!(tree(d), before, "{s} --dry-run changed nothing");
        if s == "finish" {
            assert!(
                v["steps"][0]["shredded"]
                    .as_array()
                    .is_some_and(|x| x.len() == 4),
                "{v}"
            );
        }
        step(d, s, "all");
    }
}

/// A control-plane kubeconfig lost mid-rotation is made again trusting both CAs, so reissue
/// is not refused over it.
#[test]
fn pki_init_mid_rotation_writes_kubeconfigs_trusting_the_bundle() {
    let dir = init();
    step(dir.path(), "begin", "cluster");
    fs::remove_file(dir.path().join("admin.conf")).unwrap();
    let out = run(
        dir.path(),
        &["pki", "init", "--encryption-algorithm", "ECDSA-P256"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(kubeconfig_trust(dir.path(), "admin.conf").len(), 2);
    assert_eq!(
        kubeconfig_trust(dir.path(), "admin.conf"),
        certs(&pki(dir.path(), "ca.crt"))
    );
    step(dir.path(), "reissue", "cluster");
}
