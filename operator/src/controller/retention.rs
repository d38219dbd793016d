//! Retention (`deletionPolicy: Retain`): when the tenant is deleted, the operator records the
//! namespace in its own namespace ([`RetentionRecord`]), then detaches every child in it and
//! the namespace last (its owner reference removed, label `tenancy.municipio.io/retained:
//! "true"`), so the garbage collector leaves them alone. When a tenant of the same name and
//! municipality comes back ([`crate::claim`]), they are attached to it again as they are, the
//! namespace last and the record removed after it; the pipeline then applies the tenant's
//! children over them as over any drift, and prunes those it no longer builds.
//!
//! Every change is a JSON patch that tests what it expects first (the resourceVersion read,
//! or the owner and labels of a Secret, which the operator may not read): an object someone
//! else changed or put in place meanwhile is left alone, and the next pass looks again.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use municipio_crds::v1alpha1::Connector;
use serde_json::{Value, json};

use crate::children::Owner;
use crate::children::kinds::KINDS;
use crate::children::metadata::object_name;
use crate::claim::RetentionRecord;
use crate::labels::{RETAINED_LABEL, TENANT_LABEL};

/// The JSON pointer of a label (`/` in a key is `~1`).
fn label_path(key: &str) -> String {
    format!(
        "/metadata/labels/{}",
        key.replace('~', "~0").replace('/', "~1")
    )
}

/// A patch that sets `owners` and marks the object retained or not, if it is still at
/// `resource_version`.
fn owners_patch(meta: &ObjectMeta, owners: Vec<OwnerReference>, retained: bool) -> Value {
    let mut ops = vec![
        json!({"op": "test", "path": "/metadata/resourceVersion", "value": meta.resource_version}),
        json!({"op": "add", "path": "/metadata/ownerReferences", "value": owners}),
    ];
    if meta.labels.is_none() {
        ops.push(json!({"op": "add", "path": "/metadata/labels", "value": {}}));
    }
    let marked = meta
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(RETAINED_LABEL));
    if retained {
        ops.push(json!({"op": "add", "path": label_path(RETAINED_LABEL), "value": "true"}));
    } else if marked {
        ops.push(json!({"op": "remove", "path": label_path(RETAINED_LABEL)}));
    }
    Value::Array(ops)
}

/// The patch that detaches `meta` from the tenant `uid` (other owners stay).
fn detach_patch(meta: &ObjectMeta, uid: &str) -> Value {
    let others = meta
        .owner_references
        .iter()
        .flatten()
        .filter(|r| r.uid != uid)
        .cloned()
        .collect();
    owners_patch(meta, others, true)
}

/// The patch that attaches `meta` to `owner` as its controller (other owners stay).
fn reattach_patch(meta: &ObjectMeta, owner: &Owner) -> Value {
    let mut owners: Vec<OwnerReference> = meta.owner_references.clone().unwrap_or_default();
    owners.push(owner.reference());
    owners_patch(meta, owners, false)
}

/// Applies a JSON patch; `false` when the object is gone or no longer what the patch tested.
async fn patch<K>(api: &Api<K>, name: &str, patch: Value) -> Result<bool, kube::Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch: json_patch::Patch =
        serde_json::from_value(patch).expect("the patches built here are JSON patches");
    match api
        .patch(name, &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 422 || s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// What is retained: the tenant's namespace, as read, and the tenant.
pub struct Retaining<'a> {
    pub namespace: &'a Namespace,
    pub tenant: &'a str,
    pub uid: &'a str,
    pub istat_code: &'a str,
    pub operator_namespace: &'a str,
}

