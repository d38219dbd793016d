//! What the operator sends to and reads from IO's Services CMS manage API, and the service a
//! tenant declares as IO has it. The project's description of these operations and fields is
//! `docs/platforms/io-manage-api.yaml` (it says which published version it follows); the
//! tests' fake platform checks every request and answer against it.
//!
//! Pure: no client here. [`payload`] is what `render` shows and what create and update send.

use municipio_crds::v1alpha1::IoScope;
use municipio_crds::validate::{IoConnector, ValidManagedIoService};
use serde::{Deserialize, Serialize};

/// The operations' paths, under the manage API's base (`/api/v1/manage`).
pub const SERVICES: &str = "/services";

/// The most services a page of the list holds.
pub const PAGE_LIMIT: u32 = 100;

/// A service's public fields, as create and update send them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ServicePayload {
    pub name: String,
    pub description: String,
    pub organization: Organization,
    pub metadata: Metadata,
    pub require_secure_channel: bool,
    pub authorized_cidrs: Vec<String>,
    pub max_allowed_payment_amount: i64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Organization {
    pub name: String,
    pub fiscal_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_name: Option<String>,
}

/// The metadata a payload sends: the topic by id.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Metadata {
    #[serde(flatten)]
    pub common: MetadataCommon,
    pub topic_id: i32,
}

/// The metadata sent and read alike.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MetadataCommon {
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pec: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Scope {
    National,
    Local,
}

/// The metadata IO answers with: the topic as an object.
#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct MetadataRead {
    #[serde(flatten)]
    pub common: MetadataCommon,
    #[serde(default)]
    pub topic: Option<Topic>,
}

/// A topic; its id is a JSON number in the contract (`3` or `3.0`).
#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct Topic {
    pub id: f64,
}

/// A service's fields as IO answers with them, in its latest version or as published.
#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct ServiceData {
    pub name: String,
    pub description: String,
    pub organization: Organization,
    pub metadata: MetadataRead,
    #[serde(default)]
    pub require_secure_channel: bool,
    #[serde(default)]
    pub authorized_cidrs: Vec<String>,
    #[serde(default)]
    pub max_allowed_payment_amount: i64,
}

impl ServiceData {
    /// The fields the operator owns, in the payload's shape: what is compared with the spec.
    fn fields(&self) -> ServicePayload {
        let mut cidrs = self.authorized_cidrs.clone();
        cidrs.sort();
        let topic = self.metadata.topic.as_ref();
        ServicePayload {
            name: self.name.clone(),
            description: self.description.clone(),
            organization: self.organization.clone(),
            metadata: Metadata {
                common: self.metadata.common.clone(),
                // A topic IO no longer lists reads as none: a difference, sent again.
                topic_id: topic
                    .filter(|t| t.id.fract() == 0.0 && t.id.abs() <= f64::from(i32::MAX))
                    .map_or(-1, |t| t.id as i32),
            },
            require_secure_channel: self.require_secure_channel,
            authorized_cidrs: cidrs,
            max_allowed_payment_amount: self.max_allowed_payment_amount,
        }
    }

    /// Whether IO has the service as `payload` declares it (the order of the networks aside).
    pub fn matches(&self, payload: &ServicePayload) -> bool {
        let mut want = payload.clone();
        want.authorized_cidrs.sort();
        self.fields() == want
    }
}

/// A service's life-cycle state on IO.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Draft,
    Submitted,
    Approved,
    Rejected,
    Deleted,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Submitted => "submitted",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Deleted => "deleted",
        }
    }
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct Status {
    pub value: State,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A service as IO has it (its latest version, the one a review looks at).
#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct Service {
    pub id: String,
    pub status: Status,
    #[serde(flatten)]
    pub data: ServiceData,
}

/// The version of a service published in the app.
#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct Publication {
    pub id: String,
    pub status: PublicationState,
    #[serde(flatten)]
    pub data: ServiceData,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PublicationState {
    Published,
    Unpublished,
}

