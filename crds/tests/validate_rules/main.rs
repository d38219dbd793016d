//! Every rule of `municipio_crds::validate`, through the crate's public API: each test starts
//! from `examples/modena.yaml` (which must be valid), changes one thing, and checks the exact
//! field path and rule name of what is reported, plus at least one valid neighbour. One module
//! per section of the spec, as `crds/src/validate/` is split; the helpers are here.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use municipio_crds::identifiers::{FiscalCodeError, IbanError, NameError};
use municipio_crds::v1alpha1::{
    Admin, AdminKind, ComputeResources, Connector, DeletionPolicy, EnvVar, Environment,
    IbanAccount, Io, IoService, PagoPa, Resources, SecretKeyRef, Workload,
};
use municipio_crds::validate::AuxDigit;
use municipio_crds::{FieldError, MunicipalityTenant, Problem, ValidTenant, validate};

const MODENA: &str = include_str!("../../../examples/modena.yaml");

// Test data: real fiscal codes (with their check digits) and IBANs.
const MODENA_FISCAL_CODE: &str = "00221940364";
const LOMBARDIA_FISCAL_CODE: &str = "80050050154";
const MILANO_FISCAL_CODE: &str = "01199250158";
const MODENA_IBAN: &str = "IT60X0542811101000000123456";
const SECOND_IBAN: &str = "IT30O0100003245000000300001";
const SHA256: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

mod admins;
mod base;
mod everything;
mod io;
mod municipality;
mod names;
mod network;
mod pagopa_ibans_and_keys;
mod pagopa_registration;
mod workloads;

// Helpers

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
