//! municipio's chaos suite (RELIABILITY.md). A region's tenants are rolled out twice, each time
//! on a fresh control plane of its own: once undisturbed, and once while the operator is killed
//! (SIGKILL) at random moments, the API server and etcd are restarted, etcd's history is
//! compacted (watches from before get 410 Gone) and some tenants are deleted while the operator
//! is down. Once both have settled, what the operator made is compared, object by object, and
//! nothing may be missing, extra, different or orphaned.

pub mod dump;
pub mod faults;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, ResourceExt};
use serde::Serialize;

use municipio_bench::cluster::ControlPlane;
use municipio_bench::process::OperatorProcess;
use municipio_bench::setup;
use municipio_bench::tenants;
use municipio_bench::watch::{TenantWatch, converged, ready};
use municipio_crds::MunicipalityTenant;
use municipio_crds::identifiers::NamespaceName;
use municipio_crds::v1alpha1::DeletionPolicy;

use dump::Dump;
use faults::{Fault, Schedule};

/// The operator's namespace, holding the source Secrets.
pub const OPERATOR_NAMESPACE: &str = "municipio-system";

/// What one chaos run does.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Lombardy's first N municipalities (up to 1,502), then Italy's.
    pub tenants: usize,
    /// SIGKILLs of the operator, each followed by a restart.
    pub kills: usize,
    pub apiserver_restarts: usize,
    pub etcd_restarts: usize,
    /// etcd compactions, each followed by an API server restart so that every watch resumes
    /// from a compacted resourceVersion.
    pub compactions: usize,
    /// Tenants deleted while the operator is down (every fourth tenant has `deletionPolicy:
    /// Retain`; the deleted ones include one of those).
    pub deletions: usize,
    pub concurrency: usize,
    pub seed: u64,
}

/// What a chaos run found. It passed when every list is empty and `retained` holds.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub plan: Option<Plan>,
    pub clean_seconds: f64,
    /// Until every tenant of the clean run was Ready: the chaos run's faults come within it.
    pub clean_rollout_seconds: f64,
    pub chaos_seconds: f64,
    /// When the last fault was over, counted like `chaos_seconds`: the rest is recovery.
    pub last_fault_seconds: f64,
    /// The faults, in order, with the second (since the operator first started) each came.
    pub faults: Vec<(f64, String)>,
    pub objects: usize,
    /// Managed objects or statuses that differ from the clean run's.
    pub differences: Vec<String>,
    /// Managed objects of a deleted tenant that were not retained on purpose.
    pub orphans: Vec<String>,
    /// Namespaces of deleted `Retain` tenants that are gone (they must stay).
    pub retained_namespaces_lost: Vec<String>,
    /// The operator's log lines that tell a panic, or an exit nobody asked for.
    pub crashes: Vec<String>,
    /// Watches the operator restarted after 410 Gone (from its logs).
    pub watches_expired: usize,
    /// Watches the operator restarted for any reason (from its logs).
    pub watch_restarts: usize,
    /// Reconciles that failed removing the finalizer of a tenant already gone (a store behind
    /// the API server; the first run of this suite found them retried for as long as it lagged).
    pub finalizer_not_found: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.differences.is_empty()
            && self.orphans.is_empty()
            && self.retained_namespaces_lost.is_empty()
            && self.crashes.is_empty()
            && self.finalizer_not_found.is_empty()
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The tenants: onboarded from the ISTAT list, every fourth with `deletionPolicy: Retain`.
pub fn tenants(repo: &Path, n: usize) -> Result<Vec<MunicipalityTenant>, String> {
    let mut all = tenants::municipalities(repo, n, false)?;
    for t in all.iter_mut().skip(1).step_by(4) {
        t.spec.deletion_policy = DeletionPolicy::Retain;
    }
    Ok(all)
}

