//! What a validation problem is: the field path, as users read it, and the broken rule.

use super::*;

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
    #[error("{0}")]
    Url(#[from] UrlError),
    #[error("{0}")]
    Email(#[from] EmailError),
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
    #[error("{}", unknown_field(nearest.as_deref(), known))]
    UnknownField {
        /// The known field it was probably meant to be.
        nearest: Option<String>,
        /// The fields known at that place.
        known: Vec<String>,
    },
    /// A value of the wrong type (what serde says about it).
    #[error("{0}")]
    Type(String),
    /// What the CRD's schema refuses (a type, a bound, a pattern), as the API server would.
    #[error("{0}")]
    Schema(String),
}

fn unknown_field(nearest: Option<&str>, known: &[String]) -> String {
    match nearest {
        Some(field) => format!("unknown field: did you mean `{field}`?"),
        None => format!("unknown field (the fields here are: {})", known.join(", ")),
    }
}

impl Problem {
    pub(super) fn invalid(rule: &'static str, message: String) -> Self {
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
            Problem::Url(UrlError::NotHttps(_)) => "UrlNotHttps",
            Problem::Url(UrlError::Port(_)) => "UrlPort",
            Problem::Url(UrlError::Query(_)) => "UrlQuery",
            Problem::Url(UrlError::Fragment(_)) => "UrlFragment",
            Problem::Url(UrlError::UserInfo(_)) => "UrlUserInfo",
            Problem::Url(UrlError::Host(_)) => "UrlHost",
            Problem::Url(UrlError::Path(_)) => "UrlPath",
            Problem::Email(_) => "EmailAddress",
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
            Problem::UnknownField { .. } => "UnknownField",
            Problem::Type(_) => "Type",
            Problem::Schema(_) => "Schema",
        }
    }
}
