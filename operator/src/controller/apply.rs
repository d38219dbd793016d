//! Apply: every child with server-side apply under one field manager, sending only the fields
//! the operator builds, and only when the child is not already as built: the inventory says
//! which children are absent (applied without a read), which are as this process last applied
//! them (left alone), and which must be read and compared. Returns the Deployments as the
//! server stored them, so status can only describe what was applied.

use std::fmt::Debug;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use municipio_crds::identifiers::Quantity;

use super::foreign;
use super::inventory::{ChildKey, Inventory, Known};
use crate::children::Children;
use crate::labels::APPLIED_HASH_ANNOTATION;

/// The field manager of everything the operator writes.
pub const FIELD_MANAGER: &str = "municipio";

fn params() -> PatchParams {
    // Forced: the operator owns these fields; another manager's change to them is drift.
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Maps whose values are quantities, which the API server stores in canonical form (`1000m`
/// becomes `1`, `0.5` becomes `500m`).
const QUANTITY_MAPS: [&str; 7] = [
    "requests",
    "limits",
    "hard",
    "default",
    "defaultRequest",
    "max",
    "min",
];

/// Whether `live` already holds every field of `desired` with the same value. Extra fields
/// (the server's defaults, other managers' fields) do not count. In a list of named items
/// (containers, env, ports), each desired item is looked up by name, since another manager may
/// add items of its own; any other list must match element by element. Quantities compare by
/// value.
pub fn contains(live: &Value, desired: &Value) -> bool {
    difference(live, desired).is_none()
}

/// The first field of `desired` that `live` does not hold as desired, as a path
/// (`spec.template.spec.containers[name=portale].image`), by the rules of [`contains`].
pub fn difference(live: &Value, desired: &Value) -> Option<String> {
    difference_in(live, desired, false, "").map(|p| p.trim_start_matches('.').to_owned())
}

/// `quantity_map`: `desired` is a map of quantities (the value of a key in [`QUANTITY_MAPS`]).
fn difference_in(live: &Value, desired: &Value, quantity_map: bool, at: &str) -> Option<String> {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d.iter().find_map(|(k, v)| {
            let here = format!("{at}.{k}");
            match (l.get(k), v) {
                (Some(Value::String(lv)), Value::String(dv)) if quantity_map => {
                    (lv != dv && !same_quantity(lv, dv)).then_some(here)
                }
                (Some(lv), v) => difference_in(lv, v, QUANTITY_MAPS.contains(&k.as_str()), &here),
                (None, _) => Some(here),
            }
        }),
        (Value::Array(l), Value::Array(d)) if d.iter().all(|i| i.get("name").is_some()) => {
            let mut named_live = l.iter().filter(|i| i.get("name").is_some());
            // In order: the operator's items keep their relative order under server-side apply.
            d.iter().find_map(|di| {
                let name = &di["name"];
                let here = format!("{at}[name={}]", name.as_str().unwrap_or_default());
                match named_live.find(|li| li.get("name") == Some(name)) {
                    Some(li) => difference_in(li, di, false, &here),
                    None => Some(here),
                }
            })
        }
        (Value::Array(l), Value::Array(d)) if l.len() == d.len() => l
            .iter()
            .zip(d)
            .enumerate()
            .find_map(|(i, (lv, dv))| difference_in(lv, dv, false, &format!("{at}[{i}]"))),
        _ => (live != desired).then(|| at.to_owned()),
    }
}

fn same_quantity(a: &str, b: &str) -> bool {
    match (a.parse::<Quantity>(), b.parse::<Quantity>()) {
        (Ok(a), Ok(b)) => {
            let (a, b) = (a.value(), b.value());
            (a - b).abs() <= f64::EPSILON * 8.0 * a.abs().max(b.abs())
        }
        _ => false,
    }
}

/// What apply needs of a child's type.
pub trait Child:
    Resource<DynamicType = ()> + k8s_openapi::Resource + Clone + Serialize + DeserializeOwned + Debug
{
}

impl<K> Child for K where
    K: Resource<DynamicType = ()>
        + k8s_openapi::Resource
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug
{
}

/// Where children are applied: the API server, and what the inventory knows of the tenant's.
pub struct Target<'a> {
    pub client: &'a Client,
    pub inventory: &'a Inventory,
    /// The tenant's UID: its children are those whose controller it is.
    pub tenant_uid: &'a str,
}

/// A child someone else changed, put back by this apply: which child, and the fields: those
/// another manager added (removed again, see [`foreign`]), and the first built field found
/// changed after the operator had applied the child as it still builds it (its applied digest
/// is the desired one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub child: String,
    pub fields: Vec<String>,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.child, self.fields.join(", "))
    }
}

