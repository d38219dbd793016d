//! `tenancy.municipio.io/v1alpha1`: the `MunicipalityTenant` API.
//!
//! The schema carries what OpenAPI v3 can check on Kubernetes 1.20 and later (types, required
//! fields, patterns, enums, bounds, list-map keys). Everything else (check digits, cross-field
//! rules) lives in [`crate::validate`], which the CLI, the webhook and the controller share.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every municipio kind.
pub const GROUP: &str = "tenancy.municipio.io";

// Patterns shared by several fields, as Kubernetes defines them.
const DNS_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const DNS_SUBDOMAIN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const SECRET_KEY: &str = r"^[-._a-zA-Z0-9]+$";

/// What the municipality needs: its identity, environment, namespace, administrators, quota,
/// network openings, pagoPA and IO connectors, and workloads.
// Each printer column repeats `type_ = ...`; clippy reads the repeats as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[kube(
    group = "tenancy.municipio.io",
    version = "v1alpha1",
    kind = "MunicipalityTenant",
    plural = "municipalitytenants",
    shortname = "mt",
    category = "municipio",
    status = "MunicipalityTenantStatus",
    doc = "A municipality (Comune) hosted as a tenant of the regional cloud: its namespace, workloads, pagoPA and IO connectors, network isolation, quota and administrators.",
    printcolumn(
        name = "ISTAT",
        type_ = "string",
        json_path = ".spec.municipality.istatCode",
        description = "ISTAT code of the municipality"
    ),
    printcolumn(
        name = "Environment",
        type_ = "string",
        json_path = ".spec.environment",
        description = "pagoPA / IO environment"
    ),
    printcolumn(
        name = "Namespace",
        type_ = "string",
        json_path = ".status.namespace",
        description = "Namespace of the tenant"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the tenant is fully reconciled and its workloads available"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        description = "What the operator last reported",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct MunicipalityTenantSpec {
    /// Identity of the municipality (the "ente creditore" in pagoPA terms).
    pub municipality: Municipality,

    /// Platform environment whose pagoPA and IO endpoints the connectors use: `uat` (collaudo)
    /// or `production`.
    pub environment: Environment,

    /// Namespace that holds the tenant's objects. Defaults to `comune-<metadata.name>`.
    /// A DNS-1123 label, not `default` nor `kube-*`; immutable once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = DNS_LABEL)
    )]
    pub namespace: Option<String>,

    /// When true the operator stops changing anything for this tenant (no apply, no prune, no
    /// deletion of children) and keeps reporting status.
    #[serde(default, skip_serializing_if = "is_false")]
    pub suspend: bool,

    /// What happens to the namespace and its data when the tenant is deleted: `Delete` removes
    /// them; `Retain` keeps the namespace (and everything in it) and only detaches it.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Users, groups or service accounts bound to the ClusterRole `admin` in the tenant namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub admins: Vec<Admin>,

    /// Compute budget of the tenant namespace (a ResourceQuota and a LimitRange).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,

    /// Network isolation: by default a tenant namespace accepts traffic only from itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,

    /// The pagoPA connector: configuration of the municipality as a creditor entity on pagoPA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagopa: Option<PagoPa>,

    /// The IO connector: the municipality's services on the IO app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io: Option<Io>,

    /// The identity connector: citizens log in to the municipality's online services with SPID,
    /// CIE (and CNS) through the region's gateway, which acts as the municipality's aggregator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,

    /// Applications run in the tenant namespace, one Deployment (and Service) each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub workloads: Vec<Workload>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Identity of the municipality.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Municipality {
    /// Display name, e.g. `Comune di Modena`.
    #[schemars(length(min = 1, max = 128))]
    pub name: String,

    /// ISTAT code of the municipality: 6 digits (3 of the province, 3 progressive), e.g. `036023`.
    /// Immutable once set.
    #[schemars(regex(pattern = r"^[0-9]{6}$"))]
    pub istat_code: String,

    /// Cadastral (Belfiore) code: one letter and three digits, e.g. `F257`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Z][0-9]{3}$"))]
    pub cadastral_code: Option<String>,

    /// Fiscal code of the entity: 11 digits, the last a check digit, e.g. `00221940364`.
    /// Required when pagoPA or IO is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{11}$"))]
    pub fiscal_code: Option<String>,

    /// Code of the entity in the IPA index (Indice della Pubblica Amministrazione), e.g. `c_f257`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9_]{0,18}[a-z0-9])?$"))]
    pub ipa_code: Option<String>,

    /// Vehicle-plate code of the province, e.g. `MO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Z]{2}$"))]
    pub province: Option<String>,
}

