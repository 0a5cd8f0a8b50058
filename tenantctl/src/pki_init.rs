//! `tenantctl pki init`: load what exists, plan, generate, write.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    time::{Instant, SystemTime},
};

use pki_core::{Action, ClusterConfig, Etcd, Plan, San};

use crate::{
    Error,
    cli::{InitArgs, PkiArgs},
    fs::{self, Pending},
    kubeconfigs,
};

/// Runs `pki init`, printing progress to `out`.
pub(crate) fn run(init: &InitArgs, out: &mut impl std::io::Write) -> Result<(), Error> {
    let started = Instant::now();
    let Settings {
        cfg,
        cert_dir,
        kubeconfig_dir,
    } = settings(&init.pki)?;
    let args = Args {
        cert_dir,
        kubeconfig_dir,
        dry_run: init.dry_run,
    };
    let now = SystemTime::now();

    let pki_lock = fs::lock_dir(&args.cert_dir)?;
    let kc_lock = if same_dir(&args.kubeconfig_dir, &args.cert_dir) {
        None
    } else {
        fs::lock_dir(&args.kubeconfig_dir)?
    };

    let paths = pki_paths(&cfg);
    let existing = fs::read_existing(&args.cert_dir, paths.iter().cloned())?;
    let plan = pki_core::plan(&cfg, &existing, now).map_err(|e| inconsistent(&args.cert_dir, e))?;
    let existing_kc = fs::read_existing(
        &args.kubeconfig_dir,
        kubeconfig::CONTROL_PLANE_KUBECONFIGS
            .iter()
            .map(|f| f.file_name.to_owned()),
    )?;
    let kc_plan = kubeconfigs::plan(&cfg, &existing_kc, &existing, now).map_err(|problems| {
        Error::Inconsistent {
            dir: args.kubeconfig_dir.clone(),
            problems,
        }
    })?;

    let w = |e| Error::Write {
        path: PathBuf::from("<stdout>"),
        source: e,
    };
    writeln!(
        out,
        "[certs] Using certificateDir folder {:?}",
        args.cert_dir.display().to_string()
    )
    .map_err(w)?;
    print_plan(out, &args.cert_dir, &plan, args.dry_run).map_err(w)?;
    let sans = cfg.apiserver_sans()?;
    let (dns, ips): (Vec<&San>, Vec<&San>) = sans.iter().partition(|s| matches!(s, San::Dns(_)));
    let join = |v: &[&San]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    writeln!(
        out,
        "[certs] apiserver serving cert is signed for DNS names [{}] and IPs [{}]",
        join(&dns),
        join(&ips)
    )
    .map_err(w)?;
    kubeconfigs::print_plan(out, &args.kubeconfig_dir, &kc_plan, args.dry_run).map_err(w)?;

    let keys_needed = plan.keys_needed() + kc_plan.keys_needed();
    let reused_entries = plan
        .entries()
        .iter()
        .filter(|e| e.action != Action::Create)
        .count();
    if args.dry_run {
        writeln!(
            out,
            "dry run: {keys_needed} keys would be generated; nothing was written"
        )
        .map_err(w)?;
        return Ok(());
    }

    let keys = pki_core::generate_keys(cfg.key_algorithm, keys_needed)?;
    let mut keys = keys.into_iter();
    let executed = plan.execute(&mut keys)?;
    let kc_files = kubeconfigs::execute(&cfg, kc_plan, &executed, now, &mut keys)?;

    let mut pending: Vec<Pending<'_>> = Vec::new();
    for f in &executed.files {
        pending.push(Pending {
            path: args.cert_dir.join(&f.path),
            contents: &f.contents,
            secret: f.secret,
        });
    }
    for f in &kc_files {
        pending.push(Pending {
            path: args.kubeconfig_dir.join(&f.path),
            contents: &f.contents,
            secret: true,
        });
    }
    let mut dirs: Vec<PathBuf> = pending
        .iter()
        .filter_map(|p| p.path.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in &dirs {
        fs::create_dirs(d)?;
    }
    // Directories that did not exist when we started are locked now, before writing.
    let _late_locks = (
        if pki_lock.is_none() {
            fs::lock_dir(&args.cert_dir)?
        } else {
            None
        },
        if kc_lock.is_none() && !same_dir(&args.kubeconfig_dir, &args.cert_dir) {
            fs::lock_dir(&args.kubeconfig_dir)?
        } else {
            None
        },
    );
    let written = fs::write_new_files(&pending)?;

    let reused = reused_entries;
    writeln!(
        out,
        "[certs] Valid certificates and keys now exist in {:?}\n{} files written, {} entries reused, {} new {} keys, in {:.0?}",
        args.cert_dir.display().to_string(),
        written.len(),
        reused,
        keys_needed,
        cfg.key_algorithm,
        started.elapsed()
    )
    .map_err(w)?;
    Ok(())
}

struct Args {
    cert_dir: PathBuf,
    kubeconfig_dir: PathBuf,
    dry_run: bool,
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
}

fn inconsistent(dir: &Path, e: pki_core::Error) -> Error {
    match e {
        pki_core::Error::Plan(problems) => Error::Inconsistent {
            dir: dir.to_owned(),
            problems: problems.iter().map(ToString::to_string).collect(),
        },
        other => Error::Pki(other),
    }
}

/// Every path under the PKI directory that the tree may use.
pub(crate) fn pki_paths(cfg: &ClusterConfig) -> Vec<String> {
    let mut paths: Vec<String> = cfg
        .certs()
        .flat_map(|d| [format!("{}.crt", d.base), format!("{}.key", d.base)])
        .collect();
    paths.push("sa.key".into());
    paths.push("sa.pub".into());
    paths
}

fn print_plan(
    out: &mut impl std::io::Write,
    dir: &Path,
    plan: &Plan,
    dry_run: bool,
) -> std::io::Result<()> {
    for e in plan.entries() {
        let verb = match (e.action, dry_run) {
            (Action::Create, false) => "generated",
            (Action::Create, true) => "would generate",
            (Action::Reuse, _) => "reused",
            (Action::KeepExternal, _) => "kept external",
        };
        for f in &e.files {
            writeln!(out, "  {verb:<15} {}", dir.join(f).display())?;
        }
        for warning in &e.warnings {
            writeln!(out, "  warning: {warning}")?;
        }
    }
    Ok(())
}

/// Builds the cluster configuration from the flags and the host's defaults.
/// Defaults of the PKI settings (kubeadm's).
pub(crate) const DEFAULT_CERT_DIR: &str = "/etc/kubernetes/pki";
pub(crate) const DEFAULT_KUBECONFIG_DIR: &str = "/etc/kubernetes";

/// The PKI settings resolved: flags, then defaults.
pub(crate) struct Settings {
    pub(crate) cfg: ClusterConfig,
    pub(crate) cert_dir: PathBuf,
    pub(crate) kubeconfig_dir: PathBuf,
}

/// Resolves the PKI flags: each flag, else its default; the whole `ClusterConfig` checked.
///
/// Without `--encryption-algorithm`, an existing PKI keeps its own algorithm (that of
/// `ca.crt`'s key), so `check` and `renew` need not repeat the flag `init` was given.
pub(crate) fn settings(args: &PkiArgs) -> Result<Settings, Error> {
    let (merged, etcd) = merge_config_file(args)?;
    let args = &merged;
    let cert_dir = args
        .cert_dir
        .clone()
        .unwrap_or_else(|| DEFAULT_CERT_DIR.into());
    let mut cfg = config_from(args, etcd)?;
    let existing_algorithm = || {
        std::fs::read_to_string(cert_dir.join("ca.crt"))
            .ok()
            .and_then(|pem| pki_core::Certificate::from_pem(&pem).ok())
            .and_then(|ca| ca.key_algorithm().ok())
    };
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

/// Fills what the flags leave out from `--config` (kubeadm's file): flag, then file.
fn merge_config_file(args: &PkiArgs) -> Result<(PkiArgs, Option<Etcd>), Error> {
    let Some(path) = &args.config else {
        return Ok((args.clone(), None));
    };
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    let file = crate::kubeadm_config::parse(&text).map_err(|e| Error::Usage {
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
