//! `kube-system/kubeadm-config`: the `ClusterConfiguration` `kubeadm join` reads (as a
//! bootstrap token, through the Role `kubeadm:nodes-kubeadm-config`), and the
//! ClusterRoleBinding `kubeadm:cluster-admins` that gives admin.conf's group cluster-admin.
//!
//! Mirrors `cmd/kubeadm/app/phases/uploadconfig/uploadconfig.go` (`UploadConfiguration`: the
//! ConfigMap, data key `ClusterConfiguration`; the Role and RoleBinding
//! `NodesKubeadmConfigClusterRoleName` for the bootstrap group and `system:nodes`),
//! `cmd/kubeadm/app/apis/kubeadm/v1beta3/types.go` (the fields; kubeadm v1.28 reads v1beta3, not
//! v1beta4), `cmd/kubeadm/app/util/config/cluster.go` (`getInitConfigurationFromCluster`: join
//! decodes it with defaulting, so an unset field gets kubeadm's default) and
//! `cmd/kubeadm/app/phases/kubeconfig/kubeconfig.go` (`EnsureAdminClusterRoleBindingImpl`).

use std::collections::BTreeMap;

use k8s_openapi::api::{
    core::v1::ConfigMap,
    rbac::v1::{ClusterRoleBinding, Role, RoleBinding},
};
use serde::Serialize;

use super::{
    KUBE_SYSTEM, NODES_GROUP, cluster_role_binding, configmap_reader, group, meta, role_binding,
    settings::Settings,
};
use crate::{error::Error, join::token::DEFAULT_GROUP};

/// The ConfigMap (kubeadm's `KubeadmConfigConfigMap`).
pub const KUBEADM_CONFIG: &str = "kubeadm-config";
/// Its data key (`ClusterConfigurationConfigMapKey`).
pub const CLUSTER_CONFIGURATION_KEY: &str = "ClusterConfiguration";
/// The Role and RoleBinding that let bootstrap tokens and nodes read it
/// (`NodesKubeadmConfigClusterRoleName`).
pub const NODES_KUBEADM_CONFIG: &str = "kubeadm:nodes-kubeadm-config";
/// The group in admin.conf's client certificate since kubeadm v1.29, and the
/// ClusterRoleBinding that binds it to `cluster-admin`
/// (`ClusterAdminsGroupAndClusterRoleBinding`).
pub const CLUSTER_ADMINS: &str = "kubeadm:cluster-admins";

/// kubeadm's `ClusterConfiguration`, `kubeadm.k8s.io/v1beta3`. Fields in the order Go's YAML
/// marshaller writes them (sorted), as kubeadm's `MarshalKubeadmConfigObject` does; the
/// non-pointer structs kubeadm writes as `{}` are written so too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfiguration {
    /// `apiServer`.
    pub api_server: ApiServer,
    /// `kubeadm.k8s.io/v1beta3`.
    pub api_version: &'static str,
    /// Where every node keeps the PKI.
    pub certificates_dir: String,
    /// The cluster name of the kubeconfigs kubeadm writes.
    pub cluster_name: String,
    /// `HOST[:PORT]` of the HA VIP or load balancer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<String>,
    /// `controllerManager: {}`.
    pub controller_manager: Empty,
    /// `dns: {}`.
    pub dns: Empty,
    /// `etcd`.
    pub etcd: Etcd,
    /// `imageRepository` (kubeadm's `DefaultImageRepository`).
    pub image_repository: &'static str,
    /// `ClusterConfiguration`.
    pub kind: &'static str,
    /// The control plane's version (`/version`'s `gitVersion`).
    pub kubernetes_version: String,
    /// `networking`.
    pub networking: Networking,
    /// `scheduler: {}`.
    pub scheduler: Empty,
}

/// `apiServer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiServer {
    /// Extra SANs of every control-plane node's serving certificate (`certSANs`, kubeadm's
    /// spelling; its decoder is case-sensitive).
    #[serde(rename = "certSANs", skip_serializing_if = "Vec::is_empty")]
    pub cert_sans: Vec<String>,
    /// kubeadm v1beta3's default, `4m0s`.
    pub timeout_for_control_plane: &'static str,
}

