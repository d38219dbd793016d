//! Status: what the reconcile found, as conditions with kstatus polarity (`Ready` true when
//! good; `Reconciling` and `Stalled` true when not). Pure and deterministic: the same outcome
//! and previous status give the same status, and a condition's `lastTransitionTime` moves only
//! when its status does, so an unchanged tenant is never written (and never re-triggered).

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use municipio_crds::MunicipalityTenant;
use serde_json::Value;
use tracing::warn;

use super::apply::Applied;
use super::{Context, events, tolerate_missing};
use crate::metrics::TenantConditions;
use crate::tenant_watch::Undecodable;

use municipio_crds::v1alpha1::{
    Connector, ConnectorStatus, IdentityKeyStatus, IdentityStatus, LoginMethod, WorkloadStatus,
};
use municipio_crds::{MunicipalityTenantStatus, ValidTenant};

use crate::children::metadata::object_name;
use crate::config::OperatorConfig;
use crate::connectors::identity::publish::Published;
use crate::connectors::identity::{federation, gateway, saml};

/// Where the tenant stands after a reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every child applied and every Deployment available.
    Ready,
    /// Applied; waiting for the cluster (Deployments rolling out).
    Progressing {
        reason: &'static str,
        message: String,
    },
    /// Cannot go on until something outside the spec changes (a source Secret appears); the
    /// operator retries by itself.
    Blocked {
        reason: &'static str,
        message: String,
    },
    /// Cannot go on until the spec (or a foreign object) changes: retrying would not help.
    Stalled {
        reason: &'static str,
        message: String,
    },
    /// `spec.suspend`: nothing written.
    Suspended,
}

/// What status describes besides the outcome.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    pub generation: Option<i64>,
    pub namespace: Option<String>,
    pub workloads: Vec<WorkloadStatus>,
    pub managed_objects: Option<i32>,
    pub connectors: Vec<ConnectorStatus>,
    /// Whether the cluster enforces the namespace's Pod Security level; `None`: not known
    /// this time (the previous condition stays).
    pub pod_security: Option<bool>,
}

/// The condition that tells whether the namespace's Pod Security level is enforced.
pub const POD_SECURITY: &str = "PodSecurityEnforced";
/// Its reason when it is not.
pub const POD_SECURITY_MISSING: &str = "PodSecurityAdmissionMissing";

/// What it means when Pod Security is not enforced, and what to do.
pub fn pod_security_missing(namespace: &str) -> String {
    format!(
        "the cluster does not enforce namespace {namespace}'s label pod-security.kubernetes.io/enforce=restricted: a privileged pod could run there and read the node, with every tenant's keys on it. Enable the PodSecurity admission plugin (on by default since Kubernetes 1.23)"
    )
}

