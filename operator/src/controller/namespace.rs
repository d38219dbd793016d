//! Claim the namespace: the tenant's namespace must be one this tenant made, none yet, or the
//! one it left when it was deleted with `deletionPolicy: Retain` ([`crate::claim`]). The
//! operator never takes over anyone else's namespace, and a tenant never moves: its workloads
//! and data live in the namespace it has.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use municipio_crds::v1alpha1::DeletionPolicy;
use municipio_crds::{MunicipalityTenant, ValidTenant};

use super::Context;
use super::events::Note;
use super::inventory::ChildKey;
use super::pipeline::{BLOCKED_RETRY, Stop};
use super::retention;
use super::status::{Observed, Outcome};
use crate::children::Owner;
use crate::claim::{self, Existing, RetentionRecord};
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
        return Err(stalled(
            "NamespaceImmutable",
            message,
            Action::await_change(),
        ));
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
        let record = match ns.owner_references().iter().any(|r| r.uid == owner.uid) {
            true => None,
            false => retention_record(ctx, valid.namespace.as_str()).await?,
        };
        let asking = claim::Asking {
            name: valid.name.as_str(),
            uid: Some(&owner.uid),
            istat_code: valid.municipality.istat_code.as_str(),
            retains: valid.deletion_policy == DeletionPolicy::Retain,
        };
        match claim::existing(&ns.metadata, record.as_ref(), &asking) {
            Existing::Ours => {}
            // Suspended: nothing is written, a take-back included.
            Existing::Retained if valid.suspend => {
                return Err(Stop::At(Outcome::Suspended, Action::await_change()));
            }
            Existing::Retained => take_back(ctx, tenant, valid, owner, &ns).await?,
            Existing::Refused(why) => {
                let message = format!(
                    "namespace {} exists and {why}: it is left untouched; choose another spec.namespace",
                    valid.namespace
                );
                // The namespace is not watched: look again in a while, in case it is freed.
                let again = Action::requeue(BLOCKED_RETRY);
                return Err(stalled("NamespaceConflict", message, again));
            }
        }
    }
    observed.namespace = Some(valid.namespace.to_string());
    Ok(())
}

/// A stop the tenant's status tells as `Stalled` with `reason`.
fn stalled(reason: &'static str, message: String, then: Action) -> Stop {
    Stop::At(Outcome::Stalled { reason, message }, then)
}

/// The operator's record of retaining `namespace`, if there is one (metadata only).
async fn retention_record(
    ctx: &Context,
    namespace: &str,
) -> Result<Option<ObjectMeta>, ClaimError> {
    let records: Api<ConfigMap> =
        Api::namespaced(ctx.client.clone(), &ctx.config.operator_namespace);
    records
        .get_metadata_opt(&RetentionRecord::name_for(namespace))
        .await
        .map(|r| r.map(|r| r.metadata))
        .map_err(|source| ClaimError {
            namespace: namespace.to_owned(),
            source,
        })
}

/// Takes back the namespace this tenant left with `deletionPolicy: Retain`, and the children
/// retained in it, as they are: the steps after this one apply the children over them.
async fn take_back(
    ctx: &Context,
    tenant: &MunicipalityTenant,
    valid: &ValidTenant,
    owner: &Owner,
    live: &Namespace,
) -> Result<(), ClaimError> {
    let namespace = valid.namespace.as_str();
    retention::reattach(&ctx.client, live, owner, &ctx.config.operator_namespace)
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
            "namespace {namespace}, retained when tenant {} of ISTAT code {} was deleted, is this tenant's again: its content is kept; the operator's own objects in it are applied as this tenant builds them, and those it no longer builds are removed",
            valid.name, valid.municipality.istat_code
        ),
    };
    ctx.events.on_tenant(tenant, note).await;
    Ok(())
}
