//! spec.pagopa: IBANs, subscription key, enabled/disabled

use super::*;

/// Sets the IBAN of modena's account, spec.pagopa.ibans[0].
fn iban(t: &mut MunicipalityTenant, iban: &str) {
    pagopa(t).ibans[0].iban = iban.to_owned();
}

#[test]
fn iban_iso_check_digits() {
    const ISO: Expect = &[("spec.pagopa.ibans[0].iban", "IbanIso13616")];
    let rows = [
        ("IT61X0542811101000000123456", ISO),       // mod-97 off by one
        ("IT60 X054 2811 1010 0000 0123 456", ISO), // printed format
        ("IT60X05428111010000001234567", ISO),      // one character too many
        ("", ISO),
    ];
    for ((bad, _), outcome) in rows.into_iter().zip(check_values(iban, rows)) {
        let problem = outcome.into_problem();
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

    let [outcome] = check_values(
        iban,
        [(
            wrong_cin.as_str(),
            &[("spec.pagopa.ibans[0].iban", "IbanNationalCheck")],
        )],
    );
    assert_eq!(
        outcome.into_problem(),
        Problem::Iban(IbanError::Cin {
            expected: 'X',
            found: 'Y'
        })
    );
}

#[test]
fn iban_must_be_italian() {
    let [german] = check_values(
        iban,
        [(
            "DE89370400440532013000",
            &[("spec.pagopa.ibans[0].iban", "IbanNotItalian")],
        )],
    );
    assert_eq!(
        german.into_problem(),
        Problem::Iban(IbanError::NotItalian("DE".to_owned()))
    );
}

#[test]
fn ibans_must_be_unique() {
    let [same, other] = check_values(
        |t, iban: &str| {
            pagopa(t).ibans.push(IbanAccount {
                iban: iban.to_owned(),
                description: None,
            })
        },
        [
            (MODENA_IBAN, &[("spec.pagopa.ibans[1].iban", "Duplicate")]),
            (SECOND_IBAN, VALID),
        ],
    );
    match same.into_problem() {
        Problem::Duplicate { value, first } => {
            assert_eq!(value, MODENA_IBAN);
            assert_eq!(first.as_str(), "spec.pagopa.ibans[0].iban");
        }
        other => panic!("{other:?}"),
    }

    let ibans: Vec<String> = other
        .into_valid()
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
    check_values(
        |t, description: &str| pagopa(t).ibans[0].description = Some(description.to_owned()),
        [
            (
                "Tesoreria\ncomunale",
                &[("spec.pagopa.ibans[0].description", "Forbidden")],
            ),
            ("Tesoreria comunale – conto unico", VALID),
        ],
    );
}

/// A field an enabled pagopa connector needs.
#[derive(Debug, Clone, Copy)]
enum Needed {
    Ibans,
    SubscriptionKey,
    BrokerFiscalCode,
    StationId,
    AuxDigit,
}

/// Leaves `field` out of the pagopa connector.
fn leave_out(t: &mut MunicipalityTenant, field: Needed) {
    let p = pagopa(t);
    match field {
        Needed::Ibans => p.ibans.clear(),
        Needed::SubscriptionKey => p.subscription_key = None,
        Needed::BrokerFiscalCode => p.broker_fiscal_code = None,
        Needed::StationId => p.station_id = None,
        Needed::AuxDigit => {
            p.aux_digit = None;
            p.segregation_code = None;
        }
    }
}

#[test]
fn pagopa_enabled_requires_its_fields() {
    check_values(
        leave_out,
        [
            (Needed::Ibans, &[("spec.pagopa.ibans", "Required")]),
            (
                Needed::SubscriptionKey,
                &[("spec.pagopa.subscriptionKey", "Required")],
            ),
            (
                Needed::BrokerFiscalCode,
                &[("spec.pagopa.brokerFiscalCode", "Required")],
            ),
            (Needed::StationId, &[("spec.pagopa.stationId", "Required")]),
            (Needed::AuxDigit, &[("spec.pagopa.auxDigit", "Required")]),
        ],
    );

    // The same gaps are fine while the connector is disabled.
    let gaps = [
        Needed::Ibans,
        Needed::SubscriptionKey,
        Needed::BrokerFiscalCode,
        Needed::StationId,
        Needed::AuxDigit,
    ];
    let outcomes = check_values(
        |t, field| {
            leave_out(t, field);
            without_pagopa(t);
        },
        gaps.map(|field| (field, VALID)),
    );
    for (field, outcome) in gaps.into_iter().zip(outcomes) {
        assert_eq!(outcome.into_valid().pagopa, None, "{field:?}");
    }

    check([Case {
        what: "no ibans, no subscription key",
        change: |t| {
            leave_out(t, Needed::Ibans);
            leave_out(t, Needed::SubscriptionKey);
        },
        expect: &[
            ("spec.pagopa.ibans", "Required"),
            ("spec.pagopa.subscriptionKey", "Required"),
        ],
    }]);
}

#[test]
fn a_disabled_pagopa_still_has_its_fields_checked() {
    let [disabled, ..] = check([
        Case {
            what: "pagopa disabled",
            change: without_pagopa,
            expect: VALID,
        },
        Case {
            what: "pagopa disabled, an IBAN with wrong check digits",
            change: |t| {
                without_pagopa(t);
                iban(t, "IT61X0542811101000000123456");
            },
            expect: &[("spec.pagopa.ibans[0].iban", "IbanIso13616")],
        },
        Case {
            what: "pagopa disabled, a station of another broker",
            change: |t| {
                without_pagopa(t);
                pagopa(t).station_id = Some(format!("{MILANO_FISCAL_CODE}_01"));
            },
            expect: &[("spec.pagopa.stationId", "StationBroker")],
        },
    ]);
    assert_eq!(disabled.into_valid().pagopa, None);
}

#[test]
fn subscription_key_secondary_must_differ_from_primary() {
    let [same, ..] = check([
        Case {
            what: "the secondary key named as the primary",
            change: |t| {
                let key = pagopa(t)
                    .subscription_key
                    .as_mut()
                    .expect("modena has a key");
                key.secondary_key = Some(key.primary_key.clone());
            },
            expect: &[("spec.pagopa.subscriptionKey.secondaryKey", "Duplicate")],
        },
        Case {
            what: "no secondary key",
            change: |t| {
                pagopa(t)
                    .subscription_key
                    .as_mut()
                    .expect("key")
                    .secondary_key = None
            },
            expect: VALID,
        },
    ]);
    let problem = same.into_problem();
    assert!(
        matches!(&problem, Problem::Duplicate { first, .. } if first.as_str() == "spec.pagopa.subscriptionKey.primaryKey"),
        "{problem:?}"
    );
}
