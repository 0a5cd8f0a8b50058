//! The controller's Prometheus metrics (text exposition on `--metrics-bind-address`).

use std::{sync::atomic::AtomicU64, time::Duration};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabel {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

/// Every metric, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    expiry: Family<TenantLabel, Gauge<f64, AtomicU64>>,
    reconciles: Family<ResultLabel, Counter>,
    errors: Counter,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// `tenantctl_tenant_credential_expiry_timestamp_seconds{tenant}`,
    /// `tenantctl_reconcile_total{result}`, `tenantctl_reconcile_errors_total`,
    /// `tenantctl_reconcile_duration_seconds`.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let expiry = Family::<TenantLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "tenantctl_tenant_credential_expiry_timestamp_seconds",
            "When each tenant's current credential expires (Unix time)",
            expiry.clone(),
        );
        let reconciles = Family::<ResultLabel, Counter>::default();
        registry.register(
            "tenantctl_reconcile",
            "Reconciles of Tenant objects, by result (created, updated, renewed, unchanged, refused, expired, deleted, failed)",
            reconciles.clone(),
        );
        let errors = Counter::default();
        registry.register(
            "tenantctl_reconcile_errors",
            "Reconciles that ended in an error (retried)",
            errors.clone(),
        );
        let duration = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ]);
        registry.register(
            "tenantctl_reconcile_duration_seconds",
            "How long a reconcile took",
            duration.clone(),
        );
        Self {
            registry,
            expiry,
            reconciles,
            errors,
            duration,
        }
    }

    /// One reconcile ended with `result` after `took`.
    pub fn reconciled(&self, result: &str, took: Duration) {
        self.reconciles
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// One reconcile failed.
    pub fn failed(&self) {
        self.errors.inc();
    }

    /// The tenant's current credential ends at `unix_secs`; `None`: it has none (any more).
    pub fn expiry(&self, tenant: &str, unix_secs: Option<f64>) {
        let label = TenantLabel {
            tenant: tenant.to_owned(),
        };
        match unix_secs {
            Some(t) => {
                self.expiry.get_or_create(&label).set(t);
            }
            None => {
                self.expiry.remove(&label);
            }
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_documented() {
        let m = Metrics::new();
        m.expiry("alice", Some(1.9e9));
        m.expiry("bob", Some(2.0e9));
        m.expiry("bob", None);
        m.reconciled("created", Duration::from_millis(20));
        m.failed();
        let text = m.encode();
        for line in [
            "tenantctl_tenant_credential_expiry_timestamp_seconds{tenant=\"alice\"} 1900000000.0",
            "tenantctl_reconcile_total{result=\"created\"} 1",
            "tenantctl_reconcile_errors_total 1",
            "tenantctl_reconcile_duration_seconds_count 1",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(!text.contains("bob"), "{text}");
    }
}
