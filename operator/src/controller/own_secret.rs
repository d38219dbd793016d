//! The Secrets the operator makes for a tenant in its own namespace (the identity keys, the IO
//! services' record and keys): created, or patched from the version read, never overwritten.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::children::Owner;
use crate::labels::RETAINED_LABEL;

/// What a write puts in the Secret: all of its entries, its labels and annotations.
pub struct OwnSecret<'a> {
    pub owner: &'a Owner,
    pub labels: BTreeMap<&'a str, &'a str>,
    pub annotations: BTreeMap<&'a str, String>,
    pub data: BTreeMap<String, Vec<u8>>,
}

/// Creates the Secret, or patches the one read: a merge patch carrying the version read, so
/// what someone else wrote meanwhile is never overwritten (the conflict fails this write, and
/// the next pass reads it), and naming each entry no longer in `data`, so it is removed (a
/// server-side apply would keep what another manager's create set). A Secret a deleted tenant
/// retained is taken back. (Patch and create are the verbs the operator has on Secrets.)
pub async fn write(
    api: &Api<Secret>,
    name: &str,
    stored: Option<&Secret>,
    own: &OwnSecret<'_>,
) -> Result<Secret, kube::Error> {
    let mut data: BTreeMap<String, Value> = own
        .data
        .iter()
        .map(|(k, v)| (k.clone(), json!(ByteString(v.clone()))))
        .collect();
    for gone in stored.iter().flat_map(|s| s.data.iter().flatten()) {
        data.entry(gone.0.clone()).or_insert(Value::Null);
    }
    match stored {
        None => {
            let secret = json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": name,
                    "labels": own.labels,
                    "annotations": own.annotations,
                    "ownerReferences": [own.owner.reference()],
                },
                "type": "Opaque",
                "data": data,
            });
            let secret: Secret = serde_json::from_value(secret).expect("a Secret");
            api.create(&PostParams::default(), &secret).await
        }
        Some(stored) => {
            let mut labels = json!(own.labels);
            labels[RETAINED_LABEL] = Value::Null;
            let patch = json!({
                "metadata": {
                    "resourceVersion": stored.resource_version(),
                    "labels": labels,
                    "annotations": own.annotations,
                    "ownerReferences": [own.owner.reference()],
                },
                "data": data,
            });
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
        }
    }
}
