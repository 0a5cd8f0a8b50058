//! `bootstrap-setup`: the objects kubeadm init leaves for joining nodes.

use super::*;

use tenantctl::{Cli, Command, Error, Output, cluster::Cluster};

fn bootstrap_setup_args(flags: &[&str]) -> tenantctl::cli::BootstrapSetupArgs {
    let argv = ["tenantctl", "bootstrap-setup"].iter().chain(flags);
    match <Cli as clap::Parser>::try_parse_from(argv).unwrap().command {
        Command::BootstrapSetup(args) => args,
        other => panic!("{other:?}"),
    }
}

/// Runs `bootstrap-setup` against the mock: the admin kubeconfig names the first node
/// (10.0.0.10), the flags name the VIP.
async fn bootstrap_setup(
    flags: &[&str],
    ca_pem: &str,
    steps: Vec<Step>,
) -> (Result<(), Error>, Streams) {
    use tenantctl::join::bootstrap_setup::{AdminView, setup};
    let args = bootstrap_setup_args(flags);
    let admin = AdminView {
        server: "https://10.0.0.10:6443".parse().unwrap(),
        cluster_name: "kubernetes".into(),
        ca_pem: ca_pem.to_owned(),
    };
    let (client, handle) = mock();
    let cluster = Cluster::new(client, RECORD_NAMESPACE);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let run = async {
        let cluster = cluster;
        let r = setup(
            &cluster,
            &args,
            &admin,
            &mut Output::new(&mut out, &mut err),
        )
        .await;
        drop(cluster);
        r
    };
    let (r, ()) = tokio::join!(run, serve(handle, steps));
    (r, Streams::of(out, err))
}

/// The reads `bootstrap-setup` makes before it applies: `/version`, then kubeadm's three
/// ConfigMaps in kube-system (`found` answers them; `None` is 404).
fn bootstrap_setup_reads(found: [Option<Value>; 3]) -> Vec<Step> {
    let version = json!({"major": "1", "minor": "28", "gitVersion": "v1.28.7",
        "gitCommit": "c8dcb00be9961ec36d141d2e4103f85f92bcf291", "gitTreeState": "clean",
        "buildDate": "2024-02-14T10:32:39Z", "goVersion": "go1.21.7", "compiler": "gc",
        "platform": "linux/amd64"});
    let mut steps = vec![reply("GET", "/version", 200, version)];
    for (name, found) in ["kubeadm-config", "kubelet-config", "kube-proxy"]
        .into_iter()
        .zip(found)
    {
        let uri = format!("/api/v1/namespaces/kube-system/configmaps/{name}");
        steps.push(match found {
            Some(cm) => reply("GET", uri, 200, cm),
            None => reply("GET", uri, 404, not_found()),
        });
    }
    steps
}

/// kube-proxy's kubeconfig.conf as kubeadm's template renders it, for `server`.
fn kube_proxy_kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: {server}
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token"
    )
}

