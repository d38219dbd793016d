//! The connectors' keys: one Secret per enabled connector in the tenant namespace, with the
//! values read beforehand from the source Secrets bound to this tenant in the operator's
//! namespace.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use municipio_crds::ValidTenant;
use municipio_crds::v1alpha1::Connector;

use super::metadata::{Owner, child_meta};
use super::metadata::{digest, object_name};
use crate::dereference::{ConnectorKeys, SecretValue};
use crate::labels::APPLIED_HASH_ANNOTATION;

/// The Secrets of the enabled connectors, in `Connector::ALL`'s order, each with the keys
/// found for it (the controller reports a key not found before applying anything).
pub fn connectors(tenant: &ValidTenant, owner: &Owner, keys: &ConnectorKeys) -> Vec<Secret> {
    crate::connectors::enabled(tenant)
        .map(|c| secret(tenant, owner, c, keys.of(c)))
        .collect()
}

/// What identifies the keys in `secret` without revealing them: the Secret as built with its
/// values (and their digest) left out but the keys' names kept, and the identity and version
/// of each source Secret the values come from. It changes whenever a key or a value may have.
pub fn keys_version(secret: &Secret, sources: &[&Secret]) -> String {
    let mut layout = secret.clone();
    if let Some(data) = layout.data.as_mut() {
        data.values_mut().for_each(|v| v.0.clear());
    }
    if let Some(a) = layout.metadata.annotations.as_mut() {
        a.remove(APPLIED_HASH_ANNOTATION);
    }
    let mut parts = vec![serde_json::to_vec(&layout).unwrap_or_default()];
    for source in sources {
        let meta = &source.metadata;
        for field in [
            &meta.namespace,
            &meta.name,
            &meta.uid,
            &meta.resource_version,
        ] {
            parts.push(field.clone().unwrap_or_default().into_bytes());
            parts.push(vec![0]);
        }
    }
    digest(parts.iter().map(Vec::as_slice))
}

fn secret(
    tenant: &ValidTenant,
    owner: &Owner,
    connector: Connector,
    data: BTreeMap<String, SecretValue>,
) -> Secret {
    Secret {
        metadata: child_meta(
            owner,
            &object_name(connector),
            Some(tenant.namespace.as_str()),
        ),
        type_: Some("Opaque".to_owned()),
        data: Some(
            data.into_iter()
                .map(|(k, v)| (k, ByteString(v.0)))
                .collect(),
        ),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn source(resource_version: &str) -> Secret {
        Secret {
            metadata: ObjectMeta {
                namespace: Some("municipio-system".into()),
                name: Some("modena-pagopa".into()),
                uid: Some("u-1".into()),
                resource_version: Some(resource_version.into()),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    fn built(value: &[u8]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("pagopa-connector".into()),
                annotations: Some([(APPLIED_HASH_ANNOTATION.to_owned(), digest([value]))].into()),
                ..ObjectMeta::default()
            },
            data: Some([("KEY".to_owned(), ByteString(value.to_vec()))].into()),
            ..Secret::default()
        }
    }

    #[test]
    fn the_keys_version_follows_the_sources_and_never_the_values() {
        let v1 = keys_version(&built(b"key-1"), &[&source("10")]);
        assert_eq!(v1, keys_version(&built(b"key-1"), &[&source("10")]));
        assert_ne!(
            v1,
            keys_version(&built(b"key-1"), &[&source("11")]),
            "a source Secret changed"
        );
        assert_eq!(
            v1,
            keys_version(&built(b"key-2"), &[&source("10")]),
            "no value, nor a digest of one, goes into it"
        );
        let mut fewer_keys = built(b"key-1");
        fewer_keys.data.as_mut().unwrap().clear();
        assert_ne!(
            v1,
            keys_version(&fewer_keys, &[&source("10")]),
            "a key removed from the spec"
        );
    }
}
