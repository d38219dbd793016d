//! The managed IO services: whether a tenant's need IO's manage API now, and if so a sync of
//! them in the background ([`IoPlatform`]), never in the reconcile: a slow or failing platform
//! holds up no tenant's Kubernetes objects. A sync's result lands in the tenant's IO services
//! Secret (see [`record`]), whose change brings the tenant back through the watch of the
//! operator's Secrets; status then tells each service's state, and the workloads get its key.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use municipio_crds::v1alpha1::{Connector, IoStatus};
use municipio_crds::validate::IoConnector;
use municipio_crds::{MunicipalityTenant, ValidTenant};
use tracing::{Instrument, info, info_span, warn};

use super::Context;
use super::events::Note;
use super::own_secret::{self, OwnSecret};
use crate::children::Owner;
use crate::config::IoManageConfig;
use crate::connectors::KeyRef;
use crate::connectors::io::client::IoClient;
use crate::connectors::io::contract::State;
use crate::connectors::io::key_variable;
use crate::connectors::io::record::{
    self, IO_SERVICES_LABEL, RECORD_ANNOTATION, Record, ServiceRecord,
};
use crate::connectors::io::sync::{self, Sync};
use crate::dereference::{self, ConnectorKeys};
use crate::labels::{MANAGED_BY, MANAGED_BY_LABEL, TENANT_LABEL};
use crate::metrics::Metrics;

/// Tenants synced at once (the rate of calls is bounded apart from this).
const SYNCS_AT_ONCE: usize = 8;
/// The least time between two syncs of one tenant, whatever brings it back.
const MIN_GAP: Duration = Duration::from_secs(5);
/// After a failed sync: doubling from the first up to the last.
const FAILURE_BACKOFF: (Duration, Duration) =
    (Duration::from_secs(30), Duration::from_secs(30 * 60));

/// The operator's side of IO's manage API: its client, and what it knows of each tenant's
/// syncs (kept in memory: after a restart, the record in the cluster says what is done).
pub struct IoPlatform {
    client: IoClient,
    metrics: Arc<Metrics>,
    config: IoManageConfig,
    tenants: Mutex<HashMap<String, TenantSyncs>>,
    slots: tokio::sync::Semaphore,
    /// Set when the controller stops: no sync starts after it.
    stopping: AtomicBool,
}

#[derive(Default)]
struct TenantSyncs {
    /// When the last sync ended.
    last: Option<Instant>,
    failures: u32,
    running: bool,
    /// What the spec declared when the failures began: a change of it is retried at once.
    declared: String,
}

impl IoPlatform {
    /// The platform, if the operator was given its URL.
    pub fn new(config: &IoManageConfig, metrics: Arc<Metrics>) -> Option<Arc<Self>> {
        let url = config.url.as_deref()?;
        metrics.platform_failing("io", 0);
        Some(Arc::new(Self {
            client: IoClient::new(
                url,
                config.rate,
                Self::seconds(config.timeout),
                metrics.clone(),
            ),
            metrics,
            config: config.clone(),
            tenants: Mutex::default(),
            slots: tokio::sync::Semaphore::new(SYNCS_AT_ONCE),
            stopping: AtomicBool::new(false),
        }))
    }

    fn seconds(s: i64) -> Duration {
        Duration::from_secs(u64::try_from(s).unwrap_or(1))
    }