/// `bootstrap-setup`: what kubeadm init leaves for joining nodes — kubeadm:cluster-admins,
/// kubeadm-config, kubelet-config, cluster-info and the bootstrap RBAC, kube-proxy — each request
/// asserted exactly, by server-side apply, in kubeadm's phase order, with kubeadm's names, keys
/// and subjects; kube-proxy and cluster-info name the control-plane endpoint, not the node.
#[tokio::test(start_paused = true)]
async fn bootstrap_setup_applies_kubeadms_objects() {
    let pki = Pki::new();
    let ca_pem = pki.ca.certificate().to_pem();
    let cert_dir = pki.path().to_str().unwrap().to_owned();
    let rbac = "/apis/rbac.authorization.k8s.io/v1";
    let labels = json!({"app.kubernetes.io/managed-by": "tenantctl"});
    let meta = |name: &str, ns: Option<&str>| match ns {
        Some(ns) => json!({"name": name, "namespace": ns, "labels": labels}),
        None => json!({"name": name, "labels": labels}),
    };
    let group = |name: &str| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name});
    let node_group = group("system:bootstrappers:kubeadm:default-node-token");
    let nodes = group("system:nodes");
    let exact =
        |uri: String, want: Value| apply(uri.clone(), move |b| assert_eq!(b, &want, "{uri}"));
    let configmap = |ns: &str, name: &str, data: Value| {
        exact(
            format!("/api/v1/namespaces/{ns}/configmaps/{name}{APPLY_QUERY}"),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, Some(ns)), "data": data}),
        )
    };
    let reader = |ns: &str, name: &str, configmap: &str| {
        exact(
            format!("{rbac}/namespaces/{ns}/roles/{name}{APPLY_QUERY}"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": meta(name, Some(ns)),
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [configmap], "verbs": ["get"]}]}),
        )
    };
    let binding = |ns: &str, name: &str, subjects: Value| {
        exact(
            format!("{rbac}/namespaces/{ns}/rolebindings/{name}{APPLY_QUERY}"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": meta(name, Some(ns)),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": subjects}),
        )
    };
    let crb = |name: &str, role: &str, subject: &Value| {
        exact(
            format!("{rbac}/clusterrolebindings/{name}{APPLY_QUERY}"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": meta(name, None),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [subject]}),
        )
    };
    let cluster_configuration = format!(
        "apiServer:
  timeoutForControlPlane: 4m0s
apiVersion: kubeadm.k8s.io/v1beta3
certificatesDir: {cert_dir}
clusterName: kubernetes
controlPlaneEndpoint: vip.example.com:6443
controllerManager: {{}}
dns: {{}}
etcd:
  local:
    dataDir: /var/lib/etcd
imageRepository: registry.k8s.io
kind: ClusterConfiguration
kubernetesVersion: v1.28.7
networking:
  dnsDomain: cluster.local
  podSubnet: 10.244.0.0/16
  serviceSubnet: 10.96.0.0/12
scheduler: {{}}
"
    );
    let kubelet = format!(
        "apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {cert_dir}/ca.crt
authorization:
  mode: Webhook
cgroupDriver: systemd
clusterDNS:
- \"10.96.0.10\"
clusterDomain: cluster.local
healthzBindAddress: \"127.0.0.1\"
healthzPort: 10248
kind: KubeletConfiguration
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
"
    );
    let kube_proxy = "apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: \"0.0.0.0\"
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
clusterCIDR: 10.244.0.0/16
kind: KubeProxyConfiguration";
    let ca = ca_pem.clone();
    let cluster_info_meta = meta("cluster-info", Some("kube-public"));
    let mut steps = bootstrap_setup_reads([None, None, None]);
    steps.extend([
        // phases/kubeconfig: admin.conf's group.
        crb(
            "kubeadm:cluster-admins",
            "cluster-admin",
            &group("kubeadm:cluster-admins"),
        ),
        // phases/uploadconfig.
        configmap(
            "kube-system",
            "kubeadm-config",
            json!({"ClusterConfiguration": cluster_configuration}),
        ),
        reader(
            "kube-system",
            "kubeadm:nodes-kubeadm-config",
            "kubeadm-config",
        ),
        binding(
            "kube-system",
            "kubeadm:nodes-kubeadm-config",
            json!([node_group, nodes]),
        ),
        // phases/kubelet.
        configmap("kube-system", "kubelet-config", json!({"kubelet": kubelet})),
        reader("kube-system", "kubeadm:kubelet-config", "kubelet-config"),
        binding(
            "kube-system",
            "kubeadm:kubelet-config",
            json!([nodes, node_group]),
        ),
        // phases/bootstraptoken.
        apply(
            format!("/api/v1/namespaces/kube-public/configmaps/cluster-info{APPLY_QUERY}"),
            move |cm| {
                assert_eq!(cm["metadata"], cluster_info_meta);
                assert_eq!(cm["data"].as_object().unwrap().len(), 1);
                let kc = cm["data"]["kubeconfig"].as_str().unwrap();
                let parsed: kube::config::Kubeconfig = serde_saphyr::from_str(kc).unwrap();
                assert_eq!(parsed.clusters.len(), 1);
                assert_eq!(parsed.clusters[0].name, "");
                let c = parsed.clusters[0].cluster.as_ref().unwrap();
                assert_eq!(c.server.as_deref(), Some("https://vip.example.com:6443"));
                let data = B64
                    .decode(c.certificate_authority_data.as_ref().unwrap())
                    .unwrap();
                assert_eq!(String::from_utf8(data).unwrap(), ca);
                assert!(parsed.contexts.is_empty() && parsed.auth_infos.is_empty());
            },
        ),
        reader(
            "kube-public",
            "kubeadm:bootstrap-signer-clusterinfo",
            "cluster-info",
        ),
        binding(
            "kube-public",
            "kubeadm:bootstrap-signer-clusterinfo",
            json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:anonymous"}]),
        ),
        exact(
            format!("{rbac}/clusterroles/kubeadm:get-nodes{APPLY_QUERY}"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": meta("kubeadm:get-nodes", None),
                "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]}),
        ),
        crb("kubeadm:get-nodes", "kubeadm:get-nodes", &node_group),
        crb(
            "kubeadm:kubelet-bootstrap",
            "system:node-bootstrapper",
            &node_group,
        ),
        crb(
            "kubeadm:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            &node_group,
        ),
        crb(
            "kubeadm:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            &nodes,
        ),
        // phases/addons/proxy: the VIP, never the node's 10.0.0.10.
        exact(
            format!("/api/v1/namespaces/kube-system/configmaps/kube-proxy{APPLY_QUERY}"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kube-proxy", "namespace": "kube-system",
                    "labels": {"app.kubernetes.io/managed-by": "tenantctl", "app": "kube-proxy"}},
                "data": {"config.conf": kube_proxy,
                    "kubeconfig.conf": kube_proxy_kubeconfig("https://vip.example.com:6443")}}),
        ),
        reader("kube-system", "kube-proxy", "kube-proxy"),
        binding("kube-system", "kube-proxy", json!([node_group])),
    ]);
    let (r, out) = bootstrap_setup(
        &[
            "--cert-dir",
            &cert_dir,
            "--control-plane-endpoint",
            "vip.example.com:6443",
            "--pod-network-cidr",
            "10.244.0.0/16",
            "-o",
            "json",
        ],
        &ca_pem,
        steps,
    )
    .await;
    r.unwrap();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["server"], "https://vip.example.com:6443", "{out}");
    assert_eq!(v["controlPlaneEndpoint"], "vip.example.com:6443");
    assert_eq!(v["kubernetesVersion"], "v1.28.7");
    assert_eq!(v["applied"].as_array().unwrap().len(), 18);
    assert_eq!(v["applied"][0], "clusterrolebinding/kubeadm:cluster-admins");
    // The PKI has no apiserver.crt to tell the DNS domain: what was defaulted is named.
    let notes: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("note: "))
        .collect();
    assert_eq!(notes.len(), 2, "{out}");
    assert!(
        notes[0].starts_with("note: networking.dnsDomain: cluster.local"),
        "{out}"
    );
    assert!(
        notes[1].starts_with("note: networking.serviceSubnet: 10.96.0.0/12"),
        "{out}"
    );
    // A --cert-dir other than kubeadm's is every node's certificatesDir: a warning says so.
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 1, "{out}");
    assert!(
        warnings[0].starts_with(&format!("warning: certificatesDir {cert_dir} (--cert-dir)")),
        "{out}"
    );
}

