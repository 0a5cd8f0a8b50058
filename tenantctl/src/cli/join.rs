//! Flags of `tenantctl token …` (and, later, `bootstrap-setup` and `join`).

use std::time::Duration;

use clap::{Args, Subcommand};
use kubeconfig::ServerUrl;

use super::{ApiArgs, Format};
use crate::time::parse_duration_or_zero;

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
