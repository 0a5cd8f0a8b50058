//! Flags of `tenantctl token …` (and, later, `bootstrap-setup` and `join`).

use std::time::Duration;

use clap::{Args, Subcommand};
use kubeconfig::ServerUrl;

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
    #[arg(long, default_value = "24h", value_parser = parse_duration_or_zero, value_name = "DURATION")]
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

/// Flags of `bootstrap-setup`.
#[derive(Debug, Args)]
pub struct BootstrapSetupArgs {
    /// The API server URL cluster-info publishes (default: the admin kubeconfig's).
    #[arg(long, value_name = "URL")]
    pub server: Option<ServerUrl>,

    /// Output format: what was applied.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub api: ApiArgs,
}

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
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub request_timeout: Duration,

    /// Give up the whole command after DURATION.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,

    /// Output format: what was written.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,
}
