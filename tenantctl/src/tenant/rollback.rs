//! Undoing what a failed `create` changed, newest first; anything that cannot be undone is
//! named in the error so it can be removed by hand.

use k8s_openapi::api::{
    core::v1::{ConfigMap, Namespace, ServiceAccount},
    rbac::v1::{ClusterRoleBinding, RoleBinding},
};

use super::{Binding, Tenant, TenantRecord, ledger};
use crate::{cluster::Cluster, error::Error};

/// What `create` changed, to undo on failure, newest last.
#[derive(Default)]
pub(super) struct Undo {
    steps: Vec<Step>,
}

/// One change to undo.
pub(super) enum Step {
    Namespace(String),
    ServiceAccount(String, String),
    Binding(Binding),
    Record(Tenant, Option<ConfigMap>),
}

impl Undo {
    /// Remembers a change.
    pub(super) fn push(&mut self, step: Step) {
        self.steps.push(step);
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
                Step::Namespace(ns) => (
                    format!("namespace/{ns}"),
                    cluster.delete_cluster::<Namespace>(ns).await.map(drop),
                ),
                Step::ServiceAccount(ns, name) => (
                    format!("serviceaccount/{name} in {ns}"),
                    cluster
                        .delete_namespaced::<ServiceAccount>(ns, name)
                        .await
                        .map(drop),
                ),
                Step::Binding(b) => (b.describe(), delete_binding(cluster, b).await),
                Step::Record(tenant, previous) => {
                    let what = format!("configmap/{}", tenant.record_name());
                    let result = match previous {
                        Some(cm) => match TenantRecord::from_config_map(cm) {
                            Ok(record) => ledger::save(cluster, tenant, &record).await,
                            Err(e) => Err(e),
                        },
                        None => ledger::delete(cluster, tenant).await,
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

/// Deletes a binding; one that is already gone is fine.
pub(super) async fn delete_binding(cluster: &Cluster, b: &Binding) -> Result<(), Error> {
    match b {
        Binding::Cluster(crb) => cluster
            .delete_cluster::<ClusterRoleBinding>(crb.metadata.name.as_deref().unwrap_or_default())
            .await
            .map(drop),
        Binding::Namespaced(rb) => cluster
            .delete_namespaced::<RoleBinding>(
                rb.metadata.namespace.as_deref().unwrap_or_default(),
                rb.metadata.name.as_deref().unwrap_or_default(),
            )
            .await
            .map(drop),
    }
}
