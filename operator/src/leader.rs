//! Leader election through a `coordination.k8s.io/v1` Lease in the operator namespace: of the
//! replicas, only the holder runs the controller (every replica serves the webhook, metrics
//! and probes).
//!
//! The algorithm is client-go's: a Lease whose record has not changed, as seen by this
//! replica's own clock, for its duration is free to take; every write carries the
//! resourceVersion read, so two replicas cannot both take it. The holder renews every
//! [`RETRY`]; when it cannot renew for [`RENEW_DEADLINE`] it stops (the process exits and
//! restarts as a standby) before anyone else may take the Lease. No published crate does this
//! for kube 5 (kube-leader-election and kubert are on older kube), hence this module.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};
use tracing::{info, warn};

use crate::health::Health;
use crate::metrics::Metrics;

/// How long a Lease not renewed stays taken (client-go's default).
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long the holder keeps trying to renew before it gives up leading.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often the holder renews, and a standby looks.
pub const RETRY: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("lost the Lease {0}: not renewed for {RENEW_DEADLINE:?}")]
    Lost(String),
}

/// Which Lease, and who this replica is.
#[derive(Debug, Clone)]
pub struct Settings {
    pub namespace: String,
    pub name: String,
    /// Unique per process: the pod name and a process-unique suffix.
    pub identity: String,
}

impl Settings {
    /// The Lease of the controllers that manage the tenants of `selector`: replicas of one
    /// shard share it, different shards do not.
    pub fn lease_name(selector: Option<&str>) -> String {
        match selector {
            None => "municipio-controller".to_owned(),
            Some(s) => {
                use sha2::{Digest, Sha256};
                let digest = Sha256::digest(s.as_bytes());
                let short: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
                format!("municipio-controller-{short}")
            }
        }
    }

    /// `instance` (the pod's name) made unique to this process, as client-go does.
    pub fn identity_of(instance: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!("{instance}_{:x}{:x}", std::process::id(), nanos)
    }
}

/// The Lease record as last seen, and when this replica saw it change.
struct Observed {
    record: Option<(Option<String>, Option<MicroTime>)>,
    at: Instant,
}

/// Waits for the Lease, runs `work` while holding it, and releases it when `work` ends.
/// Returns an error, without waiting for `work`, when leadership is lost.
pub async fn lead<W>(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    work: W,
) -> Result<(), Error>
where
    W: Future<Output = ()>,
{
    let api: Api<Lease> = Api::namespaced(client, &settings.namespace);
    let mut observed = Observed {
        record: None,
        at: Instant::now(),
    };
    info!(lease = %settings.name, identity = %settings.identity, "waiting to lead");
    loop {
        match tokio::time::timeout(RENEW_DEADLINE, try_hold(&api, &settings, &mut observed)).await {
            Ok(Ok(true)) => break,
            Ok(Ok(false)) => {}
            Ok(Err(error)) => {
                warn!(%error, lease = %settings.name, "cannot read or take the Lease")
            }
            Err(_) => warn!(lease = %settings.name, "reading or taking the Lease timed out"),
        }
        tokio::time::sleep(RETRY).await;
    }
    info!(lease = %settings.name, identity = %settings.identity, "leading: the controller starts");
    metrics.set_leader(true);
    health.leading();

    let renew = async {
        // When the last successful renewal was sent: a standby may take the Lease
        // LEASE_DURATION after it last saw the record change, so leading must stop well before.
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(RETRY).await;
            let sent = Instant::now();
            // A request to an API server that went away may hang for minutes: no answer within
            // the deadline is as good as a refusal.
            let left = RENEW_DEADLINE.saturating_sub(renewed.elapsed());
            match tokio::time::timeout(left, try_hold(&api, &settings, &mut observed)).await {
                Ok(Ok(true)) => renewed = sent,
                Ok(Ok(false)) => return Error::Lost(settings.name.clone()),
                Ok(Err(error)) => warn!(%error, lease = %settings.name, "cannot renew the Lease"),
                Err(_) => warn!(lease = %settings.name, "renewing the Lease timed out"),
            }
            if renewed.elapsed() > RENEW_DEADLINE {
                return Error::Lost(settings.name.clone());
            }
        }
    };
    tokio::select! {
        () = work => {
            metrics.set_leader(false);
            // Bounded: a shutdown must not hang on an API server that went away.
            if tokio::time::timeout(RETRY, release(&api, &settings))
                .await
                .is_err()
            {
                warn!(
                    lease = %settings.name,
                    "releasing the Lease timed out: a successor takes it once it expires"
                );
            }
            Ok(())
        }
        lost = renew => {
            metrics.set_leader(false);
            Err(lost)
        }
    }
}

/// Takes or renews the Lease if it is free or ours; `false` when another replica holds it
/// (or won a race for it).
async fn try_hold(
    api: &Api<Lease>,
    settings: &Settings,
    observed: &mut Observed,
) -> Result<bool, kube::Error> {
    let now = MicroTime(Timestamp::now());
    let duration_seconds = i32::try_from(LEASE_DURATION.as_secs()).unwrap_or(15);
    let Some(lease) = api.get_opt(&settings.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(settings.name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(settings.identity.clone()),
                lease_duration_seconds: Some(duration_seconds),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let record = (spec.holder_identity.clone(), spec.renew_time.clone());
    if observed.record.as_ref() != Some(&record) {
        observed.record = Some(record);
        observed.at = Instant::now();
    }
    let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
    let ours = holder == Some(settings.identity.as_str());
    let their_duration = spec
        .lease_duration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .map_or(LEASE_DURATION, Duration::from_secs);
    if holder.is_some() && !ours && observed.at.elapsed() < their_duration {
        return Ok(false);
    }
    let taken = Lease {
        metadata: ObjectMeta {
            name: Some(settings.name.clone()),
            resource_version: lease.resource_version(),
            ..lease.metadata.clone()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(settings.identity.clone()),
            lease_duration_seconds: Some(duration_seconds),
            acquire_time: if ours {
                spec.acquire_time.clone()
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            // As client-go: every change of holder, from a released Lease too.
            lease_transitions: Some(spec.lease_transitions.unwrap_or(0) + i32::from(!ours)),
            ..spec
        }),
    };
    match api
        .replace(&settings.name, &PostParams::default(), &taken)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Gives the Lease up on a graceful stop, so a standby takes over at once rather than after
/// the Lease duration.
async fn release(api: &Api<Lease>, settings: &Settings) {
    let Ok(Some(lease)) = api.get_opt(&settings.name).await else {
        return;
    };
    let Some(mut spec) = lease.spec.clone() else {
        return;
    };
    if spec.holder_identity.as_deref() != Some(settings.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    let released = Lease {
        spec: Some(spec),
        ..lease
    };
    match api
        .replace(&settings.name, &PostParams::default(), &released)
        .await
    {
        Ok(_) => info!(lease = %settings.name, "Lease released"),
        Err(error) => warn!(%error, lease = %settings.name, "could not release the Lease"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_have_their_own_lease() {
        assert_eq!(Settings::lease_name(None), "municipio-controller");
        let north = Settings::lease_name(Some("shard=north"));
        assert_ne!(north, Settings::lease_name(Some("shard=south")));
        assert_eq!(north, Settings::lease_name(Some("shard=north")));
        assert!(north.len() <= 63);
    }

    #[test]
    fn identities_are_unique_per_process_start() {
        let a = Settings::identity_of("municipio-0");
        assert!(a.starts_with("municipio-0_"));
    }
}