    /// Whether a sync of `tenant` may start now (for `why`, if anything is due), and if not,
    /// how long until one might. `declared`: a digest of what its spec declares.
    fn claim(
        &self,
        tenant: &str,
        why: Option<&str>,
        pending: bool,
        declared: &str,
    ) -> Result<(), Option<Duration>> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let drift = Self::seconds(self.config.drift_check);
        let t = tenants.entry(tenant.to_owned()).or_default();
        if t.running {
            return Err(None);
        }
        if t.declared != declared {
            // A person changed the spec: whatever failed before, try it now.
            t.declared = declared.to_owned();
            t.failures = 0;
        }
        let last = t.last.unwrap_or_else(|| self.unseen(tenant, now, drift));
        let since = now.saturating_duration_since(last);
        let poll = Self::seconds(self.config.poll);
        let wait = if t.failures > 0 {
            let (first, most) = FAILURE_BACKOFF;
            first
                .saturating_mul(2u32.saturating_pow(t.failures - 1))
                .min(most)
        } else if why.is_some() {
            MIN_GAP
        } else if pending {
            poll
        } else {
            drift
        };
        if since < wait {
            return Err(Some(wait - since));
        }
        t.running = true;
        Ok(())
    }

    /// When a tenant this process has not synced was last looked at: a moment spread over
    /// `period` by its name, so a restart does not look at every tenant at once.
    fn unseen(&self, tenant: &str, now: Instant, period: Duration) -> Instant {
        now.checked_sub(crate::children::metadata::spread(tenant, period))
            .unwrap_or(now)
    }

    /// A sync ended (or was abandoned: a panic, a stop).
    fn finished(&self, tenant: &str, failed: bool) {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let t = tenants.entry(tenant.to_owned()).or_default();
        t.running = false;
        t.last = Some(Instant::now());
        t.failures = if failed {
            t.failures.saturating_add(1)
        } else {
            0
        };
        self.count_failing(&tenants);
    }

    fn count_failing(&self, tenants: &HashMap<String, TenantSyncs>) {
        let failing = tenants.values().filter(|t| t.failures > 0).count();
        self.metrics.platform_failing("io", failing);
    }

    /// A tenant deleted, or without managed services: what was known of it goes.
    pub fn forget(&self, tenant: &str) {
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        if tenants.remove(tenant).is_some() {
            self.count_failing(&tenants);
        }
    }

    /// Stops starting syncs, and waits for those under way (each ends within its calls'
    /// timeouts) for at most `timeout`: a replica that lost its Lease leaves the platform to
    /// the next leader, which must not find it still creating or rotating.
    pub async fn stop(&self, timeout: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        let running = || {
            let tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
            tenants.values().filter(|t| t.running).count()
        };
        let deadline = Instant::now() + timeout;
        while running() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let left = running();
        if left > 0 {
            warn!(syncs = left, "stopped with IO syncs still under way");
        }
    }

    /// Whether a service not yet as declared is due to be looked at again.
    fn poll_due(&self, tenant: &str) -> bool {
        let poll = Self::seconds(self.config.poll);
        let tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let last = tenants
            .get(tenant)
            .and_then(|t| t.last)
            .unwrap_or_else(|| self.unseen(tenant, now, poll));
        now.saturating_duration_since(last) >= poll
    }
}

