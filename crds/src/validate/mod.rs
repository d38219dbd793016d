//! The rules an OpenAPI schema cannot express, in one place: `municipio validate`, the admission
//! webhook and the controller all call [`validate`].
//!
//! It parses a [`MunicipalityTenant`] into a [`ValidTenant`] whose fields are typed identifiers,
//! so the steps after it (build, apply, status) cannot see an unchecked value. Every problem is
//! reported at once, each with the field path and the rule it breaks.

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;

use crate::identifiers::{
    CadastralCode, CadastralCodeError, DnsLabel, EmailAddress, EmailError, EntityFiscalCode,
    EnvVarName, FiscalCodeError, HttpsUrl, IbanError, ImageError, ImageRef, IoServiceId,
    IoServiceIdError, IstatCode, IstatCodeError, ItalianIban, NameError, NamespaceName, Quantity,
    QuantityError, StationId, StationIdError, UrlError, check_dns_subdomain, check_label_key,
    check_label_value,
};
use crate::v1alpha1::{
    Admin, AdminKind, ComputeResources, Connector, DeletionPolicy, Environment, IdentityContacts,
    IoPublication, IoScope, LoginMethod, MunicipalityTenant, SecretKeyRef, SpidAttribute,
    SpidLevel, SubscriptionKeyRef,
};

mod admins;
mod identity;
mod io;
mod municipality;
mod network;
mod pagopa;
mod problem;
mod quota;
mod secret_ref;
mod valid;
mod warnings;
mod workloads;

use admins::*;
pub use identity::method_name;
use identity::*;
use io::*;
use municipality::*;
use network::*;
use pagopa::*;
pub use problem::{FieldError, FieldPath, Problem};
use quota::*;
use secret_ref::*;
pub use valid::*;
pub use warnings::{FieldWarning, warnings};
use workloads::*;

/// Collects problems while parsing, so one pass reports all of them.
#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<FieldError>);

impl Problems {
    fn push(&mut self, path: FieldPath, problem: impl Into<Problem>) {
        self.0.push(FieldError {
            path,
            problem: problem.into(),
        });
    }

    /// Parses `value` at `path`, recording the error; `None` when it did not parse.
    fn parse<T, E>(
        &mut self,
        path: FieldPath,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T>
    where
        E: Into<Problem>,
    {
        parse(value).map_err(|e| self.push(path, e)).ok()
    }

    fn parse_opt<T: std::str::FromStr>(&mut self, path: FieldPath, value: Option<&str>) -> Option<T>
    where
        T::Err: Into<Problem>,
    {
        value.and_then(|v| self.parse(path, v, str::parse))
    }

    /// Reports every value after the first one seen.
    fn unique<S: AsRef<str>>(&mut self, items: impl IntoIterator<Item = (FieldPath, S)>) {
        let mut seen: Vec<(S, FieldPath)> = Vec::new();
        for (path, value) in items {
            match seen.iter().find(|(v, _)| v.as_ref() == value.as_ref()) {
                Some((_, first)) => self.push(
                    path,
                    Problem::Duplicate {
                        value: value.as_ref().to_owned(),
                        first: first.clone(),
                    },
                ),
                None => seen.push((value, path)),
            }
        }
    }
}

/// Checks a tenant and returns its validated form, or every problem found.
pub fn validate(tenant: &MunicipalityTenant) -> Result<ValidTenant, Vec<FieldError>> {
    let mut p = Problems::default();
    let spec = &tenant.spec;
    let root = FieldPath::new("spec");

    let name = p.parse(FieldPath::new("metadata.name"), &tenant.name_any(), |s| {
        DnsLabel::parse_max(s, 63)
    });
    let namespace = match &spec.namespace {
        Some(ns) => p.parse_opt(root.child("namespace"), Some(ns)),
        // A name that is not a label was reported above; say it once.
        None if name.is_none() => None,
        None => {
            let default = NamespaceName::requested(None, &tenant.name_any());
            // The user did not write the namespace, so name the field they did write.
            p.parse(FieldPath::new("metadata.name"), &default, |s| {
                s.parse::<NamespaceName>().map_err(|e| match e {
                    NameError::TooLong { len, .. } => NameError::TooLong {
                        max: 63 - NamespaceName::DEFAULT_PREFIX.len(),
                        len: len - NamespaceName::DEFAULT_PREFIX.len(),
                    },
                    other => other,
                })
            })
        }
    };

    let municipality = municipality(&mut p, tenant, &root.child("municipality"));
    let admins = admins(&mut p, &spec.admins, &root.child("admins"));
    let quota = quota(&mut p, spec.quota.as_ref(), &root.child("quota"));
    let ingress_from = spec
        .network
        .as_ref()
        .map(|n| n.ingress_from.clone())
        .unwrap_or_default();
    for (i, selector) in ingress_from.iter().enumerate() {
        check_selector(
            &mut p,
            selector,
            &root.child("network").child("ingressFrom").index(i),
        );
    }
    let entity = municipality.as_ref().and_then(|m| m.fiscal_code.clone());
    let pagopa = pagopa(&mut p, tenant, entity.as_ref(), &root.child("pagopa"));
    let io = io(&mut p, tenant, entity.as_ref(), &root.child("io"));
    let identity = identity(&mut p, tenant, &root.child("identity"));
    let workloads = workloads(&mut p, tenant, &root.child("workloads"));

    match (
        name,
        namespace,
        municipality,
        quota,
        pagopa,
        io,
        identity,
        workloads,
    ) {
        (
            Some(name),
            Some(namespace),
            Some(municipality),
            Some(quota),
            Some(pagopa),
            Some(io),
            Some(identity),
            Some(workloads),
        ) if p.0.is_empty() => Ok(ValidTenant {
            name,
            namespace,
            municipality,
            environment: spec.environment,
            suspend: spec.suspend,
            deletion_policy: spec.deletion_policy,
            admins,
            quota,
            ingress_from,
            pagopa,
            io,
            identity,
            workloads,
        }),
        _ => Err(p.0),
    }
}