/// Platform environment of the pagoPA and IO endpoints.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// The platforms' test (collaudo) environment.
    Uat,
    /// The live environment: real payments, real messages.
    Production,
}

/// What happens to the tenant namespace when the tenant is deleted.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, Default, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the namespace and everything in it.
    #[default]
    Delete,
    /// Keep the namespace and its data; only the operator's ownership is removed.
    Retain,
}

/// A subject bound to the ClusterRole `admin` in the tenant namespace.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Admin {
    /// Kind of subject: `Group`, `User` or `ServiceAccount`.
    pub kind: AdminKind,
    /// Name of the group, user or service account.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the service account; only (and then required) for `ServiceAccount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// Kind of an RBAC subject.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, JsonSchema)]
pub enum AdminKind {
    /// A group of users, as named by the cluster's authenticator.
    Group,
    /// A single user, as named by the cluster's authenticator.
    User,
    /// A Kubernetes service account (for automation such as a CI pipeline).
    ServiceAccount,
}

/// Compute budget of the tenant namespace.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Total CPU the namespace may request, e.g. `"8"` or `500m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "quantity_schema")]
    pub cpu: Option<Quantity>,
    /// Total memory the namespace may request, e.g. `16Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "quantity_schema")]
    pub memory: Option<Quantity>,
    /// Maximum number of pods in the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub pods: Option<i32>,
}

/// Network isolation of the tenant namespace.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// Namespace selectors whose pods may reach the workloads' ports (for example the ingress
    /// controller's namespace). Each selector must select something specific: an empty selector
    /// would open the tenant to every namespace and is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub ingress_from: Vec<LabelSelector>,
}

/// The municipality as a creditor entity (ente creditore) on pagoPA.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PagoPa {
    /// Whether the pagoPA connector is deployed.
    pub enabled: bool,
    /// Fiscal code of the technological intermediary (broker, e.g. the region): 11 digits with
    /// check digit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{11}$"))]
    pub broker_fiscal_code: Option<String>,
    /// Station of the broker that serves this municipality: `<brokerFiscalCode>_<2 digits>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{11}_[0-9]{2}$"))]
    pub station_id: Option<String>,
    /// Aux digit of the notice number (numero avviso), 0 to 3: it fixes how the IUV is built.
    /// 3 means the IUV starts with the segregation code; 0 with the application code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3))]
    pub aux_digit: Option<u8>,
    /// Segregation code assigned by PagoPA to this generation point: 2 digits. Required with aux
    /// digit 3 and meaningless (so refused) with any other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{2}$"))]
    pub segregation_code: Option<String>,
    /// Application code: 2 digits. Required with aux digit 0 and refused with any other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{2}$"))]
    pub application_code: Option<String>,
    /// Accounts payments are credited to (Italian IBANs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["iban"]))]
    pub ibans: Vec<IbanAccount>,
    /// The pagoPA API subscription key(s), read from a Secret in the operator's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_key: Option<SubscriptionKeyRef>,
}

/// An account payments are credited to.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IbanAccount {
    /// IBAN in electronic format (no spaces), e.g. `IT60X0542811101000000123456`.
    #[schemars(regex(pattern = r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"))]
    pub iban: String,
    /// What the account is for, e.g. `Tesoreria comunale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 140))]
    pub description: Option<String>,
}

/// Where the pagoPA subscription keys are: a Secret in the operator's namespace, bound to this
/// tenant by the label `tenancy.municipio.io/tenant` or the annotation `tenancy.municipio.io/tenants`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionKeyRef {
    /// Name of the Secret in the operator's namespace.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = DNS_SUBDOMAIN)
    )]
    pub secret_name: String,
    /// Key of the primary subscription key in the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_KEY))]
    pub primary_key: String,
    /// Key of the secondary subscription key in the Secret (used during key rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_KEY))]
    pub secondary_key: Option<String>,
}