/// What status says of the tenant's managed services, and when to look again; a sync started
/// in the background if one is due. `ready`: the tenant's workloads are Ready with the keys
/// this pass gave them.
pub fn services(
    ctx: &Arc<Context>,
    tenant: &MunicipalityTenant,
    valid: &ValidTenant,
    owner: &Owner,
    keys: &ConnectorKeys,
    ready: bool,
) -> Option<(IoStatus, Option<Duration>)> {
    let name = record::secret_name(valid.name.as_str());
    let namespace = &ctx.config.operator_namespace;
    let stored = ctx
        .source_secrets
        .get(&ObjectRef::new(&name).within(namespace));
    let Some(io) = valid.io.as_ref().filter(|io| io.managed().next().is_some()) else {
        // No managed service left: the record of those there were goes, and each is said.
        if let Some(platform) = &ctx.io {
            platform.forget(valid.name.as_str());
        }
        if let Some(stored) = stored.filter(|s| made_for(s, valid.name.as_str())) {
            tokio::spawn(forget_all(ctx.clone(), tenant.clone(), stored));
        }
        return None;
    };
    let record = stored.as_deref().map(Record::of).unwrap_or_default();
    let mut status = record.status(io);
    let problem = |status: &mut IoStatus, text: String| {
        status.platform_problem = Some(text);
        Some((status.clone(), None))
    };
    if let Some(s) = &stored
        && !made_for(s, valid.name.as_str())
    {
        return problem(
            &mut status,
            format!(
                "Secret {namespace}/{name} exists but was not made by the operator for this tenant (labels {MANAGED_BY_LABEL}: {MANAGED_BY}, {TENANT_LABEL}: {}, {IO_SERVICES_LABEL}: \"true\"): it is left alone; delete or rename it",
                valid.name
            ),
        );
    }
    let Some(platform) = ctx.io.clone() else {
        return problem(
            &mut status,
            "ManagedServicesWait: the operator was not given IO's manage API (--io-manage-url): managed services are not acted on".to_owned(),
        );
    };
    let manage_key = match manage_key(ctx, valid, io) {
        Ok(key) => key,
        Err(e) => return problem(&mut status, format!("{}: {e}", e.reason())),
    };
    let data: BTreeMap<String, Vec<u8>> = stored
        .iter()
        .flat_map(|s| s.data.iter().flatten())
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    let given = keys.of(Connector::Io);
    let rolled = ready
        && io.managed().all(|(service, _)| {
            data.get(service.as_str()).map(Vec::as_slice)
                == given
                    .get(&key_variable(service.as_str()))
                    .map(|v| v.0.as_slice())
        });
    let tenant_name = valid.name.as_str();
    let why = record::due(io, &record, &data, rolled, platform.poll_due(tenant_name));
    // A rejected service waits for a change of the spec, not for a poll.
    let pending = status
        .services
        .iter()
        .any(|s| !s.in_sync && s.state.as_deref() != Some(State::Rejected.name()));
    let declared = record::declared_all(io);
    let poll = Some(IoPlatform::seconds(platform.config.poll));
    match platform.claim(tenant_name, why, pending, &declared) {
        Ok(()) => {
            let job = Job {
                ctx: ctx.clone(),
                platform,
                tenant: tenant.clone(),
                owner: owner.clone(),
                io: io.clone(),
                manage_key,
                rolled,
                stored,
                record,
                data,
            };
            let span =
                info_span!("io-sync", tenant = %tenant_name, why = why.unwrap_or("drift check"));
            tokio::spawn(job.run().instrument(span));
            // Back after a poll's time: a sync that changes nothing writes nothing to bring
            // the tenant back by.
            Some((status, poll))
        }
        Err(None) => Some((status, poll)),
        Err(again) => Some((status, again)),
    }
}

/// The tenant has no managed service left: each the record had is said to stay on IO as it
/// was, and the record goes (its keys with it).
async fn forget_all(ctx: Arc<Context>, tenant: MunicipalityTenant, stored: Arc<Secret>) {
    for (service, r) in Record::of(&stored).services {
        left_on_io(&ctx, &tenant, &service, &r).await;
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.config.operator_namespace);
    let name = stored.name_any();
    if let Err(error) = api.delete(&name, &Default::default()).await
        && !matches!(&error, kube::Error::Api(s) if s.code == 404)
    {
        warn!(%error, secret = %name, "could not delete the IO services' record");
    }
}

/// Says that `service` is no longer managed and stays on IO as it was.
async fn left_on_io(ctx: &Context, tenant: &MunicipalityTenant, service: &str, r: &ServiceRecord) {
    let note = Note {
        warning: true,
        reason: "IoServiceNoLongerManaged".to_owned(),
        action: "Sync",
        note: format!(
            "service {service} ({}) is no longer in the spec: it stays on IO as it was ({}), and its key leaves the workloads; withdraw or delete it in IO's back office if it must go",
            r.id,
            if r.published {
                "published"
            } else {
                "not published"
            }
        ),
    };
    ctx.events.on_tenant(tenant, note).await;
}