/// One page of the institution's services.
#[derive(Deserialize, Debug, Clone, PartialEq)]
pub struct Page {
    #[serde(default)]
    pub value: Vec<Service>,
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct Pagination {
    pub offset: f64,
    pub limit: f64,
    pub count: f64,
}

/// A service's two API keys. Never logged: `Debug` shows neither.
#[derive(Deserialize, Clone, PartialEq)]
pub struct Keys {
    pub primary_key: String,
    pub secondary_key: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<primary>, <secondary>)")
    }
}

/// Which of a service's two keys.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    Primary,
    Secondary,
}

impl KeyType {
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Primary => "primary",
            KeyType::Secondary => "secondary",
        }
    }

    pub fn other(self) -> KeyType {
        match self {
            KeyType::Primary => KeyType::Secondary,
            KeyType::Secondary => KeyType::Primary,
        }
    }

    pub fn of(self, keys: &Keys) -> &str {
        match self {
            KeyType::Primary => &keys.primary_key,
            KeyType::Secondary => &keys.secondary_key,
        }
    }
}

/// Submitting a service for review.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewRequest {
    pub auto_publish: bool,
}

/// What create and update send for a managed service of the tenant.
pub fn payload(io: &IoConnector, service: &ValidManagedIoService) -> ServicePayload {
    let text =
        |u: &Option<municipio_crds::identifiers::HttpsUrl>| u.as_ref().map(|u| u.to_string());
    ServicePayload {
        name: service.display_name.clone(),
        description: service.description.clone(),
        organization: Organization {
            name: io.organization.clone(),
            fiscal_code: io.entity_fiscal_code.to_string(),
            department_name: service.department.clone(),
        },
        metadata: Metadata {
            common: MetadataCommon {
                scope: match service.scope {
                    IoScope::Local => Scope::Local,
                    IoScope::National => Scope::National,
                },
                web_url: text(&service.web_url),
                privacy_url: text(&service.privacy_url),
                tos_url: text(&service.tos_url),
                support_url: text(&service.support_url),
                email: service.email.as_ref().map(ToString::to_string),
                pec: service.pec.as_ref().map(ToString::to_string),
                phone: service.phone.clone(),
            },
            topic_id: service.topic_id,
        },
        require_secure_channel: service.require_secure_channel,
        authorized_cidrs: service
            .authorized_cidrs
            .iter()
            .map(ToString::to_string)
            .collect(),
        max_allowed_payment_amount: service.max_allowed_payment_amount,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::io::bergamo;

    #[test]
    fn a_payload_names_the_municipality_as_the_organization() {
        let tenant = bergamo();
        let io = tenant.io.as_ref().unwrap();
        let (_, managed) = io.managed().next().expect("Bergamo manages a service");
        let sent = serde_json::to_value(payload(io, managed)).unwrap();
        assert_eq!(sent["organization"]["fiscal_code"], "99999999016");
        assert_eq!(sent["organization"]["name"], "Comune di Bergamo");
        assert_eq!(
            sent["organization"]["department_name"],
            "Servizi demografici"
        );
        assert_eq!(sent["metadata"]["scope"], "LOCAL");
        assert!(sent["metadata"]["topic_id"].is_number());
    }

    #[test]
    fn what_io_answers_matches_what_was_sent_whatever_the_order_of_the_networks() {
        let tenant = bergamo();
        let io = tenant.io.as_ref().unwrap();
        let (_, managed) = io.managed().next().unwrap();
        let sent = payload(io, managed);
        let mut answer = serde_json::to_value(&sent).unwrap();
        let metadata = answer["metadata"].as_object_mut().unwrap();
        let topic = metadata.remove("topic_id").unwrap();
        metadata.insert(
            "topic".into(),
            serde_json::json!({"id": topic, "name": "x"}),
        );
        answer["id"] = "01J0000000000000000000000A".into();
        answer["status"] = serde_json::json!({"value": "draft"});
        answer["authorized_cidrs"] = serde_json::json!(["192.0.2.0/24", "198.51.100.7/32"]);
        let mut want = sent.clone();
        want.authorized_cidrs = vec!["198.51.100.7/32".into(), "192.0.2.0/24".into()];
        let read: Service = serde_json::from_value(answer).unwrap();
        assert!(read.data.matches(&want));
        want.description.push('!');
        assert!(!read.data.matches(&want));
    }
}