/// The municipality's services on the IO app.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Io {
    /// Whether the IO connector is deployed.
    pub enabled: bool,
    /// The municipality's manage key of IO's Services CMS (its `MANAGE-` subscription): a
    /// Secret in the operator's namespace bound to this tenant. Required when a service is
    /// managed; never given to the workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_key: Option<SecretKeyRef>,
    /// Services of the municipality on IO, each with its own API key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub services: Vec<IoService>,
}

/// One service of the municipality on IO (e.g. tributi, anagrafe): either managed (the
/// operator creates it on IO, keeps it as declared, has it reviewed and published, and reads
/// its API keys) or referenced (made by hand: its id, and its API key in a source Secret).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IoService {
    /// Short name of the service, a DNS-1123 label, e.g. `tributi`.
    #[schemars(
        length(min = 1, max = 40),
        regex(pattern = DNS_LABEL)
    )]
    pub name: String,
    /// Referenced services: the id assigned by IO, a ULID, 26 characters of Crockford base32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9A-Z]{26}$"))]
    pub service_id: Option<String>,
    /// Referenced services: where the service's API key is, a Secret in the operator's
    /// namespace bound to this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretKeyRef>,
    /// Managed services: the service as it must be on IO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedIoService>,
}

/// A service the operator keeps on IO: its public fields (the organization is the
/// municipality: its name and fiscal code), and how it is published.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedIoService {
    /// The name citizens see in the app, e.g. `Tributi`.
    #[schemars(length(min = 1, max = 120))]
    pub display_name: String,
    /// What the service does, in Markdown, as the app shows it.
    #[schemars(length(min = 1, max = 8000))]
    pub description: String,
    /// The municipality's office that runs it, e.g. `Servizi finanziari`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 120))]
    pub department: Option<String>,
    /// `Local` (the municipality's own citizens; the default) or `National`.
    #[serde(default)]
    pub scope: IoScope,
    /// The IO topic of the service: an id from the platform's list of topics.
    #[schemars(range(min = 0, max = 1000))]
    pub topic_id: i32,
    /// Where citizens read more: the service's pages (all `https://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<IoLinks>,
    /// How citizens reach the office.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<IoContacts>,
    /// IPv4 networks (CIDR) allowed to send with the service's keys; empty allows any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub authorized_cidrs: Vec<String>,
    /// Whether messages carry only a notice, their content read in the app after login.
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_secure_channel: bool,
    /// The most a payment notice of the service may ask, in euro cents (0: no limit set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 9_999_999_999_i64))]
    pub max_allowed_payment_amount: Option<i64>,
    /// `Automatic` (the default): every change is sent for review and published once
    /// approved. `Manual`: sent for review; a person publishes the approved service in IO's
    /// back office. `Unpublished`: the operator withdraws the service from the app (it stays
    /// on IO, and comes back with `Automatic`).
    #[serde(default)]
    pub publication: IoPublication,
    /// Change this value (any text, e.g. a date) to rotate the service's API keys: the
    /// operator regenerates the key the workloads do not use, moves them onto it, then
    /// regenerates the other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub key_rotation: Option<String>,
}

/// Who an IO service is for.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
pub enum IoScope {
    /// The municipality's own citizens.
    #[default]
    Local,
    /// Everyone.
    National,
}

/// How a managed IO service reaches the app.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, JsonSchema)]
pub enum IoPublication {
    /// Reviewed, then published by IO as soon as it is approved.
    #[default]
    Automatic,
    /// Reviewed; a person publishes it in IO's back office.
    Manual,
    /// Withdrawn from the app (not deleted).
    Unpublished,
}

/// The pages of a managed IO service.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IoLinks {
    /// The service's page on the municipality's site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    /// Its privacy notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_url: Option<String>,
    /// Its terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_url: Option<String>,
    /// Where citizens ask for help.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_url: Option<String>,
}

