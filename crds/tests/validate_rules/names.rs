//! metadata.name and spec.namespace

use super::*;

#[test]
fn default_namespace_is_comune_dash_name() {
    let [modena_default, long_default] = check([
        Case {
            what: "no namespace",
            change: |t| t.spec.namespace = None,
            expect: VALID,
        },
        Case {
            what: "no namespace, a longer name",
            change: |t| {
                t.spec.namespace = None;
                t.metadata.name = Some("san-cesario-sul-panaro".to_owned());
            },
            expect: VALID,
        },
    ]);
    assert_eq!(
        modena_default.into_valid().namespace.as_str(),
        "comune-modena"
    );
    assert_eq!(
        long_default.into_valid().namespace.as_str(),
        "comune-san-cesario-sul-panaro"
    );
}

#[test]
fn metadata_name_must_be_a_dns_label() {
    const SYNTAX: Expect = &[("metadata.name", "NameSyntax")];
    let [.., good] = check_values(
        |t, name: &str| t.metadata.name = Some(name.to_owned()),
        [
            ("Modena", SYNTAX),
            ("modena_2", SYNTAX),
            ("-modena", SYNTAX),
            ("modena-", SYNTAX),
            ("comune.modena", SYNTAX),
            ("mоdena", SYNTAX), // Cyrillic о
            ("modena-2", VALID),
        ],
    );
    assert_eq!(good.into_valid().name.as_str(), "modena-2");
}

#[test]
fn metadata_name_must_leave_room_for_the_default_namespace() {
    let [longest, too_long_for_default, .., too_long] = check([
        // comune- (7) + 56 = 63, the longest namespace.
        Case {
            what: "no namespace, a name of 56",
            change: |t| {
                t.spec.namespace = None;
                t.metadata.name = Some("a".repeat(56));
            },
            expect: VALID,
        },
        Case {
            what: "no namespace, a name of 57",
            change: |t| {
                t.spec.namespace = None;
                t.metadata.name = Some("a".repeat(57));
            },
            expect: &[("metadata.name", "NameTooLong")],
        },
        // With an explicit namespace the name only has to be a label of at most 63.
        Case {
            what: "a namespace, a name of 57",
            change: |t| {
                t.spec.namespace = Some("comune-modena".to_owned());
                t.metadata.name = Some("a".repeat(57));
            },
            expect: VALID,
        },
        Case {
            what: "a namespace, a name of 63",
            change: |t| {
                t.spec.namespace = Some("comune-modena".to_owned());
                t.metadata.name = Some("a".repeat(63));
            },
            expect: VALID,
        },
        Case {
            what: "a namespace, a name of 64",
            change: |t| {
                t.spec.namespace = Some("comune-modena".to_owned());
                t.metadata.name = Some("a".repeat(64));
            },
            expect: &[("metadata.name", "NameTooLong")],
        },
    ]);
    assert_eq!(
        longest.into_valid().namespace.as_str(),
        format!("comune-{}", "a".repeat(56))
    );
    assert_eq!(
        too_long_for_default.into_problem(),
        Problem::Name(NameError::TooLong { max: 56, len: 57 })
    );
    assert_eq!(
        too_long.into_problem(),
        Problem::Name(NameError::TooLong { max: 63, len: 64 })
    );
}

#[test]
fn a_bad_metadata_name_is_reported_once_when_it_also_names_the_default_namespace() {
    // The default namespace comune-<name> is derived from the name: one mistake in the name is
    // one problem, not one for the name and another for the namespace built from it.
    check([
        Case {
            what: "no namespace, a name with a capital",
            change: |t| {
                t.spec.namespace = None;
                t.metadata.name = Some("Modena".to_owned());
            },
            expect: &[("metadata.name", "NameSyntax")],
        },
        // Too long for both the name (63) and the namespace (56): one problem, not two.
        Case {
            what: "no namespace, a name of 64",
            change: |t| {
                t.spec.namespace = None;
                t.metadata.name = Some("a".repeat(64));
            },
            expect: &[("metadata.name", "NameTooLong")],
        },
    ]);
}

/// Sets spec.namespace.
fn namespace(t: &mut MunicipalityTenant, namespace: &str) {
    t.spec.namespace = Some(namespace.to_owned());
}

#[test]
fn reserved_namespaces_are_refused() {
    const RESERVED: Expect = &[("spec.namespace", "ReservedName")];
    let reserved = [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "kube-foo",
    ];
    let outcomes = check_values(namespace, reserved.map(|name| (name, RESERVED)));
    for (reserved, outcome) in reserved.into_iter().zip(outcomes) {
        let problem = outcome.into_problem();
        assert!(
            matches!(problem, Problem::Name(NameError::Reserved { ref name, .. }) if name == reserved),
            "{reserved}: {problem:?}"
        );
    }

    let fine = ["kube", "kubernetes-modena", "defaults", "comune-default"];
    let outcomes = check_values(namespace, fine.map(|name| (name, VALID)));
    for (fine, outcome) in fine.into_iter().zip(outcomes) {
        assert_eq!(outcome.into_valid().namespace.as_str(), fine);
    }
}

#[test]
fn a_tenant_named_like_a_reserved_namespace_gets_an_unreserved_default() {
    // A tenant named kube-system gets comune-kube-system, which is not reserved: only an explicit
    // spec.namespace can name a namespace of the cluster.
    let [kube_system] = check([Case {
        what: "no namespace, named kube-system",
        change: |t| {
            t.spec.namespace = None;
            t.metadata.name = Some("kube-system".to_owned());
        },
        expect: VALID,
    }]);
    assert_eq!(
        kube_system.into_valid().namespace.as_str(),
        "comune-kube-system"
    );
}

#[test]
fn namespace_must_be_a_dns_label_without_look_alikes() {
    const SYNTAX: Expect = &[("spec.namespace", "NameSyntax")];
    check_values(
        namespace,
        [
            ("cоmune-modena", SYNTAX), // with a Cyrillic о (U+043E)
            ("Comune-Modena", SYNTAX),
            ("comune_modena", SYNTAX),
            ("comune.modena", SYNTAX),
            ("comune-modena\n", SYNTAX),
            ("", SYNTAX),
            (&"a".repeat(64), &[("spec.namespace", "NameTooLong")]),
            (&"a".repeat(63), VALID),
        ],
    );
}
