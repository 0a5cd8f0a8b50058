//! kubeadm's control-plane kubeconfigs as data (spec §3.1), building them, and the reuse check (§2.5).

use std::fmt;
use std::time::SystemTime;

use pki_core::{Certificate, CertificateAuthority, ClientIdentity, PrivateKey, Validity};

use crate::build::context_name;
use crate::resolve::check_client_certificate;
use crate::{
    ClusterCa, ClusterEntry, Credentials, Error, Kubeconfig, OtherCredentials, Secret, ServerUrl,
};

/// One of the kubeconfig files kubeadm writes to `/etc/kubernetes` on a control-plane node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ControlPlaneKubeconfig {
    /// `admin.conf`.
    Admin,
    /// `super-admin.conf` (v1.29+, init node only).
    SuperAdmin,
    /// `controller-manager.conf`.
    ControllerManager,
    /// `scheduler.conf`.
    Scheduler,
    /// `kubelet.conf` (as kubeadm writes it, before the kubelet rotates its certificate).
    Kubelet,
}

/// Which API server URL a kubeconfig points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiEndpoint {
    /// The control-plane endpoint (`controlPlaneEndpoint`: an HA VIP or load balancer; falls back to the
    /// local endpoint when there is none, which is the caller's choice of URL).
    ControlPlane,
    /// This node's API server: `https://<advertiseAddress>:<bindPort>`.
    Local,
}

/// The client certificate's CN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientName {
    /// A fixed user name.
    Fixed(&'static str),
    /// `system:node:<node name>`.
    Node,
}

/// One row of [`CONTROL_PLANE_KUBECONFIGS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlPlaneSpec {
    /// Which file.
    pub id: ControlPlaneKubeconfig,
    /// File name in `/etc/kubernetes`.
    pub file_name: &'static str,
    /// Client certificate CN, which is also the kubeconfig user name.
    pub user: ClientName,
    /// Client certificate O, if any.
    pub organization: Option<&'static str>,
    /// Which server URL it uses.
    pub endpoint: ApiEndpoint,
}

/// kubeadm's control-plane kubeconfigs (kubeadm `phases/kubeconfig/kubeconfig.go`
/// `getKubeConfigSpecsBase`, constants in `constants.go`), as of v1.33.
pub const CONTROL_PLANE_KUBECONFIGS: [ControlPlaneSpec; 5] = [
    // AdminKubeConfigFileName; user `kubernetes-admin`, O ClusterAdminsGroupAndClusterRoleBinding (v1.29+;
    // `system:masters` before).
    ControlPlaneSpec {
        id: ControlPlaneKubeconfig::Admin,
        file_name: "admin.conf",
        user: ClientName::Fixed("kubernetes-admin"),
        organization: Some("kubeadm:cluster-admins"),
        endpoint: ApiEndpoint::ControlPlane,
    },
    // SuperAdminKubeConfigFileName (v1.29+, KEP-4214); O SystemPrivilegedGroup.
    ControlPlaneSpec {
        id: ControlPlaneKubeconfig::SuperAdmin,
        file_name: "super-admin.conf",
        user: ClientName::Fixed("kubernetes-super-admin"),
        organization: Some("system:masters"),
        endpoint: ApiEndpoint::ControlPlane,
    },
    // ControllerManagerKubeConfigFileName; ControllerManagerUser; local endpoint since v1.20 (PR #94398).
    ControlPlaneSpec {
        id: ControlPlaneKubeconfig::ControllerManager,
        file_name: "controller-manager.conf",
        user: ClientName::Fixed("system:kube-controller-manager"),
        organization: None,
        endpoint: ApiEndpoint::Local,
    },
    // SchedulerKubeConfigFileName; SchedulerUser; local endpoint since v1.20.
    ControlPlaneSpec {
        id: ControlPlaneKubeconfig::Scheduler,
        file_name: "scheduler.conf",
        user: ClientName::Fixed("system:kube-scheduler"),
        organization: None,
        endpoint: ApiEndpoint::Local,
    },
    // KubeletKubeConfigFileName; NodesUserPrefix + node name, O NodesGroup; local endpoint with
    // ControlPlaneKubeletLocalMode (default on since v1.33; the control-plane endpoint before).
    ControlPlaneSpec {
        id: ControlPlaneKubeconfig::Kubelet,
        file_name: "kubelet.conf",
        user: ClientName::Node,
        organization: Some("system:nodes"),
        endpoint: ApiEndpoint::Local,
    },
];

