//! The kubeadm certificate tree as one table, and the cluster configuration it is computed
//! from.

use std::{net::IpAddr, time::Duration, time::SystemTime};

use crate::{
    CertSpec, Cidr, Endpoint, Error, KeyAlgorithm, San, Usage, Validity,
    issue::{CA_VALIDITY, LEAF_VALIDITY, normalize_sans},
    san::{https_url, validate_dns},
};

/// One certificate of the kubeadm tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum CertId {
    /// The cluster CA.
    Ca,
    /// The API server's serving certificate.
    ApiServer,
    /// The API server's client certificate for kubelets.
    ApiServerKubeletClient,
    /// The front-proxy (aggregation layer) CA.
    FrontProxyCa,
    /// The API server's client certificate for aggregated API servers.
    FrontProxyClient,
    /// The etcd CA.
    EtcdCa,
    /// etcd's serving certificate.
    EtcdServer,
    /// etcd's peer certificate.
    EtcdPeer,
    /// The etcd liveness probe's client certificate.
    EtcdHealthcheckClient,
    /// The API server's client certificate for etcd.
    ApiServerEtcdClient,
}

impl CertId {
    /// This certificate's row in [`KUBEADM_CERTS`].
    pub fn def(self) -> &'static CertDef {
        // The table has one row per variant, in variant order; a unit test checks it.
        &KUBEADM_CERTS[self as usize]
    }
}

/// Where a certificate's subject comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A fixed CN and an optional O.
    Fixed {
        /// Common name.
        cn: &'static str,
        /// Organization.
        org: Option<&'static str>,
    },
    /// CN = the node name (etcd server and peer).
    NodeName,
}

/// Which subject alternative names a certificate carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SanRule {
    /// None (client certificates).
    None,
    /// A CA's own CN as its one DNS name, as kubeadm does.
    OwnName,
    /// The API server's names (spec §1.2).
    ApiServer,
    /// etcd server: node name, `localhost`, advertise address, loopbacks, extra server SANs.
    EtcdServer,
    /// etcd peer: as the server, with the extra peer SANs.
    EtcdPeer,
}

/// A row of the kubeadm certificate table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertDef {
    /// Which certificate.
    pub id: CertId,
    /// kubeadm's name for it (`kubeadm certs renew NAME`, `check-expiration` rows).
    pub name: &'static str,
    /// File base name relative to the PKI directory (`.crt` and `.key` are added).
    pub base: &'static str,
    /// The CA that signs it; `None` for a self-signed CA.
    pub issuer: Option<CertId>,
    /// CN and O.
    pub subject: Subject,
    /// What it is for.
    pub usage: Usage,
    /// Which SANs.
    pub sans: SanRule,
    /// Part of the etcd tree (absent with external etcd).
    pub etcd: bool,
}

const fn fixed(cn: &'static str, org: Option<&'static str>) -> Subject {
    Subject::Fixed { cn, org }
}

