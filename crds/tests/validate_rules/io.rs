//! spec.io

use super::*;

#[test]
fn io_service_id_is_a_ulid() {
    for bad in [
        "01EYNQ",                      // too short
        "01EYNQ0864HKYR1Q9PXPJ18W7GX", // too long
        "01EYNQ0864HKYR1Q9PXPJ18W7I",  // I is not Crockford base32
        "01EYNQ0864HKYR1Q9PXPJ18W7O",  // nor O
        "01eynq0864hkyr1q9pxpj18w7g",  // lowercase
        "81EYNQ0864HKYR1Q9PXPJ18W7G",  // more than 128 bits
        "",
    ] {
        let mut t = modena();
        io(&mut t).services[1].service_id = bad.to_owned();
        assert_one(&t, "spec.io.services[1].serviceId", "IoServiceId");
    }
    let mut t = modena();
    io(&mut t).services[1].service_id = "01ARZ3NDEKTSV4RRFFQ69G5FAV".to_owned();
    assert_valid(&t);
}

#[test]
fn io_service_names_and_ids_must_be_unique() {
    let mut t = modena();
    io(&mut t)
        .services
        .push(io_service("tributi", "01ARZ3NDEKTSV4RRFFQ69G5FAV"));
    let problem = assert_one(&t, "spec.io.services[4].name", "Duplicate");
    assert!(
        matches!(&problem, Problem::Duplicate { value, first } if value == "tributi" && first.as_str() == "spec.io.services[0].name"),
        "{problem:?}"
    );

    let mut t = modena();
    io(&mut t)
        .services
        .push(io_service("mense", "01HZX0000000000000000EE001"));
    let problem = assert_one(&t, "spec.io.services[4].serviceId", "Duplicate");
    assert!(
        matches!(&problem, Problem::Duplicate { first, .. } if first.as_str() == "spec.io.services[2].serviceId"),
        "{problem:?}"
    );

    let mut t = modena();
    io(&mut t)
        .services
        .push(io_service("mense", "01ARZ3NDEKTSV4RRFFQ69G5FAV"));
    assert_eq!(assert_valid(&t).io.expect("enabled").services.len(), 5);
}

#[test]
fn io_service_name_is_a_short_dns_label() {
    let mut t = modena();
    io(&mut t).services[0].name = "a".repeat(41);
    assert_one(&t, "spec.io.services[0].name", "NameTooLong");
    for bad in ["Tributi", "tributi_locali", "-tributi", ""] {
        io(&mut t).services[0].name = bad.to_owned();
        assert_one(&t, "spec.io.services[0].name", "NameSyntax");
    }
    io(&mut t).services[0].name = "a".repeat(40);
    assert_valid(&t);
}

#[test]
fn io_api_key_must_name_a_secret_key() {
    let mut t = modena();
    io(&mut t).services[2].api_key.secret_name = "Modena_IO".to_owned();
    assert_one(&t, "spec.io.services[2].apiKey.secretName", "SecretName");

    let mut t = modena();
    io(&mut t).services[2].api_key.key = "api key".to_owned();
    assert_one(&t, "spec.io.services[2].apiKey.key", "SecretKey");

    let mut t = modena();
    io(&mut t).services[2].api_key = SecretKeyRef {
        secret_name: "modena.io-keys".to_owned(),
        key: "API_key.v2".to_owned(),
    };
    assert_valid(&t);
}

#[test]
fn pagopa_subscription_key_must_name_a_secret_key() {
    // Like the IO API keys: the Secret and its keys reach the build step unchecked otherwise.
    let mut t = modena();
    pagopa(&mut t)
        .subscription_key
        .as_mut()
        .expect("key")
        .secret_name = "Modena_PagoPA".to_owned();
    assert_one(&t, "spec.pagopa.subscriptionKey.secretName", "SecretName");

    let mut t = modena();
    pagopa(&mut t)
        .subscription_key
        .as_mut()
        .expect("key")
        .primary_key = "primary key".to_owned();
    assert_one(&t, "spec.pagopa.subscriptionKey.primaryKey", "SecretKey");
}

#[test]
fn io_enabled_requires_a_service() {
    let mut t = modena();
    io(&mut t).services.clear();
    assert_one(&t, "spec.io.services", "Required");

    io(&mut t).enabled = false;
    portale(&mut t).connectors = vec![Connector::Pagopa];
    assert_eq!(assert_valid(&t).io, None);
}

#[test]
fn a_disabled_io_still_has_its_services_checked() {
    let mut t = modena();
    io(&mut t).enabled = false;
    portale(&mut t).connectors = vec![Connector::Pagopa];
    io(&mut t).services[3].service_id = "01EYNQ".to_owned();
    assert_one(&t, "spec.io.services[3].serviceId", "IoServiceId");
}
