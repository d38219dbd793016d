//! Claim the namespace: the tenant's namespace must be one this tenant made, none yet, or the
//! one it left when it was deleted with `deletionPolicy: Retain` ([`crate::claim`]). The
//! operator never takes over anyone else's namespace, and a tenant never moves: its workloads
//! and data live in the namespace it has.

use k8s_openapi::api::core::v1::Namespace;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use municipio_crds::{MunicipalityTenant, ValidTenant};

use super::Context;
use super::events::Note;
use super::inventory::ChildKey;
use super::pipeline::{BLOCKED_RETRY, Stop};
use super::retention;
use super::status::{Observed, Outcome};
use crate::children::Owner;
use crate::claim::{self, Existing};
use tracing::info;

/// The namespace could not be read.
#[derive(Debug, thiserror::Error)]
#[error("claiming namespace {namespace}: {source}")]
pub struct ClaimError {
    pub namespace: String,
    #[source]
    pub source: kube::Error,
}

/// Stops the pipeline unless the tenant's namespace is free or already its own; records the
/// namespace the tenant lives in.
pub async fn claim(
    ctx: &Context,
    tenant: &MunicipalityTenant,
    valid: &ValidTenant,
    owner: &Owner,
    observed: &mut Observed,
) -> Result<(), Stop> {
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let read = |name: &str| {
        let namespaces = namespaces.clone();
        let name = name.to_owned();
        async move {
            namespaces
                .get_opt(&name)
                .await
                .map_err(|source| ClaimError {
                    namespace: name,
                    source,
                })
        }
    };
    let ours = |ns: &Namespace| ns.owner_references().iter().any(|r| r.uid == owner.uid);

    // The namespace holds the municipality's data: once the tenant lives in one, a new
    // spec.namespace would build a second one beside it and orphan the first.
    let current = tenant.status.as_ref().and_then(|s| s.namespace.as_deref());
    if let Some(current) = current.filter(|c| *c != valid.namespace.as_str())
        && read(current).await?.is_some_and(|ns| ours(&ns))
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
        return Err(Stop::At(outcome, Action::await_change()));
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
    if !known_ours && let Some(ns) = read(valid.namespace.as_str()).await? {
        let asking = claim::Asking {
            name: valid.name.as_str(),
            uid: Some(&owner.uid),
            istat_code: valid.municipality.istat_code.as_str(),
        };
        match claim::existing(&ns.metadata, &asking) {
            Existing::Ours => {}
            Existing::Retained => take_back(ctx, tenant, valid, owner).await?,
            Existing::Foreign(why) => {
                let message = format!(
                    "namespace {} exists and {why}: it is left untouched; choose another spec.namespace",
                    valid.namespace
                );
                let outcome = Outcome::Stalled {
                    reason: "NamespaceConflict",
                    message,
                };
                // The namespace is not watched: look again in a while, in case it is freed.
                return Err(Stop::At(outcome, Action::requeue(BLOCKED_RETRY)));
            }
        }
    }
    observed.namespace = Some(valid.namespace.to_string());
    Ok(())
}

/// Takes back the namespace this tenant left with `deletionPolicy: Retain`, and the children
/// retained in it, as they are: the steps after this one apply the children over them.
async fn take_back(
    ctx: &Context,
    tenant: &MunicipalityTenant,
    valid: &ValidTenant,
    owner: &Owner,
) -> Result<(), ClaimError> {
    let namespace = valid.namespace.as_str();
    retention::reattach(&ctx.client, namespace, owner)
        .await
        .map_err(|source| ClaimError {
            namespace: namespace.to_owned(),
            source,
        })?;
    info!(%namespace, "retained namespace taken back");
    let note = Note {
        warning: false,
        reason: "RetainedNamespaceTakenBack".to_owned(),
        action: "Claim",
        note: format!(
            "namespace {namespace}, retained when tenant {} of ISTAT code {} was deleted, is this tenant's again; its content is kept, and the operator's own objects in it are applied as this tenant builds them",
            valid.name, valid.municipality.istat_code
        ),
    };
    ctx.events.on_tenant(tenant, note).await;
    Ok(())
}
