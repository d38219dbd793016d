//! Every rule of `municipio_crds::validate`, through the crate's public API: each test starts
//! from `examples/modena.yaml` (which must be valid), changes one thing, and checks the exact
//! field path and rule name of what is reported, plus at least one valid neighbour.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use municipio_crds::identifiers::{FiscalCodeError, IbanError, NameError};
use municipio_crds::v1alpha1::{
    Admin, AdminKind, ComputeResources, Connector, DeletionPolicy, EnvVar, Environment,
    IbanAccount, Io, IoService, PagoPa, Resources, SecretKeyRef, Workload,
};
use municipio_crds::validate::AuxDigit;
use municipio_crds::{FieldError, MunicipalityTenant, Problem, ValidTenant, validate};

const MODENA: &str = include_str!("../../examples/modena.yaml");

// Test data: real fiscal codes (with their check digits) and IBANs.
const MODENA_FISCAL_CODE: &str = "00221940364";
const LOMBARDIA_FISCAL_CODE: &str = "80050050154";
const MILANO_FISCAL_CODE: &str = "01199250158";
const MODENA_IBAN: &str = "IT60X0542811101000000123456";
const SECOND_IBAN: &str = "IT30O0100003245000000300001";
const SHA256: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The valid base tenant: `examples/modena.yaml`.
fn modena() -> MunicipalityTenant {
    serde_yaml_ng::from_str(MODENA).expect("examples/modena.yaml is a MunicipalityTenant")
}

/// A fragment of YAML as any API type (selectors, admins...).
fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn q(text: &str) -> Quantity {
    Quantity(text.to_owned())
}

fn pagopa(t: &mut MunicipalityTenant) -> &mut PagoPa {
    t.spec
        .pagopa
        .as_mut()
        .expect("modena has a pagopa connector")
}

fn io(t: &mut MunicipalityTenant) -> &mut Io {
    t.spec.io.as_mut().expect("modena has an io connector")
}

fn portale(t: &mut MunicipalityTenant) -> &mut Workload {
    &mut t.spec.workloads[0]
}

fn resources(t: &mut MunicipalityTenant) -> &mut Resources {
    portale(t)
        .resources
        .as_mut()
        .expect("portale has resources")
}

fn io_service(name: &str, service_id: &str) -> IoService {
    IoService {
        name: name.to_owned(),
        service_id: service_id.to_owned(),
        api_key: SecretKeyRef {
            secret_name: "modena-io".to_owned(),
            key: name.to_owned(),
        },
    }
}

fn env(name: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some("x".to_owned()),
    }
}

/// `(path, rule)` of every problem, in the order reported.
fn problems_of(errors: &[FieldError]) -> Vec<(String, &'static str)> {
    errors
        .iter()
        .map(|e| (e.path.as_str().to_owned(), e.problem.rule()))
        .collect()
}

#[track_caller]
fn assert_valid(t: &MunicipalityTenant) -> ValidTenant {
    match validate(t) {
        Ok(valid) => valid,
        Err(errors) => panic!("expected a valid tenant, got {:#?}", problems_of(&errors)),
    }
}

#[track_caller]
fn errors_of(t: &MunicipalityTenant) -> Vec<FieldError> {
    match validate(t) {
        Ok(valid) => panic!("expected problems, got a valid tenant: {valid:#?}"),
        Err(errors) => errors,
    }
}

/// The tenant is refused with exactly these `(path, rule)` problems (in any order).
#[track_caller]
fn assert_problems(t: &MunicipalityTenant, expected: &[(&str, &str)]) {
    let mut actual = problems_of(&errors_of(t));
    actual.sort();
    let mut expected: Vec<(String, &str)> = expected
        .iter()
        .map(|(p, r)| ((*p).to_owned(), *r))
        .collect();
    expected.sort();
    assert_eq!(actual, expected, "problems (path, rule) differ");
}

/// The tenant is refused with exactly one problem, at `path`, breaking `rule`; returns it.
#[track_caller]
fn assert_one(t: &MunicipalityTenant, path: &str, rule: &str) -> Problem {
    let errors = errors_of(t);
    assert_eq!(
        problems_of(&errors),
        vec![(path.to_owned(), rule)],
        "{errors:#?}"
    );
    errors.into_iter().next().expect("one error").problem
}

