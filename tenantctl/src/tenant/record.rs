//! The tenant record: what tenantctl knows about a tenant, kept in the cluster (a labelled
//! ConfigMap per tenant) so that any admin on any machine sees the same tenants.

use std::{collections::BTreeMap, time::SystemTime};

use k8s_openapi::{api::core::v1::ConfigMap, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use pki_core::Certificate;
use serde::{Deserialize, Serialize};

use super::{
    AuthKind, RoleRef, Tenant,
    names::{SET_LABEL, TENANT_LABEL, USER_ANNOTATION},
};
use crate::{
    cluster::MANAGED_BY,
    error::Error,
    time::{parse_rfc3339, rfc3339},
};
/// Label value that marks a ConfigMap as a tenant record.
pub(crate) const COMPONENT: (&str, &str) = ("app.kubernetes.io/component", "tenant-record");
/// The ConfigMap key holding the record.
pub(crate) const RECORD_KEY: &str = "tenant.json";

/// Where a tenant is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Claimed by a `create` that has not finished (or died): its credentials may be in use.
    /// The same `create` again resumes it.
    Pending,
    /// Created: bound, verified, handed out.
    #[default]
    Active,
    /// Revoked: bindings gone, credentials marked.
    Revoked,
}

/// Everything recorded about one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantRecord {
    /// The user name (certificate CN, or ServiceAccount name).
    pub user: String,
    /// Pending, Active or Revoked (records written before phases existed read as Active, or
    /// Revoked when they carry `revoked`).
    #[serde(default)]
    pub phase: Phase,
    /// How the tenant authenticates.
    pub auth: AuthKind,
    /// Groups in the tenant's certificates (O).
    #[serde(default)]
    pub groups: Vec<String>,
    /// The namespace of the bindings, when they are namespaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Whether tenantctl created that namespace.
    #[serde(default)]
    pub created_namespace: bool,
    /// The ServiceAccount of a token tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// The bound roles.
    pub roles: Vec<RoleRef>,
    /// The bindings tenantctl made.
    pub bindings: Vec<BindingRef>,
    /// Whether the groups are bound too (`--bind-group`).
    #[serde(default)]
    pub bind_group: bool,
    /// Every credential issued, oldest first.
    pub credentials: Vec<CredentialRecord>,
    /// When the tenant was created (RFC 3339).
    pub created: String,
    /// When the tenant was revoked (RFC 3339), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    /// Why it was revoked, when not by hand: `expired` (the controller's `expiresAt`),
    /// `deleted` (its Tenant object was deleted), `pruned` (`apply --prune`), `recreated` (its
    /// identity changed, `apply --recreate` or the controller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
    /// The set (`apply --set`) that manages this tenant; `apply --prune` of that set may revoke
    /// it, nothing else prunes it. Also the record's label `tenantctl.io/set`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
}

/// One binding made for a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingRef {
    /// `ClusterRoleBinding` or `RoleBinding`.
    pub kind: String,
    /// Object name.
    pub name: String,
    /// Namespace of a RoleBinding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The role it grants.
    pub role: RoleRef,
}

/// One issued credential. Never holds key material or the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRecord {
    /// Certificate or token.
    pub kind: AuthKind,
    /// `local` (the cluster CA's key), `kubernetes.io/kube-apiserver-client` (the CSR API), or
    /// `tokenrequest`.
    pub signer: String,
    /// Issuer CN of a certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Certificate serial number (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// SHA-256 fingerprint of the certificate (hex, colon-separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Key algorithm of a certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_algorithm: Option<String>,
    /// Start of validity (RFC 3339).
    pub not_before: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// When it was revoked in the record (RFC 3339). A certificate still authenticates until
    /// `notAfter`: Kubernetes has no revocation for client certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
    /// The CSR API request was approved by tenantctl itself (`--approve`); `renew` does the
    /// same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approve: bool,
    /// The key identifier of the CA that signed the certificate (its AuthorityKeyIdentifier,
    /// hex): tells credentials of an old CA from those of a new one during a CA rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_key_id: Option<String>,
    /// The key identifiers of the CAs the credential's kubeconfig trusts (its
    /// `certificate-authority-data`; two during a CA rotation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_ca_key_ids: Vec<String>,
}

