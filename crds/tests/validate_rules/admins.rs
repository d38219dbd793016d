//! spec.admins

use super::*;

pub(super) fn admin(kind: AdminKind, name: &str, namespace: Option<&str>) -> Admin {
    Admin {
        kind,
        name: name.to_owned(),
        namespace: namespace.map(str::to_owned),
    }
}

#[test]
fn service_account_admins_need_a_namespace() {
    let mut t = modena();
    t.spec
        .admins
        .push(admin(AdminKind::ServiceAccount, "deployer", None));
    assert_one(&t, "spec.admins[1].namespace", "Required");

    t.spec.admins[1].namespace = Some("ci".to_owned());
    assert_eq!(assert_valid(&t).admins.len(), 2);

    t.spec.admins[1].namespace = Some("CI".to_owned());
    assert_one(&t, "spec.admins[1].namespace", "NameSyntax");

    t.spec.admins[1].namespace = Some("ci".to_owned());
    t.spec.admins[1].name = "Deployer".to_owned();
    assert_one(&t, "spec.admins[1].name", "NameSyntax");
}

#[test]
fn system_users_and_groups_cannot_be_admins() {
    for (kind, name) in [
        (AdminKind::Group, "system:authenticated"),
        (AdminKind::Group, "system:masters"),
        (AdminKind::User, "system:anonymous"),
        (AdminKind::User, "system:serviceaccount:kube-system:default"),
    ] {
        let mut t = modena();
        t.spec.admins[0] = admin(kind, name, None);
        assert_one(&t, "spec.admins[0].name", "ReservedSubject");
    }
    let mut t = modena();
    t.spec.admins[0] = admin(AdminKind::User, "mario.rossi@comune.modena.it", None);
    assert_valid(&t);
}

#[test]
fn service_account_admin_names_are_dns_subdomains() {
    // Kubernetes names service accounts with DNS subdomains (dots allowed, up to 253).
    let mut t = modena();
    t.spec
        .admins
        .push(admin(AdminKind::ServiceAccount, "ci.deployer", Some("ci")));
    assert_eq!(assert_valid(&t).admins.len(), 2);
}

#[test]
fn only_service_accounts_have_a_namespace() {
    for kind in [AdminKind::User, AdminKind::Group] {
        let mut t = modena();
        t.spec.admins[0] = admin(kind, "mario.rossi", Some("comune-modena"));
        assert_one(&t, "spec.admins[0].namespace", "Forbidden");
    }
}

#[test]
fn admin_subject_names_have_no_spaces() {
    for bad in ["mario rossi", "", "mario\n"] {
        let mut t = modena();
        t.spec.admins[0] = admin(AdminKind::User, bad, None);
        assert_one(&t, "spec.admins[0].name", "SubjectName");
    }
}

#[test]
fn admin_subject_names_have_no_invisible_characters() {
    // Each reads like a name it is not: RBAC would bind another subject than the reviewer saw.
    for bad in [
        "comune-modena\u{200b}-admins",                // zero-width space
        "\u{200b}system:masters",                      // and so past the system:* check
        "comune-modena\u{200d}-admins",                // zero-width joiner
        "mario.rossi@comune.modena.it\u{202e}gpj.exe", // right-to-left override
        "\u{feff}comune-modena-admins",                // byte order mark
        "comune\u{00ad}-modena-admins",                // soft hyphen
        "comune-modena-admins\u{e0041}",               // tag character
    ] {
        for kind in [AdminKind::Group, AdminKind::User] {
            let mut t = modena();
            t.spec.admins[0] = admin(kind, bad, None);
            assert_one(&t, "spec.admins[0].name", "SubjectName");
        }
    }
    // Letters of any script are names (an OIDC user may be an address with accents).
    for good in [
        "niccolò.ferri@comune.modena.it",
        "amministratori-forlì",
        "Ämter",
    ] {
        let mut t = modena();
        t.spec.admins[0] = admin(AdminKind::User, good, None);
        assert_valid(&t);
    }
}

#[test]
fn admins_must_be_unique() {
    let mut t = modena();
    t.spec
        .admins
        .push(admin(AdminKind::Group, "comune-modena-admins", None));
    let problem = assert_one(&t, "spec.admins[1].name", "Duplicate");
    assert!(
        matches!(&problem, Problem::Duplicate { first, .. } if first.as_str() == "spec.admins[0].name"),
        "{problem:?}"
    );
}

#[test]
fn admins_with_the_same_name_but_another_kind_or_namespace_are_different_subjects() {
    // In RBAC a subject is (kind, name, namespace): the group ops and the user ops are two
    // subjects, and so are the service accounts ci/deployer and cd/deployer.
    let mut t = modena();
    t.spec.admins = vec![
        admin(AdminKind::Group, "ops", None),
        admin(AdminKind::User, "ops", None),
        admin(AdminKind::ServiceAccount, "deployer", Some("ci")),
        admin(AdminKind::ServiceAccount, "deployer", Some("cd")),
    ];
    assert_eq!(assert_valid(&t).admins.len(), 4);
}
