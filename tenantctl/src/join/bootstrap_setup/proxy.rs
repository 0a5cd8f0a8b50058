//! `kube-system/kube-proxy`: kube-proxy's configuration (`config.conf`) and the kubeconfig it
//! reaches the API server with (`kubeconfig.conf`), whose server is the endpoint given
//! (`--server`, else the control-plane endpoint) — never a node's own address. kubeadm renders
//! that server from `GetControlPlaneEndpoint` (the `init` node's advertise address when there is
//! no control-plane endpoint), so an HA setup behind a VIP has to hand-edit it. `kubeadm join`
//! reads `config.conf` as a bootstrap token through the Role and RoleBinding `kube-proxy` (and
//! warns when it cannot).
//!
//! Mirrors `cmd/kubeadm/app/phases/addons/proxy/manifests.go` (`KubeProxyConfigMap19`: the
//! `app: kube-proxy` label, the kubeconfig text, both keys `|-`, so without a final newline),
//! `cmd/kubeadm/app/phases/addons/proxy/proxy.go` (`EnsureProxyAddon`; the Role and
//! RoleBinding `kube-proxy` for the bootstrap group in `createClusterRoleBindings`),
//! `cmd/kubeadm/app/constants/constants.go` (`KubeProxyConfigMap`, `KubeProxyConfigMapKey` =
//! `config.conf`) and `cmd/kubeadm/app/componentconfigs/kubeproxy.go` (`kubeProxyConfig.Default`:
//! `bindAddress`, `clusterCIDR` from the pod subnet, `clientConnection.kubeconfig`). The
//! DaemonSet, its ServiceAccount and `kubeadm:node-proxier` are not made: tenantctl does not
//! deploy kube-proxy.

use std::collections::BTreeMap;

use k8s_openapi::api::{
    core::v1::ConfigMap,
    rbac::v1::{Role, RoleBinding},
};
use kubeconfig::ServerUrl;
use serde::Serialize;

use super::{KUBE_SYSTEM, configmap_reader, group, meta, role_binding, settings::Settings};
use crate::{error::Error, join::token::DEFAULT_GROUP};

/// The ConfigMap, and the Role and RoleBinding (`KubeProxyConfigMap`).
pub const KUBE_PROXY: &str = "kube-proxy";
/// kube-proxy's configuration (`KubeProxyConfigMapKey`).
pub const CONFIG_KEY: &str = "config.conf";
/// Its kubeconfig.
pub const KUBECONFIG_KEY: &str = "kubeconfig.conf";
/// Where the DaemonSet mounts `kubeconfig.conf` (kubeproxy.go's `kubeproxyKubeConfigFileName`).
const KUBECONFIG_PATH: &str = "/var/lib/kube-proxy/kubeconfig.conf";

/// `kubeproxy.config.k8s.io/v1alpha1` `KubeProxyConfiguration`: the fields kubeadm sets, sorted
/// as Go writes them; kube-proxy defaults the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeProxyConfiguration {
    /// `kubeproxy.config.k8s.io/v1alpha1`.
    pub api_version: &'static str,
    /// `0.0.0.0`, or `::` in an IPv6 cluster.
    pub bind_address: &'static str,
    /// `kubeconfig: /var/lib/kube-proxy/kubeconfig.conf`.
    pub client_connection: ClientConnection,
    /// The pod subnet(s), when given.
    #[serde(rename = "clusterCIDR", skip_serializing_if = "Option::is_none")]
    pub cluster_cidr: Option<String>,
    /// `KubeProxyConfiguration`.
    pub kind: &'static str,
}

/// `clientConnection`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientConnection {
    /// The kubeconfig file.
    pub kubeconfig: &'static str,
}

/// kube-proxy's configuration for these settings. kubeadm picks the bind address by the family
/// of the `init` node's advertise address; here the first service subnet's family stands in.
pub fn kube_proxy_configuration(s: &Settings) -> KubeProxyConfiguration {
    let v6 = s
        .service_subnets
        .first()
        .and_then(|c| c.first_host().ok())
        .is_some_and(|ip| ip.is_ipv6());
    KubeProxyConfiguration {
        api_version: "kubeproxy.config.k8s.io/v1alpha1",
        bind_address: if v6 { "::" } else { "0.0.0.0" },
        client_connection: ClientConnection {
            kubeconfig: KUBECONFIG_PATH,
        },
        cluster_cidr: (!s.pod_subnets.is_empty()).then(|| {
            s.pod_subnets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }),
        kind: "KubeProxyConfiguration",
    }
}

/// `kubeconfig.conf`: kubeadm's template text with `server`: the pod's service-account token and
/// CA, the server given.
pub fn kubeconfig(server: &ServerUrl) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: {}
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
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token",
        server.as_str()
    )
}

/// `kube-system/kube-proxy`, labelled `app: kube-proxy`.
pub fn configmap(s: &Settings) -> Result<ConfigMap, Error> {
    let mut metadata = meta(KUBE_PROXY, Some(KUBE_SYSTEM));
    metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert("app".into(), KUBE_PROXY.into());
    let config = crate::output::yaml(&kube_proxy_configuration(s))?;
    Ok(ConfigMap {
        metadata,
        data: Some(BTreeMap::from([
            (CONFIG_KEY.to_owned(), config.trim_end().to_owned()),
            (KUBECONFIG_KEY.to_owned(), kubeconfig(&s.server)),
        ])),
        ..ConfigMap::default()
    })
}

