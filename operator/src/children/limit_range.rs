//! The tenant's LimitRange: defaults for containers that state no resources, which a CPU or
//! memory quota would otherwise refuse.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem, LimitRangeSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use municipio_crds::ValidTenant;

use super::metadata::{Owner, child_meta};

pub const NAME: &str = "tenant-defaults";

/// The limit a container without one gets, CPU and memory.
pub const DEFAULT_LIMIT: (&str, &str) = ("500m", "256Mi");

/// Whether the tenant has a LimitRange: only when the quota bounds CPU or memory.
pub fn applies(tenant: &ValidTenant) -> bool {
    tenant.quota.cpu.is_some() || tenant.quota.memory.is_some()
}

/// `None` unless the quota bounds CPU or memory.
pub fn limit_range(tenant: &ValidTenant, owner: &Owner) -> Option<LimitRange> {
    if !applies(tenant) {
        return None;
    }
    let quantities = |cpu: &str, memory: &str| {
        BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.to_owned())),
            ("memory".to_owned(), Quantity(memory.to_owned())),
        ])
    };
    Some(LimitRange {
        metadata: child_meta(owner, NAME, Some(tenant.namespace.as_str())),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".to_owned(),
                default: Some(quantities(DEFAULT_LIMIT.0, DEFAULT_LIMIT.1)),
                default_request: Some(quantities("100m", "128Mi")),
                ..LimitRangeItem::default()
            }],
        }),
    })
}
