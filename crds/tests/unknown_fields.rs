//! A field the API does not know is refused at every level of the spec, naming its path and
//! the field it was probably meant to be; a tenant without one decodes as before.

use municipio_crds::{FieldError, decode};
use serde_json::{Value, json};

const MODENA: &str = include_str!("../../examples/modena.yaml");

fn modena() -> Value {
    serde_yaml_ng::from_str(MODENA).expect("examples/modena.yaml is YAML")
}

/// The object at a JSON pointer of the tenant.
fn at<'a>(tenant: &'a mut Value, pointer: &str) -> &'a mut serde_json::Map<String, Value> {
    tenant
        .pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("modena has an object at {pointer}"))
}

fn unknown(errors: &[FieldError]) -> Vec<(String, String)> {
    errors
        .iter()
        .map(|e| (e.path.to_string(), e.problem.to_string()))
        .collect()
}

#[test]
fn modena_has_no_unknown_field() {
    decode(&modena()).expect("examples/modena.yaml decodes strictly");
}

/// One typo at each level of the spec: (where, the typo, the path reported, the field meant).
#[test]
fn a_typo_at_any_level_is_reported_with_the_field_meant() {
    let cases = [
        ("", "sepc", "sepc", "spec"),
        ("/metadata", "lables", "metadata.lables", "labels"),
        (
            "/spec",
            "deletionPolcy",
            "spec.deletionPolcy",
            "deletionPolicy",
        ),
        (
            "/spec/municipality",
            "istatcode",
            "spec.municipality.istatcode",
            "istatCode",
        ),
        ("/spec/admins/0", "knd", "spec.admins[0].knd", "kind"),
        ("/spec/quota", "pod", "spec.quota.pod", "pods"),
        (
            "/spec/network",
            "ingresFrom",
            "spec.network.ingresFrom",
            "ingressFrom",
        ),
        (
            "/spec/network/ingressFrom/0",
            "matchLabel",
            "spec.network.ingressFrom[0].matchLabel",
            "matchLabels",
        ),
        (
            "/spec/pagopa",
            "stationID",
            "spec.pagopa.stationID",
            "stationId",
        ),
        (
            "/spec/pagopa/ibans/0",
            "descripton",
            "spec.pagopa.ibans[0].descripton",
            "description",
        ),
        (
            "/spec/pagopa/subscriptionKey",
            "secretname",
            "spec.pagopa.subscriptionKey.secretname",
            "secretName",
        ),
        ("/spec/io", "service", "spec.io.service", "services"),
        (
            "/spec/io/services/0",
            "serviceID",
            "spec.io.services[0].serviceID",
            "serviceId",
        ),
        (
            "/spec/io/services/0/apiKey",
            "kye",
            "spec.io.services[0].apiKey.kye",
            "key",
        ),
        (
            "/spec/workloads/0",
            "replicass",
            "spec.workloads[0].replicass",
            "replicas",
        ),
        (
            "/spec/workloads/0/resources",
            "limit",
            "spec.workloads[0].resources.limit",
            "limits",
        ),
        (
            "/spec/workloads/0/resources/requests",
            "cpus",
            "spec.workloads[0].resources.requests.cpus",
            "cpu",
        ),
        (
            "/spec/workloads/0/env/0",
            "valeu",
            "spec.workloads[0].env[0].valeu",
            "value",
        ),
    ];
    for (pointer, typo, path, meant) in cases {
        let mut tenant = modena();
        at(&mut tenant, pointer).insert(typo.to_owned(), json!("x"));
        let errors = decode(&tenant).expect_err(typo);
        assert_eq!(
            unknown(&errors),
            [(
                path.to_owned(),
                format!("unknown field: did you mean `{meant}`?")
            )],
            "{typo}"
        );
        assert_eq!(errors[0].problem.rule(), "UnknownField");
    }
}

#[test]
fn a_field_like_no_other_lists_the_known_ones() {
    let mut tenant = modena();
    at(&mut tenant, "/spec/workloads/0/resources").insert("zzz".to_owned(), json!(1));
    let errors = decode(&tenant).unwrap_err();
    assert_eq!(
        unknown(&errors),
        [(
            "spec.workloads[0].resources.zzz".to_owned(),
            "unknown field (the fields here are: limits, requests)".to_owned()
        )]
    );
}

/// Maps take any key; their values are still checked.
#[test]
fn map_keys_are_free() {
    let mut tenant = modena();
    at(&mut tenant, "/spec/network/ingressFrom/0/matchLabels")
        .insert("any.example/key".to_owned(), json!("v"));
    at(&mut tenant, "/metadata").insert("annotations".to_owned(), json!({"a/b": "c"}));
    decode(&tenant).expect("map keys are not fields");
}

/// Every unknown field is reported at once, with what the schema refuses beside them.
#[test]
fn all_problems_at_once() {
    let mut tenant = modena();
    at(&mut tenant, "/spec").insert("deletionPolcy".to_owned(), json!("Retain"));
    at(&mut tenant, "/spec/workloads/0").insert("replicass".to_owned(), json!(2));
    at(&mut tenant, "/spec/workloads/0").insert("port".to_owned(), json!("http"));
    let errors = decode(&tenant).unwrap_err();
    let found: Vec<(String, &str)> = errors
        .iter()
        .map(|e| (e.path.to_string(), e.problem.rule()))
        .collect();
    assert_eq!(
        found,
        [
            ("spec.deletionPolcy".to_owned(), "UnknownField"),
            ("spec.workloads[0].replicass".to_owned(), "UnknownField"),
            ("spec.workloads[0].port".to_owned(), "Schema"),
        ]
    );
}

/// The API server drops null members before it validates: so does `decode`.
#[test]
fn null_members_are_dropped_as_the_api_server_drops_them() {
    let mut tenant = modena();
    at(&mut tenant, "/spec/workloads/0").insert("port".to_owned(), Value::Null);
    at(&mut tenant, "/spec").insert("network".to_owned(), Value::Null);
    let decoded = decode(&tenant).expect("nulls are as if absent");
    assert_eq!(decoded.spec.workloads[0].port, None);
    assert_eq!(decoded.spec.network, None);
}

/// A stored tenant was checked by the API server against the schema of its day: a later, tighter
/// schema does not make it unreadable; unknown fields still do.
#[test]
fn a_stored_tenant_is_read_without_the_schema_check() {
    let mut tenant = modena();
    at(&mut tenant, "/spec/municipality").insert(
        "name".to_owned(),
        json!("Comune di ".to_owned() + &"x".repeat(300)),
    );
    let errors = decode(&tenant).unwrap_err();
    assert_eq!(errors[0].path.as_str(), "spec.municipality.name");
    assert_eq!(errors[0].problem.rule(), "Schema");
    municipio_crds::decode::decode_stored(&tenant).expect("as stored");
    at(&mut tenant, "/spec").insert("deletionPolcy".to_owned(), json!("Retain"));
    assert!(municipio_crds::decode::decode_stored(&tenant).is_err());
}
