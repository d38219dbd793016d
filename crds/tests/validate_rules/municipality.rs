//! spec.municipality

use super::*;

#[test]
fn municipality_name_is_required_and_single_line() {
    for bad in [
        "Comune di\nModena",
        "Comune di\tModena",
        "Comune di Modena\r",
        "Comune\u{0}",
    ] {
        let mut t = modena();
        t.spec.municipality.name = bad.to_owned();
        assert_one(&t, "spec.municipality.name", "Forbidden");
    }
    for empty in ["", "   "] {
        let mut t = modena();
        t.spec.municipality.name = empty.to_owned();
        assert_one(&t, "spec.municipality.name", "Required");
    }
    let mut t = modena();
    t.spec.municipality.name = "Comune di Forlì".to_owned();
    assert_eq!(assert_valid(&t).municipality.name, "Comune di Forlì");
}

#[test]
fn istat_code_is_six_digits_with_no_zero_part() {
    for bad in [
        "36023",
        "0360230",
        "03602A",
        "",
        "000123",
        "036000",
        "٠٣٦٠٢٣",
    ] {
        let mut t = modena();
        t.spec.municipality.istat_code = bad.to_owned();
        assert_one(&t, "spec.municipality.istatCode", "IstatCode");
    }
    let mut t = modena();
    t.spec.municipality.istat_code = "015146".to_owned();
    assert_eq!(assert_valid(&t).municipality.istat_code.as_str(), "015146");
}

#[test]
fn cadastral_code_is_a_letter_and_three_digits_not_a_foreign_country() {
    for bad in ["f257", "F25", "F2577", "1257", "FF57", "Z404", "Z100"] {
        let mut t = modena();
        t.spec.municipality.cadastral_code = Some(bad.to_owned());
        assert_one(&t, "spec.municipality.cadastralCode", "CadastralCode");
    }
    let mut t = modena();
    t.spec.municipality.cadastral_code = Some("A794".to_owned());
    assert_valid(&t);
    t.spec.municipality.cadastral_code = None;
    assert_eq!(assert_valid(&t).municipality.cadastral_code, None);
}

#[test]
fn entity_fiscal_code_check_digit() {
    let mut t = modena();
    t.spec.municipality.fiscal_code = Some("00221940365".to_owned());
    let problem = assert_one(&t, "spec.municipality.fiscalCode", "FiscalCodeCheckDigit");
    assert_eq!(
        problem,
        Problem::FiscalCode(FiscalCodeError::CheckDigit {
            expected: 4,
            found: 5
        })
    );

    // Two digits swapped.
    t.spec.municipality.fiscal_code = Some("00229140364".to_owned());
    assert_one(&t, "spec.municipality.fiscalCode", "FiscalCodeCheckDigit");

    for bad in [
        "0022194036",
        "002219403640",
        "0022194036X",
        "RSSMRA80A01F257X",
    ] {
        t.spec.municipality.fiscal_code = Some(bad.to_owned());
        assert_one(&t, "spec.municipality.fiscalCode", "FiscalCodeFormat");
    }

    t.spec.municipality.fiscal_code = Some(MILANO_FISCAL_CODE.to_owned());
    let valid = assert_valid(&t);
    assert_eq!(
        valid
            .pagopa
            .map(|p| p.entity_fiscal_code.to_string())
            .as_deref(),
        Some(MILANO_FISCAL_CODE)
    );
}

#[test]
fn fiscal_code_is_required_when_pagopa_or_io_is_enabled() {
    // Both enabled.
    let mut t = modena();
    t.spec.municipality.fiscal_code = None;
    assert_one(&t, "spec.municipality.fiscalCode", "Required");

    // Only pagopa.
    let mut t = modena();
    t.spec.municipality.fiscal_code = None;
    io(&mut t).enabled = false;
    portale(&mut t).connectors = vec![Connector::Pagopa];
    assert_one(&t, "spec.municipality.fiscalCode", "Required");

    // Only io.
    let mut t = modena();
    t.spec.municipality.fiscal_code = None;
    pagopa(&mut t).enabled = false;
    portale(&mut t).connectors = vec![Connector::Io];
    assert_one(&t, "spec.municipality.fiscalCode", "Required");

    // Neither: not needed.
    let mut t = modena();
    t.spec.municipality.fiscal_code = None;
    pagopa(&mut t).enabled = false;
    io(&mut t).enabled = false;
    portale(&mut t).connectors.clear();
    assert_valid(&t);
}

#[test]
fn ipa_code_and_province() {
    for bad in ["C_F257", "c-f257", "", "c_f257_abcdefghijklmn"] {
        let mut t = modena();
        t.spec.municipality.ipa_code = Some(bad.to_owned());
        assert_one(&t, "spec.municipality.ipaCode", "IpaCode");
    }
    for bad in ["Mo", "MOD", "M", "", "M0"] {
        let mut t = modena();
        t.spec.municipality.province = Some(bad.to_owned());
        assert_one(&t, "spec.municipality.province", "ProvinceCode");
    }
    let mut t = modena();
    t.spec.municipality.ipa_code = Some("c_a794".to_owned());
    t.spec.municipality.province = Some("BG".to_owned());
    assert_valid(&t);
    t.spec.municipality.ipa_code = None;
    t.spec.municipality.province = None;
    assert_valid(&t);
}