/// An IBAN with the ISO 13616 check digits computed for `bban`, right or wrong its CIN.
fn with_iso_check_digits(country: &str, bban: &str) -> String {
    let rearranged = format!("{bban}{country}00");
    let mut rem: u32 = 0;
    for c in rearranged.chars() {
        let v = c.to_digit(36).expect("alphanumeric");
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    format!("{country}{:02}{bban}", 98 - rem)
}

// ---------------------------------------------------------------------------------------------
// The base tenant and its typed form
// ---------------------------------------------------------------------------------------------

#[test]
fn modena_example_is_valid_and_typed() {
    let valid = assert_valid(&modena());

    assert_eq!(valid.name.as_str(), "modena");
    assert_eq!(valid.namespace.as_str(), "comune-modena");
    assert_eq!(valid.environment, Environment::Uat);
    assert_eq!(valid.deletion_policy, DeletionPolicy::Retain);
    assert!(!valid.suspend);

    let m = &valid.municipality;
    assert_eq!(m.name, "Comune di Modena");
    assert_eq!(m.istat_code.as_str(), "036023");
    assert_eq!(m.cadastral_code.as_ref().map(|c| c.as_str()), Some("F257"));
    assert_eq!(
        m.fiscal_code.as_ref().map(|c| c.as_str()),
        Some(MODENA_FISCAL_CODE)
    );
    assert_eq!(m.ipa_code.as_deref(), Some("c_f257"));
    assert_eq!(m.province.as_deref(), Some("MO"));

    assert_eq!(valid.admins.len(), 1);
    assert_eq!(valid.admins[0].kind, AdminKind::Group);
    assert_eq!(valid.quota.cpu.as_ref().map(|c| c.value()), Some(8.0));
    assert_eq!(
        valid.quota.memory.as_ref().map(|c| c.value()),
        Some(16.0 * 1024.0 * 1024.0 * 1024.0)
    );
    assert_eq!(valid.quota.pods, Some(50));
    assert_eq!(valid.ingress_from.len(), 1);

    let pagopa = valid.pagopa.as_ref().expect("pagopa is enabled");
    assert_eq!(pagopa.entity_fiscal_code.as_str(), MODENA_FISCAL_CODE);
    assert_eq!(pagopa.broker_fiscal_code.as_str(), LOMBARDIA_FISCAL_CODE);
    assert_eq!(pagopa.station_id.to_string(), "80050050154_01");
    assert_eq!(pagopa.station_id.broker().as_str(), LOMBARDIA_FISCAL_CODE);
    assert_eq!(
        pagopa.aux_digit,
        AuxDigit::Three {
            segregation_code: "02".to_owned()
        }
    );
    assert_eq!(pagopa.aux_digit.digit(), 3);
    assert_eq!(pagopa.ibans.len(), 1);
    assert_eq!(pagopa.ibans[0].iban.as_str(), MODENA_IBAN);
    assert_eq!(
        pagopa.ibans[0].description.as_deref(),
        Some("Tesoreria comunale")
    );
    assert_eq!(pagopa.subscription_key.secret_name, "modena-pagopa");

    let io = valid.io.as_ref().expect("io is enabled");
    assert_eq!(io.entity_fiscal_code.as_str(), MODENA_FISCAL_CODE);
    let names: Vec<&str> = io.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["tributi", "anagrafe-cie", "elettorale", "polizia-locale"]
    );
    assert_eq!(
        io.services[0].service_id.as_str(),
        "01EYNQ0864HKYR1Q9PXPJ18W7G"
    );

    assert_eq!(valid.workloads.len(), 1);
    let w = &valid.workloads[0];
    assert_eq!(w.name.as_str(), "portale");
    assert_eq!(
        w.image.as_str(),
        "registry.regione.example/comuni/portale:2.3.1"
    );
    assert_eq!(w.replicas, Some(2));
    assert_eq!(w.port, Some(8080));
    assert_eq!(w.requests.cpu.as_ref().map(|c| c.value()), Some(0.1));
    assert_eq!(w.limits.memory.as_ref().map(|c| c.as_str()), Some("256Mi"));
    assert_eq!(w.env.len(), 1);
    assert_eq!(w.env[0].0.as_str(), "LOG_LEVEL");
    assert_eq!(w.env[0].1, "info");
    assert_eq!(
        w.connectors.iter().copied().collect::<Vec<_>>(),
        [Connector::Pagopa, Connector::Io]
    );
}

