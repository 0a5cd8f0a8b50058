//! `tenantctl bootstrap-setup`: what `kubeadm init` leaves in the cluster for nodes to join, so
//! that both `kubeadm join` (v1.28 and later) and `tenantctl join` can join a cluster tenantctl
//! set up. Applied idempotently by server-side apply, in the order of kubeadm init's phases:
//!
//! | objects | kubeadm source (`cmd/kubeadm/app/…`) | here |
//! |---|---|---|
//! | ClusterRoleBinding `kubeadm:cluster-admins` (admin.conf's group → `cluster-admin`) | `phases/kubeconfig/kubeconfig.go` | [`kubeadm_config`] |
//! | ConfigMap `kube-system/kubeadm-config`; Role + RoleBinding `kubeadm:nodes-kubeadm-config` | `phases/uploadconfig/uploadconfig.go` | [`kubeadm_config`] |
//! | ConfigMap `kube-system/kubelet-config`; Role + RoleBinding `kubeadm:kubelet-config` | `phases/kubelet/config.go` | [`kubelet`] |
//! | ConfigMap `kube-public/cluster-info`; Role + RoleBinding `kubeadm:bootstrap-signer-clusterinfo`; ClusterRole `kubeadm:get-nodes`; the bootstrap ClusterRoleBindings | `phases/bootstraptoken/clusterinfo/clusterinfo.go`, `phases/bootstraptoken/node/tlsbootstrap.go` | here |
//! | ConfigMap `kube-system/kube-proxy`; Role + RoleBinding `kube-proxy` | `phases/addons/proxy/{proxy,manifests}.go` | [`proxy`] |
//!
//! Names and keys are kubeadm's constants (`constants/constants.go`). What goes into the
//! ConfigMaps is resolved in [`settings`]: the flags, the PKI in `--cert-dir`, the cluster.
//! ConfigMaps in kube-system that someone else made (kubeadm, on a kubeadm cluster) are kept as
//! they are, except that of `kube-proxy` only `kubeconfig.conf` (the server) is set.

pub mod kubeadm_config;
pub mod kubelet;
pub mod proxy;
pub mod settings;

use std::collections::BTreeMap;

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use k8s_openapi::{
    api::{
        core::v1::ConfigMap,
        rbac::v1::{
            ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
        },
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::config::{Cluster as KubeCluster, Kubeconfig as KubeKubeconfig, NamedCluster};
use kubeconfig::ServerUrl;
use pki_core::Certificate;
use serde::Serialize;

use self::settings::{ClusterFacts, Message, PkiFacts, Settings};
use super::token::DEFAULT_GROUP;
use crate::{
    cli::{BootstrapSetupArgs, Format},
    cluster::{self, Cluster, MANAGED_BY},
    error::Error,
    output::{Output, progress, say},
};

/// The ConfigMap the join discovery reads.
pub const CLUSTER_INFO: &str = "cluster-info";
/// Its namespace.
pub const KUBE_PUBLIC: &str = "kube-public";
/// The Role and RoleBinding that let anonymous clients read it.
pub const CLUSTER_INFO_ROLE: &str = "kubeadm:bootstrap-signer-clusterinfo";
/// Where kubeadm keeps its other ConfigMaps.
pub const KUBE_SYSTEM: &str = "kube-system";
/// kubeadm's `NodesGroup`.
pub const NODES_GROUP: &str = "system:nodes";
const RBAC: &str = "rbac.authorization.k8s.io";

/// One object to apply.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Object {
    /// A ConfigMap.
    ConfigMap(ConfigMap),
    /// A Role.
    Role(Role),
    /// A RoleBinding.
    RoleBinding(RoleBinding),
    /// A ClusterRole.
    ClusterRole(ClusterRole),
    /// A ClusterRoleBinding.
    ClusterRoleBinding(ClusterRoleBinding),
}

impl Object {
    fn metadata(&self) -> &ObjectMeta {
        match self {
            Self::ConfigMap(o) => &o.metadata,
            Self::Role(o) => &o.metadata,
            Self::RoleBinding(o) => &o.metadata,
            Self::ClusterRole(o) => &o.metadata,
            Self::ClusterRoleBinding(o) => &o.metadata,
        }
    }

    /// `configmap`, `role`, … as kubectl names the resource.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ConfigMap(_) => "configmap",
            Self::Role(_) => "role",
            Self::RoleBinding(_) => "rolebinding",
            Self::ClusterRole(_) => "clusterrole",
            Self::ClusterRoleBinding(_) => "clusterrolebinding",
        }
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// Its namespace, if namespaced.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata().namespace.as_deref()
    }

    /// `configmap/kubeadm-config in kube-system`.
    pub fn describe(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{}/{} in {ns}", self.kind(), self.name()),
            None => format!("{}/{}", self.kind(), self.name()),
        }
    }

    async fn apply(&self, cluster: &Cluster) -> Result<(), Error> {
        let ns = self.namespace().unwrap_or_default();
        match self {
            Self::ConfigMap(o) => cluster.apply_namespaced(ns, o).await.map(drop),
            Self::Role(o) => cluster.apply_namespaced(ns, o).await.map(drop),
            Self::RoleBinding(o) => cluster.apply_namespaced(ns, o).await.map(drop),
            Self::ClusterRole(o) => cluster.apply_cluster(o).await.map(drop),
            Self::ClusterRoleBinding(o) => cluster.apply_cluster(o).await.map(drop),
        }
    }
}

