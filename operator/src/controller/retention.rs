//! Retention (`deletionPolicy: Retain`): when the tenant is deleted, its namespace and every
//! child in it are detached (ownerReferences removed, label `tenancy.municipio.io/retained:
//! "true"`), so the garbage collector leaves them alone; when a tenant of the same name and
//! municipality comes back (see [`crate::claim`]), they are attached to it again, as they are,
//! and the pipeline then applies its children over them as over any drift. The namespace goes
//! last both ways: until then, a failure leaves it as it was and the next pass tries again.

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use municipio_crds::v1alpha1::Connector;
use serde_json::{Value, json};

use super::tolerate_missing;
use crate::children::Owner;
use crate::children::kinds::KINDS;
use crate::children::metadata::object_name;
use crate::labels::{RETAINED_LABEL, TENANT_LABEL};

/// Detaches the namespace `namespace` and every object in it the tenant `uid` controls. Found
/// by owner, not by label: a child someone relabelled is retained all the same.
pub async fn detach(client: &Client, namespace: &str, uid: &str) -> Result<(), kube::Error> {
    let patch = json!({"metadata": {"ownerReferences": null, "labels": {RETAINED_LABEL: "true"}}});
    let owned = |meta: &ObjectMeta| meta.owner_references.iter().flatten().any(|r| r.uid == uid);
    patch_children(client, namespace, owned, &patch).await
}

/// Attaches the retained namespace `namespace` and the children retained in it to `owner`.
pub async fn reattach(client: &Client, namespace: &str, owner: &Owner) -> Result<(), kube::Error> {
    let patch = json!({"metadata": {
        "ownerReferences": [owner.reference()],
        "labels": {RETAINED_LABEL: null},
    }});
    let retained = |meta: &ObjectMeta| {
        let label = |key: &str| meta.labels.as_ref().and_then(|l| l.get(key));
        label(RETAINED_LABEL).is_some_and(|v| v == "true")
            && label(TENANT_LABEL).is_some_and(|t| *t == owner.name)
            && meta
                .owner_references
                .iter()
                .flatten()
                .all(|r| r.controller != Some(true))
    };
    patch_children(client, namespace, retained, &patch).await
}

/// Patches the objects of `namespace` that `select` takes, of every kind the operator may list
/// there; the connectors' Secrets, which it may not list, by name; the namespace last.
async fn patch_children(
    client: &Client,
    namespace: &str,
    select: impl Fn(&ObjectMeta) -> bool,
    patch: &Value,
) -> Result<(), kube::Error> {
    let params = PatchParams::default();
    for kind in KINDS.iter().filter(|k| k.namespaced && k.read) {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &kind.api_resource());
        for object in api.list_metadata(&ListParams::default()).await?.items {
            if select(&object.metadata) {
                tolerate_missing(
                    api.patch(&object.name_any(), &params, &Patch::Merge(patch))
                        .await,
                )?;
            }
        }
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for connector in Connector::ALL {
        tolerate_missing(
            secrets
                .patch(&object_name(connector), &params, &Patch::Merge(patch))
                .await,
        )?;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    tolerate_missing(
        namespaces
            .patch(namespace, &params, &Patch::Merge(patch))
            .await,
    )?;
    Ok(())
}