/// The manage key's value, from its source Secret (bound to the tenant like any other).
fn manage_key(
    ctx: &Context,
    valid: &ValidTenant,
    io: &IoConnector,
) -> Result<String, dereference::KeyProblem> {
    let key = io
        .manage_key
        .as_ref()
        .expect("validated: managed services have a manage key");
    let r = KeyRef {
        connector: Connector::Io,
        field: "spec.io.manageKey".to_owned(),
        secret_field: "spec.io.manageKey.secretName".to_owned(),
        secret: key.secret_name.clone(),
        key: key.key.clone(),
        variable: String::new(),
        made_by_operator: false,
    };
    let namespace = &ctx.config.operator_namespace;
    let find = |name: &str| {
        ctx.source_secrets
            .get(&ObjectRef::new(name).within(namespace))
    };
    let value = dereference::lookup(valid, namespace, &find, &r)?;
    Ok(String::from_utf8_lossy(&value.0).trim().to_owned())
}

fn made_for(secret: &Secret, tenant: &str) -> bool {
    let labels = secret.labels();
    let is = |label: &str, value: &str| labels.get(label).map(String::as_str) == Some(value);
    is(MANAGED_BY_LABEL, MANAGED_BY) && is(TENANT_LABEL, tenant) && is(IO_SERVICES_LABEL, "true")
}

/// One sync of one tenant, in the background.
struct Job {
    ctx: Arc<Context>,
    platform: Arc<IoPlatform>,
    tenant: MunicipalityTenant,
    owner: Owner,
    io: IoConnector,
    manage_key: String,
    rolled: bool,
    stored: Option<Arc<Secret>>,
    record: Record,
    data: BTreeMap<String, Vec<u8>>,
}

/// Marks a tenant's sync ended when dropped: also when the sync panicked or was abandoned.
struct Claimed<'a> {
    platform: &'a IoPlatform,
    tenant: &'a str,
    failed: bool,
}

impl Drop for Claimed<'_> {
    fn drop(&mut self) {
        self.platform.finished(self.tenant, self.failed);
    }
}

impl Job {
    async fn run(mut self) {
        let platform = self.platform.clone();
        let tenant = self.owner.name.clone();
        let mut claimed = Claimed {
            platform: &platform,
            tenant: &tenant,
            failed: true,
        };
        let Ok(_permit) = platform.slots.acquire().await else {
            return;
        };
        if platform.stopping.load(Ordering::SeqCst) {
            claimed.failed = false;
            return;
        }
        claimed.failed = match self.read_fresh().await {
            Ok(()) => self.sync().await,
            Err(error) => {
                warn!(%error, "could not read the IO services' record");
                true
            }
        };
    }

