//! One tenant's managed services brought to what its spec declares, on the platform: found (by
//! the record's id, or by name among the institution's services, so that a create whose answer
//! was lost, or whose record was never written, is not made twice) or created; updated when
//! they differ; submitted for review when the latest version is not the one published; published
//! when approved, if the spec asks; their API keys read, and rotated when the spec asks.
//!
//! Each step is one call and says what it did; a failed call stops the tenant's sync there, and
//! what was learnt before it (a created service's id) is kept in the record all the same.

use std::collections::BTreeMap;

use municipio_crds::v1alpha1::IoPublication;
use municipio_crds::validate::{IoConnector, IoServiceSource, ValidManagedIoService};

use super::client::{self, IoClient};
use super::contract::{self, KeyType, PublicationState, Service, ServicePayload, State};
use super::record::{self, Problem, Record, ServiceRecord};
use crate::connectors::platform::{CallError, Failure};

/// What a sync works with.
pub struct Sync<'a> {
    pub client: &'a IoClient,
    /// The municipality's manage key.
    pub manage_key: &'a str,
    pub io: &'a IoConnector,
    /// The workloads are Ready with the keys the record holds: a rotation under way may finish.
    pub rolled: bool,
}

/// What a sync leaves: the record and keys to write, and what it did. `Debug` never shows a
/// key.
pub struct Synced {
    pub record: Record,
    pub keys: BTreeMap<String, Vec<u8>>,
    /// What was done on the platform, one line each (never a key).
    pub done: Vec<String>,
    /// Services the record had that the spec no longer declares: left on IO as they are.
    pub left: Vec<(String, ServiceRecord)>,
    pub error: Option<CallError>,
}

impl std::fmt::Debug for Synced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Synced")
            .field("record", &self.record)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("done", &self.done)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// A service's record and key as far as its sync got.
struct Progress {
    record: Option<ServiceRecord>,
    key: Option<Vec<u8>>,
}

pub async fn sync(s: &Sync<'_>, before: &Record, keys: &BTreeMap<String, Vec<u8>>) -> Synced {
    let left = before
        .services
        .iter()
        .filter(|(name, _)| s.io.managed().all(|(n, _)| n.as_str() != name.as_str()))
        .map(|(n, r)| (n.clone(), r.clone()))
        .collect();
    let mut synced = Synced {
        record: Record::default(),
        keys: BTreeMap::new(),
        done: Vec::new(),
        left,
        error: None,
    };
    let mut listed = None;
    for (name, service) in s.io.managed() {
        let name = name.as_str();
        let mut progress = Progress {
            record: before.services.get(name).cloned(),
            key: keys.get(name).cloned(),
        };
        // After a failure of the platform or of the key the others keep what they had: the
        // platform is likely failing them too, and the next sync comes back for all of them. A
        // refusal of one service's fields stops only that one.
        let stopped = synced.error.as_ref().is_some_and(|e| !e.refused());
        if !stopped
            && let Err(error) = one(
                s,
                name,
                service,
                &mut progress,
                &mut listed,
                &mut synced.done,
            )
            .await
        {
            // The first problem is the one told.
            synced.record.problem.get_or_insert(Problem {
                reason: error.reason().to_owned(),
                message: format!("service {name}: {error}"),
            });
            if synced.error.is_none() || !error.refused() {
                synced.error = Some(error);
            }
        }
        if let Some(r) = progress.record {
            synced.record.services.insert(name.to_owned(), r);
        }
        if let Some(k) = progress.key {
            synced.keys.insert(name.to_owned(), k);
        }
    }
    synced
}

/// A call that found no service where the record said there was one.
fn gone(operation: &'static str) -> CallError {
    CallError {
        api: client::API,
        failure: Failure::Refused {
            operation,
            status: 404,
            detail: Some(client::GONE.to_owned()),
        },
    }
}

async fn one(
    s: &Sync<'_>,
    name: &str,
    service: &ValidManagedIoService,
    progress: &mut Progress,
    listed: &mut Option<Vec<Service>>,
    done: &mut Vec<String>,
) -> Result<(), CallError> {
    let (client, key) = (s.client, s.manage_key);
    let payload = contract::payload(s.io, service);
    let mut current = find(s, name, &payload, progress, listed, done).await?;
    let record = progress.record.as_mut().expect("found or created");
    // Until this pass ends, the service is not known to be as declared.
    record.in_sync = false;
    let id = record.id.clone();
    if !current.data.matches(&payload) && current.status.value != State::Submitted {
        // (A submitted service is frozen while PagoPA reviews it: the change waits.)
        current = client
            .update(key, &id, &payload)
            .await?
            .ok_or_else(|| gone("updateService"))?;
        done.push(format!("{name}: updated service {id} as declared"));
        if !current.data.matches(&payload) {
            // Sending it again would change nothing: said once, retried after a backoff.
            return Err(client.error(Failure::Unexpected {
                operation: "updateService",
                detail: "IO keeps the service otherwise than sent (a topic it does not list?)"
                    .to_owned(),
            }));
        }
    }
    record.state = current.status.value;
    record.reason = current.status.reason.clone();
    let draft_matches = current.data.matches(&payload);
    if record.state == State::Submitted && service.publication != IoPublication::Unpublished {
        // Under review: nothing to do until PagoPA decides, and the app shows what it showed
        // (one call a poll for each service waiting, however long the review takes).
        record.declared = record::declared_of(s.io, service);
        return keys(s, name, service, progress, done).await;
    }
    let publication = client.publication(key, &id).await?;
    record.published = publication
        .as_ref()
        .is_some_and(|p| p.status == PublicationState::Published);
    let live_matches = record.published
        && publication
            .as_ref()
            .is_some_and(|p| p.data.matches(&payload));
    match service.publication {
        IoPublication::Unpublished => {
            if record.published {
                client.unpublish(key, &id).await?;
                record.published = false;
                done.push(format!(
                    "{name}: withdrew service {id} from the app (publication: Unpublished)"
                ));
            }
        }
        policy => {
            let automatic = policy == IoPublication::Automatic;
            match record.state {
                State::Draft if draft_matches && !live_matches => {
                    client.review(key, &id, automatic).await?;
                    record.state = State::Submitted;
                    record.reason = None;
                    done.push(format!(
                        "{name}: submitted service {id} for review ({})",
                        if automatic {
                            "published once approved"
                        } else {
                            "a person publishes it once approved"
                        }
                    ));
                }
                State::Approved if automatic && draft_matches && !live_matches => {
                    client.publish(key, &id).await?;
                    record.published = true;
                    done.push(format!("{name}: published service {id}"));
                }
                _ => {}
            }
        }
    }
    let live_matches =
        live_matches || (record.published && record.state == State::Approved && draft_matches);
    // A submitted service may still be published by IO once approved (asked earlier).
    record.in_sync = draft_matches
        && record.state != State::Submitted
        && match service.publication {
            IoPublication::Automatic => live_matches,
            IoPublication::Manual => live_matches || record.state == State::Approved,
            IoPublication::Unpublished => !record.published,
        };
    record.declared = record::declared_of(s.io, service);
    keys(s, name, service, progress, done).await
}

