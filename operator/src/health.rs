//! What `/readyz` and `/livez` answer.
//!
//! Ready: the webhook (when this process serves it) has its caches and listens, and the
//! controller (when this replica leads) has its caches. A standby replica is ready: it serves
//! the webhook and metrics. Live: the controller has not ended, and no reconcile has been
//! running for longer than [`STUCK_AFTER`] without any completing: a wedged controller is
//! restarted by the kubelet rather than left looking healthy.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// A reconcile makes a handful of API calls, each with a timeout; this is far beyond it.
pub const STUCK_AFTER: Duration = Duration::from_secs(300);

pub struct Health {
    webhook_expected: AtomicBool,
    webhook_serving: AtomicBool,
    leading: AtomicBool,
    controller_synced: AtomicBool,
    controller_ended: AtomicBool,
    in_flight: AtomicI64,
    /// When a reconcile last started or completed.
    last_progress: Mutex<Instant>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            webhook_expected: AtomicBool::new(false),
            webhook_serving: AtomicBool::new(false),
            leading: AtomicBool::new(false),
            controller_synced: AtomicBool::new(false),
            controller_ended: AtomicBool::new(false),
            in_flight: AtomicI64::new(0),
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

    /// This replica leads (runs the controller) from now on.
    pub fn leading(&self) {
        self.leading.store(true, Ordering::SeqCst);
    }

    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    pub fn controller_synced(&self) {
        self.controller_synced.store(true, Ordering::SeqCst);
    }

    /// The controller's stream ended while the process goes on: nothing is reconciled any more.
    pub fn controller_ended(&self) {
        self.controller_ended.store(true, Ordering::SeqCst);
    }

    pub fn reconcile_started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.progressed();
    }

    pub fn reconcile_finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.progressed();
    }

    fn progressed(&self) {
        *self.last_progress.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    pub fn ready(&self) -> Result<(), String> {
        if self.webhook_expected.load(Ordering::SeqCst)
            && !self.webhook_serving.load(Ordering::SeqCst)
        {
            return Err("the webhook is not serving yet (certificate or caches)".into());
        }
        if self.leading.load(Ordering::SeqCst) && !self.controller_synced.load(Ordering::SeqCst) {
            return Err("the controller's caches are not synced yet".into());
        }
        Ok(())
    }

    pub fn live(&self) -> Result<(), String> {
        self.live_at(Instant::now())
    }

    fn live_at(&self, now: Instant) -> Result<(), String> {
        if self.controller_ended.load(Ordering::SeqCst) {
            return Err("the controller has stopped".into());
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
    fn ready_once_what_this_replica_runs_is_ready() {
        let health = Health::default();
        assert!(health.ready().is_ok(), "a standby without webhook");
        health.expect_webhook();
        assert!(health.ready().is_err());
        health.webhook_serving();
        assert!(health.ready().is_ok());
        health.leading();
        assert!(health.ready().is_err());
        health.controller_synced();
        assert!(health.ready().is_ok());
    }

    #[test]
    fn not_live_when_the_controller_ended_or_a_reconcile_hangs() {
        let health = Health::default();
        let later = Instant::now() + STUCK_AFTER + Duration::from_secs(1);
        assert!(health.live_at(later).is_ok(), "idle without work is fine");
        health.reconcile_started();
        assert!(health.live().is_ok());
        assert!(health.live_at(later).is_err(), "stuck in a reconcile");
        health.reconcile_finished();
        assert!(health.live_at(later).is_ok());
        health.controller_ended();
        assert!(health.live().is_err());
    }
}
