//! Flags of the tenant commands: `create`, `list`, `show`, `renew`, `revoke`.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};
use kubeconfig::ServerUrl;
use pki_core::KeyAlgorithm;

use super::{ClusterArgs, Format};
use crate::{cluster::RoleKind, time::parse_duration};

pub(super) const CREATE_HELP: &str = "\
Examples:
  tenantctl create alice --role view
  tenantctl create alice --role edit -n team-a --create-namespace --group dev --ttl 7d
  tenantctl create alice --role view -o json | jq .credentials   # the record, for scripts
  tenantctl create ci-bot --auth token --role edit -n ci
  tenantctl create alice --role view --signer csr --approve      # no CA key at hand
  tenantctl create alice --role view --offline --cert-dir ./cluster/pki
  tenantctl create alice --role view --kubeconfig-out ~/alice.kubeconfig

Cluster access: --kubeconfig, KUBECONFIG, ~/.kube/config, /etc/kubernetes/admin.conf, then the
in-cluster service account; --context picks a context. Progress and warnings go to stderr;
stdout carries only the result.

Exit codes:
  0  success
  1  runtime failure (cluster call, I/O, crypto); whatever was created was rolled back
  2  invalid flags or values, or refused by a guardrail
  3  an output file exists, or another run owns or changed the tenant's record (nothing was
     changed or handed out)";

/// How the tenant authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// An X.509 client certificate (CN = user, O = groups).
    Cert,
    /// A bound ServiceAccount token from the TokenRequest API.
    Token,
}

impl std::fmt::Display for AuthKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cert => "cert",
            Self::Token => "token",
        })
    }
}

/// How `--signer csr` uses the CSR API (`create` and `renew`).
#[derive(Debug, Args, Clone, Copy)]
pub struct CsrApiArgs {
    /// With --signer csr: approve the request (needs approve permission on the signer).
    #[arg(long)]
    pub approve: bool,

    /// With --signer csr: how long to wait for the certificate.
    #[arg(allow_hyphen_values = true, long, default_value = "2m", value_parser = parse_duration, value_name = "DURATION")]
    pub csr_timeout: Duration,
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
    #[arg(allow_hyphen_values = true, long, default_value = "30d", value_parser = parse_duration, value_name = "DURATION")]
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

    #[command(flatten)]
    #[allow(missing_docs)]
    pub csr_api: CsrApiArgs,

    /// Client certificate or ServiceAccount token.
    #[arg(long, value_enum, default_value = "cert")]
    pub auth: AuthKind,

    /// Where to write the kubeconfig (default ./USER.kubeconfig).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig_out: Option<PathBuf>,

    /// Output format: the tenant's record (user, groups, bindings, credential serial, SHA-256
    /// and expiry; never a key or token).
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

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

