//! Access checks that respect the API server's eventual consistency.
//!
//! kube-apiserver's RBAC authorizer answers from informer caches: a RoleBinding applied a
//! moment ago is not yet visible to the next (Self)SubjectAccessReview, and under load the lag
//! reaches seconds. An access check after a write therefore polls with backoff until the
//! authorizer allows, within a bound, and tells the two ways it can end apart:
//!
//! - **denied**: an authorizer said `denied: true` (a webhook; RBAC never denies). Retrying
//!   cannot change that, so it ends at once.
//! - **not effective yet**: no authorizer allowed it within the bound. The binding may still
//!   take effect later; the message says how long it waited.

use std::{future::Future, time::Duration};

use tokio::time::{Instant, sleep};

use crate::error::Error;

/// The default `--verify-timeout`.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(30);

/// The first pause between two checks; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// One authorizer answer (the status of a SubjectAccessReview).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// `status.allowed`.
    pub allowed: bool,
    /// `status.denied`: an authorizer denied it outright.
    pub denied: bool,
    /// `status.reason` (or `evaluationError`), possibly empty.
    pub reason: String,
}

/// Asks `check` until it allows, with backoff, for at most `timeout`.
///
/// `what` names the access in errors ("alice may get configmaps in team-a although
/// ClusterRole/view allows it"). Returns how many checks it took.
pub async fn until_allowed<F, Fut>(
    what: &str,
    timeout: Duration,
    mut check: F,
) -> Result<u32, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Decision, Error>>,
{
    let start = Instant::now();
    let deadline = start + timeout;
    let mut pause = FIRST_PAUSE;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let d = check().await?;
        if d.allowed {
            return Ok(attempts);
        }
        if d.denied {
            return Err(Error::Verify {
                message: format!("denied: {what}{}", reason(&d)),
            });
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Verify {
                message: format!(
                    "not effective yet after {}: {what} (the binding exists, but the API server's authorizer has not allowed it; RBAC reads bindings from a cache, so raise --verify-timeout on a loaded server){}",
                    crate::time::humanize(timeout),
                    reason(&d)
                ),
            });
        }
        sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

fn reason(d: &Decision) -> String {
    if d.reason.is_empty() {
        String::new()
    } else {
        format!(" ({})", d.reason)
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, rc::Rc};

    use super::*;

    fn decision(allowed: bool, denied: bool) -> Decision {
        Decision {
            allowed,
            denied,
            reason: if denied {
                "webhook says no".into()
            } else {
                String::new()
            },
        }
    }

    #[tokio::test(start_paused = true)]
    async fn allowed_after_the_cache_catches_up() {
        let n = Rc::new(Cell::new(0));
        let calls = n.clone();
        let attempts = until_allowed("x", VERIFY_TIMEOUT, || {
            calls.set(calls.get() + 1);
            let allowed = calls.get() >= 4;
            async move { Ok(decision(allowed, false)) }
        })
        .await
        .unwrap();
        assert_eq!(attempts, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_denial_ends_at_once() {
        let n = Rc::new(Cell::new(0));
        let calls = n.clone();
        let err = until_allowed("alice may get pods", VERIFY_TIMEOUT, || {
            calls.set(calls.get() + 1);
            async { Ok(decision(false, true)) }
        })
        .await
        .unwrap_err()
        .to_string();
        assert_eq!(n.get(), 1);
        assert!(
            err.contains("denied: alice may get pods (webhook says no)"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn never_allowed_is_not_effective_yet_after_the_bound() {
        let start = Instant::now();
        let err = until_allowed("alice may get pods", Duration::from_secs(30), || async {
            Ok(decision(false, false))
        })
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("not effective yet after 30s: alice may get pods"),
            "{err}"
        );
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(30) && waited < Duration::from_secs(32),
            "{waited:?}"
        );
    }
}
