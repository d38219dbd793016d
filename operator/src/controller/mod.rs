//! The controller: watches tenants, their Deployments and the source Secrets, and runs the
//! pipeline for each tenant: validate → dereference → build → apply → status.

pub mod apply;
pub mod cleanup;
pub mod prune;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Namespace, ResourceQuota, Secret, Service,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use municipio_crds::v1alpha1::WorkloadStatus;
use municipio_crds::{MunicipalityTenant, ValidTenant};
use tracing::{Instrument, info, info_span, warn};

use crate::build::metadata::{MANAGED_BY, MANAGED_BY_LABEL, TENANT_LABEL};
use crate::build::{self, Owner};
use crate::config::OperatorConfig;
use crate::dereference::{self, TENANTS_ANNOTATION};
use status::{Observed, Outcome};

/// How often a converged tenant is looked at again: tenant Secrets are written but not watched
/// (the operator may not read Secrets cluster-wide), so their drift is caught here.
const RESYNC: Duration = Duration::from_secs(300);
/// How soon a tenant blocked on a missing source Secret is retried (the Secret watch usually
/// triggers it sooner).
const BLOCKED_RETRY: Duration = Duration::from_secs(60);

/// The finalizer that lets cleanup run before a tenant goes (see [`cleanup`]).
pub const FINALIZER: &str = "tenancy.municipio.io/cleanup";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub config: OperatorConfig,
}

/// Runs the controller until SIGTERM or SIGINT. `tenant_selector` limits it to the tenants with
/// matching labels (a shard of a large region, or one test's tenants).
pub async fn run(client: Client, config: OperatorConfig, tenant_selector: Option<String>) {
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    let mut tenant_watch = watcher::Config::default();
    if let Some(selector) = &tenant_selector {
        tenant_watch = tenant_watch.labels(selector);
    }
    let managed = format!("{MANAGED_BY_LABEL}={MANAGED_BY}");
    let source_secrets: Api<Secret> = Api::namespaced(client.clone(), &config.operator_namespace);
    let ctx = Arc::new(Context {
        client: client.clone(),
        config,
    });
    info!(
        selector = tenant_selector.as_deref().unwrap_or(""),
        "municipio controller starting"
    );
    let controller = Controller::new(tenants, tenant_watch)
        // Children point at their tenant by label: one key per tenant, whatever the namespace.
        // Deployments in full, for their availability.
        .watches(
            Api::<Deployment>::all(client.clone()),
            watcher::Config::default().labels(&managed),
            |d| d.labels().get(TENANT_LABEL).map(|t| ObjectRef::new(t)),
        )
        .watches(source_secrets, watcher::Config::default(), |s| {
            bound_tenants(&s)
        });
    // Every other child kind by metadata only (small memory). Tenant Secrets are not watched,
    // since the operator may not read Secrets cluster-wide: the periodic resync catches them.
    let controller = watch_children::<Namespace>(controller, &client, &managed);
    let controller = watch_children::<ResourceQuota>(controller, &client, &managed);
    let controller = watch_children::<LimitRange>(controller, &client, &managed);
    let controller = watch_children::<RoleBinding>(controller, &client, &managed);
    let controller = watch_children::<NetworkPolicy>(controller, &client, &managed);
    let controller = watch_children::<ConfigMap>(controller, &client, &managed);
    let controller = watch_children::<Service>(controller, &client, &managed);
    controller
        .shutdown_on_signal()
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
        })
        .await;
}

/// Watches one child kind by metadata and maps each object to its tenant by label.
fn watch_children<K>(
    controller: Controller<MunicipalityTenant>,
    client: &Client,
    managed: &str,
) -> Controller<MunicipalityTenant>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let api: Api<PartialObjectMeta<K>> = Api::all(client.clone());
    controller.watches(api, watcher::Config::default().labels(managed), |o| {
        o.labels().get(TENANT_LABEL).map(|t| ObjectRef::new(t))
    })
}

/// The tenants a source Secret is bound to, so that a new or rotated key reaches them at once.
fn bound_tenants(secret: &Secret) -> Vec<ObjectRef<MunicipalityTenant>> {
    let meta = &secret.metadata;
    let by_label = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(TENANT_LABEL))
        .cloned();
    let by_annotation = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(TENANTS_ANNOTATION))
        .cloned()
        .unwrap_or_default();
    by_label
        .into_iter()
        .chain(
            by_annotation
                .split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty()),
        )
        .map(|t| ObjectRef::new(&t))
        .collect()
}

