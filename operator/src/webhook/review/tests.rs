//! Admission decisions from examples and hand-made cluster views.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::labels::{ISTAT_CODE_LABEL, RETAINED_LABEL, TENANT_LABEL};

use super::*;

#[derive(Default)]
struct FakeCluster {
    tenants: Vec<TenantFacts>,
    namespaces: BTreeMap<String, ObjectMeta>,
    records: BTreeMap<String, ObjectMeta>,
    secrets: BTreeMap<String, BTreeSet<String>>,
}

impl Cluster for FakeCluster {
    fn tenants(&self) -> Vec<TenantFacts> {
        self.tenants.clone()
    }
    fn namespace(&self, name: &str) -> Option<ObjectMeta> {
        self.namespaces.get(name).cloned()
    }
    fn retention_record(&self, namespace: &str) -> Option<ObjectMeta> {
        self.records.get(namespace).cloned()
    }
    fn source_secret_bindings(&self, name: &str) -> Option<BTreeSet<String>> {
        self.secrets.get(name).cloned()
    }
    fn operator_namespace(&self) -> &str {
        "municipio-system"
    }
}

/// Modena's Secrets, bound to Modena.
fn modena_cluster() -> FakeCluster {
    let bound = BTreeSet::from(["modena".to_owned()]);
    FakeCluster {
        secrets: BTreeMap::from([
            ("modena-pagopa".to_owned(), bound.clone()),
            ("modena-io".to_owned(), bound),
        ]),
        ..FakeCluster::default()
    }
}

fn modena() -> Value {
    let tenant: Value =
        serde_yaml_ng::from_str(include_str!("../../../../examples/modena.yaml")).unwrap();
    tenant
}

fn request(operation: &str, object: Value, old: Option<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "tenancy.municipio.io", "version": "v1alpha1", "kind": "MunicipalityTenant"},
            "resource": {"group": "tenancy.municipio.io", "version": "v1alpha1", "resource": "municipalitytenants"},
            "name": object["metadata"]["name"],
            "operation": operation,
            "userInfo": {"username": "admin"},
            "object": object,
            "oldObject": old,
            "dryRun": false,
        }
    }))
    .unwrap()
}

fn answer(body: &[u8], cluster: &FakeCluster) -> AdmissionResponse {
    review(body, cluster).response.expect("a response")
}

fn with_uid(mut tenant: Value, uid: &str) -> Value {
    tenant["metadata"]["uid"] = json!(uid);
    tenant
}

