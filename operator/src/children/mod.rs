//! Build: the pure step of the pipeline. A validated tenant, the operator configuration and the
//! connectors' keys (read from the source Secrets beforehand) become the set of objects the
//! tenant needs. No client, no clock, no randomness: the same input always gives the same
//! objects, which is what makes `municipio render` exactly what the controller applies.
//!
//! One file per Kubernetes kind; [`metadata`] makes every child's name, labels and owner.

pub mod config_map;
pub mod deployment;
pub mod kinds;
pub mod limit_range;
pub mod metadata;
pub mod namespace;
pub mod network_policy;
pub mod resource_quota;
pub mod role_binding;
pub mod secret;
pub mod service;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Namespace, ResourceQuota, Secret, Service,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use municipio_crds::ValidTenant;
use serde::Serialize;

use crate::config::OperatorConfig;
pub use crate::dereference::{ConnectorKeys, SecretValue};
pub use metadata::Owner;

/// Every object one tenant needs. Apply and prune take it apart field by field, so a kind that
/// is built here but not applied or pruned there does not compile.
#[derive(Debug, Clone, PartialEq)]
pub struct Children {
    pub namespace: Namespace,
    pub resource_quota: Option<ResourceQuota>,
    pub limit_range: Option<LimitRange>,
    pub role_binding: Option<RoleBinding>,
    pub config_maps: Vec<ConfigMap>,
    pub secrets: Vec<Secret>,
    pub deployments: Vec<Deployment>,
    pub services: Vec<Service>,
    pub network_policies: Vec<NetworkPolicy>,
    /// The region's caps on object counts, applied last (see [`resource_quota::object_counts`]).
    pub object_counts: ResourceQuota,
}

/// Builds the children of a tenant.
pub fn build(
    tenant: &ValidTenant,
    owner: &Owner,
    config: &OperatorConfig,
    keys: &ConnectorKeys,
) -> Children {
    let mut connectors = config_map::connectors(tenant, owner, config);
    let mut secrets = secret::connectors(tenant, owner, keys);
    // The identity connector's artifacts and keys for the gateway, in its namespace: applied
    // after the tenant's (their order in the lists), pruned with them.
    let gateway = keys
        .identity()
        .filter(|_| tenant.identity.is_some())
        .map(|published| {
            crate::connectors::identity::gateway::objects(tenant, owner, config, published)
        });
    let deployments = tenant
        .workloads
        .iter()
        .map(|w| deployment::deployment(tenant, owner, w, &connectors, &secrets))
        .collect();
    if let Some((config_map, secret)) = gateway {
        connectors.push(config_map);
        secrets.push(secret);
    }
    let mut children = Children {
        namespace: namespace::namespace(tenant, owner),
        resource_quota: resource_quota::resource_quota(tenant, owner),
        limit_range: limit_range::limit_range(tenant, owner),
        role_binding: role_binding::role_binding(tenant, owner, config),
        deployments,
        services: tenant
            .workloads
            .iter()
            .filter_map(|w| service::service(tenant, owner, w))
            .collect(),
        network_policies: network_policy::network_policies(tenant, owner, config),
        config_maps: connectors,
        secrets,
        object_counts: resource_quota::object_counts(tenant, owner),
    };
    children.stamp();
    children
}

impl Children {
    /// Stamps every child with the digest of what was built (see [`metadata::stamp`]).
    fn stamp(&mut self) {
        let Children {
            namespace,
            resource_quota,
            limit_range,
            role_binding,
            config_maps,
            secrets,
            deployments,
            services,
            network_policies,
            object_counts,
        } = self;
        metadata::stamp(namespace);
        resource_quota.iter_mut().for_each(metadata::stamp);
        limit_range.iter_mut().for_each(metadata::stamp);
        role_binding.iter_mut().for_each(metadata::stamp);
        config_maps.iter_mut().for_each(metadata::stamp);
        secrets.iter_mut().for_each(metadata::stamp);
        deployments.iter_mut().for_each(metadata::stamp);
        services.iter_mut().for_each(metadata::stamp);
        network_policies.iter_mut().for_each(metadata::stamp);
        metadata::stamp(object_counts);
    }

    /// Every child as JSON, cluster-scoped first, in the order they are applied.
    pub fn to_values(&self) -> Vec<serde_json::Value> {
        fn value(o: &impl Serialize) -> serde_json::Value {
            serde_json::to_value(o).expect("Kubernetes objects serialize")
        }
        let Children {
            namespace,
            resource_quota,
            limit_range,
            role_binding,
            config_maps,
            secrets,
            deployments,
            services,
            network_policies,
            object_counts,
        } = self;
        let mut out = vec![value(namespace)];
        out.extend(resource_quota.iter().map(value));
        out.extend(limit_range.iter().map(value));
        out.extend(role_binding.iter().map(value));
        out.extend(network_policies.iter().map(value));
        out.extend(config_maps.iter().map(value));
        out.extend(secrets.iter().map(value));
        out.extend(services.iter().map(value));
        out.extend(deployments.iter().map(value));
        out.push(value(object_counts));
        out
    }
}

#[cfg(test)]
mod tests;
