//! `tenantctl revoke`: a whole tenant (bindings and ServiceAccount deleted, record and every
//! credential marked) or one certificate of a tenant that stays active (`--credential`, a
//! leaked kubeconfig). Then what still holds, said plainly: with the revocation webhook in the
//! API server (checked with a SubjectAccessReview carrying the certificate's credential id), a
//! revoked certificate is denied from now on; without it, it authenticates until it expires.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::ServiceAccount;
use serde::Serialize;

use super::{
    AuthKind, Binding, BindingRef, CredentialRecord, Phase, Tenant, TenantRecord,
    ledger::{self, Stored},
    rollback::delete_binding,
};
use crate::{
    cli::{Format, RevokeArgs},
    cluster::{self, Cluster},
    error::Error,
    output::{Output, progress, say},
    time::rfc3339,
};

/// How often `revoke` asks whether the revocation webhook denies a revoked certificate, a
/// quarter second apart: its index follows the ledger within milliseconds, and the API server
/// may hold an earlier "no opinion" for a second. Without a webhook this is the 2 s `revoke`
/// spends before its warning.
const WEBHOOK_ASKS: u32 = 9;

/// What `revoke -o json|yaml` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Revoked<'a> {
    /// The record, marked revoked.
    record: &'a TenantRecord,
    /// Certificates that still authenticate until they expire (not denied by the webhook).
    still_authenticating: Vec<&'a CredentialRecord>,
    /// Revoked certificates the API server denies from now on (the revocation webhook).
    denied_by_webhook: Vec<&'a CredentialRecord>,
    /// Bindings that still grant something to the user or its groups.
    still_granting: Vec<String>,
}

/// `tenantctl revoke USER [--credential SERIAL]`.
pub fn revoke(args: &RevokeArgs, out: &mut Output<'_>) -> Result<(), Error> {
    cluster::block_on(async {
        let cluster = args.cluster.open().await?.0;
        match &args.credential {
            Some(serial) => revoke_credential(&cluster, &args.user, serial, args.output, out).await,
            None => revoke_online(&cluster, &args.user, args.output, out).await,
        }
    })
}

/// Revokes one certificate of an active tenant: marked in the record (the webhook denies it
/// from then on), the tenant and its other credentials untouched.
pub async fn revoke_credential(
    cluster: &Cluster,
    user: &str,
    serial: &str,
    format: Format,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let now = SystemTime::now();
    let (tenant, stored) = ledger::find(cluster, user).await?;
    let norm = |s: &str| {
        s.replace(':', "")
            .trim_start_matches('0')
            .to_ascii_lowercase()
    };
    let wanted = norm(serial);
    let same = move |c: &CredentialRecord| c.serial.as_deref().is_some_and(|s| norm(s) == wanted);
    let Some(found) = stored.record.credentials.iter().find(|c| same(c)) else {
        return Err(Error::Record {
            user: user.to_owned(),
            message: format!(
                "no certificate with serial {serial}; `tenantctl show {user}` lists them"
            ),
        });
    };
    if found.kind != AuthKind::Cert {
        return Err(Error::Record {
            user: user.to_owned(),
            message: "only a certificate can be revoked alone; revoke the tenant to end a token"
                .into(),
        });
    }
    let stamp = rfc3339(now);
    let stored = if found.revoked.is_some() {
        progress!(out, "certificate {serial} was revoked already");
        stored
    } else {
        ledger::update(cluster, &tenant, stored, |r| {
            for c in r.credentials.iter_mut().filter(|c| same(c)) {
                c.revoked.get_or_insert(stamp.clone());
            }
            Ok(())
        })
        .await?
    };
    let record = &stored.record;
    let revoked: Vec<&CredentialRecord> = record.credentials.iter().filter(|c| same(c)).collect();
    if record.current_credential().is_none() && record.phase == Phase::Active {
        out.note(format_args!(
            "{user} has no unrevoked credential left; `tenantctl renew {user}` issues a new one"
        ));
    }
    report(cluster, record, &tenant, revoked, now, format, out).await
}

/// Says what still holds after a revocation of `revoked` (certificates of `record`), after
/// asking the API server whether the webhook denies them.
async fn report(
    cluster: &Cluster,
    record: &TenantRecord,
    tenant: &Tenant,
    revoked: Vec<&CredentialRecord>,
    now: SystemTime,
    format: Format,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let live: Vec<&CredentialRecord> = revoked
        .into_iter()
        .filter(|c| c.kind == AuthKind::Cert && c.expires().is_some_and(|end| end > now))
        .collect();
    let mut denied = Vec::new();
    let mut still = Vec::new();
    for c in live {
        if webhook_denies(cluster, record, c).await {
            denied.push(c);
        } else {
            still.push(c);
        }
    }
    if !denied.is_empty() {
        progress!(
            out,
            "{} revoked certificate(s) of {} denied by the API server from now on (the revocation webhook)",
            denied.len(),
            record.user
        );
    }
    let grants = if still.is_empty() {
        Vec::new()
    } else {
        out.warning(format_args!(
            "Kubernetes cannot revoke client certificates and no revocation webhook denies them: {} still authenticate(s) as {}{} until it expires (see `tenantctl webhook setup`)",
            still.len(),
            record.user,
            if record.groups.is_empty() {
                String::new()
            } else {
                format!(" with groups {}", record.groups.join(", "))
            }
        ));
        cluster
            .bindings_granting(&record.user, &record.groups)
            .await?
    };
    let result = Revoked {
        record,
        still_authenticating: still,
        denied_by_webhook: denied,
        still_granting: grants,
    };
    out.document(format, &result, |out, r| {
        say!(
            out,
            "{} of tenant {} marked revoked in configmap/{}",
            if r.record.phase == Phase::Revoked {
                "every credential"
            } else {
                "the certificate"
            },
            r.record.user,
            tenant.record_name()
        );
        for c in &r.denied_by_webhook {
            say!(
                out,
                "  serial {}  denied by the API server from now on",
                c.serial.as_deref().unwrap_or("?")
            );
        }
        if r.still_authenticating.is_empty() {
            return Ok(());
        }
        say!(
            out,
            "These certificates still authenticate as {} until they expire:",
            r.record.user
        );
        for c in &r.still_authenticating {
            say!(
                out,
                "  serial {}  sha256 {}  until {}",
                c.serial.as_deref().unwrap_or("?"),
                c.sha256.as_deref().unwrap_or("?"),
                c.not_after
            );
        }
        if r.still_granting.is_empty() {
            say!(
                out,
                "No binding grants anything to {} or its groups any more (only what every authenticated user may do).",
                r.record.user
            );
        } else {
            say!(
                out,
                "These bindings still grant to {} or its groups; remove them, or rotate the CA, to cut access now:",
                r.record.user
            );
            for g in &r.still_granting {
                say!(out, "  {g}");
            }
        }
        Ok(())
    })
}