/// The contacts of a managed IO service.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IoContacts {
    /// The office's e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Certified e-mail (PEC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pec: Option<String>,
    /// The office's phone, in the international format (`+39035399111`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    pub phone: Option<String>,
}

/// A key of a Secret in the operator's namespace.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret in the operator's namespace.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = DNS_SUBDOMAIN)
    )]
    pub secret_name: String,
    /// Key in the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = SECRET_KEY))]
    pub key: String,
}

/// How citizens log in to the municipality's online services, through the region's gateway (a
/// SPID and CIE aggregator in the *Full* profile: it speaks SAML2 and OpenID Connect Federation
/// to the national identity providers on the municipality's behalf).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// Whether the identity connector is deployed. Needs `spec.municipality.ipaCode`.
    pub enabled: bool,
    /// The credentials citizens may log in with: `spid`, `cie`, `cns`. At least one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3), extend("x-kubernetes-list-type" = "set"))]
    pub methods: Vec<LoginMethod>,
    /// The SPID level the services ask for: `SpidL1` (password), `SpidL2` (a second factor) or
    /// `SpidL3` (a device). Required when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<SpidLevel>,
    /// The attributes the services ask for, from the SPID list (e.g. `fiscalNumber`, `name`,
    /// `familyName`). At least one, each once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 17), extend("x-kubernetes-list-type" = "set"))]
    pub attributes: Vec<SpidAttribute>,
    /// The municipality's callbacks the gateway sends citizens back to after login: HTTPS, a
    /// host name, no port, query or fragment. At least one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "set"))]
    pub redirect_uris: Vec<String>,
    /// The municipality's home page, in the metadata. Defaults to the origin of the first
    /// redirect URI. HTTPS, no port, query or fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub homepage: Option<String>,
    /// Who answers for the municipality's online services. Required when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<IdentityContacts>,
    /// The methods whose national federation has accepted the municipality (`spid` by AgID,
    /// `cie` by the Ministry of the Interior): a reviewed step outside the cluster, recorded
    /// here by whoever completed it. Until then status lists it as pending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2), extend("x-kubernetes-list-type" = "set"))]
    pub onboarded: Vec<LoginMethod>,
}

/// A credential a citizen logs in with.
#[derive(
    Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LoginMethod {
    /// SPID, the public digital identity system.
    Spid,
    /// CIE, the electronic identity card (CieID).
    Cie,
    /// CNS, the national services card (a smart card with a certificate): the gateway asks
    /// for the certificate itself; nothing is published for it.
    Cns,
}

/// The SPID level of assurance.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, JsonSchema)]
pub enum SpidLevel {
    /// Level 1: user name and password.
    SpidL1,
    /// Level 2: a second factor (a one-time password, an app).
    SpidL2,
    /// Level 3: a device (a smart card, a signature device).
    SpidL3,
}

impl SpidLevel {
    /// Its number: 1, 2 or 3.
    pub fn number(self) -> u8 {
        match self {
            SpidLevel::SpidL1 => 1,
            SpidLevel::SpidL2 => 2,
            SpidLevel::SpidL3 => 3,
        }
    }
}

/// An attribute of the SPID list (AgID's technical rules, table of attributes).
#[derive(
    Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum SpidAttribute {
    SpidCode,
    Name,
    FamilyName,
    FiscalNumber,
    Email,
    MobilePhone,
    Address,
    DigitalAddress,
    DateOfBirth,
    PlaceOfBirth,
    CountyOfBirth,
    Gender,
    IdCard,
    ExpirationDate,
    CompanyName,
    RegisteredOffice,
    IvaCode,
}