/// Everything `bootstrap-setup` applies, in order.
#[derive(Clone, Debug)]
pub struct BootstrapObjects {
    /// The objects, in kubeadm init's phase order.
    pub objects: Vec<Object>,
}

impl BootstrapObjects {
    /// The object of that kind (`configmap`, …) and name.
    pub fn find(&self, kind: &str, name: &str) -> Option<&Object> {
        self.objects
            .iter()
            .find(|o| o.kind() == kind && o.name() == name)
    }

    /// The ConfigMaps in kube-system the cluster already has (`found`) and someone else made
    /// (no `app.kubernetes.io/managed-by: tenantctl`): kubeadm-config and kubelet-config are left
    /// out, so theirs stay; of kube-proxy only `kubeconfig.conf` is applied, so their
    /// `config.conf` stays. Returns what was kept, for people.
    pub fn keep_foreign(&mut self, found: &[ConfigMap], settings: &Settings) -> Vec<Message> {
        let mut msgs = Vec::new();
        for cm in found {
            let name = cm.metadata.name.as_deref().unwrap_or_default();
            let ours = cm
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(MANAGED_BY.0))
                .is_some_and(|v| v == MANAGED_BY.1);
            if ours || cm.metadata.namespace.as_deref() != Some(KUBE_SYSTEM) {
                continue;
            }
            let Some(i) = self
                .objects
                .iter()
                .position(|o| matches!(o, Object::ConfigMap(_)) && o.name() == name)
            else {
                continue;
            };
            if name == proxy::KUBE_PROXY {
                self.objects[i] = Object::ConfigMap(proxy::server_only(settings));
                let before = cm
                    .data
                    .as_ref()
                    .and_then(|d| d.get(proxy::KUBECONFIG_KEY))
                    .and_then(|k| proxy::server_of(k));
                let mut note = format!(
                    "configmap/kube-proxy in kube-system was made by someone else (kubeadm?): only its kubeconfig.conf server is set ({}), its config.conf is kept",
                    settings.server.as_str()
                );
                if before.as_deref() != Some(settings.server.as_str()) {
                    note.push_str(&format!(
                        "; it named {}: restart kube-proxy (kubectl -n kube-system rollout restart daemonset kube-proxy)",
                        before.as_deref().unwrap_or("nothing")
                    ));
                }
                msgs.push(Message::Note(note));
            } else {
                self.objects.remove(i);
                msgs.push(Message::Note(format!(
                    "configmap/{name} in kube-system was made by someone else (kubeadm?): kept as it is"
                )));
            }
        }
        msgs
    }

    /// Multi-document YAML for `kubectl apply -f`, under a comment header.
    pub fn to_yaml(&self) -> Result<String, Error> {
        let mut out = String::from(
            "# tenantctl bootstrap-setup: what kubeadm init leaves in the cluster for nodes to join\n",
        );
        for o in &self.objects {
            out.push_str("---\n");
            let doc = crate::output::yaml(o)?;
            out.push_str(&doc);
            if !doc.ends_with('\n') {
                out.push('\n');
            }
        }
        Ok(out)
    }

    /// The objects as a `v1` List, as `kubectl … --dry-run=client -o json` prints them.
    pub fn to_list(&self) -> Result<serde_json::Value, Error> {
        let items = self
            .objects
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Manifest {
                message: e.to_string(),
            })?;
        Ok(serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}))
    }
}

