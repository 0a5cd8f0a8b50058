//! The tenant domain: identities with their guardrails ([`names`]), the Kubernetes objects they
//! need ([`objects`]), the record kept about them ([`record`]) — all pure values — and the
//! commands over them: minting credentials ([`credentials`]), `create` and its offline forms,
//! `list`/`show`/`renew`/`revoke` ([`lifecycle`]), with the records read and written through
//! [`ledger`].

mod apply;
mod create;
mod credentials;
mod document;
mod ledger;
mod lifecycle;
mod names;
mod objects;
mod offline;
mod record;
mod revoke;
mod rollback;
mod spec;
mod verify;

pub use crate::{cli::AuthKind, cluster::RoleKind};
pub use apply::{
    API_VERSION, DEFAULT_TTL, Delivery, Desired, Options as ApplyOptions, Outcome, ParseOptions,
    Problem, Reconciled, Settings as ApplySettings, apply_online, duplicates, load as load_tenants,
    parse as parse_tenants, reconcile_one, revoke_one, run as apply,
};
pub use create::{CreatePlan, create_online, run as create};
pub use credentials::{
    CsrOptions, LONG_TTL, Minted, Signer, cert_kubeconfig, cluster_entry, import, mint_csr,
    mint_local,
};
pub use document::{
    Condition, CredentialStatus, FieldProblem, Schedule, SecretRef, TenantDocSpec, TenantObject,
    TenantStatus,
};
pub use lifecycle::{list, print_list, print_record, renew, renew_online, show};
pub use names::{RoleRef, Tenant};
pub use objects::{Binding, BindingPlan, TenantObjects, manifest, yaml};
pub use record::{
    BindingRef, CredentialRecord, Phase, TenantRecord, record_selector, tenant_selector,
};
pub use revoke::{revoke, revoke_credential, revoke_online};
pub use spec::{TenantInput, TenantSpec};
pub use verify::verify;

pub(crate) use names::CONTROLLER_SET_PREFIX;
pub(crate) use objects::is_tenants;

/// Every tenant record in the cluster (for the CA rotation's checks).
pub(crate) use ledger::records as tenant_records;
