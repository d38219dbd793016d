//! spec.pagopa: broker, station, aux digit

use super::*;

#[test]
fn broker_fiscal_code_check_digit() {
    let mut t = modena();
    pagopa(&mut t).broker_fiscal_code = Some("80050050155".to_owned());
    assert_one(&t, "spec.pagopa.brokerFiscalCode", "FiscalCodeCheckDigit");

    pagopa(&mut t).broker_fiscal_code = Some("8005005015".to_owned());
    assert_one(&t, "spec.pagopa.brokerFiscalCode", "FiscalCodeFormat");

    // Another broker, with its own station.
    pagopa(&mut t).broker_fiscal_code = Some(MILANO_FISCAL_CODE.to_owned());
    pagopa(&mut t).station_id = Some(format!("{MILANO_FISCAL_CODE}_03"));
    let valid = assert_valid(&t);
    let p = valid.pagopa.expect("enabled");
    assert_eq!(p.broker_fiscal_code.as_str(), MILANO_FISCAL_CODE);
    assert_eq!(p.station_id.to_string(), "01199250158_03");
}

#[test]
fn station_must_belong_to_the_broker() {
    let mut t = modena();
    pagopa(&mut t).station_id = Some(format!("{MILANO_FISCAL_CODE}_01"));
    let problem = assert_one(&t, "spec.pagopa.stationId", "StationBroker");
    match problem {
        Problem::StationOfAnotherBroker { station, broker } => {
            assert_eq!(station.broker().as_str(), MILANO_FISCAL_CODE);
            assert_eq!(broker.as_str(), LOMBARDIA_FISCAL_CODE);
        }
        other => panic!("{other:?}"),
    }

    pagopa(&mut t).station_id = Some(format!("{LOMBARDIA_FISCAL_CODE}_99"));
    assert_valid(&t);
}

#[test]
fn station_id_format() {
    for bad in [
        "80050050154-01",
        "80050050154_1",
        "80050050154_001",
        "80050050154",
        "_01",
        "80050050155_01", // broker part with a wrong check digit
    ] {
        let mut t = modena();
        pagopa(&mut t).station_id = Some(bad.to_owned());
        assert_one(&t, "spec.pagopa.stationId", "StationIdFormat");
    }
}

#[test]
fn aux_digit_3_requires_a_segregation_code_of_two_digits() {
    let mut t = modena();
    pagopa(&mut t).segregation_code = None;
    assert_one(&t, "spec.pagopa.segregationCode", "Required");

    for bad in ["2", "002", "0A"] {
        pagopa(&mut t).segregation_code = Some(bad.to_owned());
        assert_one(&t, "spec.pagopa.segregationCode", "TwoDigits");
    }

    pagopa(&mut t).segregation_code = Some("47".to_owned());
    let valid = assert_valid(&t);
    assert_eq!(
        valid.pagopa.expect("enabled").aux_digit,
        AuxDigit::Three {
            segregation_code: "47".to_owned()
        }
    );
}

#[test]
fn segregation_code_is_forbidden_with_another_aux_digit() {
    for digit in [0, 1, 2] {
        let mut t = modena();
        let p = pagopa(&mut t);
        p.aux_digit = Some(digit);
        if digit == 0 {
            p.application_code = Some("01".to_owned());
        }
        // The base has segregationCode "02".
        assert_one(&t, "spec.pagopa.segregationCode", "Forbidden");
    }

    for (digit, expected) in [(1, AuxDigit::One), (2, AuxDigit::Two)] {
        let mut t = modena();
        pagopa(&mut t).aux_digit = Some(digit);
        pagopa(&mut t).segregation_code = None;
        let valid = assert_valid(&t);
        let aux = valid.pagopa.expect("enabled").aux_digit;
        assert_eq!(aux.digit(), digit);
        assert_eq!(aux, expected);
    }
}

#[test]
fn aux_digit_0_requires_an_application_code() {
    let mut t = modena();
    pagopa(&mut t).aux_digit = Some(0);
    pagopa(&mut t).segregation_code = None;
    assert_one(&t, "spec.pagopa.applicationCode", "Required");

    pagopa(&mut t).application_code = Some("1".to_owned());
    assert_one(&t, "spec.pagopa.applicationCode", "TwoDigits");

    pagopa(&mut t).application_code = Some("01".to_owned());
    let valid = assert_valid(&t);
    assert_eq!(
        valid.pagopa.expect("enabled").aux_digit,
        AuxDigit::Zero {
            application_code: "01".to_owned()
        }
    );
}

#[test]
fn application_code_is_forbidden_with_another_aux_digit() {
    let mut t = modena();
    pagopa(&mut t).application_code = Some("01".to_owned());
    assert_one(&t, "spec.pagopa.applicationCode", "Forbidden");

    pagopa(&mut t).aux_digit = Some(2);
    pagopa(&mut t).segregation_code = None;
    assert_one(&t, "spec.pagopa.applicationCode", "Forbidden");
}

#[test]
fn aux_digit_above_3_is_too_large() {
    let mut t = modena();
    pagopa(&mut t).aux_digit = Some(4);
    pagopa(&mut t).segregation_code = None;
    assert_one(&t, "spec.pagopa.auxDigit", "TooLarge");
}
