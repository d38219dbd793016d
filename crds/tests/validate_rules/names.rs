//! metadata.name and spec.namespace

use super::*;

#[test]
fn default_namespace_is_comune_dash_name() {
    let mut t = modena();
    t.spec.namespace = None;
    assert_eq!(assert_valid(&t).namespace.as_str(), "comune-modena");

    t.metadata.name = Some("san-cesario-sul-panaro".to_owned());
    assert_eq!(
        assert_valid(&t).namespace.as_str(),
        "comune-san-cesario-sul-panaro"
    );
}

#[test]
fn metadata_name_must_be_a_dns_label() {
    for bad in [
        "Modena",
        "modena_2",
        "-modena",
        "modena-",
        "comune.modena",
        "mоdena", /* Cyrillic о */
    ] {
        let mut t = modena();
        t.metadata.name = Some(bad.to_owned());
        assert_one(&t, "metadata.name", "NameSyntax");
    }
    let mut t = modena();
    t.metadata.name = Some("modena-2".to_owned());
    assert_eq!(assert_valid(&t).name.as_str(), "modena-2");
}

#[test]
fn metadata_name_must_leave_room_for_the_default_namespace() {
    let mut t = modena();
    t.spec.namespace = None;

    // comune- (7) + 56 = 63, the longest namespace.
    let longest = "a".repeat(56);
    t.metadata.name = Some(longest.clone());
    assert_eq!(
        assert_valid(&t).namespace.as_str(),
        format!("comune-{longest}")
    );

    t.metadata.name = Some("a".repeat(57));
    let problem = assert_one(&t, "metadata.name", "NameTooLong");
    assert_eq!(
        problem,
        Problem::Name(NameError::TooLong { max: 56, len: 57 })
    );

    // With an explicit namespace the name only has to be a label of at most 63.
    t.spec.namespace = Some("comune-modena".to_owned());
    assert_valid(&t);
    t.metadata.name = Some("a".repeat(63));
    assert_valid(&t);
    t.metadata.name = Some("a".repeat(64));
    let problem = assert_one(&t, "metadata.name", "NameTooLong");
    assert_eq!(
        problem,
        Problem::Name(NameError::TooLong { max: 63, len: 64 })
    );
}

#[test]
fn a_bad_metadata_name_is_reported_once_when_it_also_names_the_default_namespace() {
    // The default namespace comune-<name> is derived from the name: one mistake in the name is
    // one problem, not one for the name and another for the namespace built from it.
    let mut t = modena();
    t.spec.namespace = None;
    t.metadata.name = Some("Modena".to_owned());
    assert_one(&t, "metadata.name", "NameSyntax");

    // Too long for both the name (63) and the namespace (56): one problem, not two.
    t.metadata.name = Some("a".repeat(64));
    assert_one(&t, "metadata.name", "NameTooLong");
}

#[test]
fn reserved_namespaces_are_refused() {
    for reserved in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "kube-foo",
    ] {
        let mut t = modena();
        t.spec.namespace = Some(reserved.to_owned());
        let problem = assert_one(&t, "spec.namespace", "ReservedName");
        assert!(
            matches!(problem, Problem::Name(NameError::Reserved { ref name, .. }) if name == reserved)
        );
    }
    for fine in ["kube", "kubernetes-modena", "defaults", "comune-default"] {
        let mut t = modena();
        t.spec.namespace = Some(fine.to_owned());
        assert_eq!(assert_valid(&t).namespace.as_str(), fine);
    }
}

#[test]
fn a_tenant_named_like_a_reserved_namespace_gets_an_unreserved_default() {
    // A tenant named kube-system gets comune-kube-system, which is not reserved: only an explicit
    // spec.namespace can name a namespace of the cluster.
    let mut t = modena();
    t.spec.namespace = None;
    t.metadata.name = Some("kube-system".to_owned());
    assert_eq!(assert_valid(&t).namespace.as_str(), "comune-kube-system");
}

#[test]
fn namespace_must_be_a_dns_label_without_look_alikes() {
    // "cоmune-modena" with a Cyrillic о (U+043E).
    for bad in [
        "cоmune-modena",
        "Comune-Modena",
        "comune_modena",
        "comune.modena",
        "comune-modena\n",
        "",
    ] {
        let mut t = modena();
        t.spec.namespace = Some(bad.to_owned());
        assert_one(&t, "spec.namespace", "NameSyntax");
    }
    let mut t = modena();
    t.spec.namespace = Some("a".repeat(64));
    assert_one(&t, "spec.namespace", "NameTooLong");
    t.spec.namespace = Some("a".repeat(63));
    assert_valid(&t);
}
