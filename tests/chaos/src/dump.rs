//! What the operator made, normalized so that two runs can be compared: every object labelled
//! `app.kubernetes.io/managed-by: municipio`, and every tenant's status, without what the API
//! server assigns afresh in each cluster (uids, resourceVersions, times, cluster IPs) or what
//! the cluster's own controllers write (a Deployment's status).

use std::collections::{BTreeMap, BTreeSet};

use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use municipio_crds::MunicipalityTenant;
use municipio_operator::children::kinds::KINDS;
use municipio_operator::labels::{
    APPLIED_HASH_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, NAMESPACE_UID_LABEL, RETAINED_LABEL,
    TENANT_LABEL,
};

/// Objects by `Kind/namespace/name`, and tenants' statuses by `MunicipalityTenant/name`.
pub type Dump = BTreeMap<String, Value>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The managed objects, normalized.
pub async fn managed(client: &Client) -> Result<Dump, String> {
    let mut dump = Dump::new();
    let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY}");
    let uids: BTreeMap<String, String> = Api::<MunicipalityTenant>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(err)?
        .into_iter()
        .map(|t| {
            (
                t.metadata.name.unwrap_or_default(),
                t.metadata.uid.unwrap_or_default(),
            )
        })
        .collect();
    // Every kind the operator makes (the chaos suite reads as an administrator: Secrets too).
    for child in KINDS {
        let (kind, plural) = (child.kind, child.plural);
        let resource = child.api_resource();
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        for object in api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| format!("{plural}: {e}"))?
        {
            let key = format!(
                "{kind}/{}/{}",
                object.metadata.namespace.as_deref().unwrap_or(""),
                object.metadata.name.as_deref().unwrap_or("")
            );
            let mut value = serde_json::to_value(&object).map_err(err)?;
            value["kind"] = Value::from(kind);
            normalize(&mut value, &uids);
            dump.insert(key, value);
        }
    }
    Ok(dump)
}

/// Every tenant's status, normalized (the time a condition last changed differs by run).
pub async fn statuses(client: &Client) -> Result<Dump, String> {
    let tenants: Api<MunicipalityTenant> = Api::all(client.clone());
    let mut dump = Dump::new();
    for t in tenants.list(&ListParams::default()).await.map_err(err)? {
        let mut status = serde_json::to_value(&t.status).map_err(err)?;
        for c in status["conditions"].as_array_mut().into_iter().flatten() {
            if let Some(c) = c.as_object_mut() {
                c.remove("lastTransitionTime");
            }
        }
        // Digests of the source Secrets' identity (uid, resourceVersion), which each cluster
        // assigns afresh: only whether there is one is compared (the keys themselves are, in
        // the tenant Secrets).
        for c in status["connectors"].as_array_mut().into_iter().flatten() {
            present(c, "keysVersion");
        }
        let key = format!("MunicipalityTenant/{}", t.metadata.name.unwrap_or_default());
        dump.insert(key, status);
    }
    Ok(dump)
}

/// Replaces the value of `key` in `map`, if there is one, by a mark that it is there.
fn present(map: &mut Value, key: &str) {
    if let Some(v) = map.get_mut(key) {
        *v = Value::from("<present>");
    }
}

/// `uids`: the live tenants' uids by name. An owner reference to a live tenant has its uid
/// replaced by a mark (each cluster assigns its own); one to anything else keeps it, and so
/// differs.
fn normalize(object: &mut Value, uids: &BTreeMap<String, String>) {
    if let Some(meta) = object["metadata"].as_object_mut() {
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
            "generation",
            "selfLink",
        ] {
            meta.remove(field);
        }
        // The digest of the object as built covers its owner reference, whose uid each cluster
        // assigns afresh: only whether there is one is compared (the fields it digests are).
        if let Some(a) = meta.get_mut("annotations") {
            present(a, APPLIED_HASH_ANNOTATION);
        }
        // The operator's record of a retained namespace holds that namespace's uid.
        if let Some(uid) = meta
            .get_mut("labels")
            .and_then(|l| l.get_mut(NAMESPACE_UID_LABEL))
        {
            *uid = Value::from("<the namespace's>");
        }
        // The tenant's uid differs by cluster; its kind and name do not.
        for r in meta
            .get_mut("ownerReferences")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let owner = r["name"].as_str().and_then(|n| uids.get(n));
            if owner.is_some() && r["uid"].as_str() == owner.map(String::as_str) {
                r["uid"] = Value::from("<the tenant's>");
            }
        }
    }
    if let Some(o) = object.as_object_mut() {
        // A Deployment's and a namespace's status are the cluster's; a Service's cluster IP is
        // allocated afresh.
        o.remove("status");
    }
    if let Some(spec) = object["spec"].as_object_mut() {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
}