/// The kubeadm certificate tree, mirroring `GetDefaultCertList` in kubeadm's
/// `cmd/kubeadm/app/phases/certs/certlist.go` with the v1.29+ identities (spec §1.1, §1.3).
/// Each CA comes before its leaves; one row per [`CertId`], in its order.
pub const KUBEADM_CERTS: [CertDef; 10] = [
    // KubeadmCertRootCA
    CertDef {
        id: CertId::Ca,
        name: "ca",
        base: "ca",
        issuer: None,
        subject: fixed("kubernetes", None),
        usage: Usage::Ca,
        sans: SanRule::OwnName,
        etcd: false,
    },
    // KubeadmCertAPIServer
    CertDef {
        id: CertId::ApiServer,
        name: "apiserver",
        base: "apiserver",
        issuer: Some(CertId::Ca),
        subject: fixed("kube-apiserver", None),
        usage: Usage::Server,
        sans: SanRule::ApiServer,
        etcd: false,
    },
    // KubeadmCertKubeletClient: O = kubeadm:cluster-admins since v1.29 (PR #121837)
    CertDef {
        id: CertId::ApiServerKubeletClient,
        name: "apiserver-kubelet-client",
        base: "apiserver-kubelet-client",
        issuer: Some(CertId::Ca),
        subject: fixed(
            "kube-apiserver-kubelet-client",
            Some("kubeadm:cluster-admins"),
        ),
        usage: Usage::Client,
        sans: SanRule::None,
        etcd: false,
    },
    // KubeadmCertFrontProxyCA
    CertDef {
        id: CertId::FrontProxyCa,
        name: "front-proxy-ca",
        base: "front-proxy-ca",
        issuer: None,
        subject: fixed("front-proxy-ca", None),
        usage: Usage::Ca,
        sans: SanRule::OwnName,
        etcd: false,
    },
    // KubeadmCertFrontProxyClient
    CertDef {
        id: CertId::FrontProxyClient,
        name: "front-proxy-client",
        base: "front-proxy-client",
        issuer: Some(CertId::FrontProxyCa),
        subject: fixed("front-proxy-client", None),
        usage: Usage::Client,
        sans: SanRule::None,
        etcd: false,
    },
    // KubeadmCertEtcdCA
    CertDef {
        id: CertId::EtcdCa,
        name: "etcd-ca",
        base: "etcd/ca",
        issuer: None,
        subject: fixed("etcd-ca", None),
        usage: Usage::Ca,
        sans: SanRule::OwnName,
        etcd: true,
    },
    // KubeadmCertEtcdServer: serverAuth and clientAuth (etcd 3.2+ dials itself)
    CertDef {
        id: CertId::EtcdServer,
        name: "etcd-server",
        base: "etcd/server",
        issuer: Some(CertId::EtcdCa),
        subject: Subject::NodeName,
        usage: Usage::ServerClient,
        sans: SanRule::EtcdServer,
        etcd: true,
    },
    // KubeadmCertEtcdPeer
    CertDef {
        id: CertId::EtcdPeer,
        name: "etcd-peer",
        base: "etcd/peer",
        issuer: Some(CertId::EtcdCa),
        subject: Subject::NodeName,
        usage: Usage::ServerClient,
        sans: SanRule::EtcdPeer,
        etcd: true,
    },
    // KubeadmCertEtcdHealthcheck: no O since v1.29 (PR #119859)
    CertDef {
        id: CertId::EtcdHealthcheckClient,
        name: "etcd-healthcheck-client",
        base: "etcd/healthcheck-client",
        issuer: Some(CertId::EtcdCa),
        subject: fixed("kube-etcd-healthcheck-client", None),
        usage: Usage::Client,
        sans: SanRule::None,
        etcd: true,
    },
    // KubeadmCertEtcdAPIClient: no O since v1.29 (PR #120521)
    CertDef {
        id: CertId::ApiServerEtcdClient,
        name: "apiserver-etcd-client",
        base: "apiserver-etcd-client",
        issuer: Some(CertId::EtcdCa),
        subject: fixed("kube-apiserver-etcd-client", None),
        usage: Usage::Client,
        sans: SanRule::None,
        etcd: true,
    },
];

/// Local or external etcd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Etcd {
    /// kubeadm runs etcd: the etcd CA and its four leaves are part of the tree.
    Local {
        /// `etcd.local.serverCertSANs`.
        server_extra_sans: Vec<San>,
        /// `etcd.local.peerCertSANs`.
        peer_extra_sans: Vec<San>,
    },
    /// etcd runs elsewhere with its own PKI: no etcd certificates here.
    External,
}

/// Everything the certificate tree depends on, with kubeadm's defaults from
/// [`ClusterConfig::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `clusterName` (kubeconfig cluster entry), default `kubernetes`.
    pub cluster_name: String,
    /// `nodeRegistration.name`: an RFC 1123 subdomain.
    pub node_name: String,
    /// `localAPIEndpoint.advertiseAddress`.
    pub advertise_address: IpAddr,
    /// `localAPIEndpoint.bindPort`, default 6443.
    pub bind_port: u16,
    /// `controlPlaneEndpoint`: an HA VIP or load balancer name, with an optional port.
    pub control_plane_endpoint: Option<Endpoint>,
    /// `networking.serviceSubnet`, one per IP family; default `10.96.0.0/12`.
    pub service_subnets: Vec<Cidr>,
    /// `networking.dnsDomain`, default `cluster.local`.
    pub dns_domain: String,
    /// `apiServer.certSANs`.
    pub apiserver_extra_sans: Vec<San>,
    /// Local or external etcd.
    pub etcd: Etcd,
    /// `encryptionAlgorithm`, for every key.
    pub key_algorithm: KeyAlgorithm,
    /// `certificateValidityPeriod`, default 8760h.
    pub cert_validity: Duration,
    /// `caCertificateValidityPeriod`, default 87600h.
    pub ca_validity: Duration,
}

impl ClusterConfig {
    /// kubeadm's defaults for a node called `node_name` advertising `advertise_address`.
    pub fn new(node_name: &str, advertise_address: IpAddr) -> Self {
        Self {
            cluster_name: "kubernetes".into(),
            node_name: node_name.to_owned(),
            advertise_address,
            bind_port: 6443,
            control_plane_endpoint: None,
            // A constant that always parses; see the unit test `defaults_parse`.
            service_subnets: "10.96.0.0/12".parse().map(|c| vec![c]).unwrap_or_default(),
            dns_domain: "cluster.local".into(),
            apiserver_extra_sans: Vec::new(),
            etcd: Etcd::Local {
                server_extra_sans: Vec::new(),
                peer_extra_sans: Vec::new(),
            },
            key_algorithm: KeyAlgorithm::default(),
            cert_validity: LEAF_VALIDITY,
            ca_validity: CA_VALIDITY,
        }
    }

