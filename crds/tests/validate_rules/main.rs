//! Every rule of `municipio_crds::validate`, through the crate's public API: each test starts
//! from `examples/modena.yaml` (which must be valid), changes one thing, and checks the exact
//! field path and rule name of what is reported, plus at least one valid neighbour. One module
//! per section of the spec, as `crds/src/validate/` is split; the helpers are here.
//!
//! Most tests are tables run by [`check`] (rows of [`Case`]: a named change and the problems it
//! must cause) or by [`check_values`] (rows of values for one field, named by the value).

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use municipio_crds::identifiers::{FiscalCodeError, IbanError, NameError};
use municipio_crds::v1alpha1::{
    Admin, AdminKind, ComputeResources, Connector, DeletionPolicy, EnvVar, Environment,
    IbanAccount, Identity, IdentityContacts, Io, IoContacts, IoLinks, IoPublication, IoScope,
    IoService, ManagedIoService, PagoPa, Quota, Resources, SecretKeyRef, Workload,
};
use municipio_crds::validate::{AuxDigit, IoServiceSource};
use municipio_crds::{FieldError, MunicipalityTenant, Problem, ValidTenant, validate};
use std::fmt::Debug;

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
mod identity;
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

fn identity(t: &mut MunicipalityTenant) -> &mut Identity {
    t.spec
        .identity
        .as_mut()
        .expect("modena has an identity connector")
}

fn contacts(t: &mut MunicipalityTenant) -> &mut IdentityContacts {
    identity(t).contacts.as_mut().expect("modena has contacts")
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
        service_id: Some(service_id.to_owned()),
        api_key: Some(SecretKeyRef {
            secret_name: "modena-io".to_owned(),
            key: name.to_owned(),
        }),
        managed: None,
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

/// With the pagopa connector disabled, and the workload using only io.
fn without_pagopa(t: &mut MunicipalityTenant) {
    pagopa(t).enabled = false;
    portale(t).connectors = vec![Connector::Io];
}

/// With the io connector disabled, and the workload using only pagopa.
fn without_io(t: &mut MunicipalityTenant) {
    io(t).enabled = false;
    portale(t).connectors = vec![Connector::Pagopa];
}

fn quota(t: &mut MunicipalityTenant) -> &mut Quota {
    t.spec.quota.as_mut().expect("modena has a quota")
}

// Rule tables

/// The problems a row must cause, as `(field path, rule name)` in any order; none: still valid.
type Expect = &'static [(&'static str, &'static str)];

/// The row leaves the tenant valid.
const VALID: Expect = &[];

/// One row of a rule table: what is changed (named when the row fails), the change made to a
/// fresh modena, and the problems it must cause.
#[derive(Clone, Copy)]
struct Case {
    what: &'static str,
    change: fn(&mut MunicipalityTenant),
    expect: Expect,
}

/// Runs a table: each row's change on a fresh modena, which must then be refused with exactly the
/// row's problems, or be valid if it expects none. Returns what validation said of each row, in
/// order, for checks beyond (path, rule).
#[track_caller]
fn check<const N: usize>(cases: [Case; N]) -> [Outcome; N] {
    let mut outcomes = Vec::with_capacity(N);
    for case in cases {
        let mut t = modena();
        (case.change)(&mut t);
        outcomes.push(check_row(&format!("{:?}", case.what), &t, case.expect));
    }
    into_array(outcomes)
}

/// Runs a table of values: `set` puts each row's value in a fresh modena, then as [`check`]. A row
/// is named by its value.
#[track_caller]
fn check_values<V: Debug, const N: usize>(
    set: impl Fn(&mut MunicipalityTenant, V),
    rows: [(V, Expect); N],
) -> [Outcome; N] {
    let mut outcomes = Vec::with_capacity(N);
    for (value, expect) in rows {
        let what = format!("with value {value:?}");
        let mut t = modena();
        set(&mut t, value);
        outcomes.push(check_row(&what, &t, expect));
    }
    into_array(outcomes)
}

/// Checks one row: the tenant is refused with exactly `expect` (in any order), or valid if empty.
#[track_caller]
fn check_row(what: &str, t: &MunicipalityTenant, expect: Expect) -> Outcome {
    let result = validate(t);
    match &result {
        Ok(_) if expect.is_empty() => {}
        Ok(valid) => panic!("row {what}: expected {expect:?}, got a valid tenant: {valid:#?}"),
        Err(errors) if expect.is_empty() => panic!(
            "row {what}: expected a valid tenant, got {:#?}",
            problems_of(errors)
        ),
        Err(errors) => {
            let mut actual = problems_of(errors);
            actual.sort();
            let mut expected: Vec<(String, &str)> =
                expect.iter().map(|(p, r)| ((*p).to_owned(), *r)).collect();
            expected.sort();
            assert_eq!(
                actual, expected,
                "row {what}: problems (path, rule) differ\n{errors:#?}"
            );
        }
    }
    Outcome(result)
}

fn into_array<const N: usize>(outcomes: Vec<Outcome>) -> [Outcome; N] {
    outcomes.try_into().expect("one outcome per row")
}

/// What validation said of one row of a table (already checked against the row's problems).
#[derive(Debug)]
struct Outcome(Result<ValidTenant, Vec<FieldError>>);

impl Outcome {
    /// The typed tenant of a valid row.
    fn into_valid(self) -> ValidTenant {
        self.0.expect("a valid row")
    }

    /// The problems of a refused row, in the order reported.
    fn into_errors(self) -> Vec<FieldError> {
        match self.0 {
            Ok(valid) => panic!("expected problems, got a valid tenant: {valid:#?}"),
            Err(errors) => errors,
        }
    }

    /// The problem of a row refused for exactly one.
    fn into_problem(self) -> Problem {
        let errors = self.into_errors();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        errors.into_iter().next().expect("one error").problem
    }
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