#[test]
fn a_valid_tenant_without_connectors_has_none() {
    let mut t = modena();
    pagopa(&mut t).enabled = false;
    io(&mut t).enabled = false;
    portale(&mut t).connectors.clear();
    let valid = assert_valid(&t);
    assert_eq!(valid.pagopa, None);
    assert_eq!(valid.io, None);
    assert!(valid.workloads[0].connectors.is_empty());

    // Nor when the connectors are not written at all, nor the fiscal code they would need.
    t.spec.pagopa = None;
    t.spec.io = None;
    t.spec.municipality.fiscal_code = None;
    let valid = assert_valid(&t);
    assert_eq!(
        (valid.pagopa, valid.io, valid.municipality.fiscal_code),
        (None, None, None)
    );
}

// ---------------------------------------------------------------------------------------------
// metadata.name and spec.namespace
// ---------------------------------------------------------------------------------------------

#[test]
fn default_namespace_is_comune_dash_name() {
    let mut t = modena();
    t.spec.namespace = None;
    assert_eq!(assert_valid(&t).namespace.as_str(), "comune-modena");

    t.metadata.name = Some("san-cesario-sul-panaro".to_owned());
    assert_eq!(
        assert_valid(&t).namespace.as_str(),
        "comune-san-cesario-sul-panaro"
    );
}

#[test]
fn metadata_name_must_be_a_dns_label() {
    for bad in [
        "Modena",
        "modena_2",
        "-modena",
        "modena-",
        "comune.modena",
        "mоdena", /* Cyrillic о */
    ] {
        let mut t = modena();
        t.metadata.name = Some(bad.to_owned());
        assert_one(&t, "metadata.name", "NameSyntax");
    }
    let mut t = modena();
    t.metadata.name = Some("modena-2".to_owned());
    assert_eq!(assert_valid(&t).name.as_str(), "modena-2");
}

#[test]
fn metadata_name_must_leave_room_for_the_default_namespace() {
    let mut t = modena();
    t.spec.namespace = None;

    // comune- (7) + 56 = 63, the longest namespace.
    let longest = "a".repeat(56);
    t.metadata.name = Some(longest.clone());
    assert_eq!(
        assert_valid(&t).namespace.as_str(),
        format!("comune-{longest}")
    );

    t.metadata.name = Some("a".repeat(57));
    let problem = assert_one(&t, "metadata.name", "NameTooLong");
    assert_eq!(
        problem,
        Problem::Name(NameError::TooLong { max: 56, len: 57 })
    );

    // With an explicit namespace the name only has to be a label of at most 63.
    t.spec.namespace = Some("comune-modena".to_owned());
    assert_valid(&t);
    t.metadata.name = Some("a".repeat(63));
    assert_valid(&t);
    t.metadata.name = Some("a".repeat(64));
    let problem = assert_one(&t, "metadata.name", "NameTooLong");
    assert_eq!(
        problem,
        Problem::Name(NameError::TooLong { max: 63, len: 64 })
    );
}

#[test]
fn a_bad_metadata_name_is_reported_once_when_it_also_names_the_default_namespace() {
    // The default namespace comune-<name> is derived from the name: one mistake in the name is
    // one problem, not one for the name and another for the namespace built from it.
    let mut t = modena();
    t.spec.namespace = None;
    t.metadata.name = Some("Modena".to_owned());
    assert_one(&t, "metadata.name", "NameSyntax");

    // Too long for both the name (63) and the namespace (56): one problem, not two.
    t.metadata.name = Some("a".repeat(64));
    assert_one(&t, "metadata.name", "NameTooLong");
}

#[test]
fn reserved_namespaces_are_refused() {
    for reserved in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "kube-foo",
    ] {
        let mut t = modena();
        t.spec.namespace = Some(reserved.to_owned());
        let problem = assert_one(&t, "spec.namespace", "ReservedName");
        assert!(
            matches!(problem, Problem::Name(NameError::Reserved { ref name, .. }) if name == reserved)
        );
    }
    for fine in ["kube", "kubernetes-modena", "defaults", "comune-default"] {
        let mut t = modena();
        t.spec.namespace = Some(fine.to_owned());
        assert_eq!(assert_valid(&t).namespace.as_str(), fine);
    }
}

#[test]
fn a_tenant_named_like_a_reserved_namespace_gets_an_unreserved_default() {
    // A tenant named kube-system gets comune-kube-system, which is not reserved: only an explicit
    // spec.namespace can name a namespace of the cluster.
    let mut t = modena();
    t.spec.namespace = None;
    t.metadata.name = Some("kube-system".to_owned());
    assert_eq!(assert_valid(&t).namespace.as_str(), "comune-kube-system");
}

