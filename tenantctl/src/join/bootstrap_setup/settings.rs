//! What goes into kubeadm's ConfigMaps and where each value comes from: a flag, else the PKI in
//! `--cert-dir`, else the cluster (the admin kubeconfig and `/version`), else kubeadm's default.
//! Every defaulted value is named in a note for stderr; disagreements between the flags, the
//! PKI and the cluster are warnings. Pure: the caller reads the PKI and asks the cluster.
//!
//! Defaults mirror `cmd/kubeadm/app/apis/kubeadm/v1beta3/defaults.go` (`DefaultServicesSubnet`,
//! `DefaultServiceDNSDomain`, `DefaultCertificatesDir`, `DefaultAPIBindPort`) and
//! `cmd/kubeadm/app/constants/constants.go` (`GetDNSIP`: the tenth address of the first
//! service subnet).

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
};

use kubeconfig::ServerUrl;
use pki_core::{Certificate, Cidr, Endpoint, San};

use crate::{cli::BootstrapSetupArgs, error::Error, pki::store};

/// kubeadm's `DefaultServicesSubnet`.
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
/// kubeadm's `DefaultServiceDNSDomain`.
pub const DEFAULT_DNS_DOMAIN: &str = "cluster.local";
/// kubeadm's `DefaultCertificatesDir`.
pub const DEFAULT_CERT_DIR: &str = store::DEFAULT_CERT_DIR;
/// kubeadm's `DefaultAPIBindPort`: the port of a control-plane endpoint given without one.
pub const DEFAULT_BIND_PORT: u16 = 6443;

/// Everything the objects are built from, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The API server URL nodes reach: cluster-info's server and kube-proxy's.
    pub server: ServerUrl,
    /// `controlPlaneEndpoint`, as kubeadm writes it: `HOST[:PORT]`, IPv6 in brackets.
    pub control_plane_endpoint: String,
    /// `clusterName`.
    pub cluster_name: String,
    /// `certificatesDir` (absolute).
    pub certificates_dir: String,
    /// `networking.serviceSubnet`, one per family.
    pub service_subnets: Vec<Cidr>,
    /// `networking.podSubnet` (empty: unset).
    pub pod_subnets: Vec<Cidr>,
    /// `networking.dnsDomain`.
    pub dns_domain: String,
    /// `kubernetesVersion`: the API server's `gitVersion`.
    pub kubernetes_version: String,
    /// `apiServer.certSANs`: the PKI's apiserver.crt SANs that are neither kubeadm's own nor
    /// the first node's (so another control-plane node's certificate covers them too).
    pub cert_sans: Vec<San>,
}

impl Settings {
    /// The kubelets' `clusterDNS`: the tenth address of the first service subnet (kubeadm's
    /// `constants.GetDNSIP`).
    pub fn dns_ip(&self) -> Result<IpAddr, Error> {
        let first = self.service_subnets.first().ok_or_else(|| Error::Usage {
            flag: "--service-cidr",
            message: "no service subnet".into(),
        })?;
        nth_address(first, 10).ok_or_else(|| Error::Usage {
            flag: "--service-cidr",
            message: format!(
                "{first} is too small: kubeadm puts the DNS service at its tenth address"
            ),
        })
    }
}

/// A message for the person at the terminal (stderr).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A value was defaulted (or taken from somewhere the flags did not name).
    Note(String),
    /// The flags, the PKI and the cluster disagree, or a value will not work for nodes.
    Warning(String),
}

/// The cluster as the admin kubeconfig and the API server describe it.
#[derive(Clone, Debug)]
pub struct ClusterFacts {
    /// The admin kubeconfig's server.
    pub server: ServerUrl,
    /// The admin kubeconfig's cluster name (kubeadm's admin.conf names it `clusterName`).
    pub cluster_name: String,
    /// The CA bundle the admin kubeconfig trusts, PEM.
    pub ca_pem: String,
    /// `/version`'s `gitVersion`.
    pub kubernetes_version: String,
}

