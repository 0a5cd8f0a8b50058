//! `kube-system/kubelet-config`: the `KubeletConfiguration` `kubeadm join` writes to every new
//! node's `/var/lib/kubelet/config.yaml` (it fails without it), and the Role and RoleBinding
//! `kubeadm:kubelet-config` that let bootstrap tokens and nodes read it.
//!
//! Mirrors `cmd/kubeadm/app/phases/kubelet/config.go` (`CreateConfigMap`,
//! `createConfigMapRBACRules`), `cmd/kubeadm/app/constants/constants.go`
//! (`KubeletBaseConfigurationConfigMap` = `kubelet-config`, key `kubelet`,
//! `KubeletBaseConfigMapRole`) and `cmd/kubeadm/app/componentconfigs/kubelet.go`
//! (`kubeletConfig.Default`: the values kubeadm sets; the kubelet defaults every other field
//! itself). Not written: `resolvConf`, which kubeadm's defaulting sets where it runs (on the
//! joining node too) when systemd-resolved is active there, and the
//! `kubeadm.kubernetes.io/component-config.hash` annotation (`SignConfigMap`), so kubeadm treats
//! the configuration as user-supplied and keeps it on upgrade.

use std::collections::BTreeMap;

use k8s_openapi::api::{
    core::v1::ConfigMap,
    rbac::v1::{Role, RoleBinding},
};
use serde::Serialize;

use super::{
    KUBE_SYSTEM, NODES_GROUP, configmap_reader, group, meta, role_binding, settings::Settings,
};
use crate::{error::Error, join::token::DEFAULT_GROUP};

/// The ConfigMap (`KubeletBaseConfigurationConfigMap`).
pub const KUBELET_CONFIG: &str = "kubelet-config";
/// Its data key (`KubeletBaseConfigurationConfigMapKey`).
pub const KUBELET_KEY: &str = "kubelet";
/// The Role and RoleBinding (`KubeletBaseConfigMapRole`).
pub const KUBELET_CONFIG_ROLE: &str = "kubeadm:kubelet-config";

/// The fields of `kubelet.config.k8s.io/v1beta1` `KubeletConfiguration` kubeadm sets, in the
/// order Go writes them (sorted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletConfiguration {
    /// `kubelet.config.k8s.io/v1beta1`.
    pub api_version: &'static str,
    /// Anonymous off, webhook on, client certificates from the cluster CA.
    pub authentication: Authentication,
    /// `mode: Webhook`.
    pub authorization: Authorization,
    /// `systemd` (kubeadm's default since v1.22).
    pub cgroup_driver: &'static str,
    /// The DNS service's address.
    #[serde(rename = "clusterDNS")]
    pub cluster_dns: Vec<String>,
    /// `networking.dnsDomain`.
    pub cluster_domain: String,
    /// `127.0.0.1`: kubeadm polls the kubelet's health there.
    pub healthz_bind_address: &'static str,
    /// `10248` (`KubeletHealthzPort`).
    pub healthz_port: u16,
    /// `KubeletConfiguration`.
    pub kind: &'static str,
    /// Always `true` in kubeadm.
    pub rotate_certificates: bool,
    /// `/etc/kubernetes/manifests` (`DefaultManifestsDir`).
    pub static_pod_path: &'static str,
}

/// `authentication`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Authentication {
    /// `anonymous.enabled: false`.
    pub anonymous: Enabled,
    /// `webhook.enabled: true`.
    pub webhook: Enabled,
    /// `x509.clientCAFile`.
    pub x509: X509,
}

/// `{enabled: …}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Enabled {
    /// `enabled`.
    pub enabled: bool,
}

/// `authentication.x509`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct X509 {
    /// `<certificatesDir>/ca.crt`.
    #[serde(rename = "clientCAFile")]
    pub client_ca_file: String,
}

/// `authorization`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Authorization {
    /// `Webhook`.
    pub mode: &'static str,
}