impl SpidAttribute {
    /// Its name in SAML metadata and in the spec (`fiscalNumber`).
    pub fn name(self) -> &'static str {
        match self {
            SpidAttribute::SpidCode => "spidCode",
            SpidAttribute::Name => "name",
            SpidAttribute::FamilyName => "familyName",
            SpidAttribute::FiscalNumber => "fiscalNumber",
            SpidAttribute::Email => "email",
            SpidAttribute::MobilePhone => "mobilePhone",
            SpidAttribute::Address => "address",
            SpidAttribute::DigitalAddress => "digitalAddress",
            SpidAttribute::DateOfBirth => "dateOfBirth",
            SpidAttribute::PlaceOfBirth => "placeOfBirth",
            SpidAttribute::CountyOfBirth => "countyOfBirth",
            SpidAttribute::Gender => "gender",
            SpidAttribute::IdCard => "idCard",
            SpidAttribute::ExpirationDate => "expirationDate",
            SpidAttribute::CompanyName => "companyName",
            SpidAttribute::RegisteredOffice => "registeredOffice",
            SpidAttribute::IvaCode => "ivaCode",
        }
    }
}

/// Who answers for the municipality's online services, as published in its metadata.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityContacts {
    /// The institutional email address, e.g. `urp@comune.modena.it`.
    #[schemars(length(min = 3, max = 254))]
    pub email: String,
    /// The certified email address (PEC), e.g. `comune.modena@cert.comune.modena.it`.
    #[schemars(length(min = 3, max = 254))]
    pub pec: String,
    /// A telephone number with its country code and no spaces, e.g. `+39059203111`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\+[0-9]{6,15}$"))]
    pub phone: Option<String>,
}

/// An application of the municipality, run as a Deployment with a Service in front of it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Workload {
    /// Name of the Deployment and Service: a DNS-1035 label of at most 40 characters.
    #[schemars(
        length(min = 1, max = 40),
        regex(pattern = r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
    )]
    pub name: String,
    /// Container image with an explicit tag or digest, e.g. `registry.example/comuni/portale:2.3.1`.
    #[schemars(length(min = 1, max = 512))]
    pub image: String,
    /// Number of replicas. Left out, the operator does not own the field: the Deployment starts
    /// with one replica and an autoscaler (or a person) may change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: Option<i32>,
    /// Port the container listens on; a Service exposes it under the same number. Left out, the
    /// workload gets no Service and no ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// CPU and memory requests and limits of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Environment variables of the container. Names starting with `PAGOPA_`, `IO_`,
    /// `IDENTITY_` or `MUNICIPIO_` are reserved for what the operator injects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub env: Vec<EnvVar>,
    /// Connectors whose configuration and keys this workload receives (`pagopa`, `io`,
    /// `identity`); each must be enabled on the tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3), extend("x-kubernetes-list-type" = "set"))]
    pub connectors: Vec<Connector>,
}

/// CPU and memory requests and limits of a container.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// What the container is guaranteed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ComputeResources>,
    /// The most the container may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ComputeResources>,
}

/// An amount of CPU and memory.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComputeResources {
    /// CPU, e.g. `100m` or `"1"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "quantity_schema")]
    pub cpu: Option<Quantity>,
    /// Memory, e.g. `128Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "quantity_schema")]
    pub memory: Option<Quantity>,
}

/// An environment variable of a workload's container.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// Name: letters, digits and `_`, not starting with a digit.
    #[schemars(
        length(min = 1, max = 128),
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$")
    )]
    pub name: String,
    /// Value; empty when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub value: Option<String>,
}

/// A connector a workload can receive.
#[derive(
    Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Connector {
    /// The pagoPA connector configuration and subscription key.
    Pagopa,
    /// The IO connector configuration and API keys.
    Io,
    /// The identity connector: how to log citizens in through the region's gateway, and the
    /// workload's credential there.
    Identity,
}

impl Connector {
    /// Every connector, in the order the operator builds and reports them: the one list.
    pub const ALL: [Connector; 3] = [Connector::Pagopa, Connector::Io, Connector::Identity];

    /// Its name in the spec (`pagopa`, `io`, `identity`), in labels and in object names.
    pub fn name(self) -> &'static str {
        match self {
            Connector::Pagopa => "pagopa",
            Connector::Io => "io",
            Connector::Identity => "identity",
        }
    }
}

