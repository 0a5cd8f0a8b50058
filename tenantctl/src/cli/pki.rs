//! Flags of `tenantctl pki …`, named as kubeadm names its flags.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use clap::{Args, Subcommand};
use pki_core::{Cidr, Endpoint, KeyAlgorithm, San};

use super::{ApiArgs, ClusterArgs, EXIT_CODES, Format};
use crate::time::{parse_duration, parse_duration_or_zero};

const INIT_HELP: &str = "\
Examples:
  tenantctl pki init --node-name cp1 --apiserver-advertise-address 10.0.0.10
  tenantctl pki init --cert-dir ./cluster/pki --kubeconfig-dir ./cluster --node-name cp1 \\
      --apiserver-advertise-address 10.0.0.10 --control-plane-endpoint vip.example.com:6443 \\
      --encryption-algorithm ECDSA-P256
  tenantctl pki init --config kubeadm.yaml --dry-run      # what would be generated
  tenantctl pki init --config kubeadm.yaml -o json        # what was generated or reused, per file

Progress and warnings go to stderr; stdout carries the result once the files are in place.

";

const CHECK_HELP: &str = "\
Examples:
  tenantctl pki check
  tenantctl pki check --warn-within 30d          # exit 1 when anything expires within 30 days
  tenantctl pki check -o json | jq '.certificates[] | select(.problems != [])'
  tenantctl pki check --prometheus-textfile /var/lib/node_exporter/textfile/tenantctl.prom

Exit codes:
  0  everything present, valid and consistent
  1  something expires within --warn-within
  2  something is missing, expired or fails a check (or invalid flags)";

/// `tenantctl pki ...`
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create (or complete) the whole kubeadm-compatible PKI and the control-plane kubeconfigs.
    ///
    /// Existing files are checked and reused, never overwritten; a second run with the same
    /// flags changes nothing.
    #[command(after_help = format!("{INIT_HELP}{EXIT_CODES}"))]
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
    /// Upload the CAs and service-account keys, encrypted with a certificate key, for another
    /// control-plane node to join (kubeadm init phase upload-certs); prints the key.
    UploadCerts(Box<UploadCertsArgs>),
    /// Rotate a CA in stages without downtime: begin (trust both), reissue (the new key signs,
    /// every leaf moves), finish (drop the old CA, overwrite the rotation's key copies); abort;
    /// status.
    #[command(after_help = ROTATE_HELP)]
    RotateCa(Box<RotateCaArgs>),
}

const ROTATE_HELP: &str = "\
Steps, in order (each one is idempotent and safe to run again after a crash):
  begin     a new CA next to the old one: ca.crt trusts both (old first: the old key still signs),
            every control-plane kubeconfig trusts both
  (then)    tenantctl renew --all --out-dir DIR   re-issue every tenant from the new CA
  reissue   ca.key becomes the new key, ca.crt the bundle new first; every leaf and kubeconfig
            client certificate is re-issued from the new CA (refused while a tenant or a
            kubeconfig in --kubeconfig-dir trusts only the old CA)
  finish    ca.crt trusts only the new CA; the rotation's key copies are overwritten and
            removed; every old client certificate stops authenticating (refused while
            anything current is still on the old CA)
  abort     before finish: back to the old CA alone
  status    the phase, when each step ran, and what still depends on the old CA

Examples:
  tenantctl pki rotate-ca begin
  tenantctl pki rotate-ca status -o json
  tenantctl renew --all --out-dir ./kubeconfigs
  tenantctl pki rotate-ca reissue
  tenantctl pki rotate-ca finish --ca all

Exit codes:
  0  done (or already done)
  2  invalid flags, or the step does not follow from the current phase
  3  refused: clients still depend on the old CA (they are named; --force overrides)
  4  another tenantctl holds the lock on --cert-dir";

/// A rotation step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RotateStep {
    /// Trust a new CA next to the old one.
    Begin,
    /// Sign with the new CA and re-issue everything under it.
    Reissue,
    /// Drop the old CA.
    Finish,
    /// Back to the old CA alone (before finish).
    Abort,
    /// Where the rotation stands.
    Status,
    /// After reissue: this node's kubelet client certificate (the file kubelet.conf names,
    /// kubeadm's kubelet-client-current.pem) from the new CA.
    Kubelet,
}

/// Which CA `rotate-ca` works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CaChoice {
    /// `ca.crt`/`ca.key`.
    Cluster,
    /// `front-proxy-ca.*`.
    FrontProxy,
    /// `etcd/ca.*`.
    Etcd,
    /// All three (etcd unless external), in that order.
    All,
}

/// Flags of `pki rotate-ca`.
#[derive(Debug, Args)]
pub struct RotateCaArgs {
    /// The step.
    #[arg(value_enum)]
    pub step: RotateStep,

    /// Which CA.
    #[arg(long, value_enum, default_value = "cluster")]
    pub ca: CaChoice,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub pki: PkiArgs,

    /// Go on although tenants, kubeconfigs or leaves still depend on the old CA (they are
    /// named in a warning).
    #[arg(long)]
    pub force: bool,

    /// Do not read the tenant records from the cluster (none exist, or the API server is not
    /// reachable): tenants are not checked.
    #[arg(long)]
    pub skip_tenants: bool,

    /// Show what the step would write, shred and end; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Output format: what each step wrote, shredded and ended; status: the phase and what
    /// still depends on the old CA.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub cluster: ClusterArgs,
}

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
    #[arg(allow_hyphen_values = true, long, value_parser = parse_duration, value_name = "DURATION")]
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

    /// Output format: what was renewed, with each change.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,
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

    /// Output format (table: the hash alone, as `kubeadm join` takes it).
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,
}

/// Flags of `pki csr`.
#[derive(Debug, Args)]
pub struct CsrArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub pki: PkiArgs,

    /// Output format: each CSR and key written.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,
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

    /// Output format: each file generated or reused, and the API server's SANs.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,
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
    #[arg(allow_hyphen_values = true, long, value_parser = parse_duration, value_name = "DURATION")]
    pub cert_validity: Option<Duration>,

    /// Validity of the CA certificates, e.g. 87600h, 3650d [default: 87600h].
    #[arg(allow_hyphen_values = true, long, value_parser = parse_duration, value_name = "DURATION")]
    pub ca_validity: Option<Duration>,

    /// etcd is external: no etcd CA or etcd certificates are made.
    #[arg(long)]
    pub external_etcd: bool,

    /// How long to wait for another tenantctl run that holds the lock on --cert-dir
    /// (default: fail at once, exit 4, naming the holder).
    #[arg(allow_hyphen_values = true, long, value_parser = parse_duration_or_zero, value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: Duration,
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

/// Flags of `pki upload-certs`.
#[derive(Debug, Args)]
pub struct UploadCertsArgs {
    /// The key to encrypt with: 64 hex digits (default: a new one, printed).
    #[arg(
        long,
        value_name = "KEY",
        env = "TENANTCTL_CERTIFICATE_KEY",
        hide_env_values = true
    )]
    pub certificate_key: Option<String>,

    /// Where the CAs and sa.key are [default: /etc/kubernetes/pki].
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Output format (table: the certificate key alone).
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub api: ApiArgs,
}