fn child_name<K: Resource + k8s_openapi::Resource>(obj: &K) -> String {
    match obj.namespace() {
        Some(ns) => format!("{} {ns}/{}", K::KIND, obj.name_any()),
        None => format!("{} {}", K::KIND, obj.name_any()),
    }
}

/// A child the API server would not take, and why (a quota, an admission webhook, a
/// validation): status and the Event name it.
#[derive(Debug, thiserror::Error)]
#[error("{child}: {source}")]
pub struct ApplyError {
    pub child: String,
    #[source]
    pub source: kube::Error,
}

/// A child as applied: the live object when it was read or written, and the drift put back.
struct ChildApplied<K> {
    live: Option<K>,
    drift: Option<Drift>,
}

/// Whether the live object is wanted back even when the inventory knows it is as built.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Live {
    Wanted,
    NotWanted,
}

/// Applies `obj` unless the live object already is as desired: a converged tenant costs no
/// write (a server-side apply that changes nothing is still a write request), and mostly no
/// read. The desired object carries the digest of itself (`APPLIED_HASH_ANNOTATION`), so a
/// field dropped from it, which the live object still holds, is seen as a difference too.
async fn apply_one<K>(
    target: &Target<'_>,
    api: Api<K>,
    obj: &K,
    live: Live,
) -> Result<ChildApplied<K>, ApplyError>
where
    K: Child,
{
    write_one(target, api, obj, live)
        .await
        .map_err(|source| ApplyError {
            child: child_name(obj),
            source,
        })
}

async fn write_one<K>(
    target: &Target<'_>,
    api: Api<K>,
    obj: &K,
    live: Live,
) -> Result<ChildApplied<K>, kube::Error>
where
    K: Child,
{
    let name = obj.name_any();
    let key = ChildKey::of(K::KIND, obj);
    let hash = obj.annotations().get(APPLIED_HASH_ANNOTATION);
    let known = target
        .inventory
        .known(target.tenant_uid, &key, hash.map(String::as_str));
    if known == Known::AsBuilt && live == Live::NotWanted {
        return Ok(ChildApplied {
            live: None,
            drift: None,
        });
    }
    let as_json = |o: &K| serde_json::to_value(o).expect("Kubernetes objects serialize");
    let desired = as_json(obj);
    let mut changed = Vec::new();
    let mut made_anew = false;
    if known != Known::Absent
        && let Some(raw) = raw_api::<K>(target.client, obj.namespace().as_deref())
            .get_opt(&name)
            .await?
    {
        // Read whole (not as this version's type, which would drop fields a newer API server
        // has): another manager's field unknown to the operator is still seen and removed.
        let raw = serde_json::to_value(&raw).map_err(kube::Error::SerdeError)?;
        if let Some(field) = immutable_changed(&raw, &desired) {
            // Made anew: the API server refuses to change it in place.
            super::tolerate_missing(api.delete(&name, &Default::default()).await)?;
            changed.push(format!("{field}, made anew"));
            made_anew = true;
        } else {
            let (live, foreign) =
                remove_foreign(target, &api, &key, raw, &desired, &mut changed).await?;
            match difference(&as_json(&live), &desired).or_else(|| foreign.taken.first().cloned()) {
                None => {
                    target.inventory.as_built(K::KIND, &live);
                    return Ok(ChildApplied {
                        live: Some(live),
                        drift: drift(obj, changed),
                    });
                }
                // Applied as it is built now, yet different, or taken over: another manager
                // changed it.
                Some(field)
                    if live.annotations().get(APPLIED_HASH_ANNOTATION) == hash
                        || foreign.taken.contains(&field) =>
                {
                    changed.push(field);
                }
                Some(_) => {}
            }
        }
    }
    let mut applied = api.patch(&name, &params(), &Patch::Apply(obj)).await?;
    if known == Known::Absent && !made_anew {
        // Applied without a read: an object that was there all the same (made by someone
        // else under the name the operator uses, or one the inventory forgot) may hold what
        // others added. The answer says who set what.
        let answer = as_json(&applied);
        applied = remove_foreign(target, &api, &key, answer, &desired, &mut changed)
            .await?
            .0;
    }
    target.inventory.as_built(K::KIND, &applied);
    Ok(ChildApplied {
        live: Some(applied),
        drift: drift(obj, changed),
    })
}