#[test]
fn namespace_must_be_a_dns_label_without_look_alikes() {
    // "cоmune-modena" with a Cyrillic о (U+043E).
    for bad in [
        "cоmune-modena",
        "Comune-Modena",
        "comune_modena",
        "comune.modena",
        "comune-modena\n",
        "",
    ] {
        let mut t = modena();
        t.spec.namespace = Some(bad.to_owned());
        assert_one(&t, "spec.namespace", "NameSyntax");
    }
    let mut t = modena();
    t.spec.namespace = Some("a".repeat(64));
    assert_one(&t, "spec.namespace", "NameTooLong");
    t.spec.namespace = Some("a".repeat(63));
    assert_valid(&t);
}

// ---------------------------------------------------------------------------------------------
// spec.municipality
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// spec.pagopa: broker, station, aux digit
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// spec.pagopa: IBANs, subscription key, enabled/disabled
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// spec.io
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// spec.workloads
// ---------------------------------------------------------------------------------------------

#[test]
fn workload_names_must_be_unique() {
    let mut t = modena();
    let mut second = t.spec.workloads[0].clone();
    t.spec.workloads.push(second.clone());
    let problem = assert_one(&t, "spec.workloads[1].name", "Duplicate");
    assert!(
        matches!(&problem, Problem::Duplicate { value, first } if value == "portale" && first.as_str() == "spec.workloads[0].name"),
        "{problem:?}"
    );

    second.name = "backoffice".to_owned();
    t.spec.workloads[1] = second;
    let names: Vec<String> = assert_valid(&t)
        .workloads
        .iter()
        .map(|w| w.name.to_string())
        .collect();
    assert_eq!(names, ["portale", "backoffice"]);
}

#[test]
fn workload_name_is_a_dns_1035_label() {
    let mut t = modena();
    portale(&mut t).name = "1portale".to_owned();
    let problem = assert_one(&t, "spec.workloads[0].name", "NameSyntax");
    assert!(
        matches!(problem, Problem::Name(NameError::StartsWithDigit(_))),
        "{problem:?}"
    );

    for bad in ["Portale", "portale_web", "portale-", ""] {
        portale(&mut t).name = bad.to_owned();
        assert_one(&t, "spec.workloads[0].name", "NameSyntax");
    }
    portale(&mut t).name = "a".repeat(41);
    assert_one(&t, "spec.workloads[0].name", "NameTooLong");

    portale(&mut t).name = format!("p{}", "0".repeat(39));
    assert_valid(&t);
}

#[test]
fn image_must_be_pinned() {
    for unpinned in [
        "registry.regione.example/comuni/portale",
        "portale",
        "localhost:5000/portale",
    ] {
        let mut t = modena();
        portale(&mut t).image = unpinned.to_owned();
        assert_one(&t, "spec.workloads[0].image", "ImageUnpinned");
    }
}

#[test]
fn image_tagged_latest_is_unpinned_unless_a_digest_pins_it() {
    for latest in [
        "registry.regione.example/comuni/portale:latest",
        "nginx:latest",
        "localhost:5000/portale:latest",
    ] {
        let mut t = modena();
        portale(&mut t).image = latest.to_owned();
        let problem = assert_one(&t, "spec.workloads[0].image", "ImageUnpinned");
        assert!(problem.to_string().contains("latest"), "{problem}");
    }
    for good in [
        format!("registry.regione.example/comuni/portale:latest@{SHA256}"),
        "registry.regione.example/comuni/portale:latest-2024".to_owned(),
        "registry.regione.example/comuni/portale:v1-latest".to_owned(),
        "registry.regione.example/latest/portale:1.0.0".to_owned(),
        "latest:1.0.0".to_owned(),
    ] {
        let mut t = modena();
        portale(&mut t).image = good.clone();
        assert_eq!(assert_valid(&t).workloads[0].image.as_str(), good);
    }
}

#[test]
fn image_must_be_a_reference() {
    for bad in [
        "",
        "Portale:1",
        "portale:",
        "portale:1 ; rm -rf /",
        "portale:$(id)",
        "portale@sha256:abc",
        "portale:1\n",
        "/portale:1",
        "registry.example//portale:1",
        "pοrtale:1", // Greek omicron
    ] {
        let mut t = modena();
        portale(&mut t).image = bad.to_owned();
        assert_one(&t, "spec.workloads[0].image", "ImageReference");
    }
}

#[test]
fn digest_only_and_tagged_images_are_valid() {
    for good in [
        format!("registry.regione.example/comuni/portale@{SHA256}"),
        format!("ghcr.io/comuni/portale:2.3.1@{SHA256}"),
        "nginx:1.27".to_owned(),
        "localhost:5000/portale:dev".to_owned(),
    ] {
        let mut t = modena();
        portale(&mut t).image = good.clone();
        assert_eq!(assert_valid(&t).workloads[0].image.as_str(), good);
    }
}