fn error_policy(tenant: Arc<MunicipalityTenant>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!(tenant = %tenant.name_any(), %error, "requeued");
    Action::requeue(Duration::from_secs(10))
}

async fn reconcile(tenant: Arc<MunicipalityTenant>, ctx: Arc<Context>) -> Result<Action, Error> {
    let span = info_span!("reconcile", tenant = %tenant.name_any());
    let api: Api<MunicipalityTenant> = Api::all(ctx.client.clone());
    finalizer(&api, FINALIZER, tenant, |event| async {
        match event {
            Event::Apply(tenant) => {
                let (outcome, observed, action) = pipeline(&tenant, &ctx).await?;
                write_status(&ctx.client, &tenant, observed, &outcome).await?;
                Ok(action)
            }
            Event::Cleanup(tenant) => {
                cleanup::cleanup(&ctx.client, &tenant).await?;
                info!(policy = ?tenant.spec.deletion_policy, "tenant deleted");
                Ok(Action::await_change())
            }
        }
    })
    .instrument(span)
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
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
            let message = errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            let outcome = Outcome::Stalled {
                reason: "InvalidSpec",
                message,
            };
            return Ok((outcome, observed, Action::await_change()));
        }
    };
    observed.namespace = Some(valid.namespace.to_string());
    let owner = Owner::of(tenant);

    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    if let Some(ns) = namespaces.get_opt(valid.namespace.as_str()).await? {
        let ours = ns.owner_references().iter().any(|r| r.uid == owner.uid);
        if !ours {
            let message = format!(
                "namespace {} exists and was not created for this tenant: it is left untouched; choose another spec.namespace",
                valid.namespace
            );
            return Ok((
                Outcome::Stalled {
                    reason: "NamespaceConflict",
                    message,
                },
                observed,
                Action::await_change(),
            ));
        }
    }
    if valid.suspend {
        return Ok((Outcome::Suspended, observed, Action::await_change()));
    }

    let source_secrets: Api<Secret> =
        Api::namespaced(ctx.client.clone(), &ctx.config.operator_namespace);
    let secrets = if valid.pagopa.is_some() || valid.io.is_some() {
        source_secrets.list(&ListParams::default()).await?.items
    } else {
        Vec::new()
    };
    let keys = match dereference::connector_keys(&valid, &ctx.config.operator_namespace, &secrets) {
        Ok(keys) => keys,
        Err(problems) => {
            let message = problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            let outcome = Outcome::Blocked {
                reason: problems[0].reason(),
                message,
            };
            return Ok((outcome, observed, Action::requeue(BLOCKED_RETRY)));
        }
    };

    let children = build::build(&valid, &owner, &ctx.config, &keys);
    let applied = apply::apply(&ctx.client, &children).await?;
    let pruned = prune::prune(&ctx.client, &owner, &children).await?;
    if pruned > 0 {
        info!(pruned, "deleted children no longer desired");
    }
    observed.managed_objects = i32::try_from(applied.objects).ok();
    observed.workloads = applied.deployments.iter().map(workload_status).collect();
    let waiting: Vec<String> = applied
        .deployments
        .iter()
        .filter(|d| !available(d))
        .map(|d| d.name_any())
        .collect();
    let outcome = if waiting.is_empty() {
        Outcome::Ready
    } else {
        Outcome::Progressing {
            reason: "WorkloadsProgressing",
            message: format!("waiting for Deployments: {}", waiting.join(", ")),
        }
    };
    Ok((outcome, observed, Action::requeue(RESYNC)))
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

async fn write_status(
    client: &Client,
    tenant: &MunicipalityTenant,
    observed: Observed,
    outcome: &Outcome,
) -> Result<(), kube::Error> {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let new = status::status(tenant.status.as_ref(), observed, outcome, &now);
    if tenant.status.as_ref() == Some(&new) {
        return Ok(());
    }
    let api: Api<MunicipalityTenant> = Api::all(client.clone());
    // A merge patch: the operator is the only writer of status and replaces it whole. (Server-
    // side apply of this kind runs without a schema on Kubernetes 1.20, which mangles it.)
    let patch = serde_json::json!({ "status": new });
    api.patch_status(
        &tenant.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}
