//! One Tenant object: checked, expired, or made as it says with the plan and steps `apply`
//! uses (`tenant::reconcile_one`); deleted through a finalizer that revokes as `tenantctl
//! revoke` does. The status is written only when it changed, and the next look is scheduled at
//! the renewal or the expiry, whichever comes first — so a tenant at rest costs reads, never a
//! write.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Resource as _, ResourceExt as _,
    api::{Patch, PatchParams},
    runtime::{
        controller::Action,
        events::{Event, EventType, Recorder},
        finalizer::{Event as Finalizer, finalizer},
    },
};
use kubeconfig::ClusterEntry;
use pki_core::CertificateAuthority;

use super::{
    metrics::Metrics,
    status::{self, Findings, Reason, next_renewal, requeue_after},
};
use crate::{
    cli::Format,
    cluster::Cluster,
    error::Error,
    output,
    tenant::{
        ApplyOptions, ApplySettings, CONTROLLER_SET_PREFIX, CsrOptions, Delivery, Desired, Outcome,
        ParseOptions, Reconciled, SecretRef, Tenant, TenantObject, TenantRecord, is_tenants,
        reconcile_one, revoke_one,
    },
    time::rfc3339,
};

/// The finalizer that makes deleting a Tenant revoke it first.
pub const FINALIZER: &str = "tenantctl.io/revoke";
/// How soon a Tenant the cluster refused (a missing role or namespace) is looked at again: the
/// controller does not watch every role.
const REFUSED_RECHECK: Duration = Duration::from_secs(300);
/// How soon a failed reconcile is retried.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What every reconcile shares.
pub struct Context {
    /// The cluster, with the records' namespace and retries.
    pub cluster: Cluster,
    /// The API server and CA written into kubeconfigs.
    pub entry: ClusterEntry,
    /// The local CA (`--cert-dir` or `--ca-secret`), for `signer: local`.
    pub ca: Option<Arc<CertificateAuthority>>,
    /// The controller's namespace: its Lease, the default place of kubeconfig Secrets.
    pub namespace: String,
    /// How `signer: csr` uses the CSR API.
    pub csr: CsrOptions,
    /// How long to wait for RBAC to grant a new binding.
    pub verify_timeout: Duration,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Events on the Tenant.
    pub recorder: Recorder,
}

/// A reconcile that failed; retried after [`RETRY_AFTER`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReconcileError(String);

/// The Tenant's `apply --set`-style mark in its record and bindings: which object manages it.
pub fn owner_mark(o: &TenantObject) -> String {
    format!("{CONTROLLER_SET_PREFIX}{}", o.uid().unwrap_or_default())
}

/// Reconciles one Tenant (the controller's reconciler).
pub async fn reconcile(o: Arc<TenantObject>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let api: Api<TenantObject> = Api::all(ctx.cluster.client().clone());
    let label = std::sync::Mutex::new("unchanged");
    let result = finalizer(&api, FINALIZER, o, |event| async {
        let (action, result) = match event {
            Finalizer::Apply(o) => apply(&o, &ctx).await?,
            Finalizer::Cleanup(o) => cleanup(&o, &ctx).await?,
        };
        if let Ok(mut l) = label.lock() {
            *l = result;
        }
        Ok::<_, Error>(action)
    })
    .await;
    match result {
        Ok(action) => {
            let label = label.lock().map_or("unchanged", |l| *l);
            ctx.metrics.reconciled(label, started.elapsed());
            Ok(action)
        }
        Err(e) => {
            ctx.metrics.reconciled("failed", started.elapsed());
            Err(ReconcileError(crate::error::chain(&e)))
        }
    }
}

/// What to do after a failed reconcile.
pub fn error_policy(o: Arc<TenantObject>, e: &ReconcileError, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed();
    output::message(&format!("tenant/{}: {e} (retrying)", o.name_any()));
    Action::requeue(RETRY_AFTER)
}

