//! Fields other parties added to a child. Server-side apply keeps another field manager's
//! fields by design: a forced apply takes back the fields the operator sets, but a sidecar
//! added to a managed Deployment, an `egress: [{}]` added to `default-deny` or a subject added
//! to the admins' RoleBinding would stay for ever. Here the live object's `managedFields` say
//! who set what, and every field set by another manager that the operator does not build is
//! removed, except what [`ownership`](crate::ownership) leaves to documented other parties.
//!
//! A field the operator builds is left to the forced apply, which puts its value back: it is
//! never removed, since an object without it may not be valid (a container's image).

use serde_json::{Map, Value};

use super::apply::FIELD_MANAGER;
use crate::labels::APPLIED_HASH_ANNOTATION;
use crate::ownership::left_to_others;

/// One removal: a JSON pointer (RFC 6901) into the live object, and the field as people read
/// it (`spec.template.spec.containers[name=sidecar]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub pointer: Vec<Step>,
    pub field: String,
}

/// A step of a pointer: a map key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Key(String),
    Index(usize),
}

impl Removal {
    /// The pointer as a string, `/spec/template/spec/containers/1`.
    pub fn pointer_text(&self) -> String {
        self.pointer
            .iter()
            .map(|s| match s {
                Step::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
                Step::Index(i) => format!("/{i}"),
            })
            .collect()
    }
}

/// What other managers did to a child.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Foreign {
    /// Fields another manager set, that the operator does not build and no documented other
    /// party may set, in an order in which they can be removed one after the other (later
    /// list items first, so that earlier indices stay valid).
    pub removals: Vec<Removal>,
    /// Fields the operator builds whose value another manager has taken over and changed,
    /// whole (an atomic list such as a RoleBinding's subjects, where a "holds every built
    /// item" comparison would not see an added item): the forced apply puts them back.
    pub taken: Vec<String>,
}

/// What other managers than the operator did to `live`, built as `desired`.
pub fn foreign_fields(live: &Value, desired: &Value) -> Foreign {
    let entries = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut removals = Vec::new();
    let mut taken = Vec::new();
    // A manager's name is the client's to choose: anyone may write as `municipio`. So the
    // operator's own entries are walked too once the live object is as it last built it (its
    // digest is the desired one): then nothing in them can be missing from `desired` but what
    // someone else wrote. Before that, the forced apply that follows replaces them anyway.
    let hash = |o: &Value| {
        o.pointer("/metadata/annotations")
            .map(|a| a[APPLIED_HASH_ANNOTATION].clone())
    };
    let as_built = hash(live).is_some() && hash(live) == hash(desired);
    for entry in entries {
        let own = entry.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER);
        if own && !as_built {
            continue;
        }
        let Some(Value::Object(fields)) = entry.get("fieldsV1") else {
            continue;
        };
        let mut own_taken = Vec::new();
        let mut walk = Walk {
            removals: &mut removals,
            taken: if own { &mut own_taken } else { &mut taken },
            path: Vec::new(),
            pointer: Vec::new(),
            field: String::new(),
        };
        walk.fields(live, Some(desired), fields);
    }
    removals.sort_by(|a, b| b.pointer.cmp(&a.pointer));
    removals.dedup_by(|a, b| a.pointer == b.pointer);
    // A removal inside one that removes its parent is already done by it.
    let parents: Vec<Vec<Step>> = removals.iter().map(|r| r.pointer.clone()).collect();
    removals.retain(|r| {
        !parents
            .iter()
            .any(|p| p.len() < r.pointer.len() && r.pointer.starts_with(p))
    });
    taken.sort();
    taken.dedup();
    Foreign { removals, taken }
}

struct Walk<'a> {
    removals: &'a mut Vec<Removal>,
    taken: &'a mut Vec<String>,
    /// Field names from the root, `[]` for a list item: what [`left_to_others`] looks at.
    path: Vec<String>,
    pointer: Vec<Step>,
    field: String,
}

