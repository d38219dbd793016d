//! What the operator owns on the objects it manages, and what other parties may set on them:
//! one policy for the controller (which removes what others add, see
//! `controller::foreign`) and the webhook (which refuses it at admission).
//!
//! Others may set:
//! - `status`, written by Kubernetes' own controllers;
//! - labels and annotations, of the object or of a pod template, other than the operator's
//!   own (`app.kubernetes.io/managed-by`, `*tenancy.municipio.io/*`,
//!   `pod-security.kubernetes.io/*`): other tools' marks, a Deployment's revision,
//!   `kubectl rollout restart`;
//! - `spec.replicas`, left to an autoscaler when the tenant does not set it.
//!
//! Everything else on a managed object is the operator's.

use crate::labels::operators_own;

/// Whether a field at `path` (field names from the root, `[]` for a list item) is one other
/// parties may set.
pub fn left_to_others(path: &[String]) -> bool {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match path.as_slice() {
        ["status", ..] => true,
        ["spec", "replicas"] => true,
        [.., "metadata", "labels" | "annotations", key] => !operators_own(key),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operators_own_marks_are_never_left_to_others() {
        for key in [
            "app.kubernetes.io/managed-by",
            "tenancy.municipio.io/tenant",
            "connector.tenancy.municipio.io/pagopa",
            "pod-security.kubernetes.io/enforce",
        ] {
            assert!(operators_own(key), "{key}");
        }
        for key in [
            "app.kubernetes.io/name",
            "example.org/x",
            "kubectl.kubernetes.io/restartedAt",
        ] {
            assert!(!operators_own(key), "{key}");
        }
    }

    #[test]
    fn status_replicas_and_others_marks_are_left_to_others() {
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(left_to_others(&path(&["status", "replicas"])));
        assert!(left_to_others(&path(&["spec", "replicas"])));
        assert!(left_to_others(&path(&[
            "spec",
            "template",
            "metadata",
            "annotations",
            "kubectl.kubernetes.io/restartedAt"
        ])));
        assert!(!left_to_others(&path(&[
            "metadata",
            "labels",
            "tenancy.municipio.io/tenant"
        ])));
        assert!(!left_to_others(&path(&[
            "spec",
            "template",
            "spec",
            "hostNetwork"
        ])));
        assert!(!left_to_others(&path(&["metadata", "ownerReferences"])));
    }
}
