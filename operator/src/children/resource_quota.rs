//! The tenant's ResourceQuota, from `spec.quota`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use municipio_crds::ValidTenant;

use super::metadata::{Owner, child_meta};

pub const NAME: &str = "tenant-quota";
pub const OBJECT_COUNTS: &str = "tenant-object-counts";

/// Caps on the objects of a tenant namespace that can hurt the cluster or its neighbours, at
/// numbers a municipality never meets: no Service that opens a node port or asks for a load
/// balancer (they reach outside the namespace), and bounded claims, storage, Secrets and
/// ConfigMaps (each lives in etcd and in every watching cache). Enforced by the API server's
/// quota admission, so they hold with the webhook down too.
const OBJECT_CAPS: [(&str, &str); 8] = [
    ("services.loadbalancers", "0"),
    ("services.nodeports", "0"),
    ("services", "100"),
    ("persistentvolumeclaims", "100"),
    ("requests.storage", "1Ti"),
    ("secrets", "500"),
    ("configmaps", "500"),
    ("replicationcontrollers", "0"),
];

/// The quota of [`OBJECT_CAPS`], for every tenant. A second ResourceQuota beside the
/// tenant's own, applied after every other child: the API server refuses a write that a quota
/// constrains until the quota controller has counted what the namespace holds, and the
/// operator's own children must not wait for that.
pub fn object_counts(tenant: &ValidTenant, owner: &Owner) -> ResourceQuota {
    let hard = OBJECT_CAPS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
        .collect();
    ResourceQuota {
        metadata: child_meta(owner, OBJECT_COUNTS, Some(tenant.namespace.as_str())),
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    }
}

/// `None` when the tenant sets no quota.
pub fn resource_quota(tenant: &ValidTenant, owner: &Owner) -> Option<ResourceQuota> {
    let q = &tenant.quota;
    let mut hard = BTreeMap::new();
    // The CPU and memory budget bounds both what pods request and what they may use.
    for (resource, value) in [("cpu", &q.cpu), ("memory", &q.memory)] {
        if let Some(value) = value {
            for kind in ["requests", "limits"] {
                hard.insert(format!("{kind}.{resource}"), Quantity(value.to_string()));
            }
        }
    }
    if let Some(pods) = q.pods {
        hard.insert("pods".to_owned(), Quantity(pods.to_string()));
    }
    (!hard.is_empty()).then(|| ResourceQuota {
        metadata: child_meta(owner, NAME, Some(tenant.namespace.as_str())),
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    })
}
