//! The tenant's Namespace, enforcing Pod Security `restricted`, labelled with the municipality
//! whose data it holds.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use municipio_crds::ValidTenant;

use super::metadata::{Owner, child_meta_with};
use crate::labels::ISTAT_CODE_LABEL;

pub fn namespace(tenant: &ValidTenant, owner: &Owner) -> Namespace {
    let pod_security = ["enforce", "audit", "warn"]
        .into_iter()
        .map(|mode| {
            (
                format!("pod-security.kubernetes.io/{mode}"),
                "restricted".to_owned(),
            )
        })
        .chain([
            (
                "pod-security.kubernetes.io/enforce-version".to_owned(),
                "latest".to_owned(),
            ),
            (
                ISTAT_CODE_LABEL.to_owned(),
                tenant.municipality.istat_code.to_string(),
            ),
        ]);
    Namespace {
        metadata: child_meta_with(
            owner,
            tenant.namespace.as_str(),
            None,
            BTreeMap::from_iter(pod_security),
        ),
        ..Namespace::default()
    }
}
