//! spec.pagopa: IBANs, subscription key, enabled/disabled

use super::*;

#[test]
fn iban_iso_check_digits() {
    for bad in [
        "IT61X0542811101000000123456",       // mod-97 off by one
        "IT60 X054 2811 1010 0000 0123 456", // printed format
        "IT60X05428111010000001234567",      // one character too many
        "",
    ] {
        let mut t = modena();
        pagopa(&mut t).ibans[0].iban = bad.to_owned();
        let problem = assert_one(&t, "spec.pagopa.ibans[0].iban", "IbanIso13616");
        assert!(
            matches!(problem, Problem::Iban(IbanError::Iso(_))),
            "{bad:?}: {problem:?}"
        );
    }
}

#[test]
fn iban_national_check_character() {
    // Y instead of X as CIN, with ISO check digits recomputed: only the CIN is wrong.
    let wrong_cin = with_iso_check_digits("IT", "Y0542811101000000123456");
    assert_ne!(wrong_cin, MODENA_IBAN);
    assert_eq!(
        with_iso_check_digits("IT", "X0542811101000000123456"),
        MODENA_IBAN,
        "helper is right"
    );

    let mut t = modena();
    pagopa(&mut t).ibans[0].iban = wrong_cin;
    let problem = assert_one(&t, "spec.pagopa.ibans[0].iban", "IbanNationalCheck");
    assert_eq!(
        problem,
        Problem::Iban(IbanError::Cin {
            expected: 'X',
            found: 'Y'
        })
    );
}

#[test]
fn iban_must_be_italian() {
    let mut t = modena();
    pagopa(&mut t).ibans[0].iban = "DE89370400440532013000".to_owned();
    let problem = assert_one(&t, "spec.pagopa.ibans[0].iban", "IbanNotItalian");
    assert_eq!(
        problem,
        Problem::Iban(IbanError::NotItalian("DE".to_owned()))
    );
}

#[test]
fn ibans_must_be_unique() {
    let mut t = modena();
    pagopa(&mut t).ibans.push(IbanAccount {
        iban: MODENA_IBAN.to_owned(),
        description: None,
    });
    let problem = assert_one(&t, "spec.pagopa.ibans[1].iban", "Duplicate");
    match problem {
        Problem::Duplicate { value, first } => {
            assert_eq!(value, MODENA_IBAN);
            assert_eq!(first.as_str(), "spec.pagopa.ibans[0].iban");
        }
        other => panic!("{other:?}"),
    }

    pagopa(&mut t).ibans[1].iban = SECOND_IBAN.to_owned();
    let valid = assert_valid(&t);
    let ibans: Vec<String> = valid
        .pagopa
        .expect("enabled")
        .ibans
        .iter()
        .map(|i| i.iban.to_string())
        .collect();
    assert_eq!(ibans, [MODENA_IBAN, SECOND_IBAN]);
}

#[test]
fn an_iban_written_in_lowercase_is_not_a_second_account() {
    // The IBAN parser normalises letters to capitals, so this is the same account as ibans[0]:
    // it must be refused (as a duplicate, or as not in electronic format), not credited twice.
    let mut t = modena();
    pagopa(&mut t).ibans.push(IbanAccount {
        iban: MODENA_IBAN.replace('X', "x"),
        description: None,
    });
    let errors = match validate(&t) {
        Ok(valid) => panic!(
            "accepted the same account twice: {:?}",
            valid.pagopa.map(|p| p
                .ibans
                .iter()
                .map(|i| i.iban.to_string())
                .collect::<Vec<_>>())
        ),
        Err(errors) => errors,
    };
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["spec.pagopa.ibans[1].iban"], "{errors:#?}");
}

#[test]
fn iban_description_is_single_line() {
    let mut t = modena();
    pagopa(&mut t).ibans[0].description = Some("Tesoreria\ncomunale".to_owned());
    assert_one(&t, "spec.pagopa.ibans[0].description", "Forbidden");
    pagopa(&mut t).ibans[0].description = Some("Tesoreria comunale – conto unico".to_owned());
    assert_valid(&t);
}

/// A change to the pagopa connector.
type PagoPaChange = fn(&mut PagoPa);

#[test]
fn pagopa_enabled_requires_its_fields() {
    let cases: [(&str, PagoPaChange); 5] = [
        ("spec.pagopa.ibans", |p| p.ibans.clear()),
        ("spec.pagopa.subscriptionKey", |p| p.subscription_key = None),
        ("spec.pagopa.brokerFiscalCode", |p| {
            p.broker_fiscal_code = None
        }),
        ("spec.pagopa.stationId", |p| p.station_id = None),
        ("spec.pagopa.auxDigit", |p| {
            p.aux_digit = None;
            p.segregation_code = None;
        }),
    ];
    for (path, change) in cases {
        let mut t = modena();
        change(pagopa(&mut t));
        assert_one(&t, path, "Required");

        // The same gap is fine while the connector is disabled.
        pagopa(&mut t).enabled = false;
        portale(&mut t).connectors = vec![Connector::Io];
        assert_eq!(assert_valid(&t).pagopa, None, "{path}");
    }

    let mut t = modena();
    let p = pagopa(&mut t);
    p.ibans.clear();
    p.subscription_key = None;
    assert_problems(
        &t,
        &[
            ("spec.pagopa.ibans", "Required"),
            ("spec.pagopa.subscriptionKey", "Required"),
        ],
    );
}

#[test]
fn a_disabled_pagopa_still_has_its_fields_checked() {
    let mut t = modena();
    pagopa(&mut t).enabled = false;
    portale(&mut t).connectors = vec![Connector::Io];
    assert_eq!(assert_valid(&t).pagopa, None);

    pagopa(&mut t).ibans[0].iban = "IT61X0542811101000000123456".to_owned();
    assert_one(&t, "spec.pagopa.ibans[0].iban", "IbanIso13616");

    let mut t = modena();
    pagopa(&mut t).enabled = false;
    portale(&mut t).connectors = vec![Connector::Io];
    pagopa(&mut t).station_id = Some(format!("{MILANO_FISCAL_CODE}_01"));
    assert_one(&t, "spec.pagopa.stationId", "StationBroker");
}

#[test]
fn subscription_key_secondary_must_differ_from_primary() {
    let mut t = modena();
    let key = pagopa(&mut t)
        .subscription_key
        .as_mut()
        .expect("modena has a key");
    key.secondary_key = Some(key.primary_key.clone());
    let problem = assert_one(&t, "spec.pagopa.subscriptionKey.secondaryKey", "Duplicate");
    assert!(
        matches!(&problem, Problem::Duplicate { first, .. } if first.as_str() == "spec.pagopa.subscriptionKey.primaryKey"),
        "{problem:?}"
    );

    pagopa(&mut t)
        .subscription_key
        .as_mut()
        .expect("key")
        .secondary_key = None;
    assert_valid(&t);
}