type Outcomes = (Action, &'static str);

async fn apply(o: &TenantObject, ctx: &Context) -> Result<Outcomes, Error> {
    let now = SystemTime::now();
    let name = o.name_any();
    let checked = o
        .spec
        .check(&name, ParseOptions::default())
        .and_then(|spec| o.spec.schedule(&spec).map(|s| (spec, s)));
    let (spec, schedule) = match checked {
        Ok(found) => found,
        Err(problems) => {
            let message = problems
                .iter()
                .map(|p| format!("{}: {}", p.field, p.message))
                .collect::<Vec<_>>()
                .join("; ");
            let user = o.spec.user.as_deref().unwrap_or(&name);
            if ctx
                .set_status(
                    o,
                    Findings {
                        user: Some(user),
                        reason: Reason::Refused,
                        message: &message,
                        record: None,
                        secret: None,
                        next_renewal: None,
                    },
                    now,
                )
                .await?
            {
                ctx.event(o, EventType::Warning, "Refused", "Check", &message)
                    .await;
            }
            return Ok((Action::await_change(), "refused"));
        }
    };
    let tenant = spec.tenant.clone();
    let user = tenant.user().to_owned();
    let secret = secret_ref(o, &ctx.namespace);
    if let Some(at) = schedule.expires_at.filter(|at| *at <= now) {
        let record = revoke_one(&ctx.cluster, &user, "expired", &owner_mark(o), now).await?;
        let removed = ctx.delete_secret(&secret, &tenant).await?;
        ctx.metrics.expiry(&user, None);
        let message = format!(
            "access ended at {} (spec.expiresAt): bindings and kubeconfig Secret removed, record revoked",
            rfc3339(at)
        );
        if ctx
            .set_status(
                o,
                Findings {
                    user: Some(&user),
                    reason: Reason::Expired,
                    message: &message,
                    record: record.as_ref(),
                    secret: None,
                    next_renewal: None,
                },
                now,
            )
            .await?
            || removed
        {
            ctx.event(o, EventType::Normal, "Expired", "Revoke", &message)
                .await;
        }
        return Ok((Action::await_change(), "expired"));
    }

    let secret_there = ctx.secret_exists(&secret, &tenant).await?;
    let settings = ctx.settings(o, &secret, schedule.renew_before, !secret_there, now);
    let desired = Desired {
        spec,
        source: format!("tenant/{name}"),
    };
    let done = reconcile_one(&ctx.cluster, &ctx.entry, ctx.ca.clone(), desired, &settings).await?;
    // The kubeconfig moved to another Secret: the old one goes.
    if let Some(old) = o
        .status
        .as_ref()
        .and_then(|s| s.kubeconfig_secret_ref.as_ref())
        && *old != secret
        && done.outcome != Outcome::Failed
    {
        ctx.delete_secret(old, &tenant).await?;
    }
    let (reason, label) = match (&done, done.outcome) {
        (Reconciled { refused: true, .. }, _) => (Reason::Refused, "refused"),
        (_, Outcome::Failed) => (Reason::Failed, "failed"),
        (_, outcome) => (Reason::Issued, outcome.as_str()),
    };
    let next = done
        .record
        .as_ref()
        .filter(|_| reason == Reason::Issued)
        .and_then(|r| next_renewal(r, schedule.renew_before));
    let expiry = done
        .record
        .as_ref()
        .filter(|_| reason == Reason::Issued)
        .and_then(TenantRecord::current_credential)
        .and_then(|c| c.expires())
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64());
    ctx.metrics.expiry(&user, expiry);
    let message = match reason {
        Reason::Issued => issued_message(&done, &secret),
        _ => done.detail.clone(),
    };
    let changed = ctx
        .set_status(
            o,
            Findings {
                user: Some(&user),
                reason,
                message: &message,
                record: done.record.as_ref(),
                secret: Some(&secret),
                next_renewal: next,
            },
            now,
        )
        .await?;
    for w in &done.warnings {
        ctx.event(o, EventType::Warning, "Warning", "Check", w)
            .await;
    }
    match (reason, done.outcome) {
        (Reason::Issued, Outcome::Created) => {
            ctx.event(o, EventType::Normal, "Issued", "Issue", &message)
                .await;
        }
        (Reason::Issued, Outcome::Renewed) => {
            ctx.event(o, EventType::Normal, "Renewed", "Renew", &message)
                .await;
        }
        (Reason::Issued, Outcome::Updated) => {
            ctx.event(o, EventType::Normal, "Updated", "Bind", &done.detail)
                .await;
        }
        (Reason::Refused, _) if changed => {
            ctx.event(o, EventType::Warning, "Refused", "Check", &message)
                .await;
        }
        (Reason::Failed, _) => {
            if changed {
                ctx.event(o, EventType::Warning, "Failed", "Reconcile", &message)
                    .await;
            }
            return Err(Error::Record {
                user,
                message: done.detail,
            });
        }
        _ => {}
    }
    let action = match reason {
        Reason::Refused => Action::requeue(REFUSED_RECHECK),
        _ => requeue_after(next, schedule.expires_at, now)
            .map_or_else(Action::await_change, Action::requeue),
    };
    Ok((action, label))
}

/// The Tenant is being deleted: revoke its record (if this object manages it), remove its
/// Secret.
async fn cleanup(o: &TenantObject, ctx: &Context) -> Result<Outcomes, Error> {
    let now = SystemTime::now();
    let name = o.name_any();
    let user = o.spec.user.clone().unwrap_or_else(|| name.clone());
    let revoked = revoke_one(&ctx.cluster, &user, "deleted", &owner_mark(o), now).await?;
    if let Ok(tenant) = Tenant::new(&user, &[], crate::tenant::AuthKind::Cert, true) {
        let secret = o
            .status
            .as_ref()
            .and_then(|s| s.kubeconfig_secret_ref.clone())
            .unwrap_or_else(|| secret_ref(o, &ctx.namespace));
        ctx.delete_secret(&secret, &tenant).await?;
    }
    ctx.metrics.expiry(&user, None);
    if revoked.is_some() {
        ctx.event(
            o,
            EventType::Normal,
            "Revoked",
            "Revoke",
            "the Tenant was deleted: bindings and kubeconfig Secret removed, record revoked",
        )
        .await;
    }
    Ok((Action::await_change(), "deleted"))
}

