//! The tenant's ResourceQuota, from `spec.quota`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use municipio_crds::ValidTenant;

use super::metadata::{Owner, child_meta};

pub const NAME: &str = "tenant-quota";

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
