//! spec.municipality

use super::*;

#[test]
fn municipality_name_is_required_and_single_line() {
    const NOT_ONE_LINE: Expect = &[("spec.municipality.name", "Forbidden")];
    const REQUIRED: Expect = &[("spec.municipality.name", "Required")];
    let [.., forli] = check_values(
        |t, name: &str| t.spec.municipality.name = name.to_owned(),
        [
            ("Comune di\nModena", NOT_ONE_LINE),
            ("Comune di\tModena", NOT_ONE_LINE),
            ("Comune di Modena\r", NOT_ONE_LINE),
            ("Comune\u{0}", NOT_ONE_LINE),
            ("", REQUIRED),
            ("   ", REQUIRED),
            ("Comune di Forlì", VALID),
        ],
    );
    assert_eq!(forli.into_valid().municipality.name, "Comune di Forlì");
}

#[test]
fn istat_code_is_six_digits_with_no_zero_part() {
    const BAD: Expect = &[("spec.municipality.istatCode", "IstatCode")];
    let [.., good] = check_values(
        |t, code: &str| t.spec.municipality.istat_code = code.to_owned(),
        [
            ("36023", BAD),
            ("0360230", BAD),
            ("03602A", BAD),
            ("", BAD),
            ("000123", BAD),
            ("036000", BAD),
            ("٠٣٦٠٢٣", BAD),
            ("015146", VALID),
        ],
    );
    assert_eq!(good.into_valid().municipality.istat_code.as_str(), "015146");
}

#[test]
fn cadastral_code_is_a_letter_and_three_digits_not_a_foreign_country() {
    const BAD: Expect = &[("spec.municipality.cadastralCode", "CadastralCode")];
    let [.., left_out] = check_values(
        |t, code: Option<&str>| t.spec.municipality.cadastral_code = code.map(str::to_owned),
        [
            (Some("f257"), BAD),
            (Some("F25"), BAD),
            (Some("F2577"), BAD),
            (Some("1257"), BAD),
            (Some("FF57"), BAD),
            (Some("Z404"), BAD),
            (Some("Z100"), BAD),
            (Some("A794"), VALID),
            (None, VALID),
        ],
    );
    assert_eq!(left_out.into_valid().municipality.cadastral_code, None);
}

#[test]
fn entity_fiscal_code_check_digit() {
    const CHECK_DIGIT: Expect = &[("spec.municipality.fiscalCode", "FiscalCodeCheckDigit")];
    const FORMAT: Expect = &[("spec.municipality.fiscalCode", "FiscalCodeFormat")];
    let [wrong_digit, .., milano] = check_values(
        |t, code: &str| t.spec.municipality.fiscal_code = Some(code.to_owned()),
        [
            ("00221940365", CHECK_DIGIT),
            ("00229140364", CHECK_DIGIT), // two digits swapped
            ("0022194036", FORMAT),
            ("002219403640", FORMAT),
            ("0022194036X", FORMAT),
            ("RSSMRA80A01F257X", FORMAT),
            (MILANO_FISCAL_CODE, VALID),
        ],
    );
    assert_eq!(
        wrong_digit.into_problem(),
        Problem::FiscalCode(FiscalCodeError::CheckDigit {
            expected: 4,
            found: 5
        })
    );
    assert_eq!(
        milano
            .into_valid()
            .pagopa
            .map(|p| p.entity_fiscal_code.to_string())
            .as_deref(),
        Some(MILANO_FISCAL_CODE)
    );
}

#[test]
fn fiscal_code_is_required_when_pagopa_or_io_is_enabled() {
    const REQUIRED: Expect = &[("spec.municipality.fiscalCode", "Required")];
    check([
        Case {
            what: "no fiscal code, pagopa and io enabled",
            change: |t| t.spec.municipality.fiscal_code = None,
            expect: REQUIRED,
        },
        Case {
            what: "no fiscal code, only pagopa enabled",
            change: |t| {
                t.spec.municipality.fiscal_code = None;
                without_io(t);
            },
            expect: REQUIRED,
        },
        Case {
            what: "no fiscal code, only io enabled",
            change: |t| {
                t.spec.municipality.fiscal_code = None;
                without_pagopa(t);
            },
            expect: REQUIRED,
        },
        // Neither: not needed.
        Case {
            what: "no fiscal code, neither pagopa nor io enabled",
            change: |t| {
                t.spec.municipality.fiscal_code = None;
                pagopa(t).enabled = false;
                io(t).enabled = false;
                portale(t).connectors.clear();
            },
            expect: VALID,
        },
    ]);
}

#[test]
fn ipa_code_and_province() {
    const BAD_IPA: Expect = &[("spec.municipality.ipaCode", "IpaCode")];
    check_values(
        |t, code: &str| t.spec.municipality.ipa_code = Some(code.to_owned()),
        // The last two would not make a label value of the gateway's objects.
        [
            "C_F257",
            "c-f257",
            "",
            "c_f257_abcdefghijklmn",
            "c_",
            "_c_f257",
        ]
        .map(|bad| (bad, BAD_IPA)),
    );
    const BAD_PROVINCE: Expect = &[("spec.municipality.province", "ProvinceCode")];
    check_values(
        |t, code: &str| t.spec.municipality.province = Some(code.to_owned()),
        ["Mo", "MOD", "M", "", "M0"].map(|bad| (bad, BAD_PROVINCE)),
    );
    check([
        Case {
            what: "another IPA code and province",
            change: |t| {
                t.spec.municipality.ipa_code = Some("c_a794".to_owned());
                t.spec.municipality.province = Some("BG".to_owned());
            },
            expect: VALID,
        },
        Case {
            what: "no IPA code nor province (without identity, which needs the IPA code)",
            change: |t| {
                t.spec.municipality.ipa_code = None;
                t.spec.municipality.province = None;
                t.spec.identity = None;
                portale(t).connectors.retain(|c| *c != Connector::Identity);
            },
            expect: VALID,
        },
    ]);
}