pub fn status(
    previous: Option<&MunicipalityTenantStatus>,
    observed: Observed,
    outcome: &Outcome,
    now: &Time,
) -> MunicipalityTenantStatus {
    let (ready, reconciling, stalled) = match outcome {
        Outcome::Ready => (
            (
                "True",
                "Ready",
                "All objects applied and every workload available".to_owned(),
            ),
            ("False", "Ready", "Nothing in progress".to_owned()),
            ("False", "Ready", "Nothing blocks progress".to_owned()),
        ),
        Outcome::Progressing { reason, message } => (
            ("False", *reason, message.clone()),
            ("True", *reason, message.clone()),
            ("False", *reason, "Nothing blocks progress".to_owned()),
        ),
        Outcome::Blocked { reason, message } => (
            ("False", *reason, message.clone()),
            ("False", *reason, "Nothing in progress".to_owned()),
            (
                "False",
                *reason,
                "Not stalled: the operator retries by itself".to_owned(),
            ),
        ),
        Outcome::Stalled { reason, message } => (
            ("False", *reason, message.clone()),
            ("False", *reason, "Nothing in progress".to_owned()),
            ("True", *reason, message.clone()),
        ),
        Outcome::Suspended => {
            let message = "spec.suspend is true: the operator changes nothing".to_owned();
            (
                ("False", "Suspended", message.clone()),
                ("False", "Suspended", "Nothing in progress".to_owned()),
                ("False", "Suspended", "Nothing blocks progress".to_owned()),
            )
        }
    };
    let conditions = [
        ("Ready", ready),
        ("Reconciling", reconciling),
        ("Stalled", stalled),
    ]
    .into_iter()
    .map(|(type_, (status, reason, message))| {
        let before = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == type_));
        let last_transition_time = match before {
            Some(b) if b.status == status => b.last_transition_time.clone(),
            _ => now.clone(),
        };
        Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message,
            observed_generation: observed.generation,
            last_transition_time,
        }
    })
    .collect::<Vec<_>>();
    let mut conditions = conditions;
    let pod_security = match observed.pod_security {
        Some(true) => Some(Condition {
            type_: POD_SECURITY.to_owned(),
            status: "True".to_owned(),
            reason: "Enforced".to_owned(),
            message: "the cluster enforces the namespace's Pod Security level (restricted)"
                .to_owned(),
            observed_generation: observed.generation,
            last_transition_time: now.clone(),
        }),
        Some(false) => Some(Condition {
            type_: POD_SECURITY.to_owned(),
            status: "False".to_owned(),
            reason: POD_SECURITY_MISSING.to_owned(),
            message: pod_security_missing(observed.namespace.as_deref().unwrap_or_default()),
            observed_generation: observed.generation,
            last_transition_time: now.clone(),
        }),
        None => previous
            .and_then(|p| p.conditions.iter().find(|c| c.type_ == POD_SECURITY))
            .cloned(),
    };
    if let Some(mut condition) = pod_security {
        let before = previous.and_then(|p| p.conditions.iter().find(|c| c.type_ == POD_SECURITY));
        if let Some(before) = before.filter(|b| b.status == condition.status) {
            condition.last_transition_time = before.last_transition_time.clone();
        }
        condition.observed_generation = observed.generation;
        conditions.push(condition);
    }
    MunicipalityTenantStatus {
        observed_generation: observed.generation,
        // The namespace a tenant lives in never moves: a pass stopped before the claim (an
        // invalid spec, an unknown field) keeps it, for the next claim and for cleanup.
        namespace: observed
            .namespace
            .or_else(|| previous.and_then(|p| p.namespace.clone())),
        workloads: observed.workloads,
        managed_objects: observed.managed_objects,
        connectors: observed.connectors,
        conditions,
    }
}

/// What the enabled connectors were configured with, for status: endpoint, objects, how many
/// keys and from which source Secrets, and what identity published. Names only, never a value.
pub fn connectors(
    tenant: &ValidTenant,
    config: &OperatorConfig,
    published: Option<&Published>,
) -> Vec<ConnectorStatus> {
    let refs = crate::connectors::key_refs(tenant);
    crate::connectors::enabled(tenant)
        .map(|name| {
            let keys: Vec<_> = refs.iter().filter(|r| r.connector == name).collect();
            let sources: BTreeSet<&str> = keys.iter().map(|r| r.secret.as_str()).collect();
            ConnectorStatus {
                name,
                endpoint: crate::connectors::endpoint(config, name, tenant.environment).to_owned(),
                config_map: object_name(name),
                secret: object_name(name),
                keys: i32::try_from(keys.len()).unwrap_or(i32::MAX),
                source_secrets: sources.into_iter().map(str::to_owned).collect(),
                keys_version: None,
                io: None,
                identity: published
                    .filter(|_| name == Connector::Identity)
                    .map(|p| identity_status(tenant, config, p)),
            }
        })
        .collect()
}

/// What identity published, and what is left to do outside the cluster.
fn identity_status(
    tenant: &ValidTenant,
    config: &OperatorConfig,
    published: &Published,
) -> IdentityStatus {
    let identity = tenant.identity.as_ref().expect("published for identity");
    let gateway = config.platform(Connector::Identity).url(tenant.environment);
    let keys = &published.artifacts.keys;
    let pending = identity
        .methods
        .iter()
        .filter(|m| **m != LoginMethod::Cns && !identity.onboarded.contains(m))
        .map(|m| match m {
            LoginMethod::Spid => "spid: federation onboarding with AgID (the SAML metadata and the entity configuration, through the region as aggregator); record it in spec.identity.onboarded once accepted".to_owned(),
            _ => "cie: federation onboarding with the Ministry of the Interior (CIE id); record it in spec.identity.onboarded once accepted".to_owned(),
        })
        .collect();
    IdentityStatus {
        artifacts: format!(
            "{}/{}",
            config.identity.gateway_namespace,
            gateway::object_name(tenant.name.as_str())
        ),
        entity_id: saml::entity_id(gateway, &identity.ipa_code),
        client_id: federation::client_id(gateway, &identity.ipa_code),
        keys: keys
            .iter()
            .enumerate()
            .map(|(i, k)| IdentityKeyStatus {
                purpose: k.purpose.name().to_owned(),
                kid: k.kid.clone(),
                current: keys[..i].iter().all(|o| o.purpose != k.purpose),
                expires: gateway::rfc3339(k.expires),
            })
            .collect(),
        next_rotation: Some(gateway::rfc3339(published.next_change)),
        pending,
    }
}

