//! The PKI settings every `pki` command shares: flags, then kubeadm's `--config` file, then
//! kubeadm's defaults and this host's name and address.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use kubeconfig::Kubeconfig;
use pki_core::{Certificate, Cidr, ClusterConfig, Etcd, San};

use super::store::{self, DEFAULT_CERT_DIR, DEFAULT_KUBECONFIG_DIR};
use crate::{cli::PkiArgs, error::Error};

/// The PKI settings resolved: flags, then defaults.
pub struct Settings {
    /// The cluster configuration.
    pub cfg: ClusterConfig,
    /// `--cert-dir`.
    pub cert_dir: PathBuf,
    /// `--kubeconfig-dir`.
    pub kubeconfig_dir: PathBuf,
}

/// Resolves the PKI flags: each flag, else its default; the whole `ClusterConfig` checked.
///
/// Without `--encryption-algorithm`, an existing PKI keeps its own algorithm (that of
/// `ca.crt`'s key), so `check` and `renew` need not repeat the flag `init` was given.
pub fn settings(args: &PkiArgs) -> Result<Settings, Error> {
    let (merged, etcd) = merge_config_file(args)?;
    let args = &merged;
    let cert_dir = args
        .cert_dir
        .clone()
        .unwrap_or_else(|| DEFAULT_CERT_DIR.into());
    let mut cfg = config_from(args, etcd)?;
    let existing_algorithm =
        || store::read_ca_cert(&cert_dir).and_then(|ca| ca.key_algorithm().ok());
    if args.encryption_algorithm.is_none()
        && let Some(alg) = existing_algorithm()
    {
        cfg.key_algorithm = alg;
    }
    Ok(Settings {
        cfg,
        cert_dir,
        kubeconfig_dir: args
            .kubeconfig_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_KUBECONFIG_DIR.into()),
    })
}

/// Without any identity flag or `--config` (`pki check` on a PKI another host, or other
/// flags, made), the identity the PKI itself states: the node name from `etcd/server.crt`'s CN,
/// the advertise address and port from `controller-manager.conf`'s server (kubeadm's local
/// endpoint), the control-plane endpoint from `admin.conf`'s, the DNS domain and service IPs
/// from `apiserver.crt`'s SANs (the rest of its SANs as extra SANs). Returns the flags so
/// completed and where each value came from; `None` when flags were given or nothing is there.
pub fn infer_from_pki(args: &PkiArgs) -> Option<(PkiArgs, String)> {
    if args.sets_sans() {
        return None;
    }
    let cert_dir = args
        .cert_dir
        .clone()
        .unwrap_or_else(|| DEFAULT_CERT_DIR.into());
    let kubeconfig_dir = args
        .kubeconfig_dir
        .clone()
        .unwrap_or_else(|| DEFAULT_KUBECONFIG_DIR.into());
    let cert = |rel: &str| {
        std::fs::read_to_string(cert_dir.join(rel))
            .ok()
            .and_then(|pem| Certificate::from_pem(&pem).ok())
    };
    let server = |file: &str| -> Option<kubeconfig::ServerUrl> {
        let text = std::fs::read_to_string(kubeconfig_dir.join(file)).ok()?;
        Kubeconfig::from_yaml(&text)
            .ok()?
            .current()
            .ok()?
            .server
            .parse()
            .ok()
    };
    let apiserver = cert("apiserver.crt")?;
    let mut inferred = args.clone();
    let mut sources = Vec::new();
    if let Some(node) = cert("etcd/server.crt").and_then(|c| c.common_name()) {
        sources.push(format!("node name {node} from etcd/server.crt"));
        inferred.node_name = Some(node);
    }
    if let Some(local) = server("controller-manager.conf")
        && let Ok(ip) = local.host().parse::<IpAddr>()
    {
        sources.push(format!(
            "advertise address {} from controller-manager.conf",
            local.as_str().trim_start_matches("https://")
        ));
        inferred.apiserver_advertise_address = Some(ip);
        inferred.apiserver_bind_port = local.port();
    }
    if let Some(endpoint) = server("admin.conf")
        && server("controller-manager.conf").as_ref() != Some(&endpoint)
        && let Ok(e) = endpoint
            .as_str()
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .parse()
    {
        sources.push(format!(
            "control-plane endpoint {} from admin.conf",
            endpoint.as_str()
        ));
        inferred.control_plane_endpoint = Some(e);
    }
    let sans = apiserver.sans();
    if let Some(domain) = sans.iter().find_map(|s| match s {
        San::Dns(d) => d.strip_prefix("kubernetes.default.svc."),
        San::Ip(_) => None,
    }) {
        inferred.service_dns_domain = Some(domain.to_owned());
    }
    // Service IPs are each family's first host: x.y.z.1 or …::1, not the advertise address.
    let vips: Vec<Cidr> = sans
        .iter()
        .filter_map(|s| match s {
            San::Ip(ip) if Some(*ip) != inferred.apiserver_advertise_address => Some(*ip),
            _ => None,
        })
        .filter_map(|ip| match ip {
            IpAddr::V4(v4) if v4.octets()[3] == 1 => {
                let o = v4.octets();
                format!("{}.{}.{}.0/24", o[0], o[1], o[2]).parse().ok()
            }
            IpAddr::V6(v6) if v6.segments()[7] == 1 => {
                let mut seg = v6.segments();
                seg[7] = 0;
                format!("{}/112", std::net::Ipv6Addr::from(seg))
                    .parse()
                    .ok()
            }
            _ => None,
        })
        .take(2)
        .collect();
    if !vips.is_empty() {
        inferred.service_cidr = Some(vips);
    }
    inferred.apiserver_cert_extra_sans = Some(sans);
    sources.push("DNS domain, service IPs and extra SANs from apiserver.crt".into());
    Some((inferred, sources.join(", ")))
}