/// The cluster-info kubeconfig: one cluster named "" with the CA and the server, nothing else
/// (kubeadm's `CreateBootstrapConfigMapIfNotExists`).
pub fn cluster_info_kubeconfig(server: &ServerUrl, ca_pem: &str) -> Result<String, Error> {
    let kc = KubeKubeconfig {
        clusters: vec![NamedCluster {
            name: String::new(),
            cluster: Some(KubeCluster {
                server: Some(server.as_str().to_owned()),
                certificate_authority_data: Some(B64.encode(ca_pem)),
                ..KubeCluster::default()
            }),
            other: BTreeMap::default(),
        }],
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        ..KubeKubeconfig::default()
    };
    crate::output::yaml(&kc)
}

/// Every object for these settings and the cluster CA (PEM bundle), in kubeadm init's phase
/// order: kubeconfig (the admins binding), upload-config, kubelet, bootstrap-token, addons.
pub fn objects(settings: &Settings, ca_pem: &str) -> Result<BootstrapObjects, Error> {
    let mut objects = vec![Object::ClusterRoleBinding(kubeadm_config::cluster_admins())];
    let rbac =
        |(role, binding): (Role, RoleBinding)| [Object::Role(role), Object::RoleBinding(binding)];
    objects.push(Object::ConfigMap(kubeadm_config::configmap(settings)?));
    objects.extend(rbac(kubeadm_config::rbac()));
    objects.push(Object::ConfigMap(kubelet::configmap(settings)?));
    objects.extend(rbac(kubelet::rbac()));
    objects.extend(bootstrap_token(&settings.server, ca_pem)?);
    objects.push(Object::ConfigMap(proxy::configmap(settings)?));
    objects.extend(rbac(proxy::rbac()));
    Ok(BootstrapObjects { objects })
}

/// kubeadm's bootstrap-token phase: cluster-info with the anonymous reader, and the bindings
/// that let bootstrap tokens get nodes, post CSRs and have them approved.
fn bootstrap_token(server: &ServerUrl, ca_pem: &str) -> Result<Vec<Object>, Error> {
    Ok(vec![
        Object::ConfigMap(ConfigMap {
            metadata: meta(CLUSTER_INFO, Some(KUBE_PUBLIC)),
            data: Some(BTreeMap::from([(
                "kubeconfig".to_owned(),
                cluster_info_kubeconfig(server, ca_pem)?,
            )])),
            ..ConfigMap::default()
        }),
        Object::Role(Role {
            metadata: meta(CLUSTER_INFO_ROLE, Some(KUBE_PUBLIC)),
            rules: Some(vec![get_configmap(CLUSTER_INFO)]),
        }),
        Object::RoleBinding(RoleBinding {
            metadata: meta(CLUSTER_INFO_ROLE, Some(KUBE_PUBLIC)),
            role_ref: role_ref("Role", CLUSTER_INFO_ROLE),
            subjects: Some(vec![Subject {
                kind: "User".into(),
                name: "system:anonymous".into(),
                api_group: Some(RBAC.into()),
                namespace: None,
            }]),
        }),
        Object::ClusterRole(ClusterRole {
            metadata: meta("kubeadm:get-nodes", None),
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["nodes".into()]),
                verbs: vec!["get".into()],
                ..PolicyRule::default()
            }]),
            aggregation_rule: None,
        }),
        Object::ClusterRoleBinding(cluster_role_binding(
            "kubeadm:get-nodes",
            "kubeadm:get-nodes",
            group(DEFAULT_GROUP),
        )),
        Object::ClusterRoleBinding(cluster_role_binding(
            "kubeadm:kubelet-bootstrap",
            "system:node-bootstrapper",
            group(DEFAULT_GROUP),
        )),
        Object::ClusterRoleBinding(cluster_role_binding(
            "kubeadm:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            group(DEFAULT_GROUP),
        )),
        Object::ClusterRoleBinding(cluster_role_binding(
            "kubeadm:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            group(NODES_GROUP),
        )),
    ])
}

/// Metadata with tenantctl's label.
fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(cluster::managed_labels()),
        ..ObjectMeta::default()
    }
}