    /// How long to wait for the API server's authorizer to allow the new bindings before the
    /// tenant fails as "not effective yet" (RBAC sees a new binding with a lag).
    #[arg(allow_hyphen_values = true, long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub verify_timeout: Duration,

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

pub(super) const APPLY_HELP: &str = "\
Examples:
  tenantctl apply -f tenants.yaml --out-dir ./kubeconfigs
  tenantctl apply -f tenants/ --prune --dry-run          # what would change, and what --prune revokes
  tenantctl apply -f tenants.yaml --renew-within 7d -o json | jq .summary
  generate-tenants | tenantctl apply -f -

A tenants file holds YAML documents (apiVersion: tenantctl.io/v1, kind: Tenant or TenantList):
  apiVersion: tenantctl.io/v1
  kind: Tenant
  metadata:
    name: alice
  spec:
    user: alice               # default: metadata.name
    auth: cert                # cert | token
    groups: [dev]             # in the certificate: changing them needs --recreate
    roles: [view, Role/deployer]
    namespace: team-a
    createNamespace: true
    ttl: 7d
    keyAlgorithm: ECDSA-P256
    signer: local             # local | csr

Each tenant: absent -> created (OUT-DIR/USER.kubeconfig, 0600); as the file says -> unchanged
(no new credential, its kubeconfig untouched); roles or namespace changed -> bindings reconciled,
credential kept; groups or auth changed -> refused (or revoked and re-created with --recreate);
credential ending within --renew-within -> renewed. --prune revokes Active tenants the file does
not name. One tenant's failure does not stop the others.

Exit codes:
  0  every tenant is as the file says
  1  some tenant failed or was refused (the summary says which and why)
  2  the file is invalid (nothing was changed) or a flag is";

/// Flags of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A tenants file, a directory of them (*.yaml, *.yml, *.json), or - for standard input
    /// (repeatable).
    #[arg(
        short = 'f',
        long = "filename",
        required = true,
        value_name = "FILE|DIR|-"
    )]
    pub files: Vec<PathBuf>,

    /// The set these tenants belong to: every tenant apply creates or updates is labelled with
    /// it (record and objects), and --prune works within it.
    #[arg(long = "set", value_name = "NAME")]
    pub set: Option<TenantSet>,

    /// Revoke the Active tenants of --set that the input no longer names (needs --set; tenants
    /// from create or another set are never pruned).
    #[arg(long, requires = "set")]
    pub prune: bool,

    /// Replace an existing OUT-DIR/USER.kubeconfig that tenantctl did not write for that tenant
    /// (by default that tenant is refused and the others go on).
    #[arg(long)]
    pub overwrite: bool,

    /// Print the plan per tenant; read the cluster, change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Where the kubeconfigs of created and renewed tenants go (USER.kubeconfig, 0600).
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out_dir: PathBuf,

    /// How many tenants are worked on at once (cluster requests in flight).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256), value_name = "N")]
    pub concurrency: u16,

    /// Renew credentials that expire within DURATION (or have expired).
    #[arg(allow_hyphen_values = true, long, value_parser = parse_duration, value_name = "DURATION")]
    pub renew_within: Option<Duration>,

    /// Revoke and re-create tenants whose auth or groups changed (new credentials; the old
    /// certificates still authenticate until they expire).
    #[arg(long)]
    pub recreate: bool,

    /// Allow system: user names and groups, and cluster-wide bindings of privileged roles.
    #[arg(long)]
    pub allow_privileged: bool,

    /// How long to wait for the API server's authorizer to allow the new bindings before the
    /// tenant fails as "not effective yet" (RBAC sees a new binding with a lag).
    #[arg(allow_hyphen_values = true, long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub verify_timeout: Duration,

    /// The cluster PKI directory (ca.crt, ca.key) for tenants with signer local.
    #[arg(long, default_value = "/etc/kubernetes/pki", value_name = "DIR")]
    pub cert_dir: PathBuf,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub csr_api: CsrApiArgs,

    /// The API server URL for the tenants' kubeconfigs; default: the admin kubeconfig's.
    #[arg(long, value_name = "URL")]
    pub server: Option<ServerUrl>,

    /// Output format: the summary and one entry per tenant.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub cluster: ClusterArgs,
}

/// Flags of `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

    /// Only tenants whose current credential expires within DURATION (or has expired).
    #[arg(allow_hyphen_values = true, long, value_parser = parse_duration, value_name = "DURATION")]
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
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub user: Option<String>,

    /// Every Active tenant recorded in the cluster (during a rotation of the cluster CA: from
    /// the CA that will remain, kubeconfigs trusting both), each kubeconfig into --out-dir.
    #[arg(long)]
    pub all: bool,

    /// With --all: only tenants whose current credential ends within DURATION (and, during a
    /// CA rotation, those still on the old CA).
    #[arg(allow_hyphen_values = true, long, requires = "all", value_parser = parse_duration, value_name = "DURATION")]
    pub expiring: Option<Duration>,

    /// With --all: where to write USER.kubeconfig (created 0700 when missing) [default: .].
    #[arg(long, requires = "all", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Lifetime of the new certificate or token.
    #[arg(allow_hyphen_values = true, long, default_value = "30d", value_parser = parse_duration, value_name = "DURATION")]
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

    #[command(flatten)]
    #[allow(missing_docs)]
    pub csr_api: CsrApiArgs,

    /// Where to write the kubeconfig (default ./USER.kubeconfig; replaced atomically).
    #[arg(long, value_name = "FILE", conflicts_with = "all")]
    pub kubeconfig_out: Option<PathBuf>,

    /// Output format: the updated record.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

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

    /// Revoke only this certificate (its serial, as `show` lists it), e.g. a leaked kubeconfig;
    /// the tenant and its other credentials stay active. Enforced by the revocation webhook.
    #[arg(long, value_name = "SERIAL")]
    pub credential: Option<String>,

    /// Output format: the revoked record, the certificates that still authenticate and the
    /// bindings that still grant.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,

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

/// The name of a set of tenants (`apply --set`): a Kubernetes label value, non-empty (at most
/// 63 characters of `[A-Za-z0-9._-]`, beginning and ending with a letter or digit), since it is
/// stored as the label `tenantctl.io/set` on the record and on every object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantSet(String);

impl TenantSet {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for TenantSet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        if s.is_empty()
            || s.len() > 63
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || !alnum(s.chars().next())
            || !alnum(s.chars().last())
        {
            return Err(format!(
                "{s:?} is not a set name: 1-63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit (it becomes a label value)"
            ));
        }
        Ok(Self(s.to_owned()))
    }
}