impl ControlPlaneKubeconfig {
    /// This file's row of [`CONTROL_PLANE_KUBECONFIGS`].
    pub fn spec(self) -> &'static ControlPlaneSpec {
        match self {
            Self::Admin => &CONTROL_PLANE_KUBECONFIGS[0],
            Self::SuperAdmin => &CONTROL_PLANE_KUBECONFIGS[1],
            Self::ControllerManager => &CONTROL_PLANE_KUBECONFIGS[2],
            Self::Scheduler => &CONTROL_PLANE_KUBECONFIGS[3],
            Self::Kubelet => &CONTROL_PLANE_KUBECONFIGS[4],
        }
    }
}

/// The cluster-wide inputs of the control-plane kubeconfigs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlPlaneCluster {
    /// `clusterName` (kubeadm's default is `kubernetes`).
    pub cluster_name: String,
    /// The control-plane endpoint URL (HA VIP / load balancer), or the local endpoint when there is none.
    pub control_plane_endpoint: ServerUrl,
    /// This node's API server URL, `https://<advertiseAddress>:<bindPort>`.
    pub local_endpoint: ServerUrl,
    /// This node's name (for `kubelet.conf`).
    pub node_name: String,
}

impl ControlPlaneSpec {
    /// The client certificate CN (= kubeconfig user name) on node `node_name`.
    pub fn common_name(&self, node_name: &str) -> String {
        match self.user {
            ClientName::Fixed(name) => name.to_owned(),
            ClientName::Node => format!("system:node:{node_name}"),
        }
    }

    /// The identity to issue the client certificate for.
    pub fn identity(&self, node_name: &str) -> ClientIdentity {
        ClientIdentity {
            user: self.common_name(node_name),
            groups: self.organization.iter().map(|o| (*o).to_owned()).collect(),
        }
    }