/// A `Group` subject.
fn group(name: &str) -> Subject {
    Subject {
        kind: "Group".into(),
        name: name.to_owned(),
        api_group: Some(RBAC.into()),
        namespace: None,
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: Some(RBAC.into()),
        kind: kind.to_owned(),
        name: name.to_owned(),
    }
}

/// `get` on one ConfigMap (kubeadm's `rbachelper.NewRule("get")…Names(name)`).
fn get_configmap(name: &str) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec!["configmaps".into()]),
        resource_names: Some(vec![name.to_owned()]),
        verbs: vec!["get".into()],
        ..PolicyRule::default()
    }
}

/// A Role in kube-system named `role` that may get the ConfigMap `configmap`.
fn configmap_reader(role: &str, configmap: &str) -> Role {
    Role {
        metadata: meta(role, Some(KUBE_SYSTEM)),
        rules: Some(vec![get_configmap(configmap)]),
    }
}

/// A RoleBinding of the Role of the same name.
fn role_binding(name: &str, namespace: &str, subjects: Vec<Subject>) -> RoleBinding {
    RoleBinding {
        metadata: meta(name, Some(namespace)),
        role_ref: role_ref("Role", name),
        subjects: Some(subjects),
    }
}

fn cluster_role_binding(name: &str, role: &str, subject: Subject) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(name, None),
        role_ref: role_ref("ClusterRole", role),
        subjects: Some(vec![subject]),
    }
}

/// What was applied (`-o json|yaml`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Applied {
    server: String,
    control_plane_endpoint: String,
    kubernetes_version: String,
    applied: Vec<String>,
}

/// What the admin kubeconfig says about the cluster: its server, cluster name and CA bundle.
#[derive(Clone, Debug)]
pub struct AdminView {
    /// The server.
    pub server: ServerUrl,
    /// The current context's cluster name.
    pub cluster_name: String,
    /// The CA bundle, PEM.
    pub ca_pem: String,
}

/// `tenantctl bootstrap-setup`.
pub fn run(args: &BootstrapSetupArgs, out: &mut Output<'_>) -> Result<(), Error> {
    cluster::block_on(async {
        let (cluster, resolved) = cluster::open(
            &args.api.access(),
            args.api.retry(),
            cluster::RECORD_NAMESPACE,
        )
        .await?;
        let server = resolved
            .config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .parse()?;
        let ca_pem = resolved
            .config
            .root_cert
            .as_ref()
            .filter(|ders| !ders.is_empty())
            .ok_or_else(|| Error::Usage {
                flag: "--kubeconfig",
                message: "the admin kubeconfig embeds no cluster CA to publish in cluster-info"
                    .into(),
            })?
            .iter()
            .map(|der| Certificate::from_der(der).map(|c| c.to_pem()))
            .collect::<Result<String, _>>()?;
        progress!(out, "Using the cluster from {}", resolved.source);
        let admin = AdminView {
            server,
            cluster_name: resolved.cluster_name,
            ca_pem,
        };
        let result = setup(&cluster, args, &admin, out).await;
        if let Err(Error::Api { status, .. }) = &result
            && status.code == 403
        {
            out.note(format!(
                "if the admin kubeconfig is admin.conf, its group {} has cluster-admin only once bootstrap-setup has bound it: run it once with --kubeconfig /etc/kubernetes/super-admin.conf (O=system:masters)",
                kubeadm_config::CLUSTER_ADMINS
            ));
        }
        result
    })
}

