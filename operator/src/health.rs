//! What `/readyz` and `/livez` answer.
//!
//! Ready: what the Service routes to this pod works, the webhook (when this process serves
//! it: certificate and caches), and the pod is not shutting down. The controller does not
//! count: a leader waiting for its caches still answers admission reviews, and with a single
//! replica, leaving the Service would keep anyone from fixing a tenant. Live: no reconcile has
//! been running for [`STUCK_AFTER`] without any finishing, and a leader has its caches within
//! [`SYNC_DEADLINE`]: a wedged controller is restarted by the kubelet (and its Lease goes to a
//! standby) rather than left looking healthy.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Reconciles are abandoned after two minutes; this is a backstop beyond it.
pub const STUCK_AFTER: Duration = Duration::from_secs(300);
/// How long a new leader may take to list the tenants and the source Secrets.
pub const SYNC_DEADLINE: Duration = Duration::from_secs(300);

pub struct Health {
    webhook_expected: AtomicBool,
    webhook_serving: AtomicBool,
    draining: AtomicBool,
    /// Since when this replica leads, while its controller's caches are not filled.
    leading_unsynced_since: Mutex<Option<Instant>>,
    leading: AtomicBool,
    in_flight: AtomicI64,
    abandoned: AtomicU64,
    /// When a reconcile last started or completed.
    last_progress: Mutex<Instant>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            webhook_expected: AtomicBool::new(false),
            webhook_serving: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            leading_unsynced_since: Mutex::new(None),
            leading: AtomicBool::new(false),
            in_flight: AtomicI64::new(0),
            abandoned: AtomicU64::new(0),
            last_progress: Mutex::new(Instant::now()),
        }
    }
}

impl Health {
    /// This process serves the webhook: not ready until it does.
    pub fn expect_webhook(&self) {
        self.webhook_expected.store(true, Ordering::SeqCst);
    }

    pub fn webhook_serving(&self) {
        self.webhook_serving.store(true, Ordering::SeqCst);
    }

    /// Shutting down: out of the Service's endpoints while requests in flight finish.
    pub fn draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// This replica leads (runs the controller) from now on.
    pub fn leading(&self) {
        self.leading.store(true, Ordering::SeqCst);
        let mut since = self
            .leading_unsynced_since
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        since.get_or_insert_with(Instant::now);
    }

    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    pub fn controller_synced(&self) {
        *self
            .leading_unsynced_since
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub fn reconcile_started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.progressed();
    }

    /// Reconciles running now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Reconciles dropped before they completed (a stop that did not wait for them).
    pub fn abandoned(&self) -> u64 {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// A reconcile ended: `completed`, or abandoned half-way.
    pub fn reconcile_finished(&self, completed: bool) {
        if !completed {
            self.abandoned.fetch_add(1, Ordering::SeqCst);
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.progressed();
    }

    fn progressed(&self) {
        *self.last_progress.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    pub fn ready(&self) -> Result<(), String> {
        if self.draining.load(Ordering::SeqCst) {
            return Err("shutting down".into());
        }
        if self.webhook_expected.load(Ordering::SeqCst)
            && !self.webhook_serving.load(Ordering::SeqCst)
        {
            return Err("the webhook is not serving yet (certificate or caches)".into());
        }
        Ok(())
    }

    pub fn live(&self) -> Result<(), String> {
        self.live_at(Instant::now())
    }

    fn live_at(&self, now: Instant) -> Result<(), String> {
        let unsynced = *self
            .leading_unsynced_since
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(since) = unsynced
            && now.saturating_duration_since(since) > SYNC_DEADLINE
        {
            return Err(format!(
                "leading for {}s without the tenants and source Secrets listed",
                now.saturating_duration_since(since).as_secs()
            ));
        }
        let last = *self.last_progress.lock().unwrap_or_else(|e| e.into_inner());
        let idle = now.saturating_duration_since(last);
        if self.in_flight.load(Ordering::SeqCst) > 0 && idle > STUCK_AFTER {
            return Err(format!(
                "reconciles have been running for {}s without any finishing",
                idle.as_secs()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_when_the_webhook_serves_and_not_shutting_down() {
        let health = Health::default();
        assert!(health.ready().is_ok(), "a replica without webhook");
        health.expect_webhook();
        assert!(health.ready().is_err());
        health.webhook_serving();
        assert!(health.ready().is_ok());
        health.leading();
        assert!(
            health.ready().is_ok(),
            "a leader filling its caches still serves the webhook"
        );
        health.draining();
        assert!(health.ready().is_err());
    }

    #[test]
    fn not_live_when_a_reconcile_hangs_or_a_leader_never_syncs() {
        let health = Health::default();
        let later = Instant::now() + STUCK_AFTER + Duration::from_secs(1);
        assert!(health.live_at(later).is_ok(), "idle without work is fine");
        health.reconcile_started();
        assert!(health.live().is_ok());
        assert!(health.live_at(later).is_err(), "stuck in a reconcile");
        health.reconcile_finished(true);
        assert!(health.live_at(later).is_ok());

        health.leading();
        let after_deadline = Instant::now() + SYNC_DEADLINE + Duration::from_secs(1);
        assert!(health.live().is_ok());
        assert!(health.live_at(after_deadline).is_err(), "never synced");
        health.controller_synced();
        assert!(health.live_at(after_deadline).is_ok());
    }
}