    /// The server URL this file uses.
    pub fn server<'a>(&self, cluster: &'a ControlPlaneCluster) -> &'a ServerUrl {
        match self.endpoint {
            ApiEndpoint::ControlPlane => &cluster.control_plane_endpoint,
            ApiEndpoint::Local => &cluster.local_endpoint,
        }
    }

    /// Issues the client certificate for `key` (generated by the caller, so that many can be made in
    /// parallel) with `ca` and builds the kubeconfig: cluster `cluster_name`, user = CN, context
    /// `<CN>@<cluster_name>`, everything embedded.
    pub fn build(
        &self,
        cluster: &ControlPlaneCluster,
        ca: &CertificateAuthority,
        key: &PrivateKey,
        validity: Validity,
    ) -> Result<Kubeconfig, Error> {
        let identity = self.identity(&cluster.node_name);
        let cert = ca
            .issue_client(&identity, key, validity)
            .map_err(|source| Error::Issue {
                user: identity.user.clone(),
                source: Box::new(source),
            })?;
        let key_pem = key.secret_pem().map_err(|source| Error::KeyEncoding {
            user: identity.user.clone(),
            source: Box::new(source),
        })?;
        let entry = ClusterEntry {
            name: cluster.cluster_name.clone(),
            server: self.server(cluster).clone(),
            ca_pem: ca.certificate().to_pem(),
        };
        Kubeconfig::with_client_certificate(
            &entry,
            &identity.user,
            &cert.to_pem(),
            Secret::from(key_pem),
            None,
        )
    }

    /// Decides whether an existing file (`yaml`, the content of [`Self::file_name`]) can be kept.
    ///
    /// kubeadm's rule (`validateKubeConfig`): the file parses, its current context resolves to a cluster,
    /// its embedded CA equals `ca` after trimming whitespace (else [`Error::WrongCa`]); a different server
    /// URL is only a [`Warning`]. Then what kubeadm skips: the embedded client certificate chains to `ca`,
    /// is in date at `now`, has this row's CN and O, and the key matches it. A client certificate given
    /// as a file reference (the kubelet's rotated `kubelet.conf`) cannot be read here: a warning, not an
    /// error, as kubeadm keeps such a file.
    pub fn check_existing(
        &self,
        cluster: &ControlPlaneCluster,
        ca: &Certificate,
        yaml: &str,
        now: SystemTime,
    ) -> ReuseCheck {
        self.check_existing_trusting(cluster, std::slice::from_ref(ca), yaml, now)
    }

    /// [`Self::check_existing`] against a CA bundle (`ca.crt` during a CA rotation: both CAs, the
    /// one whose key signs first): the embedded CA must be the whole bundle, and the client
    /// certificate must chain to its first certificate.
    pub fn check_existing_trusting(
        &self,
        cluster: &ControlPlaneCluster,
        bundle: &[Certificate],
        yaml: &str,
        now: SystemTime,
    ) -> ReuseCheck {
        let Some(ca) = bundle.first() else {
            return ReuseCheck {
                file: self.file_name.to_owned(),
                warnings: Vec::new(),
                problems: vec![Error::NoEmbeddedCa {
                    cluster: String::new(),
                }],
            };
        };
        let bundle_pem: String = bundle.iter().map(Certificate::to_pem).collect();
        let file = self.file_name.to_owned();
        let mut check = ReuseCheck {
            file: file.clone(),
            warnings: Vec::new(),
            problems: Vec::new(),
        };
        let config = match Kubeconfig::from_yaml(yaml) {
            Ok(config) => config,
            Err(e) => {
                check.problems.push(e);
                return check;
            }
        };
        let current = match config.current() {
            Ok(current) => current,
            Err(e) => {
                check.problems.push(e);
                return check;
            }
        };
        match &current.ca {
            ClusterCa::Embedded(pem) if pem.trim() == bundle_pem.trim() => {}
            ClusterCa::Embedded(_) => check.problems.push(Error::WrongCa { file: file.clone() }),
            ClusterCa::File(_) | ClusterCa::SystemRoots => {
                check.problems.push(Error::NoEmbeddedCa {
                    cluster: current.cluster.to_owned(),
                });
            }
        }
        let expected_server = self.server(cluster);
        if current.server != expected_server.as_str() {
            check.warnings.push(Warning::ServerMismatch {
                file: file.clone(),
                expected: expected_server.as_str().to_owned(),
                found: current.server.to_owned(),
            });
        }
        match &current.credentials {
            Credentials::ClientCertificate { cert_pem, key_pem } => {
                let cert = check_client_certificate(
                    current.user,
                    current.cluster,
                    ca,
                    cert_pem,
                    key_pem,
                    now,
                    &mut check.problems,
                );
                if let Some(cert) = cert {
                    let identity = self.identity(&cluster.node_name);
                    let cn = cert.common_name();
                    if cn.as_deref() != Some(identity.user.as_str()) {
                        check.problems.push(Error::WrongCommonName {
                            user: current.user.to_owned(),
                            expected: identity.user,
                            found: cn,
                        });
                    }
                    let mut found = cert.organizations();
                    let mut expected = identity.groups;
                    found.sort();
                    expected.sort();
                    if found != expected {
                        check.problems.push(Error::WrongOrganizations {
                            user: current.user.to_owned(),
                            expected,
                            found: cert.organizations(),
                        });
                    }
                }
            }
            Credentials::Other(OtherCredentials::ClientCertificateFiles { .. }) => {
                check.warnings.push(Warning::ClientCertificateNotEmbedded {
                    file,
                    user: current.user.to_owned(),
                });
            }
            other => check.problems.push(Error::NotClientCertificate {
                user: current.user.to_owned(),
                found: other.kind(),
            }),
        }
        check
    }
}

/// The verdict on an existing control-plane kubeconfig.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReuseCheck {
    /// The file name (`admin.conf`, ...).
    pub file: String,
    /// Things to tell the user that do not stop reuse.
    pub warnings: Vec<Warning>,
    /// Reasons the file must not be reused; empty when it can be.
    pub problems: Vec<Error>,
}

impl ReuseCheck {
    /// Whether the file can be kept.
    pub fn is_reusable(&self) -> bool {
        self.problems.is_empty()
    }

    /// The warnings if reusable, else [`Error::NotReusable`] with every problem.
    pub fn into_result(self) -> Result<Vec<Warning>, Error> {
        if self.problems.is_empty() {
            Ok(self.warnings)
        } else {
            Err(Error::NotReusable {
                file: self.file,
                problems: self.problems,
            })
        }
    }
}

/// Something worth telling about an existing kubeconfig that does not prevent its reuse.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The server URL differs from the expected one (an error before kubeadm v1.20, PR #94816).
    ServerMismatch {
        /// The file name.
        file: String,
        /// The URL kubeadm would write.
        expected: String,
        /// The URL in the file.
        found: String,
    },
    /// The client certificate is a file reference and was not checked.
    ClientCertificateNotEmbedded {
        /// The file name.
        file: String,
        /// The user entry.
        user: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ServerMismatch {
                file,
                expected,
                found,
            } => write!(
                f,
                "a kubeconfig file {file:?} exists already but has an unexpected API Server URL: expected: {expected}, got: {found}"
            ),
            Self::ClientCertificateNotEmbedded { file, user } => write!(
                f,
                "{file}: users[{user}]: client certificate is a file reference and was not checked"
            ),
        }
    }
}

