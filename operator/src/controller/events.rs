//! Kubernetes Events on the tenant, through the one recorder the controller shares: a Normal
//! or Warning event when the tenant's `Ready` condition moves, when children are pruned, and
//! for errors. Never for a converged tenant (that would be a write per resync), never with a
//! key's value (only what status says too).
//!
//! Written as core/v1 Events in `default` rather than with kube's `events.k8s.io` recorder:
//! Kubernetes before 1.21 accepts a new-style event about a cluster-scoped object (a tenant)
//! only in `kube-system` (fixed by kubernetes#100125), whereas a core/v1 event in `default`,
//! where Kubernetes keeps the events of nodes too, is accepted by every version and found by
//! `kubectl describe`. Repeats of one event within an hour raise its count instead of adding
//! an object, as client-go's recorder does; and, like its spam filter, each object gets a
//! burst of [`BURST`] event writes, then one more per [`REFILL`]: a tenant flapping between
//! states cannot flood the API server (what is dropped is logged, and status still tells).

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use municipio_crds::{MunicipalityTenant, MunicipalityTenantStatus};
use tracing::warn;

/// The component that reports every event.
pub const CONTROLLER: &str = "municipio-controller";
/// Where the events of cluster-scoped objects go.
const CLUSTER_SCOPED_NAMESPACE: &str = "default";
/// How long a repeat counts as the same event.
const SERIES_WINDOW: SignedDuration = SignedDuration::from_hours(1);
/// Event writes an object may have at once, and how often it earns one more.
const BURST: f64 = 10.0;
const REFILL: std::time::Duration = std::time::Duration::from_secs(60);

/// The event writes an object has left (a token bucket).
#[derive(Debug, Clone, Copy)]
struct Allowance {
    tokens: f64,
    at: std::time::Instant,
}

impl Allowance {
    fn new(now: std::time::Instant) -> Self {
        Self {
            tokens: BURST,
            at: now,
        }
    }

    /// Takes one write if there is one left at `now`.
    fn take(&mut self, now: std::time::Instant) -> bool {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() / REFILL.as_secs_f64();
        self.tokens = (self.tokens + earned).min(BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What to record: an event's type, reason, action and message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Note {
    pub warning: bool,
    pub reason: String,
    pub action: &'static str,
    pub note: String,
}

/// An event already written, which a repeat updates.
struct Recorded {
    namespace: String,
    name: String,
    count: i32,
    last: Timestamp,
}

pub struct Events {
    client: Client,
    instance: Option<String>,
    recorded: Mutex<HashMap<(String, Note), Recorded>>,
    allowances: Mutex<HashMap<String, Allowance>>,
}

impl Events {
    /// `instance` names this replica (the pod name in a cluster).
    pub fn new(client: Client, instance: Option<String>) -> Self {
        Self {
            client,
            instance,
            recorded: Mutex::default(),
            allowances: Mutex::default(),
        }
    }

    /// Records `note` about `regarding`. A failure is logged, never returned: an event is
    /// worth less than the reconcile that records it.
    pub async fn publish(&self, regarding: &ObjectReference, note: Note) {
        if !self.allowed(regarding) {
            warn!(reason = %note.reason, message = %note.note, "event dropped: too many about this object lately");
            return;
        }
        if let Err(error) = self.record(regarding, &note).await {
            warn!(%error, reason = %note.reason, "could not record an event");
        }
    }

    fn allowed(&self, regarding: &ObjectReference) -> bool {
        let now = std::time::Instant::now();
        let mut allowances = self.allowances.lock().unwrap_or_else(|e| e.into_inner());
        // Full buckets carry no information: forget them, so deleted tenants leave nothing.
        allowances.retain(|_, a| {
            now.saturating_duration_since(a.at).as_secs_f64() < REFILL.as_secs_f64() * BURST
        });
        allowances
            .entry(regarding.uid.clone().unwrap_or_default())
            .or_insert_with(|| Allowance::new(now))
            .take(now)
    }

    pub async fn on_tenant(&self, tenant: &MunicipalityTenant, note: Note) {
        self.publish(&tenant.object_ref(&()), note).await;
    }

    async fn record(&self, regarding: &ObjectReference, note: &Note) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = (regarding.uid.clone().unwrap_or_default(), note.clone());
        let repeat = {
            let mut recorded = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
            recorded.retain(|_, r| now.duration_since(r.last) < SERIES_WINDOW);
            recorded
                .get(&key)
                .map(|r| (r.namespace.clone(), r.name.clone(), r.count))
        };
        let written = match repeat {
            Some((namespace, name, count)) => {
                let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
                let patch = serde_json::json!({
                    "count": count + 1,
                    "lastTimestamp": Time(now),
                });
                match api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => Some(Recorded {
                        namespace,
                        name,
                        count: count + 1,
                        last: now,
                    }),
                    // Expired on the server (events live an hour by default): start anew.
                    Err(kube::Error::Api(s)) if s.code == 404 => None,
                    Err(e) => return Err(e),
                }
            }
            None => None,
        };
        let written = match written {
            Some(w) => w,
            None => self.create(regarding, note, now).await?,
        };
        let mut recorded = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
        recorded.insert(key, written);
        Ok(())
    }

    async fn create(
        &self,
        regarding: &ObjectReference,
        note: &Note,
        now: Timestamp,
    ) -> Result<Recorded, kube::Error> {
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| CLUSTER_SCOPED_NAMESPACE.to_owned());
        let event = event(regarding, note, &namespace, self.instance.as_deref(), now);
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let created = api.create(&PostParams::default(), &event).await?;
        Ok(Recorded {
            namespace,
            name: created.metadata.name.unwrap_or_default(),
            count: 1,
            last: now,
        })
    }
}