/// The outcome of a pipeline that applied everything: Ready once every Deployment is
/// available (and, with `--require-pod-security`, Pod Security is enforced); records the
/// workloads and the objects applied.
pub fn outcome(
    applied: &Applied,
    observed: &mut Observed,
    valid: &ValidTenant,
    require_pod_security: bool,
) -> Outcome {
    observed.managed_objects = i32::try_from(applied.objects).ok();
    observed.workloads = applied.deployments.iter().map(workload_status).collect();
    let waiting: Vec<String> = applied
        .deployments
        .iter()
        .filter(|d| !available(d))
        .map(|d| d.name_any())
        .collect();
    if require_pod_security && observed.pod_security != Some(true) {
        // Not known yet counts as not enforced: the flag asks for proof.
        let why = match observed.pod_security {
            Some(_) => pod_security_missing(valid.namespace.as_str()),
            None => "whether the cluster enforces Pod Security could not be told yet".to_owned(),
        };
        Outcome::Blocked {
            reason: POD_SECURITY_MISSING,
            message: format!("{why} (and --require-pod-security is set)"),
        }
    } else if waiting.is_empty() {
        Outcome::Ready
    } else {
        Outcome::Progressing {
            reason: "WorkloadsProgressing",
            message: format!("waiting for Deployments: {}", waiting.join(", ")),
        }
    }
}

fn workload_status(d: &Deployment) -> WorkloadStatus {
    let status = d.status.clone().unwrap_or_default();
    WorkloadStatus {
        name: d.name_any(),
        replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        available: status.available_replicas.unwrap_or(0),
    }
}

/// Available for the current generation: the Deployment controller has seen this spec, every
/// replica runs it, and every one is available.
fn available(d: &Deployment) -> bool {
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(s) = &d.status else { return false };
    s.observed_generation >= d.metadata.generation
        && s.updated_replicas.unwrap_or(0) == wanted
        && s.available_replicas.unwrap_or(0) == wanted
        && s.replicas.unwrap_or(0) == wanted
}

