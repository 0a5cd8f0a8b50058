//! The ledger: tenant records in the cluster, one labelled ConfigMap per tenant in the record
//! namespace. Every command that hands out or withdraws a credential reads and writes it here.

use k8s_openapi::{
    api::core::v1::{ConfigMap, Namespace},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};

use super::{AuthKind, Tenant, TenantRecord, record_selector};
use crate::{
    cluster::{Cluster, managed_labels},
    error::Error,
};

/// The record's ConfigMap of `tenant`, if there is one.
pub(super) async fn record_map(
    cluster: &Cluster,
    tenant: &Tenant,
) -> Result<Option<ConfigMap>, Error> {
    cluster
        .get_namespaced(cluster.record_namespace(), &tenant.record_name())
        .await
}

/// Every tenant record, sorted by user.
pub(super) async fn records(cluster: &Cluster) -> Result<Vec<TenantRecord>, Error> {
    let maps: Vec<ConfigMap> = cluster
        .list_namespaced(cluster.record_namespace(), &record_selector())
        .await?;
    let mut records = maps
        .iter()
        .map(TenantRecord::from_config_map)
        .collect::<Result<Vec<_>, _>>()?;
    records.sort_by(|a, b| a.user.cmp(&b.user));
    Ok(records)
}

/// The record of `user`; a clear error when there is none.
pub(super) async fn find(cluster: &Cluster, user: &str) -> Result<TenantRecord, Error> {
    let tenant = Tenant::new(user, &[], AuthKind::Cert, true)
        .or_else(|_| Tenant::new(user, &[], AuthKind::Token, true))?;
    let map = record_map(cluster, &tenant).await?;
    map.as_ref()
        .map(TenantRecord::from_config_map)
        .transpose()?
        .ok_or_else(|| Error::Record {
            user: user.to_owned(),
            message: format!(
                "no such tenant (no configmap/{} in {})",
                tenant.record_name(),
                cluster.record_namespace()
            ),
        })
}

/// Writes `record` (creating the record namespace when needed).
pub(super) async fn save(
    cluster: &Cluster,
    tenant: &Tenant,
    record: &TenantRecord,
) -> Result<(), Error> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(cluster.record_namespace().to_owned()),
            labels: Some(managed_labels()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    cluster.apply_cluster(&ns).await?;
    let cm = record.to_config_map(tenant, cluster.record_namespace())?;
    cluster
        .apply_namespaced(cluster.record_namespace(), &cm)
        .await
}

/// Deletes the record of `tenant` (rollback of a first create).
pub(super) async fn delete(cluster: &Cluster, tenant: &Tenant) -> Result<(), Error> {
    cluster
        .delete_namespaced::<ConfigMap>(cluster.record_namespace(), &tenant.record_name())
        .await
        .map(drop)
}
