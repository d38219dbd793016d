//! Prometheus metrics of one replica, served on `/metrics` (see [`crate::http`]).
//!
//! Every family is registered once here, with the `municipio_` prefix; the controller, the
//! webhook and the leader election record into them through the methods below.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How a reconcile ended: the outcome written to the tenant's status, or an error.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // label values as Prometheus users write them
pub enum ReconcileResult {
    ready,
    progressing,
    blocked,
    stalled,
    suspended,
    error,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: ReconcileResult,
}

/// The tenant conditions counted by `municipio_tenants`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Condition {
    Ready,
    Stalled,
    Suspended,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabel {
    condition: Condition,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WatchLabel {
    watch: &'static str,
}

/// What the webhook answered.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum AdmissionResult {
    allowed,
    denied,
    error,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AdmissionLabel {
    result: AdmissionResult,
}

/// One call to a national platform: which, what for, and how it ended (`ok`, `not_found`, or
/// the reason of the error).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlatformCallLabel {
    platform: &'static str,
    operation: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlatformLabel {
    platform: &'static str,
}

/// Where each tenant stands, by name: what `municipio_tenants` counts.
#[derive(Clone, Copy, Default, PartialEq)]
pub struct TenantConditions {
    pub ready: bool,
    pub stalled: bool,
    pub suspended: bool,
}

pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    reconcile_duration: Histogram,
    in_flight: Gauge,
    tenants: Family<ConditionLabel, Gauge>,
    tenants_managed: Gauge,
    tenant_conditions: Mutex<HashMap<String, TenantConditions>>,
    watch_errors: Family<WatchLabel, Counter>,
    admissions: Family<AdmissionLabel, Counter>,
    admission_duration: Histogram,
    leader: Gauge,
    pod_security_enforced: Gauge,
    platform_calls: Family<PlatformCallLabel, Counter>,
    platform_failing: Family<PlatformLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("municipio");
        let reconciles = Family::<ResultLabel, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles completed, by result (the outcome written to status, or error)",
            reconciles.clone(),
        );
        // From 5 ms to about 20 s: a converged tenant costs a few reads, a new one some writes.
        let reconcile_duration = Histogram::new(exponential_buckets(0.005, 2.0, 13));
        registry.register(
            "reconcile_duration_seconds",
            "How long a reconcile took",
            reconcile_duration.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "reconciles_in_flight",
            "Reconciles running now",
            in_flight.clone(),
        );
        let tenants = Family::<ConditionLabel, Gauge>::default();
        registry.register(
            "tenants",
            "Tenants managed by this replica whose condition is true (Ready, Stalled) or that are suspended",
            tenants.clone(),
        );
        let tenants_managed = Gauge::default();
        registry.register(
            "tenants_managed",
            "Tenants this replica manages (the leader: every tenant of its selector)",
            tenants_managed.clone(),
        );
        let watch_errors = Family::<WatchLabel, Counter>::default();
        registry.register(
            "watch_errors",
            "Watch failures, after each of which the watch restarts with backoff",
            watch_errors.clone(),
        );
        let admissions = Family::<AdmissionLabel, Counter>::default();
        registry.register(
            "webhook_requests",
            "Admission reviews answered, by result",
            admissions.clone(),
        );
        let admission_duration = Histogram::new(exponential_buckets(0.0005, 2.0, 12));
        registry.register(
            "webhook_request_duration_seconds",
            "How long an admission review took to decide",
            admission_duration.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease and runs the controller",
            leader.clone(),
        );
        let pod_security_enforced = Gauge::default();
        registry.register(
            "pod_security_enforced",
            "1 when the cluster enforces the Pod Security level of tenant namespaces, 0 when it does not (a privileged pod would run there), -1 until the controller has found out",
            pod_security_enforced.clone(),
        );
        pod_security_enforced.set(-1);
        let platform_calls = Family::<PlatformCallLabel, Counter>::default();
        registry.register(
            "platform_calls",
            "Calls to a national platform's API, by platform, operation and result (ok, not_found, or the error's reason)",
            platform_calls.clone(),
        );
        let platform_failing = Family::<PlatformLabel, Gauge>::default();
        registry.register(
            "platform_tenants_failing",
            "Tenants whose last sync with a national platform failed (an outage shows here, and on each tenant's status)",
            platform_failing.clone(),
        );
        for condition in [Condition::Ready, Condition::Stalled, Condition::Suspended] {
            tenants.get_or_create(&ConditionLabel { condition }).set(0);
        }
        Self {
            registry,
            reconciles,
            reconcile_duration,
            in_flight,
            tenants,
            tenants_managed,
            tenant_conditions: Mutex::default(),
            watch_errors,
            admissions,
            admission_duration,
            leader,
            pod_security_enforced,
            platform_calls,
            platform_failing,
        }
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// Counts a reconcile from now until the returned guard is dropped (on every exit path).
    pub fn reconcile_started(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight {
            metrics: self,
            started: Instant::now(),
        }
    }

    pub fn reconciled(&self, result: ReconcileResult) {
        self.reconciles.get_or_create(&ResultLabel { result }).inc();
    }

    /// Records where tenant `name` stands now (`None`: it is gone).
    pub fn tenant(&self, name: &str, conditions: Option<TenantConditions>) {
        let mut all = self
            .tenant_conditions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match conditions {
            Some(c) => all.insert(name.to_owned(), c),
            None => all.remove(name),
        };
        self.tenants_managed
            .set(i64::try_from(all.len()).unwrap_or(i64::MAX));
        let count = |pick: fn(&TenantConditions) -> bool| {
            i64::try_from(all.values().filter(|c| pick(c)).count()).unwrap_or(i64::MAX)
        };
        for (condition, n) in [
            (Condition::Ready, count(|c| c.ready)),
            (Condition::Stalled, count(|c| c.stalled)),
            (Condition::Suspended, count(|c| c.suspended)),
        ] {
            self.tenants
                .get_or_create(&ConditionLabel { condition })
                .set(n);
        }
    }

    /// Makes the failure count of `watch` visible (at zero) from the start, so that an alert
    /// on its increase sees a series.
    pub fn watch_started(&self, watch: &'static str) {
        let _ = self.watch_errors.get_or_create(&WatchLabel { watch });
    }

    pub fn watch_error(&self, watch: &'static str) {
        self.watch_errors.get_or_create(&WatchLabel { watch }).inc();
    }

    pub fn admission(&self, result: AdmissionResult, started: Instant) {
        self.admissions
            .get_or_create(&AdmissionLabel { result })
            .inc();
        self.admission_duration
            .observe(started.elapsed().as_secs_f64());
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    pub fn pod_security_enforced(&self, enforced: bool) {
        self.pod_security_enforced.set(i64::from(enforced));
    }

    pub fn platform_call(
        &self,
        platform: &'static str,
        operation: &'static str,
        result: &'static str,
    ) {
        let label = PlatformCallLabel {
            platform,
            operation,
            result,
        };
        self.platform_calls.get_or_create(&label).inc();
    }

    pub fn platform_failing(&self, platform: &'static str, tenants: usize) {
        self.platform_failing
            .get_or_create(&PlatformLabel { platform })
            .set(i64::try_from(tenants).unwrap_or(i64::MAX));
    }
}