impl Context {
    /// Apply's settings for one Tenant: its Secret, its owner, renewal at `renew_before`
    /// (or now, when its Secret is gone), identity changes re-issued.
    fn settings(
        &self,
        o: &TenantObject,
        secret: &SecretRef,
        renew_before: Duration,
        renew_now: bool,
        now: SystemTime,
    ) -> ApplySettings {
        ApplySettings {
            delivery: Delivery::Secret {
                namespace: secret.namespace.clone().unwrap_or_default(),
                name: secret.name.clone().unwrap_or_default(),
            },
            concurrency: 1,
            options: ApplyOptions {
                set: Some(owner_mark(o)),
                prune: false,
                recreate: true,
                renew_within: Some(renew_before),
                renew_now,
                owner: o.uid(),
                allow_privileged: false,
                now,
            },
            dry_run: false,
            cert_dir: std::path::PathBuf::new(),
            csr: self.csr,
            format: Format::Table,
            verify_timeout: self.verify_timeout,
            owner: o.controller_owner_ref(&()),
        }
    }

    /// Writes the status computed from the findings when it differs from the object's.
    /// Returns whether it was written.
    async fn set_status(
        &self,
        o: &TenantObject,
        found: Findings<'_>,
        now: SystemTime,
    ) -> Result<bool, Error> {
        let new = status::status(o.status.as_ref(), o.metadata.generation, &found, now);
        if o.status.as_ref() == Some(&new) {
            return Ok(false);
        }
        let api: Api<TenantObject> = Api::all(self.cluster.client().clone());
        let name = o.name_any();
        // A merge patch: a field the new status leaves out is sent as null, so it goes.
        let mut body = serde_json::to_value(&new).map_err(|e| Error::Manifest {
            message: e.to_string(),
        })?;
        if let (Some(old), Some(fields)) = (
            o.status.as_ref().and_then(|s| serde_json::to_value(s).ok()),
            body.as_object_mut(),
        ) && let Some(old) = old.as_object()
        {
            for key in old.keys() {
                fields.entry(key.clone()).or_insert(serde_json::Value::Null);
            }
        }
        let patch = Patch::Merge(serde_json::json!({ "status": body }));
        let params = PatchParams::default();
        self.cluster
            .retry()
            .run(&format!("update tenant/{name} status"), || {
                api.patch_status(&name, &params, &patch)
            })
            .await?;
        Ok(true)
    }

    async fn secret_exists(&self, secret: &SecretRef, tenant: &Tenant) -> Result<bool, Error> {
        let found: Option<Secret> = self
            .cluster
            .get_namespaced(
                secret.namespace.as_deref().unwrap_or_default(),
                secret.name.as_deref().unwrap_or_default(),
            )
            .await?;
        Ok(found.is_some_and(|s| is_tenants(&s.metadata, tenant)))
    }

    /// Deletes the Secret if it is the one tenantctl keeps for `tenant`. Returns whether it
    /// was there.
    async fn delete_secret(&self, secret: &SecretRef, tenant: &Tenant) -> Result<bool, Error> {
        if !self.secret_exists(secret, tenant).await? {
            return Ok(false);
        }
        self.cluster
            .delete_namespaced::<Secret>(
                secret.namespace.as_deref().unwrap_or_default(),
                secret.name.as_deref().unwrap_or_default(),
                None,
            )
            .await
    }

    /// Publishes an event on the Tenant; a failure is only reported (events are best effort).
    async fn event(
        &self,
        o: &TenantObject,
        type_: EventType,
        reason: &str,
        action: &str,
        note: &str,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &o.object_ref(&())).await {
            output::message(&format!(
                "tenant/{}: event {reason} not recorded: {e}",
                o.name_any()
            ));
        }
    }
}

/// Where the Tenant's kubeconfig goes: `spec.kubeconfigSecret`, defaulted.
pub fn secret_ref(o: &TenantObject, namespace: &str) -> SecretRef {
    let given = o.spec.kubeconfig_secret.clone().unwrap_or_default();
    SecretRef {
        namespace: Some(given.namespace.unwrap_or_else(|| namespace.to_owned())),
        name: Some(
            given
                .name
                .unwrap_or_else(|| format!("tenant-{}-kubeconfig", o.name_any())),
        ),
    }
}

fn issued_message(done: &Reconciled, secret: &SecretRef) -> String {
    let until = done
        .record
        .as_ref()
        .and_then(TenantRecord::current_credential)
        .map(|c| format!(", valid until {}", c.not_after))
        .unwrap_or_default();
    format!(
        "kubeconfig in secret/{} in {}{until}",
        secret.name.as_deref().unwrap_or_default(),
        secret.namespace.as_deref().unwrap_or_default()
    )
}