#[test]
fn every_example_is_admitted_without_warnings() {
    for (name, text) in [
        ("modena", include_str!("../../../../examples/modena.yaml")),
        (
            "milano",
            include_str!("../../../../examples/lombardia/milano.yaml"),
        ),
    ] {
        let tenant: Value = serde_yaml_ng::from_str(text).unwrap();
        let bound = BTreeSet::from([name.to_owned()]);
        let secrets = [
            tenant["spec"]["pagopa"]["subscriptionKey"]["secretName"].clone(),
            tenant["spec"]["io"]["services"][0]["apiKey"]["secretName"].clone(),
        ];
        let cluster = FakeCluster {
            secrets: secrets
                .iter()
                .filter_map(|s| s.as_str())
                .map(|s| (s.to_owned(), bound.clone()))
                .collect(),
            ..FakeCluster::default()
        };
        let r = answer(&request("CREATE", tenant, None), &cluster);
        assert!(r.allowed, "{name}: {}", r.result.message);
        assert_eq!(r.warnings, None, "{name}");
        assert_eq!(r.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    }
}

#[test]
fn every_validate_error_is_returned_at_once_with_its_field() {
    let mut t = modena();
    t["spec"]["pagopa"]["ibans"][0]["iban"] = json!("IT61X0542811101000000123456");
    t["spec"]["municipality"]["fiscalCode"] = json!("00221940365");
    let r = answer(&request("CREATE", t, None), &modena_cluster());
    assert!(!r.allowed);
    assert_eq!((r.result.code, r.result.reason.as_str()), (422, "Invalid"));
    let message = &r.result.message;
    assert!(message.contains("spec.pagopa.ibans[0].iban: "), "{message}");
    assert!(
        message.contains("spec.municipality.fiscalCode: "),
        "{message}"
    );
}

#[test]
fn an_undecodable_object_is_refused_naming_the_field() {
    let mut t = modena();
    t["spec"]["workloads"][0]["replicas"] = json!("two");
    let r = answer(&request("CREATE", t, None), &modena_cluster());
    assert!(!r.allowed);
    assert!(
        r.result.message.starts_with("spec.workloads[0].replicas: "),
        "{}",
        r.result.message
    );
}

/// A misspelt field would otherwise change what the tenant means: `deletionPolcy: Retain` is a
/// Delete tenant. Refused on create and on update, naming the path and the field meant.
#[test]
fn an_unknown_field_is_refused_naming_the_field_meant() {
    let mut t = modena();
    t["spec"]["deletionPolcy"] = json!("Retain");
    t["spec"]["workloads"][0]["replicass"] = json!(2);
    let r = answer(&request("CREATE", t.clone(), None), &modena_cluster());
    assert!(!r.allowed);
    assert_eq!(
        r.result.message,
        "spec.deletionPolcy: unknown field: did you mean `deletionPolicy`?; spec.workloads[0].replicass: unknown field: did you mean `replicas`?"
    );
    let r = answer(&request("UPDATE", t, Some(modena())), &modena_cluster());
    assert!(!r.allowed, "{}", r.result.message);
}

#[test]
fn garbage_is_refused_with_a_clear_message_and_no_panic() {
    for body in [
        &b""[..],
        b"{",
        b"null",
        b"[]",
        b"{\"request\": 5}",
        b"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
        "\u{0}\u{ffff}".as_bytes(),
    ] {
        let r = answer(body, &modena_cluster());
        assert!(!r.allowed);
        assert!(
            r.result.message.contains("cannot read the AdmissionReview"),
            "{}",
            r.result.message
        );
    }
    let r = answer(
        br#"{"request": {"uid": "u-1", "operation": "CREATE"}}"#,
        &modena_cluster(),
    );
    assert_eq!(r.uid, "u-1", "the answer goes to the request it can name");
}

#[test]
fn deletion_is_never_blocked() {
    let mut t = modena();
    t["spec"]["pagopa"]["ibans"][0]["iban"] = json!("not an iban");
    let r = answer(&request("DELETE", t.clone(), Some(t)), &modena_cluster());
    assert!(r.allowed);
}

#[test]
fn one_tenant_per_municipality_and_per_namespace() {
    let mut cluster = modena_cluster();
    cluster.tenants = vec![
        TenantFacts {
            name: "modena-bis".into(),
            istat_code: "036023".into(),
            namespace: "comune-modena-bis".into(),
        },
        TenantFacts {
            name: "carpi".into(),
            istat_code: "036005".into(),
            namespace: "comune-modena".into(),
        },
    ];
    let r = answer(&request("CREATE", modena(), None), &cluster);
    assert!(!r.allowed);
    let message = &r.result.message;
    assert!(
        message.contains("spec.municipality.istatCode: ISTAT code 036023 is already the municipality of tenant modena-bis"),
        "{message}"
    );
    assert!(
        message.contains(
            "spec.namespace: namespace comune-modena is already the namespace of tenant carpi"
        ),
        "{message}"
    );
    // The tenant itself, as the cache knows it, is no duplicate of itself.
    cluster.tenants = vec![TenantFacts {
        name: "modena".into(),
        istat_code: "036023".into(),
        namespace: "comune-modena".into(),
    }];
    assert!(answer(&request("CREATE", modena(), None), &cluster).allowed);
}

/// A namespace's metadata: its labels and its owners' UIDs (each the controller).
fn namespace(labels: &[(&str, &str)], owners: &[&str]) -> ObjectMeta {
    serde_json::from_value(json!({
        "name": "comune-modena",
        "uid": "uid-comune-modena",
        "labels": labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "ownerReferences": owners.iter().map(|uid| json!({
            "apiVersion": "tenancy.municipio.io/v1alpha1", "kind": "MunicipalityTenant",
            "name": "modena", "uid": uid, "controller": true,
        })).collect::<Vec<_>>(),
    }))
    .unwrap()
}

#[test]
fn a_foreign_namespace_is_refused_but_the_tenants_own_is_not() {
    let mut cluster = modena_cluster();
    cluster
        .namespaces
        .insert("comune-modena".into(), namespace(&[], &["someone"]));
    let r = answer(&request("CREATE", modena(), None), &cluster);
    assert!(!r.allowed);
    assert!(
        r.result
            .message
            .contains("spec.namespace: namespace comune-modena already exists"),
        "{}",
        r.result.message
    );
    cluster
        .namespaces
        .insert("comune-modena".into(), namespace(&[], &["uid-modena"]));
    let old = with_uid(modena(), "uid-modena");
    let mut new = old.clone();
    new["spec"]["suspend"] = json!(true);
    assert!(answer(&request("UPDATE", new, Some(old)), &cluster).allowed);
}

/// Modena deleted with `deletionPolicy: Retain` left its namespace: Modena created again (same
/// name, same ISTAT code) takes it back; another tenant, or another municipality, may not.
#[test]
fn a_retained_namespace_is_admitted_for_the_tenant_that_left_it_only() {
    let mut cluster = modena_cluster();
    let retained = [
        (TENANT_LABEL, "modena"),
        (RETAINED_LABEL, "true"),
        (ISTAT_CODE_LABEL, "036023"),
    ];
    cluster
        .namespaces
        .insert("comune-modena".into(), namespace(&retained, &[]));
    // Without the operator's record of retaining it, labels are not enough.
    let r = answer(&request("CREATE", modena(), None), &cluster);
    assert!(!r.allowed);
    assert!(
        r.result
            .message
            .contains("the operator has no record of retaining it"),
        "{}",
        r.result.message
    );
    let record = crate::claim::RetentionRecord {
        namespace: "comune-modena",
        namespace_uid: "uid-comune-modena",
        tenant: "modena",
        istat_code: "036023",
    };
    cluster.records.insert(
        "comune-modena".into(),
        record.config_map("municipio-system").metadata,
    );
    let r = answer(&request("CREATE", modena(), None), &cluster);
    assert!(r.allowed, "{}", r.result.message);
    // Taken back by a tenant that would delete it when deleted: refused.
    let mut deleting = modena();
    deleting["spec"]["deletionPolicy"] = json!("Delete");
    let r = answer(&request("CREATE", deleting, None), &cluster);
    assert!(!r.allowed);
    assert!(
        r.result.message.contains("must retain it too"),
        "{}",
        r.result.message
    );

    let mut another = modena();
    another["metadata"]["name"] = json!("modena-bis");
    another["spec"]["namespace"] = json!("comune-modena");
    let mut bologna = modena();
    bologna["spec"]["municipality"]["istatCode"] = json!("037006");
    for (tenant, why) in [
        (
            another,
            "holds the data retained from tenant modena, which only that tenant can take back",
        ),
        (
            bologna,
            "holds the data retained from tenant modena of the municipality with ISTAT code 036023, not 037006",
        ),
    ] {
        let r = answer(&request("CREATE", tenant, None), &cluster);
        assert!(!r.allowed);
        assert!(
            r.result
                .message
                .contains(&format!("namespace comune-modena already exists and {why}")),
            "{}",
            r.result.message
        );
    }
}

#[test]
fn namespace_and_istat_code_are_immutable() {
    let old = with_uid(modena(), "uid-modena");
    let mut new = old.clone();
    new["spec"]["namespace"] = json!("comune-modena-2");
    new["spec"]["municipality"]["istatCode"] = json!("036005");
    let r = answer(&request("UPDATE", new, Some(old)), &modena_cluster());
    assert!(!r.allowed);
    let message = &r.result.message;
    assert!(
        message.contains("spec.namespace: cannot change from comune-modena to comune-modena-2"),
        "{message}"
    );
    assert!(
        message.contains("spec.municipality.istatCode: cannot change from 036023 to 036005"),
        "{message}"
    );
}

#[test]
fn production_to_uat_needs_the_annotation() {
    let mut old = with_uid(modena(), "uid-modena");
    old["spec"]["environment"] = json!("production");
    let new = with_uid(modena(), "uid-modena");
    let r = answer(
        &request("UPDATE", new.clone(), Some(old.clone())),
        &modena_cluster(),
    );
    assert!(!r.allowed);
    assert!(
        r.result.message.starts_with("spec.environment: "),
        "{}",
        r.result.message
    );
    let mut allowed = new;
    allowed["metadata"]["annotations"] = json!({ ALLOW_DOWNGRADE_ANNOTATION: "true" });
    assert!(
        answer(
            &request("UPDATE", allowed, Some(old.clone())),
            &modena_cluster()
        )
        .allowed
    );
    // uat to production is an upgrade: no annotation needed.
    let r = answer(&request("UPDATE", old, Some(modena())), &modena_cluster());
    assert!(r.allowed, "{}", r.result.message);
}

#[test]
fn a_source_secret_bound_to_another_tenant_is_refused_naming_the_field() {
    let mut cluster = modena_cluster();
    cluster
        .secrets
        .insert("modena-pagopa".into(), BTreeSet::from(["carpi".to_owned()]));
    let r = answer(&request("CREATE", modena(), None), &cluster);
    assert!(!r.allowed);
    assert!(
        r.result.message.contains(
            "spec.pagopa.subscriptionKey.secretName: Secret municipio-system/modena-pagopa is bound to carpi, not to tenant modena"
        ),
        "{}",
        r.result.message
    );
}

#[test]
fn an_unusable_source_secret_is_a_warning_naming_it_never_its_value() {
    let mut cluster = modena_cluster();
    cluster.secrets.remove("modena-io");
    // Bound to no tenant yet.
    cluster
        .secrets
        .insert("modena-pagopa".into(), BTreeSet::new());
    let r = answer(&request("CREATE", modena(), None), &cluster);
    assert!(r.allowed, "GitOps may create the Secret a moment later");
    let warnings = r.warnings.unwrap();
    assert!(
        warnings.iter().any(|w| w.starts_with(
            "spec.pagopa.subscriptionKey.secretName: Secret municipio-system/modena-pagopa is not bound to tenant modena"
        )),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.starts_with(
            "spec.io.services[0].apiKey.secretName: Secret municipio-system/modena-io does not exist"
        )),
        "{warnings:?}"
    );
}