/// The tenants to delete: `n` picked at random among the first by name (the operator, which
/// starts from a list in name order, makes them Ready early: the deletion waits for that),
/// among them at least one `Retain` one (when there is one).
pub fn to_delete(tenants: &[MunicipalityTenant], n: usize, seed: u64) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut picked: Vec<&MunicipalityTenant> = tenants.iter().collect();
    picked.sort_by_key(|t| t.name_any());
    picked.truncate((n * 2).max(tenants.len() / 20));
    rng.shuffle(&mut picked);
    let retain = |t: &&MunicipalityTenant| t.spec.deletion_policy == DeletionPolicy::Retain;
    let mut chosen: Vec<&MunicipalityTenant> = picked.iter().copied().take(n).collect();
    if n > 0
        && !chosen.iter().any(retain)
        && let Some(r) = picked.iter().copied().find(retain)
    {
        chosen[0] = r;
    }
    chosen.into_iter().map(|t| t.name_any()).collect()
}

/// Where a run keeps its control plane and logs.
pub struct Workspace {
    pub repo: PathBuf,
    pub operator_binary: PathBuf,
    pub dir: PathBuf,
}

/// What a settled run leaves, for comparison.
struct Settled {
    objects: Dump,
    statuses: Dump,
    seconds: f64,
    orphans: Vec<String>,
    retained_namespaces_lost: Vec<String>,
}

/// The clean run, then the chaos run, compared.
pub async fn run(ws: &Workspace, plan: &Plan) -> Result<Report, String> {
    let all = tenants(&ws.repo, plan.tenants)?;
    let deleted = to_delete(&all, plan.deletions, plan.seed);
    let mut report = Report {
        plan: Some(plan.clone()),
        ..Report::default()
    };
    eprintln!("chaos: {} tenants, the clean run", all.len());
    let tenants = Tenants {
        ws,
        plan,
        all: &all,
        deleted: &deleted,
    };
    let clean = one_run(&tenants, None, &mut report).await?;
    let span = Duration::from_secs_f64(report.clean_rollout_seconds.max(1.0));
    let schedule = Schedule::random(plan, span);
    eprintln!(
        "chaos: the chaos run, {} faults over {span:?}",
        schedule.len()
    );
    let chaos = one_run(&tenants, Some(schedule), &mut report).await?;
    report.clean_seconds = clean.seconds;
    report.chaos_seconds = chaos.seconds;
    report.objects = chaos.objects.len();
    report.differences = dump::differences(&clean.objects, &chaos.objects);
    report
        .differences
        .extend(dump::differences(&clean.statuses, &chaos.statuses));
    report.orphans = clean.orphans.into_iter().chain(chaos.orphans).collect();
    report.retained_namespaces_lost = clean
        .retained_namespaces_lost
        .into_iter()
        .chain(chaos.retained_namespaces_lost)
        .collect();
    Ok(report)
}

/// What both runs share: where they run, the plan, the tenants and those to delete.
struct Tenants<'a> {
    ws: &'a Workspace,
    plan: &'a Plan,
    all: &'a [MunicipalityTenant],
    deleted: &'a [String],
}

async fn one_run(
    tenants: &Tenants<'_>,
    schedule: Option<Schedule>,
    report: &mut Report,
) -> Result<Settled, String> {
    let label = if schedule.is_some() { "chaos" } else { "clean" };
    let dir = tenants.ws.dir.join(format!("{label}-control-plane"));
    let cp = ControlPlane::fresh(&tenants.ws.repo, &dir)?;
    let result = settle(tenants, schedule, report, &cp, label).await;
    // Kept for a look only when asked: a failed run in CI must not leave a control plane
    // running.
    if result.is_ok() || std::env::var_os("MUNICIPIO_CHAOS_KEEP").is_none() {
        cp.down();
    }
    result
}