/// The API server's authorizers deny this certificate with the revocation webhook's reason
/// (asked as a SubjectAccessReview carrying its credential id), [`WEBHOOK_ASKS`] times. Any
/// failure to ask is "no": the warning is then the honest answer.
async fn webhook_denies(cluster: &Cluster, record: &TenantRecord, c: &CredentialRecord) -> bool {
    let Some(sha) = c.sha256.as_deref() else {
        return false;
    };
    let hex = sha.replace(':', "").to_ascii_lowercase();
    let mut groups = record.groups.clone();
    groups.push("system:authenticated".into());
    for attempt in 1..=WEBHOOK_ASKS {
        match cluster.denies_credential(&record.user, &groups, &hex).await {
            Ok(Some(reason)) if reason.starts_with("tenantctl: revoked") => return true,
            Ok(_) if attempt < WEBHOOK_ASKS => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            _ => return false,
        }
    }
    false
}

/// Revokes a tenant: deletes its bindings and ServiceAccount (its bound tokens stop working
/// now), then marks the record and every credential revoked. Returns the record and what was
/// deleted.
pub(super) async fn revoke_stored(
    cluster: &Cluster,
    tenant: &Tenant,
    stored: Stored,
    now: SystemTime,
    reason: Option<&str>,
) -> Result<(Stored, Vec<String>), Error> {
    let mut deleted = Vec::new();
    for b in &stored.record.bindings {
        let binding = binding_stub(b);
        delete_binding(cluster, &binding, None).await?;
        deleted.push(binding.describe());
    }
    if let (Some(sa), Some(ns)) = (&stored.record.service_account, &stored.record.namespace) {
        cluster
            .delete_namespaced::<ServiceAccount>(ns, sa, None)
            .await?;
        deleted.push(format!(
            "serviceaccount/{sa} in {ns} (its bound tokens stop working now)"
        ));
    }
    let stamp = rfc3339(now);
    // Re-applied to a fresh read on a conflict: a credential a concurrent renew added is marked
    // too.
    let stored = ledger::update(cluster, tenant, stored, |r| {
        r.phase = Phase::Revoked;
        r.revoked.get_or_insert(stamp.clone());
        if r.revoked_reason.is_none() {
            r.revoked_reason = reason.map(str::to_owned);
        }
        for c in &mut r.credentials {
            c.revoked.get_or_insert(stamp.clone());
        }
        Ok(())
    })
    .await?;
    Ok((stored, deleted))
}

/// The revoke flow on any client: delete the bindings and the ServiceAccount, mark the record
/// revoked, and say plainly what still authenticates and what still grants access.
pub async fn revoke_online(
    cluster: &Cluster,
    user: &str,
    format: Format,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let now = SystemTime::now();
    let (tenant, stored) = ledger::find(cluster, user).await?;
    let (stored, deleted) = revoke_stored(cluster, &tenant, stored, now, None).await?;
    for what in deleted {
        progress!(out, "{what} deleted");
    }
    let record = &stored.record;
    if record.created_namespace {
        out.note(format_args!(
            "namespace {} (created for this tenant) is kept; delete it yourself if its contents can go",
            record.namespace.as_deref().unwrap_or_default()
        ));
    }
    let revoked: Vec<&CredentialRecord> = record.credentials.iter().collect();
    report(cluster, record, &tenant, revoked, now, format, out).await
}

fn binding_stub(b: &BindingRef) -> Binding {
    use k8s_openapi::{
        api::rbac::v1::{ClusterRoleBinding, RoleBinding},
        apimachinery::pkg::apis::meta::v1::ObjectMeta,
    };
    let metadata = ObjectMeta {
        name: Some(b.name.clone()),
        namespace: b.namespace.clone(),
        ..ObjectMeta::default()
    };
    match &b.namespace {
        Some(_) => Binding::Namespaced(RoleBinding {
            metadata,
            ..RoleBinding::default()
        }),
        None => Binding::Cluster(ClusterRoleBinding {
            metadata,
            ..ClusterRoleBinding::default()
        }),
    }
}
