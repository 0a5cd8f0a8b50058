//! The `Tenant` document (`tenantctl.io/v1`): one Rust type for the `spec` of a Tenant in an
//! `apply -f` file and of a `tenants.tenantctl.io` object in the cluster, with one validation
//! ([`TenantDocSpec::check`], on top of [`TenantSpec::check`]). The CRD's OpenAPI schema is
//! generated from these types (kube's `CustomResource` derive), with the checks that need no
//! cluster written into it as patterns, enums and CEL rules, so `kubectl apply` refuses a bad
//! object before the controller sees it. No I/O here.

// KubeSchema's derive copies each struct into a private scope for schemars, where `pub` is
// unreachable; the types themselves are exported from `tenant`.
#![allow(unreachable_pub)]
// Each printcolumn names its type; clippy reads the repeated key as a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use std::time::{Duration, SystemTime};

use kube::{CustomResource, KubeSchema};
use pki_core::KeyAlgorithm;
use serde::{Deserialize, Serialize};

use super::{
    AuthKind, RoleKind, RoleRef,
    spec::{TenantInput, TenantSpec, field_of},
};
use crate::{
    cli::SignerKind,
    error::Error,
    time::{parse_duration, parse_rfc3339},
};

/// A credential's lifetime when the document gives none (`create --ttl`'s default).
pub const DEFAULT_TTL: Duration = Duration::from_secs(30 * 86_400);

/// What `parse_duration` accepts: Go-style units plus days and weeks, no sign, no spaces.
const DURATION_PATTERN: &str = "^([0-9]+(s|m|h|d|w))+$";

/// A one-unit duration (`90m`, `7d`) — the form the CEL rule below can weigh within the API
/// server's cost budget (a rule summing every part of `1h30m` is estimated far over it).
const ONE_UNIT_CEL: &str = "^[0-9]{1,9}[smhdw]$";

/// A one-unit duration string `D` as seconds, in CEL.
const SECONDS_CEL: &str = "int(D.substring(0, D.size() - 1)) * (D.endsWith('w') ? 604800 : D.endsWith('d') ? 86400 : D.endsWith('h') ? 3600 : D.endsWith('m') ? 60 : 1)";

/// `renewBefore < ttl` (ttl defaulting to 30d), as a CEL rule on the spec, for one-unit
/// durations; other forms pass the schema and are checked by the controller
/// ([`TenantDocSpec::schedule`]), which refuses the Tenant the same way.
fn renew_before_rule() -> String {
    let secs = |field: &str| SECONDS_CEL.replace('D', field);
    let ttl = format!(
        "(has(self.ttl) ? self.ttl : '{}d')",
        DEFAULT_TTL.as_secs() / 86_400
    );
    format!(
        "!has(self.renewBefore) || !self.renewBefore.matches('{ONE_UNIT_CEL}') || !{ttl}.matches('{ONE_UNIT_CEL}') || {} < {}",
        secs("self.renewBefore"),
        secs(&ttl)
    )
}

/// The spec of a Tenant: who it is, what it may do, how its credentials are issued; and, for
/// the controller, when they are renewed, when access ends and where the kubeconfig goes.
#[derive(
    CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize,
)]
#[kube(
    group = "tenantctl.io",
    version = "v1",
    kind = "Tenant",
    root = "TenantObject",
    status = "TenantStatus",
    shortname = "tn",
    category = "tenantctl",
    derive = "PartialEq",
    printcolumn(name = "User", type_ = "string", json_path = ".status.user"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Expires",
        type_ = "date",
        json_path = ".status.credential.notAfter"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(renew_before_rule()).message("renewBefore must be shorter than ttl").field_path(".renewBefore"))]
#[serde(rename_all = "camelCase")]
pub struct TenantDocSpec {
    /// The user name (certificate CN; the ServiceAccount of a token tenant). Default:
    /// `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("!self.startsWith('system:')").message("system: users are Kubernetes' own"))]
    pub user: Option<String>,
    /// `cert` (a client certificate) or `token` (a ServiceAccount token). Default: `cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["cert", "token"]))]
    pub auth: Option<String>,
    /// Groups: the certificate's O. `system:` groups are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub groups: Option<Vec<String>>,
    /// Roles to bind: `NAME` (a ClusterRole), `ClusterRole/NAME` or `Role/NAME`.
    #[schemars(length(max = 64))]
    #[schemars(inner(regex(
        pattern = "^((ClusterRole|Role)/)?[a-z0-9:]([-a-z0-9.:]*[a-z0-9])?$"
    )))]
    pub roles: Vec<String>,
    /// The namespace of the bindings; none binds cluster-wide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub namespace: Option<String>,
    /// Create the namespace when it does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_namespace: Option<bool>,
    /// Bind the groups too, not only the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_group: Option<bool>,
    /// Credential lifetime (`8760h`, `30d`, `1h30m`). Default: 30d.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN), length(max = 32))]
    pub ttl: Option<String>,
    /// Key algorithm of a certificate: `ECDSA-P256` (default), `ECDSA-P384`, `RSA-2048`,
    /// `RSA-3072`, `RSA-4096`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = "^(?i)(rsa[-_]?(2048|3072|4096)?|(ecdsa[-_]?)?p[-_]?(256|384)|ecdsa)$"
    ))]
    pub key_algorithm: Option<String>,
    /// Who signs: `local` (the cluster CA's key) or `csr` (the CSR API). Default: `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["local", "csr"]))]
    pub signer: Option<String>,
    /// Controller: renew when this much lifetime is left. Default: a third of `ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN), length(max = 32))]
    pub renew_before: Option<String>,
    /// Controller: access ends at this time (RFC 3339): bindings and Secret removed, record
    /// revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub expires_at: Option<String>,
    /// Controller: the Secret that receives the kubeconfig (key `kubeconfig`). Default: the
    /// controller's namespace, `tenant-NAME-kubeconfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_secret: Option<SecretRef>,
}

