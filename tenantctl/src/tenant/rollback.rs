//! Undoing what a failed `create` changed, newest first, each delete only of the object this
//! run made (a uid precondition; for the record, uid and resourceVersion), so a rollback never
//! removes what another run created. Anything that cannot be undone is named in the error so it
//! can be removed by hand.

use k8s_openapi::api::{
    core::v1::{Namespace, ServiceAccount},
    rbac::v1::{ClusterRoleBinding, RoleBinding},
};

use super::{
    Binding, Tenant, TenantRecord,
    ledger::{self, Stored},
};
use crate::{
    cluster::{Cluster, Preconditions},
    error::Error,
};

/// What `create` changed, to undo on failure, newest last.
#[derive(Default)]
pub(super) struct Undo {
    steps: Vec<Step>,
    /// The record as this run last wrote it.
    record: Option<Stored>,
}

/// One change to undo; the uid is the object's as the API server returned it.
pub(super) enum Step {
    Namespace(String, Option<String>),
    ServiceAccount(String, String, Option<String>),
    Binding(Box<Binding>, Option<String>),
    /// The record was claimed: deleted on rollback, or put back as it was (a revoked tenant's,
    /// a Pending one this run resumed).
    Record(Tenant, Option<Box<TenantRecord>>),
}

impl Undo {
    /// Remembers a change.
    pub(super) fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// Remembers the version of the record this run wrote last.
    pub(super) fn record_at(&mut self, stored: &Stored) {
        self.record = Some(stored.clone());
    }

    /// Undoes every change, newest first, and wraps `cause` with what was and was not undone.
    pub(super) async fn run(self, cluster: &Cluster, cause: Error) -> Error {
        if self.steps.is_empty() {
            return cause;
        }
        let mut undone = Vec::new();
        let mut failed = Vec::new();
        for step in self.steps.into_iter().rev() {
            let (what, result) = match &step {
                Step::Namespace(ns, uid) => (
                    format!("namespace/{ns}"),
                    cluster
                        .delete_cluster::<Namespace>(ns, only(uid))
                        .await
                        .map(drop),
                ),
                Step::ServiceAccount(ns, name, uid) => (
                    format!("serviceaccount/{name} in {ns}"),
                    cluster
                        .delete_namespaced::<ServiceAccount>(ns, name, only(uid))
                        .await
                        .map(drop),
                ),
                Step::Binding(b, uid) => {
                    (b.describe(), delete_binding(cluster, b, only(uid)).await)
                }
                Step::Record(tenant, previous) => {
                    let what = format!("configmap/{}", tenant.record_name());
                    let result = match (&self.record, previous) {
                        (None, _) => Ok(()),
                        (Some(at), None) => ledger::delete(cluster, tenant, at).await,
                        (Some(at), Some(previous)) => {
                            ledger::replace(cluster, tenant, at, previous)
                                .await
                                .map(drop)
                        }
                    };
                    (what, result)
                }
            };
            match result {
                Ok(()) => undone.push(what),
                Err(e) => failed.push(format!("{what} ({e})")),
            }
        }
        Error::RolledBack {
            cause: Box::new(cause),
            undone,
            failed,
        }
    }
}

/// A uid precondition, when the uid is known.
fn only(uid: &Option<String>) -> Option<Preconditions> {
    uid.as_ref().map(|uid| Preconditions {
        uid: Some(uid.clone()),
        resource_version: None,
    })
}

/// Deletes a binding (only the one with `precondition`'s uid, when given); one that is already
/// gone is fine.
pub(super) async fn delete_binding(
    cluster: &Cluster,
    b: &Binding,
    precondition: Option<Preconditions>,
) -> Result<(), Error> {
    match b {
        Binding::Cluster(crb) => cluster
            .delete_cluster::<ClusterRoleBinding>(
                crb.metadata.name.as_deref().unwrap_or_default(),
                precondition,
            )
            .await
            .map(drop),
        Binding::Namespaced(rb) => cluster
            .delete_namespaced::<RoleBinding>(
                rb.metadata.namespace.as_deref().unwrap_or_default(),
                rb.metadata.name.as_deref().unwrap_or_default(),
                precondition,
            )
            .await
            .map(drop),
    }
}
