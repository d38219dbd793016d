//! `spec.network`: who may reach the tenant's workloads.

use super::*;

/// Set on every namespace by the API server (Kubernetes 1.21 and later): requiring it narrows
/// nothing.
pub(super) const EVERY_NAMESPACE_LABEL: &str = "kubernetes.io/metadata.name";

pub(super) fn check_selector(p: &mut Problems, selector: &LabelSelector, path: &FieldPath) {
    let labels = selector.match_labels.clone().unwrap_or_default();
    for (key, value) in &labels {
        if let Err(e) = check_label_key(key).and_then(|()| check_label_value(value)) {
            p.push(path.child("matchLabels"), e);
        }
    }
    let expressions = selector.match_expressions.clone().unwrap_or_default();
    let mut positive = !labels.is_empty();
    let mut universal = false;
    for (i, e) in expressions.iter().enumerate() {
        let at = path.child("matchExpressions").index(i);
        if let Err(err) = check_label_key(&e.key) {
            p.push(at.child("key"), err);
        }
        let values = e.values.clone().unwrap_or_default();
        for v in &values {
            if let Err(err) = check_label_value(v) {
                p.push(at.child("values"), err);
            }
        }
        match (e.operator.as_str(), values.is_empty()) {
            ("Exists", true) if e.key == EVERY_NAMESPACE_LABEL => universal = true,
            ("In", false) | ("Exists", true) => positive = true,
            ("NotIn", false) | ("DoesNotExist", true) => {}
            ("In" | "NotIn", true) => p.push(
                at.child("values"),
                Problem::Required("for operator In and NotIn"),
            ),
            ("Exists" | "DoesNotExist", false) => p.push(
                at.child("values"),
                Problem::Forbidden("operators Exists and DoesNotExist take no values"),
            ),
            (other, _) => p.push(
                at.child("operator"),
                Problem::invalid(
                    "LabelSelector",
                    format!("{other:?} is not one of In, NotIn, Exists, DoesNotExist"),
                ),
            ),
        }
    }
    if !positive {
        let why = if labels.is_empty() && expressions.is_empty() {
            " (it is empty)"
        } else if universal {
            " (every namespace has the label kubernetes.io/metadata.name)"
        } else {
            " (it only excludes)"
        };
        p.push(path.clone(), Problem::OpenSelector(why));
    }
}