    /// Checks what the field types cannot: the node name and DNS domain are RFC 1123 names,
    /// there is a service subnet, validities are positive and a leaf does not outlive a CA.
    pub fn validate(&self) -> Result<(), Error> {
        validate_dns(&self.node_name, false).map_err(|_| Error::InvalidName {
            field: "node name",
            value: self.node_name.clone(),
            reason: "must be a lowercase RFC 1123 DNS name",
        })?;
        validate_dns(&self.dns_domain, false).map_err(|_| Error::InvalidName {
            field: "service DNS domain",
            value: self.dns_domain.clone(),
            reason: "must be an RFC 1123 DNS name",
        })?;
        if self.cluster_name.is_empty() || self.cluster_name.chars().any(char::is_control) {
            return Err(Error::InvalidName {
                field: "cluster name",
                value: self.cluster_name.escape_debug().to_string(),
                reason: "must be non-empty without control characters",
            });
        }
        if self.service_subnets.is_empty() {
            return Err(Error::InvalidCidr {
                value: String::new(),
                reason: "at least one service subnet is required",
            });
        }
        if self.cert_validity.is_zero() || self.ca_validity.is_zero() {
            return Err(Error::InvalidValidity {
                reason: "validity periods must be positive".into(),
            });
        }
        Ok(())
    }

    /// The certificates of this cluster's tree: every row, less the etcd ones with external
    /// etcd.
    pub fn certs(&self) -> impl Iterator<Item = &'static CertDef> + '_ {
        KUBEADM_CERTS
            .iter()
            .filter(move |d| !(d.etcd && self.etcd == Etcd::External))
    }

    /// The API server certificate's SANs (spec §1.2), plus the first IP of *every* service
    /// subnet (kubeadm adds only the first family's): DNS names sorted and deduplicated, then
    /// IPs in order: service IPs, advertise address, control-plane endpoint, extra SANs.
    pub fn apiserver_sans(&self) -> Result<Vec<San>, Error> {
        let mut sans = vec![
            San::Dns(self.node_name.clone()),
            San::Dns("kubernetes".into()),
            San::Dns("kubernetes.default".into()),
            San::Dns("kubernetes.default.svc".into()),
            San::Dns(format!("kubernetes.default.svc.{}", self.dns_domain)),
        ];
        for subnet in &self.service_subnets {
            sans.push(San::Ip(subnet.first_host()?));
        }
        sans.push(San::Ip(self.advertise_address));
        if let Some(cpe) = &self.control_plane_endpoint {
            sans.push(cpe.host.clone());
        }
        sans.extend(self.apiserver_extra_sans.iter().cloned());
        Ok(normalize_sans(&sans))
    }

