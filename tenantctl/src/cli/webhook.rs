//! `tenantctl webhook setup|serve|status`.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Subcommand, ValueEnum};

use super::{ClusterArgs, Format};
use crate::time::parse_duration;

pub(super) const SETUP_HELP: &str = "\
Examples:
  tenantctl webhook setup --cert-dir /etc/kubernetes/pki --address 10.0.0.10:9443 \\
      --out-dir /etc/kubernetes/tenantctl-webhook
  # then kube-apiserver --authorization-config=/etc/kubernetes/tenantctl-webhook/authorization-config.yaml
  #   (instead of --authorization-mode), and: tenantctl webhook serve --config-dir /etc/kubernetes/tenantctl-webhook

The API server consults the webhook first, only for requests with an X.509 credential id
(v1.32+) from users that are not system: and not in system:masters, system:nodes or
kubeadm:cluster-admins; it denies a revoked certificate and has no opinion otherwise, so Node
and RBAC decide as before.";

/// The authorization webhook.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Write the API server's authorization config, the webhook kubeconfig and certificates.
    #[command(after_help = SETUP_HELP)]
    Setup(Box<WebhookSetupArgs>),
    /// Serve SubjectAccessReviews: deny revoked certificates, no opinion on the rest.
    Serve(Box<WebhookServeArgs>),
    /// Whether the API server's authorization config names the webhook.
    Status(WebhookStatusArgs),
}

/// What the API server does when the webhook cannot answer (for the requests it is asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailurePolicy {
    /// Fail closed: a tenant certificate is denied while the webhook is down.
    Deny,
    /// Fail open: RBAC decides alone while the webhook is down (a revoked certificate works).
    NoOpinion,
}

/// Flags of `webhook setup`.
#[derive(Debug, Args)]
pub struct WebhookSetupArgs {
    /// The cluster PKI (ca.crt and ca.key sign the webhook's certificates).
    #[arg(long, default_value = "/etc/kubernetes/pki", value_name = "DIR")]
    pub cert_dir: PathBuf,

    /// Where the webhook listens, as the API server reaches it (HOST:PORT).
    #[arg(long, value_name = "HOST:PORT")]
    pub address: String,

    /// Where the files go.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,

    /// The path of webhook.kubeconfig as the API server sees it (default: OUT-DIR's).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig_path: Option<PathBuf>,

    /// The path of authorization-config.yaml as the API server sees it, for the flag shown.
    #[arg(long, value_name = "PATH")]
    pub authorization_config_path: Option<PathBuf>,

    /// What the API server does for tenant requests when the webhook cannot answer.
    #[arg(long, value_enum, default_value_t = FailurePolicy::Deny)]
    pub failure_policy: FailurePolicy,

    /// For API servers v1.30-v1.31 (no X.509 credential id): send every non-system request;
    /// only whole revoked tenants (by user name) can be denied.
    #[arg(long)]
    pub without_credential_id: bool,

    /// Validity of the webhook's certificates.
    #[arg(allow_hyphen_values = true, long, default_value = "8760h", value_parser = parse_duration, value_name = "DURATION")]
    pub validity: Duration,

    /// Replace files a previous setup wrote.
    #[arg(long)]
    pub force: bool,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// Flags of `webhook serve`.
#[derive(Debug, Args)]
pub struct WebhookServeArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub cluster: ClusterArgs,

    /// The directory `webhook setup` wrote (serving certificate, CA, webhook.kubeconfig).
    #[arg(long, value_name = "DIR")]
    pub config_dir: PathBuf,

    /// Listen here instead of the address in webhook.kubeconfig (e.g. 0.0.0.0:9443).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
}

/// Flags of `webhook status`.
#[derive(Debug, Args)]
pub struct WebhookStatusArgs {
    /// The kube-apiserver static pod manifest (its --authorization-config flag is followed).
    #[arg(
        long,
        default_value = "/etc/kubernetes/manifests/kube-apiserver.yaml",
        value_name = "FILE",
        conflicts_with = "authorization_config"
    )]
    pub manifest: PathBuf,

    /// The authorization config file itself.
    #[arg(long, value_name = "FILE")]
    pub authorization_config: Option<PathBuf>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}