/// On a cluster kubeadm made, its kubeadm-config and kube-proxy config.conf are kept (only
/// kube-proxy's server is set); `--dry-run` reads the cluster, prints the objects and applies
/// nothing; and without a PKI every defaulted value is named on stderr.
#[tokio::test(start_paused = true)]
async fn bootstrap_setup_keeps_kubeadms_configmaps_and_dry_run_applies_nothing() {
    let pki = Pki::new();
    let ca_pem = pki.ca.certificate().to_pem();
    let no_pki = tempfile::tempdir().unwrap();
    let kubeadms = |name: &str, data: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "kube-system", "labels": {"app": name}},
            "data": data})
    };
    let steps = bootstrap_setup_reads([
        Some(kubeadms(
            "kubeadm-config",
            json!({"ClusterConfiguration": "kubeadm's"}),
        )),
        None,
        Some(kubeadms(
            "kube-proxy",
            json!({"config.conf": "mode: ipvs",
                "kubeconfig.conf": kube_proxy_kubeconfig("https://10.0.0.10:6443")}),
        )),
    ]);
    let (r, out) = bootstrap_setup(
        &[
            "--cert-dir",
            no_pki.path().to_str().unwrap(),
            "--server",
            "https://vip.example.com:6443",
            "--dry-run",
            "-o",
            "json",
        ],
        &ca_pem,
        steps,
    )
    .await;
    r.unwrap();
    let list: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(list["kind"], "List", "{out}");
    let items = list["items"].as_array().unwrap();
    let names: Vec<String> = items
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["kind"].as_str().unwrap(),
                i["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(items.len(), 17, "{names:?}");
    assert!(!names.contains(&"ConfigMap/kubeadm-config".to_owned()));
    assert!(names.contains(&"ConfigMap/kubelet-config".to_owned()));
    assert!(names.contains(&"Role/kubeadm:nodes-kubeadm-config".to_owned()));
    let proxy = items
        .iter()
        .find(|i| i["metadata"]["name"] == "kube-proxy" && i["kind"] == "ConfigMap")
        .unwrap();
    assert_eq!(
        proxy,
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"kubeconfig.conf": kube_proxy_kubeconfig("https://vip.example.com:6443")}})
    );
    // --cert-dir names where nodes keep the PKI, even when this machine has none there.
    let kubelet = items
        .iter()
        .find(|i| i["metadata"]["name"] == "kubelet-config")
        .unwrap();
    let ca_file = format!("clientCAFile: {}/ca.crt", no_pki.path().display());
    assert!(
        kubelet["data"]["kubelet"]
            .as_str()
            .unwrap()
            .contains(&ca_file),
        "{out}"
    );
    assert!(!out.stderr.contains("note: certificatesDir"), "{out}");
    for defaulted in [
        "note: no PKI in",
        "note: networking.dnsDomain: cluster.local",
        "note: networking.serviceSubnet: 10.96.0.0/12",
        "note: networking.podSubnet: unset",
        "note: controlPlaneEndpoint: vip.example.com:6443 (from --server",
        "note: configmap/kubeadm-config in kube-system was made by someone else",
        "note: configmap/kube-proxy in kube-system was made by someone else",
    ] {
        assert!(out.stderr.contains(defaulted), "{defaulted}: {out}");
    }
    assert!(
        out.stderr
            .contains("it named https://10.0.0.10:6443: restart kube-proxy"),
        "{out}"
    );
    assert!(out.stderr.contains("dry run"), "{out}");
}