/// What a kubeadm PKI directory says: its CA, and the certificates that reveal the cluster's
/// settings.
#[derive(Clone, Debug)]
pub struct PkiFacts {
    /// The directory.
    pub dir: PathBuf,
    /// `ca.crt` (the first certificate).
    pub ca: Certificate,
    /// `apiserver.crt`.
    pub apiserver: Option<Certificate>,
    /// `etcd/server.crt` (its SANs are the first node's name and addresses).
    pub etcd_server: Option<Certificate>,
    /// Whether `etcd/ca.crt` is there (local etcd).
    pub etcd_ca: bool,
}

impl PkiFacts {
    /// Reads `dir`; `None` when it holds no readable `ca.crt`.
    pub fn read(dir: &Path) -> Option<Self> {
        let cert = |rel: &str| {
            std::fs::read_to_string(dir.join(rel))
                .ok()
                .and_then(|pem| Certificate::from_pem(&pem).ok())
        };
        Some(Self {
            dir: dir.to_owned(),
            ca: store::read_ca_cert(dir)?,
            apiserver: cert("apiserver.crt"),
            etcd_server: cert("etcd/server.crt"),
            etcd_ca: dir.join("etcd/ca.crt").is_file(),
        })
    }

    /// The DNS domain in apiserver.crt's `kubernetes.default.svc.<domain>` SAN.
    fn dns_domain(&self) -> Option<String> {
        self.apiserver
            .as_ref()?
            .sans()
            .into_iter()
            .find_map(|s| match s {
                San::Dns(d) => d.strip_prefix("kubernetes.default.svc.").map(str::to_owned),
                San::Ip(_) => None,
            })
    }
}

/// Resolves the settings: flag, else PKI, else cluster, else kubeadm's default; with the notes
/// and warnings to print.
pub fn resolve(
    args: &BootstrapSetupArgs,
    cluster: &ClusterFacts,
    pki: Option<&PkiFacts>,
) -> Result<(Settings, Vec<Message>), Error> {
    let mut msgs = Vec::new();
    let cert_dir = args
        .cert_dir
        .clone()
        .unwrap_or_else(|| DEFAULT_CERT_DIR.into());
    let certificates_dir = certificates_dir(args.cert_dir.as_deref(), pki.is_some(), &mut msgs);
    if certificates_dir != DEFAULT_CERT_DIR {
        // kubeadm's JoinConfiguration.caCertPath defaults to /etc/kubernetes/pki/ca.crt whatever
        // certificatesDir says (apis/kubeadm/v1beta3/defaults.go, DefaultCACertPath).
        msgs.push(Message::Warning(format!(
            "certificatesDir {certificates_dir} (--cert-dir) is where every node keeps the PKI: kubelet-config's clientCAFile is {certificates_dir}/ca.crt, but `kubeadm join` puts a worker's ca.crt in {DEFAULT_CERT_DIR} unless its caCertPath says otherwise"
        )));
    }
    if pki.is_none() {
        msgs.push(Message::Note(format!(
            "no PKI in {} (no ca.crt): the configuration comes from the flags and the cluster alone",
            cert_dir.display()
        )));
    }
    if let Some(p) = pki
        && !trusts(&cluster.ca_pem, &p.ca)
    {
        msgs.push(Message::Warning(format!(
            "{} is not a CA the admin kubeconfig trusts: is --cert-dir another cluster's PKI?",
            p.dir.join("ca.crt").display()
        )));
    }

    let dns_domain = dns_domain(args, pki, &mut msgs)?;
    let service_subnets = match &args.service_cidr {
        Some(v) => v.clone(),
        None => {
            msgs.push(Message::Note(format!(
                "networking.serviceSubnet: {DEFAULT_SERVICE_CIDR} (kubeadm's default; pass --service-cidr)"
            )));
            vec![DEFAULT_SERVICE_CIDR.parse()?]
        }
    };
    check_families("--service-cidr", &service_subnets)?;
    if let Some(api) = pki.and_then(|p| p.apiserver.as_ref()) {
        for cidr in &service_subnets {
            let vip = cidr.first_host()?;
            if !api.covers(&San::Ip(vip)) {
                msgs.push(Message::Warning(format!(
                    "apiserver.crt has no IP SAN {vip}, the API service address of networking.serviceSubnet {cidr}: is the service CIDR another? (--service-cidr)"
                )));
            }
        }
    }
    let pod_subnets = match &args.pod_network_cidr {
        Some(v) => {
            check_families("--pod-network-cidr", v)?;
            v.clone()
        }
        None => {
            msgs.push(Message::Note(
                "networking.podSubnet: unset (kubeadm's default; pass --pod-network-cidr for kube-proxy's clusterCIDR)".into(),
            ));
            Vec::new()
        }
    };

    let (control_plane_endpoint, server) = endpoints(args, &cluster.server, &mut msgs)?;
    if is_loopback(&server) {
        msgs.push(Message::Warning(format!(
            "{} is a loopback address: joining nodes and kube-proxy cannot reach the API server there; pass --server (or --control-plane-endpoint) with the address nodes use",
            server.as_str()
        )));
    }
    if let Some(api) = pki.and_then(|p| p.apiserver.as_ref())
        && let Some(w) = store::uncovered_server(api, &server)
    {
        msgs.push(Message::Warning(w));
    }

    let cluster_name = if cluster.cluster_name.is_empty() {
        msgs.push(Message::Note(
            "clusterName: kubernetes (kubeadm's default; the admin kubeconfig names no cluster)"
                .into(),
        ));
        "kubernetes".to_owned()
    } else {
        cluster.cluster_name.clone()
    };
    if cluster.kubernetes_version.is_empty() {
        return Err(Error::Discovery {
            message: "the API server's /version has no gitVersion".into(),
        });
    }
    if let Some(p) = pki
        && p.apiserver.is_some()
        && !p.etcd_ca
    {
        msgs.push(Message::Warning(format!(
            "no etcd/ca.crt in {}: if etcd is external, add etcd.external (endpoints and client files) to kubeadm-config before joining control-plane nodes; it says etcd.local",
            p.dir.display()
        )));
    }

    let mut settings = Settings {
        server,
        control_plane_endpoint,
        cluster_name,
        certificates_dir,
        service_subnets,
        pod_subnets,
        dns_domain,
        kubernetes_version: cluster.kubernetes_version.clone(),
        cert_sans: Vec::new(),
    };
    settings.dns_ip()?;
    if let Some(p) = pki {
        settings.cert_sans = extra_sans(p, &settings)?;
    }
    Ok((settings, msgs))
}

