//! spec.io

use super::*;

fn api_key(t: &mut MunicipalityTenant, i: usize) -> &mut SecretKeyRef {
    io(t).services[i]
        .api_key
        .as_mut()
        .expect("a referenced service")
}

#[test]
fn io_service_id_is_a_ulid() {
    const NOT_A_ULID: Expect = &[("spec.io.services[1].serviceId", "IoServiceId")];
    check_values(
        |t, id: &str| io(t).services[1].service_id = Some(id.to_owned()),
        [
            ("01EYNQ", NOT_A_ULID),                      // too short
            ("01EYNQ0864HKYR1Q9PXPJ18W7GX", NOT_A_ULID), // too long
            ("01EYNQ0864HKYR1Q9PXPJ18W7I", NOT_A_ULID),  // I is not Crockford base32
            ("01EYNQ0864HKYR1Q9PXPJ18W7O", NOT_A_ULID),  // nor O
            ("01eynq0864hkyr1q9pxpj18w7g", NOT_A_ULID),  // lowercase
            ("81EYNQ0864HKYR1Q9PXPJ18W7G", NOT_A_ULID),  // more than 128 bits
            ("", NOT_A_ULID),
            ("01ARZ3NDEKTSV4RRFFQ69G5FAV", VALID),
        ],
    );
}

