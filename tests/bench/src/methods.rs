//! The three ways of writing the tenants' children, and what is measured of each.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::ResourceQuota;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::{Api, Client};
use serde::Serialize;
use serde_json::{Value, json};

use municipio_crds::MunicipalityTenant;
use municipio_crds::identifiers::Quantity;
use municipio_operator::config::OperatorConfig;
use municipio_operator::yaml;

use crate::{Method, RunResult};
use municipio_bench::cluster::{self, ADMIN_USER, ControlPlane, OPERATOR_USER, Usage};
use municipio_bench::process::OperatorProcess;
use municipio_bench::setup;
use municipio_bench::tenants;
use municipio_bench::watch::{TenantWatch, converged, ready};

pub struct Bench<'a> {
    pub repo: &'a Path,
    pub cp: &'a ControlPlane,
    pub config: &'a OperatorConfig,
    pub tenants: &'a [MunicipalityTenant],
    pub concurrency: usize,
    pub work_dir: &'a Path,
}

pub struct OperatorPlan<'a> {
    pub binary: &'a Path,
    pub wait_ready: bool,
    pub rest_seconds: u64,
    pub changes: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(mut ms: Vec<f64>) -> Option<Self> {
        if ms.is_empty() {
            return None;
        }
        ms.sort_by(f64::total_cmp);
        // Nearest rank: the smallest sample at or above the given share of them.
        let rank = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        Some(Self {
            samples: ms.len(),
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            max_ms: ms[ms.len() - 1],
        })
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The control plane's own processes, read at one moment.
struct ControlPlaneUsage {
    apiserver: Option<Usage>,
    etcd: Option<Usage>,
}

impl ControlPlaneUsage {
    fn now(cp: &ControlPlane) -> Self {
        Self {
            apiserver: cp.pid("kube-apiserver").and_then(Usage::of),
            etcd: cp.pid("etcd").and_then(Usage::of),
        }
    }

    /// Into `result`: CPU used since `before`, peak memory so far.
    fn record_since(self, before: &Self, result: &mut RunResult) {
        let since = |now: Option<Usage>, then: Option<Usage>| match (now, then) {
            (Some(n), Some(t)) => Some(n.since(t)),
            (n, _) => n,
        };
        result.apiserver = since(self.apiserver, before.apiserver);
        result.etcd = since(self.etcd, before.etcd);
    }
}

impl Bench<'_> {
    fn result(&self, method: Method) -> RunResult {
        RunResult {
            tenants: self.tenants.len(),
            method: Some(method),
            ..RunResult::default()
        }
    }

    async fn prepare(&self) -> Result<Client, String> {
        setup::prepare(
            self.repo,
            self.cp,
            self.tenants,
            (
                &self.config.operator_namespace,
                &self.config.identity.gateway_namespace,
            ),
            self.concurrency,
        )
        .await
    }

    fn start_operator_logged(
        &self,
        binary: &Path,
        log: &str,
        args: &[&str],
    ) -> Result<OperatorProcess, String> {
        OperatorProcess::start(
            binary,
            self.cp,
            &self.config.operator_namespace,
            self.concurrency,
            &self.work_dir.join(format!("{log}.log")),
            args,
        )
    }

    fn children(&self) -> Result<Vec<Vec<Value>>, String> {
        self.tenants
            .iter()
            .map(|t| {
                let source = tenants::source_secret(t, &self.config.operator_namespace);
                tenants::children(t, &source, self.config)
            })
            .collect()
    }

    /// The floor: the children by server-side apply, `concurrency` tenants at a time, each
    /// tenant's objects one after the other (the namespace first), as the operator does, and
    /// nothing else: no read, no status. With `watched_by`, an operator binary runs meanwhile
    /// managing no tenant: its watches see every child written.
    pub async fn floor(&self, watched_by: Option<&Path>) -> Result<RunResult, String> {
        let admin = self.prepare().await?;
        let children = self.children()?;
        let mut result = self.result(if watched_by.is_some() {
            Method::FloorWatched
        } else {
            Method::Floor
        });
        let watcher = match watched_by {
            Some(binary) => {
                let operator = self.start_operator_logged(
                    binary,
                    "operator-watching",
                    &["--tenant-selector", "municipio.io/bench=none"],
                )?;
                operator.until_listed().await?;
                Some(operator)
            }
            None => None,
        };
        result.objects = children.iter().map(Vec::len).sum();
        let params = PatchParams::apply("municipio-bench-floor").force();
        let (cpu, usage) = (
            cluster::own_cpu_seconds(false),
            ControlPlaneUsage::now(self.cp),
        );
        let (from, start) = (Timestamp::now(), Instant::now());
        stream::iter(&children)
            .map(|objects| {
                let (admin, params) = (admin.clone(), params.clone());
                async move {
                    for object in objects {
                        apply(&admin, &params, object).await?;
                    }
                    Ok::<_, String>(())
                }
            })
            .buffer_unordered(self.concurrency)
            .try_collect::<Vec<_>>()
            .await?;
        result.seconds = start.elapsed().as_secs_f64();
        let to = Timestamp::now();
        result.client_cpu_seconds = Some(cluster::own_cpu_seconds(false) - cpu);
        ControlPlaneUsage::now(self.cp).record_since(&usage, &mut result);
        if let Some(watcher) = watcher {
            result.operator = Some(watcher.stop()?);
        }
        self.cp.audit_caught_up(&admin).await?;
        result.writes = self.cp.writes(ADMIN_USER, from, to);
        Ok(result)
    }

    /// The GitOps baseline: the same children rendered to one file per tenant (the namespace
    /// first), applied by one `kubectl apply --server-side` of the directory.
    pub async fn kubectl(&self) -> Result<RunResult, String> {
        let admin = self.prepare().await?;
        let children = self.children()?;
        let mut result = self.result(Method::Kubectl);
        result.objects = children.iter().map(Vec::len).sum();
        let dir = self.work_dir.join("rendered");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(err)?;
        for (tenant, objects) in self.tenants.iter().zip(&children) {
            // The YAML `municipio render` writes (quoted where YAML 1.1 would misread a string).
            let docs: Vec<String> = objects.iter().map(yaml::to_yaml).collect();
            let name = tenant.metadata.name.as_deref().unwrap_or_default();
            std::fs::write(dir.join(format!("{name}.yaml")), docs.join("---\n")).map_err(err)?;
        }
        let (cpu, usage) = (
            cluster::own_cpu_seconds(true),
            ControlPlaneUsage::now(self.cp),
        );
        let (from, start) = (Timestamp::now(), Instant::now());
        let dir = dir.to_string_lossy();
        let status = Command::new("kubectl")
            .args([
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=municipio-bench-kubectl",
                "-f",
                &dir,
            ])
            .env("KUBECONFIG", self.cp.admin_kubeconfig())
            .stdout(Stdio::null())
            .status()
            .map_err(err)?;
        if !status.success() {
            return Err(format!("kubectl apply --server-side -f {dir} failed"));
        }
        result.seconds = start.elapsed().as_secs_f64();
        let to = Timestamp::now();
        result.client_cpu_seconds = Some(cluster::own_cpu_seconds(true) - cpu);
        ControlPlaneUsage::now(self.cp).record_since(&usage, &mut result);
        self.cp.audit_caught_up(&admin).await?;
        result.writes = self.cp.writes(ADMIN_USER, from, to);
        Ok(result)
    }

    /// The operator: every tenant created first, then `municipio run` started and timed until
    /// every tenant has converged (and, with rollouts, is Ready); then left alone, restarted,
    /// and given changes one at a time.
    pub async fn operator(&self, plan: &OperatorPlan<'_>) -> Result<RunResult, String> {
        let admin = self.prepare().await?;
        let mut result = self.result(Method::Operator);
        setup::create_tenants(&admin, self.tenants, self.concurrency).await?;
        let n = self.tenants.len();
        let watch = TenantWatch::start(admin.clone());
        watch.until(n, |_| true).await?; // every tenant seen: the watch is up

        let usage = ControlPlaneUsage::now(self.cp);
        let from = Timestamp::now();
        let operator = self.start_operator_logged(plan.binary, "operator", &[])?;
        watch.until(n, converged).await?;
        result.seconds = operator.started.elapsed().as_secs_f64();
        let converged_at = Timestamp::now();
        result.objects = watch
            .store
            .state()
            .iter()
            .filter_map(|t| t.status.as_ref()?.managed_objects)
            .map(|m| m as usize)
            .sum();
        ControlPlaneUsage::now(self.cp).record_since(&usage, &mut result);
        self.cp.audit_caught_up(&admin).await?;
        result.writes = self.cp.writes(OPERATOR_USER, from, converged_at);
        if plan.wait_ready {
            // Now the Deployments roll out.
            self.cp.restart_stopped()?;
            watch.until(n, ready).await?;
            result.ready_seconds = Some(operator.started.elapsed().as_secs_f64());
            self.cp.audit_caught_up(&admin).await?;
            result.writes_until_ready = Some(self.cp.writes(OPERATOR_USER, from, Timestamp::now()));
        }

        let rest_from = Timestamp::now();
        tokio::time::sleep(Duration::from_secs(plan.rest_seconds)).await;
        self.cp.audit_caught_up(&admin).await?;
        result.writes_at_rest = Some(
            self.cp
                .writes(OPERATOR_USER, rest_from, Timestamp::now())
                .total,
        );
        result.rest_seconds = Some(plan.rest_seconds);

        let first = operator.stop()?;
        let restart_from = Timestamp::now();
        let mut operator = self.start_operator_logged(plan.binary, "operator-restarted", &[])?;
        operator.until_reconciled(n).await?;
        result.restart_reconcile_seconds = Some(operator.started.elapsed().as_secs_f64());
        self.cp.audit_caught_up(&admin).await?;
        result.writes_after_restart = Some(
            self.cp
                .writes(OPERATOR_USER, restart_from, Timestamp::now())
                .total,
        );

        result.latency = Latency::of(self.changes(&admin, &watch, plan).await?);
        let second = operator.stop()?;
        result.operator = Some(Usage {
            peak_rss_mb: first.peak_rss_mb.max(second.peak_rss_mb),
            cpu_seconds: first.cpu_seconds + second.cpu_seconds,
        });
        Ok(result)
    }

    /// Changes `plan.changes` tenants, picked at random, one at a time (their pod quota), and
    /// times each until its status observes the new generation with every child applied; the
    /// ResourceQuota is then checked to hold the new value.
    async fn changes(
        &self,
        admin: &Client,
        watch: &TenantWatch,
        plan: &OperatorPlan<'_>,
    ) -> Result<Vec<f64>, String> {
        let api: Api<MunicipalityTenant> = Api::all(admin.clone());
        let mut rng = fastrand::Rng::with_seed(plan.seed);
        let mut picked: Vec<&MunicipalityTenant> = self.tenants.iter().collect();
        rng.shuffle(&mut picked);
        let mut samples = Vec::new();
        for (i, tenant) in picked.into_iter().take(plan.changes).enumerate() {
            let name = tenant.metadata.name.as_deref().unwrap_or_default();
            let pods = 1000 + i;
            let patch = json!({"spec": {"quota": {"pods": pods}}});
            let start = Instant::now();
            let changed = api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(err)?;
            let generation = changed.metadata.generation;
            watch
                .until_one(name, |t| {
                    t.status.as_ref().and_then(|s| s.observed_generation) >= generation
                        && converged(t)
                })
                .await?;
            samples.push(start.elapsed().as_secs_f64() * 1000.0);
            let namespace = tenant
                .spec
                .namespace
                .clone()
                .unwrap_or_else(|| format!("comune-{name}"));
            let quota = Api::<ResourceQuota>::namespaced(admin.clone(), &namespace)
                .list(&Default::default())
                .await
                .map_err(err)?;
            let held = quota
                .items
                .iter()
                .filter_map(|q| q.spec.as_ref()?.hard.as_ref()?.get("pods"))
                // The API server keeps quantities in canonical form: 1000 is "1k".
                .any(|q| {
                    q.0.parse::<Quantity>()
                        .is_ok_and(|q| q.value() == pods as f64)
                });
            if !held {
                return Err(format!(
                    "{name}: the ResourceQuota does not hold pods={pods}"
                ));
            }
        }
        Ok(samples)
    }
}

/// One child by server-side apply, whatever its kind.
async fn apply(client: &Client, params: &PatchParams, object: &Value) -> Result<(), String> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind = object["kind"].as_str().unwrap_or_default();
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    api.patch(name, params, &Patch::Apply(object))
        .await
        .map(|_| ())
        .map_err(|e| format!("{kind} {name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::Latency;

    #[test]
    fn percentiles_are_nearest_rank() {
        let l = Latency::of((1..=100).map(f64::from).rev().collect()).unwrap();
        assert_eq!(
            (l.samples, l.p50_ms, l.p99_ms, l.max_ms),
            (100, 50.0, 99.0, 100.0)
        );
        let one = Latency::of(vec![7.0]).unwrap();
        assert_eq!((one.p50_ms, one.p99_ms, one.max_ms), (7.0, 7.0, 7.0));
        assert!(Latency::of(Vec::new()).is_none());
    }
}