/// Removes what other managers added to `live` (as JSON), except what earlier passes found the
/// API server puts back at once (a default it fills in): removing it again would be a write,
/// and an Event, at every pass for nothing. Returns the object as it then is. The removal is
/// made only on the version read; one that changed meanwhile is read again (twice at most).
async fn remove_foreign<K: Child>(
    target: &Target<'_>,
    api: &Api<K>,
    key: &ChildKey,
    mut live: Value,
    desired: &Value,
    changed: &mut Vec<String>,
) -> Result<(K, foreign::Foreign), kube::Error> {
    let name = key.name.to_string();
    let namespace = (!key.namespace.is_empty()).then_some(&*key.namespace);
    let mut tries = 0;
    loop {
        let foreign = foreign::foreign_fields(&live, desired);
        let removals: Vec<&foreign::Removal> = foreign
            .removals
            .iter()
            .filter(|r| !target.inventory.comes_back(key, &r.pointer_text()))
            .collect();
        if removals.is_empty() {
            let live = serde_json::from_value(live).map_err(kube::Error::SerdeError)?;
            return Ok((live, foreign));
        }
        let version = live["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default();
        let patch = foreign::removal_patch(version, removals.iter().copied());
        let patch: json_patch::Patch =
            serde_json::from_value(patch).map_err(kube::Error::SerdeError)?;
        match api
            .patch(&name, &own_params(), &Patch::Json::<()>(patch))
            .await
        {
            Ok(patched) => {
                let after = serde_json::to_value(&patched).map_err(kube::Error::SerdeError)?;
                for r in removals {
                    let pointer = r.pointer_text();
                    if after.pointer(&pointer).is_some()
                        && after.pointer(&pointer) == live.pointer(&pointer)
                    {
                        target.inventory.came_back(key, &pointer);
                    } else {
                        changed.push(r.field.clone());
                    }
                }
                return Ok((patched, foreign));
            }
            // The patch's test of the resourceVersion failed: changed since it was read.
            Err(kube::Error::Api(status)) if status.code == 422 && tries < 2 => {
                tries += 1;
                let Some(fresh) = raw_api::<K>(target.client, namespace)
                    .get_opt(&name)
                    .await?
                else {
                    let live = serde_json::from_value(live).map_err(kube::Error::SerdeError)?;
                    return Ok((live, foreign));
                };
                live = serde_json::to_value(&fresh).map_err(kube::Error::SerdeError)?;
            }
            Err(error) => return Err(error),
        }
    }
}

/// What cannot change once the object exists, and differs: a RoleBinding's roleRef (which
/// moved from `admin` to the tenant-admin role), or `immutable: true` someone set on a
/// ConfigMap (which freezes its data and cannot be removed).
fn immutable_changed(live: &Value, desired: &Value) -> Option<&'static str> {
    if desired
        .get("roleRef")
        .is_some_and(|d| live.get("roleRef") != Some(d))
    {
        return Some("roleRef");
    }
    (live.get("immutable") == Some(&Value::Bool(true))
        && desired.get("immutable") != Some(&Value::Bool(true)))
    .then_some("immutable")
}

fn drift<K: Resource + k8s_openapi::Resource>(obj: &K, fields: Vec<String>) -> Option<Drift> {
    (!fields.is_empty()).then(|| Drift {
        child: child_name(obj),
        fields,
    })
}

/// The operator's own writes that are not applies (removing what another manager added).
fn own_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

