//! `tenantctl controller run|manifests`.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Subcommand};
use kubeconfig::ServerUrl;

use super::{ClusterArgs, CsrApiArgs};
use crate::{cluster::RECORD_NAMESPACE, time::parse_duration};

pub(super) const RUN_HELP: &str = "\
Examples:
  tenantctl controller run --kubeconfig /etc/kubernetes/admin.conf --cert-dir /etc/kubernetes/pki
  tenantctl controller run --leader-elect --ca-secret tenantctl-ca     # in a pod (see `manifests`)

A Tenant object (tenants.tenantctl.io/v1) is made as `tenantctl apply` would make it: credential
recorded in the ledger, bindings applied and checked, kubeconfig in the Secret named by
spec.kubeconfigSecret (default NAMESPACE/tenant-NAME-kubeconfig, key `kubeconfig`). It is renewed
spec.renewBefore ahead of its end, its bindings are put back when deleted, and at spec.expiresAt
access ends. Deleting the Tenant revokes it first (finalizer tenantctl.io/revoke).";

/// The controller.
#[derive(Debug, Subcommand)]
pub enum ControllerCommand {
    /// Reconcile Tenant objects continuously (leader-elected).
    #[command(after_help = RUN_HELP)]
    Run(Box<ControllerRunArgs>),
    /// Print the CRD, RBAC and Deployment to run the controller in the cluster.
    Manifests(ManifestsArgs),
}

/// Flags of `controller run`.
#[derive(Debug, Args)]
pub struct ControllerRunArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub cluster: ClusterArgs,

    /// The controller's namespace: its Lease and the default place of kubeconfig Secrets.
    #[arg(long, env = "POD_NAMESPACE", default_value = RECORD_NAMESPACE, value_name = "NS")]
    pub namespace: String,

    /// The cluster PKI whose CA (ca.crt, ca.key) signs tenants' certificates (signer: local).
    #[arg(long, value_name = "DIR", conflicts_with = "ca_secret")]
    pub cert_dir: Option<PathBuf>,

    /// A Secret in --namespace holding that CA (tls.crt and tls.key), instead of --cert-dir.
    #[arg(long, value_name = "NAME")]
    pub ca_secret: Option<String>,

    /// The API server URL written into tenants' kubeconfigs; default: the one the controller
    /// reaches (in a pod, set it: the in-cluster address is not the tenants').
    #[arg(long, value_name = "URL")]
    pub server: Option<ServerUrl>,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub csr_api: CsrApiArgs,

    /// Run only while holding the Lease --leader-elect-lease-name in --namespace (one
    /// reconciler at a time among replicas).
    #[arg(long)]
    pub leader_elect: bool,

    /// The Lease's name.
    #[arg(long, default_value = "tenantctl-controller", value_name = "NAME")]
    pub leader_elect_lease_name: String,

    /// How long a leader's claim lasts without renewal: a dead leader is replaced within it.
    #[arg(allow_hyphen_values = true, long, default_value = "15s", value_parser = parse_duration, value_name = "DURATION")]
    pub leader_elect_lease_duration: Duration,

    /// Where /metrics is served (Prometheus text); `0` turns it off.
    #[arg(long, default_value = "0.0.0.0:8080", value_name = "HOST:PORT")]
    pub metrics_bind_address: String,

    /// Where /healthz and /readyz are served; `0` turns them off.
    #[arg(long, default_value = "0.0.0.0:8081", value_name = "HOST:PORT")]
    pub health_probe_bind_address: String,

    /// Tenants reconciled at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// Also serve the revocation webhook (`webhook setup`'s directory), on every replica,
    /// leader or not: one implementation with `tenantctl webhook serve`.
    #[arg(long, value_name = "DIR")]
    pub webhook_config_dir: Option<PathBuf>,

    /// Where the webhook listens (default: the address in DIR/webhook.kubeconfig).
    #[arg(long, value_name = "HOST:PORT", requires = "webhook_config_dir")]
    pub webhook_listen: Option<String>,

    /// How long to wait for the API server's authorizer to allow a new binding.
    #[arg(allow_hyphen_values = true, long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub verify_timeout: Duration,
}

/// Flags of `controller manifests`.
#[derive(Debug, Args)]
pub struct ManifestsArgs {
    /// The controller's image.
    #[arg(
        long,
        default_value = "ghcr.io/tenantctl/tenantctl:latest",
        value_name = "IMAGE"
    )]
    pub image: String,

    /// The namespace it runs in (also where tenant records and kubeconfig Secrets go).
    #[arg(long, default_value = RECORD_NAMESPACE, value_name = "NS")]
    pub namespace: String,

    /// The API server URL written into tenants' kubeconfigs (passed as --server).
    #[arg(long, value_name = "URL")]
    pub server: Option<ServerUrl>,

    /// The Secret in --namespace holding the signing CA (tls.crt, tls.key).
    #[arg(long, default_value = "tenantctl-ca", value_name = "NAME")]
    pub ca_secret: String,

    /// Only the CustomResourceDefinition.
    #[arg(long)]
    pub crd_only: bool,
}