/// A reconcile in flight; its duration is recorded when dropped.
pub struct InFlight<'a> {
    metrics: &'a Metrics,
    started: Instant,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.metrics.in_flight.dec();
        self.metrics
            .reconcile_duration
            .observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_exposed_with_its_prefix() {
        let metrics = Metrics::new();
        {
            let _running = metrics.reconcile_started();
            metrics.reconciled(ReconcileResult::ready);
        }
        metrics.tenant(
            "modena",
            Some(TenantConditions {
                ready: true,
                ..Default::default()
            }),
        );
        metrics.tenant(
            "milano",
            Some(TenantConditions {
                stalled: true,
                ..Default::default()
            }),
        );
        metrics.watch_error("tenants");
        metrics.admission(AdmissionResult::denied, Instant::now());
        metrics.set_leader(true);
        let text = metrics.encode();
        for line in [
            "municipio_reconciles_total{result=\"ready\"} 1",
            "municipio_reconcile_duration_seconds_count 1",
            "municipio_reconciles_in_flight 0",
            "municipio_tenants{condition=\"Ready\"} 1",
            "municipio_tenants{condition=\"Stalled\"} 1",
            "municipio_tenants{condition=\"Suspended\"} 0",
            "municipio_tenants_managed 2",
            "municipio_watch_errors_total{watch=\"tenants\"} 1",
            "municipio_webhook_requests_total{result=\"denied\"} 1",
            "municipio_webhook_request_duration_seconds_count 1",
            "municipio_leader 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        metrics.tenant("milano", None);
        assert!(
            metrics
                .encode()
                .contains("municipio_tenants{condition=\"Stalled\"} 0")
        );
    }
}
