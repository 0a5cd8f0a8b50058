//! `tenantctl bootstrap-setup`: what `kubeadm init phase bootstrap-token` sets up so that nodes
//! can join with a token, idempotently by server-side apply: the `cluster-info` ConfigMap in
//! kube-public (a kubeconfig with the cluster CA and the server), readable by
//! `system:anonymous`, and kubeadm's bindings for the bootstrap group.
//!
//! Names mirror `cmd/kubeadm/app/phases/bootstraptoken/clusterinfo/clusterinfo.go`,
//! `cmd/kubeadm/app/phases/bootstraptoken/node/tlsbootstrap.go` and `cmd/kubeadm/app/constants`.

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

use super::token::DEFAULT_GROUP;
use crate::{
    cli::BootstrapSetupArgs,
    cluster::{self, Cluster},
    error::Error,
    output::{Output, progress, say},
};

/// The ConfigMap the join discovery reads.
pub const CLUSTER_INFO: &str = "cluster-info";
/// Its namespace.
pub const KUBE_PUBLIC: &str = "kube-public";
/// The Role and RoleBinding that let anonymous clients read it.
pub const CLUSTER_INFO_ROLE: &str = "kubeadm:bootstrap-signer-clusterinfo";
const RBAC: &str = "rbac.authorization.k8s.io";

/// Everything `bootstrap-setup` applies, as values.
#[derive(Debug, Clone)]
pub struct BootstrapObjects {
    /// `cluster-info` in kube-public.
    pub cluster_info: ConfigMap,
    /// `kubeadm:bootstrap-signer-clusterinfo` in kube-public.
    pub role: Role,
    /// Its binding to `system:anonymous`.
    pub role_binding: RoleBinding,
    /// `kubeadm:get-nodes`.
    pub get_nodes: ClusterRole,
    /// kubeadm's ClusterRoleBindings for the bootstrap group and for nodes.
    pub bindings: Vec<ClusterRoleBinding>,
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

/// The objects for `server` and the cluster CA.
pub fn objects(server: &ServerUrl, ca_pem: &str) -> Result<BootstrapObjects, Error> {
    let meta = |name: &str, namespace: Option<&str>| ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(cluster::managed_labels()),
        ..ObjectMeta::default()
    };
    let group = |name: &str| Subject {
        kind: "Group".into(),
        name: name.to_owned(),
        api_group: Some(RBAC.into()),
        namespace: None,
    };
    let crb = |name: &str, role: &str, subject: Subject| ClusterRoleBinding {
        metadata: meta(name, None),
        role_ref: RoleRef {
            api_group: Some(RBAC.into()),
            kind: "ClusterRole".into(),
            name: role.to_owned(),
        },
        subjects: Some(vec![subject]),
    };
    Ok(BootstrapObjects {
        cluster_info: ConfigMap {
            metadata: meta(CLUSTER_INFO, Some(KUBE_PUBLIC)),
            data: Some(BTreeMap::from([(
                "kubeconfig".to_owned(),
                cluster_info_kubeconfig(server, ca_pem)?,
            )])),
            ..ConfigMap::default()
        },
        role: Role {
            metadata: meta(CLUSTER_INFO_ROLE, Some(KUBE_PUBLIC)),
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["configmaps".into()]),
                resource_names: Some(vec![CLUSTER_INFO.into()]),
                verbs: vec!["get".into()],
                ..PolicyRule::default()
            }]),
        },
        role_binding: RoleBinding {
            metadata: meta(CLUSTER_INFO_ROLE, Some(KUBE_PUBLIC)),
            role_ref: RoleRef {
                api_group: Some(RBAC.into()),
                kind: "Role".into(),
                name: CLUSTER_INFO_ROLE.into(),
            },
            subjects: Some(vec![Subject {
                kind: "User".into(),
                name: "system:anonymous".into(),
                api_group: Some(RBAC.into()),
                namespace: None,
            }]),
        },
        get_nodes: ClusterRole {
            metadata: meta("kubeadm:get-nodes", None),
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["nodes".into()]),
                verbs: vec!["get".into()],
                ..PolicyRule::default()
            }]),
            aggregation_rule: None,
        },
        bindings: vec![
            crb(
                "kubeadm:get-nodes",
                "kubeadm:get-nodes",
                group(DEFAULT_GROUP),
            ),
            crb(
                "kubeadm:kubelet-bootstrap",
                "system:node-bootstrapper",
                group(DEFAULT_GROUP),
            ),
            crb(
                "kubeadm:node-autoapprove-bootstrap",
                "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                group(DEFAULT_GROUP),
            ),
            crb(
                "kubeadm:node-autoapprove-certificate-rotation",
                "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
                group("system:nodes"),
            ),
        ],
    })
}

/// What was applied (`-o json|yaml`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Applied {
    server: String,
    applied: Vec<String>,
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
        let server = match &args.server {
            Some(s) => s.clone(),
            None => resolved
                .config
                .cluster_url
                .to_string()
                .trim_end_matches('/')
                .parse()?,
        };
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
        apply_online(
            &cluster,
            &objects(&server, &ca_pem)?,
            &server,
            args.output,
            out,
        )
        .await
    })
}

/// Applies the objects (server-side apply: running it again changes nothing).
pub async fn apply_online(
    cluster: &Cluster,
    objects: &BootstrapObjects,
    server: &ServerUrl,
    format: crate::cli::Format,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let mut applied = Vec::new();
    cluster
        .apply_namespaced(KUBE_PUBLIC, &objects.cluster_info)
        .await?;
    applied.push(format!("configmap/{CLUSTER_INFO} in {KUBE_PUBLIC}"));
    cluster.apply_namespaced(KUBE_PUBLIC, &objects.role).await?;
    applied.push(format!("role/{CLUSTER_INFO_ROLE} in {KUBE_PUBLIC}"));
    cluster
        .apply_namespaced(KUBE_PUBLIC, &objects.role_binding)
        .await?;
    applied.push(format!("rolebinding/{CLUSTER_INFO_ROLE} in {KUBE_PUBLIC}"));
    cluster.apply_cluster(&objects.get_nodes).await?;
    applied.push("clusterrole/kubeadm:get-nodes".into());
    for b in &objects.bindings {
        cluster.apply_cluster(b).await?;
        applied.push(format!(
            "clusterrolebinding/{}",
            b.metadata.name.as_deref().unwrap_or_default()
        ));
    }
    let result = Applied {
        server: server.as_str().to_owned(),
        applied,
    };
    out.document(format, &result, |out, r| {
        for a in &r.applied {
            say!(out, "{a} applied");
        }
        say!(out, "cluster-info publishes {}", r.server);
        Ok(())
    })
}