/// The status could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing the status: {source}")]
pub struct StatusError {
    #[source]
    pub source: kube::Error,
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Writes the status for `outcome` unless it is what is there already, and records an event
/// when the `Ready` condition moved. The event is recorded even when the write fails: an API
/// server without validation ratcheting refuses any write to a tenant stored under an older
/// schema, and then the event is all that tells.
pub async fn write(
    ctx: &Context,
    regarding: &ObjectReference,
    cached: Option<&Value>,
    observed: Observed,
    outcome: &Outcome,
) -> Result<(), StatusError> {
    let at = now();
    let decode = |raw: Option<&Value>| {
        raw.and_then(|s| serde_json::from_value::<MunicipalityTenantStatus>(s.clone()).ok())
    };
    let name = regarding.name.clone().unwrap_or_default();
    let uid = regarding.uid.clone().unwrap_or_default();
    // The leader is the only writer of status, and a process that loses the Lease ends: its
    // own last write is the newest status. The cached tenant may not show it yet (a reconcile
    // queued behind the one that wrote starts before that write's watch event arrives); from
    // it, the same status would be written and announced twice.
    let cached_status = decode(cached);
    let (previous, previous_raw) = match ctx.last_status(&name, &uid) {
        // Once the cache has caught up, the copy is not needed (nor kept: memory).
        Some(written) if cached_status.as_ref() != Some(&written) => {
            let raw = serde_json::to_value(&written).ok();
            (Some(written), raw)
        }
        Some(_) => {
            ctx.forget_status(&name);
            (cached_status, cached.cloned())
        }
        None => (cached_status, cached.cloned()),
    };
    let new = status(previous.as_ref(), observed, outcome, &at);
    if previous.as_ref() == Some(&new) {
        return Ok(());
    }
    // A raw object, since the answer for an undecodable tenant would not decode either.
    let api: Api<DynamicObject> = Api::all_with(
        ctx.client.clone(),
        &ApiResource::erase::<MunicipalityTenant>(&()),
    );
    // A merge patch: the operator is the only writer of status and replaces it whole. (Server-
    // side apply of this kind runs without a schema on Kubernetes 1.20, which mangles it.)
    let patch = status_patch(previous_raw.as_ref(), &new);
    let written = tolerate_missing(
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await,
    );
    match &written {
        Ok(None) => return Ok(()), // Gone: nothing to tell.
        Ok(Some(_)) => ctx.status_written(&name, &uid, new.clone()),
        Err(_) => {}
    }
    if let Some(note) = events::transition(previous.as_ref(), &new) {
        ctx.events.publish(regarding, note).await;
    }
    written.map(|_| ()).map_err(|source| StatusError { source })
}

/// The merge patch that turns the status `previous` into `new`: a field `new` leaves out (an
/// empty list, say) is sent as null, or the merge would keep its old value.
fn status_patch(previous: Option<&Value>, new: &MunicipalityTenantStatus) -> Value {
    let mut status =
        serde_json::to_value(new).unwrap_or_else(|_| Value::Object(Default::default()));
    if let (Some(Value::Object(before)), Value::Object(after)) = (previous, &mut status) {
        for field in before.keys() {
            after.entry(field.clone()).or_insert(Value::Null);
        }
    }
    serde_json::json!({ "status": status })
}

/// Explains, on the tenant itself, why the operator cannot read it: status `Stalled` and a
/// Warning event. Nothing else is done for it until it is fixed.
pub async fn report_undecodable(ctx: Arc<Context>, undecodable: Undecodable) {
    let error = undecodable.message();
    let name = undecodable.object.name_any();
    warn!(tenant = %name, %error, "tenant cannot be decoded; skipped");
    let observed = Observed {
        generation: undecodable.object.metadata.generation,
        ..Observed::default()
    };
    // A field the operator does not know could change what the tenant means (a misspelt
    // deletionPolicy), so nothing is done for it, deletion included, until it is corrected.
    let outcome = if undecodable.only_unknown_fields() {
        Outcome::Stalled {
            reason: "UnknownField",
            message: format!(
                "the operator does not know these fields, so it leaves the tenant as it is (and keeps it from being deleted) until they are corrected or removed: {error}"
            ),
        }
    } else {
        Outcome::Stalled {
            reason: "UndecodableSpec",
            message: format!(
                "the operator cannot read this tenant: {error}; it was probably stored under an older schema: correct the field to match the installed CRD"
            ),
        }
    };
    let object = undecodable.object;
    let regarding = object.object_ref(&ApiResource::erase::<MunicipalityTenant>(&()));
    ctx.metrics.tenant(
        &name,
        Some(TenantConditions {
            stalled: true,
            ..TenantConditions::default()
        }),
    );
    let cached = object.data.get("status");
    if let Err(e) = write(&ctx, &regarding, cached, observed, &outcome).await {
        warn!(tenant = %name, error = %e, "could not write the status of an undecodable tenant");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;
    use municipio_crds::v1alpha1::Connector;

    fn at(s: i64) -> Time {
        Time(Timestamp::from_second(s).unwrap())
    }

    fn observed(generation: i64) -> Observed {
        Observed {
            generation: Some(generation),
            namespace: Some("comune-x".into()),
            ..Observed::default()
        }
    }

    fn condition<'a>(s: &'a MunicipalityTenantStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    #[test]
    fn ready_is_written_on_the_first_pass_with_kstatus_polarity() {
        let progressing = Outcome::Progressing {
            reason: "Progressing",
            message: "waiting for portale".into(),
        };
        let s = status(None, observed(1), &progressing, &at(10));
        assert_eq!(condition(&s, "Ready").status, "False");
        assert_eq!(condition(&s, "Reconciling").status, "True");
        assert_eq!(condition(&s, "Stalled").status, "False");
        assert!(
            s.conditions
                .iter()
                .all(|c| c.observed_generation == Some(1))
        );
        let s = status(
            None,
            observed(1),
            &Outcome::Stalled {
                reason: "InvalidSpec",
                message: "spec.x: bad".into(),
            },
            &at(10),
        );
        assert_eq!(
            (
                condition(&s, "Ready").status.as_str(),
                condition(&s, "Stalled").status.as_str()
            ),
            ("False", "True")
        );
        assert_eq!(condition(&s, "Stalled").message, "spec.x: bad");
    }

    #[test]
    fn an_unchanged_outcome_gives_an_identical_status() {
        let first = status(None, observed(1), &Outcome::Ready, &at(10));
        let again = status(Some(&first), observed(1), &Outcome::Ready, &at(99));
        assert_eq!(first, again, "no write, no new transition time");
    }

    #[test]
    fn transition_times_move_only_with_the_status() {
        let progressing = Outcome::Progressing {
            reason: "Progressing",
            message: "a".into(),
        };
        let first = status(None, observed(1), &progressing, &at(10));
        let other_message = Outcome::Progressing {
            reason: "Progressing",
            message: "b".into(),
        };
        let second = status(Some(&first), observed(1), &other_message, &at(20));
        assert_eq!(condition(&second, "Ready").last_transition_time, at(10));
        let third = status(Some(&second), observed(2), &Outcome::Ready, &at(30));
        assert_eq!(condition(&third, "Ready").last_transition_time, at(30));
        assert_eq!(condition(&third, "Stalled").last_transition_time, at(10));
        assert_eq!(third.observed_generation, Some(2));
    }

    #[test]
    fn pod_security_is_a_condition_of_its_own_that_an_unknown_answer_keeps() {
        let without = status(None, observed(1), &Outcome::Ready, &at(10));
        assert!(!without.conditions.iter().any(|c| c.type_ == POD_SECURITY));
        let missing = Observed {
            pod_security: Some(false),
            ..observed(1)
        };
        let first = status(None, missing.clone(), &Outcome::Ready, &at(10));
        let c = condition(&first, POD_SECURITY);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", POD_SECURITY_MISSING)
        );
        assert!(c.message.contains("namespace comune-x"), "{}", c.message);
        assert_eq!(
            condition(&first, "Ready").status,
            "True",
            "Ready is the operator's part"
        );
        // Not probed this time: the condition stays as it was, and nothing is written.
        let unknown = status(Some(&first), observed(1), &Outcome::Ready, &at(20));
        assert_eq!(unknown, first);
        let again = status(Some(&first), missing, &Outcome::Ready, &at(30));
        assert_eq!(again, first, "no new transition time");
        let enforced = Observed {
            pod_security: Some(true),
            ..observed(2)
        };
        let later = status(Some(&first), enforced, &Outcome::Ready, &at(40));
        let c = condition(&later, POD_SECURITY);
        assert_eq!(
            (c.status.as_str(), c.last_transition_time.clone()),
            ("True", at(40))
        );
        assert_eq!(c.observed_generation, Some(2));
    }

    #[test]
    fn connectors_are_summarised_by_name_never_by_value() {
        let tenant: municipio_crds::MunicipalityTenant =
            serde_yaml_ng::from_str(include_str!("../../../examples/modena.yaml")).unwrap();
        let valid = municipio_crds::validate(&tenant).unwrap();
        let config = OperatorConfig::defaults();
        let summary = connectors(&valid, &config, None);
        let names: Vec<_> = summary.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [Connector::Pagopa, Connector::Io, Connector::Identity]
        );
        let pagopa = &summary[0];
        assert_eq!(pagopa.keys, 2, "primary and secondary subscription key");
        assert_eq!(pagopa.source_secrets, ["modena-pagopa"]);
        assert_eq!(pagopa.config_map, "pagopa-connector");
        assert_eq!(
            pagopa.endpoint,
            config.platform(Connector::Pagopa).url(valid.environment)
        );
        let io = &summary[1];
        assert_eq!(io.keys, 4, "one API key per service");
        assert_eq!(io.source_secrets, ["modena-io"], "one source, named once");
    }

    #[test]
    fn a_status_field_left_out_is_cleared() {
        let previous = serde_json::json!({
            "observedGeneration": 1,
            "workloads": [{ "name": "portale", "replicas": 1, "available": 1 }],
            "connectors": [],
        });
        let new = MunicipalityTenantStatus {
            observed_generation: Some(2),
            ..Default::default()
        };
        let patch = status_patch(Some(&previous), &new);
        assert_eq!(
            patch,
            serde_json::json!({ "status": {
                "observedGeneration": 2,
                "workloads": null,
                "connectors": null,
            }})
        );
    }
}
