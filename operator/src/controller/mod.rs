//! The controller: watches tenants, their children and the source Secrets, and runs the
//! pipeline for each tenant: validate → dereference → build → apply → prune → status.

pub mod apply;
pub mod cleanup;
pub mod events;
pub mod foreign;
pub mod inventory;
pub mod pod_security;
pub mod prune;
pub mod status;
pub mod tenant_watch;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, ObjectReference, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use municipio_crds::v1alpha1::{ConnectorStatus, WorkloadStatus};
use municipio_crds::{MunicipalityTenant, MunicipalityTenantStatus, ValidTenant};
use serde_json::Value;
use tracing::{Instrument, info, info_span, warn};

use crate::children::kinds::{ChildKind, KINDS};
use crate::children::{self, Owner};
use crate::config::OperatorConfig;
use crate::dereference;
use crate::health::Health;
use crate::labels::{FINALIZER, MANAGED_BY, MANAGED_BY_LABEL};
use crate::metrics::{InFlight, Metrics, ReconcileResult, TenantConditions};
use events::{Events, Note};
use inventory::{ChildKey, Inventory};
use status::{Observed, Outcome};
use tenant_watch::Undecodable;

/// How often a converged tenant is looked at again: tenant Secrets are written but not watched
/// (the operator may not read Secrets cluster-wide), so their drift is caught here.
const RESYNC: Duration = Duration::from_secs(300);
/// How soon a tenant blocked on a missing source Secret is retried (the Secret watch usually
/// triggers it sooner).
const BLOCKED_RETRY: Duration = Duration::from_secs(60);
/// Longer than any reconcile takes: a handful of API calls.
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(120);
/// Retry after a failed reconcile: doubling from the first delay up to the last, per tenant.
const ERROR_BACKOFF: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(300));

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("applying {0}")]
    Apply(#[from] apply::ApplyError),
    #[error("{0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("the reconcile took longer than {0:?} and was abandoned")]
    TimedOut(Duration),
    /// Only while shutting down: the watch of the source Secrets has ended.
    #[error("the source Secrets are no longer watched")]
    SourceSecretsUnwatched,
}

impl Error {
    /// The API server answered that it is overloaded or unavailable (429, 503, 504).
    fn overloaded(&self) -> bool {
        let status = match self {
            Error::Kube(kube::Error::Api(status)) => status,
            Error::Apply(apply::ApplyError {
                source: kube::Error::Api(status),
                ..
            }) => status,
            _ => return false,
        };
        matches!(status.code, 429 | 503 | 504)
    }
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub config: OperatorConfig,
    pub events: Events,
    /// The source Secrets of the operator namespace, kept by their watch: no read per reconcile.
    source_secrets: Store<Secret>,
    /// True once the first list of the source Secrets is in: until then a Secret would look
    /// missing.
    source_secrets_listed: tokio::sync::watch::Receiver<bool>,
    /// Consecutive failed reconciles per tenant, for the error backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// When this process last wrote each tenant Secret (`namespace/name`), and with which keys
    /// version.
    secret_writes: Mutex<HashMap<String, SecretWrite>>,
    /// Which children exist, from their metadata watches.
    inventory: Arc<Inventory>,
    /// The status this process last wrote to each tenant (by name, with the tenant's uid).
    statuses: Mutex<HashMap<String, (String, MunicipalityTenantStatus)>>,
    secret_resync: Duration,
    /// Whether the cluster enforces tenant namespaces' Pod Security level.
    pod_security: pod_security::PodSecurity,
    /// A tenant is Ready only where it is (`--require-pod-security`).
    require_pod_security: bool,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

impl Context {
    /// The delay before retrying a tenant that just failed, `failures` times in a row.
    fn backoff(failures: u32) -> Duration {
        let (first, last) = ERROR_BACKOFF;
        first
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)))
            .min(last)
    }

    fn failed(&self, tenant: &str) -> Duration {
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
    fn last_secret_write(&self, namespace: &str, name: &str) -> SecretWrite {
        let key = format!("{namespace}/{name}");
        let mut writes = self.secret_writes.lock().unwrap_or_else(|e| e.into_inner());
        let resync = self.secret_resync;
        writes
            .entry(key.clone())
            .or_insert_with(|| {
                let spread = children::metadata::digest([key.as_bytes()]);
                let fraction =
                    u64::from_str_radix(&spread[..8], 16).unwrap_or(0) as f64 / f64::from(u32::MAX);
                let ago = resync.mul_f64(fraction);
                SecretWrite {
                    at: Instant::now().checked_sub(ago).unwrap_or_else(Instant::now),
                    keys_version: None,
                }
            })
            .clone()
    }

    fn secret_written(&self, namespace: &str, name: &str, keys_version: Option<String>) {
        let mut writes = self.secret_writes.lock().unwrap_or_else(|e| e.into_inner());
        let write = SecretWrite {
            at: Instant::now(),
            keys_version,
        };
        writes.insert(format!("{namespace}/{name}"), write);
    }

    /// The status this process last wrote to the tenant, if it is still the same object.
    fn last_status(&self, name: &str, uid: &str) -> Option<MunicipalityTenantStatus> {
        let statuses = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        statuses
            .get(name)
            .filter(|(u, _)| u == uid)
            .map(|(_, s)| s.clone())
    }

    fn status_written(&self, name: &str, uid: &str, status: MunicipalityTenantStatus) {
        let mut statuses = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        statuses.insert(name.to_owned(), (uid.to_owned(), status));
    }

    fn forget_status(&self, name: &str) {
        let mut statuses = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        statuses.remove(name);
    }

    fn succeeded(&self, tenant: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(tenant);
    }
}

