//! Command-line types, one file per command group. Values are parsed into their domain types
//! here, so a bad flag is reported by clap, naming the flag, before any work starts.

mod controller;
mod docs;
mod join;
mod pki;
mod shared;
mod tenant;
mod webhook;

use clap::{Parser, Subcommand};

pub use controller::{ControllerCommand, ControllerRunArgs, ManifestsArgs};
pub use docs::{CompletionArgs, ManArgs};
pub use join::{
    BootstrapSetupArgs, JoinArgs, TokenCommand, TokenCreateArgs, TokenDeleteArgs, TokenListArgs,
};
pub use pki::{
    CaChoice, CaHashArgs, CheckArgs, CsrArgs, InitArgs, PkiArgs, PkiCommand, PkiRenewArgs,
    RotateCaArgs, RotateStep, UploadCertsArgs,
};
pub use shared::{ApiArgs, ClusterArgs, Format};
pub use tenant::{
    ApplyArgs, AuthKind, CreateArgs, CsrApiArgs, ListArgs, RenewArgs, RevokeArgs, ShowArgs,
    SignerKind, TenantSet,
};
pub use webhook::{
    FailurePolicy, WebhookCommand, WebhookServeArgs, WebhookSetupArgs, WebhookStatusArgs,
};

/// The exit codes every command shares (`--help` and the README list them).
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  runtime failure (I/O, crypto, permissions)
  2  invalid flags or values
  3  existing files are inconsistent with each other or with the flags, or an output file
     exists (nothing was changed)
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
    /// Onboard a tenant: key + certificate (or token), kubeconfig, RBAC bindings, record, check.
    #[command(after_help = tenant::CREATE_HELP)]
    Create(Box<CreateArgs>),
    /// Make the cluster's tenants match a file: create, reconcile bindings, renew, prune.
    #[command(after_help = tenant::APPLY_HELP)]
    Apply(Box<ApplyArgs>),
    /// List the recorded tenants.
    List(ListArgs),
    /// Show everything recorded about one tenant.
    Show(ShowArgs),
    /// New credentials for a tenant (same identity, same bindings), kubeconfig rewritten.
    Renew(Box<RenewArgs>),
    /// Remove a tenant's bindings (and ServiceAccount) and mark its credentials revoked.
    Revoke(RevokeArgs),
    /// Bootstrap tokens for joining nodes (kubeadm-compatible Secrets).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Publish cluster-info and kubeadm's bootstrap RBAC so nodes can join with a token
    /// (kubeadm init phase bootstrap-token).
    BootstrapSetup(BootstrapSetupArgs),
    /// Join this node to a cluster with a bootstrap token: discovery, then
    /// bootstrap-kubelet.conf on the endpoint given and ca.crt (kubeadm join, worker).
    Join(Box<JoinArgs>),
    /// Reconcile Tenant objects in the cluster (tenants.tenantctl.io): credentials issued,
    /// renewed and delivered as Secrets, bindings kept, access ended at expiresAt.
    #[command(subcommand)]
    Controller(ControllerCommand),
    /// The authorization webhook that makes the API server deny revoked certificates
    /// (API server v1.32+).
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(after_help = docs::COMPLETION_HELP)]
    Completion(CompletionArgs),
    /// Write man pages: tenantctl.1 and one page per subcommand.
    Man(ManArgs),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    /// `-o` is the output format wherever it exists, never a file.
    #[test]
    fn dash_o_is_always_the_output_format() {
        fn walk(cmd: &clap::Command, path: &str) {
            for arg in cmd.get_arguments() {
                if arg.get_short() == Some('o') {
                    assert_eq!(arg.get_id(), "output", "{path}");
                    let values: Vec<String> = arg
                        .get_possible_values()
                        .iter()
                        .map(|v| v.get_name().to_owned())
                        .collect();
                    assert_eq!(values, ["table", "json", "yaml"], "{path}");
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        walk(&Cli::command(), "tenantctl");
    }
}