/// Detaches every child the tenant controls in its namespace; when the namespace is the
/// tenant's, records it and detaches it too. The children go whether or not the namespace is
/// the tenant's: after a take-back that stopped half-way, some children are already the
/// tenant's while the namespace is not, and the garbage collector would delete them.
pub async fn detach(client: &Client, r: &Retaining<'_>) -> Result<(), kube::Error> {
    let ns = r.namespace.name_any();
    let owns_namespace = r
        .namespace
        .owner_references()
        .iter()
        .any(|o| o.uid == r.uid);
    if owns_namespace {
        let record = RetentionRecord {
            namespace: &ns,
            namespace_uid: r.namespace.metadata.uid.as_deref().unwrap_or_default(),
            tenant: r.tenant,
            istat_code: r.istat_code,
        };
        let records: Api<ConfigMap> = Api::namespaced(client.clone(), r.operator_namespace);
        let params = PatchParams::apply(crate::labels::MANAGED_BY).force();
        records
            .patch(
                &RetentionRecord::name_for(&ns),
                &params,
                &Patch::Apply(record.config_map(r.operator_namespace)),
            )
            .await?;
    }
    for kind in KINDS.iter().filter(|k| k.namespaced && k.read) {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &ns, &kind.api_resource());
        for object in api.list_metadata(&ListParams::default()).await?.items {
            if object.owner_references().iter().any(|o| o.uid == r.uid) {
                patch(
                    &api,
                    &object.name_any(),
                    detach_patch(&object.metadata, r.uid),
                )
                .await?;
            }
        }
    }
    // Never read: each is detached only if the tenant is its first owner.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for connector in Connector::ALL {
        let detach = json!([
            {"op": "test", "path": "/metadata/ownerReferences/0/uid", "value": r.uid},
            {"op": "remove", "path": "/metadata/ownerReferences"},
            {"op": "add", "path": label_path(RETAINED_LABEL), "value": "true"},
        ]);
        patch(&secrets, &object_name(connector), detach).await?;
    }
    if owns_namespace {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let detach = detach_patch(&r.namespace.metadata, r.uid);
        if !patch(&namespaces, &ns, detach).await? {
            return Err(changed_meanwhile(&ns));
        }
    }
    Ok(())
}

/// Attaches the children retained in `namespace` for `owner`, then the namespace, to `owner`,
/// and removes the record.
pub async fn reattach(
    client: &Client,
    namespace: &Namespace,
    owner: &Owner,
    operator_namespace: &str,
) -> Result<(), kube::Error> {
    let ns = namespace.name_any();
    let retained_for_owner = |meta: &ObjectMeta| {
        let label = |key: &str| meta.labels.as_ref().and_then(|l| l.get(key));
        label(RETAINED_LABEL).is_some_and(|v| v == "true")
            && label(TENANT_LABEL).is_some_and(|t| *t == owner.name)
            && meta
                .owner_references
                .iter()
                .flatten()
                .all(|r| r.controller != Some(true))
    };
    for kind in KINDS.iter().filter(|k| k.namespaced && k.read) {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &ns, &kind.api_resource());
        for object in api.list_metadata(&ListParams::default()).await?.items {
            if retained_for_owner(&object.metadata) {
                patch(
                    &api,
                    &object.name_any(),
                    reattach_patch(&object.metadata, owner),
                )
                .await?;
            }
        }
    }
    // Never read: each is attached only if it is marked retained for this tenant.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for connector in Connector::ALL {
        let reattach = json!([
            {"op": "test", "path": label_path(RETAINED_LABEL), "value": "true"},
            {"op": "test", "path": label_path(TENANT_LABEL), "value": owner.name},
            {"op": "add", "path": "/metadata/ownerReferences", "value": [owner.reference()]},
            {"op": "remove", "path": label_path(RETAINED_LABEL)},
        ]);
        patch(&secrets, &object_name(connector), reattach).await?;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if !patch(&namespaces, &ns, reattach_patch(&namespace.metadata, owner)).await? {
        return Err(changed_meanwhile(&ns));
    }
    let records: Api<ConfigMap> = Api::namespaced(client.clone(), operator_namespace);
    let name = RetentionRecord::name_for(&ns);
    match records.delete(&name, &Default::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// The namespace changed between its read and the patch: an error, so the pass is retried
/// on a fresh read.
fn changed_meanwhile(namespace: &str) -> kube::Error {
    let message = format!("namespace {namespace} changed while it was being (de)tached; retried");
    kube::Error::Api(
        kube::core::Status::failure(&message, "Conflict")
            .with_code(409)
            .boxed(),
    )
}
