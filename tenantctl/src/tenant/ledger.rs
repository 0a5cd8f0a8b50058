//! The ledger: tenant records in the cluster, one labelled ConfigMap per tenant in the record
//! namespace, and the one rule that makes it trustworthy: every credential tenantctl hands out
//! is in its tenant's record before it is handed out, whatever runs concurrently or dies.
//!
//! So a record is *created* (POST: a 409 means another run owns the tenant), every later write
//! carries the `resourceVersion` it read (PUT: a 409 means another run wrote in between, and the
//! change is re-applied to a fresh read, a bounded number of times), and a rollback deletes only
//! the record version it wrote (delete preconditions on uid and resourceVersion).

use k8s_openapi::{
    api::core::v1::{ConfigMap, Namespace},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};

use kube::api::ListParams;

use super::{AuthKind, Tenant, TenantRecord, record_selector};
use crate::{
    cluster::{Cluster, Preconditions, managed_labels},
    error::Error,
};

/// How often an update is re-applied to a fresh read after a conflict.
const CONFLICT_RETRIES: usize = 5;

/// A record as read or written, with the version the next write must name.
#[derive(Clone, Debug)]
pub(super) struct Stored {
    /// The record.
    pub(super) record: TenantRecord,
    /// `metadata.resourceVersion` of the ConfigMap.
    pub(super) resource_version: String,
    /// `metadata.uid` of the ConfigMap.
    pub(super) uid: String,
}

impl Stored {
    fn from_map(cm: &ConfigMap) -> Result<Self, Error> {
        Ok(Self {
            record: TenantRecord::from_config_map(cm)?,
            resource_version: cm.metadata.resource_version.clone().unwrap_or_default(),
            uid: cm.metadata.uid.clone().unwrap_or_default(),
        })
    }
}

/// The record of `tenant`, if there is one.
pub(super) async fn load(cluster: &Cluster, tenant: &Tenant) -> Result<Option<Stored>, Error> {
    let cm: Option<ConfigMap> = cluster
        .get_namespaced(cluster.record_namespace(), &tenant.record_name())
        .await?;
    cm.as_ref().map(Stored::from_map).transpose()
}

/// Every tenant record, sorted by user.
pub(crate) async fn records(cluster: &Cluster) -> Result<Vec<TenantRecord>, Error> {
    let maps: Vec<ConfigMap> = cluster
        .list_namespaced(
            cluster.record_namespace(),
            &ListParams::default().labels(&record_selector()),
        )
        .await?;
    let mut records = maps
        .iter()
        .map(TenantRecord::from_config_map)
        .collect::<Result<Vec<_>, _>>()?;
    records.sort_by(|a, b| a.user.cmp(&b.user));
    Ok(records)
}

/// Every tenant record with its version, as one list (`apply` plans from it).
pub(super) async fn stored_records(cluster: &Cluster) -> Result<Vec<Stored>, Error> {
    let maps: Vec<ConfigMap> = cluster
        .list_namespaced(
            cluster.record_namespace(),
            &ListParams::default().labels(&record_selector()),
        )
        .await?;
    maps.iter().map(Stored::from_map).collect()
}

/// The record of `user`; a clear error when there is none.
pub(super) async fn find(cluster: &Cluster, user: &str) -> Result<(Tenant, Stored), Error> {
    let tenant = Tenant::new(user, &[], AuthKind::Cert, true)
        .or_else(|_| Tenant::new(user, &[], AuthKind::Token, true))?;
    let stored = load(cluster, &tenant).await?.ok_or_else(|| Error::Record {
        user: user.to_owned(),
        message: format!(
            "no such tenant (no configmap/{} in {})",
            tenant.record_name(),
            cluster.record_namespace()
        ),
    })?;
    let tenant = Tenant::new(
        &stored.record.user,
        &stored.record.groups,
        stored.record.auth,
        true,
    )?;
    Ok((tenant, stored))
}