#[test]
fn env_var_names() {
    for bad in ["1X", "A-B", "LOG LEVEL", "A=B", "Ä"] {
        let mut t = modena();
        portale(&mut t).env[0].name = bad.to_owned();
        assert_one(&t, "spec.workloads[0].env[0].name", "EnvVarName");
    }
    let mut t = modena();
    portale(&mut t).env[0].name = "X".repeat(129);
    assert_one(&t, "spec.workloads[0].env[0].name", "NameTooLong");

    for good in ["_x1", "IOX", "PAGOPAX", "MUNICIPIO", "log_level"] {
        let mut t = modena();
        portale(&mut t).env[0].name = good.to_owned();
        assert_valid(&t);
    }
}

#[test]
fn env_var_reserved_prefixes() {
    for reserved in [
        "PAGOPA_STATION_ID",
        "IO_API_KEY",
        "MUNICIPIO_TENANT",
        "io_api_key",
        "Pagopa_X",
    ] {
        let mut t = modena();
        portale(&mut t).env.push(env(reserved));
        assert_one(&t, "spec.workloads[0].env[1].name", "ReservedName");
    }
}

#[test]
fn env_var_values_have_no_nul_character() {
    // execve ends each variable at its first NUL: the container could never start.
    for bad in ["info\0debug", "\0", &format!("{}\0", "x".repeat(4095))] {
        let mut t = modena();
        portale(&mut t).env[0].value = Some(bad.to_owned());
        assert_one(&t, "spec.workloads[0].env[0].value", "Forbidden");
    }
    // Any other value is the application's business: newlines (a PEM certificate), tabs, JSON.
    for good in [
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "a\tb",
        "{\"level\": \"info\"}",
        "$(HOME)/x",
        "",
    ] {
        let mut t = modena();
        portale(&mut t).env[0].value = Some(good.to_owned());
        assert_valid(&t);
    }
}

#[test]
fn env_var_names_must_be_unique() {
    let mut t = modena();
    portale(&mut t).env.push(env("LOG_LEVEL"));
    let problem = assert_one(&t, "spec.workloads[0].env[1].name", "Duplicate");
    assert!(
        matches!(&problem, Problem::Duplicate { first, .. } if first.as_str() == "spec.workloads[0].env[0].name"),
        "{problem:?}"
    );
    portale(&mut t).env[1].name = "LOG_FORMAT".to_owned();
    assert_eq!(assert_valid(&t).workloads[0].env.len(), 2);
}

#[test]
fn connectors_of_a_workload_must_be_enabled() {
    let mut t = modena();
    io(&mut t).enabled = false;
    let problem = assert_one(&t, "spec.workloads[0].connectors[1]", "ConnectorNotEnabled");
    assert_eq!(problem, Problem::ConnectorNotEnabled("io"));

    let mut t = modena();
    pagopa(&mut t).enabled = false;
    let problem = assert_one(&t, "spec.workloads[0].connectors[0]", "ConnectorNotEnabled");
    assert_eq!(problem, Problem::ConnectorNotEnabled("pagopa"));

    // A connector that is not written at all is not enabled either.
    let mut t = modena();
    t.spec.io = None;
    assert_one(&t, "spec.workloads[0].connectors[1]", "ConnectorNotEnabled");

    let mut t = modena();
    portale(&mut t).connectors = vec![Connector::Io];
    assert_eq!(
        assert_valid(&t).workloads[0]
            .connectors
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [Connector::Io]
    );
}

#[test]
fn connectors_of_a_workload_must_be_unique() {
    let mut t = modena();
    portale(&mut t).connectors = vec![Connector::Pagopa, Connector::Io, Connector::Pagopa];
    let problem = assert_one(&t, "spec.workloads[0].connectors[2]", "Duplicate");
    assert!(
        matches!(&problem, Problem::Duplicate { value, .. } if value == "pagopa"),
        "{problem:?}"
    );
}