impl CredentialRecord {
    /// The record of an issued certificate.
    pub fn certificate(cert: &Certificate, signer: &str) -> Self {
        Self {
            kind: AuthKind::Cert,
            signer: signer.to_owned(),
            issuer: cert.issuer_common_name(),
            serial: Some(cert.serial_hex()),
            sha256: Some(cert.sha256_fingerprint()),
            key_algorithm: cert.key_algorithm().ok().map(|a| a.to_string()),
            not_before: rfc3339(cert.not_before()),
            not_after: rfc3339(cert.not_after()),
            revoked: None,
            approve: false,
            issuer_key_id: crate::pki::rotation::issuer_key_id(cert),
            trusted_ca_key_ids: Vec::new(),
        }
    }

    /// The same record, noting the CAs that the kubeconfig handed out with it trusts
    /// (`ca_pem`, its `certificate-authority-data`).
    #[must_use]
    pub fn trusting(mut self, ca_pem: &str) -> Self {
        self.trusted_ca_key_ids = crate::pki::rotation::bundle_key_ids(ca_pem);
        self
    }

    /// The record of a token from the TokenRequest API.
    pub fn token(issued: SystemTime, expires: SystemTime) -> Self {
        Self {
            kind: AuthKind::Token,
            signer: "tokenrequest".into(),
            issuer: None,
            serial: None,
            sha256: None,
            key_algorithm: None,
            not_before: rfc3339(issued),
            not_after: rfc3339(expires),
            revoked: None,
            approve: false,
            issuer_key_id: None,
            trusted_ca_key_ids: Vec::new(),
        }
    }

    /// `not_after` as a time, if it parses.
    pub fn expires(&self) -> Option<SystemTime> {
        parse_rfc3339(&self.not_after)
    }
}

impl TenantRecord {
    /// The newest credential that is not revoked.
    pub fn current_credential(&self) -> Option<&CredentialRecord> {
        self.credentials.iter().rev().find(|c| c.revoked.is_none())
    }