/// A tenant Secret this process wrote.
#[derive(Clone)]
struct SecretWrite {
    at: Instant,
    keys_version: Option<String>,
}

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
            tokio::spawn(report_undecodable(reporter.clone(), u));
        },
        move |object| {
            let name = object.name_any();
            forgetter.metrics.tenant(&name, None);
            forgetter.forget_status(&name);
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

fn error_policy(tenant: Arc<MunicipalityTenant>, error: &Error, ctx: Arc<Context>) -> Action {
    let name = tenant.name_any();
    let delay = ctx.failed(&name);
    warn!(tenant = %name, %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// A reconcile in flight, for the metrics and the liveness probe, until dropped.
struct Running<'a> {
    ctx: &'a Context,
    _timer: InFlight<'a>,
    finished: bool,
}

impl<'a> Running<'a> {
    fn start(ctx: &'a Context) -> Self {
        ctx.health.reconcile_started();
        Self {
            ctx,
            _timer: ctx.metrics.reconcile_started(),
            finished: false,
        }
    }

    fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Running<'_> {
    /// Dropped before `finish`: the reconcile was abandoned half-way, which a stop does only
    /// to what is still in flight after its stop timeout.
    fn drop(&mut self) {
        self.ctx.health.reconcile_finished(self.finished);
    }
}

async fn reconcile(tenant: Arc<MunicipalityTenant>, ctx: Arc<Context>) -> Result<Action, Error> {
    let running = Running::start(&ctx);
    let name = tenant.name_any();
    let span = info_span!("reconcile", tenant = %name);
    let api: Api<MunicipalityTenant> = Api::all(ctx.client.clone());
    // A tenant that seems to lack the finalizer may be a store that has not caught up with the
    // write that added it (a reconcile queued behind that one): the helper's patch would fail
    // its test and the reconcile with it. Such a tenant is read fresh.
    let lacks_finalizer = !tenant.finalizers().iter().any(|f| f == FINALIZER);
    let tenant = if lacks_finalizer && tenant.metadata.deletion_timestamp.is_none() {
        match api.get_opt(&name).await? {
            Some(fresh) => Arc::new(fresh),
            None => return Ok(Action::await_change()),
        }
    } else {
        tenant
    };
    let finalized = finalizer(&api, FINALIZER, tenant.clone(), |event| async {
        match event {
            Event::Apply(tenant) => {
                let (outcome, observed, result) = match pipeline(&tenant, &ctx).await {
                    Ok((outcome, observed, action)) => (outcome, observed, Ok(action)),
                    // An API server shedding load: retried with backoff, without a status write
                    // or an Event, which would only add to its load (the client does not retry
                    // by itself: see main.rs).
                    Err(error) if error.overloaded() => {
                        ctx.metrics.reconciled(ReconcileResult::error);
                        return Err(error);
                    }
                    // Status tells the failure too (and records it as an event), then the
                    // error policy retries with backoff.
                    Err(error) => {
                        let observed = Observed {
                            generation: tenant.metadata.generation,
                            ..Observed::default()
                        };
                        let outcome = Outcome::Blocked {
                            reason: "ReconcileError",
                            message: error.to_string(),
                        };
                        (outcome, observed, Err(error))
                    }
                };
                let regarding = tenant.object_ref(&());
                let cached = tenant
                    .status
                    .as_ref()
                    .and_then(|s| serde_json::to_value(s).ok());
                let counted = match (&result, &outcome) {
                    (Err(_), _) => ReconcileResult::error,
                    (Ok(_), Outcome::Ready) => ReconcileResult::ready,
                    (Ok(_), Outcome::Progressing { .. }) => ReconcileResult::progressing,
                    (Ok(_), Outcome::Blocked { .. }) => ReconcileResult::blocked,
                    (Ok(_), Outcome::Stalled { .. }) => ReconcileResult::stalled,
                    (Ok(_), Outcome::Suspended) => ReconcileResult::suspended,
                };
                ctx.metrics.tenant(
                    &tenant.name_any(),
                    Some(TenantConditions {
                        ready: outcome == Outcome::Ready,
                        stalled: matches!(outcome, Outcome::Stalled { .. }),
                        suspended: outcome == Outcome::Suspended,
                    }),
                );
                let written =
                    write_status(&ctx, &regarding, cached.as_ref(), observed, &outcome).await;
                ctx.metrics.reconciled(if written.is_ok() {
                    counted
                } else {
                    ReconcileResult::error
                });
                written?;
                result
            }
            Event::Cleanup(tenant) => {
                if let Err(error) = cleanup::cleanup(&ctx.client, &tenant).await {
                    let note = Note {
                        warning: true,
                        reason: "CleanupError".to_owned(),
                        action: "Cleanup",
                        note: error.to_string(),
                    };
                    ctx.events.on_tenant(&tenant, note).await;
                    ctx.metrics.reconciled(ReconcileResult::error);
                    return Err(error.into());
                }
                info!(policy = ?tenant.spec.deletion_policy, "tenant deleted");
                ctx.metrics.tenant(&tenant.name_any(), None);
                Ok(Action::await_change())
            }
        }
    })
    .instrument(span);
    // No API call may hold a tenant for ever (a connection to an API server that went away):
    // an abandoned reconcile is an error, retried with backoff.
    let result = match tokio::time::timeout(RECONCILE_TIMEOUT, finalized).await {
        // Cleaned up, and the tenant is already gone: a store behind the API server handed a
        // deleted tenant over once more (found by the chaos suite, where it was retried for
        // as long as the store lagged).
        Ok(Err(e)) if already_gone(&e) => {
            tracing::debug!(tenant = %name, "cleaned up; the tenant was already gone");
            Ok(Action::await_change())
        }
        Ok(result) => result.map_err(|e| Error::Finalizer(Box::new(e))),
        Err(_) => Err(Error::TimedOut(RECONCILE_TIMEOUT)),
    };
    if result.is_ok() {
        ctx.succeeded(&name);
    }
    running.finish();
    result
}

/// Whether the finalizer could not be removed because the tenant is gone: the cleanup is done.
fn already_gone(e: &kube::runtime::finalizer::Error<Error>) -> bool {
    matches!(
        e,
        kube::runtime::finalizer::Error::RemoveFinalizer(kube::Error::Api(status))
            if status.code == 404
    )
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Validate → namespace check → dereference → build → apply, as far as the tenant allows.
async fn pipeline(
    tenant: &MunicipalityTenant,
    ctx: &Context,
) -> Result<(Outcome, Observed, Action), Error> {
    let mut observed = Observed {
        generation: tenant.metadata.generation,
        ..Observed::default()
    };
    let valid: ValidTenant = match municipio_crds::validate(tenant) {
        Ok(valid) => valid,
        Err(errors) => {
            let outcome = Outcome::Stalled {
                reason: "InvalidSpec",
                message: joined(&errors),
            };
            return Ok((outcome, observed, Action::await_change()));
        }
    };
    let owner = Owner::of(tenant);
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let ours = |ns: &Namespace| ns.owner_references().iter().any(|r| r.uid == owner.uid);

    // The namespace holds the municipality's data: once the tenant lives in one, a new
    // spec.namespace would build a second one beside it and orphan the first.
    let current = tenant.status.as_ref().and_then(|s| s.namespace.as_deref());
    if let Some(current) = current.filter(|c| *c != valid.namespace.as_str())
        && namespaces
            .get_opt(current)
            .await?
            .is_some_and(|ns| ours(&ns))
    {
        observed.namespace = Some(current.to_owned());
        let message = format!(
            "spec.namespace cannot change from {current} to {}: the tenant's workloads and data live in {current}. Set spec.namespace back to {current}; to move a municipality, create a new tenant and migrate its data",
            valid.namespace
        );
        let outcome = Outcome::Stalled {
            reason: "NamespaceImmutable",
            message,
        };
        return Ok((outcome, observed, Action::await_change()));
    }
    // Until every child kind is listed, a child would look absent.
    ctx.inventory.wait_listed().await;
    let namespace_key = ChildKey {
        kind: <Namespace as k8s_openapi::Resource>::KIND,
        namespace: "".into(),
        name: valid.namespace.as_str().into(),
    };
    // A namespace the inventory knows this tenant controls needs no read.
    let known_ours = ctx.inventory.controls(&namespace_key, &owner.uid);
    if !known_ours
        && let Some(ns) = namespaces.get_opt(valid.namespace.as_str()).await?
        && !ours(&ns)
    {
        let message = format!(
            "namespace {} exists and was not created for this tenant: it is left untouched; choose another spec.namespace",
            valid.namespace
        );
        let outcome = Outcome::Stalled {
            reason: "NamespaceConflict",
            message,
        };
        // The namespace is not watched: look again in a while, in case it is freed.
        return Ok((outcome, observed, Action::requeue(BLOCKED_RETRY)));
    }
    observed.namespace = Some(valid.namespace.to_string());
    if valid.suspend {
        return Ok((Outcome::Suspended, observed, Action::await_change()));
    }

    // Until the first list of the source Secrets is in, a Secret would look missing.
    ctx.source_secrets_listed
        .clone()
        .wait_for(|listed| *listed)
        .await
        .map_err(|_| Error::SourceSecretsUnwatched)?;
    let secrets = &ctx.source_secrets;
    let namespace = &ctx.config.operator_namespace;
    let find = |name: &str| secrets.get(&ObjectRef::new(name).within(namespace));
    let keys = match dereference::connector_keys(&valid, namespace, find) {
        Ok(keys) => keys,
        Err(problems) => {
            revoke_unbound_keys(ctx, tenant, valid.namespace.as_str(), &problems).await?;
            let outcome = Outcome::Blocked {
                reason: problems[0].reason(),
                message: joined(&problems),
            };
            return Ok((outcome, observed, Action::requeue(BLOCKED_RETRY)));
        }
    };
    observed.connectors = status::connectors(&valid, &ctx.config);

    let children = children::build(&valid, &owner, &ctx.config, &keys);
    for connector in &mut observed.connectors {
        let sources: Vec<_> = connector
            .source_secrets
            .iter()
            .filter_map(|s| find(s))
            .collect();
        let sources: Vec<&Secret> = sources.iter().map(|s| s.as_ref()).collect();
        connector.keys_version = children
            .secrets
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(connector.secret.as_str()))
            .map(|s| children::secret::keys_version(s, &sources));
    }
    let write_secret = secret_write_policy(ctx, tenant, &valid, &observed.connectors);
    let target = apply::Target {
        client: &ctx.client,
        inventory: &ctx.inventory,
        tenant_uid: &owner.uid,
    };
    let applied = apply::apply(&target, &children, write_secret).await?;
    for secret in &applied.secrets_written {
        let version = observed
            .connectors
            .iter()
            .find(|c| &c.secret == secret)
            .and_then(|c| c.keys_version.clone());
        ctx.secret_written(valid.namespace.as_str(), secret, version);
    }
    if !applied.drift.is_empty() {
        let drift: Vec<String> = applied.drift.iter().map(ToString::to_string).collect();
        info!(?drift, "put back what another field manager changed");
        let note = Note {
            warning: true,
            reason: "DriftCorrected".to_owned(),
            action: "Apply",
            note: format!(
                "put back what another field manager changed: {}",
                drift.join(", ")
            ),
        };
        ctx.events.on_tenant(tenant, note).await;
    }
    let pruned = prune::prune(&target, &owner, &children).await?;
    if !pruned.is_empty() {
        info!(?pruned, "deleted children no longer desired");
        let note = Note {
            warning: false,
            reason: "Pruned".to_owned(),
            action: "Prune",
            note: format!("deleted, no longer desired: {}", pruned.join(", ")),
        };
        ctx.events.on_tenant(tenant, note).await;
    }
    let enforcement = ctx
        .pod_security
        .enforcement(&ctx.client, valid.namespace.as_str())
        .await;
    if let Some(enforcement) = enforcement {
        ctx.metrics
            .pod_security_enforced(enforcement == pod_security::Enforcement::Enforced);
    }
    observed.pod_security = enforcement.map(|e| e == pod_security::Enforcement::Enforced);
    observed.managed_objects = i32::try_from(applied.objects).ok();
    observed.workloads = applied.deployments.iter().map(workload_status).collect();
    let waiting: Vec<String> = applied
        .deployments
        .iter()
        .filter(|d| !available(d))
        .map(|d| d.name_any())
        .collect();
    let outcome = if observed.pod_security == Some(false) && ctx.require_pod_security {
        Outcome::Blocked {
            reason: status::POD_SECURITY_MISSING,
            message: format!(
                "{} (and --require-pod-security is set)",
                status::pod_security_missing(valid.namespace.as_str())
            ),
        }
    } else if waiting.is_empty() {
        Outcome::Ready
    } else {
        Outcome::Progressing {
            reason: "WorkloadsProgressing",
            message: format!("waiting for Deployments: {}", waiting.join(", ")),
        }
    };
    Ok((
        outcome,
        observed,
        Action::requeue(RESYNC.min(ctx.secret_resync)),
    ))
}

/// Which tenant Secrets to write. They are never read back (the operator may not read Secrets
/// outside its own namespace): one is written when its keys version moved since status last
/// recorded it (or since this process wrote it: the tenant in the store may not show that
/// status yet); otherwise every Secret resync period, which puts back one someone changed or
/// deleted. Not sooner while the tenant is not Ready: one that stays so (a rollout that cannot
/// finish, a cluster without room) would cost a write per Secret every reconcile, for ever,
/// and thousands of such tenants a steady write load on the API server.
fn secret_write_policy<'a>(
    ctx: &'a Context,
    tenant: &'a MunicipalityTenant,
    valid: &'a ValidTenant,
    connectors: &'a [ConnectorStatus],
) -> impl Fn(&Secret) -> bool + 'a {
    let recorded = |name: &str| {
        tenant
            .status
            .iter()
            .flat_map(|s| &s.connectors)
            .find(|c| c.secret == name)
            .and_then(|c| c.keys_version.clone())
    };
    let period = ctx.secret_resync;
    move |secret: &Secret| {
        let name = secret.name_any();
        let version = connectors
            .iter()
            .find(|c| c.secret == name)
            .and_then(|c| c.keys_version.clone());
        let last = ctx.last_secret_write(valid.namespace.as_str(), &name);
        let current =
            version.is_some() && (version == recorded(&name) || version == last.keys_version);
        !(current && last.at.elapsed() < period)
    }
}