/// `certificatesDir`: `--cert-dir` when absolute (kubeadm validates it as an absolute path: it
/// is where every node keeps the PKI), else kubeadm's default.
fn certificates_dir(flag: Option<&Path>, pki: bool, msgs: &mut Vec<Message>) -> String {
    match flag {
        Some(dir) if dir.is_absolute() => dir.display().to_string(),
        Some(dir) => {
            msgs.push(Message::Note(format!(
                "certificatesDir: {DEFAULT_CERT_DIR} (kubeadm's default; --cert-dir {} is relative, and nodes need the absolute directory they keep the PKI in)",
                dir.display()
            )));
            DEFAULT_CERT_DIR.to_owned()
        }
        None => {
            if !pki {
                msgs.push(Message::Note(format!(
                    "certificatesDir: {DEFAULT_CERT_DIR} (kubeadm's default; pass --cert-dir)"
                )));
            }
            DEFAULT_CERT_DIR.to_owned()
        }
    }
}

/// `networking.dnsDomain`: the flag, else apiserver.crt's, else kubeadm's default.
fn dns_domain(
    args: &BootstrapSetupArgs,
    pki: Option<&PkiFacts>,
    msgs: &mut Vec<Message>,
) -> Result<String, Error> {
    let from_pki = pki.and_then(PkiFacts::dns_domain);
    match (&args.service_dns_domain, from_pki) {
        (Some(flag), from_pki) => {
            let bad = || Error::Usage {
                flag: "--service-dns-domain",
                message: format!("{flag} is not a lowercase RFC 1123 DNS name"),
            };
            match flag.parse::<San>().map_err(|_| bad())? {
                San::Dns(d) if d == *flag && !d.starts_with("*.") => {}
                _ => return Err(bad()),
            }
            if let Some(p) = from_pki
                && p != *flag
            {
                msgs.push(Message::Warning(format!(
                    "--service-dns-domain {flag} differs from apiserver.crt's kubernetes.default.svc.{p}"
                )));
            }
            Ok(flag.clone())
        }
        (None, Some(p)) => Ok(p),
        (None, None) => {
            msgs.push(Message::Note(format!(
                "networking.dnsDomain: {DEFAULT_DNS_DOMAIN} (kubeadm's default; pass --service-dns-domain)"
            )));
            Ok(DEFAULT_DNS_DOMAIN.to_owned())
        }
    }
}