    fn etcd_sans(&self, extra: &[San]) -> Vec<San> {
        let mut sans = vec![
            San::Dns(self.node_name.clone()),
            San::Dns("localhost".into()),
            San::Ip(self.advertise_address),
            San::Ip(IpAddr::from([127, 0, 0, 1])),
            San::Ip(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])),
        ];
        sans.extend(extra.iter().cloned());
        normalize_sans(&sans)
    }

    /// The SANs `def` must carry under this configuration.
    pub fn sans_for(&self, def: &CertDef) -> Result<Vec<San>, Error> {
        let none = Vec::new();
        let (server, peer) = match &self.etcd {
            Etcd::Local {
                server_extra_sans,
                peer_extra_sans,
            } => (server_extra_sans, peer_extra_sans),
            Etcd::External => (&none, &none),
        };
        Ok(match def.sans {
            SanRule::None => Vec::new(),
            SanRule::OwnName => vec![San::Dns(self.common_name(def))],
            SanRule::ApiServer => self.apiserver_sans()?,
            SanRule::EtcdServer => self.etcd_sans(server),
            SanRule::EtcdPeer => self.etcd_sans(peer),
        })
    }

    /// The CN `def` gets under this configuration.
    pub fn common_name(&self, def: &CertDef) -> String {
        match def.subject {
            Subject::Fixed { cn, .. } => cn.to_owned(),
            Subject::NodeName => self.node_name.clone(),
        }
    }

    /// The complete spec of `def`, issued at `now` (kubeadm v1.31+ validity: every
    /// certificate of a run shares NotBefore = now − 5 min).
    pub fn spec_for(&self, def: &CertDef, now: SystemTime) -> Result<CertSpec, Error> {
        let period = if def.usage == Usage::Ca {
            self.ca_validity
        } else {
            self.cert_validity
        };
        Ok(CertSpec {
            common_name: self.common_name(def),
            organizations: match def.subject {
                Subject::Fixed { org: Some(o), .. } => vec![o.to_owned()],
                _ => Vec::new(),
            },
            usage: def.usage,
            sans: self.sans_for(def)?,
            validity: Validity::kubeadm(now, period),
        })
    }

    /// The local API endpoint, `https://<advertise address>:<bind port>`.
    pub fn local_url(&self) -> String {
        https_url(&San::Ip(self.advertise_address), self.bind_port)
    }

    /// The control-plane endpoint URL (its port, or the bind port), or the local endpoint
    /// when none is set.
    pub fn control_plane_url(&self) -> String {
        match &self.control_plane_endpoint {
            Some(cpe) => https_url(&cpe.host, cpe.port.unwrap_or(self.bind_port)),
            None => self.local_url(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn defaults_parse() {
        let cfg = ClusterConfig::new("cp1", "10.0.0.10".parse().unwrap());
        assert_eq!(cfg.service_subnets.len(), 1);
        cfg.validate().unwrap();
    }

    #[test]
    fn table_checks_itself() {
        let mut names = BTreeSet::new();
        let mut bases = BTreeSet::new();
        for (i, def) in KUBEADM_CERTS.iter().enumerate() {
            assert_eq!(def.id as usize, i, "row {} out of CertId order", def.name);
            assert_eq!(def.id.def(), def);
            assert!(names.insert(def.name), "duplicate name {}", def.name);
            assert!(bases.insert(def.base), "duplicate path {}", def.base);
            match def.issuer {
                None => assert_eq!(
                    def.usage,
                    Usage::Ca,
                    "{} is self-signed but not a CA",
                    def.name
                ),
                Some(ca) => {
                    let ca_pos = KUBEADM_CERTS.iter().position(|d| d.id == ca).unwrap();
                    assert!(ca_pos < i, "{} comes before its CA", def.name);
                    assert_eq!(KUBEADM_CERTS[ca_pos].usage, Usage::Ca);
                    assert_eq!(KUBEADM_CERTS[ca_pos].etcd, def.etcd);
                }
            }
            let serving = matches!(def.usage, Usage::Server | Usage::ServerClient);
            match def.sans {
                SanRule::None => assert!(!serving && def.usage != Usage::Ca),
                SanRule::OwnName => assert_eq!(def.usage, Usage::Ca),
                _ => assert!(serving, "{} has SANs but is not a serving cert", def.name),
            }
        }
    }

    #[test]
    fn apiserver_sans_follow_kubeadm_order_and_add_every_family() {
        let mut cfg = ClusterConfig::new("master0", "172.10.10.20".parse().unwrap());
        cfg.service_subnets = vec![
            "10.96.0.0/12".parse().unwrap(),
            "fd00:10:96::/112".parse().unwrap(),
        ];
        cfg.control_plane_endpoint = Some("vip.example.com:6443".parse().unwrap());
        cfg.apiserver_extra_sans = vec![
            "10.0.0.100".parse().unwrap(),
            "*.apps.example.com".parse().unwrap(),
            "kubernetes".parse().unwrap(),
        ];
        let sans: Vec<String> = cfg
            .apiserver_sans()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            sans,
            [
                "*.apps.example.com",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
                "master0",
                "vip.example.com",
                "10.96.0.1",
                "fd00:10:96::1",
                "172.10.10.20",
                "10.0.0.100",
            ]
        );
        assert_eq!(cfg.control_plane_url(), "https://vip.example.com:6443");
        assert_eq!(cfg.local_url(), "https://172.10.10.20:6443");
    }

    #[test]
    fn external_etcd_drops_the_etcd_tree() {
        let mut cfg = ClusterConfig::new("cp1", "10.0.0.10".parse().unwrap());
        assert_eq!(cfg.certs().count(), 10);
        cfg.etcd = Etcd::External;
        assert_eq!(cfg.certs().count(), 5);
        assert!(cfg.certs().all(|d| !d.etcd));
    }

    #[test]
    fn invalid_names_are_rejected() {
        let mut cfg = ClusterConfig::new("Bad_Node", "10.0.0.10".parse().unwrap());
        assert!(cfg.validate().unwrap_err().to_string().contains("Bad_Node"));
        cfg.node_name = "ok".into();
        cfg.dns_domain = "bad domain".into();
        assert!(cfg.validate().is_err());
    }
}