#[test]
fn a_tenant_being_deleted_is_never_refused() {
    // Retain cleanup detached the namespace; then the finalizer goes, through an UPDATE.
    let mut cluster = modena_cluster();
    cluster
        .namespaces
        .insert("comune-modena".into(), namespace(&[], &[]));
    let mut old = with_uid(modena(), "uid-modena");
    old["metadata"]["finalizers"] = json!(["tenancy.municipio.io/cleanup"]);
    old["metadata"]["deletionTimestamp"] = json!("2026-11-23T10:00:00Z");
    let mut new = old.clone();
    new["metadata"]["finalizers"] = json!([]);
    assert!(answer(&request("UPDATE", new, Some(old)), &cluster).allowed);
}

#[test]
fn an_update_that_leaves_the_spec_alone_is_never_refused() {
    // A duplicate let in while the webhook was down, and a spec a later rule refuses.
    let mut old = with_uid(modena(), "uid-modena");
    old["spec"]["pagopa"]["ibans"][0]["iban"] = json!("IT61X0542811101000000123456");
    let mut cluster = modena_cluster();
    cluster.tenants = vec![TenantFacts {
        name: "modena-bis".into(),
        istat_code: "036023".into(),
        namespace: "comune-modena-bis".into(),
    }];
    let mut labelled = old.clone();
    labelled["metadata"]["labels"] = json!({"team": "tributi"});
    assert!(answer(&request("UPDATE", labelled, Some(old.clone())), &cluster).allowed);
    // A change of the spec is checked in full.
    let mut changed = old.clone();
    changed["spec"]["suspend"] = json!(true);
    let r = answer(&request("UPDATE", changed, Some(old)), &cluster);
    assert!(!r.allowed);
    assert!(r.result.message.contains("spec.pagopa.ibans[0].iban: "));
}

