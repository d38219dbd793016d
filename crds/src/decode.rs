//! Reading a tenant from JSON, strictly: a field the API does not know is an error that names
//! its path and the nearest known field, never silently dropped. Serde (and an API server's
//! pruning) would drop it, and a typo can change what a tenant means: `deletionPolcy: Retain`
//! read leniently is a tenant with the default policy, `Delete`.
//!
//! The known fields are the ones of the CRD generated from the types, so the check follows the
//! types with nothing to keep in step. `status` is not checked: it is the operator's own
//! output, and a field a newer operator wrote there must not make a tenant unreadable.

use std::sync::OnceLock;

use serde_json::Value;

use crate::MunicipalityTenant;
use crate::validate::{FieldError, FieldPath, Problem};

/// The top-level fields of a tenant.
const TOP_LEVEL: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];

/// The fields of Kubernetes' ObjectMeta (the CRD's schema leaves `metadata` to the API server).
const OBJECT_META: [&str; 15] = [
    "annotations",
    "creationTimestamp",
    "deletionGracePeriodSeconds",
    "deletionTimestamp",
    "finalizers",
    "generateName",
    "generation",
    "labels",
    "managedFields",
    "name",
    "namespace",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
];

/// The tenant in `value`, or every field it does not know and the first one of the wrong type.
pub fn decode(value: &Value) -> Result<MunicipalityTenant, Vec<FieldError>> {
    let mut errors = unknown_fields(value);
    match serde_path_to_error::deserialize::<_, MunicipalityTenant>(value) {
        Ok(tenant) if errors.is_empty() => return Ok(tenant),
        Ok(_) => {}
        Err(e) => errors.push(FieldError {
            path: FieldPath::new(&e.path().to_string()),
            problem: Problem::Type(e.into_inner().to_string()),
        }),
    }
    Err(errors)
}

/// Every field of `object` (a whole tenant, or a part of one such as onboarding's template)
/// that the API does not know, by path.
pub fn unknown_fields(object: &Value) -> Vec<FieldError> {
    let mut found = Vec::new();
    let Some(fields) = object.as_object() else {
        return found;
    };
    for (key, value) in fields {
        let path = FieldPath::new(key);
        match key.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => known_keys(value, &path, &OBJECT_META, &mut found),
            "spec" => walk(
                value,
                &spec_schema()["properties"]["spec"],
                &path,
                &mut found,
            ),
            _ => found.push(unknown(path, key, TOP_LEVEL)),
        }
    }
    found
}

/// The schema derived from the types, before the CRD keeps unknown fields for the operator to
/// see (see [`crate::crd::crd`]).
fn spec_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let schema = crate::crd::derived_schema();
        serde_json::to_value(schema).expect("a JSON schema serializes")
    })
}

fn walk(value: &Value, schema: &Value, path: &FieldPath, found: &mut Vec<FieldError>) {
    if schema["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true) {
        return;
    }
    match value {
        Value::Object(fields) => {
            if let Some(known) = schema["properties"].as_object() {
                for (key, value) in fields {
                    match known.get(key) {
                        Some(schema) => walk(value, schema, &path.child(key), found),
                        None => found.push(unknown(path.child(key), key, known.keys())),
                    }
                }
            } else if schema["additionalProperties"].is_object() {
                // A map (labels, matchLabels): any key, each value by the map's schema.
                for (key, value) in fields {
                    walk(
                        value,
                        &schema["additionalProperties"],
                        &path.child(key),
                        found,
                    );
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &schema["items"], &path.index(i), found);
            }
        }
        _ => {}
    }
}

fn known_keys(value: &Value, path: &FieldPath, known: &[&str], found: &mut Vec<FieldError>) {
    for key in value.as_object().into_iter().flat_map(|o| o.keys()) {
        if !known.contains(&key.as_str()) {
            found.push(unknown(path.child(key), key, known.iter().copied()));
        }
    }
}

fn unknown<'a>(
    path: FieldPath,
    key: &str,
    known: impl IntoIterator<Item = impl AsRef<str> + 'a>,
) -> FieldError {
    let known: Vec<String> = known.into_iter().map(|k| k.as_ref().to_owned()).collect();
    FieldError {
        path,
        problem: Problem::UnknownField {
            nearest: nearest(key, &known),
            known,
        },
    }
}

/// The known field `typo` most likely meant: the closest by edit distance (letters swapped,
/// missing, doubled or of another case), if close enough to be a typo rather than another word.
pub fn nearest(typo: &str, known: &[String]) -> Option<String> {
    let typo_lower = typo.to_lowercase();
    known
        .iter()
        .map(|k| {
            let distance = strsim::damerau_levenshtein(&typo_lower, &k.to_lowercase());
            (distance, k)
        })
        .filter(|(distance, k)| *distance <= (typo.len().max(k.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn the_nearest_field_is_a_typo_away_or_none() {
        let spec = known(&["deletionPolicy", "namespace", "suspend", "workloads"]);
        for (typo, meant) in [
            ("deletionPolcy", Some("deletionPolicy")),
            ("DeletionPolicy", Some("deletionPolicy")),
            ("deletionpolicy", Some("deletionPolicy")),
            ("namepsace", Some("namespace")),
            ("workload", Some("workloads")),
            ("suspended", Some("suspend")),
            ("retain", None),
            ("x", None),
        ] {
            assert_eq!(nearest(typo, &spec).as_deref(), meant, "{typo}");
        }
    }

    #[test]
    fn top_level_and_metadata_fields_are_known_by_name() {
        let tenant = json!({
            "apiVersion": "tenancy.municipio.io/v1alpha1", "kind": "MunicipalityTenant",
            "metadata": {"name": "a", "lables": {"x": "y"}, "labels": {"free.key/any": "v"}},
            "sepc": {}, "status": {"anything": true},
        });
        let found: Vec<(String, &str)> = unknown_fields(&tenant)
            .iter()
            .map(|e| (e.path.to_string(), e.problem.rule()))
            .collect();
        assert_eq!(
            found,
            [
                ("metadata.lables".to_owned(), "UnknownField"),
                ("sepc".to_owned(), "UnknownField"),
            ]
        );
    }
}
