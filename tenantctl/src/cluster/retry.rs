//! Every cluster call goes through [`Retry::run`]: a bounded number of attempts, each within
//! `--request-timeout`, all within `--timeout`, backing off after transient failures, and
//! saying on stderr each time it tries again.

use std::{
    fmt,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{error::Error, output, time::humanize};

/// How many times a call is tried before its error is reported.
pub const ATTEMPTS: u32 = 5;
/// How many of those may end in silence: a server that did not answer within the request
/// timeout twice is hung, not busy.
pub const SILENT_ATTEMPTS: u32 = 2;
/// `--request-timeout`'s default: how long one attempt may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Where retry lines go (stderr; a collector in tests).
pub type Report = Arc<dyn Fn(&str) + Send + Sync>;

/// The retry policy of one command.
#[derive(Clone)]
pub struct Retry {
    /// `--request-timeout`: the longest one attempt may take.
    pub request_timeout: Duration,
    /// `--timeout`: when the whole command gives up.
    pub deadline: Option<Instant>,
    /// Where "retrying …" lines go.
    pub report: Report,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            request_timeout: CALL_TIMEOUT,
            deadline: None,
            report: Arc::new(output::message),
        }
    }
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("request_timeout", &self.request_timeout)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Retry {
    /// The policy of `--request-timeout` and `--timeout` (counted from now).
    pub fn new(request_timeout: Duration, timeout: Option<Duration>) -> Self {
        Self {
            request_timeout,
            deadline: timeout.map(|t| Instant::now() + t),
            ..Self::default()
        }
    }

    /// Runs `call` up to [`ATTEMPTS`] times (at most [`SILENT_ATTEMPTS`] of them timing out),
    /// each within the request timeout and before the deadline, backing off 0.5 s, 1 s, 2 s,
    /// 4 s after a transient failure: 429, 500, 502, 503, 504, a timeout or a connection error.
    /// Any other failure is returned at once. `what` names the call (`get clusterrole/view`).
    pub async fn run<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut backoff = Duration::from_millis(500);
        let mut silent = 0;
        for attempt in 1..=ATTEMPTS {
            let budget = self.budget(what)?;
            let limit = self.request_timeout.min(budget);
            let reason = match tokio::time::timeout(limit, call()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) if is_transient(&e) => Failure::Transient(e),
                Ok(Err(e)) => return Err(Error::kube(what, e)),
                Err(_elapsed) => {
                    silent += 1;
                    Failure::Silent(limit)
                }
            };
            let last = attempt == ATTEMPTS || silent >= SILENT_ATTEMPTS;
            let out_of_time = self.deadline.is_some_and(|d| Instant::now() + backoff >= d);
            if last || out_of_time {
                return Err(match reason {
                    Failure::Transient(e) if !out_of_time => Error::kube(what, e),
                    Failure::Silent(limit) if !out_of_time => Error::ApiTimeout {
                        what: what.to_owned(),
                        attempts: attempt,
                        timeout: limit,
                    },
                    _ => self.deadline_passed(what),
                });
            }
            (self.report)(&format!(
                "retrying {what} in {} (attempt {}/{ATTEMPTS}): {reason}",
                humanize_short(backoff),
                attempt + 1
            ));
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
        Err(self.deadline_passed(what))
    }

    /// What is left of `--timeout`, or an error when nothing is.
    fn budget(&self, what: &str) -> Result<Duration, Error> {
        match self.deadline {
            None => Ok(Duration::MAX),
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(left),
                _ => Err(self.deadline_passed(what)),
            },
        }
    }

    fn deadline_passed(&self, what: &str) -> Error {
        Error::Deadline {
            what: what.to_owned(),
        }
    }
}

enum Failure {
    Transient(kube::Error),
    Silent(Duration),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transient(kube::Error::Api(s)) => write!(f, "{} {}", s.code, s.reason),
            Self::Transient(e) => write!(f, "{e}"),
            Self::Silent(limit) => write!(f, "timed out after {}", humanize_short(*limit)),
        }
    }
}

/// `500ms`, `2s`, `30s`, `1m`.
fn humanize_short(d: Duration) -> String {
    if d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else if d.subsec_millis() != 0 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        humanize(d)
    }
}

fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 429 | 500 | 502 | 503 | 504),
        // A connection error, unless TLS refused the server: its certificate will not change on
        // the next attempt.
        kube::Error::HyperError(_) | kube::Error::Service(_) => !is_tls_refusal(e),
        _ => false,
    }
}

fn is_tls_refusal(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
        {
            return true;
        }
        cause = c.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn collecting() -> (Retry, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let retry = Retry {
            report: Arc::new(move |l| sink.lock().unwrap().push(l.to_owned())),
            ..Retry::default()
        };
        (retry, lines)
    }

    fn unavailable() -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code: 503,
            reason: "ServiceUnavailable".into(),
            ..kube::core::Status::default()
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn each_retry_says_what_when_and_why() {
        let (retry, lines) = collecting();
        let mut n = 0;
        let got = retry
            .run("apply rolebinding/tenantctl:alice:view", || {
                n += 1;
                let n = n;
                async move {
                    match n {
                        1 => Err(unavailable()),
                        2 => std::future::pending().await,
                        _ => Ok(n),
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(got, 3);
        assert_eq!(
            *lines.lock().unwrap(),
            [
                "retrying apply rolebinding/tenantctl:alice:view in 500ms (attempt 2/5): 503 ServiceUnavailable",
                "retrying apply rolebinding/tenantctl:alice:view in 1s (attempt 3/5): timed out after 30s",
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_server_costs_two_request_timeouts() {
        let (mut retry, lines) = collecting();
        retry.request_timeout = Duration::from_secs(2);
        let started = tokio::time::Instant::now();
        let err = retry
            .run("list configmaps", || {
                std::future::pending::<Result<(), _>>()
            })
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "list configmaps: no answer within 2s, 2 attempts"
        );
        assert_eq!(started.elapsed(), Duration::from_millis(4_500));
        assert_eq!(lines.lock().unwrap().len(), 1);
    }
}