/// `controlPlaneEndpoint` and the server nodes reach. The endpoint: the flag, else `--server`'s
/// host and port, else the admin kubeconfig's. The server: `--server`, else the endpoint as a
/// URL (port 6443 when it has none, as kubeadm's `GetControlPlaneEndpoint` uses the bind port),
/// else the admin kubeconfig's server.
fn endpoints(
    args: &BootstrapSetupArgs,
    admin: &ServerUrl,
    msgs: &mut Vec<Message>,
) -> Result<(String, ServerUrl), Error> {
    match (&args.control_plane_endpoint, &args.server) {
        (Some(e), server) => {
            let url = pki_core::https_url(&e.host, e.port.unwrap_or(DEFAULT_BIND_PORT));
            let server = match server {
                Some(s) => s.clone(),
                None => url.parse()?,
            };
            Ok((endpoint_text(e), server))
        }
        (None, Some(server)) => {
            let e = host_port(server);
            msgs.push(Message::Note(format!(
                "controlPlaneEndpoint: {e} (from --server; pass --control-plane-endpoint)"
            )));
            Ok((e, server.clone()))
        }
        (None, None) => {
            let e = host_port(admin);
            msgs.push(Message::Note(format!(
                "controlPlaneEndpoint: {e} (the admin kubeconfig's server; pass --control-plane-endpoint, or --server)"
            )));
            Ok((e, admin.clone()))
        }
    }
}

/// An endpoint as kubeadm's `controlPlaneEndpoint` holds it.
fn endpoint_text(e: &Endpoint) -> String {
    match (&e.host, e.port) {
        (San::Ip(IpAddr::V6(v6)), Some(p)) => format!("[{v6}]:{p}"),
        (host, Some(p)) => format!("{host}:{p}"),
        (host, None) => host.to_string(),
    }
}

/// A URL's `HOST:PORT` (443 when it names no port: that is where https goes).
fn host_port(url: &ServerUrl) -> String {
    let port = url.port().unwrap_or(443);
    match url.host().parse::<Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]:{port}"),
        Err(_) => format!("{}:{port}", url.host()),
    }
}

fn is_loopback(url: &ServerUrl) -> bool {
    let host = url.host();
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `ca` is in the PEM bundle.
fn trusts(bundle_pem: &str, ca: &Certificate) -> bool {
    Certificate::chain_from_pem(bundle_pem)
        .map(|certs| certs.iter().any(|c| c.der() == ca.der()))
        .unwrap_or(false)
}

/// One CIDR, or two of different families (kubeadm's dual-stack rule).
fn check_families(flag: &'static str, cidrs: &[Cidr]) -> Result<(), Error> {
    let v4 = cidrs.iter().filter(|c| is_v4(c)).count();
    let ok = match cidrs.len() {
        1 => true,
        2 => v4 == 1,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Usage {
            flag,
            message: "expected one CIDR, or two (one IPv4, one IPv6) for dual-stack".into(),
        })
    }
}

fn is_v4(cidr: &Cidr) -> bool {
    cidr.first_host().is_ok_and(|ip| ip.is_ipv4())
}

/// The `n`th address of `cidr` (0 is the network address), if the range has it.
fn nth_address(cidr: &Cidr, n: u128) -> Option<IpAddr> {
    let text = cidr.to_string();
    let (net, prefix) = text.split_once('/')?;
    let prefix: u32 = prefix.parse().ok()?;
    match net.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let size = 1u128 << (32 - prefix);
            (n < size).then(|| IpAddr::V4(Ipv4Addr::from(u32::from(v4) + n as u32)))
        }
        IpAddr::V6(v6) => {
            let bits = 128 - prefix;
            (bits >= 128 || n < (1u128 << bits))
                .then(|| IpAddr::V6(Ipv6Addr::from(u128::from(v6) + n)))
        }
    }
}