#[test]
fn immutable_fields_hold_even_when_the_old_object_does_not_decode() {
    // Stored under an older, looser schema: the old object is not a valid tenant today.
    let mut old = with_uid(modena(), "uid-modena");
    old["spec"]["quota"]["pods"] = json!(99_999_999_999_i64);
    old["spec"]["environment"] = json!("production");
    let mut new = with_uid(modena(), "uid-modena");
    new["spec"]["municipality"]["istatCode"] = json!("036005");
    let r = answer(&request("UPDATE", new, Some(old)), &modena_cluster());
    assert!(!r.allowed);
    let message = &r.result.message;
    assert!(
        message.contains("spec.municipality.istatCode: cannot change from 036023 to 036005"),
        "{message}"
    );
    assert!(message.contains("spec.environment: "), "{message}");
}

#[test]
fn an_update_without_its_old_object_is_refused() {
    let r = answer(&request("UPDATE", modena(), None), &modena_cluster());
    assert!(!r.allowed);
    assert!(r.result.message.contains("without its old object"));
}

/// A tenant stored with a field the operator does not know still holds its municipality and
/// namespace against others: its facts are read leniently from its JSON.
#[test]
fn an_undecodable_tenant_still_holds_its_municipality_and_namespace() {
    let mut stored = modena();
    stored["spec"]["deletionPolcy"] = json!("Retain");
    stored["spec"]["namespace"] = json!("comune-mo");
    let object: DynamicObject = serde_json::from_value(stored).unwrap();
    assert!(tenant_watch::decode(&object).is_err());
    let facts = TenantFacts::of_raw(&object);
    assert_eq!(
        (
            facts.name.as_str(),
            facts.istat_code.as_str(),
            facts.namespace.as_str()
        ),
        ("modena", "036023", "comune-mo")
    );
}

