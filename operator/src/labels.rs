//! Every label, annotation and finalizer name the operator reads or writes, in one place: what
//! it marks, and who sets it.

use municipio_crds::v1alpha1::Connector;

/// On every child: what manages it (the webhook's guard selects tenant namespaces by it).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "municipio";
/// On every child: the tenant it belongs to (for people and selectors; the operator knows its
/// children by their owner reference). On a source Secret: the one tenant it is bound to.
pub const TENANT_LABEL: &str = "tenancy.municipio.io/tenant";
/// On a source Secret: the tenants it is bound to, comma-separated.
pub const TENANTS_ANNOTATION: &str = "tenancy.municipio.io/tenants";
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
/// On objects kept after their tenant was deleted (`deletionPolicy: Retain`).
pub const RETAINED_LABEL: &str = "tenancy.municipio.io/retained";
/// On a tenant's namespace: the ISTAT code of the municipality whose data it holds, so that a
/// retained namespace goes back only to a tenant of the same municipality.
pub const ISTAT_CODE_LABEL: &str = "tenancy.municipio.io/istat-code";
/// On the operator's record of a namespace it retained (a ConfigMap in its own namespace, see
/// [`crate::claim::RetentionRecord`]): the namespace, and its UID.
pub const RETAINED_NAMESPACE_LABEL: &str = "tenancy.municipio.io/retained-namespace";
pub const NAMESPACE_UID_LABEL: &str = "tenancy.municipio.io/namespace-uid";
/// On a tenant: lets it move from `production` back to `uat`.
pub const ALLOW_DOWNGRADE_ANNOTATION: &str = "tenancy.municipio.io/allow-environment-downgrade";
/// On every onboarded tenant, so that a region or a province can be selected (an operator per
/// shard: `--tenant-selector`).
pub const REGION_LABEL: &str = "tenancy.municipio.io/region";
pub const PROVINCE_LABEL: &str = "tenancy.municipio.io/province";
/// The finalizer that lets cleanup run before a tenant goes.
pub const FINALIZER: &str = "tenancy.municipio.io/cleanup";

/// On the pods that receive a connector (its NetworkPolicy's egress selects them by it).
pub fn connector_label(connector: Connector) -> (String, String) {
    (
        format!("connector.tenancy.municipio.io/{}", connector.name()),
        "true".to_owned(),
    )
}

/// Labels and annotations that say what the operator manages and for whom: never another's.
pub fn operators_own(key: &str) -> bool {
    let prefix = key.split_once('/').map_or("", |(p, _)| p);
    key == MANAGED_BY_LABEL
        || prefix == "tenancy.municipio.io"
        || prefix.ends_with(".tenancy.municipio.io")
        || prefix == "pod-security.kubernetes.io"
}
