//! What a tenant should be — `create`'s flags or a `Tenant` document's `spec` — checked by one
//! function, so both take the same values and refuse the same things.

use std::time::{Duration, SystemTime};

use pki_core::KeyAlgorithm;

use super::{
    AuthKind, BindingPlan, CredentialRecord, Phase, RoleKind, RoleRef, Tenant, TenantRecord,
    names::privileged,
};
use crate::{cli::SignerKind, error::Error, time::rfc3339};

/// The unchecked values, as flags or a document give them.
#[derive(Clone, Debug)]
pub struct TenantInput<'a> {
    /// The user name.
    pub user: &'a str,
    /// Groups (certificate O).
    pub groups: &'a [String],
    /// Certificate or token.
    pub auth: AuthKind,
    /// `NAME`, `ClusterRole/NAME` or `Role/NAME`.
    pub roles: &'a [String],
    /// The kind of a bare role name.
    pub role_kind: RoleKind,
    /// Where the bindings go.
    pub namespace: Option<String>,
    /// Create that namespace.
    pub create_namespace: bool,
    /// Bind the groups too.
    pub bind_group: bool,
    /// Credential lifetime.
    pub ttl: Duration,
    /// Key algorithm of a certificate tenant.
    pub key_algorithm: KeyAlgorithm,
    /// Who signs.
    pub signer: SignerKind,
    /// `--allow-privileged`.
    pub allow_privileged: bool,
}

/// A checked tenant: identity, bindings, and how its credentials are issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantSpec {
    /// Who.
    pub tenant: Tenant,
    /// Where and what to bind.
    pub bindings: BindingPlan,
    /// Credential lifetime.
    pub ttl: Duration,
    /// Key algorithm of a certificate tenant.
    pub key_algorithm: KeyAlgorithm,
    /// Who signs.
    pub signer: SignerKind,
}

impl TenantSpec {
    /// Checks `input` with every guardrail that needs no cluster: names, `system:` users and
    /// groups, the role/namespace combination, the built-in privileged roles cluster-wide.
    /// Errors name the flag (`create`'s spelling; [`field_of`] maps it to a document field).
    pub fn check(input: &TenantInput<'_>) -> Result<Self, Error> {
        let tenant = Tenant::new(input.user, input.groups, input.auth, input.allow_privileged)?;
        let roles = input
            .roles
            .iter()
            .map(|r| RoleRef::parse(r, input.role_kind))
            .collect::<Result<Vec<_>, _>>()?;
        let bindings = BindingPlan::new(
            &tenant,
            roles,
            input.namespace.clone(),
            input.create_namespace,
            input.bind_group,
        )?;
        if bindings.namespace.is_none() && !input.allow_privileged {
            // Without the cluster there are no rules to read: the built-in privileged roles by name.
            if let Some((role, why)) = bindings
                .roles
                .iter()
                .find_map(|r| privileged(r, None).map(|why| (r, why)))
            {
                return Err(privileged_refusal(role, &why));
            }
        }
        if input.auth == AuthKind::Token && input.signer == SignerKind::Csr {
            return Err(Error::Usage {
                flag: "--signer",
                message: "token tenants have no certificate; drop --signer csr".into(),
            });
        }
        Ok(Self {
            tenant,
            bindings,
            ttl: input.ttl,
            key_algorithm: input.key_algorithm,
            signer: input.signer,
        })
    }

    /// The record's view of what this spec binds, for comparing with a stored record.
    pub(super) fn same_identity(&self, record: &TenantRecord) -> Option<String> {
        if record.auth != self.tenant.auth() {
            return Some(format!(
                "auth is {} in the cluster, {} in the file",
                record.auth,
                self.tenant.auth()
            ));
        }
        if record.groups != self.tenant.groups() {
            return Some(format!(
                "groups are [{}] in the cluster, [{}] in the file",
                record.groups.join(", "),
                self.tenant.groups().join(", ")
            ));
        }
        if self.tenant.auth() == AuthKind::Token && record.namespace != self.bindings.namespace {
            return Some(format!(
                "the ServiceAccount lives in namespace {}, the file asks for {}",
                record.namespace.as_deref().unwrap_or("(none)"),
                self.bindings.namespace.as_deref().unwrap_or("(none)")
            ));
        }
        None
    }
}

/// The record of a tenant being created with `bindings`: Pending until it is handed out.
pub(super) fn new_record(
    tenant: &Tenant,
    bindings: &BindingPlan,
    created_namespace: bool,
    service_account: Option<String>,
    credentials: Vec<CredentialRecord>,
    now: SystemTime,
) -> TenantRecord {
    TenantRecord {
        user: tenant.user().to_owned(),
        auth: tenant.auth(),
        groups: tenant.groups().to_vec(),
        namespace: bindings.namespace.clone(),
        created_namespace,
        service_account,
        roles: bindings.roles.clone(),
        bindings: bindings.binding_refs(tenant),
        bind_group: bindings.bind_group,
        credentials,
        created: rfc3339(now),
        revoked: None,
        set: None,
        revoked_reason: None,
        phase: Phase::Pending,
    }
}

/// The refusal of a cluster-wide binding of a privileged role.
pub(super) fn privileged_refusal(role: &RoleRef, why: &str) -> Error {
    Error::Refused {
        what: format!("a cluster-wide binding of {role} ({why})"),
        why: "that makes the tenant a cluster administrator; bind it in a namespace with -n, or pass --allow-privileged",
    }
}

/// The document field a [`TenantSpec::check`] error is about.
pub(super) fn field_of(error: &Error) -> &'static str {
    match error {
        Error::Usage { flag, .. } => match *flag {
            "--role" => "spec.roles",
            "--group" => "spec.groups",
            "--namespace" | "-n" => "spec.namespace",
            "--create-namespace" => "spec.createNamespace",
            "--bind-group" => "spec.bindGroup",
            "--signer" => "spec.signer",
            _ => "spec.user",
        },
        Error::Refused { what, .. } if what.starts_with("group") => "spec.groups",
        Error::Refused { what, .. } if what.starts_with("user") => "spec.user",
        Error::Refused { .. } => "spec.roles",
        _ => "spec",
    }
}