/// apiserver.crt's SANs that kubeadm would not add by itself on another control-plane node:
/// not `kubernetes`, `kubernetes.default`, `kubernetes.default.svc[.<domain>]` nor a service
/// address (`certs.GetAPIServerAltNames`), not the control-plane endpoint's host, and not the
/// first node's own name and addresses (etcd/server.crt's SANs: node name, localhost,
/// advertise address, 127.0.0.1, ::1; `certs.getAltNames` in pkiutil).
fn extra_sans(pki: &PkiFacts, settings: &Settings) -> Result<Vec<San>, Error> {
    let Some(api) = &pki.apiserver else {
        return Ok(Vec::new());
    };
    let builtin_dns = [
        "kubernetes".to_owned(),
        "kubernetes.default".to_owned(),
        "kubernetes.default.svc".to_owned(),
        format!("kubernetes.default.svc.{}", settings.dns_domain),
    ];
    let vips = settings
        .service_subnets
        .iter()
        .map(Cidr::first_host)
        .collect::<Result<Vec<_>, _>>()?;
    let cpe_host = settings
        .control_plane_endpoint
        .parse::<Endpoint>()
        .ok()
        .map(|e| e.host);
    let node_sans = pki
        .etcd_server
        .as_ref()
        .map(Certificate::sans)
        .unwrap_or_default();
    Ok(api
        .sans()
        .into_iter()
        .filter(|s| match s {
            San::Dns(d) => !builtin_dns.contains(d),
            San::Ip(ip) => !vips.contains(ip),
        })
        .filter(|s| Some(s) != cpe_host.as_ref() && !node_sans.contains(s))
        .collect())
}

