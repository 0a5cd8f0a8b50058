//! Command-line types. Values are parsed into their domain types here, so a bad flag is
//! reported by clap, naming the flag, before any work starts.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use kubeconfig::ServerUrl;
use pki_core::{Cidr, Endpoint, KeyAlgorithm, San};

use crate::{
    cluster::Access,
    tenant::{AuthKind, RECORD_NAMESPACE, RoleKind},
};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  runtime failure (I/O, crypto, permissions)
  2  invalid flags or values
  3  existing files are inconsistent with each other or with the flags, or an output file
     exists (nothing was changed)
  4  another tenantctl run holds the lock on the directory";

const CREATE_HELP: &str = "\
Examples:
  tenantctl create alice --role view
  tenantctl create alice --role edit -n team-a --create-namespace --group dev --ttl 7d
  tenantctl create ci-bot --auth token --role edit -n ci
  tenantctl create alice --role view --signer csr --approve      # no CA key at hand
  tenantctl create alice --role view --offline --cert-dir ./cluster/pki

Cluster access: --kubeconfig, KUBECONFIG, ~/.kube/config, /etc/kubernetes/admin.conf, then the
in-cluster service account; --context picks a context.

Exit codes:
  0  success
  1  runtime failure (cluster call, I/O, crypto); whatever was created was rolled back
  2  invalid flags or values, or refused by a guardrail
  3  an output file exists (nothing was changed)";

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
    /// Onboard a tenant: key + certificate (or token), kubeconfig, RBAC bindings, record, check.
    #[command(after_help = CREATE_HELP)]
    Create(Box<CreateArgs>),
    /// List the recorded tenants.
    List(ListArgs),
    /// Show everything recorded about one tenant.
    Show(ShowArgs),
    /// New credentials for a tenant (same identity, same bindings), kubeconfig rewritten.
    Renew(Box<RenewArgs>),
    /// Remove a tenant's bindings (and ServiceAccount) and mark its credentials revoked.
    Revoke(RevokeArgs),
}

/// How to reach the cluster and where tenant records live.
#[derive(Debug, Args, Clone)]
pub struct ClusterArgs {
    /// The admin kubeconfig (default: KUBECONFIG, ~/.kube/config, /etc/kubernetes/admin.conf,
    /// then in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// The namespace holding tenant records.
    #[arg(long, default_value = RECORD_NAMESPACE, value_name = "NS")]
    pub record_namespace: String,
}

impl ClusterArgs {
    /// The access flags.
    pub fn access(&self) -> Access {
        Access {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }
}

/// Who signs a tenant certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignerKind {
    /// The cluster CA key in --cert-dir.
    Local,
    /// The Kubernetes CSR API (kubernetes.io/kube-apiserver-client).
    Csr,
}

/// Flags of `create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The user name: the certificate's CN (or the ServiceAccount's name with --auth token).
    pub user: String,

    /// A role to bind: NAME, ClusterRole/NAME or Role/NAME (repeatable).
    #[arg(long = "role", required = true, value_name = "ROLE")]
    pub roles: Vec<String>,

    /// The kind of a bare --role name.
    #[arg(long, value_enum, default_value = "ClusterRole", value_name = "KIND")]
    pub role_kind: RoleKind,

    /// Bind in this namespace (RoleBindings); without it, ClusterRoleBindings.
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,

    /// Create the namespace if it does not exist.
    #[arg(long)]
    pub create_namespace: bool,

    /// A group (certificate O) for the tenant (repeatable). Groups cannot be revoked before the
    /// certificate expires.
    #[arg(short = 'g', long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,

    /// Bind the roles to the groups as well as to the user.
    #[arg(long)]
    pub bind_group: bool,

    /// Lifetime of the certificate or token (e.g. 12h, 30d). Never past the CA's expiry.
    #[arg(long, default_value = "30d", value_parser = parse_duration, value_name = "DURATION")]
    pub ttl: Duration,

    /// Key algorithm of the tenant's key.
    #[arg(long, default_value = "ECDSA-P256", value_name = "ALG")]
    pub key_algorithm: KeyAlgorithm,

    /// Who signs the certificate.
    #[arg(long, value_enum, default_value = "local")]
    pub signer: SignerKind,

    /// The cluster PKI directory (ca.crt, ca.key; apiserver.crt for the SAN check).
    #[arg(long, default_value = "/etc/kubernetes/pki", value_name = "DIR")]
    pub cert_dir: PathBuf,

    /// With --signer csr: approve the request (needs approve permission on the signer).
    #[arg(long)]
    pub approve: bool,

    /// With --signer csr: how long to wait for the certificate.
    #[arg(long, default_value = "2m", value_parser = parse_duration, value_name = "DURATION")]
    pub csr_timeout: Duration,

    /// Client certificate or ServiceAccount token.
    #[arg(long, value_enum, default_value = "cert")]
    pub auth: AuthKind,

    /// Where to write the kubeconfig (default ./USER.kubeconfig).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The API server URL for the tenant (an HA VIP or load balancer); default: the admin
    /// kubeconfig's.
    #[arg(long, value_name = "URL")]
    pub server: Option<ServerUrl>,

    /// Write the kubeconfig, USER-rbac.yaml and USER-tenant.yaml instead of calling the cluster.
    #[arg(long)]
    pub offline: bool,

    /// Print the plan; mint, apply and write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Allow system: user names and groups (system:masters bypasses RBAC).
    #[arg(long)]
    pub allow_privileged: bool,

    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,

    /// Only write a key and a CSR (CN = user, O = groups) for an offline CA to sign: FILE and
    /// FILE's name with `.key`. Nothing else happens; finish with --cert/--key.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cert", "offline", "dry_run"])]
    pub csr_out: Option<PathBuf>,

    /// Use this certificate (signed elsewhere, e.g. from --csr-out) instead of minting one.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,

    /// The private key of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub cluster: ClusterArgs,
}