/// A Secret by namespace and name.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Default: the controller's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 63))]
    pub namespace: Option<String>,
    /// Default: `tenant-NAME-kubeconfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
        length(min = 1, max = 253)
    )]
    pub name: Option<String>,
}

/// What the controller observed and did, never key material.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    /// `Ready`: `True` (reason `Issued`), or `False` with reason `Refused`, `Expired`,
    /// `Failed` or `Revoked`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The user name the tenant authenticates as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The credential handed out now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialStatus>,
    /// Where its kubeconfig is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig_secret_ref: Option<SecretRef>,
    /// When the credential will be renewed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_renewal: Option<String>,
}

/// A condition, as Kubernetes writes them (`metav1.Condition`).
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// One CamelCase word.
    pub reason: String,
    /// For people.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed (RFC 3339).
    pub last_transition_time: String,
    /// The generation this condition was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The current credential, as the ledger records it.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialStatus {
    /// `cert` or `token`.
    pub kind: String,
    /// Certificate serial (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// SHA-256 of the certificate's DER (hex, colon-separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// The signing CA's key identifier (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_key_id: Option<String>,
}

/// Options that apply to every document.
#[derive(Clone, Copy, Debug, Default)]
pub struct ParseOptions {
    /// `--allow-privileged`: the guardrails of `create --allow-privileged`.
    pub allow_privileged: bool,
}

/// One problem with a document's spec: the field (`spec.roles[1]`) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field path.
    pub field: String,
    /// Why.
    pub message: String,
}

/// When the controller renews and when access ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Renew when this much lifetime is left.
    pub renew_before: Duration,
    /// Access ends.
    pub expires_at: Option<SystemTime>,
}

impl TenantDocSpec {
    /// Checks the spec of the Tenant named `name` with every guardrail that needs no cluster.
    /// Every problem is reported, each naming its field.
    pub fn check(
        &self,
        name: &str,
        options: ParseOptions,
    ) -> Result<TenantSpec, Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let mut at = |field: &str, message: String| {
            problems.push(FieldProblem {
                field: field.to_owned(),
                message,
            });
        };
        let auth = match self.auth.as_deref() {
            None | Some("cert") => AuthKind::Cert,
            Some("token") => AuthKind::Token,
            Some(other) => {
                at("spec.auth", format!("{other:?} is not cert or token"));
                AuthKind::Cert
            }
        };
        let signer = match self.signer.as_deref() {
            None | Some("local") => SignerKind::Local,
            Some("csr") => SignerKind::Csr,
            Some(other) => {
                at("spec.signer", format!("{other:?} is not local or csr"));
                SignerKind::Local
            }
        };
        let ttl = match &self.ttl {
            None => DEFAULT_TTL,
            Some(t) => parse_duration(t).unwrap_or_else(|e| {
                at("spec.ttl", e);
                DEFAULT_TTL
            }),
        };
        let key_algorithm = match &self.key_algorithm {
            None => KeyAlgorithm::EcdsaP256,
            Some(k) => k.parse::<KeyAlgorithm>().unwrap_or_else(|e| {
                at("spec.keyAlgorithm", e.to_string());
                KeyAlgorithm::EcdsaP256
            }),
        };
        // Each role and group on its own first, so a bad one is pointed at by its index.
        for (i, r) in self.roles.iter().enumerate() {
            if let Err(e) = RoleRef::parse(r, RoleKind::ClusterRole) {
                at(&format!("spec.roles[{i}]"), reason(&e));
            }
        }
        let groups = self.groups.clone().unwrap_or_default();
        for (i, g) in groups.iter().enumerate() {
            if let Err(e) = super::Tenant::new(
                "probe",
                std::slice::from_ref(g),
                AuthKind::Cert,
                options.allow_privileged,
            ) {
                at(&format!("spec.groups[{i}]"), reason(&e));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let input = TenantInput {
            user: self.user.as_deref().unwrap_or(name),
            groups: &groups,
            auth,
            roles: &self.roles,
            role_kind: RoleKind::ClusterRole,
            namespace: self.namespace.clone(),
            create_namespace: self.create_namespace.unwrap_or(false),
            bind_group: self.bind_group.unwrap_or(false),
            ttl,
            key_algorithm,
            signer,
            allow_privileged: options.allow_privileged,
        };
        TenantSpec::check(&input).map_err(|e| {
            vec![FieldProblem {
                field: field_of(&e).to_owned(),
                message: reason(&e),
            }]
        })
    }

    /// The controller's fields that are set (`apply -f` refuses them: it does not run
    /// continuously, so it cannot keep a promise of renewal or expiry).
    pub fn controller_fields(&self) -> Vec<&'static str> {
        [
            ("spec.renewBefore", self.renew_before.is_some()),
            ("spec.expiresAt", self.expires_at.is_some()),
            ("spec.kubeconfigSecret", self.kubeconfig_secret.is_some()),
        ]
        .into_iter()
        .filter_map(|(f, set)| set.then_some(f))
        .collect()
    }