/// The objects of `K`'s kind, untyped.
fn raw_api<K: Resource<DynamicType = ()>>(
    client: &Client,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    let resource = ApiResource::erase::<K>(&());
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

async fn cluster<K>(target: &Target<'_>, obj: &K) -> Result<ChildApplied<K>, ApplyError>
where
    K: Child + Resource<Scope = ClusterResourceScope>,
{
    let api = Api::<K>::all(target.client.clone());
    apply_one(target, api, obj, Live::NotWanted).await
}

async fn namespaced<K>(
    target: &Target<'_>,
    obj: &K,
    live: Live,
) -> Result<ChildApplied<K>, ApplyError>
where
    K: Child + Resource<Scope = NamespaceResourceScope>,
{
    let ns = obj.namespace().unwrap_or_default();
    let api = Api::<K>::namespaced(target.client.clone(), &ns);
    apply_one(target, api, obj, live).await
}

/// What apply returns: the live Deployments, how many objects were applied, which Secrets
/// were written, and the drift put back.
pub struct Applied {
    pub deployments: Vec<Deployment>,
    pub objects: usize,
    pub secrets_written: Vec<String>,
    pub drift: Vec<Drift>,
}

/// Applies the children, the namespace first. Secrets are never read (the operator may not
/// read Secrets outside its namespace): each is written when `write_secret` says so.
pub async fn apply(
    target: &Target<'_>,
    children: &Children,
    write_secret: impl Fn(&Secret) -> bool,
) -> Result<Applied, ApplyError> {
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
        object_counts,
    } = children;
    let mut objects = 0;
    let mut drift = Vec::new();
    let none = Live::NotWanted;
    let mut count = |outcome_drift: Option<Drift>| {
        objects += 1;
        drift.extend(outcome_drift);
    };
    count(cluster(target, namespace).await?.drift);
    if let Some(o) = resource_quota {
        count(namespaced(target, o, none).await?.drift);
    }
    if let Some(o) = limit_range {
        count(namespaced(target, o, none).await?.drift);
    }
    if let Some(o) = role_binding {
        count(namespaced(target, o, none).await?.drift);
    }
    // Isolation before anything runs.
    for o in network_policies {
        count(namespaced(target, o, none).await?.drift);
    }
    for o in config_maps {
        count(namespaced(target, o, none).await?.drift);
    }
    let mut secrets_written = Vec::new();
    for o in secrets {
        if write_secret(o) {
            let ns = o.namespace().unwrap_or_default();
            Api::<Secret>::namespaced(target.client.clone(), &ns)
                .patch(&o.name_any(), &params(), &Patch::Apply(o))
                .await
                .map_err(|source| ApplyError {
                    child: child_name(o),
                    source,
                })?;
            secrets_written.push(o.name_any());
        }
        count(None);
    }
    for o in services {
        count(namespaced(target, o, none).await?.drift);
    }
    // Status tells the Deployments' availability, which only the live object holds.
    let mut live = Vec::new();
    for o in deployments {
        let outcome = namespaced(target, o, Live::Wanted).await?;
        live.extend(outcome.live);
        count(outcome.drift);
    }
    // Last: it constrains the writes above until the quota controller has counted them.
    count(namespaced(target, object_counts, none).await?.drift);
    Ok(Applied {
        deployments: live,
        objects,
        secrets_written,
        drift,
    })
}

#[cfg(test)]
mod tests {
    use super::{contains, difference};
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
            "an unnamed list is the operator's whole"
        );
    }

    #[test]
    fn the_difference_names_the_first_field_changed() {
        let desired = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "portale", "image": "a:1", "ports": [{"containerPort": 80}]}]}}}});
        let live = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "sidecar", "image": "s:1"},
            {"name": "portale", "image": "b:2", "ports": [{"containerPort": 80}]}]}}}});
        assert_eq!(
            difference(&live, &desired).as_deref(),
            Some("spec.template.spec.containers[name=portale].image")
        );
        let labels = json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "municipio"}}});
        assert_eq!(
            difference(&json!({"metadata": {"labels": {}}}), &labels).as_deref(),
            Some("metadata.labels.app.kubernetes.io/managed-by")
        );
        assert_eq!(difference(&live, &live), None);
        assert_eq!(
            difference(&json!({"ports": [1, 2]}), &json!({"ports": [1]})).as_deref(),
            Some("ports")
        );
    }

    #[test]
    fn quantities_compare_by_value() {
        let desired = json!({"resources": {"limits": {"cpu": "1000m", "memory": "1024Mi"}}});
        let canonical = json!({"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}});
        assert!(contains(&canonical, &desired));
        let other = json!({"resources": {"limits": {"cpu": "1001m", "memory": "1Gi"}}});
        assert!(!contains(&other, &desired));
        // Elsewhere a string is a string.
        assert!(!contains(
            &json!({"value": "1"}),
            &json!({"value": "1000m"})
        ));
    }

    #[test]
    fn named_items_are_matched_by_name_so_other_managers_may_add_theirs() {
        let desired = json!({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]});
        let with_sidecar_env = json!({"env": [{"name": "A", "value": "1"}, {"name": "X", "value": "x"}, {"name": "B", "value": "2"}]});
        assert!(contains(&with_sidecar_env, &desired));
        let changed = json!({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]});
        assert!(!contains(&changed, &desired));
        let missing = json!({"env": [{"name": "A", "value": "1"}]});
        assert!(!contains(&missing, &desired));
    }

    #[test]
    fn a_child_built_differently_is_applied_even_if_the_live_one_has_every_field() {
        // A port removed from the spec: the live Service still has every desired field.
        let desired = json!({"metadata": {"annotations": {"tenancy.municipio.io/applied-hash": "new"}}, "spec": {"type": "ClusterIP"}});
        let live = json!({"metadata": {"annotations": {"tenancy.municipio.io/applied-hash": "old"}}, "spec": {"type": "ClusterIP", "ports": [{"port": 80}]}});
        assert!(!contains(&live, &desired), "the digest differs");
    }
}
