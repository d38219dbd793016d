//! The validated tenant: every field parsed into a typed value, the only input of the steps after validation.

use super::*;

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
    /// Present only when the connector is enabled.
    pub identity: Option<IdentityConnector>,
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

/// The identity connector of an enabled tenant: everything it needs is present and parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityConnector {
    /// The municipality's IPA code, which names it at the gateway (`c_f257`).
    pub ipa_code: String,
    /// At least one.
    pub methods: BTreeSet<LoginMethod>,
    pub level: SpidLevel,
    /// At least one, each once, in spec order.
    pub attributes: Vec<SpidAttribute>,
    /// At least one, each once, in spec order.
    pub redirect_uris: Vec<HttpsUrl>,
    pub homepage: HttpsUrl,
    pub contacts: ValidContacts,
    /// Methods whose federation onboarding is done: a subset of `methods`, without CNS.
    pub onboarded: BTreeSet<LoginMethod>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidContacts {
    pub email: EmailAddress,
    pub pec: EmailAddress,
    pub phone: Option<String>,
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
