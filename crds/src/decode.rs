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

/// The tenant in `value`, or every field it does not know and everything the CRD's schema
/// refuses (what the API server would refuse, offline); failing those, the first field of a
/// type the types cannot read.
pub fn decode(value: &Value) -> Result<MunicipalityTenant, Vec<FieldError>> {
    let value = &without_nulls(value);
    let mut errors = unknown_fields(value);
    errors.extend(schema_errors(value));
    if !errors.is_empty() {
        return Err(errors);
    }
    deserialize(value)
}

/// A tenant as stored by the API server (the controller's watch, the webhook): the API server
/// has checked it against the schema of its day, which a later CRD may have tightened (the API
/// server keeps such objects, and so does the operator); only unknown fields and what the
/// types cannot read stop it.
pub fn decode_stored(value: &Value) -> Result<MunicipalityTenant, Vec<FieldError>> {
    let errors = unknown_fields(value);
    if !errors.is_empty() {
        return Err(errors);
    }
    deserialize(value)
}

/// `value` without the members whose value is null: the API server drops them before it
/// validates (no field of this API is nullable), so a manifest with an empty `pagopa:` or a
/// Helm value rendered empty is what the cluster takes.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn deserialize(value: &Value) -> Result<MunicipalityTenant, Vec<FieldError>> {
    serde_path_to_error::deserialize::<_, MunicipalityTenant>(value).map_err(|e| {
        vec![FieldError {
            path: FieldPath::new(&e.path().to_string()),
            problem: Problem::Type(e.into_inner().to_string()),
        }]
    })
}

/// The CRD's schema as a JSON Schema validator. An OpenAPI v3 schema object is JSON Schema
/// (draft 4's vocabulary) plus `x-kubernetes-*` extensions, which the validator ignores; the
/// one that refuses input, list-map keys, is checked by [`walk`].
fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .build(spec_schema())
            .expect("the CRD's schema is a valid JSON Schema (a test builds it)")
    })
}

/// What the schema refuses: types, required fields, enums, patterns, bounds.
pub fn schema_errors(object: &Value) -> Vec<FieldError> {
    validator()
        .iter_errors(object)
        .map(|error| {
            let path = field_path(error.instance_path().as_str());
            match error.kind() {
                // Named by the missing field, as the API server names it.
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    let property = property.as_str().unwrap_or_default();
                    FieldError {
                        path: match path.as_str() {
                            "" => FieldPath::new(property),
                            _ => path.child(property),
                        },
                        problem: Problem::Schema("is required".to_owned()),
                    }
                }
                kind => FieldError {
                    path,
                    problem: Problem::Schema(schema_message(kind)),
                },
            }
        })
        .collect()
}

/// `/spec/admins/0/name` as `spec.admins[0].name`.
fn field_path(pointer: &str) -> FieldPath {
    let mut segments = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"));
    let mut path = FieldPath::new(&segments.next().unwrap_or_default());
    for segment in segments {
        path = match segment.parse::<usize>() {
            Ok(i) => path.index(i),
            Err(_) => path.child(&segment),
        };
    }
    path
}

/// What is wrong, in the API server's words where it has them; never the value itself (it
/// may be huge), past a short excerpt.
fn schema_message(kind: &jsonschema::error::ValidationErrorKind) -> String {
    use jsonschema::error::ValidationErrorKind as Kind;
    match kind {
        Kind::MaxLength { limit } => format!("may not be longer than {limit} characters"),
        Kind::MinLength { limit } => format!("should be at least {limit} characters long"),
        Kind::MaxItems { limit } => format!("must have at most {limit} items"),
        Kind::MinItems { limit } => format!("must have at least {limit} items"),
        Kind::Maximum { limit } => format!("should be less than or equal to {limit}"),
        Kind::Minimum { limit } => format!("should be greater than or equal to {limit}"),
        Kind::Pattern { pattern } => format!("should match '{pattern}'"),
        Kind::Enum { options } => format!("must be one of {options}"),
        Kind::Type { kind } => {
            let types: Vec<String> = match kind {
                jsonschema::error::TypeKind::Single(t) => vec![t.to_string()],
                jsonschema::error::TypeKind::Multiple(set) => {
                    set.iter().map(|t| t.to_string()).collect()
                }
            };
            format!("must be of type {}", types.join(" or "))
        }
        other => {
            let text = format!("{other:?}");
            text.chars().take(200).collect()
        }
    }
}

/// Every field of `object` (a whole tenant, or a part of one such as onboarding's template)
/// that the API does not know, and every second item of a list keyed by a field, by path.
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
            unique_by_keys(items, schema, path, found);
        }
        _ => {}
    }
}

/// A list the schema makes a map (`x-kubernetes-list-type: map`) or a set has each key (or
/// item) once: the API server refuses a second one.
fn unique_by_keys(items: &[Value], schema: &Value, path: &FieldPath, found: &mut Vec<FieldError>) {
    let keys: Vec<&str> = match schema["x-kubernetes-list-type"].as_str() {
        Some("map") => schema["x-kubernetes-list-map-keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect(),
        Some("set") => Vec::new(),
        _ => return,
    };
    let mut seen: Vec<(Value, usize)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = match keys.as_slice() {
            [] => item.clone(),
            keys => Value::Array(keys.iter().map(|k| item[*k].clone()).collect()),
        };
        match seen.iter().find(|(k, _)| *k == key) {
            // Named by the item, as the API server names it.
            Some((_, first)) => {
                let named = match keys.as_slice() {
                    [key] => &item[*key],
                    _ => &key,
                };
                // A string as it is (the message quotes it), anything else as JSON.
                let value: String = named
                    .as_str()
                    .map_or_else(|| named.to_string(), str::to_owned)
                    // A name, never a secret, but it may be huge: an excerpt.
                    .chars()
                    .take(100)
                    .collect();
                found.push(FieldError {
                    path: path.index(i),
                    problem: Problem::Duplicate {
                        value,
                        first: path.index(*first),
                    },
                });
            }
            None => seen.push((key, i)),
        }
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
