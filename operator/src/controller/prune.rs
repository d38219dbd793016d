//! Prune: delete the children this tenant no longer needs (a workload or connector removed
//! from the spec). Each kind is listed by the tenant's labels, metadata only; an object is
//! deleted only when its controller is this tenant (by UID) and it was not just applied.
//! A connector's Secret is deleted with its ConfigMap (they are made together), by name: the
//! operator never lists Secrets outside its own namespace.

use std::collections::BTreeSet;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, ResourceQuota, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Client, Resource, ResourceExt};
use municipio_crds::v1alpha1::Connector;
use serde::de::DeserializeOwned;

use crate::build::Children;
use crate::build::config_map::object_name;
use crate::build::metadata::{MANAGED_BY, MANAGED_BY_LABEL, Owner, TENANT_LABEL};

fn names<K: Resource>(objects: impl IntoIterator<Item = K>) -> BTreeSet<String> {
    objects
        .into_iter()
        .filter_map(|o| o.meta().name.clone())
        .collect()
}

/// Deletes the controlled objects of one kind not in `keep`; returns them as `Kind/name`.
async fn prune_kind<K>(
    client: &Client,
    namespace: &str,
    owner: &Owner,
    keep: BTreeSet<String>,
) -> Result<Vec<String>, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let listed: Api<K> = Api::namespaced(client.clone(), namespace);
    let selector = format!(
        "{MANAGED_BY_LABEL}={MANAGED_BY},{TENANT_LABEL}={}",
        owner.name
    );
    let mut deleted = Vec::new();
    for object in listed
        .list_metadata(&ListParams::default().labels(&selector))
        .await?
        .items
    {
        let controlled = object
            .owner_references()
            .iter()
            .any(|r| r.uid == owner.uid && r.controller == Some(true));
        let name = object.name_any();
        if controlled && !keep.contains(&name) {
            delete::<K>(client, namespace, &name).await?;
            deleted.push(format!("{}/{name}", K::kind(&())));
        }
    }
    Ok(deleted)
}

async fn delete<K>(client: &Client, namespace: &str, name: &str) -> Result<(), kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    match Api::<K>::namespaced(client.clone(), namespace)
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes this tenant's children that `desired` does not contain; returns them as `Kind/name`.
pub async fn prune(
    client: &Client,
    owner: &Owner,
    desired: &Children,
) -> Result<Vec<String>, kube::Error> {
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
    } = desired;
    let ns = namespace.name_any();
    let ns = ns.as_str();
    let mut deleted = Vec::new();
    deleted.extend(
        prune_kind::<Deployment>(client, ns, owner, names(deployments.iter().cloned())).await?,
    );
    deleted
        .extend(prune_kind::<Service>(client, ns, owner, names(services.iter().cloned())).await?);
    let config_maps_gone =
        prune_kind::<ConfigMap>(client, ns, owner, names(config_maps.iter().cloned())).await?;
    let keep_secrets = names(secrets.iter().cloned());
    for connector in [Connector::Pagopa, Connector::Io] {
        let name = object_name(connector);
        let config_map_gone = config_maps_gone.contains(&format!("ConfigMap/{name}"));
        if config_map_gone && !keep_secrets.contains(&name) {
            delete::<Secret>(client, ns, &name).await?;
            deleted.push(format!("Secret/{name}"));
        }
    }
    deleted.extend(config_maps_gone);
    deleted.extend(
        prune_kind::<NetworkPolicy>(client, ns, owner, names(network_policies.iter().cloned()))
            .await?,
    );
    deleted.extend(
        prune_kind::<RoleBinding>(client, ns, owner, names(role_binding.iter().cloned())).await?,
    );
    deleted.extend(
        prune_kind::<LimitRange>(client, ns, owner, names(limit_range.iter().cloned())).await?,
    );
    deleted.extend(
        prune_kind::<ResourceQuota>(client, ns, owner, names(resource_quota.iter().cloned()))
            .await?,
    );
    Ok(deleted)
}