/// Output formats of `list` and `show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A human table.
    Table,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Flags of `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

    /// Only tenants whose current credential expires within DURATION (or has expired).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub expiring: Option<Duration>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub cluster: ClusterArgs,
}

/// Flags of `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The tenant.
    pub user: String,

    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub cluster: ClusterArgs,
}

/// Flags of `renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// The tenant.
    pub user: String,

    /// Lifetime of the new certificate or token.
    #[arg(long, default_value = "30d", value_parser = parse_duration, value_name = "DURATION")]
    pub ttl: Duration,

    /// Key algorithm of the new key (default: the current certificate's).
    #[arg(long, value_name = "ALG")]
    pub key_algorithm: Option<KeyAlgorithm>,

    /// Who signs (default: who signed the current certificate).
    #[arg(long, value_enum)]
    pub signer: Option<SignerKind>,

    /// The cluster PKI directory, for --signer local.
    #[arg(long, default_value = "/etc/kubernetes/pki", value_name = "DIR")]
    pub cert_dir: PathBuf,

    /// With --signer csr: approve the request.
    #[arg(long)]
    pub approve: bool,

    /// With --signer csr: how long to wait for the certificate.
    #[arg(long, default_value = "2m", value_parser = parse_duration, value_name = "DURATION")]
    pub csr_timeout: Duration,

    /// Where to write the kubeconfig (default ./USER.kubeconfig; replaced atomically).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// The API server URL for the tenant; default: the admin kubeconfig's.
    #[arg(long, value_name = "URL")]
    pub server: Option<ServerUrl>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub cluster: ClusterArgs,
}

/// Flags of `revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The tenant.
    pub user: String,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub cluster: ClusterArgs,
}

impl ValueEnum for RoleKind {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::ClusterRole, Self::Role]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(match self {
            Self::ClusterRole => {
                clap::builder::PossibleValue::new("ClusterRole").alias("clusterrole")
            }
            Self::Role => clap::builder::PossibleValue::new("Role").alias("role"),
        })
    }
}

impl ValueEnum for AuthKind {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::Cert, Self::Token]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(match self {
            Self::Cert => clap::builder::PossibleValue::new("cert"),
            Self::Token => clap::builder::PossibleValue::new("token"),
        })
    }
}

/// `tenantctl pki ...`
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create (or complete) the whole kubeadm-compatible PKI and the control-plane kubeconfigs.
    ///
    /// Existing files are checked and reused, never overwritten; a second run with the same
    /// flags changes nothing.
    #[command(after_help = EXIT_CODES)]
    Init(Box<InitArgs>),
    /// Expiry and health of every certificate, CA, key and control-plane kubeconfig
    /// (kubeadm `certs check-expiration`, plus chain, key, SAN and CA checks).
    #[command(after_help = CHECK_HELP)]
    Check(Box<CheckArgs>),
    /// Re-issue leaf certificates and kubeconfig client certificates, keeping their identity;
    /// fix the API server's SANs.
    Renew(Box<PkiRenewArgs>),
    /// Print the CA's public-key hash for `kubeadm join --discovery-token-ca-cert-hash`.
    CaHash(CaHashArgs),
    /// Write a key and a CSR for every leaf and control-plane kubeconfig, for an external CA
    /// (kubeadm `certs generate-csr`).
    Csr(Box<CsrArgs>),
}

const CHECK_HELP: &str = "\
Exit codes:
  0  everything present, valid and consistent
  1  something expires within --warn-within
  2  something is missing, expired or fails a check (or invalid flags)";

