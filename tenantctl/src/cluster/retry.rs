//! Every cluster call goes through [`retry`]: a bounded number of attempts, each with a
//! timeout, backing off after transient failures.

use std::{future::Future, time::Duration};

use crate::error::Error;

/// How many times a call is tried before its error is reported.
pub const ATTEMPTS: u32 = 5;
/// How long one attempt may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `call` up to [`ATTEMPTS`] times, each within [`CALL_TIMEOUT`], backing off
/// 0.5 s, 1 s, 2 s, 4 s after a transient failure: 429, 500, 502, 503, 504, a timeout or a
/// connection error. Any other failure is returned at once.
pub async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut backoff = Duration::from_millis(500);
    for attempt in 1..=ATTEMPTS {
        let last = attempt == ATTEMPTS;
        match tokio::time::timeout(CALL_TIMEOUT, call()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) if !last && is_transient(&e) => {}
            Ok(Err(e)) => return Err(Error::kube(what, e)),
            Err(_elapsed) if !last => {}
            Err(_elapsed) => {
                return Err(Error::ApiTimeout {
                    what: what.to_owned(),
                    attempts: ATTEMPTS,
                });
            }
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
    Err(Error::ApiTimeout {
        what: what.to_owned(),
        attempts: ATTEMPTS,
    })
}

fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}