/// Reads the cluster (`/version`, kubeadm's ConfigMaps in kube-system) and the PKI in
/// `--cert-dir`, then applies the objects (server-side apply: running it again changes
/// nothing) or, with `--dry-run`, prints them.
pub async fn setup(
    cluster: &Cluster,
    args: &BootstrapSetupArgs,
    admin: &AdminView,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let version = cluster
        .retry()
        .run("get /version", || cluster.client().apiserver_version())
        .await?;
    let facts = ClusterFacts {
        server: admin.server.clone(),
        cluster_name: admin.cluster_name.clone(),
        ca_pem: admin.ca_pem.clone(),
        kubernetes_version: version.git_version,
    };
    let cert_dir = args
        .cert_dir
        .clone()
        .unwrap_or_else(|| settings::DEFAULT_CERT_DIR.into());
    let pki = PkiFacts::read(&cert_dir);
    let (settings, msgs) = settings::resolve(args, &facts, pki.as_ref())?;
    tell(out, &msgs);
    let mut objs = objects(&settings, &admin.ca_pem)?;
    let mut found = Vec::new();
    for name in [
        kubeadm_config::KUBEADM_CONFIG,
        kubelet::KUBELET_CONFIG,
        proxy::KUBE_PROXY,
    ] {
        if let Some(cm) = cluster
            .get_namespaced::<ConfigMap>(KUBE_SYSTEM, name)
            .await?
        {
            found.push(cm);
        }
    }
    let kept = objs.keep_foreign(&found, &settings);
    tell(out, &kept);
    if args.dry_run {
        progress!(
            out,
            "dry run: nothing is applied (the cluster was only read)"
        );
        return match args.output {
            Format::Table => out.line(format_args!("{}", objs.to_yaml()?.trim_end())),
            format => out.document(format, &objs.to_list()?, |_, _| Ok(())),
        };
    }
    apply_online(cluster, &objs, &settings, args.output, out).await
}

/// Notes and warnings on stderr.
fn tell(out: &mut Output<'_>, msgs: &[Message]) {
    for m in msgs {
        match m {
            Message::Note(n) => out.note(n),
            Message::Warning(w) => out.warning(w),
        }
    }
}

