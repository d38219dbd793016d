//! The tenant's LimitRange: defaults for containers that state no resources, which a CPU or
//! memory quota would otherwise refuse.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem, LimitRangeSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use municipio_crds::ValidTenant;

use super::metadata::{Owner, child_meta};

pub const NAME: &str = "tenant-defaults";

/// `None` unless the quota bounds CPU or memory.
pub fn limit_range(tenant: &ValidTenant, owner: &Owner) -> Option<LimitRange> {
    if tenant.quota.cpu.is_none() && tenant.quota.memory.is_none() {
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
                default: Some(quantities("500m", "256Mi")),
                default_request: Some(quantities("100m", "128Mi")),
                ..LimitRangeItem::default()
            }],
        }),
    })
}
