//! Tenants made by `tenantctl create --offline` checked by the real consumers: kube's loader,
//! a mutual-TLS handshake whose server reports the peer's CN and O (what kube-apiserver's x509
//! authenticator reads as user and groups), kubectl's config reader, and kubectl apply.

use std::process::Command;

use workspace_tests::{Cluster, FakeDiscovery, read, tenantctl};

use crate::tls::{handshake, kubeconfig_client};

/// `create --offline` into the cluster's directory; returns the kubeconfig path.
fn offline_tenant(cluster: &Cluster, extra: &[&str]) -> std::path::PathBuf {
    let out = cluster.etc.join("alice.kubeconfig");
    let pki = cluster.pki.display().to_string();
    let out_s = out.display().to_string();
    let mut args = vec![
        "create",
        "alice",
        "--offline",
        "--cert-dir",
        &pki,
        "--kubeconfig-out",
        &out_s,
    ];
    args.extend_from_slice(extra);
    tenantctl(&args).unwrap();
    out
}

#[test]
fn tenant_certificate_authenticates_as_cn_and_o() {
    for alg in ["ECDSA-P256", "RSA-2048"] {
        let cluster = Cluster::init(&["--encryption-algorithm", alg]);
        let path = offline_tenant(
            &cluster,
            &[
                "--role",
                "view",
                "--group",
                "dev",
                "--group",
                "ops",
                "--key-algorithm",
                "RSA-2048",
            ],
        );
        // The server comes from admin.conf next to the cert dir: the control-plane endpoint.
        let client = kubeconfig_client(&read(&path), "https://vip.example.com:6443/");
        for name in ["vip.example.com", "kubernetes.default.svc", "10.0.0.10"] {
            let (user, groups) =
                handshake(&cluster, &client, name).unwrap_or_else(|e| panic!("{alg} {name}: {e}"));
            assert_eq!(user, "alice");
            assert_eq!(groups, ["dev", "ops"]);
        }
    }
}

#[test]
fn server_override_and_kubectl_reads_the_tenant_kubeconfig() {
    let cluster = Cluster::init(&["--encryption-algorithm", "ECDSA-P256"]);
    let path = offline_tenant(
        &cluster,
        &[
            "--role",
            "edit",
            "-n",
            "team-a",
            "--server",
            "https://10.0.0.10:6443",
        ],
    );
    let client = kubeconfig_client(&read(&path), "https://10.0.0.10:6443/");
    assert_eq!(
        handshake(&cluster, &client, "10.0.0.10").unwrap().0,
        "alice"
    );
    let view = Command::new("kubectl")
        .args(["config", "view", "--minify", "-o", "jsonpath={.contexts[0].name} {.contexts[0].context.namespace} {.clusters[0].cluster.server}"])
        .env("KUBECONFIG", &path)
        .output()
        .expect("kubectl is installed (.ci/run installs it)");
    assert!(
        view.status.success(),
        "{}",
        String::from_utf8_lossy(&view.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&view.stdout),
        "alice@kubernetes team-a https://10.0.0.10:6443"
    );
}

#[test]
fn offline_manifests_are_accepted_by_kubectl_apply() {
    let cluster = Cluster::init(&["--encryption-algorithm", "ECDSA-P256"]);
    offline_tenant(
        &cluster,
        &[
            "--role",
            "view",
            "--role",
            "Role/deployer",
            "-n",
            "team-a",
            "--create-namespace",
            "--group",
            "dev",
            "--bind-group",
        ],
    );
    let server = FakeDiscovery::start();
    let empty = cluster.etc.join("empty-kubeconfig");
    std::fs::write(&empty, "").unwrap();
    for (file, expected) in [
        (
            "alice-rbac.yaml",
            vec![
                "namespace/team-a created (dry run)",
                "rolebinding.rbac.authorization.k8s.io/tenantctl:alice:view created (dry run)",
                "rolebinding.rbac.authorization.k8s.io/tenantctl:alice:role:deployer created (dry run)",
            ],
        ),
        (
            "alice-tenant.yaml",
            vec![
                "namespace/tenantctl-system created (dry run)",
                "configmap/tenant-alice created (dry run)",
            ],
        ),
    ] {
        // Client-side schema validation needs the server's OpenAPI document, which this fake
        // server does not have; kubectl still decodes every object and maps it through
        // discovery, which is what fails on a wrong apiVersion, kind or shape.
        let out = Command::new("kubectl")
            .args(["apply", "--dry-run=client", "--validate=false", "-f"])
            .arg(cluster.etc.join(file))
            .args(["--server", &server.url])
            .env("KUBECONFIG", &empty)
            .output()
            .expect("kubectl is installed (.ci/run installs it)");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{file}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines, expected, "{file}");
    }
    let requests = server.requests.lock().unwrap();
    assert!(requests.iter().any(|r| r == "GET /apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/tenantctl:alice:view"), "{requests:?}");
}