/// kubeadm's context name for a control-plane kubeconfig (`<CN>@<cluster>`).
pub fn control_plane_context(spec: &ControlPlaneSpec, cluster: &ControlPlaneCluster) -> String {
    context_name(&spec.common_name(&cluster.node_name), &cluster.cluster_name)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use pki_core::LEAF_VALIDITY;

    use super::*;
    use crate::test_support::{ca, key, now};

    fn cluster() -> ControlPlaneCluster {
        ControlPlaneCluster {
            cluster_name: "kubernetes".into(),
            control_plane_endpoint: "https://k8s-vip.example:6443".parse().unwrap(),
            local_endpoint: ServerUrl::from_host_port("fd00::11", 6443).unwrap(),
            node_name: "cp1".into(),
        }
    }

    #[test]
    fn table_is_consistent() {
        let files: HashSet<_> = CONTROL_PLANE_KUBECONFIGS
            .iter()
            .map(|s| s.file_name)
            .collect();
        assert_eq!(files.len(), 5);
        for spec in &CONTROL_PLANE_KUBECONFIGS {
            assert_eq!(spec.id.spec(), spec);
        }
        let c = cluster();
        let row = |id: ControlPlaneKubeconfig| {
            let s = id.spec();
            (
                s.file_name,
                s.common_name(&c.node_name),
                s.organization,
                s.server(&c).as_str().to_owned(),
            )
        };
        let vip = "https://k8s-vip.example:6443".to_owned();
        let local = "https://[fd00::11]:6443".to_owned();
        assert_eq!(
            row(ControlPlaneKubeconfig::Admin),
            (
                "admin.conf",
                "kubernetes-admin".into(),
                Some("kubeadm:cluster-admins"),
                vip.clone()
            )
        );
        assert_eq!(
            row(ControlPlaneKubeconfig::SuperAdmin),
            (
                "super-admin.conf",
                "kubernetes-super-admin".into(),
                Some("system:masters"),
                vip
            )
        );
        assert_eq!(
            row(ControlPlaneKubeconfig::ControllerManager),
            (
                "controller-manager.conf",
                "system:kube-controller-manager".into(),
                None,
                local.clone()
            )
        );
        assert_eq!(
            row(ControlPlaneKubeconfig::Scheduler),
            (
                "scheduler.conf",
                "system:kube-scheduler".into(),
                None,
                local.clone()
            )
        );
        assert_eq!(
            row(ControlPlaneKubeconfig::Kubelet),
            (
                "kubelet.conf",
                "system:node:cp1".into(),
                Some("system:nodes"),
                local
            )
        );
        assert_eq!(
            control_plane_context(ControlPlaneKubeconfig::Kubelet.spec(), &c),
            "system:node:cp1@kubernetes"
        );
    }

    #[test]
    fn builds_each_file_and_reuses_it() {
        let ca = ca("kubernetes");
        let c = cluster();
        let validity = Validity::kubeadm(now(), LEAF_VALIDITY);
        for spec in &CONTROL_PLANE_KUBECONFIGS {
            let config = spec.build(&c, &ca, &key(), validity).unwrap();
            let current = config.current().unwrap();
            assert_eq!(current.context, control_plane_context(spec, &c));
            assert_eq!(current.user, spec.common_name("cp1"));
            assert_eq!(current.server, spec.server(&c).as_str());
            let cert = current.validate(now()).unwrap().client_certificate.unwrap();
            assert_eq!(cert.organizations(), spec.identity("cp1").groups);

            let yaml = config.to_yaml().unwrap();
            let check = spec.check_existing(&c, ca.certificate(), &yaml, now());
            assert!(
                check.is_reusable(),
                "{}: {:?}",
                spec.file_name,
                check.problems
            );
            assert!(check.warnings.is_empty());
        }
    }

    #[test]
    fn reuse_rules() {
        let ca1 = ca("kubernetes");
        let ca2 = ca("kubernetes");
        let c = cluster();
        let validity = Validity::kubeadm(now(), LEAF_VALIDITY);
        let admin = ControlPlaneKubeconfig::Admin.spec();
        let yaml = admin
            .build(&c, &ca1, &key(), validity)
            .unwrap()
            .to_yaml()
            .unwrap();

        // kubeadm: wrong CA is an error with its message.
        let check = admin.check_existing(&c, ca2.certificate(), &yaml, now());
        assert!(!check.is_reusable());
        assert_eq!(
            check.problems[0].to_string(),
            "a kubeconfig file \"admin.conf\" exists already but has got the wrong CA cert"
        );
        // (and the client certificate does not chain to the expected CA either)
        assert!(
            check
                .problems
                .iter()
                .any(|p| matches!(p, Error::NotSignedByCa { .. }))
        );

        // kubeadm: a different server is only a warning.
        let moved = ControlPlaneCluster {
            control_plane_endpoint: "https://new-lb.example:6443".parse().unwrap(),
            ..c.clone()
        };
        let warnings = admin
            .check_existing(&moved, ca1.certificate(), &yaml, now())
            .into_result()
            .unwrap();
        assert_eq!(
            warnings[0].to_string(),
            "a kubeconfig file \"admin.conf\" exists already but has an unexpected API Server URL: \
             expected: https://new-lb.example:6443, got: https://k8s-vip.example:6443"
        );

        // Beyond kubeadm: expiry, identity, key.
        let late = now() + LEAF_VALIDITY + Duration::from_secs(60);
        let err = admin
            .check_existing(&c, ca1.certificate(), &yaml, late)
            .into_result()
            .unwrap_err();
        assert!(err.to_string().starts_with("kubeconfig file \"admin.conf\" cannot be reused: users[kubernetes-admin]: client certificate expired at"), "{err}");

        let super_admin = ControlPlaneKubeconfig::SuperAdmin.spec();
        let check = super_admin.check_existing(&c, ca1.certificate(), &yaml, now());
        let messages: Vec<String> = check.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "users[kubernetes-admin]: client certificate has CN \"kubernetes-admin\", expected \"kubernetes-super-admin\"",
                "users[kubernetes-admin]: client certificate has O [\"kubeadm:cluster-admins\"], expected [\"system:masters\"]",
            ]
        );

        let mut swapped = Kubeconfig::from_yaml(&yaml).unwrap();
        let other = admin.build(&c, &ca1, &key(), validity).unwrap();
        swapped.as_kube_mut().auth_infos[0]
            .auth_info
            .as_mut()
            .unwrap()
            .client_key_data = other.as_kube().auth_infos[0]
            .auth_info
            .as_ref()
            .unwrap()
            .client_key_data
            .clone();
        let check = admin.check_existing(&c, ca1.certificate(), &swapped.to_yaml().unwrap(), now());
        assert!(
            matches!(check.problems.as_slice(), [Error::KeyMismatch { .. }]),
            "{:?}",
            check.problems
        );

        // Unparseable and unresolvable files.
        let check = admin.check_existing(&c, ca1.certificate(), "clusters: 3\n", now());
        assert!(matches!(check.problems.as_slice(), [Error::Yaml { .. }]));
        let check = admin.check_existing(
            &c,
            ca1.certificate(),
            "apiVersion: v1\nkind: Config\n",
            now(),
        );
        assert!(matches!(
            check.problems.as_slice(),
            [Error::NoCurrentContext]
        ));
    }

    #[test]
    fn rotated_kubelet_conf_is_reused_with_a_warning() {
        let ca = ca("kubernetes");
        let c = cluster();
        let kubelet = ControlPlaneKubeconfig::Kubelet.spec();
        let mut config = kubelet
            .build(&c, &ca, &key(), Validity::kubeadm(now(), LEAF_VALIDITY))
            .unwrap();
        // What kubeadm's kubelet-finalize phase does.
        let auth = config.as_kube_mut().auth_infos[0]
            .auth_info
            .as_mut()
            .unwrap();
        auth.client_certificate_data = None;
        auth.client_key_data = None;
        auth.client_certificate = Some("/var/lib/kubelet/pki/kubelet-client-current.pem".into());
        auth.client_key = Some("/var/lib/kubelet/pki/kubelet-client-current.pem".into());
        let check = kubelet.check_existing(&c, ca.certificate(), &config.to_yaml().unwrap(), now());
        assert!(check.is_reusable(), "{:?}", check.problems);
        assert_eq!(
            check.warnings,
            [Warning::ClientCertificateNotEmbedded {
                file: "kubelet.conf".into(),
                user: "system:node:cp1".into()
            }]
        );
    }
}
