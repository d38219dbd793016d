//! What every reconcile shares: the client, the caches the watches fill, what this process
//! last wrote, and the operator's settings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::runtime::reflector::Store;
use municipio_crds::MunicipalityTenantStatus;

use super::events::Events;
use super::inventory::Inventory;
use super::pod_security;
use crate::children;
use crate::config::OperatorConfig;
use crate::health::Health;
use crate::metrics::Metrics;

/// Retry after a failed reconcile: doubling from the first delay up to the last, per tenant.
const ERROR_BACKOFF: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(300));

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub config: OperatorConfig,
    pub events: Events,
    /// The source Secrets of the operator namespace, kept by their watch: no read per reconcile.
    pub(super) source_secrets: Store<Secret>,
    /// True once the first list of the source Secrets is in: until then a Secret would look
    /// missing.
    pub(super) source_secrets_listed: tokio::sync::watch::Receiver<bool>,
    /// Consecutive failed reconciles per tenant, for the error backoff.
    pub(super) failures: Mutex<HashMap<String, u32>>,
    /// When this process last wrote each tenant Secret (`namespace/name`), and with which keys
    /// version.
    pub(super) secret_writes: Mutex<HashMap<String, SecretWrite>>,
    /// Which children exist, from their metadata watches.
    pub(super) inventory: Arc<Inventory>,
    /// The status this process last wrote to each tenant (by name, with the tenant's uid).
    pub(super) statuses: Mutex<HashMap<String, (String, MunicipalityTenantStatus)>>,
    pub(super) secret_resync: Duration,
    /// Whether the cluster enforces tenant namespaces' Pod Security level.
    pub(super) pod_security: pod_security::PodSecurity,
    /// A tenant is Ready only where it is (`--require-pod-security`).
    pub(super) require_pod_security: bool,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// IO's manage API, if the operator was given it.
    pub io: Option<Arc<super::io::IoPlatform>>,
}

impl Context {
    /// The delay before retrying a tenant that just failed, `failures` times in a row.
    pub(super) fn backoff(failures: u32) -> Duration {
        let (first, last) = ERROR_BACKOFF;
        first
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)))
            .min(last)
    }

    pub(super) fn failed(&self, tenant: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(tenant.to_owned()).or_default();
        *n = n.saturating_add(1);
        Self::backoff(*n)
    }

    /// This process's last write of the Secret. One it has not written (a restart, a new
    /// leader) counts as written, with no known version, at a moment spread over the last
    /// resync period by its name: status tells whether it is current, so the new leader does
    /// not write every Secret at once, and frequent restarts still cannot postpone a resync
    /// for ever.
    pub(super) fn last_secret_write(&self, namespace: &str, name: &str) -> SecretWrite {
        let key = format!("{namespace}/{name}");
        let mut writes = self.secret_writes.lock().unwrap_or_else(|e| e.into_inner());
        let resync = self.secret_resync;
        writes
            .entry(key.clone())
            .or_insert_with(|| {
                let ago = children::metadata::spread(&key, resync);
                SecretWrite {
                    at: Instant::now().checked_sub(ago).unwrap_or_else(Instant::now),
                    keys_version: None,
                }
            })
            .clone()
    }

    pub(super) fn secret_written(&self, namespace: &str, name: &str, keys_version: Option<String>) {
        let mut writes = self.secret_writes.lock().unwrap_or_else(|e| e.into_inner());
        let write = SecretWrite {
            at: Instant::now(),
            keys_version,
        };
        writes.insert(format!("{namespace}/{name}"), write);
    }

    /// The status this process last wrote to the tenant, if it is still the same object.
    pub(super) fn last_status(&self, name: &str, uid: &str) -> Option<MunicipalityTenantStatus> {
        let statuses = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        statuses
            .get(name)
            .filter(|(u, _)| u == uid)
            .map(|(_, s)| s.clone())
    }

    pub(super) fn status_written(&self, name: &str, uid: &str, status: MunicipalityTenantStatus) {
        let mut statuses = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        statuses.insert(name.to_owned(), (uid.to_owned(), status));
    }

    pub(super) fn forget_status(&self, name: &str) {
        let mut statuses = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        statuses.remove(name);
    }

    pub(super) fn succeeded(&self, tenant: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(tenant);
    }
}

/// A tenant Secret this process wrote.
#[derive(Clone)]
pub(super) struct SecretWrite {
    pub(super) at: Instant,
    pub(super) keys_version: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_backoff_doubles_up_to_five_minutes() {
        let delays: Vec<u64> = (1..=8).map(|n| Context::backoff(n).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(Context::backoff(u32::MAX).as_secs(), 300);
    }
}
