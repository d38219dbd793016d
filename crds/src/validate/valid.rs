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
    /// The organization's name on IO: the municipality's.
    pub organization: String,
    /// Present exactly when a service is managed.
    pub manage_key: Option<SecretKeyRef>,
    pub services: Vec<ValidIoService>,
}

impl IoConnector {
    /// The managed services, in spec order.
    pub fn managed(&self) -> impl Iterator<Item = (&DnsLabel, &ValidManagedIoService)> {
        self.services.iter().filter_map(|s| match &s.source {
            IoServiceSource::Managed(m) => Some((&s.name, m.as_ref())),
            IoServiceSource::Referenced { .. } => None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidIoService {
    pub name: DnsLabel,
    pub source: IoServiceSource,
}

/// Where an IO service comes from: made by hand (its id, its key in a source Secret), or kept
/// on IO by the operator.
#[derive(Debug, Clone, PartialEq)]
pub enum IoServiceSource {
    Referenced {
        service_id: IoServiceId,
        api_key: SecretKeyRef,
    },
    Managed(Box<ValidManagedIoService>),
}

/// A managed IO service, every field parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidManagedIoService {
    pub display_name: String,
    pub description: String,
    pub department: Option<String>,
    pub scope: IoScope,
    pub topic_id: i32,
    pub web_url: Option<HttpsUrl>,
    pub privacy_url: Option<HttpsUrl>,
    pub tos_url: Option<HttpsUrl>,
    pub support_url: Option<HttpsUrl>,
    pub email: Option<EmailAddress>,
    pub pec: Option<EmailAddress>,
    pub phone: Option<String>,
    pub authorized_cidrs: Vec<Ipv4Net>,
    pub require_secure_channel: bool,
    /// Euro cents; 0 when the spec sets none.
    pub max_allowed_payment_amount: i64,
    pub publication: IoPublication,
    pub key_rotation: Option<String>,
}

/// An IPv4 network, `a.b.c.d/len` (a bare address is a /32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    pub address: std::net::Ipv4Addr,
    pub prefix: u8,
}

impl std::str::FromStr for Ipv4Net {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (address, prefix) = s.split_once('/').unwrap_or((s, "32"));
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32 && !prefix.starts_with('+'))
            .ok_or(())?;
        // Four decimal octets, as the platform's pattern has them (no leading zeros read as
        // octal, no shortened forms).
        let address = address.parse().map_err(|_| ())?;
        Ok(Self { address, prefix })
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
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
