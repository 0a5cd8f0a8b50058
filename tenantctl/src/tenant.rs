//! Tenants as values: identities with their guardrails, the Kubernetes objects they need, and
//! the record kept about them. Nothing here does I/O.

mod names;
mod objects;
mod record;

pub(crate) use names::FIELD_MANAGER;
pub use names::{AuthKind, RoleKind, RoleRef, Tenant};
pub use objects::{Binding, BindingPlan, TenantObjects, manifest, yaml};
pub use record::{
    BindingRef, CredentialRecord, RECORD_NAMESPACE, TenantRecord, parse_rfc3339, record_selector,
    rfc3339, tenant_selector,
};
