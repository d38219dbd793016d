//! The controller: watches tenants, their children and the source Secrets, and runs the
//! pipeline ([`pipeline`]) for each tenant: validate → claim the namespace → dereference →
//! build → apply → prune → status. This module only wires the watches to the reconcile.

pub mod apply;
pub mod cleanup;
pub mod context;
pub mod error;
pub mod events;
pub mod foreign;
pub mod identity;
pub mod inventory;
pub mod io;
pub mod keys;
pub mod namespace;
pub mod own_secret;
pub mod pipeline;
pub mod pod_security;
pub mod prune;
pub mod reconcile;
pub mod retention;
pub mod status;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use municipio_crds::MunicipalityTenant;
use tracing::{info, warn};

pub use context::Context;
pub use error::Error;

use crate::children::kinds::{ChildKind, KINDS};
use crate::config::OperatorConfig;
use crate::dereference;
use crate::health::Health;
use crate::labels::{MANAGED_BY, MANAGED_BY_LABEL};
use crate::metrics::Metrics;
use crate::tenant_watch;
use events::Events;
use inventory::Inventory;
use reconcile::{error_policy, reconcile};

/// What the controller runs with, besides the client.
pub struct Settings {
    pub config: OperatorConfig,
    /// Only the tenants with matching labels (a shard of a large region, or one test's tenants).
    pub tenant_selector: Option<String>,
    /// Names this replica in the events it records.
    pub instance: Option<String>,
    /// How often a tenant Secret is written even when its keys have not changed, to put back
    /// what someone changed: tenant Secrets are never read.
    pub secret_resync: Duration,
    /// Tenants reconciled at once.
    pub concurrency: u16,
    /// How long a stop waits for the reconciles in flight before abandoning them.
    pub stop_timeout: Duration,
    /// A tenant is Ready only where the cluster enforces its namespace's Pod Security level.
    pub require_pod_security: bool,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

/// Runs the controller until `shutdown` completes; in-flight reconciles finish first, for at
/// most `stop_timeout`.
pub async fn run(
    client: Client,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let Settings {
        config,
        tenant_selector,
        instance,
        secret_resync,
        concurrency,
        stop_timeout,
        require_pod_security,
        metrics,
        health,
    } = settings;
    let mut tenant_watch = watcher::Config::default();
    if let Some(selector) = &tenant_selector {
        tenant_watch = tenant_watch.labels(selector);
    }
    let managed = format!("{MANAGED_BY_LABEL}={MANAGED_BY}");
    let (source_secrets, secrets_writer) = reflector::store();
    let (listed, secrets_listed) = tokio::sync::watch::channel(false);
    let source_secret_watch = watcher(
        Api::<Secret>::namespaced(client.clone(), &config.operator_namespace),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(|s| s.managed_fields_mut().clear())
    .reflect(secrets_writer)
    .inspect_ok(tenant_watch::mark_listed(listed))
    .touched_objects()
    .inspect_err(counted(&metrics, "source-secrets"));
    let inventory = Arc::new(Inventory::default());
    let io_platform = io::IoPlatform::new(&config.io_manage, metrics.clone());
    let io_platform_of_stop = io_platform.clone();
    let ctx = Arc::new(Context {
        client: client.clone(),
        config,
        events: Events::new(client.clone(), instance),
        source_secrets,
        source_secrets_listed: secrets_listed.clone(),
        failures: Mutex::default(),
        secret_writes: Mutex::default(),
        statuses: Mutex::default(),
        inventory: inventory.clone(),
        secret_resync,
        pod_security: pod_security::PodSecurity::default(),
        require_pod_security,
        metrics: metrics.clone(),
        health: health.clone(),
        io: io_platform,
    });
    info!(
        selector = tenant_selector.as_deref().unwrap_or(""),
        "municipio controller starting"
    );
    let reporter = ctx.clone();
    let forgetter = ctx.clone();
    let (tenants, tenant_stream, tenants_listed) = tenant_watch::watch(
        client.clone(),
        tenant_watch,
        move |u| {
            tokio::spawn(status::report_undecodable(reporter.clone(), u));
        },
        move |object| {
            let name = object.name_any();
            forgetter.metrics.tenant(&name, None);
            forgetter.forget_status(&name);
            if let Some(io) = &forgetter.io {
                io.forget(&name);
            }
            forgetter
                .inventory
                .forget(&tenant_watch::namespace_of(object));
        },
    );
    let tenant_stream = tenant_stream.inspect_err(counted(&metrics, "tenants"));
    tokio::spawn({
        let (mut tenants, mut secrets) = (tenants_listed, secrets_listed.clone());
        let health = health.clone();
        async move {
            if tenants.wait_for(|l| *l).await.is_ok() && secrets.wait_for(|l| *l).await.is_ok() {
                health.controller_synced();
            }
        }
    });
    let controller = Controller::for_stream(tenant_stream, tenants.clone())
        .watches_stream(source_secret_watch, source_secret_mapper());
    // Every child kind by metadata only (small memory), into the inventory; a change to a
    // Deployment's status is a change of its metadata too (its resourceVersion). Tenant
    // Secrets are not watched, since the operator may not read Secrets cluster-wide: the
    // periodic resync catches them.
    let watches = ChildWatches {
        client: &client,
        managed: &managed,
        metrics: &metrics,
        inventory: &inventory,
        tenants: &tenants,
    };
    let controller = KINDS
        .iter()
        .filter(|k| k.read)
        .fold(controller, |controller, kind| {
            watches.watch(controller, kind)
        });
    let shutdown = shutdown.boxed().shared();
    let signalled = {
        let (health, shutdown) = (health.clone(), shutdown.clone());
        async move {
            shutdown.await;
            info!(
                in_flight = health.in_flight(),
                "stopping: no new reconciles; waiting for those in flight"
            );
        }
    };
    let running = controller
        .with_config(controller::Config::default().concurrency(concurrency))
        .trigger_backoff(EachWatchBacksOffAlone)
        .graceful_shutdown_on(signalled)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((tenant, _)) => tracing::debug!(tenant = %tenant.name, "reconciled"),
                // A source Secret may name a tenant that does not exist (yet): nothing to do.
                Err(kube::runtime::controller::Error::ObjectNotFound(tenant)) => {
                    tracing::debug!(tenant = %tenant.name, "no such tenant")
                }
                Err(e) => warn!(error = %e, "reconcile failed"),
            }
        });
    // A request that hangs (an API server gone silent) would hold a reconcile for up to
    // RECONCILE_TIMEOUT, past the pod's grace period, and the kubelet's SIGKILL would leave the
    // Lease to expire. Past `stop_timeout` the reconciles still running are dropped instead
    // (counted as abandoned): their writes are idempotent and the successor makes them again.
    let overdue = {
        let health = health.clone();
        async move {
            shutdown.await;
            tokio::time::sleep(stop_timeout).await;
            health.in_flight() // read before `running` is dropped
        }
    };
    tokio::select! {
        () = running => {}
        in_flight = overdue => {
            warn!(
                in_flight,
                stop_seconds = stop_timeout.as_secs(),
                "reconciles still in flight at the stop timeout: abandoned, for the next leader"
            );
            // Each reconcile is a task of its own, which dropping the controller aborts, and an
            // aborted task is dropped when the runtime next gets to it: wait for that (briefly),
            // so that none of them still runs when the Lease is released, and each is counted.
            for _ in 0..200 {
                if health.in_flight() == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    // Syncs with the IO platform run beside the reconciles: none may go on under the next
    // leader (a create, a key made anew, twice).
    if let Some(io) = &io_platform_of_stop {
        io.stop(stop_timeout).await;
    }
    info!(
        in_flight = health.in_flight(),
        abandoned = health.abandoned(),
        "controller stopped"
    );
}

/// No pause of the merged trigger streams after an error. kube's default pauses all of them,
/// for a delay doubling to 30 s, after an error from any: when the API server restarted, the
/// ten watches' errors came one pause after the other, no watch was polled meanwhile (not even
/// to retry), and the inventory they fill was not listed again for minutes (found by the chaos
/// suite). Each watch has its own backoff (`default_backoff`): a failing one waits alone.
struct EachWatchBacksOffAlone;

impl Iterator for EachWatchBacksOffAlone {
    type Item = std::time::Duration;

    fn next(&mut self) -> Option<Self::Item> {
        Some(std::time::Duration::ZERO)
    }
}

impl kube::runtime::utils::Backoff for EachWatchBacksOffAlone {
    fn reset(&mut self) {}
}

/// Counts the failures of a watch (each is followed by a restart with backoff).
fn counted(metrics: &Arc<Metrics>, watch: &'static str) -> impl Fn(&watcher::Error) + use<> {
    metrics.watch_started(watch);
    let metrics = metrics.clone();
    move |error| {
        warn!(%error, watch, "watch failed; restarting");
        metrics.watch_error(watch);
    }
}

/// What the watches of the child kinds share.
struct ChildWatches<'a> {
    client: &'a Client,
    managed: &'a str,
    metrics: &'a Arc<Metrics>,
    inventory: &'a Arc<Inventory>,
    tenants: &'a Store<MunicipalityTenant>,
}

impl ChildWatches<'_> {
    /// Watches one child kind by metadata into the inventory, and maps each object to the
    /// tenant its controller owner reference names (see [`owning_tenant`]).
    fn watch(
        &self,
        controller: Controller<MunicipalityTenant>,
        kind: &'static ChildKind,
    ) -> Controller<MunicipalityTenant> {
        let resource = kind.api_resource();
        let api: Api<PartialObjectMeta<DynamicObject>> =
            Api::all_with(self.client.clone(), &resource);
        self.inventory.watching();
        let inventory = self.inventory.clone();
        let stream = watcher(api, watcher::Config::default().labels(self.managed))
            .default_backoff()
            .inspect_ok(move |event| inventory.observe(kind.kind, event))
            .touched_objects()
            .inspect_err(counted(self.metrics, kind.plural));
        let tenants = self.tenants.clone();
        controller.watches_stream_with(
            stream,
            move |o| owning_tenant(&tenants, &o.metadata),
            resource,
        )
    }
}

