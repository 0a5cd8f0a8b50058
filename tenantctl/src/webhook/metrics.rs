//! The webhook's Prometheus metrics: decisions by result, their latency, bad requests, and
//! the size of the index.

use std::{sync::atomic::AtomicI64, time::Duration};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Label {
    result: String,
}

/// Every metric, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    decisions: Family<Label, Counter>,
    bad: Family<Label, Counter>,
    latency: Histogram,
    revoked: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let decisions = Family::<Label, Counter>::default();
        registry.register(
            "tenantctl_webhook_decisions",
            "SubjectAccessReviews answered, by result (denied_credential, denied_user, no_opinion)",
            decisions.clone(),
        );
        let bad = Family::<Label, Counter>::default();
        registry.register(
            "tenantctl_webhook_bad_requests",
            "Requests refused, by reason (malformed, too_large, client_certificate, not_ready, tls)",
            bad.clone(),
        );
        let latency = Histogram::new([
            0.000_05, 0.0001, 0.000_25, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05,
        ]);
        registry.register(
            "tenantctl_webhook_decision_duration_seconds",
            "From request to answer, body read and decision",
            latency.clone(),
        );
        let revoked = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "tenantctl_webhook_revoked_credentials",
            "Revoked certificates in the index",
            revoked.clone(),
        );
        Self {
            registry,
            decisions,
            bad,
            latency,
            revoked,
        }
    }
}

impl Metrics {
    /// One review answered.
    pub fn decided(&self, result: &str, took: Duration) {
        self.decisions
            .get_or_create(&Label {
                result: result.to_owned(),
            })
            .inc();
        self.latency.observe(took.as_secs_f64());
    }

    /// One request refused.
    pub fn bad_request(&self, reason: &str) {
        self.bad
            .get_or_create(&Label {
                result: reason.to_owned(),
            })
            .inc();
    }

    /// The text exposition, with the index's size now.
    pub fn encode(&self, revoked: usize) -> String {
        self.revoked.set(i64::try_from(revoked).unwrap_or(i64::MAX));
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
