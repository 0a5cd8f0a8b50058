//! Every control-plane kubeconfig is read by kube's own loader and by `kubectl config view`.

use std::process::Command;

use workspace_tests::{Cluster, block_on};

const FILES: [(&str, &str, &str); 5] = [
    (
        "admin.conf",
        "kubernetes-admin",
        "https://vip.example.com:6443/",
    ),
    (
        "super-admin.conf",
        "kubernetes-super-admin",
        "https://vip.example.com:6443/",
    ),
    (
        "controller-manager.conf",
        "system:kube-controller-manager",
        "https://10.0.0.10:6443/",
    ),
    (
        "scheduler.conf",
        "system:kube-scheduler",
        "https://10.0.0.10:6443/",
    ),
    ("kubelet.conf", "system:node:cp1", "https://10.0.0.10:6443/"),
];

#[test]
fn kube_loads_every_kubeconfig() {
    let cluster = Cluster::init(&["--encryption-algorithm", "ECDSA-P256"]);
    for (file, user, url) in FILES {
        let kc = kube::config::Kubeconfig::from_yaml(&cluster.kubeconfig(file)).unwrap();
        assert_eq!(
            kc.current_context.as_deref(),
            Some(format!("{user}@kubernetes").as_str()),
            "{file}"
        );
        let config = block_on(kube::Config::from_custom_kubeconfig(
            kc,
            &kube::config::KubeConfigOptions::default(),
        ))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(config.cluster_url.to_string(), url, "{file}");
        assert_eq!(config.root_cert.as_ref().map(Vec::len), Some(1), "{file}");
        assert!(config.auth_info.client_certificate_data.is_some(), "{file}");
    }
}

#[test]
fn kubectl_reads_every_kubeconfig() {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        panic!("kubectl is not installed; .ci/run installs it (Debian package kubernetes-client)");
    }
    let cluster = Cluster::init(&["--encryption-algorithm", "ECDSA-P256"]);
    for (file, user, url) in FILES {
        let out = Command::new("kubectl")
            .args([
                "config",
                "view",
                "--raw",
                "--minify",
                "-o",
                "jsonpath={.users[0].name} {.clusters[0].cluster.server}",
            ])
            .arg("--kubeconfig")
            .arg(cluster.etc.join(file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            text,
            format!("{user} {}", url.trim_end_matches('/')),
            "{file}"
        );
    }
}
