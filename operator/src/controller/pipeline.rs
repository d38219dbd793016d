//! The pipeline of one tenant, top to bottom: validate → claim the namespace → the identity
//! keys (made or rotated) → dereference → build → apply → prune → the managed IO services (a
//! sync on the platform started in the background, if due) → status. Each step is a module of its own with its own error; a step
//! may also stop the pipeline with an outcome (an invalid spec, a namespace taken, a key
//! missing), which status then tells.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use municipio_crds::v1alpha1::Connector;
use municipio_crds::{MunicipalityTenant, ValidTenant};
use tracing::info;

use super::apply::{self, Drift, Target};
use super::events::Note;
use super::pod_security::Enforcement;
use super::status::{self, Observed, Outcome};
use super::{Context, Error, identity, io, keys, namespace, prune};
use crate::children::{self, Owner};

/// How often a converged tenant is looked at again: tenant Secrets are written but not watched
/// (the operator may not read Secrets cluster-wide), so their drift is caught here.
const RESYNC: Duration = Duration::from_secs(300);
/// How soon a tenant stopped by something outside its spec (a source Secret, a namespace) is
/// looked at again (a watch usually brings it back sooner).
pub const BLOCKED_RETRY: Duration = Duration::from_secs(60);

/// Why the pipeline did not reach its end: an outcome to report, or a step that failed.
#[derive(Debug)]
pub enum Stop {
    At(Outcome, Action),
    Failed(Error),
}

/// A failed step stops the pipeline with its error.
macro_rules! failed_step {
    ($($step:ty),*) => {$(
        impl From<$step> for Stop {
            fn from(error: $step) -> Self {
                Stop::Failed(error.into())
            }
        }
    )*};
}
failed_step!(
    namespace::ClaimError,
    keys::KeysError,
    apply::ApplyError,
    prune::PruneError
);

/// Runs the pipeline for `tenant`: what it observed, and the outcome with when to look again.
pub async fn run(
    tenant: &MunicipalityTenant,
    ctx: &Arc<Context>,
) -> (Observed, Result<(Outcome, Action), Error>) {
    let mut observed = Observed {
        generation: tenant.metadata.generation,
        ..Observed::default()
    };
    let result = match steps(tenant, ctx, &mut observed).await {
        Ok(done) => Ok(done),
        Err(Stop::At(outcome, action)) => Ok((outcome, action)),
        Err(Stop::Failed(error)) => Err(error),
    };
    (observed, result)
}

async fn steps(
    tenant: &MunicipalityTenant,
    ctx: &Arc<Context>,
    observed: &mut Observed,
) -> Result<(Outcome, Action), Stop> {
    let valid = validate(tenant)?;
    reserved_namespace(ctx, &valid)?;
    let owner = Owner::of_valid(&valid, tenant);
    namespace::claim(ctx, tenant, &valid, &owner, observed).await?;
    if valid.suspend {
        return Err(Stop::At(Outcome::Suspended, Action::await_change()));
    }
    let identity = identity::keys(ctx, tenant, &valid, &owner).await?;
    let fresh = identity.as_ref().map(|i| i.secret.clone());
    let mut keys = keys::dereference(ctx, tenant, &valid, fresh.as_ref()).await?;
    let published = identity.map(|i| i.published);
    if let Some(published) = published.clone() {
        keys.set_identity(published);
    }
    let desired = children::build(&valid, &owner, &ctx.config, &keys);
    observed.connectors =
        keys::connectors(ctx, &valid, &desired, fresh.as_ref(), published.as_ref());
    let target = Target {
        client: &ctx.client,
        inventory: &ctx.inventory,
        tenant_uid: &owner.uid,
    };
    let write_secret = keys::write_policy(ctx, tenant, &valid, &observed.connectors);
    let applied = apply::apply(&target, &desired, write_secret).await?;
    keys::written(ctx, &valid, &applied, observed);
    tell_drift(ctx, tenant, &applied.drift).await;
    let gateway_namespace = &ctx.config.identity.gateway_namespace;
    let pruned = prune::prune(&target, &owner, &desired, gateway_namespace).await?;
    tell_pruned(ctx, tenant, &pruned).await;
    observed.pod_security = pod_security(ctx, &valid).await;
    let outcome = status::outcome(&applied, observed, &valid, ctx.require_pod_security);
    // The managed IO services: looked at on the platform in the background, if due.
    let ready = outcome == Outcome::Ready;
    let io = io::services(ctx, tenant, &valid, &owner, &keys, ready);
    let io_again = io.as_ref().and_then(|(_, again)| *again);
    if let Some((status, _)) = io {
        let connector = observed
            .connectors
            .iter_mut()
            .find(|c| c.name == Connector::Io);
        if let Some(connector) = connector {
            connector.io = Some(status);
        }
    }
    // Back when the identity keys next change (a key due, one starting to sign, one expiring,
    // the entity configuration to sign again), if that is before the resync.
    let keys_change = published.as_ref().map(|p| {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Duration::from_secs(u64::try_from(p.next_change - now).unwrap_or(0).max(1))
    });
    let again = [Some(RESYNC), Some(ctx.secret_resync), keys_change, io_again]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(RESYNC);
    Ok((outcome, Action::requeue(again)))
}

