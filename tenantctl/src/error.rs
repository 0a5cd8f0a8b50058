//! The CLI's error type and its exit codes.

use std::{io, path::PathBuf};

/// Documented exit codes (also in `--help` and the README).
pub struct ExitCodes;

impl ExitCodes {
    /// Success.
    pub const OK: u8 = 0;
    /// A runtime failure: I/O, crypto, an unwritable directory.
    pub const FAILURE: u8 = 1;
    /// Invalid flags or values (clap uses 2 for usage errors too).
    pub const USAGE: u8 = 2;
    /// Existing files are inconsistent with each other or with the flags; nothing was changed.
    pub const INCONSISTENT: u8 = 3;
    /// Another tenantctl holds the lock on the directory.
    pub const LOCKED: u8 = 4;
}

/// Everything `tenantctl` reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An invalid flag value.
    #[error("invalid {flag}: {message}")]
    Usage {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file or directory could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Another run holds the lock.
    #[error("{} is locked by another tenantctl run{}", path.display(), holder.as_ref().map(|h| format!(": {h}")).unwrap_or_default())]
    Locked {
        /// The locked directory.
        path: PathBuf,
        /// Who holds it, as the holder wrote it (pid, command, since when).
        holder: Option<String>,
    },
    /// Existing files failed the checks; nothing was written.
    #[error("existing files in {} cannot be used (nothing was changed):\n  {}", dir.display(), problems.join("\n  "))]
    Inconsistent {
        /// The directory.
        dir: PathBuf,
        /// One line per problem, naming the file.
        problems: Vec<String>,
    },
    /// The node or the cluster is in a state that does not allow this now; nothing was
    /// changed, and `next` is the way out (the hint).
    #[error("{what}")]
    Blocked {
        /// What cannot be done, and why.
        what: String,
        /// The commands that make it possible.
        next: String,
    },
    /// A guardrail refused the request (override with `--allow-privileged`).
    #[error("refusing {what}: {why}")]
    Refused {
        /// What was refused.
        what: String,
        /// Why.
        why: &'static str,
    },
    /// No cluster configuration could be found.
    #[error("no cluster configuration: {message}")]
    NoCluster {
        /// What was tried.
        message: String,
    },
    /// The cluster configuration could not be loaded.
    #[error("cannot load the cluster configuration from {source_name}")]
    ClusterConfig {
        /// Where it came from.
        source_name: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The API server refused a call.
    #[error("{what} failed: {} {} ({})", status.code, status.reason, status.message)]
    Api {
        /// The call, e.g. `get clusterrole/view`.
        what: String,
        /// The API server's answer.
        status: Box<kube::core::Status>,
    },
    /// A Kubernetes API call failed before the API server answered (connection, TLS, decoding).
    #[error("{what} failed")]
    Transport {
        /// The call.
        what: String,
        /// kube's error.
        #[source]
        source: kube::Error,
    },
    /// A Kubernetes API call did not answer in time (after retries).
    #[error("{what}: no answer within {}, {attempts} attempts", crate::time::humanize(*timeout))]
    ApiTimeout {
        /// The call.
        what: String,
        /// How many attempts were made.
        attempts: u32,
        /// The time each attempt had (`--request-timeout`).
        timeout: std::time::Duration,
    },
    /// The command's `--timeout` passed.
    #[error("{what}: gave up, --timeout reached")]
    Deadline {
        /// The call under way.
        what: String,
    },
    /// The controller could not listen on an address.
    #[error("listen on {addr}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Leader election failed or leadership was lost.
    #[error("leader election: {message}")]
    Leader {
        /// What happened.
        message: String,
    },
    /// The API server's authorization config does not name the webhook first.
    #[error("the revocation webhook is not configured in the API server")]
    WebhookNotConfigured,
    /// TLS material is unusable.
    #[error("TLS: {message}")]
    Tls {
        /// What and why.
        message: String,
    },
    /// The Tenant CRD is not installed.
    #[error("the cluster has no tenants.tenantctl.io CustomResourceDefinition")]
    NoCrd,
    /// A role to bind does not exist.
    #[error("{kind} {name:?} not found{}{}", namespace.as_ref().map(|n| format!(" in namespace {n}")).unwrap_or_default(), if close.is_empty() { String::new() } else { format!("; close names: {}", close.join(", ")) })]
    UnknownRole {
        /// ClusterRole or Role.
        kind: String,
        /// The name asked for.
        name: String,
        /// The namespace of a Role.
        namespace: Option<String>,
        /// Existing roles with similar names.
        close: Vec<String>,
    },
    /// The CSR API did not give a usable certificate.
    #[error("certificate signing request {name}: {message}")]
    Csr {
        /// The CSR object's name.
        name: String,
        /// What happened.
        message: String,
    },
    /// The new credentials do not work as intended.
    #[error("verification with the new credentials failed: {message}")]
    Verify {
        /// What failed.
        message: String,
    },
    /// A tenant record is missing, damaged or conflicting.
    #[error("tenant {user}: {message}")]
    Record {
        /// The tenant.
        user: String,
        /// What is wrong.
        message: String,
    },
    /// Another run owns or changed the tenant's record (a 409 from the API server).
    #[error("tenant {user}: {message}")]
    Claimed {
        /// The tenant.
        user: String,
        /// What happened.
        message: String,
    },
    /// Token discovery of the cluster failed (`join`).
    #[error("discovery: {message}")]
    Discovery {
        /// What failed.
        message: String,
    },
    /// A manifest could not be serialized.
    #[error("cannot serialize a manifest: {message}")]
    Manifest {
        /// The serializer's message.
        message: String,
    },
    /// A file that would be overwritten exists.
    /// A tenants file with problems; nothing was changed.
    #[error("the tenants file has {} problem(s); nothing was changed:\n  {}", problems.len(), problems.join("\n  "))]
    TenantFile {
        /// `FILE:LINE: Tenant NAME: FIELD: why`, one per problem.
        problems: Vec<String>,
    },
    /// `apply` finished with tenants that are not as the file says.
    #[error("{failed} of {total} tenant(s) failed or were refused (see the summary)")]
    ApplyFailed {
        /// How many failed.
        failed: usize,
        /// How many were planned.
        total: usize,
    },
    #[error("{} already exists", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A failure after changes were made; those changes were undone.
    #[error("{cause}\n  rolled back: {}{}", if undone.is_empty() { "nothing to undo".to_owned() } else { undone.join(", ") }, if failed.is_empty() { String::new() } else { format!("\n  could NOT undo (remove by hand): {}", failed.join(", ")) })]
    RolledBack {
        /// The original failure.
        cause: Box<Self>,
        /// What was undone.
        undone: Vec<String>,
        /// What could not be undone.
        failed: Vec<String>,
    },
    /// A CA rotation step is not possible from where the rotation stands (exit 2).
    #[error("rotation of the {ca} CA: {message}")]
    RotationPhase {
        /// Which CA.
        ca: String,
        /// What is wrong, and the step to run instead.
        message: String,
    },
    /// A CA rotation step would cut off clients that still depend on the old CA (exit 3).
    #[error("rotation of the {ca} CA: {step} refused: {reason}:\n  {}", blockers.join("\n  "))]
    RotationBlocked {
        /// Which CA.
        ca: String,
        /// The step refused.
        step: &'static str,
        /// Why these block it.
        reason: String,
        /// One line per blocker.
        blockers: Vec<String>,
    },
    /// `pki check` found something: exit 1 (expiring soon) or 2 (missing or failing).
    #[error("{message}")]
    Check {
        /// The exit code.
        code: u8,
        /// One line.
        message: String,
    },
    /// A PKI error.
    #[error(transparent)]
    Pki(#[from] pki_core::Error),
    /// A kubeconfig error.
    #[error(transparent)]
    Kubeconfig(#[from] kubeconfig::Error),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage { .. }
            | Self::Refused { .. }
            | Self::TenantFile { .. }
            | Self::RotationPhase { .. } => ExitCodes::USAGE,
            Self::Exists { .. }
            | Self::Claimed { .. }
            | Self::RotationBlocked { .. }
            | Self::Blocked { .. } => ExitCodes::INCONSISTENT,
            Self::RolledBack { cause, .. } => cause.exit_code(),
            Self::Check { code, .. } => *code,
            Self::Pki(e) if is_input_error(e) => ExitCodes::USAGE,
            Self::Inconsistent { .. } => ExitCodes::INCONSISTENT,
            Self::Locked { .. } => ExitCodes::LOCKED,
            _ => ExitCodes::FAILURE,
        }
    }

    /// stdout was closed by its reader (`tenantctl … | head`): nothing to report.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Write { path, source }
            if source.kind() == io::ErrorKind::BrokenPipe && path.as_os_str() == "<stdout>")
    }

    /// A one-line suggestion, when there is an obvious next step.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Write { source, .. } | Self::Read { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => {
                Some("run as a user who may write there (root for /etc/kubernetes), or choose another --cert-dir / --kubeconfig-dir".into())
            }
            Self::Blocked { next, .. } => Some(next.clone()),
            Self::Locked { .. } => Some("wait for the other run to finish (the lock is released when it exits), or pass --lock-timeout DURATION to wait for it".into()),
            Self::Inconsistent { .. } => Some("fix or remove the files named above, or pass the flags the existing PKI was made with".into()),
            Self::Refused { .. } => Some("pass --allow-privileged if this is really intended; prefer binding RBAC roles to the user name".into()),
            Self::NoCluster { .. } => Some("pass --kubeconfig FILE (or set KUBECONFIG), or use --offline to write files only".into()),
            Self::Exists { .. } => Some("remove it, choose another --kubeconfig-out, or pass --force to replace it".into()),
            Self::ApiTimeout { .. } => Some("is the API server up and reachable? --request-timeout sets how long each attempt may take".into()),
            Self::Api { status, .. } if status.code == 401 => Some("the cluster credentials were rejected; check --kubeconfig / --context".into()),
            Self::Api { status, .. } if status.code == 403 => Some("the cluster credentials lack this permission; use an admin kubeconfig (e.g. /etc/kubernetes/admin.conf)".into()),
            Self::RolledBack { cause, .. } => cause.hint(),
            Self::WebhookNotConfigured => Some("tenantctl webhook setup writes the configuration; pass it to kube-apiserver with --authorization-config".into()),
            Self::NoCrd => Some("install it: tenantctl controller manifests --crd-only | kubectl apply --server-side -f -".into()),
            // Each hint names commands that move the blockers, never the refused step itself.
            Self::RotationBlocked { step, .. } if *step == "reissue" => Some("give them the new CA first: `tenantctl renew --all` for tenants; a control-plane kubeconfig removed and made again by `tenantctl pki init` trusts both CAs; any other kubeconfig needs ca.crt's bundle in its certificate-authority-data; or pass --force to reissue anyway".into()),
            Self::RotationBlocked { step, .. } => Some(format!("move them to the new CA first: `tenantctl renew --all` for tenants, `tenantctl pki renew all` for leaves and control-plane kubeconfigs; or pass --force to {step} anyway")),
            _ => None,
        }
    }
}

impl Error {
    /// Wraps a kube error with the call that failed.
    pub(crate) fn kube(what: impl Into<String>, source: kube::Error) -> Self {
        match source {
            kube::Error::Api(status) => Self::Api {
                what: what.into(),
                status,
            },
            source => Self::Transport {
                what: what.into(),
                source,
            },
        }
    }
}

fn is_input_error(e: &pki_core::Error) -> bool {
    matches!(
        e,
        pki_core::Error::UnknownAlgorithm { .. }
            | pki_core::Error::InvalidSan { .. }
            | pki_core::Error::InvalidName { .. }
            | pki_core::Error::InvalidCidr { .. }
            | pki_core::Error::InvalidEndpoint { .. }
            | pki_core::Error::InvalidValidity { .. }
    )
}

/// An error with its causes, on one line (`what: cause: cause`), for reports and status.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s.replace('\n', "; ")
}
