//! Prune: delete the children this tenant no longer needs (a workload or connector removed
//! from the spec). The inventory tells the tenant's children of each kind (no list); an object
//! is deleted only when its controller is this tenant (by UID) and it was not just applied.
//! A connector's Secret is deleted with its ConfigMap (they are made together), by name: the
//! operator never lists Secrets outside its own namespace.

use std::collections::BTreeSet;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, ResourceQuota, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, DeleteParams};
use kube::{Client, Resource, ResourceExt};
use municipio_crds::v1alpha1::Connector;
use serde::de::DeserializeOwned;

use super::apply::Target;
use super::tolerate_missing;
use crate::children::Children;
use crate::children::metadata::Owner;
use crate::children::metadata::object_name;

fn names<K: Resource>(objects: impl IntoIterator<Item = K>) -> BTreeSet<String> {
    objects
        .into_iter()
        .filter_map(|o| o.meta().name.clone())
        .collect()
}

/// The names of the objects of one kind this tenant controls that are not in `keep`.
fn stale<K: k8s_openapi::Resource>(
    target: &Target<'_>,
    namespace: &str,
    owner: &Owner,
    keep: &BTreeSet<String>,
) -> Vec<String> {
    target
        .inventory
        .controlled(K::KIND, namespace, &owner.uid)
        .into_iter()
        .filter(|name| !keep.contains(name))
        .collect()
}

/// A child that could not be deleted.
#[derive(Debug, thiserror::Error)]
#[error("pruning {child}: {source}")]
pub struct PruneError {
    pub child: String,
    #[source]
    pub source: kube::Error,
}

/// Deletes the controlled objects of one kind not in `keep`; returns them as `Kind/name`.
async fn prune_kind<K>(
    target: &Target<'_>,
    namespace: &str,
    owner: &Owner,
    keep: BTreeSet<String>,
) -> Result<Vec<String>, PruneError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + k8s_openapi::Resource
        + Clone
        + DeserializeOwned
        + Debug,
{
    let mut deleted = Vec::new();
    for name in stale::<K>(target, namespace, owner, &keep) {
        delete::<K>(target.client, namespace, &name).await?;
        deleted.push(format!("{}/{name}", K::kind(&())));
    }
    Ok(deleted)
}

async fn delete<K>(client: &Client, namespace: &str, name: &str) -> Result<(), PruneError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let api = Api::<K>::namespaced(client.clone(), namespace);
    tolerate_missing(api.delete(name, &DeleteParams::background()).await)
        .map(|_| ())
        .map_err(|source| PruneError {
            child: format!("{} {namespace}/{name}", K::kind(&())),
            source,
        })
}

/// Deletes this tenant's children that `desired` does not contain; returns them as `Kind/name`.
/// `gateway_namespace` is where the identity connector publishes for the gateway.
pub async fn prune(
    target: &Target<'_>,
    owner: &Owner,
    desired: &Children,
    gateway_namespace: &str,
) -> Result<Vec<String>, PruneError> {
    // Destructured without `..`: a new kind in Children must be pruned here too.
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
    } = desired;
    let ns = namespace.name_any();
    let ns = ns.as_str();
    let mut deleted = Vec::new();
    deleted.extend(
        prune_kind::<Deployment>(target, ns, owner, names(deployments.iter().cloned())).await?,
    );
    deleted
        .extend(prune_kind::<Service>(target, ns, owner, names(services.iter().cloned())).await?);
    // A connector's Secret goes before its ConfigMap, which is how the Secret (never listed:
    // the operator does not read Secrets outside its namespace) is known to be stale: if the
    // Secret's deletion fails, the ConfigMap stays and the next pass tries again.
    let keep_config_maps = names(config_maps.iter().cloned());
    let keep_secrets = names(secrets.iter().cloned());
    let stale_config_maps = stale::<ConfigMap>(target, ns, owner, &keep_config_maps);
    for connector in Connector::ALL {
        let name = object_name(connector);
        if stale_config_maps.contains(&name) && !keep_secrets.contains(&name) {
            delete::<Secret>(target.client, ns, &name).await?;
            deleted.push(format!("Secret/{name}"));
        }
    }
    // The gateway's Secret of a municipality goes before its ConfigMap, for the same reason.
    if gateway_namespace != ns {
        for name in stale::<ConfigMap>(target, gateway_namespace, owner, &keep_config_maps) {
            if !keep_secrets.contains(&name) {
                delete::<Secret>(target.client, gateway_namespace, &name).await?;
                deleted.push(format!("Secret/{gateway_namespace}/{name}"));
            }
        }
        deleted.extend(
            prune_kind::<ConfigMap>(target, gateway_namespace, owner, keep_config_maps.clone())
                .await?,
        );
    }
    deleted.extend(prune_kind::<ConfigMap>(target, ns, owner, keep_config_maps).await?);
    deleted.extend(
        prune_kind::<NetworkPolicy>(target, ns, owner, names(network_policies.iter().cloned()))
            .await?,
    );
    deleted.extend(
        prune_kind::<RoleBinding>(target, ns, owner, names(role_binding.iter().cloned())).await?,
    );
    deleted.extend(
        prune_kind::<LimitRange>(target, ns, owner, names(limit_range.iter().cloned())).await?,
    );
    deleted.extend(
        prune_kind::<ResourceQuota>(
            target,
            ns,
            owner,
            names(resource_quota.iter().chain([object_counts]).cloned()),
        )
        .await?,
    );
    Ok(deleted)
}
