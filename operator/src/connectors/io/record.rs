//! What the operator knows of a tenant's managed IO services, kept in one Secret per tenant in
//! its own namespace, `io-services-<tenant>`: the API key each service's workloads use (one
//! entry per service, named after it), and in an annotation the record of each service on the
//! platform (its id, state, review reason, publication, which key is in use, and a digest of
//! what was declared when it last matched). The Secret is bound to the tenant by its label, so
//! the tenant's keys are dereferenced from it like any source Secret, and a change of it brings
//! the tenant back.
//!
//! Kept in the cluster, not in memory: after a restart the operator knows every service's id
//! and state without asking the platform, so a restart costs no platform call.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use municipio_crds::v1alpha1::{IoPublication, IoServiceStatus, IoStatus};
use municipio_crds::validate::{IoConnector, ValidManagedIoService};
use serde::{Deserialize, Serialize};

use super::contract::{self, KeyType, State};
use crate::children::metadata::digest;

/// The annotation of the record.
pub const RECORD_ANNOTATION: &str = "tenancy.municipio.io/io-services";
/// The label that marks a tenant's IO services Secret.
pub const IO_SERVICES_LABEL: &str = "tenancy.municipio.io/io-services";

/// The Secret, in the operator's namespace, of a tenant's managed IO services.
pub fn secret_name(tenant: &str) -> String {
    format!("io-services-{tenant}")
}

/// Every managed service of the tenant as the platform last showed it, by its name in the spec.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    #[serde(default)]
    pub services: BTreeMap<String, ServiceRecord>,
    /// Why the last sync did not finish: a reason and a message (never a key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub reason: String,
    pub message: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRecord {
    pub id: String,
    pub state: State,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub published: bool,
    /// The platform had the service as declared, published as the policy asks.
    #[serde(default)]
    pub in_sync: bool,
    /// The digest of the declaration ([`declared`]) the platform was last brought to.
    pub declared: String,
    pub key_in_use: KeyType,
    /// The spec's `keyRotation` last carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<String>,
    /// The `keyRotation` under way: the key not in use was made anew and the workloads moved
    /// onto it; the other is made anew once they are Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotating: Option<String>,
}

impl Record {
    /// The record in a tenant's IO services Secret; one that cannot be read is an empty record
    /// (the services are found again on the platform by their names).
    pub fn of(secret: &Secret) -> Record {
        secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(RECORD_ANNOTATION))
            .and_then(|json| serde_json::from_str(json).ok())
            .unwrap_or_default()
    }

    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).expect("a record is JSON")
    }

    /// What status says of the managed services, in spec order.
    pub fn status(&self, io: &IoConnector) -> IoStatus {
        let services = io
            .managed()
            .map(|(name, _)| {
                let r = self.services.get(name.as_str());
                IoServiceStatus {
                    name: name.to_string(),
                    id: r.map(|r| r.id.clone()),
                    state: r.map(|r| r.state.name().to_owned()),
                    review_reason: r.and_then(|r| r.reason.clone()),
                    published: r.is_some_and(|r| r.published),
                    in_sync: r
                        .is_some_and(|r| r.in_sync && r.declared == declared(io, name.as_str())),
                    key_in_use: r.map(|r| r.key_in_use.name().to_owned()),
                    key_rotation: r.and_then(|r| r.rotation.clone()),
                    rotating: r
                        .and_then(|r| r.rotating.as_ref())
                        .map(|_| "rolling".to_owned()),
                }
            })
            .collect();
        IoStatus {
            services,
            platform_problem: self
                .problem
                .as_ref()
                .map(|p| format!("{}: {}", p.reason, p.message)),
        }
    }
}

/// A digest of what the spec declares of the service `name`: its payload and how it is
/// published. A change of it is what sends the operator to the platform.
pub fn declared(io: &IoConnector, name: &str) -> String {
    let Some((_, service)) = io.managed().find(|(n, _)| n.as_str() == name) else {
        return String::new();
    };
    declared_of(io, service)
}

/// A digest of every managed service's declaration.
pub fn declared_all(io: &IoConnector) -> String {
    let each: Vec<String> = io.managed().map(|(_, s)| declared_of(io, s)).collect();
    digest(each.iter().map(String::as_bytes))
}

pub fn declared_of(io: &IoConnector, service: &ValidManagedIoService) -> String {
    let payload = serde_json::to_vec(&contract::payload(io, service)).expect("JSON");
    let publication = match service.publication {
        IoPublication::Automatic => "automatic",
        IoPublication::Manual => "manual",
        IoPublication::Unpublished => "unpublished",
    };
    digest([payload.as_slice(), publication.as_bytes()])
}

