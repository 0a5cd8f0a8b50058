//! Flags of `tenantctl token …` (and, later, `bootstrap-setup` and `join`).

use std::{path::PathBuf, time::Duration};

use clap::{Args, Subcommand};
use kubeconfig::ServerUrl;
use pki_core::{Cidr, Endpoint};

use super::{ApiArgs, Format, PkiArgs};
use crate::time::{parse_duration, parse_duration_or_zero};

/// `tenantctl token …`: bootstrap tokens, as `kubeadm token` manages them.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bootstrap token (a Secret in kube-system) and print it.
    Create(TokenCreateArgs),
    /// List the bootstrap tokens (kubeadm's too).
    List(TokenListArgs),
    /// Delete bootstrap tokens by token or id.
    Delete(TokenDeleteArgs),
}

/// Flags of `token create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// How long the token lives (0: never expires).
    #[arg(allow_hyphen_values = true, long, default_value = "24h", value_parser = parse_duration_or_zero, value_name = "DURATION")]
    pub ttl: Duration,

    /// What the token is for.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// What the token may be used for.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "signing,authentication",
        value_name = "USAGE,..."
    )]
    pub usages: Vec<String>,

    /// Extra groups the token authenticates as (system:bootstrappers:…).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "system:bootstrappers:kubeadm:default-node-token",
        value_name = "GROUP,..."
    )]
    pub groups: Vec<String>,

    /// Print the whole `tenantctl join ENDPOINT --token … --discovery-token-ca-cert-hash …`
    /// line instead of the token alone.
    #[arg(long)]
    pub print_join_command: bool,

    /// With --print-join-command: the endpoint nodes join through (an HA VIP or load
    /// balancer); default: the admin kubeconfig's server.
    #[arg(long, value_name = "URL")]
    pub server: Option<ServerUrl>,

    /// Output format (table: the token alone, as kubeadm prints it).
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub api: ApiArgs,
}

/// Flags of `token list`.
#[derive(Debug, Args)]
pub struct TokenListArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub api: ApiArgs,
}

/// Flags of `token delete`.
#[derive(Debug, Args)]
pub struct TokenDeleteArgs {
    /// Tokens (id.secret) or token ids.
    #[arg(required = true, value_name = "TOKEN|ID")]
    pub tokens: Vec<String>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub api: ApiArgs,
}

/// Flags of `bootstrap-setup`, named as `kubeadm init` names them.
#[derive(Debug, Args)]
#[command(after_help = BOOTSTRAP_SETUP_HELP)]
pub struct BootstrapSetupArgs {
    /// The API server URL nodes reach: published in cluster-info and in kube-proxy's
    /// kubeconfig.conf (default: the control-plane endpoint, else the admin kubeconfig's).
    #[arg(long, value_name = "URL")]
    pub server: Option<ServerUrl>,

    /// Where the cluster's PKI is, read for what it says (DNS domain, service IP, extra SANs);
    /// also kubeadm-config's certificatesDir when absolute [default: /etc/kubernetes/pki].
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// The stable address of the control plane (HA VIP or load balancer): HOST or HOST:PORT
    /// (default: the host and port of --server, else of the admin kubeconfig's server).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub control_plane_endpoint: Option<Endpoint>,

    /// The pod network CIDR(s), comma-separated for dual-stack (kube-proxy's clusterCIDR)
    /// [default: none].
    #[arg(long, value_delimiter = ',', value_name = "CIDR,...")]
    pub pod_network_cidr: Option<Vec<Cidr>>,

    /// The service CIDR(s), comma-separated for dual-stack; the tenth address of the first is
    /// the kubelets' clusterDNS [default: 10.96.0.0/12].
    #[arg(long, value_delimiter = ',', value_name = "CIDR,...")]
    pub service_cidr: Option<Vec<Cidr>>,

    /// The cluster's DNS domain (default: from the PKI's apiserver.crt, else cluster.local).
    #[arg(long, value_name = "DOMAIN")]
    pub service_dns_domain: Option<String>,

    /// Print the objects as YAML (-o json|yaml: a v1 List) and apply nothing; the cluster is
    /// only read.
    #[arg(long)]
    pub dry_run: bool,

    /// Output format: what was applied (with --dry-run: the objects).
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub api: ApiArgs,
}

const BOOTSTRAP_SETUP_HELP: &str = "\
Applies (server-side, idempotent) what `kubeadm init` leaves in the cluster for nodes to join,
so both `kubeadm join` and `tenantctl join` work: the ClusterRoleBinding kubeadm:cluster-admins
(admin.conf's group), the kubeadm-config and kubelet-config ConfigMaps, cluster-info, kubeadm's
bootstrap RBAC, and the kube-proxy ConfigMap whose kubeconfig.conf names --server. ConfigMaps
that someone else (kubeadm) made are kept; of kube-proxy only the server is set.

Examples:
  tenantctl bootstrap-setup --kubeconfig /etc/kubernetes/super-admin.conf \\
      --control-plane-endpoint vip.example.com:6443 --pod-network-cidr 10.244.0.0/16
  tenantctl bootstrap-setup --server https://vip.example.com:6443 --dry-run
  tenantctl bootstrap-setup -o json";

/// Flags of `join` (a worker node).
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The API server to join through: HOST[:PORT] (6443) or https://HOST:PORT — an HA VIP or
    /// load balancer is what bootstrap-kubelet.conf then uses.
    #[arg(value_name = "ENDPOINT")]
    pub endpoint: String,

    /// The bootstrap token (tenantctl token create, or kubeadm token create).
    #[arg(long, value_name = "TOKEN")]
    pub token: String,

    /// The CA's public-key hash, sha256:<hex> (tenantctl pki ca-hash); repeatable, any matches.
    #[arg(long = "discovery-token-ca-cert-hash", value_name = "sha256:HEX")]
    pub ca_cert_hashes: Vec<String>,

    /// Trust the CA on the token alone (no hash pin).
    #[arg(long)]
    pub discovery_token_unsafe_skip_ca_verification: bool,

    /// How long to wait for cluster-info to carry the token's signature: the controller
    /// manager's bootstrap signer adds it a moment after the token is created (kubeadm's
    /// discovery waits the same way, 5m by default).
    #[arg(allow_hyphen_values = true, long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub discovery_timeout: Duration,

    /// Write the server cluster-info names into bootstrap-kubelet.conf, as kubeadm does,
    /// instead of ENDPOINT.
    #[arg(long)]
    pub use_cluster_info_server: bool,

    /// Join as a control-plane node: download the CAs and service-account keys from
    /// kubeadm-certs (pki upload-certs) and make this node's PKI and kubeconfigs (pki init's
    /// flags: --node-name, --apiserver-advertise-address, …; admin.conf on ENDPOINT).
    #[arg(long)]
    pub control_plane: bool,

    /// With --control-plane: the key kubeadm-certs was encrypted with.
    #[arg(
        long,
        value_name = "KEY",
        env = "TENANTCTL_CERTIFICATE_KEY",
        hide_env_values = true
    )]
    pub certificate_key: Option<String>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub pki: PkiArgs,

    /// How long one request to ENDPOINT may take.
    #[arg(allow_hyphen_values = true, long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub request_timeout: Duration,

    /// Give up the whole command after DURATION.
    #[arg(allow_hyphen_values = true, long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,

    /// Output format: what was written.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,
}