/// The kubelet configuration kubeadm makes for these settings.
pub fn kubelet_configuration(s: &Settings) -> Result<KubeletConfiguration, Error> {
    Ok(KubeletConfiguration {
        api_version: "kubelet.config.k8s.io/v1beta1",
        authentication: Authentication {
            anonymous: Enabled { enabled: false },
            webhook: Enabled { enabled: true },
            x509: X509 {
                client_ca_file: format!("{}/ca.crt", s.certificates_dir.trim_end_matches('/')),
            },
        },
        authorization: Authorization { mode: "Webhook" },
        cgroup_driver: "systemd",
        cluster_dns: vec![s.dns_ip()?.to_string()],
        cluster_domain: s.dns_domain.clone(),
        healthz_bind_address: "127.0.0.1",
        healthz_port: 10248,
        kind: "KubeletConfiguration",
        rotate_certificates: true,
        static_pod_path: "/etc/kubernetes/manifests",
    })
}

/// `kube-system/kubelet-config`.
pub fn configmap(s: &Settings) -> Result<ConfigMap, Error> {
    Ok(ConfigMap {
        metadata: meta(KUBELET_CONFIG, Some(KUBE_SYSTEM)),
        data: Some(BTreeMap::from([(
            KUBELET_KEY.to_owned(),
            crate::output::yaml(&kubelet_configuration(s)?)?,
        )])),
        ..ConfigMap::default()
    })
}

/// The Role `kubeadm:kubelet-config` and its RoleBinding to `system:nodes` and the bootstrap
/// group (kubeadm's order).
pub fn rbac() -> (Role, RoleBinding) {
    (
        configmap_reader(KUBELET_CONFIG_ROLE, KUBELET_CONFIG),
        role_binding(
            KUBELET_CONFIG_ROLE,
            KUBE_SYSTEM,
            vec![group(NODES_GROUP), group(DEFAULT_GROUP)],
        ),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn settings() -> Settings {
        Settings {
            certificates_dir: "/srv/pki".into(),
            service_subnets: vec!["10.100.0.0/16".parse().unwrap()],
            dns_domain: "corp.local".into(),
            ..Settings::example("https://vip.example.com:6443")
        }
    }

    #[test]
    fn the_kubelet_configuration_is_kubeadms_defaults_for_the_settings() {
        let cm = configmap(&settings()).unwrap();
        assert_eq!(cm.metadata.name.as_deref(), Some("kubelet-config"));
        assert_eq!(cm.metadata.namespace.as_deref(), Some("kube-system"));
        let text = &cm.data.unwrap()["kubelet"];
        let v: serde_json::Value = serde_saphyr::from_str(text).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "kubelet.config.k8s.io/v1beta1",
                "authentication": {
                    "anonymous": {"enabled": false},
                    "webhook": {"enabled": true},
                    "x509": {"clientCAFile": "/srv/pki/ca.crt"}
                },
                "authorization": {"mode": "Webhook"},
                "cgroupDriver": "systemd",
                "clusterDNS": ["10.100.0.10"],
                "clusterDomain": "corp.local",
                "healthzBindAddress": "127.0.0.1",
                "healthzPort": 10248,
                "kind": "KubeletConfiguration",
                "rotateCertificates": true,
                "staticPodPath": "/etc/kubernetes/manifests"
            })
        );
    }

    #[test]
    fn nodes_and_bootstrap_tokens_may_read_it() {
        let (role, binding) = rbac();
        let role = serde_json::to_value(role).unwrap();
        assert_eq!(role["metadata"]["name"], "kubeadm:kubelet-config");
        assert_eq!(
            role["rules"],
            json!([{"apiGroups": [""], "resources": ["configmaps"],
                "resourceNames": ["kubelet-config"], "verbs": ["get"]}])
        );
        let binding = serde_json::to_value(binding).unwrap();
        assert_eq!(binding["metadata"]["namespace"], "kube-system");
        assert_eq!(binding["roleRef"]["name"], "kubeadm:kubelet-config");
        assert_eq!(
            binding["subjects"],
            json!([
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"},
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                 "name": "system:bootstrappers:kubeadm:default-node-token"}
            ])
        );
    }
}