/// A struct kubeadm writes as `{}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Empty {}

/// `etcd`: kubeadm's default, a local etcd in `/var/lib/etcd` (`DefaultEtcdDataDir`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Etcd {
    /// `local`.
    pub local: LocalEtcd,
}

/// `etcd.local`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalEtcd {
    /// `dataDir`.
    pub data_dir: &'static str,
}

/// `networking`; dual-stack subnets comma-separated, as kubeadm takes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Networking {
    /// `dnsDomain`.
    pub dns_domain: String,
    /// `podSubnet` (unset: kubeadm's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_subnet: Option<String>,
    /// `serviceSubnet`.
    pub service_subnet: String,
}

/// The `ClusterConfiguration` for these settings.
pub fn cluster_configuration(s: &Settings) -> ClusterConfiguration {
    let join = |cidrs: &[pki_core::Cidr]| {
        cidrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    ClusterConfiguration {
        api_server: ApiServer {
            cert_sans: s.cert_sans.iter().map(ToString::to_string).collect(),
            timeout_for_control_plane: "4m0s",
        },
        api_version: "kubeadm.k8s.io/v1beta3",
        certificates_dir: s.certificates_dir.clone(),
        cluster_name: s.cluster_name.clone(),
        control_plane_endpoint: Some(s.control_plane_endpoint.clone()),
        controller_manager: Empty {},
        dns: Empty {},
        etcd: Etcd {
            local: LocalEtcd {
                data_dir: "/var/lib/etcd",
            },
        },
        image_repository: "registry.k8s.io",
        kind: "ClusterConfiguration",
        kubernetes_version: s.kubernetes_version.clone(),
        networking: Networking {
            dns_domain: s.dns_domain.clone(),
            pod_subnet: (!s.pod_subnets.is_empty()).then(|| join(&s.pod_subnets)),
            service_subnet: join(&s.service_subnets),
        },
        scheduler: Empty {},
    }
}

/// `kube-system/kubeadm-config` with the ClusterConfiguration as YAML.
pub fn configmap(s: &Settings) -> Result<ConfigMap, Error> {
    Ok(ConfigMap {
        metadata: meta(KUBEADM_CONFIG, Some(KUBE_SYSTEM)),
        data: Some(BTreeMap::from([(
            CLUSTER_CONFIGURATION_KEY.to_owned(),
            crate::output::yaml(&cluster_configuration(s))?,
        )])),
        ..ConfigMap::default()
    })
}

/// The Role `kubeadm:nodes-kubeadm-config` (get on the ConfigMap) and its RoleBinding to the
/// bootstrap group and `system:nodes`.
pub fn rbac() -> (Role, RoleBinding) {
    (
        configmap_reader(NODES_KUBEADM_CONFIG, KUBEADM_CONFIG),
        role_binding(
            NODES_KUBEADM_CONFIG,
            KUBE_SYSTEM,
            vec![group(DEFAULT_GROUP), group(NODES_GROUP)],
        ),
    )
}

/// `kubeadm:cluster-admins`: ClusterRole `cluster-admin` for the group of that name.
pub fn cluster_admins() -> ClusterRoleBinding {
    cluster_role_binding(CLUSTER_ADMINS, "cluster-admin", group(CLUSTER_ADMINS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::kubeadm_config;

    fn settings() -> Settings {
        Settings {
            cluster_name: "prod".into(),
            service_subnets: vec![
                "10.96.0.0/12".parse().unwrap(),
                "fd00:10:96::/112".parse().unwrap(),
            ],
            pod_subnets: vec!["10.244.0.0/16".parse().unwrap()],
            dns_domain: "corp.local".into(),
            cert_sans: vec!["lb.example.com".parse().unwrap()],
            ..Settings::example("https://vip.example.com:6443")
        }
    }

    #[test]
    fn cluster_configuration_is_v1beta3_with_the_settings() {
        let text = crate::output::yaml(&cluster_configuration(&settings())).unwrap();
        let v: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "apiServer": {"certSANs": ["lb.example.com"], "timeoutForControlPlane": "4m0s"},
                "apiVersion": "kubeadm.k8s.io/v1beta3",
                "certificatesDir": "/etc/kubernetes/pki",
                "clusterName": "prod",
                "controlPlaneEndpoint": "vip.example.com:6443",
                "controllerManager": {},
                "dns": {},
                "etcd": {"local": {"dataDir": "/var/lib/etcd"}},
                "imageRepository": "registry.k8s.io",
                "kind": "ClusterConfiguration",
                "kubernetesVersion": "v1.28.7",
                "networking": {
                    "dnsDomain": "corp.local",
                    "podSubnet": "10.244.0.0/16",
                    "serviceSubnet": "10.96.0.0/12,fd00:10:96::/112"
                },
                "scheduler": {}
            })
        );
        // Keys sorted as Go's marshaller writes them (controlPlaneEndpoint < controllerManager).
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with(' '))
            .filter_map(|l| l.split(':').next())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
        // tenantctl's own reader of kubeadm's files reads it back (an independent parser).
        let parsed = kubeadm_config::parse(&text).unwrap();
        assert_eq!(parsed.cluster_name.as_deref(), Some("prod"));
        assert_eq!(
            parsed.control_plane_endpoint,
            Some("vip.example.com:6443".parse().unwrap())
        );
        assert_eq!(parsed.dns_domain.as_deref(), Some("corp.local"));
        assert_eq!(parsed.service_subnets, Some(settings().service_subnets));
        assert_eq!(
            parsed.cert_sans,
            Some(vec!["lb.example.com".parse().unwrap()])
        );
        assert_eq!(parsed.cert_dir, Some("/etc/kubernetes/pki".into()));
    }

    #[test]
    fn unset_pod_subnet_and_sans_are_left_out() {
        let mut s = settings();
        s.pod_subnets.clear();
        s.cert_sans.clear();
        let v = serde_json::to_value(cluster_configuration(&s)).unwrap();
        assert!(v["networking"].get("podSubnet").is_none());
        assert_eq!(
            v["apiServer"],
            serde_json::json!({"timeoutForControlPlane": "4m0s"})
        );
    }

    #[test]
    fn the_configmap_and_its_readers_are_kubeadms() {
        let cm = configmap(&settings()).unwrap();
        assert_eq!(cm.metadata.name.as_deref(), Some("kubeadm-config"));
        assert_eq!(cm.metadata.namespace.as_deref(), Some("kube-system"));
        let data = cm.data.unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), ["ClusterConfiguration"]);
        let (role, binding) = rbac();
        let role = serde_json::to_value(role).unwrap();
        assert_eq!(role["metadata"]["name"], "kubeadm:nodes-kubeadm-config");
        assert_eq!(role["metadata"]["namespace"], "kube-system");
        assert_eq!(
            role["rules"],
            serde_json::json!([{"apiGroups": [""], "resources": ["configmaps"],
                "resourceNames": ["kubeadm-config"], "verbs": ["get"]}])
        );
        let binding = serde_json::to_value(binding).unwrap();
        assert_eq!(
            binding["roleRef"],
            serde_json::json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                "name": "kubeadm:nodes-kubeadm-config"})
        );
        assert_eq!(
            binding["subjects"],
            serde_json::json!([
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                 "name": "system:bootstrappers:kubeadm:default-node-token"},
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}
            ])
        );
    }

    #[test]
    fn cluster_admins_binds_the_group_to_cluster_admin() {
        let crb = serde_json::to_value(cluster_admins()).unwrap();
        assert_eq!(crb["metadata"]["name"], "kubeadm:cluster-admins");
        assert_eq!(
            crb["roleRef"],
            serde_json::json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": "cluster-admin"})
        );
        assert_eq!(
            crb["subjects"],
            serde_json::json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                "name": "kubeadm:cluster-admins"}])
        );
    }
}