#[test]
fn requests_must_not_exceed_limits() {
    let mut t = modena();
    resources(&mut t).requests.as_mut().expect("requests").cpu = Some(q("1"));
    let problem = assert_one(
        &t,
        "spec.workloads[0].resources.requests.cpu",
        "RequestAboveLimit",
    );
    assert_eq!(
        problem,
        Problem::RequestAboveLimit {
            request: "1".to_owned(),
            limit: "500m".to_owned()
        }
    );

    let mut t = modena();
    resources(&mut t)
        .requests
        .as_mut()
        .expect("requests")
        .memory = Some(q("512Mi"));
    assert_one(
        &t,
        "spec.workloads[0].resources.requests.memory",
        "RequestAboveLimit",
    );

    // Compared by value, not by text: 0.25Gi is 256Mi.
    let mut t = modena();
    resources(&mut t)
        .requests
        .as_mut()
        .expect("requests")
        .memory = Some(q("0.25Gi"));
    resources(&mut t).requests.as_mut().expect("requests").cpu = Some(q("0.5"));
    assert_valid(&t);
    // 257Mi in bytes is above 256Mi.
    resources(&mut t)
        .requests
        .as_mut()
        .expect("requests")
        .memory = Some(q("269484032"));
    assert_one(
        &t,
        "spec.workloads[0].resources.requests.memory",
        "RequestAboveLimit",
    );

    // Requests without limits, limits without requests, nothing at all.
    let mut t = modena();
    resources(&mut t).limits = None;
    assert_valid(&t);
    let mut t = modena();
    resources(&mut t).requests = None;
    assert_valid(&t);
    let mut t = modena();
    portale(&mut t).resources = None;
    assert_valid(&t);
}

#[test]
fn quantities_must_parse_and_not_be_negative() {
    let mut t = modena();
    resources(&mut t).requests.as_mut().expect("requests").cpu = Some(q("-100m"));
    assert_one(&t, "spec.workloads[0].resources.requests.cpu", "Quantity");

    let mut t = modena();
    resources(&mut t).limits.as_mut().expect("limits").memory = Some(q("256 Mi"));
    assert_one(&t, "spec.workloads[0].resources.limits.memory", "Quantity");

    let mut t = modena();
    t.spec.quota.as_mut().expect("quota").memory = Some(q("-16Gi"));
    assert_one(&t, "spec.quota.memory", "Quantity");

    let mut t = modena();
    t.spec.quota.as_mut().expect("quota").cpu = Some(q("8 cores"));
    assert_one(&t, "spec.quota.cpu", "Quantity");

    // A zero request is allowed (unlike a zero quota).
    let mut t = modena();
    resources(&mut t).requests = Some(ComputeResources {
        cpu: Some(q("0")),
        memory: Some(q("0")),
    });
    assert_valid(&t);
}

#[test]
fn workload_resources_have_an_upper_bound() {
    let mut t = modena();
    resources(&mut t).limits.as_mut().expect("limits").memory = Some(q("16Pi"));
    assert_one(&t, "spec.workloads[0].resources.limits.memory", "TooLarge");

    let mut t = modena();
    resources(&mut t).limits.as_mut().expect("limits").cpu = Some(q("5000"));
    assert_one(&t, "spec.workloads[0].resources.limits.cpu", "TooLarge");
}

#[test]
fn quota_must_be_positive() {
    for zero in ["0", "0m", "0Gi", "-0"] {
        let mut t = modena();
        t.spec.quota.as_mut().expect("quota").cpu = Some(q(zero));
        assert_one(&t, "spec.quota.cpu", "NotPositive");
        let mut t = modena();
        t.spec.quota.as_mut().expect("quota").memory = Some(q(zero));
        assert_one(&t, "spec.quota.memory", "NotPositive");
    }
    for pods in [0, -1] {
        let mut t = modena();
        t.spec.quota.as_mut().expect("quota").pods = Some(pods);
        assert_one(&t, "spec.quota.pods", "NotPositive");
    }
    let mut t = modena();
    t.spec.quota.as_mut().expect("quota").pods = Some(1);
    assert_valid(&t);
    t.spec.quota = None;
    assert_eq!(assert_valid(&t).quota.pods, None);
}

#[test]
fn quota_of_zero_written_with_a_huge_exponent_is_still_zero() {
    // 0e400 is 0 (Kubernetes reads it as 0); it must not slip past the zero check as NaN.
    let mut t = modena();
    t.spec.quota.as_mut().expect("quota").cpu = Some(q("0e400"));
    assert_one(&t, "spec.quota.cpu", "NotPositive");
}

#[test]
fn quota_has_an_upper_bound() {
    let mut t = modena();
    t.spec.quota.as_mut().expect("quota").cpu = Some(q("5000"));
    let problem = assert_one(&t, "spec.quota.cpu", "TooLarge");
    assert_eq!(
        problem,
        Problem::TooLarge {
            value: "5000".to_owned(),
            max: "4096 cores"
        }
    );

    for huge in ["16Pi", "65Ti", "1E", "1e400"] {
        let mut t = modena();
        t.spec.quota.as_mut().expect("quota").memory = Some(q(huge));
        assert_one(&t, "spec.quota.memory", "TooLarge");
    }

    // The bounds themselves are allowed.
    let mut t = modena();
    t.spec.quota.as_mut().expect("quota").cpu = Some(q("4096"));
    t.spec.quota.as_mut().expect("quota").memory = Some(q("64Ti"));
    assert_valid(&t);
}