/// Flags of `pki check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub pki: PkiArgs,

    /// Output format (json/yaml: schema tenantctl.io/v1 PKICheck, see the README).
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

    /// Exit 1 when anything expires within DURATION (e.g. 30d).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub warn_within: Option<Duration>,

    /// Also write expiry timestamps in node-exporter's textfile format to FILE.
    #[arg(long, value_name = "FILE")]
    pub prometheus_textfile: Option<PathBuf>,
}

/// Flags of `pki renew`.
#[derive(Debug, Args)]
pub struct PkiRenewArgs {
    /// What to renew: `all`, or names as `pki check` prints them (apiserver, admin.conf, ...).
    #[arg(required = true, value_name = "NAME|all")]
    pub names: Vec<String>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub pki: PkiArgs,

    /// Keep the existing private keys.
    #[arg(long)]
    pub reuse_key: bool,

    /// Add SANs to the named serving certificate (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "SAN,...")]
    pub add_san: Vec<San>,

    /// Remove SANs from the named serving certificate (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "SAN,...")]
    pub remove_san: Vec<San>,

    /// Show what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Flags of `pki ca-hash`.
#[derive(Debug, Args)]
pub struct CaHashArgs {
    /// The PKI directory holding ca.crt [default: /etc/kubernetes/pki].
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// A CA certificate file (instead of --cert-dir).
    #[arg(long, value_name = "FILE", conflicts_with = "cert_dir")]
    pub ca_cert: Option<PathBuf>,
}

/// Flags of `pki csr`.
#[derive(Debug, Args)]
pub struct CsrArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub pki: PkiArgs,
}

/// Flags of `pki init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub pki: PkiArgs,

    /// Print the plan and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The cluster's PKI settings, named as kubeadm names its flags; shared by `pki init`, `check`,
/// `renew` and `csr`. Flags override `--config`, which overrides the defaults shown.
#[derive(Debug, Args, Clone, Default)]
pub struct PkiArgs {
    /// kubeadm's own configuration file (InitConfiguration + ClusterConfiguration, v1beta3 or
    /// v1beta4); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Where certificates and keys are stored [default: /etc/kubernetes/pki].
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Where the control-plane kubeconfigs are [default: /etc/kubernetes].
    #[arg(long, value_name = "DIR")]
    pub kubeconfig_dir: Option<PathBuf>,

    /// The node name (CN of the etcd certificates, a SAN of the API server). Default: the host
    /// name, lowercased.
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,

    /// The IP address the API server advertises. Default: the first non-loopback address.
    #[arg(long, value_name = "IP")]
    pub apiserver_advertise_address: Option<IpAddr>,

    /// The port the API server binds to [default: 6443].
    #[arg(long, value_name = "PORT")]
    pub apiserver_bind_port: Option<u16>,

    /// A stable address for the control plane (HA VIP or load balancer): HOST or HOST:PORT.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub control_plane_endpoint: Option<Endpoint>,

    /// Extra SANs for the API server certificate (IPs or DNS names, `*.` wildcards allowed).
    #[arg(long, value_delimiter = ',', value_name = "SAN,...")]
    pub apiserver_cert_extra_sans: Option<Vec<San>>,

    /// Service CIDR(s); comma-separated for dual-stack. The first IP of each is a SAN
    /// [default: 10.96.0.0/12].
    #[arg(long, value_delimiter = ',', value_name = "CIDR,...")]
    pub service_cidr: Option<Vec<Cidr>>,

    /// The cluster's DNS domain [default: cluster.local].
    #[arg(long, value_name = "DOMAIN")]
    pub service_dns_domain: Option<String>,

    /// The cluster name in the kubeconfigs [default: kubernetes].
    #[arg(long, value_name = "NAME")]
    pub cluster_name: Option<String>,

    /// The key algorithm of every key: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384
    /// [default: RSA-2048].
    #[arg(long, value_name = "ALG")]
    pub encryption_algorithm: Option<KeyAlgorithm>,

    /// Validity of leaf certificates, e.g. 8760h, 365d [default: 8760h].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub cert_validity: Option<Duration>,

    /// Validity of the CA certificates, e.g. 87600h, 3650d [default: 87600h].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub ca_validity: Option<Duration>,

    /// etcd is external: no etcd CA or etcd certificates are made.
    #[arg(long)]
    pub external_etcd: bool,
}

impl PkiArgs {
    /// Whether any flag that changes a certificate's SANs was given.
    pub fn sets_sans(&self) -> bool {
        self.config.is_some()
            || self.node_name.is_some()
            || self.apiserver_advertise_address.is_some()
            || self.control_plane_endpoint.is_some()
            || self.apiserver_cert_extra_sans.is_some()
            || self.service_cidr.is_some()
            || self.service_dns_domain.is_some()
    }
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