/// What the operator observed and did; written by the operator only.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MunicipalityTenantStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The namespace the tenant lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Replicas and available replicas of each workload's Deployment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub workloads: Vec<WorkloadStatus>,
    /// How many objects the operator applied for this tenant in its last pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_objects: Option<i32>,
    /// What each enabled connector was configured with and where its keys came from (never a
    /// key's value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub connectors: Vec<ConnectorStatus>,
    /// `Ready`, `Reconciling` and `Stalled`, each with the generation it was computed for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Availability of one workload.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    /// Name of the workload.
    pub name: String,
    /// Replicas the Deployment wants.
    pub replicas: i32,
    /// Replicas that are available.
    pub available: i32,
}

/// One connector as configured in the tenant namespace.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorStatus {
    /// `pagopa`, `io` or `identity`.
    pub name: Connector,
    /// The platform endpoint the connector is configured for.
    pub endpoint: String,
    /// ConfigMap with the connector's configuration, in the tenant namespace.
    pub config_map: String,
    /// Secret with the connector's keys, in the tenant namespace.
    pub secret: String,
    /// How many keys the Secret holds (pagoPA subscription keys, or one API key per IO service).
    pub keys: i32,
    /// The source Secrets, in the operator namespace, the keys were copied from.
    pub source_secrets: Vec<String>,
    /// Identifies the keys last written to the Secret: a digest of the Secret's layout and of
    /// the source Secrets' versions, never of a value. The operator may not read Secrets in
    /// tenant namespaces; this is how it knows the Secret is current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_version: Option<String>,
    /// The municipality's managed services as IO has them (io only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io: Option<IoStatus>,
    /// What the identity connector published for the region's gateway (identity only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityStatus>,
}

/// What the identity connector published for the municipality, and what is left to do.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityStatus {
    /// The ConfigMap the gateway reads the artifacts from (`<namespace>/<name>`): the signed
    /// SAML metadata and the signed entity configuration.
    pub artifacts: String,
    /// The SAML entity id of the municipality.
    pub entity_id: String,
    /// The OpenID Connect Federation client id (and entity id) of the municipality.
    pub client_id: String,
    /// The keys published, the signing one of each purpose first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<IdentityKeyStatus>,
    /// When the keys next change (a key made, one starting to sign, one retired), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_rotation: Option<String>,
    /// What is still to be done outside the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
}

/// The managed IO services as the platform last showed them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IoStatus {
    /// One entry per managed service, in spec order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub services: Vec<IoServiceStatus>,
    /// Why the platform could not be reached or refused the last call, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_problem: Option<String>,
}

/// One managed IO service on the platform: never its keys.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IoServiceStatus {
    /// The name of the service in the spec.
    pub name: String,
    /// The service's id on IO, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its life-cycle state on IO: `draft`, `submitted`, `approved`, `rejected` or `deleted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The review's reason, as PagoPA wrote it (a rejection's, verbatim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_reason: Option<String>,
    /// Whether a version of it is published in the app.
    #[serde(default)]
    pub published: bool,
    /// Whether the platform has the service as the spec declares it.
    #[serde(default)]
    pub in_sync: bool,
    /// Which of its two API keys the workloads have (`primary` or `secondary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_in_use: Option<String>,
    /// The spec's `keyRotation` last carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_rotation: Option<String>,
    /// A rotation under way: `rolling` (the workloads move onto the new key; the old one is
    /// regenerated once they are Ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotating: Option<String>,
}

/// A published key: never the key, only its id and times.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityKeyStatus {
    /// What it signs: `saml`, `federation`, `protocol` or `encryption`.
    pub purpose: String,
    /// Its key id (the RFC 7638 thumbprint).
    pub kid: String,
    /// Whether it is the one that signs now (encrypts, for `encryption`).
    pub current: bool,
    /// When it expires, RFC 3339.
    pub expires: String,
}

/// Kubernetes quantities are int-or-string. Like Kubernetes' own types, the schema says so with
/// `x-kubernetes-int-or-string` alone: an `anyOf` is refused by the OpenAPI v2 publisher of
/// older API servers (and `kubectl explain` with it). The upstream description is a page long,
/// too much for `kubectl explain` on every field.
fn quantity_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "A Kubernetes quantity: a number with an optional suffix (m, k, M, G, Ki, Mi, Gi, ...).",
        "x-kubernetes-int-or-string": true,
    })
}