impl Walk<'_> {
    /// `fields` is a manager's `fieldsV1` at `live` (whose desired counterpart is `desired`).
    fn fields(&mut self, live: &Value, desired: Option<&Value>, fields: &Map<String, Value>) {
        for (key, sub) in fields {
            let sub = sub.as_object();
            if let Some(name) = key.strip_prefix("f:") {
                let Some(live_value) = live.get(name) else {
                    continue;
                };
                self.enter(Step::Key(name.to_owned()), name, &format!(".{name}"));
                if !left_to_others(&self.path) {
                    let sub = sub.filter(|s| s.keys().any(|k| k != "."));
                    match (desired.and_then(|d| d.get(name)), sub) {
                        // A map the operator does not build may still hold what others may
                        // set (the labels of an object built without any), or what others
                        // than its creator put in it: field by field, never whole.
                        (None, Some(sub)) if live_value.is_object() => {
                            self.fields(live_value, None, sub);
                        }
                        (None, None) if live_value.is_object() => {}
                        (None, _) => self.remove(),
                        (Some(d), Some(sub)) => self.fields(live_value, Some(d), sub),
                        // Taken over whole (an atomic list, a map written as one): it must be
                        // exactly the operator's ("holds every built field" would pass an
                        // added subject, or labels inside an empty selector).
                        (Some(d), None) if live_value != d => {
                            self.taken
                                .push(self.field.trim_start_matches('.').to_owned());
                        }
                        (Some(_), None) => {}
                    }
                }
                self.leave();
            } else if let Some(keys) = key.strip_prefix("k:") {
                let Ok(Value::Object(keys)) = serde_json::from_str::<Value>(keys) else {
                    continue;
                };
                let matches = |item: &Value| keys.iter().all(|(k, v)| item.get(k) == Some(v));
                let Some((index, live_item)) = items(live).find(|(_, i)| matches(i)) else {
                    continue;
                };
                let label = keys
                    .iter()
                    .map(|(k, v)| {
                        format!("{k}={}", v.as_str().map_or(v.to_string(), str::to_owned))
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                self.enter(Step::Index(index), "[]", &format!("[{label}]"));
                match desired.and_then(|d| items(d).find(|(_, i)| matches(i))) {
                    None => self.remove(),
                    Some((_, d)) => {
                        if let Some(sub) = sub {
                            self.fields(live_item, Some(d), sub);
                        }
                    }
                }
                self.leave();
            } else if let Some(value) = key.strip_prefix("v:") {
                let Ok(value) = serde_json::from_str::<Value>(value) else {
                    continue;
                };
                let Some((index, _)) = items(live).find(|(_, i)| **i == value) else {
                    continue;
                };
                let wanted = desired.is_some_and(|d| items(d).any(|(_, i)| *i == value));
                if !wanted {
                    self.enter(Step::Index(index), "[]", &format!("[{value}]"));
                    self.remove();
                    self.leave();
                }
            }
            // "." is the item itself, handled by its parent; "i:" (a position in an atomic
            // list) never occurs below a field the operator does not build.
        }
    }

    fn enter(&mut self, step: Step, path: &str, field: &str) {
        self.pointer.push(step);
        self.path.push(path.to_owned());
        self.field.push_str(field);
    }

    fn leave(&mut self) {
        self.pointer.pop();
        let last = self.path.pop().unwrap_or_default();
        let cut = if last == "[]" {
            self.field.rfind('[')
        } else {
            self.field.rfind(&format!(".{last}"))
        };
        self.field.truncate(cut.unwrap_or(0));
    }

    fn remove(&mut self) {
        self.removals.push(Removal {
            pointer: self.pointer.clone(),
            field: self.field.trim_start_matches('.').to_owned(),
        });
    }
}

fn items(list: &Value) -> impl Iterator<Item = (usize, &Value)> {
    list.as_array().into_iter().flatten().enumerate()
}

/// The JSON patch that removes `removals` from an object at `resource_version`: it fails,
/// rather than removing the wrong list item, if the object changed meanwhile.
pub fn removal_patch<'a>(
    resource_version: &str,
    removals: impl IntoIterator<Item = &'a Removal>,
) -> Value {
    let mut ops = vec![serde_json::json!({
        "op": "test", "path": "/metadata/resourceVersion", "value": resource_version
    })];
    ops.extend(
        removals
            .into_iter()
            .map(|r| serde_json::json!({"op": "remove", "path": r.pointer_text()})),
    );
    Value::Array(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn managed(manager: &str, fields: Value) -> Value {
        json!({"manager": manager, "operation": "Update", "fieldsV1": fields})
    }

    fn fields_of(live: &Value, desired: &Value) -> Vec<String> {
        foreign_fields(live, desired)
            .removals
            .into_iter()
            .map(|r| format!("{} {}", r.field, r.pointer_text()))
            .collect()
    }

    #[test]
    fn a_sidecar_host_access_and_a_volume_added_by_another_manager_are_foreign() {
        let desired = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "portale", "image": "a:1"}]}}}});
        let live = json!({
            "metadata": {"managedFields": [
                managed(FIELD_MANAGER, json!({"f:spec": {"f:template": {}}})),
                managed("kubectl-edit", json!({"f:spec": {"f:template": {"f:spec": {
                    "f:containers": {"k:{\"name\":\"sidecar\"}": {".": {}, "f:image": {}}},
                    "f:hostNetwork": {}, "f:hostPID": {},
                    "f:volumes": {".": {}, "k:{\"name\":\"root\"}": {".": {}, "f:hostPath": {}}}
                }}}})),
            ]},
            "spec": {"template": {"spec": {
                "containers": [
                    {"name": "sidecar", "image": "evil:1", "securityContext": {"privileged": true}},
                    {"name": "portale", "image": "a:1"}],
                "hostNetwork": true, "hostPID": true,
                "volumes": [{"name": "root", "hostPath": {"path": "/"}}]}}}
        });
        assert_eq!(
            fields_of(&live, &desired),
            [
                "spec.template.spec.volumes /spec/template/spec/volumes",
                "spec.template.spec.hostPID /spec/template/spec/hostPID",
                "spec.template.spec.hostNetwork /spec/template/spec/hostNetwork",
                "spec.template.spec.containers[name=sidecar] /spec/template/spec/containers/0",
            ]
        );
    }

    #[test]
    fn a_changed_built_field_is_left_to_the_forced_apply() {
        let desired = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "portale", "image": "a:1"}]}}}});
        let live = json!({
            "metadata": {"managedFields": [managed("intruder", json!({"f:spec": {"f:template": {"f:spec": {
                "f:containers": {"k:{\"name\":\"portale\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}))]},
            "spec": {"template": {"spec": {"containers": [{"name": "portale", "image": "b:2"}]}}}
        });
        assert!(fields_of(&live, &desired).is_empty());
        assert_eq!(
            foreign_fields(&live, &desired).taken,
            ["spec.template.spec.containers[name=portale].image"]
        );
    }

    #[test]
    fn added_rules_subjects_env_and_owners_are_foreign_but_status_replicas_and_marks_are_not() {
        let desired = json!({
            "metadata": {"labels": {"tenancy.municipio.io/tenant": "modena"},
                         "ownerReferences": [{"uid": "u1"}]},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            "subjects": [{"kind": "Group", "name": "comune-modena-admins"}],
            "data": {"PAGOPA_STATION_ID": "x"}
        });
        let live = json!({
            "metadata": {
                "labels": {"tenancy.municipio.io/tenant": "modena", "example.org/audited": "yes",
                           "tenancy.municipio.io/retained": "true"},
                "annotations": {"deployment.kubernetes.io/revision": "2"},
                "ownerReferences": [{"uid": "u1"}, {"uid": "u2"}],
                "managedFields": [managed("mallory", json!({
                    "f:metadata": {
                        "f:labels": {"f:example.org/audited": {}, "f:tenancy.municipio.io/retained": {}},
                        "f:annotations": {"f:deployment.kubernetes.io/revision": {}},
                        "f:ownerReferences": {"k:{\"uid\":\"u2\"}": {".": {}}}},
                    "f:spec": {"f:egress": {}, "f:ingress": {}, "f:replicas": {}},
                    "f:subjects": {},
                    "f:data": {"f:HTTPS_PROXY": {}},
                    "f:status": {"f:replicas": {}}
                }))]},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                     "egress": [{}], "ingress": [{}], "replicas": 3},
            "subjects": [{"kind": "Group", "name": "comune-modena-admins"},
                         {"kind": "Group", "name": "system:unauthenticated"}],
            "data": {"PAGOPA_STATION_ID": "x", "HTTPS_PROXY": "http://evil:3128"},
            "status": {"replicas": 3}
        });
        assert_eq!(
            fields_of(&live, &desired),
            [
                "spec.ingress /spec/ingress",
                "spec.egress /spec/egress",
                "metadata.ownerReferences[uid=u2] /metadata/ownerReferences/1",
                "metadata.labels.tenancy.municipio.io/retained /metadata/labels/tenancy.municipio.io~1retained",
                "data.HTTPS_PROXY /data/HTTPS_PROXY",
            ]
        );
        // The atomic list of subjects, taken over whole: the forced apply puts back the
        // operator's list (it is a field the operator builds), and the replicas are left.
        assert_eq!(foreign_fields(&live, &desired).taken, ["subjects"]);
    }

    #[test]
    fn set_items_and_later_list_items_go_first() {
        let desired = json!({"metadata": {"finalizers": ["a"]}, "spec": {"ports": [{"port": 80}]}});
        let live = json!({
            "metadata": {"finalizers": ["a", "hold"], "managedFields": [managed("x", json!({
                "f:metadata": {"f:finalizers": {"v:\"hold\"": {}}},
                "f:spec": {"f:ports": {"k:{\"port\":81}": {".": {}}, "k:{\"port\":82}": {".": {}}}}}))]},
            "spec": {"ports": [{"port": 80}, {"port": 81}, {"port": 82}]}
        });
        let removals = foreign_fields(&live, &desired).removals;
        let pointers: Vec<String> = removals.iter().map(Removal::pointer_text).collect();
        assert_eq!(
            pointers,
            ["/spec/ports/2", "/spec/ports/1", "/metadata/finalizers/1"]
        );
        let patch = removal_patch("7", &removals);
        assert_eq!(
            patch[0],
            json!({"op": "test", "path": "/metadata/resourceVersion", "value": "7"})
        );
        assert_eq!(patch.as_array().unwrap().len(), 4);
    }

    #[test]
    fn a_field_written_under_the_operators_name_is_foreign_once_the_object_is_as_built() {
        let annotations = json!({"tenancy.municipio.io/applied-hash": "h1"});
        let desired = json!({"metadata": {"annotations": annotations}, "data": {"A": "1"}});
        let forged = json!({
            "metadata": {"annotations": annotations, "managedFields": [
                managed(FIELD_MANAGER, json!({"f:data": {"f:A": {}, "f:HTTPS_PROXY": {}}}))]},
            "data": {"A": "1", "HTTPS_PROXY": "http://proxy.example:3128"}
        });
        assert_eq!(
            fields_of(&forged, &desired),
            ["data.HTTPS_PROXY /data/HTTPS_PROXY"]
        );
        // Built differently since: the forced apply replaces the operator's own entry.
        let mut rebuilt = desired.clone();
        rebuilt["metadata"]["annotations"] = json!({"tenancy.municipio.io/applied-hash": "h2"});
        assert!(fields_of(&forged, &rebuilt).is_empty());
    }
}