    /// `renewBefore` (default a third of the lifetime; shorter than it) and `expiresAt`.
    pub fn schedule(&self, spec: &TenantSpec) -> Result<Schedule, Vec<FieldProblem>> {
        let problem = |field: &str, message: String| {
            vec![FieldProblem {
                field: field.to_owned(),
                message,
            }]
        };
        let renew_before = match &self.renew_before {
            None => spec.ttl / 3,
            Some(r) => parse_duration(r).map_err(|e| problem("spec.renewBefore", e))?,
        };
        if renew_before >= spec.ttl {
            return Err(problem(
                "spec.renewBefore",
                "must be shorter than ttl".into(),
            ));
        }
        let expires_at = match &self.expires_at {
            None => None,
            Some(t) => Some(parse_rfc3339(t).ok_or_else(|| {
                problem(
                    "spec.expiresAt",
                    format!("{t:?} is not an RFC 3339 time (2026-12-31T18:00:00Z)"),
                )
            })?),
        };
        Ok(Schedule {
            renew_before,
            expires_at,
        })
    }
}

/// An error's message without create's flag spelling.
pub(super) fn reason(e: &Error) -> String {
    match e {
        Error::Usage { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt as _;

    use super::*;

    fn spec(roles: &[&str]) -> TenantDocSpec {
        TenantDocSpec {
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            ..TenantDocSpec::default()
        }
    }

    #[test]
    fn defaults_and_every_problem_by_field() {
        let ok = spec(&["view"])
            .check("alice", ParseOptions::default())
            .unwrap();
        assert_eq!(ok.tenant.user(), "alice");
        assert_eq!(ok.ttl, DEFAULT_TTL);
        let bad = TenantDocSpec {
            auth: Some("kerberos".into()),
            ttl: Some("7 weeks".into()),
            groups: Some(vec!["dev".into(), "system:masters".into()]),
            ..spec(&["view", "Foo/x"])
        };
        let fields: Vec<String> = bad
            .check("alice", ParseOptions::default())
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(
            fields,
            ["spec.auth", "spec.ttl", "spec.roles[1]", "spec.groups[1]"]
        );
    }

    #[test]
    fn schedule_defaults_to_a_third_of_ttl_and_checks_order() {
        let s = TenantDocSpec {
            ttl: Some("3h".into()),
            ..spec(&["view"])
        };
        let checked = s.check("a", ParseOptions::default()).unwrap();
        assert_eq!(
            s.schedule(&checked).unwrap().renew_before,
            Duration::from_secs(3600)
        );
        let late = TenantDocSpec {
            renew_before: Some("3h".into()),
            ..s.clone()
        };
        assert_eq!(
            late.schedule(&checked).unwrap_err()[0].field,
            "spec.renewBefore"
        );
        let bad_time = TenantDocSpec {
            expires_at: Some("tomorrow".into()),
            ..s
        };
        assert_eq!(
            bad_time.schedule(&checked).unwrap_err()[0].field,
            "spec.expiresAt"
        );
    }

    #[test]
    fn the_crd_carries_the_checks_that_need_no_cluster() {
        let crd = serde_json::to_string(&TenantObject::crd()).unwrap();
        for needle in [
            "\"scope\":\"Cluster\"",
            "\"name\":\"tenants.tenantctl.io\"",
            "renewBefore must be shorter than ttl",
            "!self.startsWith('system:')",
            DURATION_PATTERN,
            "\"format\":\"date-time\"",
            "\"enum\":[\"cert\",\"token\"]",
            "\"required\":[\"roles\"]",
            "\"status\":{}",
        ] {
            assert!(crd.contains(needle), "{needle} not in {crd}");
        }
    }
}