/// The tenant a child belongs to: the one its controller owner reference names, if a tenant of
/// that name and UID is known. Never a label: anyone who may edit the child may change its
/// labels, which would let a child escape drift correction, or let anyone make the operator
/// reconcile another municipality as often as they patch an object.
fn owning_tenant(
    tenants: &Store<MunicipalityTenant>,
    meta: &kube::api::ObjectMeta,
) -> Option<ObjectRef<MunicipalityTenant>> {
    let owner = meta
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))?;
    let tenant = ObjectRef::new(&owner.name);
    let known = tenants.get(&tenant)?;
    let same = known.metadata.uid.as_deref() == Some(owner.uid.as_str())
        && owner.kind == MunicipalityTenant::kind(&())
        && owner.api_version == MunicipalityTenant::api_version(&());
    same.then_some(tenant)
}

/// Maps a source Secret to the tenants it is bound to, and to those it was bound to before
/// (remembered from the previous event), so that both a new binding and a removed one reach
/// the tenants concerned at once.
fn source_secret_mapper() -> impl Fn(Secret) -> Vec<ObjectRef<MunicipalityTenant>> + Send + Sync {
    let previous: Mutex<HashMap<String, BTreeSet<String>>> = Mutex::default();
    move |secret| {
        let now = dereference::bound_tenants(&secret.metadata);
        let mut previous = previous.lock().unwrap_or_else(|e| e.into_inner());
        let before = previous
            .insert(secret.name_any(), now.clone())
            .unwrap_or_default();
        now.union(&before).map(|t| ObjectRef::new(t)).collect()
    }
}

/// `result`, with "not found" as `None`: what is gone is as good as deleted.
pub(crate) fn tolerate_missing<T>(
    result: Result<T, kube::Error>,
) -> Result<Option<T>, kube::Error> {
    match result {
        Ok(t) => Ok(Some(t)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}
