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
    last: tokio::sync::Mutex<Option<(Instant, Enforcement)>>,
}

impl PodSecurity {
    /// Whether Pod Security is enforced, probed in `namespace` (a tenant namespace) unless a
    /// recent answer is known. `None` when the probe could not tell (an API error).
    pub async fn enforcement(&self, client: &Client, namespace: &str) -> Option<Enforcement> {
        // Held across the probe: the reconciles running meanwhile wait for its answer rather
        // than probing too.
        let mut last = self.last.lock().await;
        if let Some((at, enforcement)) = *last
            && at.elapsed() < FRESH_FOR
        {
            return Some(enforcement);
        }
        let enforcement = probe(client, namespace).await?;
        if last.is_none_or(|(_, before)| before != enforcement) {
            match enforcement {
                Enforcement::Enforced => {
                    info!("Pod Security admission enforces tenant namespaces' level")
                }
                Enforcement::NotEnforced => warn!(
                    "Pod Security admission is absent: the pod-security.kubernetes.io/enforce label of tenant namespaces is not enforced"
                ),
            }
        }
        *last = Some((Instant::now(), enforcement));
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
        Err(kube::Error::Api(status))
            if status.code == 422 && status.message.contains("pod-security.kubernetes.io") =>
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
        assert_eq!(answer(Err(refusal(503, psa))), None);
    }
}
