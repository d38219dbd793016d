//! Apply: every child with server-side apply under one field manager, sending only the fields
//! the operator builds. Returns the Deployments as the server stored them, so status can only
//! describe what was applied.

use std::fmt::Debug;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::build::Children;

/// The field manager of everything the operator writes.
pub const FIELD_MANAGER: &str = "municipio";

fn params() -> PatchParams {
    // Forced: the operator owns these fields; another manager's change to them is drift.
    PatchParams::apply(FIELD_MANAGER).force()
}

async fn cluster<K>(client: &Client, obj: &K) -> Result<K, kube::Error>
where
    K: Resource<Scope = ClusterResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug,
{
    Api::<K>::all(client.clone())
        .patch(&obj.name_any(), &params(), &Patch::Apply(obj))
        .await
}

async fn namespaced<K>(client: &Client, obj: &K) -> Result<K, kube::Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug,
{
    let ns = obj.namespace().unwrap_or_default();
    Api::<K>::namespaced(client.clone(), &ns)
        .patch(&obj.name_any(), &params(), &Patch::Apply(obj))
        .await
}

/// What apply returns: the live Deployments, and how many objects were applied.
pub struct Applied {
    pub deployments: Vec<Deployment>,
    pub objects: usize,
}

/// Applies the children, the namespace first.
pub async fn apply(client: &Client, children: &Children) -> Result<Applied, kube::Error> {
    // Destructured without `..`: a new kind in Children must be applied here too.
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
    } = children;
    let mut objects = 0;
    cluster(client, namespace).await?;
    objects += 1;
    if let Some(o) = resource_quota {
        namespaced(client, o).await?;
        objects += 1;
    }
    if let Some(o) = limit_range {
        namespaced(client, o).await?;
        objects += 1;
    }
    if let Some(o) = role_binding {
        namespaced(client, o).await?;
        objects += 1;
    }
    // Isolation before anything runs.
    for o in network_policies {
        namespaced(client, o).await?;
        objects += 1;
    }
    for o in config_maps {
        namespaced(client, o).await?;
        objects += 1;
    }
    for o in secrets {
        namespaced(client, o).await?;
        objects += 1;
    }
    for o in services {
        namespaced(client, o).await?;
        objects += 1;
    }
    let mut live = Vec::new();
    for o in deployments {
        live.push(namespaced(client, o).await?);
        objects += 1;
    }
    Ok(Applied {
        deployments: live,
        objects,
    })
}
