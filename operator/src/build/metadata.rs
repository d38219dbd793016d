//! The one place that names and labels children and points them at their tenant.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use municipio_crds::MunicipalityTenant;
use municipio_crds::v1alpha1::Connector;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Set on every child: what manages it.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "municipio";
/// Set on every child: the tenant it belongs to. On a source Secret: the one tenant it is bound to.
pub const TENANT_LABEL: &str = "tenancy.municipio.io/tenant";
/// On a workload's Deployment, Service and pods: the workload's name.
pub const WORKLOAD_LABEL: &str = "tenancy.municipio.io/workload";
/// On a workload's pod template: a digest of the connector configuration and keys it receives,
/// so that a change (a key rotation) rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "tenancy.municipio.io/config-hash";

/// On every child: a digest of the object as the operator last built it. Apply skips a child
/// only when the live one carries the same digest (and still holds every built field), so a
/// field removed from the desired object, which a "live contains desired" check cannot see,
/// is removed from the live one too.
pub const APPLIED_HASH_ANNOTATION: &str = "tenancy.municipio.io/applied-hash";

/// A short hex digest (128 bits of SHA-256) of `parts`.
pub fn digest<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Sets [`APPLIED_HASH_ANNOTATION`] on `object` to the digest of everything else in it.
pub fn stamp<K: Resource + Serialize>(object: &mut K) {
    if let Some(annotations) = object.meta_mut().annotations.as_mut() {
        annotations.remove(APPLIED_HASH_ANNOTATION);
    }
    let json = serde_json::to_vec(&*object).expect("Kubernetes objects serialize");
    let hash = digest([json.as_slice()]);
    object
        .meta_mut()
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(APPLIED_HASH_ANNOTATION.to_owned(), hash);
}

/// The tenant that owns the children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub name: String,
    pub uid: String,
}

impl Owner {
    /// The owner of a tenant object as read from the cluster (or a file, for `render`).
    pub fn of(tenant: &MunicipalityTenant) -> Self {
        Self {
            name: tenant.meta().name.clone().unwrap_or_default(),
            uid: tenant
                .meta()
                .uid
                .clone()
                .unwrap_or_else(|| "<uid of the tenant>".to_owned()),
        }
    }

    fn reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: MunicipalityTenant::api_version(&()).into_owned(),
            kind: MunicipalityTenant::kind(&()).into_owned(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

/// The labels every child of the tenant carries; prune finds children by them.
pub fn tenant_labels(owner: &Owner) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
        (TENANT_LABEL.to_owned(), owner.name.clone()),
    ])
}

/// The label that marks pods receiving a connector (NetworkPolicy egress selects by it).
pub fn connector_label(connector: Connector) -> (String, String) {
    (
        format!(
            "connector.tenancy.municipio.io/{}",
            connector_name(connector)
        ),
        "true".to_owned(),
    )
}

pub fn connector_name(connector: Connector) -> &'static str {
    match connector {
        Connector::Pagopa => "pagopa",
        Connector::Io => "io",
    }
}

/// Name of a connector's ConfigMap and Secret in the tenant namespace.
pub fn object_name(connector: Connector) -> String {
    format!("{}-connector", connector_name(connector))
}

/// Name, namespace, labels and controller reference of a child.
pub fn child_meta(owner: &Owner, name: &str, namespace: Option<&str>) -> ObjectMeta {
    child_meta_with(owner, name, namespace, BTreeMap::new())
}

/// As [`child_meta`], with labels of its own added to the tenant's.
pub fn child_meta_with(
    owner: &Owner,
    name: &str,
    namespace: Option<&str>,
    extra_labels: BTreeMap<String, String>,
) -> ObjectMeta {
    let mut labels = tenant_labels(owner);
    labels.extend(extra_labels);
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(labels),
        owner_references: Some(vec![owner.reference()]),
        ..ObjectMeta::default()
    }
}
