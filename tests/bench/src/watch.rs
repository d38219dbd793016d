//! Tenants as the API server tells them, through one watch, and the states a run waits for.

use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

use municipio_crds::MunicipalityTenant;

/// How long any one wait may take before the run is given up.
pub const PATIENCE: Duration = Duration::from_secs(3600);

/// Converged: status observes the tenant's generation, every child applied, and nothing left
/// for the operator to do (`Reconciling` False, or True only while the cluster rolls the
/// Deployments out).
pub fn converged(t: &MunicipalityTenant) -> bool {
    let generation = t.metadata.generation;
    t.status.as_ref().is_some_and(|s| {
        s.observed_generation == generation
            && s.managed_objects.is_some()
            && s.conditions.iter().any(|c| {
                c.type_ == "Reconciling"
                    && c.observed_generation == generation
                    && ((c.status == "False" && c.reason == "Ready")
                        || (c.status == "True" && c.reason == "WorkloadsProgressing"))
            })
    })
}

pub fn ready(t: &MunicipalityTenant) -> bool {
    t.status.as_ref().is_some_and(|s| {
        s.conditions.iter().any(|c| {
            c.type_ == "Ready"
                && c.status == "True"
                && c.observed_generation == t.metadata.generation
        })
    })
}

/// Every tenant as the API server tells it, through one watch.
pub struct TenantWatch {
    pub store: Store<MunicipalityTenant>,
    events: tokio::sync::watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl TenantWatch {
    pub fn start(client: Client) -> Self {
        let (store, writer) = reflector::store();
        let (tx, events) = tokio::sync::watch::channel(0u64);
        let stream = reflector::reflector(
            writer,
            watcher(
                Api::<MunicipalityTenant>::all(client),
                watcher::Config::default(),
            ),
        )
        .default_backoff()
        .touched_objects();
        let task = tokio::spawn(async move {
            stream
                .for_each(|_| {
                    tx.send_modify(|n| *n += 1);
                    async {}
                })
                .await;
        });
        Self {
            store,
            events,
            task,
        }
    }

    /// Until `n` tenants satisfy `condition`, looked at no more often than every 50 ms (a
    /// scan of thousands of tenants per event would cost more than the events).
    pub async fn until(
        &self,
        n: usize,
        condition: fn(&MunicipalityTenant) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if self.store.state().iter().filter(|t| condition(t)).count() >= n {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("tenants did not get there within {PATIENCE:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Until the tenant `name` satisfies `condition`, looked at on every event.
    pub async fn until_one(
        &self,
        name: &str,
        condition: impl Fn(&MunicipalityTenant) -> bool,
    ) -> Result<(), String> {
        let mut events = self.events.clone();
        let key = ObjectRef::new(name);
        let wait = async {
            loop {
                if self.store.get(&key).is_some_and(|t| condition(&t)) {
                    return;
                }
                if events.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(120), wait)
            .await
            .map_err(|_| format!("{name} did not converge within 2 minutes"))
    }
}

impl Drop for TenantWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
