//! `spec.quota`, and the bounds of every quantity.

use super::*;

// Upper bounds that no municipality needs; above them a value is a typo (16Pi for 16Gi).
pub(super) const MAX_CPU_CORES: f64 = 4096.0;
pub(super) const MAX_CPU_TEXT: &str = "4096 cores";
pub(super) const MAX_MEMORY_BYTES: f64 = 64.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0;
pub(super) const MAX_MEMORY_TEXT: &str = "64Ti";

pub(super) fn quota(
    p: &mut Problems,
    quota: Option<&crate::v1alpha1::Quota>,
    path: &FieldPath,
) -> Option<ValidQuota> {
    let Some(q) = quota else {
        return Some(ValidQuota::default());
    };
    let before = p.0.len();
    let cpu = bounded(
        p,
        path.child("cpu"),
        q.cpu.as_ref(),
        MAX_CPU_CORES,
        MAX_CPU_TEXT,
        true,
    );
    let memory = bounded(
        p,
        path.child("memory"),
        q.memory.as_ref(),
        MAX_MEMORY_BYTES,
        MAX_MEMORY_TEXT,
        true,
    );
    if let Some(pods) = q.pods
        && pods < 1
    {
        p.push(path.child("pods"), Problem::NotPositive);
    }
    (p.0.len() == before).then_some(ValidQuota {
        cpu,
        memory,
        pods: q.pods,
    })
}

/// Parses a quantity and checks it against an upper bound (and zero, for quotas).
pub(super) fn bounded(
    p: &mut Problems,
    path: FieldPath,
    value: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    max: f64,
    max_text: &'static str,
    positive: bool,
) -> Option<Quantity> {
    let q: Quantity = p.parse_opt(path.clone(), value.map(|v| v.0.as_str()))?;
    if positive && q.value() <= 0.0 {
        p.push(path, Problem::NotPositive);
    } else if q.value() > max {
        p.push(
            path,
            Problem::TooLarge {
                value: q.to_string(),
                max: max_text,
            },
        );
    }
    Some(q)
}