/// Why the tenant's services need the platform now, if they do: a service declared and not yet
/// made, or changed since; a key the workloads should have and the record Secret lacks; a key
/// rotation asked for, or one whose workloads have rolled (`rolled`); or a service not yet as
/// declared (a review in progress, a change waiting for one to end), looked at again once its
/// period has passed (`poll_due`). A rejected service waits for a change of the spec.
pub fn due(
    io: &IoConnector,
    record: &Record,
    keys: &BTreeMap<String, Vec<u8>>,
    rolled: bool,
    poll_due: bool,
) -> Option<&'static str> {
    if record
        .services
        .keys()
        .any(|name| io.managed().all(|(n, _)| n.as_str() != name))
    {
        // Said in an Event, and its key taken from the workloads.
        return Some("removed from the spec");
    }
    let mut why = None;
    for (name, service) in io.managed() {
        let Some(r) = record.services.get(name.as_str()) else {
            return Some("declared");
        };
        if r.declared != declared_of(io, service) {
            return Some("changed");
        }
        let reasons = [
            (!keys.contains_key(name.as_str()), "keys missing"),
            (
                r.rotating.is_none()
                    && service.key_rotation.is_some()
                    && service.key_rotation != r.rotation,
                "key rotation",
            ),
            (r.rotating.is_some() && rolled, "key rotation rolled out"),
            (
                !r.in_sync && r.state != State::Rejected && poll_due,
                "not yet as declared",
            ),
        ];
        why = why.or(reasons.into_iter().find(|(is, _)| *is).map(|(_, w)| w));
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::io::bergamo;

    fn record_of(io: &IoConnector, state: State) -> Record {
        let (name, _) = io.managed().next().unwrap();
        Record {
            services: BTreeMap::from([(
                name.to_string(),
                ServiceRecord {
                    id: "01J0000000000000000000000A".into(),
                    state,
                    reason: None,
                    published: false,
                    in_sync: false,
                    declared: declared(io, name.as_str()),
                    key_in_use: KeyType::Primary,
                    rotation: None,
                    rotating: None,
                },
            )]),
            problem: None,
        }
    }

    #[test]
    fn the_platform_is_needed_only_for_something_to_do() {
        let tenant = bergamo();
        let io = tenant.io.as_ref().unwrap();
        let (name, _) = io.managed().next().unwrap();
        let keys = BTreeMap::from([(name.to_string(), b"k".to_vec())]);
        assert_eq!(
            due(io, &Record::default(), &keys, false, false),
            Some("declared")
        );
        let approved = record_of(io, State::Approved);
        assert_eq!(
            due(io, &approved, &keys, false, true),
            Some("not yet as declared")
        );
        let mut published = approved.clone();
        published.services.get_mut(name.as_str()).unwrap().in_sync = true;
        assert_eq!(due(io, &published, &keys, true, true), None, "at rest");
        assert_eq!(
            due(io, &published, &BTreeMap::new(), false, false),
            Some("keys missing")
        );
        let submitted = record_of(io, State::Submitted);
        assert_eq!(
            due(io, &submitted, &keys, false, false),
            None,
            "not before the period"
        );
        let mut removed = published.clone();
        let mut gone = removed.services[name.as_str()].clone();
        gone.id = "01J0000000000000000000000B".into();
        removed.services.insert("mense".into(), gone);
        assert_eq!(
            due(io, &removed, &keys, false, false),
            Some("removed from the spec")
        );
        let rejected = record_of(io, State::Rejected);
        assert_eq!(
            due(io, &rejected, &keys, false, true),
            None,
            "waits for a change"
        );
        let mut changed = tenant.clone();
        let io_changed = changed.io.as_mut().unwrap();
        let municipio_crds::validate::IoServiceSource::Managed(m) = &mut io_changed
            .services
            .iter_mut()
            .find(|s| s.name == *name)
            .unwrap()
            .source
        else {
            unreachable!()
        };
        m.description.push_str(" (new)");
        assert_eq!(
            due(io_changed, &published, &keys, false, false),
            Some("changed")
        );
    }

    #[test]
    fn a_record_survives_its_annotation_and_an_unreadable_one_is_empty() {
        let tenant = bergamo();
        let io = tenant.io.as_ref().unwrap();
        let record = record_of(io, State::Rejected);
        let mut secret = Secret::default();
        secret.metadata.annotations = Some(BTreeMap::from([(
            RECORD_ANNOTATION.to_owned(),
            record.to_annotation(),
        )]));
        assert_eq!(Record::of(&secret), record);
        secret.metadata.annotations = Some(BTreeMap::from([(
            RECORD_ANNOTATION.to_owned(),
            "{".to_owned(),
        )]));
        assert_eq!(Record::of(&secret), Record::default());
    }
}