#[test]
fn replicas_between_0_and_100() {
    let mut t = modena();
    portale(&mut t).replicas = Some(-1);
    assert_one(&t, "spec.workloads[0].replicas", "Replicas");
    portale(&mut t).replicas = Some(101);
    let problem = assert_one(&t, "spec.workloads[0].replicas", "TooLarge");
    assert_eq!(
        problem,
        Problem::TooLarge {
            value: "101".to_owned(),
            max: "100"
        }
    );
    for fine in [0, 1, 100] {
        portale(&mut t).replicas = Some(fine);
        assert_eq!(assert_valid(&t).workloads[0].replicas, Some(fine));
    }
}

#[test]
fn port_between_1_and_65535() {
    for bad in [0, 65536, -1, i32::MAX] {
        let mut t = modena();
        portale(&mut t).port = Some(bad);
        assert_one(&t, "spec.workloads[0].port", "Port");
    }
    for fine in [1, 65535] {
        let mut t = modena();
        portale(&mut t).port = Some(fine);
        assert_eq!(
            assert_valid(&t).workloads[0].port.map(i32::from),
            Some(fine)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// spec.network.ingressFrom
// ---------------------------------------------------------------------------------------------

#[test]
fn ingress_from_selectors_must_not_be_open() {
    for open in [
        "{}",
        "{matchLabels: {}}",
        "{matchExpressions: []}",
        "{matchExpressions: [{key: team, operator: NotIn, values: [x]}]}",
        "{matchExpressions: [{key: team, operator: DoesNotExist}]}",
        "{matchExpressions: [{key: a, operator: NotIn, values: [x]}, {key: b, operator: DoesNotExist}]}",
        // Every namespace carries it (Kubernetes 1.21 and later).
        "{matchExpressions: [{key: kubernetes.io/metadata.name, operator: Exists}]}",
    ] {
        let mut t = modena();
        t.spec
            .network
            .as_mut()
            .expect("network")
            .ingress_from
            .push(yaml(open));
        let problem = assert_one(&t, "spec.network.ingressFrom[1]", "OpenSelector");
        assert!(matches!(problem, Problem::OpenSelector(_)), "{open}");
    }
    for closed in [
        "{matchLabels: {team: ingress}}",
        "{matchExpressions: [{key: team, operator: In, values: [ingress]}]}",
        "{matchExpressions: [{key: team, operator: Exists}]}",
        "{matchExpressions: [{key: team, operator: Exists}, {key: env, operator: NotIn, values: [dev]}]}",
        "{matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [ingress-nginx]}]}",
    ] {
        let mut t = modena();
        t.spec
            .network
            .as_mut()
            .expect("network")
            .ingress_from
            .push(yaml(closed));
        assert_eq!(assert_valid(&t).ingress_from.len(), 2, "{closed}");
    }
    // No selector at all: only the tenant's own namespace.
    let mut t = modena();
    t.spec.network = None;
    assert!(assert_valid(&t).ingress_from.is_empty());
}

#[test]
fn ingress_from_selector_operators_and_values() {
    let with_labels = |expression: &str| {
        format!("{{matchLabels: {{team: ingress}}, matchExpressions: [{expression}]}}")
    };
    let cases = [
        (
            "{key: team, operator: Equals, values: [x]}",
            "spec.network.ingressFrom[0].matchExpressions[0].operator",
            "LabelSelector",
        ),
        (
            "{key: team, operator: in, values: [x]}",
            "spec.network.ingressFrom[0].matchExpressions[0].operator",
            "LabelSelector",
        ),
        (
            "{key: team, operator: In}",
            "spec.network.ingressFrom[0].matchExpressions[0].values",
            "Required",
        ),
        (
            "{key: team, operator: NotIn, values: []}",
            "spec.network.ingressFrom[0].matchExpressions[0].values",
            "Required",
        ),
        (
            "{key: team, operator: Exists, values: [x]}",
            "spec.network.ingressFrom[0].matchExpressions[0].values",
            "Forbidden",
        ),
        (
            "{key: team, operator: DoesNotExist, values: [x]}",
            "spec.network.ingressFrom[0].matchExpressions[0].values",
            "Forbidden",
        ),
        (
            "{key: 'bad key', operator: Exists}",
            "spec.network.ingressFrom[0].matchExpressions[0].key",
            "LabelSyntax",
        ),
        (
            "{key: team, operator: In, values: ['bad value']}",
            "spec.network.ingressFrom[0].matchExpressions[0].values",
            "LabelSyntax",
        ),
    ];
    for (expression, path, rule) in cases {
        let mut t = modena();
        t.spec.network.as_mut().expect("network").ingress_from =
            vec![yaml(&with_labels(expression))];
        assert_one(&t, path, rule);
    }

    // A bad operator alone also leaves the selector open.
    let mut t = modena();
    t.spec.network.as_mut().expect("network").ingress_from = vec![yaml(
        "{matchExpressions: [{key: team, operator: Equals, values: [x]}]}",
    )];
    assert_problems(
        &t,
        &[
            (
                "spec.network.ingressFrom[0].matchExpressions[0].operator",
                "LabelSelector",
            ),
            ("spec.network.ingressFrom[0]", "OpenSelector"),
        ],
    );

    for bad_label in [
        "{matchLabels: {'bad key': x}}",
        "{matchLabels: {team: 'bad value'}}",
        "{matchLabels: {'/x': y}}",
    ] {
        let mut t = modena();
        t.spec.network.as_mut().expect("network").ingress_from = vec![yaml(bad_label)];
        assert_one(&t, "spec.network.ingressFrom[0].matchLabels", "LabelSyntax");
    }
}

// ---------------------------------------------------------------------------------------------
// spec.admins
// ---------------------------------------------------------------------------------------------

fn admin(kind: AdminKind, name: &str, namespace: Option<&str>) -> Admin {
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

// ---------------------------------------------------------------------------------------------
// Everything at once
// ---------------------------------------------------------------------------------------------

#[test]
fn every_problem_is_reported_at_once() {
    let mut t = modena();
    t.spec.namespace = Some("kube-foo".to_owned());
    t.spec.municipality.name = "Comune di\nModena".to_owned();
    t.spec.municipality.istat_code = "036000".to_owned();
    t.spec.municipality.cadastral_code = Some("Z404".to_owned());
    t.spec
        .admins
        .push(admin(AdminKind::Group, "system:authenticated", None));
    t.spec.quota.as_mut().expect("quota").pods = Some(0);
    t.spec
        .network
        .as_mut()
        .expect("network")
        .ingress_from
        .push(yaml("{}"));
    pagopa(&mut t).station_id = Some(format!("{MILANO_FISCAL_CODE}_01"));
    pagopa(&mut t).ibans[0].iban = "DE89370400440532013000".to_owned();
    io(&mut t).services[1].service_id = "01EYNQ".to_owned();
    let w = portale(&mut t);
    w.image = "registry.regione.example/comuni/portale".to_owned();
    w.replicas = Some(101);
    w.port = Some(0);
    w.env.push(env("PAGOPA_KEY"));

    assert_problems(
        &t,
        &[
            ("spec.namespace", "ReservedName"),
            ("spec.municipality.name", "Forbidden"),
            ("spec.municipality.istatCode", "IstatCode"),
            ("spec.municipality.cadastralCode", "CadastralCode"),
            ("spec.admins[1].name", "ReservedSubject"),
            ("spec.quota.pods", "NotPositive"),
            ("spec.network.ingressFrom[1]", "OpenSelector"),
            ("spec.pagopa.stationId", "StationBroker"),
            ("spec.pagopa.ibans[0].iban", "IbanNotItalian"),
            ("spec.io.services[1].serviceId", "IoServiceId"),
            ("spec.workloads[0].image", "ImageUnpinned"),
            ("spec.workloads[0].replicas", "TooLarge"),
            ("spec.workloads[0].port", "Port"),
            ("spec.workloads[0].env[1].name", "ReservedName"),
        ],
    );

    // Every error also reads well on its own: path first, then what is wrong.
    for e in errors_of(&t) {
        let text = e.to_string();
        assert!(text.starts_with(&format!("{}: ", e.path)), "{text}");
    }
}

#[test]
fn replicas_and_port_left_out_stay_unset() {
    let mut t = modena();
    portale(&mut t).replicas = None;
    portale(&mut t).port = None;
    let valid = assert_valid(&t);
    assert_eq!(
        valid.workloads[0].replicas, None,
        "an autoscaler may own replicas"
    );
    assert_eq!(valid.workloads[0].port, None, "no Service without a port");
}
