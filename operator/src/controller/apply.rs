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
use serde_json::Value;

use crate::build::Children;

/// The field manager of everything the operator writes.
pub const FIELD_MANAGER: &str = "municipio";

fn params() -> PatchParams {
    // Forced: the operator owns these fields; another manager's change to them is drift.
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Whether `live` already holds every field of `desired` with the same value (extra fields,
/// such as the server's defaults and other managers' fields, do not count). Lists must match
/// element by element.
pub fn contains(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d
            .iter()
            .all(|(k, v)| l.get(k).is_some_and(|lv| contains(lv, v))),
        (Value::Array(l), Value::Array(d)) => {
            l.len() == d.len() && l.iter().zip(d).all(|(lv, dv)| contains(lv, dv))
        }
        _ => live == desired,
    }
}

/// Applies `obj` unless the live object already is as desired: a converged tenant costs reads,
/// never writes (a server-side apply that changes nothing is still a write request).
async fn apply_one<K>(api: Api<K>, obj: &K) -> Result<K, kube::Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
{
    let name = obj.name_any();
    if let Some(live) = api.get_opt(&name).await? {
        let as_json = |o: &K| serde_json::to_value(o).unwrap_or(Value::Null);
        if contains(&as_json(&live), &as_json(obj)) {
            return Ok(live);
        }
    }
    api.patch(&name, &params(), &Patch::Apply(obj)).await
}

async fn cluster<K>(client: &Client, obj: &K) -> Result<K, kube::Error>
where
    K: Resource<Scope = ClusterResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug,
{
    apply_one(Api::<K>::all(client.clone()), obj).await
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
    apply_one(Api::<K>::namespaced(client.clone(), &ns), obj).await
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

#[cfg(test)]
mod tests {
    use super::contains;
    use serde_json::json;

    #[test]
    fn extra_live_fields_do_not_matter_but_changed_or_missing_ones_do() {
        let desired = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"ports": [{"port": 80}]}});
        let live = json!({"metadata": {"name": "a", "uid": "u", "labels": {"x": "1", "y": "2"}}, "spec": {"ports": [{"port": 80, "protocol": "TCP"}], "type": "ClusterIP"}});
        assert!(contains(&live, &desired));
        let drifted = json!({"metadata": {"name": "a", "labels": {"x": "2"}}, "spec": {"ports": [{"port": 80}]}});
        assert!(!contains(&drifted, &desired));
        let missing = json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}});
        assert!(!contains(&missing, &desired));
        let more_items = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"ports": [{"port": 80}, {"port": 81}]}});
        assert!(
            !contains(&more_items, &desired),
            "a list is the operator's whole"
        );
    }
}