/// The record namespace, created when missing (server-side apply: idempotent).
pub(super) async fn ensure_namespace(cluster: &Cluster) -> Result<(), Error> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(cluster.record_namespace().to_owned()),
            labels: Some(managed_labels()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    cluster.apply_cluster(&ns).await.map(drop)
}

/// Claims `tenant` with a new record (POST). A 409 — another run created it first — is
/// [`Error::Claimed`].
pub(super) async fn claim(
    cluster: &Cluster,
    tenant: &Tenant,
    record: &TenantRecord,
) -> Result<Stored, Error> {
    let cm = record.to_config_map(tenant, cluster.record_namespace())?;
    match cluster
        .create_namespaced(cluster.record_namespace(), &cm)
        .await
    {
        Ok(cm) => Stored::from_map(&cm),
        Err(Error::Api { status, .. }) if status.code == 409 => Err(Error::Claimed {
            user: tenant.user().to_owned(),
            message:
                "another tenantctl run created this tenant's record first; nothing was handed out"
                    .into(),
        }),
        Err(e) => Err(e),
    }
}

/// Writes `record` over `stored` if nobody wrote since it was read (PUT with its
/// resourceVersion). A 409 is [`Error::Claimed`]: for a claim, another run got there first.
pub(super) async fn replace(
    cluster: &Cluster,
    tenant: &Tenant,
    stored: &Stored,
    record: &TenantRecord,
) -> Result<Stored, Error> {
    match put(cluster, tenant, stored, record).await {
        Err(Error::Api { status, .. }) if status.code == 409 => Err(Error::Claimed {
            user: tenant.user().to_owned(),
            message: "another tenantctl run changed this tenant's record at the same time; nothing was handed out".into(),
        }),
        other => other,
    }
}

/// Applies `change` to the record and writes it with the resourceVersion it was read at; on a
/// conflict, re-reads and re-applies `change`, up to [`CONFLICT_RETRIES`] times. `change` may
/// refuse (an error) after seeing a fresh record.
pub(super) async fn update(
    cluster: &Cluster,
    tenant: &Tenant,
    mut stored: Stored,
    change: impl Fn(&mut TenantRecord) -> Result<(), Error>,
) -> Result<Stored, Error> {
    for _ in 0..CONFLICT_RETRIES {
        let mut record = stored.record.clone();
        change(&mut record)?;
        match put(cluster, tenant, &stored, &record).await {
            Err(Error::Api { status, .. }) if status.code == 409 => {
                stored = load(cluster, tenant).await?.ok_or_else(|| Error::Record {
                    user: tenant.user().to_owned(),
                    message: "the record was deleted by another run".into(),
                })?;
            }
            other => return other,
        }
    }
    Err(Error::Claimed {
        user: tenant.user().to_owned(),
        message: format!(
            "the record kept changing under {CONFLICT_RETRIES} attempts to update it; try again"
        ),
    })
}

/// Deletes the record, only in the version `stored` names (rollback of a claim).
pub(super) async fn delete(
    cluster: &Cluster,
    tenant: &Tenant,
    stored: &Stored,
) -> Result<(), Error> {
    cluster
        .delete_namespaced::<ConfigMap>(
            cluster.record_namespace(),
            &tenant.record_name(),
            Some(Preconditions {
                uid: Some(stored.uid.clone()),
                resource_version: Some(stored.resource_version.clone()),
            }),
        )
        .await
        .map(drop)
}

async fn put(
    cluster: &Cluster,
    tenant: &Tenant,
    stored: &Stored,
    record: &TenantRecord,
) -> Result<Stored, Error> {
    let mut cm = record.to_config_map(tenant, cluster.record_namespace())?;
    cm.metadata.resource_version = Some(stored.resource_version.clone());
    cm.metadata.uid = Some(stored.uid.clone());
    let cm = cluster
        .replace_namespaced(cluster.record_namespace(), &cm)
        .await?;
    Stored::from_map(&cm)
}
