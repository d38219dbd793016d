//! Whether the cluster enforces the Pod Security level the operator labels every tenant
//! namespace with (`pod-security.kubernetes.io/enforce: restricted`). The label does nothing
//! where Pod Security admission is absent (Kubernetes 1.20-1.22, or the plugin disabled): a
//! privileged pod with the node's filesystem would run, and with it every tenant's keys on that
//! node would be readable.
//!
//! The probe: a server-side dry run of a change to a tenant namespace that sets
//! `pod-security.kubernetes.io/enforce-version` to a value that is not a version. Pod Security
//! admission refuses such a label (it validates its labels on every namespace update); without
//! it the dry run is accepted. A dry run persists nothing, and it needs no right the operator
//! does not already have (it patches namespaces): no pod is ever created, not even in a dry
//! run. It is a property of the cluster, so one probe serves every tenant for an hour.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use tracing::{info, warn};

/// How long a probe's answer holds.
const FRESH_FOR: Duration = Duration::from_secs(3600);
/// How long a probe that could not tell is not tried again (every reconcile would wait on it).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// The label value Pod Security admission refuses.
const NOT_A_VERSION: &str = "municipio-probe";

/// What the probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    Enforced,
    NotEnforced,
}

/// The last answer, shared by every reconcile.
#[derive(Default)]
pub struct PodSecurity {
    last: tokio::sync::Mutex<Probed>,
}

#[derive(Default)]
struct Probed {
    /// The last answer the probe gave, and when.
    answer: Option<(Instant, Enforcement)>,
    /// When the probe last failed to tell: not tried again for a while.
    failed: Option<Instant>,
}

impl PodSecurity {
    /// Whether Pod Security is enforced, probed in `namespace` (a tenant namespace) unless a
    /// recent answer is known. A probe that cannot tell (an API error) leaves the last answer
    /// in force; `None` until the probe has once answered.
    pub async fn enforcement(&self, client: &Client, namespace: &str) -> Option<Enforcement> {
        // Held across the probe: the reconciles running meanwhile wait for its answer rather
        // than probing too.
        let mut last = self.last.lock().await;
        let known = last.answer.map(|(_, e)| e);
        let fresh = last.answer.is_some_and(|(at, _)| at.elapsed() < FRESH_FOR);
        let failed_lately = last
            .failed
            .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE);
        if fresh || failed_lately {
            return known;
        }
        let Some(enforcement) = probe(client, namespace).await else {
            last.failed = Some(Instant::now());
            return known;
        };
        if known != Some(enforcement) {
            match enforcement {
                Enforcement::Enforced => {
                    info!("Pod Security admission enforces tenant namespaces' level")
                }
                Enforcement::NotEnforced => warn!(
                    "Pod Security admission is absent: the pod-security.kubernetes.io/enforce label of tenant namespaces is not enforced"
                ),
            }
        }
        *last = Probed {
            answer: Some((Instant::now(), enforcement)),
            failed: None,
        };
        Some(enforcement)
    }
}

async fn probe(client: &Client, namespace: &str) -> Option<Enforcement> {
    let api: Api<Namespace> = Api::all(client.clone());
    let patch = serde_json::json!({"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce-version": NOT_A_VERSION
    }}});
    let params = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    answer(
        api.patch(namespace, &params, &Patch::Merge(&patch))
            .await
            .map(|_| ()),
    )
}

/// What an answer to the probe says.
fn answer(result: Result<(), kube::Error>) -> Option<Enforcement> {
    match result {
        Ok(()) => Some(Enforcement::NotEnforced),
        // Pod Security admission names the label and the value it refuses; another
        // admission that protects the label would not echo the probe's value.
        Err(kube::Error::Api(status))
            if status.code == 422
                && status
                    .message
                    .contains("pod-security.kubernetes.io/enforce-version")
                && status.message.contains(NOT_A_VERSION) =>
        {
            Some(Enforcement::Enforced)
        }
        Err(error) => {
            warn!(%error, "could not tell whether Pod Security is enforced");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn refusal(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(
            serde_json::from_value::<Status>(serde_json::json!({
                "status": "Failure", "message": message, "reason": "Invalid", "code": code
            }))
            .unwrap()
            .into(),
        )
    }

    #[test]
    fn a_refused_label_means_enforced_an_accepted_one_not() {
        assert_eq!(answer(Ok(())), Some(Enforcement::NotEnforced));
        let psa = r#"namespaces "comune-modena" is invalid: metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "municipio-probe": must be "latest" or "v1.x""#;
        assert_eq!(answer(Err(refusal(422, psa))), Some(Enforcement::Enforced));
        // Anything else tells nothing.
        assert_eq!(answer(Err(refusal(422, "another webhook said no"))), None);
        let policy =
            "pod-security.kubernetes.io/enforce-version: only the platform team may set it";
        assert_eq!(answer(Err(refusal(422, policy))), None);
        assert_eq!(answer(Err(refusal(503, psa))), None);
    }
}