#[test]
fn io_service_names_and_ids_must_be_unique() {
    let [same_name, same_id, other] = check_values(
        |t, service| io(t).services.push(service),
        [
            (
                io_service("tributi", "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
                &[("spec.io.services[4].name", "Duplicate")],
            ),
            (
                io_service("mense", "01HZX0000000000000000EE001"),
                &[("spec.io.services[4].serviceId", "Duplicate")],
            ),
            (io_service("mense", "01ARZ3NDEKTSV4RRFFQ69G5FAV"), VALID),
        ],
    );
    let problem = same_name.into_problem();
    assert!(
        matches!(&problem, Problem::Duplicate { value, first } if value == "tributi" && first.as_str() == "spec.io.services[0].name"),
        "{problem:?}"
    );
    let problem = same_id.into_problem();
    assert!(
        matches!(&problem, Problem::Duplicate { first, .. } if first.as_str() == "spec.io.services[2].serviceId"),
        "{problem:?}"
    );
    assert_eq!(other.into_valid().io.expect("enabled").services.len(), 5);
}

#[test]
fn io_service_name_is_a_short_dns_label() {
    const SYNTAX: Expect = &[("spec.io.services[0].name", "NameSyntax")];
    check_values(
        |t, name: String| io(t).services[0].name = name,
        [
            (
                "a".repeat(41),
                &[("spec.io.services[0].name", "NameTooLong")],
            ),
            ("Tributi".to_owned(), SYNTAX),
            ("tributi_locali".to_owned(), SYNTAX),
            ("-tributi".to_owned(), SYNTAX),
            (String::new(), SYNTAX),
            ("a".repeat(40), VALID),
        ],
    );
}

#[test]
fn io_api_key_must_name_a_secret_key() {
    check([
        Case {
            what: "a secret name with capitals and an underscore",
            change: |t| api_key(t, 2).secret_name = "Modena_IO".to_owned(),
            expect: &[("spec.io.services[2].apiKey.secretName", "SecretName")],
        },
        Case {
            what: "a key with a space",
            change: |t| api_key(t, 2).key = "api key".to_owned(),
            expect: &[("spec.io.services[2].apiKey.key", "SecretKey")],
        },
        Case {
            what: "a secret name with a dot, a key with a dot and an underscore",
            change: |t| {
                io(t).services[2].api_key = Some(SecretKeyRef {
                    secret_name: "modena.io-keys".to_owned(),
                    key: "API_key.v2".to_owned(),
                })
            },
            expect: VALID,
        },
    ]);
}

#[test]
fn pagopa_subscription_key_must_name_a_secret_key() {
    // Like the IO API keys: the Secret and its keys reach the build step unchecked otherwise.
    check([
        Case {
            what: "a secret name with capitals and an underscore",
            change: |t| {
                pagopa(t)
                    .subscription_key
                    .as_mut()
                    .expect("key")
                    .secret_name = "Modena_PagoPA".to_owned()
            },
            expect: &[("spec.pagopa.subscriptionKey.secretName", "SecretName")],
        },
        Case {
            what: "a primary key with a space",
            change: |t| {
                pagopa(t)
                    .subscription_key
                    .as_mut()
                    .expect("key")
                    .primary_key = "primary key".to_owned()
            },
            expect: &[("spec.pagopa.subscriptionKey.primaryKey", "SecretKey")],
        },
    ]);
}

#[test]
fn io_enabled_requires_a_service() {
    let [_, disabled] = check([
        Case {
            what: "no services",
            change: |t| io(t).services.clear(),
            expect: &[("spec.io.services", "Required")],
        },
        Case {
            what: "no services, io disabled",
            change: |t| {
                io(t).services.clear();
                without_io(t);
            },
            expect: VALID,
        },
    ]);
    assert_eq!(disabled.into_valid().io, None);
}

#[test]
fn a_disabled_io_still_has_its_services_checked() {
    check([Case {
        what: "io disabled, a bad service id",
        change: |t| {
            without_io(t);
            io(t).services[3].service_id = Some("01EYNQ".to_owned());
        },
        expect: &[("spec.io.services[3].serviceId", "IoServiceId")],
    }]);
}

/// Modena with a fifth service, managed on IO, and its manage key.
fn with_managed(t: &mut MunicipalityTenant) -> &mut ManagedIoService {
    io(t).manage_key = Some(SecretKeyRef {
        secret_name: "modena-io".to_owned(),
        key: "manage".to_owned(),
    });
    io(t).services.push(IoService {
        name: "mense".to_owned(),
        service_id: None,
        api_key: None,
        managed: Some(ManagedIoService {
            display_name: "Mense scolastiche".to_owned(),
            description: "Avvisi sui pasti e sui pagamenti delle mense.".to_owned(),
            department: Some("Servizi educativi".to_owned()),
            scope: IoScope::Local,
            topic_id: 3,
            links: Some(IoLinks {
                web_url: Some("https://www.comune.modena.it/mense".to_owned()),
                ..IoLinks::default()
            }),
            contacts: Some(IoContacts {
                email: Some("mense@comune.modena.it".to_owned()),
                pec: None,
                phone: Some("+39059203111".to_owned()),
            }),
            authorized_cidrs: vec!["192.0.2.0/24".to_owned()],
            require_secure_channel: false,
            max_allowed_payment_amount: Some(50_000),
            publication: IoPublication::Automatic,
            key_rotation: None,
        }),
    });
    io(t).services[4].managed.as_mut().expect("managed")
}

#[test]
fn a_managed_io_service_is_parsed_with_its_organization() {
    let [valid] = check([Case {
        what: "a managed service",
        change: |t| {
            with_managed(t);
        },
        expect: VALID,
    }]);
    let io = valid.into_valid().io.expect("enabled");
    assert_eq!(io.organization, "Comune di Modena");
    assert!(io.manage_key.is_some());
    let IoServiceSource::Managed(m) = &io.services[4].source else {
        panic!("managed: {:?}", io.services[4]);
    };
    assert_eq!(m.authorized_cidrs[0].to_string(), "192.0.2.0/24");
    assert_eq!(m.max_allowed_payment_amount, 50_000);
}

#[test]
fn a_managed_io_service_has_no_id_nor_key_and_needs_the_manage_key() {
    check([
        Case {
            what: "managed with a service id",
            change: |t| {
                with_managed(t);
                io(t).services[4].service_id = Some("01ARZ3NDEKTSV4RRFFQ69G5FAV".to_owned());
            },
            expect: &[("spec.io.services[4].serviceId", "Forbidden")],
        },
        Case {
            what: "managed with an API key",
            change: |t| {
                with_managed(t);
                io(t).services[4].api_key = Some(SecretKeyRef {
                    secret_name: "modena-io".to_owned(),
                    key: "mense".to_owned(),
                });
            },
            expect: &[("spec.io.services[4].apiKey", "Forbidden")],
        },
        Case {
            what: "managed without the manage key",
            change: |t| {
                with_managed(t);
                io(t).manage_key = None;
            },
            expect: &[("spec.io.manageKey", "Required")],
        },
        Case {
            what: "neither managed nor referenced",
            change: |t| {
                io(t).services[1].service_id = None;
                io(t).services[1].api_key = None;
            },
            expect: &[
                ("spec.io.services[1].serviceId", "Required"),
                ("spec.io.services[1].apiKey", "Required"),
            ],
        },
        Case {
            what: "a manage key with a space",
            change: |t| {
                with_managed(t);
                io(t).manage_key.as_mut().expect("set").key = "manage key".to_owned();
            },
            expect: &[("spec.io.manageKey.key", "SecretKey")],
        },
    ]);
}

#[test]
fn a_managed_io_service_has_fields_the_platform_takes() {
    check([
        Case {
            what: "a blank display name",
            change: |t| with_managed(t).display_name = "  ".to_owned(),
            expect: &[("spec.io.services[4].managed.displayName", "Blank")],
        },
        Case {
            what: "an http page",
            change: |t| {
                with_managed(t).links.as_mut().expect("links").privacy_url =
                    Some("http://www.comune.modena.it/privacy".to_owned())
            },
            expect: &[(
                "spec.io.services[4].managed.links.privacyUrl",
                "UrlNotHttps",
            )],
        },
        Case {
            what: "a PEC that is no address",
            change: |t| {
                with_managed(t).contacts.as_mut().expect("contacts").pec =
                    Some("protocollo".to_owned())
            },
            expect: &[("spec.io.services[4].managed.contacts.pec", "EmailAddress")],
        },
        Case {
            what: "a phone without its country",
            change: |t| {
                with_managed(t).contacts.as_mut().expect("contacts").phone =
                    Some("059203111".to_owned())
            },
            expect: &[("spec.io.services[4].managed.contacts.phone", "PhoneNumber")],
        },
        Case {
            what: "an IPv6 network, a prefix too long, a duplicate",
            change: |t| {
                with_managed(t).authorized_cidrs = vec![
                    "2001:db8::/32".to_owned(),
                    "192.0.2.0/33".to_owned(),
                    "198.51.100.7".to_owned(),
                    "198.51.100.7/32".to_owned(),
                ]
            },
            expect: &[
                ("spec.io.services[4].managed.authorizedCidrs[0]", "Ipv4Cidr"),
                ("spec.io.services[4].managed.authorizedCidrs[1]", "Ipv4Cidr"),
                (
                    "spec.io.services[4].managed.authorizedCidrs[3]",
                    "Duplicate",
                ),
            ],
        },
        Case {
            what: "a payment limit over the platform's",
            change: |t| with_managed(t).max_allowed_payment_amount = Some(10_000_000_000),
            expect: &[(
                "spec.io.services[4].managed.maxAllowedPaymentAmount",
                "PaymentAmount",
            )],
        },
        Case {
            what: "two managed services of one display name",
            change: |t| {
                let copy = with_managed(t).clone();
                io(t).services.push(IoService {
                    name: "mense-bis".to_owned(),
                    service_id: None,
                    api_key: None,
                    managed: Some(copy),
                });
            },
            expect: &[("spec.io.services[5].managed.displayName", "Duplicate")],
        },
    ]);
}