    /// `pending`, `active` or `revoked`.
    pub fn status(&self) -> &'static str {
        match self.phase {
            Phase::Pending => "pending",
            Phase::Active => "active",
            Phase::Revoked => "revoked",
        }
    }

    /// How `other` (what a `create` asks for) differs from what this record was created with:
    /// one line per field, empty when the same.
    pub fn spec_differences(&self, other: &Self) -> Vec<String> {
        let mut d = Vec::new();
        let mut roles = (self.roles.clone(), other.roles.clone());
        roles.0.sort();
        roles.1.sort();
        if self.auth != other.auth {
            d.push(format!("auth {} (asked: {})", self.auth, other.auth));
        }
        if self.groups != other.groups {
            d.push(format!(
                "groups {:?} (asked: {:?})",
                self.groups, other.groups
            ));
        }
        if roles.0 != roles.1 {
            let show = |r: &[RoleRef]| {
                r.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            d.push(format!(
                "roles {} (asked: {})",
                show(&roles.0),
                show(&roles.1)
            ));
        }
        if self.namespace != other.namespace {
            d.push(format!(
                "namespace {:?} (asked: {:?})",
                self.namespace, other.namespace
            ));
        }
        if self.bind_group != other.bind_group {
            d.push(format!(
                "--bind-group {} (asked: {})",
                self.bind_group, other.bind_group
            ));
        }
        d
    }

    /// The record as a ConfigMap in `namespace`.
    pub fn to_config_map(&self, tenant: &Tenant, namespace: &str) -> Result<ConfigMap, Error> {
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::Record {
            user: self.user.clone(),
            message: e.to_string(),
        })?;
        let mut labels = super::objects::labels(tenant);
        labels.insert(COMPONENT.0.into(), COMPONENT.1.into());
        if let Some(set) = &self.set {
            labels.insert(SET_LABEL.into(), set.clone());
        }
        Ok(ConfigMap {
            metadata: ObjectMeta {
                name: Some(tenant.record_name()),
                namespace: Some(namespace.to_owned()),
                labels: Some(labels),
                annotations: Some(BTreeMap::from([(
                    USER_ANNOTATION.to_owned(),
                    tenant.user().to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(RECORD_KEY.to_owned(), json)])),
            ..ConfigMap::default()
        })
    }

    /// Reads a record back from its ConfigMap.
    pub fn from_config_map(cm: &ConfigMap) -> Result<Self, Error> {
        let name = cm.metadata.name.clone().unwrap_or_default();
        let json = cm
            .data
            .as_ref()
            .and_then(|d| d.get(RECORD_KEY))
            .ok_or_else(|| Error::Record {
                user: name.clone(),
                message: format!("ConfigMap {name} has no {RECORD_KEY} key"),
            })?;
        let mut record: Self = serde_json::from_str(json).map_err(|e| Error::Record {
            user: name,
            message: e.to_string(),
        })?;
        if record.revoked.is_some() {
            record.phase = Phase::Revoked;
        }
        Ok(record)
    }
}

#[cfg(test)]
impl TenantRecord {
    /// A certificate tenant `user` in `phase` with `credentials`, no groups or bindings: the
    /// one record fixture of the unit tests.
    pub(crate) fn fixture(user: &str, phase: Phase, credentials: Vec<CredentialRecord>) -> Self {
        Self {
            user: user.into(),
            phase,
            auth: AuthKind::Cert,
            groups: Vec::new(),
            namespace: None,
            created_namespace: false,
            service_account: None,
            roles: Vec::new(),
            bindings: Vec::new(),
            bind_group: false,
            credentials,
            created: "2026-01-01T00:00:00Z".into(),
            revoked: None,
            revoked_reason: None,
            set: None,
        }
    }
}

/// The label selector of all tenant records.
pub fn record_selector() -> String {
    format!(
        "{}={},{}={}",
        MANAGED_BY.0, MANAGED_BY.1, COMPONENT.0, COMPONENT.1
    )
}

/// The label selector of one tenant's objects.
pub fn tenant_selector(tenant: &Tenant) -> String {
    format!(
        "{}={},{TENANT_LABEL}={}",
        MANAGED_BY.0,
        MANAGED_BY.1,
        tenant.label()
    )
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::cluster::RECORD_NAMESPACE;

    #[test]
    fn record_round_trips_through_its_config_map() {
        let tenant =
            Tenant::new("Alice@example.com", &["dev".into()], AuthKind::Cert, false).unwrap();
        let record = TenantRecord {
            user: tenant.user().into(),
            auth: AuthKind::Cert,
            groups: vec!["dev".into()],
            namespace: Some("team-a".into()),
            created_namespace: true,
            service_account: None,
            roles: vec![RoleRef {
                kind: super::super::RoleKind::ClusterRole,
                name: "view".into(),
            }],
            bindings: vec![],
            bind_group: false,
            credentials: vec![CredentialRecord::token(
                SystemTime::UNIX_EPOCH,
                SystemTime::UNIX_EPOCH,
            )],
            created: rfc3339(SystemTime::UNIX_EPOCH),
            revoked: None,
            set: None,
            revoked_reason: None,
            phase: Phase::Pending,
        };
        let cm = record.to_config_map(&tenant, RECORD_NAMESPACE).unwrap();
        assert_eq!(cm.metadata.namespace.as_deref(), Some(RECORD_NAMESPACE));
        let labels = cm.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[TENANT_LABEL], tenant.label());
        assert_eq!(labels[COMPONENT.0], COMPONENT.1);
        assert_eq!(TenantRecord::from_config_map(&cm).unwrap(), record);

        let mut broken = cm;
        broken.data = None;
        assert!(TenantRecord::from_config_map(&broken).is_err());
    }
}