/// For a kube-proxy ConfigMap someone else (kubeadm) made: only `kubeconfig.conf`, so a
/// server-side apply sets the server and leaves their `config.conf` and labels alone.
pub fn server_only(s: &Settings) -> ConfigMap {
    ConfigMap {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(KUBE_PROXY.into()),
            namespace: Some(KUBE_SYSTEM.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            KUBECONFIG_KEY.to_owned(),
            kubeconfig(&s.server),
        )])),
        ..ConfigMap::default()
    }
}

/// The server a `kubeconfig.conf` names.
pub fn server_of(kubeconfig_conf: &str) -> Option<String> {
    let kc: kube::config::Kubeconfig = serde_saphyr::from_str(kubeconfig_conf).ok()?;
    kc.clusters.first()?.cluster.as_ref()?.server.clone()
}

/// The Role `kube-proxy` (get on the ConfigMap) and its RoleBinding to the bootstrap group.
pub fn rbac() -> (Role, RoleBinding) {
    (
        configmap_reader(KUBE_PROXY, KUBE_PROXY),
        role_binding(KUBE_PROXY, KUBE_SYSTEM, vec![group(DEFAULT_GROUP)]),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn settings(server: &str) -> Settings {
        Settings {
            pod_subnets: vec!["10.244.0.0/16".parse().unwrap()],
            ..Settings::example(server)
        }
    }

    #[test]
    fn kubeconfig_conf_names_the_server_given_and_nothing_else() {
        let cm = configmap(&settings("https://vip.example.com:6443")).unwrap();
        let data = cm.data.unwrap();
        let kc = &data["kubeconfig.conf"];
        assert_eq!(
            server_of(kc).as_deref(),
            Some("https://vip.example.com:6443")
        );
        assert!(!kc.contains("10.0.0."), "no node address: {kc}");
        assert!(!kc.ends_with('\n'), "`|-` in kubeadm's template");
        // An independent reader: kube's own kubeconfig type.
        let parsed: kube::config::Kubeconfig = serde_saphyr::from_str(kc).unwrap();
        assert_eq!(parsed.current_context.as_deref(), Some("default"));
        let user = parsed.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(
            user.token_file.as_deref(),
            Some("/var/run/secrets/kubernetes.io/serviceaccount/token")
        );
        let cluster = parsed.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(
            cluster.certificate_authority.as_deref(),
            Some("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
        );
        // IPv6 in brackets.
        let kc6 = kubeconfig(&"https://[fd00::100]:6443".parse().unwrap());
        assert_eq!(server_of(&kc6).as_deref(), Some("https://[fd00::100]:6443"));
    }

    #[test]
    fn config_conf_is_kube_proxys_with_the_pod_subnet() {
        let cm = configmap(&settings("https://vip.example.com:6443")).unwrap();
        assert_eq!(cm.metadata.name.as_deref(), Some("kube-proxy"));
        assert_eq!(cm.metadata.namespace.as_deref(), Some("kube-system"));
        assert_eq!(cm.metadata.labels.as_ref().unwrap()["app"], "kube-proxy");
        let data = cm.data.unwrap();
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            ["config.conf", "kubeconfig.conf"]
        );
        let conf = &data["config.conf"];
        assert!(!conf.ends_with('\n'));
        let v: serde_json::Value = serde_saphyr::from_str(conf).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                "bindAddress": "0.0.0.0",
                "clientConnection": {"kubeconfig": "/var/lib/kube-proxy/kubeconfig.conf"},
                "clusterCIDR": "10.244.0.0/16",
                "kind": "KubeProxyConfiguration"
            })
        );
        let mut s = settings("https://vip.example.com:6443");
        s.pod_subnets.clear();
        s.service_subnets = vec!["fd00:10:96::/112".parse().unwrap()];
        let v = serde_json::to_value(kube_proxy_configuration(&s)).unwrap();
        assert_eq!(v["bindAddress"], "::");
        assert!(v.get("clusterCIDR").is_none());
    }

    #[test]
    fn server_only_sets_just_the_kubeconfig() {
        let cm = server_only(&settings("https://vip.example.com:6443"));
        assert!(cm.metadata.labels.is_none());
        let data = cm.data.unwrap();
        assert_eq!(data.keys().collect::<Vec<_>>(), ["kubeconfig.conf"]);
    }

    #[test]
    fn bootstrap_tokens_may_read_it() {
        let (role, binding) = rbac();
        let role = serde_json::to_value(role).unwrap();
        assert_eq!(role["metadata"]["name"], "kube-proxy");
        assert_eq!(
            role["rules"],
            json!([{"apiGroups": [""], "resources": ["configmaps"],
                "resourceNames": ["kube-proxy"], "verbs": ["get"]}])
        );
        let binding = serde_json::to_value(binding).unwrap();
        assert_eq!(binding["roleRef"]["kind"], "Role");
        assert_eq!(
            binding["subjects"],
            json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                "name": "system:bootstrappers:kubeadm:default-node-token"}])
        );
    }
}
