//! Cleanup, when a tenant is deleted. With `deletionPolicy: Delete` there is nothing to do: the
//! children carry the tenant's ownerReference and the garbage collector removes them. With
//! `Retain`, the namespace and every child in it are detached first (ownerReferences removed,
//! label `tenancy.municipio.io/retained: "true"`), so the collector leaves them alone.
//! Idempotent, and a missing object is not an error: cleanup never holds deletion forever.

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use municipio_crds::MunicipalityTenant;
use municipio_crds::identifiers::NamespaceName;
use municipio_crds::v1alpha1::{Connector, DeletionPolicy};

use super::tolerate_missing;
use crate::children::kinds::{ChildKind, KINDS};
use crate::children::metadata::object_name;
use crate::labels::RETAINED_LABEL;

fn detach_patch() -> Patch<serde_json::Value> {
    Patch::Merge(
        serde_json::json!({"metadata": {"ownerReferences": null, "labels": {RETAINED_LABEL: "true"}}}),
    )
}

/// Detaches every object of one kind in the namespace whose owner is the tenant. Found by
/// owner, not by label: a child someone relabelled is retained all the same.
async fn detach_kind(
    client: &Client,
    namespace: &str,
    kind: &ChildKind,
    uid: &str,
) -> Result<(), kube::Error> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &kind.api_resource());
    for object in api.list_metadata(&ListParams::default()).await?.items {
        if object.owner_references().iter().any(|r| r.uid == uid) {
            tolerate_missing(
                api.patch(&object.name_any(), &PatchParams::default(), &detach_patch())
                    .await,
            )?;
        }
    }
    Ok(())
}

pub async fn cleanup(client: &Client, tenant: &MunicipalityTenant) -> Result<(), kube::Error> {
    if tenant.spec.deletion_policy == DeletionPolicy::Delete {
        return Ok(());
    }
    let uid = tenant.uid().unwrap_or_default();
    let name = tenant.name_any();
    // The namespace the tenant was given (its status), else the one it asks for.
    let given = tenant.status.as_ref().and_then(|s| s.namespace.as_deref());
    let ns = NamespaceName::requested(given.or(tenant.spec.namespace.as_deref()), &name);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    // Only a namespace this tenant created is ours to keep (a foreign one was never touched).
    let Some(namespace) = namespaces.get_opt(&ns).await? else {
        return Ok(());
    };
    if !namespace.owner_references().iter().any(|r| r.uid == uid) {
        return Ok(());
    }
    // Every kind the operator may list in the namespace; the connectors' Secrets, which it
    // may not, by name.
    for kind in KINDS.iter().filter(|k| k.namespaced && k.read) {
        detach_kind(client, &ns, kind, &uid).await?;
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for connector in Connector::ALL {
        tolerate_missing(
            secrets
                .patch(
                    &object_name(connector),
                    &PatchParams::default(),
                    &detach_patch(),
                )
                .await,
        )?;
    }
    // The namespace last: until now, a failure leaves everything owned and retried.
    tolerate_missing(
        namespaces
            .patch(&ns, &PatchParams::default(), &detach_patch())
            .await,
    )?;
    Ok(())
}