/// Fills what the flags leave out from `--config` (kubeadm's file): flag, then file.
fn merge_config_file(args: &PkiArgs) -> Result<(PkiArgs, Option<Etcd>), Error> {
    let Some(path) = &args.config else {
        return Ok((args.clone(), None));
    };
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    let file = super::kubeadm_config::parse(&text).map_err(|e| Error::Usage {
        flag: "--config",
        message: format!("{}: {e}", path.display()),
    })?;
    let mut m = args.clone();
    m.cert_dir = m.cert_dir.or(file.cert_dir);
    m.node_name = m.node_name.or(file.node_name);
    m.apiserver_advertise_address = m.apiserver_advertise_address.or(file.advertise_address);
    m.apiserver_bind_port = m.apiserver_bind_port.or(file.bind_port);
    m.control_plane_endpoint = m.control_plane_endpoint.or(file.control_plane_endpoint);
    m.apiserver_cert_extra_sans = m.apiserver_cert_extra_sans.or(file.cert_sans);
    m.service_cidr = m.service_cidr.or(file.service_subnets);
    m.service_dns_domain = m.service_dns_domain.or(file.dns_domain);
    m.cluster_name = m.cluster_name.or(file.cluster_name);
    m.encryption_algorithm = m.encryption_algorithm.or(file.encryption_algorithm);
    m.cert_validity = m.cert_validity.or(file.cert_validity);
    m.ca_validity = m.ca_validity.or(file.ca_validity);
    let etcd = if args.external_etcd {
        None
    } else {
        file.etcd.map(Etcd::from)
    };
    Ok((m, etcd))
}

fn config_from(args: &PkiArgs, etcd: Option<Etcd>) -> Result<ClusterConfig, Error> {
    let node_name = match &args.node_name {
        Some(n) => n.clone(),
        None => host_name()?,
    };
    let advertise = match args.apiserver_advertise_address {
        Some(ip) => ip,
        None => default_address()?,
    };
    if advertise.is_unspecified() || advertise.is_multicast() {
        return Err(Error::Usage {
            flag: "--apiserver-advertise-address",
            message: format!(
                "{advertise} cannot be advertised; give a unicast address of this host"
            ),
        });
    }
    let mut cfg = ClusterConfig::new(&node_name, advertise);
    if let Some(v) = &args.cluster_name {
        cfg.cluster_name = v.clone();
    }
    if let Some(v) = args.apiserver_bind_port {
        cfg.bind_port = v;
    }
    cfg.control_plane_endpoint = args.control_plane_endpoint.clone();
    if let Some(v) = &args.service_cidr {
        cfg.service_subnets = v.clone();
    }
    if let Some(v) = &args.service_dns_domain {
        cfg.dns_domain = v.clone();
    }
    if let Some(v) = &args.apiserver_cert_extra_sans {
        cfg.apiserver_extra_sans = v.clone();
    }
    if let Some(etcd) = etcd {
        cfg.etcd = etcd;
    }
    if args.external_etcd {
        cfg.etcd = Etcd::External;
    }
    if let Some(v) = args.encryption_algorithm {
        cfg.key_algorithm = v;
    }
    if let Some(v) = args.cert_validity {
        cfg.cert_validity = v;
    }
    if let Some(v) = args.ca_validity {
        cfg.ca_validity = v;
    }
    if cfg.bind_port == 0 {
        return Err(Error::Usage {
            flag: "--apiserver-bind-port",
            message: "must be from 1 to 65535".into(),
        });
    }
    if cfg.cert_validity > cfg.ca_validity {
        return Err(Error::Usage {
            flag: "--cert-validity",
            message: "is longer than --ca-validity; a leaf cannot outlive its CA".into(),
        });
    }
    cfg.validate().map_err(|e| match e {
        pki_core::Error::InvalidName {
            field: "node name", ..
        } => Error::Usage {
            flag: "--node-name",
            message: e.to_string(),
        },
        pki_core::Error::InvalidName {
            field: "service DNS domain",
            ..
        } => Error::Usage {
            flag: "--service-dns-domain",
            message: e.to_string(),
        },
        other => Error::Pki(other),
    })?;
    Ok(cfg)
}

fn host_name() -> Result<String, Error> {
    let path = Path::new("/proc/sys/kernel/hostname");
    let name = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(name.trim().to_ascii_lowercase())
}

/// kubeadm picks the address of the default route's interface; without a routing table here,
/// take the first global unicast address of an interface that is up, IPv4 first.
fn default_address() -> Result<IpAddr, Error> {
    let none = || Error::Usage {
        flag: "--apiserver-advertise-address",
        message: "no non-loopback address found on this host; pass one explicitly".into(),
    };
    let ifaces = if_addrs::get_if_addrs().map_err(|_| none())?;
    let usable = |ip: &IpAddr| {
        !ip.is_loopback()
            && !ip.is_unspecified()
            && match ip {
                IpAddr::V4(v4) => !v4.is_link_local(),
                IpAddr::V6(v6) => !v6.is_unicast_link_local(),
            }
    };
    let ips: Vec<IpAddr> = ifaces
        .iter()
        .map(if_addrs::Interface::ip)
        .filter(usable)
        .collect();
    ips.iter()
        .find(|ip| ip.is_ipv4())
        .or_else(|| ips.first())
        .copied()
        .ok_or_else(none)
}