/// A kubeadm-default cluster behind `server` (endpoint vip.example.com:6443), the fixture the
/// builders' tests start from and override field by field.
#[cfg(test)]
impl Settings {
    pub(super) fn example(server: &str) -> Self {
        Self {
            server: server.parse().unwrap(),
            control_plane_endpoint: "vip.example.com:6443".into(),
            cluster_name: "kubernetes".into(),
            certificates_dir: "/etc/kubernetes/pki".into(),
            service_subnets: vec!["10.96.0.0/12".parse().unwrap()],
            pod_subnets: vec![],
            dns_domain: "cluster.local".into(),
            kubernetes_version: "v1.28.7".into(),
            cert_sans: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use clap::Parser as _;
    use pki_core::{CertSpec, CertificateAuthority, KeyAlgorithm, PrivateKey, Usage, Validity};

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(flags: &[&str]) -> BootstrapSetupArgs {
        let argv = ["tenantctl", "bootstrap-setup"].iter().chain(flags);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::BootstrapSetup(a) => a,
            other => panic!("{other:?}"),
        }
    }

    fn cert(ca: &CertificateAuthority, cn: &str, usage: Usage, sans: &[&str]) -> Certificate {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let spec = CertSpec {
            common_name: cn.into(),
            organizations: vec![],
            usage,
            sans: sans.iter().map(|s| s.parse().unwrap()).collect(),
            validity: Validity::kubeadm(SystemTime::now(), Duration::from_secs(3600)),
        };
        ca.issue(&spec, &key.public_key_der().unwrap()).unwrap()
    }

    /// A PKI as `pki init --node-name cp1 --apiserver-advertise-address 10.0.0.10
    /// --control-plane-endpoint vip.example.com:6443 --apiserver-cert-extra-sans 10.0.0.100,lb.example.com
    /// --service-dns-domain corp.local` makes it.
    fn pki() -> PkiFacts {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let spec = CertSpec {
            common_name: "kubernetes".into(),
            organizations: vec![],
            usage: Usage::Ca,
            sans: vec![],
            validity: Validity::kubeadm(SystemTime::now(), Duration::from_secs(3600)),
        };
        let ca = CertificateAuthority::self_signed(&spec, key).unwrap();
        let apiserver = cert(
            &ca,
            "kube-apiserver",
            Usage::Server,
            &[
                "cp1",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.corp.local",
                "lb.example.com",
                "vip.example.com",
                "10.96.0.1",
                "10.0.0.10",
                "10.0.0.100",
            ],
        );
        let etcd = cert(
            &ca,
            "cp1",
            Usage::ServerClient,
            &["cp1", "localhost", "10.0.0.10", "127.0.0.1", "::1"],
        );
        PkiFacts {
            dir: "/etc/kubernetes/pki".into(),
            ca: ca.certificate().clone(),
            apiserver: Some(apiserver),
            etcd_server: Some(etcd),
            etcd_ca: true,
        }
    }

    fn cluster(server: &str, ca: &Certificate) -> ClusterFacts {
        ClusterFacts {
            server: server.parse().unwrap(),
            cluster_name: "kubernetes".into(),
            ca_pem: ca.to_pem(),
            kubernetes_version: "v1.28.7".into(),
        }
    }

    fn notes(msgs: &[Message]) -> Vec<&str> {
        msgs.iter()
            .filter_map(|m| match m {
                Message::Note(n) => Some(n.as_str()),
                Message::Warning(_) => None,
            })
            .collect()
    }

    fn warnings(msgs: &[Message]) -> Vec<&str> {
        msgs.iter()
            .filter_map(|m| match m {
                Message::Warning(w) => Some(w.as_str()),
                Message::Note(_) => None,
            })
            .collect()
    }

    #[test]
    fn flags_win_and_nothing_is_defaulted_but_what_kubeadm_leaves_unset() {
        let pki = pki();
        let (s, msgs) = resolve(
            &args(&[
                "--cert-dir",
                "/srv/pki",
                "--control-plane-endpoint",
                "vip.example.com:6443",
                "--pod-network-cidr",
                "10.244.0.0/16",
                "--service-cidr",
                "10.96.0.0/12",
                "--service-dns-domain",
                "corp.local",
            ]),
            &cluster("https://10.0.0.10:6443", &pki.ca),
            Some(&pki),
        )
        .unwrap();
        assert_eq!(s.server.as_str(), "https://vip.example.com:6443");
        assert_eq!(s.control_plane_endpoint, "vip.example.com:6443");
        assert_eq!(s.certificates_dir, "/srv/pki");
        assert_eq!(s.dns_domain, "corp.local");
        assert_eq!(s.dns_ip().unwrap().to_string(), "10.96.0.10");
        assert_eq!(s.kubernetes_version, "v1.28.7");
        // Neither kubeadm's own SANs nor the first node's name and address.
        assert_eq!(
            s.cert_sans,
            [
                San::Dns("lb.example.com".into()),
                San::Ip("10.0.0.100".parse().unwrap())
            ]
        );
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(
            warnings(&msgs)[0].starts_with("certificatesDir /srv/pki (--cert-dir) is where"),
            "{msgs:?}"
        );
    }

    #[test]
    fn without_a_pki_every_defaulted_value_is_named() {
        let pki = pki();
        let (s, msgs) = resolve(
            &args(&[]),
            &cluster("https://vip.example.com:6443", &pki.ca),
            None,
        )
        .unwrap();
        assert_eq!(s.certificates_dir, "/etc/kubernetes/pki");
        assert_eq!(s.dns_domain, "cluster.local");
        assert_eq!(s.service_subnets[0].to_string(), "10.96.0.0/12");
        assert!(s.pod_subnets.is_empty());
        assert_eq!(s.control_plane_endpoint, "vip.example.com:6443");
        assert_eq!(s.server.as_str(), "https://vip.example.com:6443");
        assert!(s.cert_sans.is_empty());
        let notes = notes(&msgs);
        for field in [
            "certificatesDir",
            "networking.dnsDomain",
            "networking.serviceSubnet",
            "networking.podSubnet",
            "controlPlaneEndpoint",
            "no PKI",
        ] {
            assert_eq!(
                notes.iter().filter(|n| n.contains(field)).count(),
                1,
                "{field}: {notes:?}"
            );
        }
        assert_eq!(notes.len(), 6, "{notes:?}");
        assert!(warnings(&msgs).is_empty(), "{msgs:?}");
    }

    #[test]
    fn the_pki_supplies_the_dns_domain_and_checks_the_rest() {
        let pki = pki();
        let (s, msgs) = resolve(
            &args(&["--service-cidr", "10.100.0.0/16"]),
            &cluster("https://127.0.0.1:6443", &pki.ca),
            Some(&pki),
        )
        .unwrap();
        assert_eq!(s.dns_domain, "corp.local");
        let warnings = warnings(&msgs);
        assert!(
            warnings.iter().any(|w| w.contains("no IP SAN 10.100.0.1")),
            "{warnings:?}"
        );
        assert!(
            warnings.iter().any(|w| w.contains("loopback")),
            "{warnings:?}"
        );
        assert!(
            notes(&msgs)
                .iter()
                .any(|n| n.starts_with("controlPlaneEndpoint: 127.0.0.1:6443")),
            "{msgs:?}"
        );
    }

    #[test]
    fn server_and_endpoint_follow_each_other() {
        let pki = pki();
        let facts = cluster("https://10.0.0.10:6443", &pki.ca);
        // --server alone: the endpoint is its host and port (443 when it has none).
        let (s, _) = resolve(&args(&["--server", "https://lb.example.com"]), &facts, None).unwrap();
        assert_eq!(s.control_plane_endpoint, "lb.example.com:443");
        assert_eq!(s.server.as_str(), "https://lb.example.com");
        // An endpoint without a port: kubeadm's bind port.
        let (s, _) = resolve(
            &args(&["--control-plane-endpoint", "fd00::100"]),
            &facts,
            None,
        )
        .unwrap();
        assert_eq!(s.control_plane_endpoint, "fd00::100");
        assert_eq!(s.server.as_str(), "https://[fd00::100]:6443");
        // Both: each as given.
        let (s, _) = resolve(
            &args(&[
                "--control-plane-endpoint",
                "[fd00::100]:6443",
                "--server",
                "https://lb.example.com:8443",
            ]),
            &facts,
            None,
        )
        .unwrap();
        assert_eq!(s.control_plane_endpoint, "[fd00::100]:6443");
        assert_eq!(s.server.as_str(), "https://lb.example.com:8443");
    }

    #[test]
    fn bad_values_name_their_flag() {
        let pki = pki();
        let facts = cluster("https://10.0.0.10:6443", &pki.ca);
        let flag = |flags: &[&str]| match resolve(&args(flags), &facts, None) {
            Err(Error::Usage { flag, .. }) => flag,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            flag(&["--service-dns-domain", "Corp_Local"]),
            "--service-dns-domain"
        );
        assert_eq!(flag(&["--service-cidr", "10.96.0.0/29"]), "--service-cidr");
        assert_eq!(
            flag(&["--service-cidr", "10.96.0.0/12,10.97.0.0/16"]),
            "--service-cidr"
        );
        assert_eq!(
            flag(&["--pod-network-cidr", "fd00::/48,fd01::/48"]),
            "--pod-network-cidr"
        );
        // A relative --cert-dir is read, but nodes get kubeadm's default.
        let (s, msgs) = resolve(&args(&["--cert-dir", "pki"]), &facts, None).unwrap();
        assert_eq!(s.certificates_dir, "/etc/kubernetes/pki");
        assert!(notes(&msgs).iter().any(|n| n.contains("is relative")));
    }

    #[test]
    fn the_dns_address_is_the_tenth() {
        let cidr = |s: &str| s.parse::<Cidr>().unwrap();
        assert_eq!(
            nth_address(&cidr("10.96.0.0/12"), 10),
            Some("10.96.0.10".parse().unwrap())
        );
        assert_eq!(
            nth_address(&cidr("fd00:10:96::/112"), 10),
            Some("fd00:10:96::a".parse().unwrap())
        );
        assert_eq!(
            nth_address(&cidr("10.0.0.0/28"), 10),
            Some("10.0.0.10".parse().unwrap())
        );
        assert_eq!(nth_address(&cidr("10.0.0.0/29"), 10), None);
    }

    #[test]
    fn a_foreign_pki_is_flagged() {
        let (theirs, ours) = (pki(), pki());
        let (_, msgs) = resolve(
            &args(&[]),
            &cluster("https://vip.example.com:6443", &theirs.ca),
            Some(&ours),
        )
        .unwrap();
        assert!(
            warnings(&msgs)
                .iter()
                .any(|w| w.contains("not a CA the admin kubeconfig trusts")),
            "{msgs:?}"
        );
    }
}
