//! spec.pagopa: broker, station, aux digit

use super::*;

fn station_id(t: &mut MunicipalityTenant, id: String) {
    pagopa(t).station_id = Some(id);
}

#[test]
fn broker_fiscal_code_check_digit() {
    let [.., milano] = check([
        Case {
            what: "a broker with a wrong check digit",
            change: |t| pagopa(t).broker_fiscal_code = Some("80050050155".to_owned()),
            expect: &[("spec.pagopa.brokerFiscalCode", "FiscalCodeCheckDigit")],
        },
        Case {
            what: "a broker of ten digits",
            change: |t| pagopa(t).broker_fiscal_code = Some("8005005015".to_owned()),
            expect: &[("spec.pagopa.brokerFiscalCode", "FiscalCodeFormat")],
        },
        // Another broker, with its own station.
        Case {
            what: "another broker, with its own station",
            change: |t| {
                pagopa(t).broker_fiscal_code = Some(MILANO_FISCAL_CODE.to_owned());
                station_id(t, format!("{MILANO_FISCAL_CODE}_03"));
            },
            expect: VALID,
        },
    ]);
    let p = milano.into_valid().pagopa.expect("enabled");
    assert_eq!(p.broker_fiscal_code.as_str(), MILANO_FISCAL_CODE);
    assert_eq!(p.station_id.to_string(), "01199250158_03");
}

#[test]
fn station_must_belong_to_the_broker() {
    let [milano, _] = check_values(
        station_id,
        [
            (
                format!("{MILANO_FISCAL_CODE}_01"),
                &[("spec.pagopa.stationId", "StationBroker")],
            ),
            (format!("{LOMBARDIA_FISCAL_CODE}_99"), VALID),
        ],
    );
    match milano.into_problem() {
        Problem::StationOfAnotherBroker { station, broker } => {
            assert_eq!(station.broker().as_str(), MILANO_FISCAL_CODE);
            assert_eq!(broker.as_str(), LOMBARDIA_FISCAL_CODE);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn station_id_format() {
    const FORMAT: Expect = &[("spec.pagopa.stationId", "StationIdFormat")];
    check_values(
        |t, id: &str| station_id(t, id.to_owned()),
        [
            ("80050050154-01", FORMAT),
            ("80050050154_1", FORMAT),
            ("80050050154_001", FORMAT),
            ("80050050154", FORMAT),
            ("_01", FORMAT),
            ("80050050155_01", FORMAT), // broker part with a wrong check digit
        ],
    );
}

#[test]
fn aux_digit_3_requires_a_segregation_code_of_two_digits() {
    const TWO_DIGITS: Expect = &[("spec.pagopa.segregationCode", "TwoDigits")];
    let [.., good] = check_values(
        |t, code: Option<&str>| pagopa(t).segregation_code = code.map(str::to_owned),
        [
            (None, &[("spec.pagopa.segregationCode", "Required")]),
            (Some("2"), TWO_DIGITS),
            (Some("002"), TWO_DIGITS),
            (Some("0A"), TWO_DIGITS),
            (Some("47"), VALID),
        ],
    );
    assert_eq!(
        good.into_valid().pagopa.expect("enabled").aux_digit,
        AuxDigit::Three {
            segregation_code: "47".to_owned()
        }
    );
}

#[test]
fn segregation_code_is_forbidden_with_another_aux_digit() {
    // The base has segregationCode "02".
    const FORBIDDEN: Expect = &[("spec.pagopa.segregationCode", "Forbidden")];
    check_values(
        |t, digit: u8| {
            let p = pagopa(t);
            p.aux_digit = Some(digit);
            if digit == 0 {
                p.application_code = Some("01".to_owned());
            }
        },
        [(0, FORBIDDEN), (1, FORBIDDEN), (2, FORBIDDEN)],
    );

    let outcomes = check_values(
        |t, digit| {
            pagopa(t).aux_digit = Some(digit);
            pagopa(t).segregation_code = None;
        },
        [(1, VALID), (2, VALID)],
    );
    for ((digit, expected), outcome) in [(1, AuxDigit::One), (2, AuxDigit::Two)]
        .into_iter()
        .zip(outcomes)
    {
        let aux = outcome.into_valid().pagopa.expect("enabled").aux_digit;
        assert_eq!(aux.digit(), digit);
        assert_eq!(aux, expected);
    }
}

#[test]
fn aux_digit_0_requires_an_application_code() {
    let [.., good] = check_values(
        |t, code: Option<&str>| {
            let p = pagopa(t);
            p.aux_digit = Some(0);
            p.segregation_code = None;
            p.application_code = code.map(str::to_owned);
        },
        [
            (None, &[("spec.pagopa.applicationCode", "Required")]),
            (Some("1"), &[("spec.pagopa.applicationCode", "TwoDigits")]),
            (Some("01"), VALID),
        ],
    );
    assert_eq!(
        good.into_valid().pagopa.expect("enabled").aux_digit,
        AuxDigit::Zero {
            application_code: "01".to_owned()
        }
    );
}

#[test]
fn application_code_is_forbidden_with_another_aux_digit() {
    const FORBIDDEN: Expect = &[("spec.pagopa.applicationCode", "Forbidden")];
    check([
        Case {
            what: "an application code with aux digit 3",
            change: |t| pagopa(t).application_code = Some("01".to_owned()),
            expect: FORBIDDEN,
        },
        Case {
            what: "an application code with aux digit 2",
            change: |t| {
                let p = pagopa(t);
                p.application_code = Some("01".to_owned());
                p.aux_digit = Some(2);
                p.segregation_code = None;
            },
            expect: FORBIDDEN,
        },
    ]);
}

#[test]
fn aux_digit_above_3_is_too_large() {
    check([Case {
        what: "aux digit 4",
        change: |t| {
            pagopa(t).aux_digit = Some(4);
            pagopa(t).segregation_code = None;
        },
        expect: &[("spec.pagopa.auxDigit", "TooLarge")],
    }]);
}