/// A new core/v1 Event about `regarding`.
fn event(
    regarding: &ObjectReference,
    note: &Note,
    namespace: &str,
    instance: Option<&str>,
    now: Timestamp,
) -> Event {
    let name = regarding.name.as_deref().unwrap_or(CONTROLLER);
    Event {
        metadata: ObjectMeta {
            // Like client-go: the object's name and a unique suffix.
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        involved_object: regarding.clone(),
        type_: Some(if note.warning { "Warning" } else { "Normal" }.to_owned()),
        reason: Some(note.reason.clone()),
        message: Some(note.note.clone()),
        action: Some(note.action.to_owned()),
        count: Some(1),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        source: Some(EventSource {
            component: Some(CONTROLLER.to_owned()),
            host: instance.map(str::to_owned),
        }),
        reporting_component: Some(CONTROLLER.to_owned()),
        reporting_instance: Some(instance.unwrap_or(CONTROLLER).to_owned()),
        ..Event::default()
    }
}

/// The event for a status change, when the `Ready` condition moved (status or reason): the
/// transition a user wants to see in `kubectl describe`. Not for a new tenant's first status
/// when it only tells progress: that is no news (its Ready event follows), and a region
/// onboarding thousands of tenants would write thousands of Events for it.
pub fn transition(
    before: Option<&MunicipalityTenantStatus>,
    after: &MunicipalityTenantStatus,
) -> Option<Note> {
    let ready = |s: &MunicipalityTenantStatus| -> Option<Condition> {
        s.conditions.iter().find(|c| c.type_ == "Ready").cloned()
    };
    let now = ready(after)?;
    let was = before.and_then(ready);
    if was.is_none() && is_progress(&now.reason) {
        return None;
    }
    if was
        .as_ref()
        .is_some_and(|w| w.status == now.status && w.reason == now.reason)
    {
        return None;
    }
    let stalled = after
        .conditions
        .iter()
        .any(|c| c.type_ == "Stalled" && c.status == "True");
    // Blocked and stalled need someone to act; progress and readiness do not.
    let warning = stalled || (now.status != "True" && !is_progress(&now.reason));
    Some(Note {
        warning,
        reason: now.reason,
        action: "Reconcile",
        note: now.message,
    })
}

fn is_progress(reason: &str) -> bool {
    matches!(reason, "WorkloadsProgressing" | "Suspended")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_gets_a_burst_of_events_then_one_a_minute() {
        let start = std::time::Instant::now();
        let mut allowance = Allowance::new(start);
        for _ in 0..10 {
            assert!(allowance.take(start));
        }
        assert!(!allowance.take(start), "the burst is spent");
        assert!(!allowance.take(start + std::time::Duration::from_secs(30)));
        assert!(allowance.take(start + std::time::Duration::from_secs(61)));
        assert!(!allowance.take(start + std::time::Duration::from_secs(62)));
        let later = start + std::time::Duration::from_secs(3600);
        for _ in 0..10 {
            assert!(allowance.take(later), "refilled up to the burst");
        }
        assert!(!allowance.take(later));
    }

    fn status(ready: &str, reason: &str, stalled: bool) -> MunicipalityTenantStatus {
        let condition = |type_: &str, status: &str| Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: format!("{type_} {reason}"),
            observed_generation: Some(1),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        };
        MunicipalityTenantStatus {
            conditions: vec![
                condition("Ready", ready),
                condition("Stalled", if stalled { "True" } else { "False" }),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn a_first_status_is_an_event_unless_it_only_tells_progress() {
        let progressing = status("False", "WorkloadsProgressing", false);
        assert_eq!(transition(None, &progressing), None);
        let note = transition(None, &status("False", "SourceSecretMissing", false)).unwrap();
        assert!(note.warning);
        assert_eq!(note.note, "Ready SourceSecretMissing");
        let ready = status("True", "Ready", false);
        let back = transition(Some(&ready), &progressing).unwrap();
        assert!(!back.warning, "a new rollout is told, as progress");
    }

    #[test]
    fn unchanged_ready_is_no_event() {
        let s = status("True", "Ready", false);
        assert_eq!(transition(Some(&s), &s), None);
    }

    #[test]
    fn ready_is_normal_blocked_and_stalled_are_warnings() {
        let progressing = status("False", "WorkloadsProgressing", false);
        let ready = transition(Some(&progressing), &status("True", "Ready", false)).unwrap();
        assert!(!ready.warning);
        let blocked = transition(
            Some(&progressing),
            &status("False", "SourceSecretMissing", false),
        )
        .unwrap();
        assert!(blocked.warning);
        let stalled =
            transition(Some(&progressing), &status("False", "InvalidSpec", true)).unwrap();
        assert!(stalled.warning);
        assert_eq!(stalled.reason, "InvalidSpec");
    }

    #[test]
    fn an_event_about_a_tenant_is_in_default_and_names_it() {
        let regarding = ObjectReference {
            api_version: Some("tenancy.municipio.io/v1alpha1".into()),
            kind: Some("MunicipalityTenant".into()),
            name: Some("modena".into()),
            uid: Some("u1".into()),
            ..ObjectReference::default()
        };
        let note = Note {
            warning: true,
            reason: "InvalidSpec".into(),
            action: "Reconcile",
            note: "spec.pagopa.ibans[0].iban: bad".into(),
        };
        let at = Timestamp::from_second(1).unwrap();
        let e = event(&regarding, &note, "default", Some("pod-1"), at);
        assert_eq!(e.metadata.namespace.as_deref(), Some("default"));
        assert!(e.metadata.name.unwrap().starts_with("modena."));
        assert_eq!(e.involved_object, regarding);
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(e.count, Some(1));
        assert_eq!(e.reporting_instance.as_deref(), Some("pod-1"));
    }
}
