//! spec.io

use super::*;

#[test]
fn io_service_id_is_a_ulid() {
    const NOT_A_ULID: Expect = &[("spec.io.services[1].serviceId", "IoServiceId")];
    check_values(
        |t, id: &str| io(t).services[1].service_id = id.to_owned(),
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
            change: |t| io(t).services[2].api_key.secret_name = "Modena_IO".to_owned(),
            expect: &[("spec.io.services[2].apiKey.secretName", "SecretName")],
        },
        Case {
            what: "a key with a space",
            change: |t| io(t).services[2].api_key.key = "api key".to_owned(),
            expect: &[("spec.io.services[2].apiKey.key", "SecretKey")],
        },
        Case {
            what: "a secret name with a dot, a key with a dot and an underscore",
            change: |t| {
                io(t).services[2].api_key = SecretKeyRef {
                    secret_name: "modena.io-keys".to_owned(),
                    key: "API_key.v2".to_owned(),
                }
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
            io(t).services[3].service_id = "01EYNQ".to_owned();
        },
        expect: &[("spec.io.services[3].serviceId", "IoServiceId")],
    }]);
}