/// A key whose source Secret is no longer bound to the tenant was given to someone else: the
/// tenant's copy goes. (A Secret that is only missing, perhaps being re-created by a GitOps
/// tool, leaves the last copy in place.)
async fn revoke_unbound_keys(
    ctx: &Context,
    tenant: &MunicipalityTenant,
    namespace: &str,
    problems: &[dereference::KeyProblem],
) -> Result<(), kube::Error> {
    let unbound: BTreeSet<_> = problems
        .iter()
        .filter(|p| matches!(p, dereference::KeyProblem::NotBound { .. }))
        .map(|p| p.connector())
        .collect();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    for connector in unbound {
        let name = children::metadata::object_name(connector);
        let deleted = tolerate_missing(secrets.delete(&name, &Default::default()).await)?;
        if deleted.is_some() {
            let note = Note {
                warning: true,
                reason: "KeysRevoked".to_owned(),
                action: "Revoke",
                note: format!(
                    "Secret {namespace}/{name} deleted: its source Secret is no longer bound to this tenant"
                ),
            };
            ctx.events.on_tenant(tenant, note).await;
        }
    }
    Ok(())
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

fn joined(problems: &[impl ToString]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn workload_status(d: &Deployment) -> WorkloadStatus {
    let status = d.status.clone().unwrap_or_default();
    WorkloadStatus {
        name: d.name_any(),
        replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        available: status.available_replicas.unwrap_or(0),
    }
}

/// Available for the current generation: the Deployment controller has seen this spec, every
/// replica runs it, and every one is available.
fn available(d: &Deployment) -> bool {
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(s) = &d.status else { return false };
    s.observed_generation >= d.metadata.generation
        && s.updated_replicas.unwrap_or(0) == wanted
        && s.available_replicas.unwrap_or(0) == wanted
        && s.replicas.unwrap_or(0) == wanted
}

/// Writes the status for `outcome` unless it is what is there already, and records an event
/// when the `Ready` condition moved. The event is recorded even when the write fails: an API
/// server without validation ratcheting refuses any write to a tenant stored under an older
/// schema, and then the event is all that tells.
async fn write_status(
    ctx: &Context,
    regarding: &ObjectReference,
    cached: Option<&Value>,
    observed: Observed,
    outcome: &Outcome,
) -> Result<(), kube::Error> {
    let at = now();
    let decode = |raw: Option<&Value>| {
        raw.and_then(|s| serde_json::from_value::<MunicipalityTenantStatus>(s.clone()).ok())
    };
    let name = regarding.name.clone().unwrap_or_default();
    let uid = regarding.uid.clone().unwrap_or_default();
    // The leader is the only writer of status, and a process that loses the Lease ends: its
    // own last write is the newest status. The cached tenant may not show it yet (a reconcile
    // queued behind the one that wrote starts before that write's watch event arrives); from
    // it, the same status would be written and announced twice.
    let cached_status = decode(cached);
    let (previous, previous_raw) = match ctx.last_status(&name, &uid) {
        // Once the cache has caught up, the copy is not needed (nor kept: memory).
        Some(written) if cached_status.as_ref() != Some(&written) => {
            let raw = serde_json::to_value(&written).ok();
            (Some(written), raw)
        }
        Some(_) => {
            ctx.forget_status(&name);
            (cached_status, cached.cloned())
        }
        None => (cached_status, cached.cloned()),
    };
    let new = status::status(previous.as_ref(), observed, outcome, &at);
    if previous.as_ref() == Some(&new) {
        return Ok(());
    }
    // A raw object, since the answer for an undecodable tenant would not decode either.
    let api: Api<DynamicObject> = Api::all_with(
        ctx.client.clone(),
        &ApiResource::erase::<MunicipalityTenant>(&()),
    );
    // A merge patch: the operator is the only writer of status and replaces it whole. (Server-
    // side apply of this kind runs without a schema on Kubernetes 1.20, which mangles it.)
    let patch = status_patch(previous_raw.as_ref(), &new);
    let written = tolerate_missing(
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await,
    );
    match &written {
        Ok(None) => return Ok(()), // Gone: nothing to tell.
        Ok(Some(_)) => ctx.status_written(&name, &uid, new.clone()),
        Err(_) => {}
    }
    if let Some(note) = events::transition(previous.as_ref(), &new) {
        ctx.events.publish(regarding, note).await;
    }
    written.map(|_| ())
}

/// The merge patch that turns the status `previous` into `new`: a field `new` leaves out (an
/// empty list, say) is sent as null, or the merge would keep its old value.
fn status_patch(previous: Option<&Value>, new: &MunicipalityTenantStatus) -> Value {
    let mut status =
        serde_json::to_value(new).unwrap_or_else(|_| Value::Object(Default::default()));
    if let (Some(Value::Object(before)), Value::Object(after)) = (previous, &mut status) {
        for field in before.keys() {
            after.entry(field.clone()).or_insert(Value::Null);
        }
    }
    serde_json::json!({ "status": status })
}

/// Explains, on the tenant itself, why the operator cannot read it: status `Stalled` and a
/// Warning event. Nothing else is done for it until it is fixed.
async fn report_undecodable(ctx: Arc<Context>, undecodable: Undecodable) {
    let Undecodable { object, error } = undecodable;
    let name = object.name_any();
    warn!(tenant = %name, %error, "tenant cannot be decoded; skipped");
    let observed = Observed {
        generation: object.metadata.generation,
        ..Observed::default()
    };
    let outcome = Outcome::Stalled {
        reason: "UndecodableSpec",
        message: format!(
            "the operator cannot read this tenant: {error}; it was probably stored under an older schema: correct the field to match the installed CRD"
        ),
    };
    let regarding = object.object_ref(&ApiResource::erase::<MunicipalityTenant>(&()));
    ctx.metrics.tenant(
        &name,
        Some(TenantConditions {
            stalled: true,
            ..TenantConditions::default()
        }),
    );
    let cached = object.data.get("status");
    if let Err(e) = write_status(&ctx, &regarding, cached, observed, &outcome).await {
        warn!(tenant = %name, error = %e, "could not write the status of an undecodable tenant");
    }
}

#[cfg(test)]
mod tests {
    use super::{Error, already_gone};
    use kube::core::Status;
    use kube::runtime::finalizer;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(
            serde_json::from_value::<Status>(serde_json::json!({
                "status": "Failure", "message": "m", "reason": "r", "code": code
            }))
            .unwrap()
            .into(),
        )
    }

    #[test]
    fn only_an_overloaded_api_server_is_retried_without_a_status() {
        for code in [429, 503, 504] {
            assert!(Error::Kube(api_error(code)).overloaded(), "{code}");
        }
        for code in [400, 403, 404, 409, 422, 500] {
            assert!(!Error::Kube(api_error(code)).overloaded(), "{code}");
        }
    }

    #[test]
    fn a_finalizer_removal_that_finds_the_tenant_gone_is_done() {
        assert!(already_gone(&finalizer::Error::<Error>::RemoveFinalizer(
            api_error(404)
        )));
        assert!(!already_gone(&finalizer::Error::<Error>::RemoveFinalizer(
            api_error(409)
        )));
        assert!(!already_gone(&finalizer::Error::<Error>::AddFinalizer(
            api_error(404)
        )));
    }

    use super::*;

    #[test]
    fn error_backoff_doubles_up_to_five_minutes() {
        let delays: Vec<u64> = (1..=8).map(|n| Context::backoff(n).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(Context::backoff(u32::MAX).as_secs(), 300);
    }

    #[test]
    fn a_status_field_left_out_is_cleared() {
        let previous = serde_json::json!({
            "observedGeneration": 1,
            "workloads": [{ "name": "portale", "replicas": 1, "available": 1 }],
            "connectors": [],
        });
        let new = MunicipalityTenantStatus {
            observed_generation: Some(2),
            ..Default::default()
        };
        let patch = status_patch(Some(&previous), &new);
        assert_eq!(
            patch,
            serde_json::json!({ "status": {
                "observedGeneration": 2,
                "workloads": null,
                "connectors": null,
            }})
        );
    }
}