/// What differs between two dumps: keys in one only, and keys whose values differ (with the
/// first differing path).
pub fn differences(expected: &Dump, found: &Dump) -> Vec<String> {
    let mut out = Vec::new();
    for key in expected.keys().filter(|k| !found.contains_key(*k)) {
        out.push(format!("missing: {key}"));
    }
    for key in found.keys().filter(|k| !expected.contains_key(*k)) {
        out.push(format!("unexpected: {key}"));
    }
    for (key, e) in expected {
        if let Some(f) = found.get(key)
            && e != f
        {
            out.push(format!("differs: {key} at {}", first_difference(e, f, "")));
        }
    }
    out
}

fn first_difference(a: &Value, b: &Value, at: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                if x.get(k) != y.get(k) {
                    let (xv, yv) = (
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                    );
                    return first_difference(xv, yv, &format!("{at}.{k}"));
                }
            }
            at.to_owned()
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (xv, yv)) in x.iter().zip(y).enumerate() {
                if xv != yv {
                    return first_difference(xv, yv, &format!("{at}[{i}]"));
                }
            }
            at.to_owned()
        }
        _ => format!("{at}: {a} != {b}"),
    }
}

/// Managed objects whose tenant is gone and which were not retained on purpose (`deletionPolicy:
/// Retain` labels what it keeps `tenancy.municipio.io/retained`).
pub fn orphans(objects: &Dump, live_tenants: &BTreeSet<String>) -> Vec<String> {
    objects
        .iter()
        .filter(|(_, o)| {
            let labels = &o["metadata"]["labels"];
            labels[RETAINED_LABEL].as_str() != Some("true")
                && !labels[TENANT_LABEL]
                    .as_str()
                    .is_some_and(|t| live_tenants.contains(t))
        })
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_name_the_key_and_the_first_differing_field() {
        let a: Dump = [
            ("A".to_owned(), json!({"spec": {"x": [1, 2]}})),
            ("B".to_owned(), json!({})),
        ]
        .into();
        let b: Dump = [
            ("A".to_owned(), json!({"spec": {"x": [1, 3]}})),
            ("C".to_owned(), json!({})),
        ]
        .into();
        assert_eq!(
            differences(&a, &b),
            vec![
                "missing: B",
                "unexpected: C",
                "differs: A at .spec.x[1]: 2 != 3"
            ]
        );
        assert!(differences(&a, &a).is_empty());
    }

    #[test]
    fn an_object_of_a_gone_tenant_is_an_orphan_unless_retained() {
        let objects: Dump = [
            (
                "live".to_owned(),
                json!({"metadata": {"labels": {TENANT_LABEL: "a"}}}),
            ),
            (
                "gone".to_owned(),
                json!({"metadata": {"labels": {TENANT_LABEL: "b"}}}),
            ),
            (
                "kept".to_owned(),
                json!({"metadata": {"labels": {TENANT_LABEL: "c", RETAINED_LABEL: "true"}}}),
            ),
        ]
        .into();
        let live = ["a".to_owned()].into();
        assert_eq!(orphans(&objects, &live), vec!["gone"]);
    }

    #[test]
    fn what_each_cluster_assigns_is_left_out() {
        let mut o = json!({"metadata": {"name": "n", "uid": "u", "resourceVersion": "1",
            "annotations": {APPLIED_HASH_ANNOTATION: "h"},
            "ownerReferences": [{"kind": "MunicipalityTenant", "name": "t", "uid": "x"},
                {"kind": "MunicipalityTenant", "name": "gone", "uid": "y"}]},
            "spec": {"clusterIP": "10.0.0.1", "ports": []}, "status": {"a": 1}});
        let uids = [("t".to_owned(), "x".to_owned())].into();
        normalize(&mut o, &uids);
        assert_eq!(
            o,
            json!({"metadata": {"name": "n", "annotations": {APPLIED_HASH_ANNOTATION: "<present>"},
                "ownerReferences": [{"kind": "MunicipalityTenant", "name": "t", "uid": "<the tenant's>"},
                    {"kind": "MunicipalityTenant", "name": "gone", "uid": "y"}]},
                "spec": {"ports": []}})
        );
    }
}
