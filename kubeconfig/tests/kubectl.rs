//! kubectl as an independent reader of what this crate writes.
//!
//! Each test is skipped (with a printed note) only when `kubectl` is not on PATH; CI installs it.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kubeconfig::{ClusterEntry, Kubeconfig, Secret};
use pki_core::{
    CertSpec, CertificateAuthority, ClientIdentity, KeyAlgorithm, PrivateKey, Usage, Validity,
};

fn kubectl_available() -> bool {
    match Command::new("kubectl")
        .args(["version", "--client"])
        .output()
    {
        Ok(_) => true,
        Err(e) => {
            println!("note: skipping, kubectl is not on PATH ({e})");
            false
        }
    }
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("kubeconfig-test-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

/// Runs `kubectl config view --raw` with `args` and returns stdout, failing the test on a non-zero exit.
fn kubectl_view(args: &[&str], kubeconfig_env: Option<&str>) -> String {
    let mut cmd = Command::new("kubectl");
    cmd.args(["config", "view", "--raw"]).args(args);
    cmd.env_remove("KUBECONFIG");
    if let Some(env) = kubeconfig_env {
        cmd.env("KUBECONFIG", env);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn fixture_ca() -> CertificateAuthority {
    let spec = CertSpec {
        common_name: "kubernetes".into(),
        organizations: vec![],
        usage: Usage::Ca,
        sans: vec![],
        validity: Validity::kubeadm(now(), pki_core::CA_VALIDITY),
    };
    CertificateAuthority::self_signed(
        &spec,
        PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap(),
    )
    .unwrap()
}

#[test]
fn kubectl_accepts_emitted_kubeconfigs() {
    if !kubectl_available() {
        return;
    }
    let ca = fixture_ca();
    let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
    let id = ClientIdentity {
        user: "alice".into(),
        groups: vec!["team-a".into(), "devs".into()],
    };
    let cert = ca
        .issue_client(&id, &key, Validity::kubeadm(now(), pki_core::LEAF_VALIDITY))
        .unwrap();
    let cluster = ClusterEntry {
        name: "prod".into(),
        server: "https://[fd00::10]:6443".parse().unwrap(),
        ca_pem: ca.certificate().to_pem(),
    };
    let cert_config = Kubeconfig::with_client_certificate(
        &cluster,
        "alice",
        &cert.to_pem(),
        Secret::from(key.secret_pem().unwrap()),
        Some("team-a"),
    )
    .unwrap();
    let token_config = Kubeconfig::with_token(
        &cluster,
        "bot",
        Secret::from("abcdef.0123456789abcdef".to_owned()),
        None,
    )
    .unwrap();

    for (name, config, user, namespace) in [
        ("cert.yaml", &cert_config, "alice", Some("team-a")),
        ("token.yaml", &token_config, "bot", None),
    ] {
        let yaml = config.to_yaml().unwrap();
        let path = temp_file(name, &yaml);
        let json = kubectl_view(
            &["--kubeconfig", path.to_str().unwrap(), "-o", "json"],
            None,
        );
        std::fs::remove_file(&path).unwrap();

        // kubectl's JSON is YAML too: read it back and compare with what was written.
        let seen = Kubeconfig::from_yaml(&json).unwrap();
        let current = seen.current().unwrap();
        assert_eq!(current.context, format!("{user}@prod"));
        assert_eq!(current.cluster, "prod");
        assert_eq!(current.user, user);
        assert_eq!(current.server, "https://[fd00::10]:6443");
        assert_eq!(current.namespace, namespace);
        assert_eq!(seen.as_kube().api_version.as_deref(), Some("v1"));
        assert_eq!(seen.as_kube().kind.as_deref(), Some("Config"));
        let ours = config.current().unwrap();
        assert_eq!(current.ca, ours.ca);
        assert_eq!(current.credentials.kind(), ours.credentials.kind());
        current.validate(now()).unwrap();
    }
}

#[test]
fn kubectl_all_fields_round_trip() {
    if !kubectl_available() {
        return;
    }
    // Written by kubectl (`config set-*` plus hand-added extensions), normalised by `config view --raw`.
    let original = include_str!("data/kubectl-all-fields.yaml");
    let emitted = Kubeconfig::from_yaml(original).unwrap().to_yaml().unwrap();
    let path = temp_file("all-fields.yaml", &emitted);
    let normalised = kubectl_view(&["--kubeconfig", path.to_str().unwrap()], None);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        normalised, original,
        "a field was lost or changed; emitted:\n{}",
        &*emitted
    );
}

#[test]
fn merge_and_minify_agree_with_kubectl() {
    if !kubectl_available() {
        return;
    }
    let a = "apiVersion: v1\nkind: Config\ncurrent-context: ''\n\
             clusters: [{name: c1, cluster: {server: 'https://a:1'}}]\n\
             users: [{name: u, user: {token: from-a}}]\n\
             contexts: [{name: ctx-x, context: {cluster: c1, user: u}}]\n";
    let b = "apiVersion: v1\nkind: Config\ncurrent-context: ctx-y\n\
             clusters: [{name: c1, cluster: {server: 'https://b:1'}}, {name: c2, cluster: {server: 'https://b:2'}}]\n\
             users: [{name: u, user: {token: from-b}}, {name: v, user: {token: v}}]\n\
             contexts: [{name: ctx-y, context: {cluster: c2, user: v, namespace: ns}}, {name: ctx-x, context: {cluster: c2, user: v}}]\n";
    let pa = temp_file("merge-a.yaml", a);
    let pb = temp_file("merge-b.yaml", b);
    let env = format!("{}:{}", pa.display(), pb.display());
    let theirs_full = Kubeconfig::from_yaml(&kubectl_view(&["-o", "json"], Some(&env))).unwrap();
    let theirs_min = Kubeconfig::from_yaml(&kubectl_view(
        &["--minify", "--flatten", "-o", "json"],
        Some(&env),
    ))
    .unwrap();
    std::fs::remove_file(&pa).unwrap();
    std::fs::remove_file(&pb).unwrap();

    let ours = Kubeconfig::merge([
        Kubeconfig::from_yaml(a).unwrap(),
        Kubeconfig::from_yaml(b).unwrap(),
    ]);
    let ours_min = ours.minify().unwrap();
    // kubectl sorts by name; compare as sets of (name, server/user).
    let summary = |k: &Kubeconfig| {
        let raw = k.as_kube();
        let mut clusters: Vec<_> = raw
            .clusters
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.cluster.as_ref().and_then(|c| c.server.clone()),
                )
            })
            .collect();
        let mut contexts: Vec<_> = raw
            .contexts
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.context
                        .as_ref()
                        .map(|c| (c.cluster.clone(), c.user.clone(), c.namespace.clone())),
                )
            })
            .collect();
        let mut users: Vec<_> = raw.auth_infos.iter().map(|u| u.name.clone()).collect();
        clusters.sort();
        contexts.sort();
        users.sort();
        (
            k.current_context().map(str::to_owned),
            clusters,
            contexts,
            users,
        )
    };
    assert_eq!(summary(&ours), summary(&theirs_full));
    assert_eq!(summary(&ours_min), summary(&theirs_min));
    // The first file's context `ctx-x` (user `u`, token `from-a`) won.
    let token = |k: &Kubeconfig| {
        let mut k = k.clone();
        k.as_kube_mut().current_context = Some("ctx-x".into());
        match k.current().unwrap().credentials {
            kubeconfig::Credentials::Token(t) => t.expose_secret().to_owned(),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(token(&ours), token(&theirs_full));
    assert_eq!(token(&ours), "from-a");
}