    /// The record as it is now, not as the cache last had it: a sync that started from a
    /// record older than the last one written would redo what that one did (a key made anew
    /// twice, the second never given to the workloads).
    async fn read_fresh(&mut self) -> Result<(), String> {
        let ctx = &self.ctx;
        let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.config.operator_namespace);
        let name = record::secret_name(&self.owner.name);
        let stored = api.get_opt(&name).await.map_err(|e| e.to_string())?;
        if let Some(s) = &stored
            && !made_for(s, &self.owner.name)
        {
            // Never overwritten; the reconcile says so on status.
            return Err(format!("Secret {name} was not made by the operator"));
        }
        self.record = stored.as_ref().map(Record::of).unwrap_or_default();
        self.data = stored
            .iter()
            .flat_map(|s| s.data.iter().flatten())
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        self.stored = stored.map(Arc::new);
        Ok(())
    }

    /// Syncs, writes what changed, and says what was done. True if it failed.
    async fn sync(&self) -> bool {
        let s = Sync {
            client: &self.platform.client,
            manage_key: &self.manage_key,
            io: &self.io,
            rolled: self.rolled,
        };
        let synced = sync::sync(&s, &self.record, &self.data).await;
        let failed = synced.error.is_some();
        let ctx = &self.ctx;
        let name = record::secret_name(&self.owner.name);
        if synced.record != self.record || synced.keys != self.data {
            let api: Api<Secret> =
                Api::namespaced(ctx.client.clone(), &ctx.config.operator_namespace);
            let own = OwnSecret {
                owner: &self.owner,
                labels: BTreeMap::from([
                    (MANAGED_BY_LABEL, MANAGED_BY),
                    (TENANT_LABEL, self.owner.name.as_str()),
                    (IO_SERVICES_LABEL, "true"),
                ]),
                annotations: BTreeMap::from([(RECORD_ANNOTATION, synced.record.to_annotation())]),
                data: synced.keys.clone(),
            };
            if let Err(error) = own_secret::write(&api, &name, self.stored.as_deref(), &own).await {
                // The platform's side is done; the next sync finds the services again by name.
                warn!(%error, secret = %name, "could not write the IO services' record");
                return true;
            }
        }
        if !synced.done.is_empty() {
            info!(done = ?synced.done, "IO services synced");
            let note = Note {
                warning: false,
                reason: "IoServicesSynced".to_owned(),
                action: "Sync",
                note: synced.done.join("; "),
            };
            ctx.events.on_tenant(&self.tenant, note).await;
        }
        for (service, r) in &synced.left {
            left_on_io(ctx, &self.tenant, service, r).await;
        }
        if synced.record.problem != self.record.problem
            && let Some(problem) = &synced.record.problem
        {
            warn!(reason = %problem.reason, message = %problem.message, "IO services not synced");
            let note = Note {
                warning: true,
                reason: problem.reason.clone(),
                action: "Sync",
                note: problem.message.clone(),
            };
            ctx.events.on_tenant(&self.tenant, note).await;
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(poll: i64, drift_check: i64) -> Arc<IoPlatform> {
        let config = IoManageConfig {
            url: Some("https://io.example/api/v1/manage".to_owned()),
            rate: std::num::NonZeroU32::new(5).unwrap(),
            poll,
            drift_check,
            timeout: 10,
        };
        IoPlatform::new(&config, Arc::new(Metrics::new())).unwrap()
    }

    #[tokio::test]
    async fn one_sync_a_tenant_and_a_failure_waits_unless_the_spec_changes() {
        let p = platform(60, 86_400);
        assert_eq!(p.claim("t", Some("declared"), true, "v1"), Ok(()));
        assert_eq!(
            p.claim("t", Some("declared"), true, "v1"),
            Err(None),
            "one at a time"
        );
        p.finished("t", true);
        let waited = p
            .claim("t", Some("changed"), true, "v1")
            .unwrap_err()
            .unwrap();
        assert!(
            waited > Duration::from_secs(25),
            "the failure backoff: {waited:?}"
        );
        assert!(
            p.metrics
                .encode()
                .contains("municipio_platform_tenants_failing{platform=\"io\"} 1")
        );
        // A person's change is tried at once (after the least gap between two syncs).
        let waited = p
            .claim("t", Some("changed"), true, "v2")
            .unwrap_err()
            .unwrap();
        assert!(waited <= MIN_GAP, "{waited:?}");
        p.forget("t");
        assert!(
            p.metrics
                .encode()
                .contains("municipio_platform_tenants_failing{platform=\"io\"} 0")
        );
    }

    #[tokio::test]
    async fn at_rest_only_the_drift_check_is_due_and_a_restart_spreads_it() {
        let p = platform(60, 86_400);
        // A tenant this process has not seen: its last look is spread over the period, so
        // most tenants are not due at once.
        let due: usize = (0..1000)
            .filter(|i| p.claim(&format!("t{i}"), None, false, "v").is_ok())
            .count();
        assert_eq!(due, 0, "no tenant due right after a restart, at rest");
        p.finished("t0", false);
        let waited = p.claim("t0", None, false, "v").unwrap_err().unwrap();
        assert!(waited > Duration::from_secs(86_000), "{waited:?}");
        let waited = p.claim("t0", None, true, "v").unwrap_err().unwrap();
        assert!(
            waited <= Duration::from_secs(60),
            "a pending service is polled: {waited:?}"
        );
    }
}