/// Parse, don't validate: every later step takes the validated tenant.
fn validate(tenant: &MunicipalityTenant) -> Result<ValidTenant, Stop> {
    municipio_crds::validate(tenant).map_err(|errors| {
        let outcome = Outcome::Stalled {
            reason: "InvalidSpec",
            message: joined(&errors),
        };
        Stop::At(outcome, Action::await_change())
    })
}

/// The operator's namespace and the identity gateway's are never a tenant's: a tenant's
/// administrators would read every municipality's keys there. (Both usually exist, which the
/// claim refuses anyway; this holds before they do.)
fn reserved_namespace(ctx: &Context, valid: &ValidTenant) -> Result<(), Stop> {
    let ns = valid.namespace.as_str();
    let reserved = [
        (ctx.config.operator_namespace.as_str(), "the operator's"),
        (
            ctx.config.identity.gateway_namespace.as_str(),
            "the identity gateway's",
        ),
    ];
    match reserved.iter().find(|(name, _)| *name == ns) {
        Some((_, whose)) => {
            let outcome = Outcome::Stalled {
                reason: "ReservedNamespace",
                message: format!(
                    "spec.namespace: {ns} is {whose} namespace, never a tenant's: choose another"
                ),
            };
            Err(Stop::At(outcome, Action::await_change()))
        }
        None => Ok(()),
    }
}

/// Whether the cluster enforces the namespace's Pod Security level, and the metric that says it.
async fn pod_security(ctx: &Context, valid: &ValidTenant) -> Option<bool> {
    let enforcement = ctx
        .pod_security
        .enforcement(&ctx.client, valid.namespace.as_str())
        .await?;
    let enforced = enforcement == Enforcement::Enforced;
    ctx.metrics.pod_security_enforced(enforced);
    Some(enforced)
}

async fn tell_drift(ctx: &Context, tenant: &MunicipalityTenant, drift: &[Drift]) {
    if drift.is_empty() {
        return;
    }
    let drift: Vec<String> = drift.iter().map(ToString::to_string).collect();
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

async fn tell_pruned(ctx: &Context, tenant: &MunicipalityTenant, pruned: &[String]) {
    if pruned.is_empty() {
        return;
    }
    info!(?pruned, tenant = %tenant.name_any(), "deleted children no longer desired");
    let note = Note {
        warning: false,
        reason: "Pruned".to_owned(),
        action: "Prune",
        note: format!("deleted, no longer desired: {}", pruned.join(", ")),
    };
    ctx.events.on_tenant(tenant, note).await;
}

/// Problems as one message.
pub fn joined(problems: &[impl ToString]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
