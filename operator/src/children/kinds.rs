//! The one list of child kinds. What the builders make is checked against it by a unit test;
//! the watches, the Retain detach and the chart's RBAC (by a test of the chart) follow it. A
//! new kind is one entry here and one field of [`Children`](super::Children), whose
//! destructuring makes build, stamping, apply and prune fail to compile until they take it.

use kube::api::ApiResource;

/// A kind of object the operator makes for a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildKind {
    /// The API group, `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// Whether the operator may read objects of this kind in tenant namespaces: watched into
    /// the inventory and detached by listing. Secrets are not: the operator writes them but
    /// never reads a Secret outside its own namespace.
    pub read: bool,
}

/// Every child kind, in the order they are applied.
pub const KINDS: [ChildKind; 9] = [
    kind("", "Namespace", "namespaces", false, true),
    kind("", "ResourceQuota", "resourcequotas", true, true),
    kind("", "LimitRange", "limitranges", true, true),
    kind(
        "rbac.authorization.k8s.io",
        "RoleBinding",
        "rolebindings",
        true,
        true,
    ),
    kind(
        "networking.k8s.io",
        "NetworkPolicy",
        "networkpolicies",
        true,
        true,
    ),
    kind("", "ConfigMap", "configmaps", true, true),
    kind("", "Secret", "secrets", true, false),
    kind("", "Service", "services", true, true),
    kind("apps", "Deployment", "deployments", true, true),
];

const fn kind(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    read: bool,
) -> ChildKind {
    ChildKind {
        group,
        version: "v1",
        kind,
        plural,
        namespaced,
        read,
    }
}

impl ChildKind {
    /// The kind for a dynamic API.
    pub fn api_resource(&self) -> ApiResource {
        let api_version = if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        };
        ApiResource {
            group: self.group.to_owned(),
            version: self.version.to_owned(),
            api_version,
            kind: self.kind.to_owned(),
            plural: self.plural.to_owned(),
        }
    }

    /// The verbs the operator needs on it, cluster-wide: apply (get, create, patch), watch
    /// (list, watch) and prune (delete). Secrets: written and deleted, never read. Namespaces:
    /// made and labelled, never deleted (with `deletionPolicy: Delete` the garbage collector
    /// does it).
    pub fn verbs(&self) -> &'static [&'static str] {
        match (self.kind, self.read) {
            ("Namespace", _) => &["get", "list", "watch", "create", "patch"],
            (_, false) => &["create", "patch", "delete"],
            (_, true) => &["get", "list", "watch", "create", "patch", "delete"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::children::{ConnectorKeys, Owner, build};
    use crate::config::OperatorConfig;

    /// Modena's example has one of every kind: what is built is exactly the list, in its order.
    #[test]
    fn the_builders_make_exactly_the_listed_kinds_in_order() {
        let tenant: municipio_crds::MunicipalityTenant =
            serde_yaml_ng::from_str(include_str!("../../../examples/modena.yaml")).unwrap();
        let valid = municipio_crds::validate(&tenant).unwrap();
        let config = OperatorConfig::defaults();
        let keys = ConnectorKeys::placeholders(&valid, &config.operator_namespace);
        let children = build(&valid, &Owner::of(&tenant), &config, &keys);
        let mut built: Vec<(String, String)> = children
            .to_values()
            .iter()
            .map(|o| {
                (
                    o["apiVersion"].as_str().unwrap().to_owned(),
                    o["kind"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        built.dedup();
        let listed: Vec<(String, String)> = KINDS
            .iter()
            .map(|k| (k.api_resource().api_version, k.kind.to_owned()))
            .collect();
        // The object-count quota is applied last, after the Deployments.
        let (last, rest) = built.split_last().unwrap();
        assert_eq!(last.1, "ResourceQuota");
        assert_eq!(
            rest, listed,
            "every kind built is listed, and every listed kind is built"
        );
    }
}