/// Applies the objects in order (server-side apply: running it again changes nothing).
pub async fn apply_online(
    cluster: &Cluster,
    objects: &BootstrapObjects,
    settings: &Settings,
    format: Format,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let mut applied = Vec::new();
    for o in &objects.objects {
        o.apply(cluster).await?;
        applied.push(o.describe());
    }
    let result = Applied {
        server: settings.server.as_str().to_owned(),
        control_plane_endpoint: settings.control_plane_endpoint.clone(),
        kubernetes_version: settings.kubernetes_version.clone(),
        applied,
    };
    out.document(format, &result, |out, r| {
        for a in &r.applied {
            say!(out, "{a} applied");
        }
        say!(
            out,
            "cluster-info and kube-proxy name {}; kubeadm-config says controlPlaneEndpoint {}, kubernetesVersion {}",
            r.server,
            r.control_plane_endpoint,
            r.kubernetes_version
        );
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn settings(server: &str) -> Settings {
        Settings::example(server)
    }

    fn names(objs: &BootstrapObjects) -> Vec<String> {
        objs.objects.iter().map(Object::describe).collect()
    }

    #[test]
    fn everything_kubeadm_init_leaves_in_phase_order() {
        let objs = objects(&settings("https://vip.example.com:6443"), "CA").unwrap();
        assert_eq!(
            names(&objs),
            [
                "clusterrolebinding/kubeadm:cluster-admins",
                "configmap/kubeadm-config in kube-system",
                "role/kubeadm:nodes-kubeadm-config in kube-system",
                "rolebinding/kubeadm:nodes-kubeadm-config in kube-system",
                "configmap/kubelet-config in kube-system",
                "role/kubeadm:kubelet-config in kube-system",
                "rolebinding/kubeadm:kubelet-config in kube-system",
                "configmap/cluster-info in kube-public",
                "role/kubeadm:bootstrap-signer-clusterinfo in kube-public",
                "rolebinding/kubeadm:bootstrap-signer-clusterinfo in kube-public",
                "clusterrole/kubeadm:get-nodes",
                "clusterrolebinding/kubeadm:get-nodes",
                "clusterrolebinding/kubeadm:kubelet-bootstrap",
                "clusterrolebinding/kubeadm:node-autoapprove-bootstrap",
                "clusterrolebinding/kubeadm:node-autoapprove-certificate-rotation",
                "configmap/kube-proxy in kube-system",
                "role/kube-proxy in kube-system",
                "rolebinding/kube-proxy in kube-system",
            ]
        );
        // Every object carries tenantctl's label and its apiVersion/kind.
        for item in objs.to_list().unwrap()["items"].as_array().unwrap() {
            assert_eq!(
                item["metadata"]["labels"]["app.kubernetes.io/managed-by"], "tenantctl",
                "{item}"
            );
            assert!(item["apiVersion"].is_string() && item["kind"].is_string());
        }
        let yaml = objs.to_yaml().unwrap();
        assert_eq!(yaml.matches("\n---\n").count(), 18, "{yaml}");
    }

    #[test]
    fn kube_proxy_names_the_endpoint_not_the_node_address() {
        use clap::Parser as _;
        // The admin kubeconfig points at the first node; the endpoint is a VIP.
        let facts = ClusterFacts {
            server: "https://10.0.0.10:6443".parse().unwrap(),
            cluster_name: "kubernetes".into(),
            ca_pem: String::new(),
            kubernetes_version: "v1.28.7".into(),
        };
        for (flags, want) in [
            (
                &["--control-plane-endpoint", "vip.example.com"][..],
                "https://vip.example.com:6443",
            ),
            (
                &[
                    "--control-plane-endpoint",
                    "vip.example.com:6443",
                    "--server",
                    "https://lb.example.com:443",
                ][..],
                "https://lb.example.com:443",
            ),
        ] {
            let argv = ["tenantctl", "bootstrap-setup"].iter().chain(flags);
            let crate::cli::Command::BootstrapSetup(args) =
                crate::cli::Cli::try_parse_from(argv).unwrap().command
            else {
                unreachable!()
            };
            let (s, _) = settings::resolve(&args, &facts, None).unwrap();
            let objs = objects(&s, "CA").unwrap();
            let Some(Object::ConfigMap(cm)) = objs.find("configmap", "kube-proxy") else {
                panic!("no kube-proxy")
            };
            let kc = &cm.data.as_ref().unwrap()["kubeconfig.conf"];
            assert_eq!(proxy::server_of(kc).as_deref(), Some(want));
            assert!(!kc.contains("10.0.0.10"), "{kc}");
            let Some(Object::ConfigMap(info)) = objs.find("configmap", "cluster-info") else {
                panic!("no cluster-info")
            };
            assert!(info.data.as_ref().unwrap()["kubeconfig"].contains(want));
        }
    }

    fn found(
        name: &str,
        labels: Option<BTreeMap<String, String>>,
        data: &[(&str, &str)],
    ) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(KUBE_SYSTEM.into()),
                labels,
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ConfigMap::default()
        }
    }

    #[test]
    fn kubeadms_configmaps_are_kept_and_kube_proxy_gets_only_the_server() {
        let s = settings("https://vip.example.com:6443");
        let mut objs = objects(&s, "CA").unwrap();
        let kubeadm_proxy = proxy::kubeconfig(&"https://10.0.0.10:6443".parse().unwrap());
        let msgs = objs.keep_foreign(
            &[
                found(
                    "kubeadm-config",
                    None,
                    &[("ClusterConfiguration", "theirs")],
                ),
                found("kubelet-config", Some(cluster::managed_labels()), &[]),
                found(
                    "kube-proxy",
                    Some(BTreeMap::from([("app".into(), "kube-proxy".into())])),
                    &[
                        ("config.conf", "theirs"),
                        ("kubeconfig.conf", &kubeadm_proxy),
                    ],
                ),
            ],
            &s,
        );
        // kubeadm's kubeadm-config is kept; our own kubelet-config is applied again.
        assert!(objs.find("configmap", "kubeadm-config").is_none());
        assert!(objs.find("configmap", "kubelet-config").is_some());
        assert!(objs.find("role", "kubeadm:nodes-kubeadm-config").is_some());
        let Some(Object::ConfigMap(cm)) = objs.find("configmap", "kube-proxy") else {
            panic!("kube-proxy")
        };
        assert_eq!(
            serde_json::to_value(cm).unwrap(),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
                "data": {"kubeconfig.conf": proxy::kubeconfig(&s.server)}})
        );
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        let Message::Note(proxy_note) = &msgs[1] else {
            panic!("{msgs:?}")
        };
        assert!(
            proxy_note.contains("it named https://10.0.0.10:6443: restart kube-proxy"),
            "{proxy_note}"
        );
    }

    #[test]
    fn the_list_is_a_kubectl_list() {
        let objs = objects(&settings("https://vip.example.com:6443"), "CA").unwrap();
        let list = objs.to_list().unwrap();
        assert_eq!(list["kind"], "List");
        let kinds: Vec<&Value> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["kind"])
            .collect();
        assert_eq!(kinds[0], "ClusterRoleBinding");
        assert_eq!(kinds[1], "ConfigMap");
        assert_eq!(kinds.len(), 18);
    }
}