/// The service of the record, or the one of the same name the institution has, or a new one.
async fn find(
    s: &Sync<'_>,
    name: &str,
    payload: &ServicePayload,
    progress: &mut Progress,
    listed: &mut Option<Vec<Service>>,
    done: &mut Vec<String>,
) -> Result<Service, CallError> {
    let (client, key) = (s.client, s.manage_key);
    if let Some(r) = &progress.record {
        match client.get(key, &r.id).await? {
            Some(service) if service.status.value != State::Deleted => return Ok(service),
            _ => {
                done.push(format!("{name}: service {} is no longer on IO", r.id));
                progress.record = None;
                progress.key = None;
            }
        }
    }
    if listed.is_none() {
        *listed = Some(client.list(key).await?);
    }
    // A service made by hand that the spec references by its id is never taken over.
    let referenced: Vec<&str> =
        s.io.services
            .iter()
            .filter_map(|s| match &s.source {
                IoServiceSource::Referenced { service_id, .. } => Some(service_id.as_str()),
                IoServiceSource::Managed(_) => None,
            })
            .collect();
    let found = listed.iter().flatten().find(|c| {
        c.data.name == payload.name
            && c.data.organization.fiscal_code == payload.organization.fiscal_code
            && c.status.value != State::Deleted
            && !referenced.contains(&c.id.as_str())
    });
    let service = match found {
        Some(service) => {
            done.push(format!(
                "{name}: found service {} on IO by its name",
                service.id
            ));
            service.clone()
        }
        None => {
            let service = client.create(key, payload).await?;
            done.push(format!("{name}: created service {}", service.id));
            service
        }
    };
    // Which key the workloads had is not known of a service found again: both are read anew.
    progress.key = None;
    progress.record = Some(ServiceRecord {
        id: service.id.clone(),
        state: service.status.value,
        reason: service.status.reason.clone(),
        published: false,
        in_sync: false,
        declared: String::new(),
        key_in_use: KeyType::Primary,
        // Keys read now are as new as any rotation asked for so far.
        rotation: None,
        rotating: None,
    });
    Ok(service)
}

/// The key the workloads use: read once; rotated when the spec's `keyRotation` moves (the key
/// not in use made anew and handed to the workloads; the other made anew once they are Ready
/// with it, so a message sent with the key the tenant's Secret holds is never refused).
async fn keys(
    s: &Sync<'_>,
    name: &str,
    service: &ValidManagedIoService,
    progress: &mut Progress,
    done: &mut Vec<String>,
) -> Result<(), CallError> {
    let (client, key) = (s.client, s.manage_key);
    let record = progress.record.as_mut().expect("found or created");
    let id = record.id.clone();
    if progress.key.is_none() {
        let keys = client
            .keys(key, &id)
            .await?
            .ok_or_else(|| gone("getServiceKeys"))?;
        progress.key = Some(record.key_in_use.of(&keys).as_bytes().to_vec());
        record.rotation = service.key_rotation.clone();
        record.rotating = None;
        return Ok(());
    }
    if let Some(token) = record.rotating.clone() {
        if s.rolled {
            let old = record.key_in_use.other();
            client
                .regenerate(key, &id, old)
                .await?
                .ok_or_else(|| gone("regenerateServiceKey"))?;
            record.rotation = Some(token);
            record.rotating = None;
            done.push(format!(
                "{name}: key rotation done, the {} key of service {id} made anew after the workloads moved off it",
                old.name()
            ));
        }
    } else if service.key_rotation.is_some() && service.key_rotation != record.rotation {
        let new = record.key_in_use.other();
        let keys = client
            .regenerate(key, &id, new)
            .await?
            .ok_or_else(|| gone("regenerateServiceKey"))?;
        progress.key = Some(new.of(&keys).as_bytes().to_vec());
        record.key_in_use = new;
        record.rotating = service.key_rotation.clone();
        done.push(format!(
            "{name}: key rotation, the {} key of service {id} made anew; the workloads move onto it",
            new.name()
        ));
    }
    Ok(())
}