/// A foreground deletion of a Retain tenant is refused; any other deletion goes through.
#[test]
fn a_foreground_deletion_of_a_retain_tenant_is_refused() {
    let delete = |tenant: Value, propagation: Option<&str>| {
        let mut body: Value =
            serde_json::from_slice(&request("DELETE", Value::Null, Some(tenant))).unwrap();
        body["request"]["name"] = json!("modena");
        if let Some(p) = propagation {
            body["request"]["options"] = json!({"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1", "propagationPolicy": p});
        }
        answer(&serde_json::to_vec(&body).unwrap(), &modena_cluster())
    };
    let retain = modena();
    let r = delete(retain.clone(), Some("Foreground"));
    assert!(!r.allowed);
    assert!(
        r.result
            .message
            .starts_with("tenant modena does not say spec.deletionPolicy: Delete"),
        "{}",
        r.result.message
    );
    for propagation in [None, Some("Background"), Some("Orphan")] {
        assert!(
            delete(retain.clone(), propagation).allowed,
            "{propagation:?}"
        );
    }
    // The finalizer of an earlier foreground deletion makes a deletion without a policy one.
    let mut marked = retain.clone();
    marked["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
    assert!(!delete(marked.clone(), None).allowed);
    assert!(delete(marked, Some("Background")).allowed);
    // A misspelt policy could have meant Retain: refused too.
    let mut misspelt = modena();
    misspelt["spec"]
        .as_object_mut()
        .unwrap()
        .remove("deletionPolicy");
    misspelt["spec"]["deletionPolcy"] = json!("Retain");
    assert!(!delete(misspelt, Some("Foreground")).allowed);
    let mut deleting = modena();
    deleting["spec"]["deletionPolicy"] = json!("Delete");
    assert!(delete(deleting, Some("Foreground")).allowed);
}
