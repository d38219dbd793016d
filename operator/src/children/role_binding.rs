//! The RoleBinding of `spec.admins` to the tenant-admin ClusterRole (the chart's, named by
//! `--tenant-admin-role`) in the tenant namespace.

use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use municipio_crds::ValidTenant;
use municipio_crds::v1alpha1::AdminKind;

use super::metadata::{Owner, child_meta};
use crate::config::OperatorConfig;

pub const NAME: &str = "tenant-admins";

/// `None` when the tenant names no admin.
pub fn role_binding(
    tenant: &ValidTenant,
    owner: &Owner,
    config: &OperatorConfig,
) -> Option<RoleBinding> {
    if tenant.admins.is_empty() {
        return None;
    }
    let subjects = tenant
        .admins
        .iter()
        .map(|a| {
            let (kind, api_group) = match a.kind {
                AdminKind::Group => ("Group", Some("rbac.authorization.k8s.io".to_owned())),
                AdminKind::User => ("User", Some("rbac.authorization.k8s.io".to_owned())),
                AdminKind::ServiceAccount => ("ServiceAccount", None),
            };
            Subject {
                kind: kind.to_owned(),
                name: a.name.clone(),
                namespace: a.namespace.clone(),
                api_group,
            }
        })
        .collect();
    Some(RoleBinding {
        metadata: child_meta(owner, NAME, Some(tenant.namespace.as_str())),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "ClusterRole".to_owned(),
            name: config.tenant_admin_role.clone(),
        },
        subjects: Some(subjects),
    })
}
