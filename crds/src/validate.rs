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
    CadastralCode, CadastralCodeError, DnsLabel, EntityFiscalCode, EnvVarName, FiscalCodeError,
    IbanError, ImageError, ImageRef, IoServiceId, IoServiceIdError, IstatCode, IstatCodeError,
    ItalianIban, NameError, NamespaceName, Quantity, QuantityError, StationId, StationIdError,
    check_dns_subdomain, check_label_key, check_label_value,
};
use crate::v1alpha1::{
    Admin, AdminKind, ComputeResources, Connector, DeletionPolicy, Environment, MunicipalityTenant,
    SecretKeyRef, SubscriptionKeyRef,
};

/// Where a value is in the manifest, written as users read it: `spec.pagopa.ibans[0].iban`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(String);

impl FieldPath {
    pub fn new(root: &str) -> Self {
        Self(root.to_owned())
    }

    pub fn child(&self, name: &str) -> Self {
        Self(format!("{}.{name}", self.0))
    }

    pub fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One broken rule: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct FieldError {
    pub path: FieldPath,
    pub problem: Problem,
}

/// What is wrong with a field. [`Problem::rule`] gives each a stable name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("fiscal code {0}")]
    FiscalCode(#[from] FiscalCodeError),
    #[error("IBAN {0}")]
    Iban(#[from] IbanError),
    #[error("ISTAT code {0}")]
    IstatCode(#[from] IstatCodeError),
    #[error("cadastral code {0}")]
    CadastralCode(#[from] CadastralCodeError),
    #[error("station id {0}")]
    StationId(#[from] StationIdError),
    #[error("IO service id {0}")]
    IoServiceId(#[from] IoServiceIdError),
    #[error("image {0}")]
    Image(#[from] ImageError),
    #[error("{0}")]
    Name(#[from] NameError),
    #[error("{0}")]
    Quantity(#[from] QuantityError),
    #[error("is required {0}")]
    Required(&'static str),
    #[error("must not be set: {0}")]
    Forbidden(&'static str),
    #[error("{value:?} appears more than once (also at {first})")]
    Duplicate { value: String, first: FieldPath },
    #[error("station {station} belongs to broker {}, not to brokerFiscalCode {broker}", station.broker())]
    StationOfAnotherBroker {
        station: StationId,
        broker: EntityFiscalCode,
    },
    #[error("names connector {0:?}, which is not enabled on this tenant (spec.{0}.enabled)")]
    ConnectorNotEnabled(&'static str),
    #[error("request {request} is more than the limit {limit}")]
    RequestAboveLimit { request: String, limit: String },
    #[error("must be more than zero")]
    NotPositive,
    #[error("{value} is more than the allowed maximum {max}")]
    TooLarge { value: String, max: &'static str },
    #[error(
        "selects every namespace{0}: name at least one label that must be present (matchLabels, or an In or Exists expression)"
    )]
    OpenSelector(&'static str),
    #[error("{message}")]
    Invalid { rule: &'static str, message: String },
    #[error("{0}")]
    ReservedSubject(&'static str),
}

impl Problem {
    fn invalid(rule: &'static str, message: String) -> Self {
        Problem::Invalid { rule, message }
    }

    /// A stable, short name of the rule, for tests, metrics and webhook messages.
    pub fn rule(&self) -> &'static str {
        match self {
            Problem::FiscalCode(FiscalCodeError::CheckDigit { .. }) => "FiscalCodeCheckDigit",
            Problem::FiscalCode(_) => "FiscalCodeFormat",
            Problem::Iban(IbanError::Cin { .. }) => "IbanNationalCheck",
            Problem::Iban(IbanError::NotItalian(_)) => "IbanNotItalian",
            Problem::Iban(IbanError::Iso(_)) => "IbanIso13616",
            Problem::IstatCode(_) => "IstatCode",
            Problem::CadastralCode(_) => "CadastralCode",
            Problem::StationId(_) => "StationIdFormat",
            Problem::IoServiceId(_) => "IoServiceId",
            Problem::Image(ImageError::Unpinned(_)) => "ImageUnpinned",
            Problem::Image(_) => "ImageReference",
            Problem::Name(NameError::Reserved { .. }) => "ReservedName",
            Problem::Name(NameError::TooLong { .. }) => "NameTooLong",
            Problem::Name(NameError::NotEnvVarName(_)) => "EnvVarName",
            Problem::Name(NameError::NotLabelKey(_) | NameError::NotLabelValue(_)) => "LabelSyntax",
            Problem::Name(_) => "NameSyntax",
            Problem::Quantity(_) => "Quantity",
            Problem::Required(_) => "Required",
            Problem::Forbidden(_) => "Forbidden",
            Problem::Duplicate { .. } => "Duplicate",
            Problem::StationOfAnotherBroker { .. } => "StationBroker",
            Problem::ConnectorNotEnabled(_) => "ConnectorNotEnabled",
            Problem::RequestAboveLimit { .. } => "RequestAboveLimit",
            Problem::NotPositive => "NotPositive",
            Problem::TooLarge { .. } => "TooLarge",
            Problem::OpenSelector(_) => "OpenSelector",
            Problem::Invalid { rule, .. } => rule,
            Problem::ReservedSubject(_) => "ReservedSubject",
        }
    }
}

/// A tenant whose every field has been checked; the only input of the steps after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTenant {
    /// `metadata.name`, a DNS-1123 label (it becomes a label value on every child).
    pub name: DnsLabel,
    pub namespace: NamespaceName,
    pub municipality: ValidMunicipality,
    pub environment: Environment,
    pub suspend: bool,
    pub deletion_policy: DeletionPolicy,
    pub admins: Vec<Admin>,
    pub quota: ValidQuota,
    pub ingress_from: Vec<LabelSelector>,
    /// Present only when the connector is enabled.
    pub pagopa: Option<PagoPaConnector>,
    /// Present only when the connector is enabled.
    pub io: Option<IoConnector>,
    pub workloads: Vec<ValidWorkload>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidMunicipality {
    pub name: String,
    pub istat_code: IstatCode,
    pub cadastral_code: Option<CadastralCode>,
    pub fiscal_code: Option<EntityFiscalCode>,
    pub ipa_code: Option<String>,
    pub province: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValidQuota {
    pub cpu: Option<Quantity>,
    pub memory: Option<Quantity>,
    pub pods: Option<i32>,
}

/// How the municipality builds its notice numbers (numero avviso): the aux digit and the code
/// that comes with it, as one value so that a segregation code without aux digit 3 cannot exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuxDigit {
    Zero { application_code: String },
    One,
    Two,
    Three { segregation_code: String },
}

impl AuxDigit {
    pub fn digit(&self) -> u8 {
        match self {
            AuxDigit::Zero { .. } => 0,
            AuxDigit::One => 1,
            AuxDigit::Two => 2,
            AuxDigit::Three { .. } => 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PagoPaConnector {
    pub entity_fiscal_code: EntityFiscalCode,
    pub broker_fiscal_code: EntityFiscalCode,
    pub station_id: StationId,
    pub aux_digit: AuxDigit,
    pub ibans: Vec<ValidIban>,
    pub subscription_key: SubscriptionKeyRef,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidIban {
    pub iban: ItalianIban,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IoConnector {
    pub entity_fiscal_code: EntityFiscalCode,
    pub services: Vec<ValidIoService>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidIoService {
    pub name: DnsLabel,
    pub service_id: IoServiceId,
    pub api_key: SecretKeyRef,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidWorkload {
    pub name: DnsLabel,
    pub image: ImageRef,
    /// `None`: the operator leaves the field to others (an autoscaler).
    pub replicas: Option<i32>,
    /// `None`: no Service, no ingress.
    pub port: Option<u16>,
    pub requests: ValidCompute,
    pub limits: ValidCompute,
    pub env: Vec<(EnvVarName, String)>,
    pub connectors: BTreeSet<Connector>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValidCompute {
    pub cpu: Option<Quantity>,
    pub memory: Option<Quantity>,
}

// Upper bounds that no municipality needs; above them a value is a typo (16Pi for 16Gi).
const MAX_CPU_CORES: f64 = 4096.0;
const MAX_CPU_TEXT: &str = "4096 cores";
const MAX_MEMORY_BYTES: f64 = 64.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0;
const MAX_MEMORY_TEXT: &str = "64Ti";

/// Collects problems while parsing, so one pass reports all of them.
#[derive(Default)]
struct Problems(Vec<FieldError>);

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
            let default = format!("{}{}", NamespaceName::DEFAULT_PREFIX, tenant.name_any());
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
    let workloads = workloads(&mut p, tenant, &root.child("workloads"));

    match (name, namespace, municipality, quota, pagopa, io, workloads) {
        (
            Some(name),
            Some(namespace),
            Some(municipality),
            Some(quota),
            Some(pagopa),
            Some(io),
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
            workloads,
        }),
        _ => Err(p.0),
    }
}

fn municipality(
    p: &mut Problems,
    tenant: &MunicipalityTenant,
    path: &FieldPath,
) -> Option<ValidMunicipality> {
    let m = &tenant.spec.municipality;
    let before = p.0.len();
    if m.name.trim().is_empty() {
        p.push(path.child("name"), Problem::Required("(a display name)"));
    } else if m.name.chars().any(char::is_control) {
        p.push(
            path.child("name"),
            Problem::Forbidden("control characters (newlines, tabs) in a display name"),
        );
    }
    let istat_code = p.parse_opt(path.child("istatCode"), Some(&m.istat_code));
    let cadastral_code = p.parse_opt(path.child("cadastralCode"), m.cadastral_code.as_deref());
    let fiscal_code =
        p.parse_opt::<EntityFiscalCode>(path.child("fiscalCode"), m.fiscal_code.as_deref());
    let enabled = |c: Option<bool>| c.unwrap_or(false);
    let needs_fiscal_code = enabled(tenant.spec.pagopa.as_ref().map(|c| c.enabled))
        || enabled(tenant.spec.io.as_ref().map(|c| c.enabled));
    if m.fiscal_code.is_none() && needs_fiscal_code {
        p.push(
            path.child("fiscalCode"),
            Problem::Required("when pagopa or io is enabled"),
        );
    }
    if let Some(ipa) = &m.ipa_code
        && (ipa.is_empty()
            || ipa.len() > 20
            || !ipa
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
    {
        p.push(
            path.child("ipaCode"),
            Problem::invalid(
                "IpaCode",
                format!(
                    "{ipa:?} is not an IPA code (lowercase letters, digits and '_', at most 20)"
                ),
            ),
        );
    }
    if let Some(province) = &m.province
        && (province.len() != 2 || !province.bytes().all(|b| b.is_ascii_uppercase()))
    {
        p.push(
            path.child("province"),
            Problem::invalid(
                "ProvinceCode",
                format!("{province:?} is not a province code (two capital letters, e.g. MO)"),
            ),
        );
    }
    (p.0.len() == before).then(|| ValidMunicipality {
        name: m.name.clone(),
        istat_code: istat_code.expect("parsed without problems"),
        cadastral_code,
        fiscal_code,
        ipa_code: m.ipa_code.clone(),
        province: m.province.clone(),
    })
}

fn admins(p: &mut Problems, admins: &[Admin], path: &FieldPath) -> Vec<Admin> {
    for (i, admin) in admins.iter().enumerate() {
        let at = path.index(i);
        if admin.name.is_empty()
            || admin
                .name
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || invisible(c))
        {
            p.push(
                at.child("name"),
                Problem::invalid(
                    "SubjectName",
                    format!(
                        "{:?} is not a subject name (no spaces, control or invisible characters)",
                        admin.name
                    ),
                ),
            );
        }
        match admin.kind {
            AdminKind::ServiceAccount => match &admin.namespace {
                None => p.push(
                    at.child("namespace"),
                    Problem::Required("for a ServiceAccount"),
                ),
                Some(ns) => {
                    p.parse(at.child("namespace"), ns, |s| DnsLabel::parse_max(s, 63));
                    p.parse(at.child("name"), &admin.name, check_dns_subdomain);
                }
            },
            AdminKind::Group | AdminKind::User => {
                if admin.namespace.is_some() {
                    p.push(
                        at.child("namespace"),
                        Problem::Forbidden("only a ServiceAccount has a namespace"),
                    );
                }
                if admin.name.starts_with("system:") {
                    p.push(at.child("name"), Problem::ReservedSubject("system:* users and groups (such as system:authenticated, every user of the cluster) cannot be tenant admins"));
                }
            }
        }
    }
    // RBAC knows a subject by kind, namespace and name: a group and a user may share a name.
    p.unique(admins.iter().enumerate().map(|(i, a)| {
        let subject = format!(
            "{:?} {}/{}",
            a.kind,
            a.namespace.as_deref().unwrap_or(""),
            a.name
        );
        (path.index(i).child("name"), subject)
    }));
    admins.to_vec()
}

/// Unicode's default-ignorable code points (zero-width spaces and joiners, bidirectional
/// overrides, the byte order mark, variation selectors, tags...): they show as nothing, or
/// reorder what is around them, so a name holding one reads like another name. RBAC compares
/// subject names byte for byte: `comune-modena\u{200b}-admins` is not the group it shows as in a
/// review, and `\u{200b}system:masters` would slip past the `system:` check.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{034f}'
            | '\u{061c}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fff8}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
    )
}

fn quota(
    p: &mut Problems,
    quota: Option<&crate::v1alpha1::Quota>,
    path: &FieldPath,
) -> Option<ValidQuota> {
    let Some(q) = quota else {
        return Some(ValidQuota::default());
    };
    let before = p.0.len();
    let cpu = bounded(
        p,
        path.child("cpu"),
        q.cpu.as_ref(),
        MAX_CPU_CORES,
        MAX_CPU_TEXT,
        true,
    );
    let memory = bounded(
        p,
        path.child("memory"),
        q.memory.as_ref(),
        MAX_MEMORY_BYTES,
        MAX_MEMORY_TEXT,
        true,
    );
    if let Some(pods) = q.pods
        && pods < 1
    {
        p.push(path.child("pods"), Problem::NotPositive);
    }
    (p.0.len() == before).then_some(ValidQuota {
        cpu,
        memory,
        pods: q.pods,
    })
}

/// Parses a quantity and checks it against an upper bound (and zero, for quotas).
fn bounded(
    p: &mut Problems,
    path: FieldPath,
    value: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    max: f64,
    max_text: &'static str,
    positive: bool,
) -> Option<Quantity> {
    let q: Quantity = p.parse_opt(path.clone(), value.map(|v| v.0.as_str()))?;
    if positive && q.value() <= 0.0 {
        p.push(path, Problem::NotPositive);
    } else if q.value() > max {
        p.push(
            path,
            Problem::TooLarge {
                value: q.to_string(),
                max: max_text,
            },
        );
    }
    Some(q)
}

/// Set on every namespace by the API server (Kubernetes 1.21 and later): requiring it narrows
/// nothing.
const EVERY_NAMESPACE_LABEL: &str = "kubernetes.io/metadata.name";

fn check_selector(p: &mut Problems, selector: &LabelSelector, path: &FieldPath) {
    let labels = selector.match_labels.clone().unwrap_or_default();
    for (key, value) in &labels {
        if let Err(e) = check_label_key(key).and_then(|()| check_label_value(value)) {
            p.push(path.child("matchLabels"), e);
        }
    }
    let expressions = selector.match_expressions.clone().unwrap_or_default();
    let mut positive = !labels.is_empty();
    let mut universal = false;
    for (i, e) in expressions.iter().enumerate() {
        let at = path.child("matchExpressions").index(i);
        if let Err(err) = check_label_key(&e.key) {
            p.push(at.child("key"), err);
        }
        let values = e.values.clone().unwrap_or_default();
        for v in &values {
            if let Err(err) = check_label_value(v) {
                p.push(at.child("values"), err);
            }
        }
        match (e.operator.as_str(), values.is_empty()) {
            ("Exists", true) if e.key == EVERY_NAMESPACE_LABEL => universal = true,
            ("In", false) | ("Exists", true) => positive = true,
            ("NotIn", false) | ("DoesNotExist", true) => {}
            ("In" | "NotIn", true) => p.push(
                at.child("values"),
                Problem::Required("for operator In and NotIn"),
            ),
            ("Exists" | "DoesNotExist", false) => p.push(
                at.child("values"),
                Problem::Forbidden("operators Exists and DoesNotExist take no values"),
            ),
            (other, _) => p.push(
                at.child("operator"),
                Problem::invalid(
                    "LabelSelector",
                    format!("{other:?} is not one of In, NotIn, Exists, DoesNotExist"),
                ),
            ),
        }
    }
    if !positive {
        let why = if labels.is_empty() && expressions.is_empty() {
            " (it is empty)"
        } else if universal {
            " (every namespace has the label kubernetes.io/metadata.name)"
        } else {
            " (it only excludes)"
        };
        p.push(path.clone(), Problem::OpenSelector(why));
    }
}

fn pagopa(
    p: &mut Problems,
    tenant: &MunicipalityTenant,
    entity: Option<&EntityFiscalCode>,
    path: &FieldPath,
) -> Option<Option<PagoPaConnector>> {
    let Some(c) = &tenant.spec.pagopa else {
        return Some(None);
    };
    let before = p.0.len();
    // Fields that are present are checked even when the connector is off: a wrong IBAN is
    // wrong whether or not it is used today.
    let broker = p.parse_opt::<EntityFiscalCode>(
        path.child("brokerFiscalCode"),
        c.broker_fiscal_code.as_deref(),
    );
    let station = p.parse_opt::<StationId>(path.child("stationId"), c.station_id.as_deref());
    if let (Some(broker), Some(station)) = (&broker, &station)
        && station.broker() != broker
    {
        p.push(
            path.child("stationId"),
            Problem::StationOfAnotherBroker {
                station: station.clone(),
                broker: broker.clone(),
            },
        );
    }
    let aux = aux_digit(p, c, path);
    let ibans: Vec<(usize, ValidIban)> = c
        .ibans
        .iter()
        .enumerate()
        .filter_map(|(i, account)| {
            let at = path.child("ibans").index(i);
            if let Some(d) = &account.description
                && d.chars().any(char::is_control)
            {
                p.push(
                    at.child("description"),
                    Problem::Forbidden("control characters in a description"),
                );
            }
            let iban = p.parse_opt::<ItalianIban>(at.child("iban"), Some(&account.iban))?;
            Some((
                i,
                ValidIban {
                    iban,
                    description: account.description.clone(),
                },
            ))
        })
        .collect();
    // Compared in electronic form, so that a lowercase copy is not a second account.
    p.unique(ibans.iter().map(|(i, v)| {
        (
            path.child("ibans").index(*i).child("iban"),
            v.iban.to_string(),
        )
    }));
    let ibans: Vec<ValidIban> = ibans.into_iter().map(|(_, v)| v).collect();
    if let Some(key) = &c.subscription_key {
        let at = path.child("subscriptionKey");
        check_secret_name(p, &key.secret_name, &at.child("secretName"));
        check_secret_key(p, &key.primary_key, &at.child("primaryKey"));
        if let Some(second) = &key.secondary_key {
            check_secret_key(p, second, &at.child("secondaryKey"));
        }
    }
    if let Some(key) = &c.subscription_key
        && let Some(second) = &key.secondary_key
        && *second == key.primary_key
    {
        p.push(
            path.child("subscriptionKey").child("secondaryKey"),
            Problem::Duplicate {
                value: second.clone(),
                first: path.child("subscriptionKey").child("primaryKey"),
            },
        );
    }
    if !c.enabled {
        return (p.0.len() == before).then_some(None);
    }
    const WHEN: &str = "when pagopa is enabled";
    for (field, missing) in [
        ("brokerFiscalCode", c.broker_fiscal_code.is_none()),
        ("stationId", c.station_id.is_none()),
        ("auxDigit", c.aux_digit.is_none()),
        ("subscriptionKey", c.subscription_key.is_none()),
        ("ibans", c.ibans.is_empty()),
    ] {
        if missing {
            p.push(path.child(field), Problem::Required(WHEN));
        }
    }
    if p.0.len() != before {
        return None;
    }
    Some(Some(PagoPaConnector {
        entity_fiscal_code: entity?.clone(),
        broker_fiscal_code: broker?,
        station_id: station?,
        aux_digit: aux?,
        ibans,
        subscription_key: c.subscription_key.clone()?,
    }))
}

fn aux_digit(p: &mut Problems, c: &crate::v1alpha1::PagoPa, path: &FieldPath) -> Option<AuxDigit> {
    let two_digits = |p: &mut Problems, field: &str, v: &str| {
        if v.len() == 2 && v.bytes().all(|b| b.is_ascii_digit()) {
            Some(v.to_owned())
        } else {
            p.push(
                path.child(field),
                Problem::invalid("TwoDigits", format!("{v:?} must be exactly 2 digits")),
            );
            None
        }
    };
    let segregation = c
        .segregation_code
        .as_deref()
        .and_then(|v| two_digits(p, "segregationCode", v));
    let application = c
        .application_code
        .as_deref()
        .and_then(|v| two_digits(p, "applicationCode", v));
    let digit = c.aux_digit?;
    if digit != 3 && c.segregation_code.is_some() {
        p.push(
            path.child("segregationCode"),
            Problem::Forbidden("a segregation code has meaning only with auxDigit 3"),
        );
    }
    if digit != 0 && c.application_code.is_some() {
        p.push(
            path.child("applicationCode"),
            Problem::Forbidden("an application code has meaning only with auxDigit 0"),
        );
    }
    match digit {
        0 => match application {
            Some(application_code) => Some(AuxDigit::Zero { application_code }),
            None => {
                if c.application_code.is_none() {
                    p.push(
                        path.child("applicationCode"),
                        Problem::Required("with auxDigit 0"),
                    );
                }
                None
            }
        },
        1 => Some(AuxDigit::One),
        2 => Some(AuxDigit::Two),
        3 => match segregation {
            Some(segregation_code) => Some(AuxDigit::Three { segregation_code }),
            None => {
                if c.segregation_code.is_none() {
                    p.push(
                        path.child("segregationCode"),
                        Problem::Required("with auxDigit 3"),
                    );
                }
                None
            }
        },
        _ => {
            p.push(
                path.child("auxDigit"),
                Problem::TooLarge {
                    value: digit.to_string(),
                    max: "3",
                },
            );
            None
        }
    }
}

fn io(
    p: &mut Problems,
    tenant: &MunicipalityTenant,
    entity: Option<&EntityFiscalCode>,
    path: &FieldPath,
) -> Option<Option<IoConnector>> {
    let Some(c) = &tenant.spec.io else {
        return Some(None);
    };
    let before = p.0.len();
    let services: Vec<ValidIoService> = c
        .services
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let at = path.child("services").index(i);
            let name = p.parse(at.child("name"), &s.name, |v| DnsLabel::parse_max(v, 40));
            let service_id = p.parse_opt::<IoServiceId>(at.child("serviceId"), Some(&s.service_id));
            check_secret_key_ref(p, &s.api_key, &at.child("apiKey"));
            Some(ValidIoService {
                name: name?,
                service_id: service_id?,
                api_key: s.api_key.clone(),
            })
        })
        .collect();
    let services_path = path.child("services");
    p.unique(
        c.services
            .iter()
            .enumerate()
            .map(|(i, s)| (services_path.index(i).child("name"), s.name.as_str())),
    );
    p.unique(c.services.iter().enumerate().map(|(i, s)| {
        (
            services_path.index(i).child("serviceId"),
            s.service_id.as_str(),
        )
    }));
    if !c.enabled {
        return (p.0.len() == before).then_some(None);
    }
    if c.services.is_empty() {
        p.push(
            services_path,
            Problem::Required("when io is enabled (at least one service)"),
        );
    }
    if p.0.len() != before {
        return None;
    }
    Some(Some(IoConnector {
        entity_fiscal_code: entity?.clone(),
        services,
    }))
}

fn check_secret_key_ref(p: &mut Problems, r: &SecretKeyRef, path: &FieldPath) {
    check_secret_name(p, &r.secret_name, &path.child("secretName"));
    check_secret_key(p, &r.key, &path.child("key"));
}

fn check_secret_name(p: &mut Problems, name: &str, path: &FieldPath) {
    if let Err(e) = check_dns_subdomain(name) {
        p.push(
            path.clone(),
            Problem::invalid("SecretName", format!("Secret name {e}")),
        );
    }
}

fn check_secret_key(p: &mut Problems, key: &str, path: &FieldPath) {
    if key.is_empty()
        || key.len() > 253
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        p.push(
            path.clone(),
            Problem::invalid(
                "SecretKey",
                format!("{key:?} is not a Secret key (letters, digits, '-', '_', '.')"),
            ),
        );
    }
}

fn workloads(
    p: &mut Problems,
    tenant: &MunicipalityTenant,
    path: &FieldPath,
) -> Option<Vec<ValidWorkload>> {
    let before = p.0.len();
    let enabled: HashSet<Connector> = [
        (
            Connector::Pagopa,
            tenant.spec.pagopa.as_ref().is_some_and(|c| c.enabled),
        ),
        (
            Connector::Io,
            tenant.spec.io.as_ref().is_some_and(|c| c.enabled),
        ),
    ]
    .into_iter()
    .filter_map(|(c, on)| on.then_some(c))
    .collect();
    let mut out = Vec::new();
    for (i, w) in tenant.spec.workloads.iter().enumerate() {
        let at = path.index(i);
        let name = p.parse(at.child("name"), &w.name, |s| {
            DnsLabel::parse_dns1035(s, 40)
        });
        let image = p
            .parse_opt::<ImageRef>(at.child("image"), Some(&w.image))
            .filter(|image| match latest_tag(image.as_str()) {
                Some(name) => {
                    p.push(
                        at.child("image"),
                        Problem::invalid(
                            "ImageUnpinned",
                            format!(
                                "image has the tag latest, which moves with every push; pin a version, e.g. {name}:1.0.0, or a digest"
                            ),
                        ),
                    );
                    false
                }
                None => true,
            });
        match w.replicas {
            Some(r) if r < 0 => p.push(
                at.child("replicas"),
                Problem::invalid("Replicas", format!("{r} is negative")),
            ),
            Some(r) if r > 100 => p.push(
                at.child("replicas"),
                Problem::TooLarge {
                    value: r.to_string(),
                    max: "100",
                },
            ),
            _ => {}
        }
        let port = match w.port.map(u16::try_from) {
            None => Some(None),
            Some(Ok(port)) if port > 0 => Some(Some(port)),
            Some(_) => {
                p.push(
                    at.child("port"),
                    Problem::invalid(
                        "Port",
                        format!(
                            "{} is not a TCP port (1 to 65535)",
                            w.port.unwrap_or_default()
                        ),
                    ),
                );
                None
            }
        };
        let (requests, limits) = resources(p, w.resources.as_ref(), &at.child("resources"));
        for (j, e) in w.env.iter().enumerate() {
            if e.value.as_deref().is_some_and(|v| v.contains('\0')) {
                p.push(
                    at.child("env").index(j).child("value"),
                    Problem::Forbidden(
                        "a NUL character: no process can receive it in its environment",
                    ),
                );
            }
        }
        let env: Vec<(EnvVarName, String)> = w
            .env
            .iter()
            .enumerate()
            .filter_map(|(j, e)| {
                Some((
                    p.parse_opt::<EnvVarName>(
                        at.child("env").index(j).child("name"),
                        Some(&e.name),
                    )?,
                    e.value.clone().unwrap_or_default(),
                ))
            })
            .collect();
        p.unique(
            w.env
                .iter()
                .enumerate()
                .map(|(j, e)| (at.child("env").index(j).child("name"), e.name.as_str())),
        );
        let mut connectors = BTreeSet::new();
        let connector_paths = w.connectors.iter().enumerate().map(|(j, c)| {
            let name = match c {
                Connector::Pagopa => "pagopa",
                Connector::Io => "io",
            };
            (at.child("connectors").index(j), name)
        });
        p.unique(connector_paths);
        for (j, c) in w.connectors.iter().enumerate() {
            if !enabled.contains(c) {
                let name = match c {
                    Connector::Pagopa => "pagopa",
                    Connector::Io => "io",
                };
                p.push(
                    at.child("connectors").index(j),
                    Problem::ConnectorNotEnabled(name),
                );
            }
            connectors.insert(*c);
        }
        if let (Some(name), Some(image), Some(port)) = (name, image, port) {
            out.push(ValidWorkload {
                name,
                image,
                replicas: w.replicas,
                port,
                requests,
                limits,
                env,
                connectors,
            });
        }
    }
    p.unique(
        tenant
            .spec
            .workloads
            .iter()
            .enumerate()
            .map(|(i, w)| (path.index(i).child("name"), w.name.as_str())),
    );
    (p.0.len() == before).then_some(out)
}

/// The repository of a (well-formed) image reference pinned by nothing but the tag `latest`,
/// which every push moves: what runs would change under the tenant's feet as without a tag.
/// With a digest, the digest pins it.
fn latest_tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return None;
    }
    image.strip_suffix(":latest")
}

fn resources(
    p: &mut Problems,
    r: Option<&crate::v1alpha1::Resources>,
    path: &FieldPath,
) -> (ValidCompute, ValidCompute) {
    let r = r.cloned().unwrap_or_default();
    let compute = |p: &mut Problems, c: Option<&ComputeResources>, at: FieldPath| ValidCompute {
        cpu: bounded(
            p,
            at.child("cpu"),
            c.and_then(|c| c.cpu.as_ref()),
            MAX_CPU_CORES,
            MAX_CPU_TEXT,
            false,
        ),
        memory: bounded(
            p,
            at.child("memory"),
            c.and_then(|c| c.memory.as_ref()),
            MAX_MEMORY_BYTES,
            MAX_MEMORY_TEXT,
            false,
        ),
    };
    let requests = compute(p, r.requests.as_ref(), path.child("requests"));
    let limits = compute(p, r.limits.as_ref(), path.child("limits"));
    for (resource, request, limit) in [
        ("cpu", &requests.cpu, &limits.cpu),
        ("memory", &requests.memory, &limits.memory),
    ] {
        if let (Some(request), Some(limit)) = (request, limit)
            && request.value() > limit.value()
        {
            p.push(
                path.child("requests").child(resource),
                Problem::RequestAboveLimit {
                    request: request.to_string(),
                    limit: limit.to_string(),
                },
            );
        }
    }
    (requests, limits)
}
