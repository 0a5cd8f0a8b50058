//! A Tenant's status from what the reconcile found, and when to look again. Pure: the
//! controller writes the status only when this differs from what the object has, so a
//! reconcile at rest writes nothing.

use std::time::{Duration, SystemTime};

use crate::{
    tenant::{Condition, CredentialStatus, Phase, SecretRef, TenantRecord, TenantStatus},
    time::rfc3339,
};

/// The condition type the controller sets.
pub(super) const READY: &str = "Ready";

/// Why a Tenant is (not) Ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reason {
    /// Its credential is issued and handed out, its bindings in place.
    Issued,
    /// A guardrail or the cluster refuses it as written; nothing was issued or changed.
    Refused,
    /// `expiresAt` has passed: bindings and Secret removed, record revoked.
    Expired,
    /// A step failed; retried.
    Failed,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "Issued",
            Self::Refused => "Refused",
            Self::Expired => "Expired",
            Self::Failed => "Failed",
        }
    }
}

/// What a reconcile found, for the status.
#[derive(Clone, Copy, Debug)]
pub(super) struct Findings<'a> {
    /// The user name.
    pub(super) user: Option<&'a str>,
    /// Ready's reason.
    pub(super) reason: Reason,
    /// For people.
    pub(super) message: &'a str,
    /// The tenant's record.
    pub(super) record: Option<&'a TenantRecord>,
    /// Where its kubeconfig is.
    pub(super) secret: Option<&'a SecretRef>,
    /// When its credential is renewed.
    pub(super) next_renewal: Option<SystemTime>,
}

/// The status for what was found, keeping `old`'s transition time when the condition's status
/// does not change.
pub(super) fn status(
    old: Option<&TenantStatus>,
    generation: Option<i64>,
    found: &Findings<'_>,
    now: SystemTime,
) -> TenantStatus {
    let Findings {
        user,
        reason,
        message,
        record,
        secret,
        next_renewal,
    } = *found;
    let ready = if reason == Reason::Issued {
        "True"
    } else {
        "False"
    };
    let old_ready = old.and_then(|s| s.conditions.iter().find(|c| c.type_ == READY));
    let last_transition_time = match old_ready {
        Some(c) if c.status == ready => c.last_transition_time.clone(),
        _ => rfc3339(now),
    };
    let credential = record
        .filter(|r| r.phase == Phase::Active && reason == Reason::Issued)
        .and_then(TenantRecord::current_credential)
        .map(|c| CredentialStatus {
            kind: c.kind.to_string(),
            serial: c.serial.clone(),
            sha256: c.sha256.clone(),
            not_after: c.not_after.clone(),
            issuer_key_id: c.issuer_key_id.clone(),
        });
    TenantStatus {
        conditions: vec![Condition {
            type_: READY.into(),
            status: ready.into(),
            reason: reason.as_str().into(),
            message: truncate(message, 1024),
            last_transition_time,
            observed_generation: generation,
        }],
        observed_generation: generation,
        user: user.map(str::to_owned),
        kubeconfig_secret_ref: secret.filter(|_| credential.is_some()).cloned(),
        next_renewal: next_renewal.filter(|_| credential.is_some()).map(rfc3339),
        credential,
    }
}

/// When the credential of `record` is to be renewed: `renew_before` ahead of its end.
pub(super) fn next_renewal(record: &TenantRecord, renew_before: Duration) -> Option<SystemTime> {
    let end = record.current_credential()?.expires()?;
    Some(
        end.checked_sub(renew_before)
            .unwrap_or(SystemTime::UNIX_EPOCH),
    )
}

/// How long until the next thing to do: the renewal or the expiry, whichever is first; none
/// when neither is set. At least a second, so a time just passed is handled promptly, not in
/// a tight loop.
pub(super) fn requeue_after(
    next_renewal: Option<SystemTime>,
    expires_at: Option<SystemTime>,
    now: SystemTime,
) -> Option<Duration> {
    let next = match (next_renewal, expires_at) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    Some(
        next.duration_since(now)
            .unwrap_or_default()
            .max(Duration::from_secs(1)),
    )
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::{AuthKind, CredentialRecord};

    fn record(not_after: &str) -> TenantRecord {
        let mut c = CredentialRecord::token(SystemTime::UNIX_EPOCH, SystemTime::UNIX_EPOCH);
        c.kind = AuthKind::Cert;
        c.serial = Some("0a".into());
        c.sha256 = Some("AA:BB".into());
        c.not_after = not_after.into();
        TenantRecord::fixture("alice", Phase::Active, vec![c])
    }

    #[test]
    fn the_same_findings_give_the_same_status_so_nothing_is_written() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let r = record("2026-02-01T00:00:00Z");
        let secret = SecretRef {
            namespace: Some("ns".into()),
            name: Some("s".into()),
        };
        let next = next_renewal(&r, Duration::from_secs(86_400));
        let first = status(
            None,
            Some(1),
            &Findings {
                user: Some("alice"),
                reason: Reason::Issued,
                message: "",
                record: Some(&r),
                secret: Some(&secret),
                next_renewal: next,
            },
            now,
        );
        assert_eq!(first.next_renewal.as_deref(), Some("2026-01-31T00:00:00Z"));
        assert_eq!(
            first.credential.as_ref().unwrap().serial.as_deref(),
            Some("0a")
        );
        let later = now + Duration::from_secs(3600);
        let again = status(
            Some(&first),
            Some(1),
            &Findings {
                user: Some("alice"),
                reason: Reason::Issued,
                message: "",
                record: Some(&r),
                secret: Some(&secret),
                next_renewal: next,
            },
            later,
        );
        assert_eq!(first, again);
        let expired = status(
            Some(&first),
            Some(1),
            &Findings {
                user: Some("alice"),
                reason: Reason::Expired,
                message: "expiresAt passed",
                record: Some(&r),
                secret: Some(&secret),
                next_renewal: next,
            },
            later,
        );
        assert_eq!(expired.conditions[0].status, "False");
        assert_ne!(
            expired.conditions[0].last_transition_time,
            first.conditions[0].last_transition_time
        );
        assert!(expired.credential.is_none() && expired.kubeconfig_secret_ref.is_none());
    }

    #[test]
    fn requeue_at_the_first_of_renewal_and_expiry() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let at = |s| Some(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(
            requeue_after(at(160), at(130), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            requeue_after(at(50), None, now),
            Some(Duration::from_secs(1))
        );
        assert_eq!(requeue_after(None, None, now), None);
    }
}
