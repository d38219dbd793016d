//! spec.admins

use super::*;

pub(super) fn admin(kind: AdminKind, name: &str, namespace: Option<&str>) -> Admin {
    Admin {
        kind,
        name: name.to_owned(),
        namespace: namespace.map(str::to_owned),
    }
}

fn group(name: &str) -> Admin {
    admin(AdminKind::Group, name, None)
}

fn user(name: &str) -> Admin {
    admin(AdminKind::User, name, None)
}

fn service_account(name: &str, namespace: Option<&str>) -> Admin {
    admin(AdminKind::ServiceAccount, name, namespace)
}

/// A second admin, spec.admins[1], after modena's.
fn add_admin(t: &mut MunicipalityTenant, a: Admin) {
    t.spec.admins.push(a);
}

/// Another admin in place of modena's, spec.admins[0].
fn replace_admin(t: &mut MunicipalityTenant, a: Admin) {
    t.spec.admins[0] = a;
}

const FIRST_NAME_IS_NO_SUBJECT: Expect = &[("spec.admins[0].name", "SubjectName")];

#[test]
fn service_account_admins_need_a_namespace() {
    let [_, with_namespace, _, _] = check_values(
        add_admin,
        [
            (
                service_account("deployer", None),
                &[("spec.admins[1].namespace", "Required")],
            ),
            (service_account("deployer", Some("ci")), VALID),
            (
                service_account("deployer", Some("CI")),
                &[("spec.admins[1].namespace", "NameSyntax")],
            ),
            (
                service_account("Deployer", Some("ci")),
                &[("spec.admins[1].name", "NameSyntax")],
            ),
        ],
    );
    assert_eq!(with_namespace.into_valid().admins.len(), 2);
}

#[test]
fn system_users_and_groups_cannot_be_admins() {
    const RESERVED: Expect = &[("spec.admins[0].name", "ReservedSubject")];
    check_values(
        replace_admin,
        [
            (group("system:authenticated"), RESERVED),
            (group("system:masters"), RESERVED),
            (user("system:anonymous"), RESERVED),
            (user("system:serviceaccount:kube-system:default"), RESERVED),
            (user("mario.rossi@comune.modena.it"), VALID),
        ],
    );
}

#[test]
fn service_account_admin_names_are_dns_subdomains() {
    // Kubernetes names service accounts with DNS subdomains (dots allowed, up to 253).
    let [dotted] = check_values(
        add_admin,
        [(service_account("ci.deployer", Some("ci")), VALID)],
    );
    assert_eq!(dotted.into_valid().admins.len(), 2);
}

#[test]
fn only_service_accounts_have_a_namespace() {
    const FORBIDDEN: Expect = &[("spec.admins[0].namespace", "Forbidden")];
    check_values(
        replace_admin,
        [
            (
                admin(AdminKind::User, "mario.rossi", Some("comune-modena")),
                FORBIDDEN,
            ),
            (
                admin(AdminKind::Group, "mario.rossi", Some("comune-modena")),
                FORBIDDEN,
            ),
        ],
    );
}

#[test]
fn admin_subject_names_have_no_spaces() {
    check_values(
        replace_admin,
        ["mario rossi", "", "mario\n"].map(|bad| (user(bad), FIRST_NAME_IS_NO_SUBJECT)),
    );
}

#[test]
fn admin_subject_names_have_no_invisible_characters() {
    // Each reads like a name it is not: RBAC would bind another subject than the reviewer saw.
    let invisible = [
        "comune-modena\u{200b}-admins",                // zero-width space
        "\u{200b}system:masters",                      // and so past the system:* check
        "comune-modena\u{200d}-admins",                // zero-width joiner
        "mario.rossi@comune.modena.it\u{202e}gpj.exe", // right-to-left override
        "\u{feff}comune-modena-admins",                // byte order mark
        "comune\u{00ad}-modena-admins",                // soft hyphen
        "comune-modena-admins\u{e0041}",               // tag character
    ];
    for kind in [AdminKind::Group, AdminKind::User] {
        check_values(
            replace_admin,
            invisible.map(|bad| (admin(kind, bad, None), FIRST_NAME_IS_NO_SUBJECT)),
        );
    }
    // Letters of any script are names (an OIDC user may be an address with accents).
    check_values(
        replace_admin,
        [
            "niccolò.ferri@comune.modena.it",
            "amministratori-forlì",
            "Ämter",
        ]
        .map(|good| (user(good), VALID)),
    );
}

#[test]
fn admins_must_be_unique() {
    let [duplicate] = check_values(
        add_admin,
        [(
            group("comune-modena-admins"),
            &[("spec.admins[1].name", "Duplicate")],
        )],
    );
    let problem = duplicate.into_problem();
    assert!(
        matches!(&problem, Problem::Duplicate { first, .. } if first.as_str() == "spec.admins[0].name"),
        "{problem:?}"
    );
}

#[test]
fn admins_with_the_same_name_but_another_kind_or_namespace_are_different_subjects() {
    // In RBAC a subject is (kind, name, namespace): the group ops and the user ops are two
    // subjects, and so are the service accounts ci/deployer and cd/deployer.
    let [four] = check([Case {
        what: "ops as a group and a user, deployer in ci and in cd",
        change: |t| {
            t.spec.admins = vec![
                group("ops"),
                user("ops"),
                service_account("deployer", Some("ci")),
                service_account("deployer", Some("cd")),
            ]
        },
        expect: VALID,
    }]);
    assert_eq!(four.into_valid().admins.len(), 4);
}
