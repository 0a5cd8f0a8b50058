//! Command-line types. Values are parsed into their domain types here, so a bad flag is
//! reported by clap, naming the flag, before any work starts.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use pki_core::{Cidr, Endpoint, KeyAlgorithm, San};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  runtime failure (I/O, crypto, permissions)
  2  invalid flags or values
  3  existing files are inconsistent with each other or with the flags (nothing was changed)
  4  another tenantctl run holds the lock on the directory";

/// Kubernetes cluster PKI, kubeconfigs and tenant onboarding.
#[derive(Debug, Parser)]
#[command(name = "tenantctl", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The cluster PKI (kubeadm layout).
    #[command(subcommand)]
    Pki(PkiCommand),
}

/// `tenantctl pki ...`
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create (or complete) the whole kubeadm-compatible PKI and the control-plane kubeconfigs.
    ///
    /// Existing files are checked and reused, never overwritten; a second run with the same
    /// flags changes nothing.
    #[command(after_help = EXIT_CODES)]
    Init(InitArgs),
}

/// Flags of `pki init`, named as kubeadm names them.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where certificates and keys are stored.
    #[arg(long, default_value = "/etc/kubernetes/pki", value_name = "DIR")]
    pub cert_dir: PathBuf,

    /// Where the control-plane kubeconfigs are written.
    #[arg(long, default_value = "/etc/kubernetes", value_name = "DIR")]
    pub kubeconfig_dir: PathBuf,

    /// The node name (CN of the etcd certificates, a SAN of the API server). Default: the host
    /// name, lowercased.
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,

    /// The IP address the API server advertises. Default: the first non-loopback address.
    #[arg(long, value_name = "IP")]
    pub apiserver_advertise_address: Option<IpAddr>,

    /// The port the API server binds to.
    #[arg(long, default_value_t = 6443, value_name = "PORT")]
    pub apiserver_bind_port: u16,

    /// A stable address for the control plane (HA VIP or load balancer): HOST or HOST:PORT.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub control_plane_endpoint: Option<Endpoint>,

    /// Extra SANs for the API server certificate (IPs or DNS names, `*.` wildcards allowed).
    #[arg(long, value_delimiter = ',', value_name = "SAN,...")]
    pub apiserver_cert_extra_sans: Vec<San>,

    /// Service CIDR(s); comma-separated for dual-stack. The first IP of each is a SAN.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10.96.0.0/12",
        value_name = "CIDR,..."
    )]
    pub service_cidr: Vec<Cidr>,

    /// The cluster's DNS domain.
    #[arg(long, default_value = "cluster.local", value_name = "DOMAIN")]
    pub service_dns_domain: String,

    /// The cluster name in the kubeconfigs.
    #[arg(long, default_value = "kubernetes", value_name = "NAME")]
    pub cluster_name: String,

    /// The key algorithm of every key: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384.
    #[arg(long, default_value = "RSA-2048", value_name = "ALG")]
    pub encryption_algorithm: KeyAlgorithm,

    /// Validity of leaf certificates (e.g. 8760h, 365d).
    #[arg(long, default_value = "8760h", value_parser = parse_duration, value_name = "DURATION")]
    pub cert_validity: Duration,

    /// Validity of the CA certificates (e.g. 87600h, 3650d).
    #[arg(long, default_value = "87600h", value_parser = parse_duration, value_name = "DURATION")]
    pub ca_validity: Duration,

    /// etcd is external: no etcd CA or etcd certificates are made.
    #[arg(long)]
    pub external_etcd: bool,

    /// Print the plan and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Parses Go-style durations (`8760h`, `1h30m`, `8760h0m0s`) plus days (`365d`) and weeks
/// (`2w`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (examples: 8760h, 365d, 1h30m)");
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(secs)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    if total == 0 {
        return Err(format!("{s:?} is zero; a validity must be positive"));
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("8760h").unwrap(),
            Duration::from_secs(8760 * 3600)
        );
        assert_eq!(
            parse_duration("365d").unwrap(),
            Duration::from_secs(8760 * 3600)
        );
        assert_eq!(
            parse_duration("8760h0m0s").unwrap(),
            Duration::from_secs(8760 * 3600)
        );
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        for bad in ["", "h", "10", "10y", "-1h", "0h", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