async fn settle(
    tenants: &Tenants<'_>,
    schedule: Option<Schedule>,
    report: &mut Report,
    cp: &ControlPlane,
    label: &str,
) -> Result<Settled, String> {
    let Tenants {
        ws,
        plan,
        all,
        deleted,
    } = *tenants;
    let namespaces = (OPERATOR_NAMESPACE, "municipio-identity");
    let admin = setup::prepare(&ws.repo, cp, all, namespaces, plan.concurrency).await?;
    setup::create_tenants(&admin, all, plan.concurrency).await?;
    let api: Api<MunicipalityTenant> = Api::all(admin.clone());
    let log = ws.dir.join(format!("{label}-operator.log"));
    let _ = std::fs::remove_file(&log);
    let start = || {
        OperatorProcess::start(
            &ws.operator_binary,
            cp,
            OPERATOR_NAMESPACE,
            plan.concurrency,
            &log,
            &[],
        )
    };
    let started = Instant::now();
    let mut operator = start()?;
    match schedule {
        None => {
            let watch = TenantWatch::start(admin.clone());
            watch.until(all.len(), ready).await?;
            report.clean_rollout_seconds = started.elapsed().as_secs_f64();
            delete(&api, deleted).await?;
        }
        Some(schedule) => {
            for (at, fault) in schedule.faults() {
                if let Some(wait) = at.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
                if let Some(status) = operator.child.try_wait().map_err(err)? {
                    report
                        .crashes
                        .push(format!("the operator exited by itself: {status}"));
                }
                report
                    .faults
                    .push((started.elapsed().as_secs_f64(), format!("{fault:?}")));
                eprintln!("chaos: {:>6.1}s {fault:?}", started.elapsed().as_secs_f64());
                match fault {
                    Fault::KillOperator { down_ms } => {
                        drop(operator);
                        tokio::time::sleep(Duration::from_millis(*down_ms)).await;
                        operator = start()?;
                    }
                    Fault::DeleteWhileDown => {
                        // Once the operator has applied all their children (as in the clean
                        // run, where they go when Ready), so that what `Retain` keeps is the
                        // same whole; not waiting for their rollout keeps the faults within it.
                        all_converged(&admin, deleted).await?;
                        drop(operator);
                        delete(&api, deleted).await?;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        operator = start()?;
                    }
                    // SIGKILL: a crash (with SIGTERM, 1.20's API server waits 30 s and more for
                    // its watches to end).
                    Fault::RestartApiServer => cp.restart("kube-apiserver", "KILL")?,
                    Fault::RestartEtcd => cp.restart("etcd", "TERM")?,
                    Fault::Compact => {
                        // Watches running, then writes they do not follow: their
                        // resourceVersions fall behind the compacted revision.
                        watches_running(&log, operator.started).await;
                        churn(&admin).await?;
                        cp.compact()?;
                        let before = watches_expired(&log);
                        cp.restart("kube-apiserver", "KILL")?;
                        // Until a watch has come back to the compacted history and started
                        // over: a fault before that (a killed operator lists afresh) would
                        // hide the 410 Gone this fault is for. At most two minutes.
                        for _ in 0..240 {
                            if watches_expired(&log) > before {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                }
            }
            // The controller manager and the simulated node may have given up on an API server
            // that went away: `up` starts again whatever died.
            cp.restart_stopped()?;
            report.last_fault_seconds = started.elapsed().as_secs_f64();
        }
    }
    let admin = cp.client(&cp.admin_kubeconfig()).await?;
    let api: Api<MunicipalityTenant> = Api::all(admin.clone());
    let watch = TenantWatch::start(admin.clone());
    // The deleted ones first: one still waiting on its finalizer could be counted as Ready.
    gone(&api, deleted).await?;
    let remaining = all.len() - deleted.len();
    watch.until(remaining, ready).await?;
    let live: BTreeSet<String> = all
        .iter()
        .map(|t| t.name_any())
        .filter(|n| !deleted.contains(n))
        .collect();
    // The garbage collector removes a deleted tenant's children some time after the tenant.
    let mut objects = dump::managed(&admin).await?;
    for _ in 0..600 {
        if dump::orphans(&objects, &live).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        objects = dump::managed(&admin).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(status) = operator.child.try_wait().map_err(err)? {
        report
            .crashes
            .push(format!("the operator exited by itself: {status}"));
    }
    drop(operator);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    report.crashes.extend(
        text.lines()
            .filter(|l| l.contains("panicked"))
            .map(|l| format!("{label}: {l}")),
    );
    report.finalizer_not_found.extend(
        text.lines()
            .filter(|l| l.contains("failed to remove finalizer") && l.contains("NotFound"))
            .map(|l| format!("{label}: {l}")),
    );
    if label == "chaos" {
        let restarts: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("watch failed; restarting"))
            .collect();
        report.watch_restarts = restarts.len();
        report.watches_expired = restarts.iter().filter(|l| expired(l)).count();
    }
    let mut retained_namespaces_lost = Vec::new();
    for t in all.iter().filter(|t| deleted.contains(&t.name_any())) {
        if t.spec.deletion_policy == DeletionPolicy::Retain {
            let ns = namespace_of(t);
            if !objects.contains_key(&format!("Namespace//{ns}")) {
                retained_namespaces_lost.push(format!("{label}: {ns}"));
            }
        }
    }
    Ok(Settled {
        orphans: dump::orphans(&objects, &live)
            .into_iter()
            .map(|o| format!("{label}: {o}"))
            .collect(),
        statuses: dump::statuses(&admin).await?,
        objects,
        seconds,
        retained_namespaces_lost,
    })
}

fn namespace_of(t: &MunicipalityTenant) -> String {
    t.spec
        .namespace
        .clone()
        .unwrap_or_else(|| format!("{}{}", NamespaceName::DEFAULT_PREFIX, t.name_any()))
}

/// Until the tenants named in `names` have converged: every child applied, the operator done
/// with them (their Deployments may still be rolling out).
async fn all_converged(admin: &Client, names: &[String]) -> Result<(), String> {
    let api: Api<MunicipalityTenant> = Api::all(admin.clone());
    for name in names {
        let mut done = false;
        for _ in 0..1500 {
            if api
                .get_opt(name)
                .await
                .is_ok_and(|t| t.as_ref().is_some_and(converged))
            {
                done = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if !done {
            return Err(format!("{name} not converged within 5 minutes"));
        }
    }
    Ok(())
}

/// Until the operator's log has said for 5 s that no watch failed: after a restart of the
/// API server its lists may be refused for a while (its authorizer's caches), and a watch
/// still listing would not be caught behind a compaction. At most two minutes.
async fn watches_running(log: &Path, started: Instant) {
    use k8s_openapi::jiff::{SignedDuration, Timestamp};
    for _ in 0..240 {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let last_failure = text
            .lines()
            .filter(|l| l.contains("watch failed"))
            .filter_map(|l| l.split_whitespace().next()?.parse::<Timestamp>().ok())
            .next_back();
        let quiet = last_failure
            .is_none_or(|t| Timestamp::now().duration_since(t) > SignedDuration::from_secs(5));
        if started.elapsed() > Duration::from_secs(5) && quiet {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A watch's restart after 410 Gone, from its log line.
fn expired(line: &str) -> bool {
    line.contains("watch failed; restarting")
        && (line.contains("too old resource version") || line.contains("code: 410"))
}

/// How many watches of the operator's log so far restarted after 410 Gone.
fn watches_expired(log: &Path) -> usize {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().filter(|l| expired(l)).count()
}

/// A few writes of objects nobody watches, so that etcd's revision moves on.
async fn churn(admin: &Client) -> Result<(), String> {
    let api: Api<ConfigMap> = Api::namespaced(admin.clone(), "default");
    for i in 0..5 {
        let name = format!("chaos-churn-{i}");
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.clone());
        api.create(&PostParams::default(), &cm)
            .await
            .map_err(|e| format!("churn: {e}"))?;
        api.delete(&name, &DeleteParams::default())
            .await
            .map_err(|e| format!("churn: {e}"))?;
    }
    Ok(())
}

async fn delete(api: &Api<MunicipalityTenant>, names: &[String]) -> Result<(), String> {
    for name in names {
        api.delete(name, &DeleteParams::default())
            .await
            .map_err(|e| format!("delete {name}: {e}"))?;
    }
    Ok(())
}

/// Until none of `names` exists any more (the operator has let them go).
async fn gone(api: &Api<MunicipalityTenant>, names: &[String]) -> Result<(), String> {
    for _ in 0..1200 {
        let mut left = 0;
        for name in names {
            if api.get_opt(name).await.map_err(err)?.is_some() {
                left += 1;
            }
        }
        if left == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!(
        "deleted tenants still there after 10 minutes: {names:?}"
    ))
}
