//! The one place that names and labels children and points them at their tenant.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use municipio_crds::v1alpha1::Connector;
use municipio_crds::{MunicipalityTenant, ValidTenant};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::labels::{APPLIED_HASH_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, TENANT_LABEL};

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

/// A part of `period` chosen by `key`, the same each time: what spreads work over a period
/// (resyncs, checks after a restart) so that it does not all fall at one moment.
pub fn spread(key: &str, period: std::time::Duration) -> std::time::Duration {
    let d = digest([key.as_bytes()]);
    let fraction = u64::from_str_radix(&d[..8], 16).unwrap_or(0) as f64 / f64::from(u32::MAX);
    period.mul_f64(fraction)
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

    /// The owner of a tenant being reconciled: its validated name, and its UID.
    pub fn of_valid(valid: &ValidTenant, tenant: &MunicipalityTenant) -> Self {
        Self {
            name: valid.name.to_string(),
            uid: tenant.meta().uid.clone().unwrap_or_default(),
        }
    }

    /// The controller reference every child carries.
    pub fn reference(&self) -> OwnerReference {
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

/// Name of a connector's ConfigMap and Secret in the tenant namespace.
pub fn object_name(connector: Connector) -> String {
    format!("{}-connector", connector.name())
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
