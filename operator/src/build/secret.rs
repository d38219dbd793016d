//! The connectors' keys: one Secret per enabled connector in the tenant namespace, with the
//! values read beforehand from the source Secrets bound to this tenant in the operator's
//! namespace.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use municipio_crds::ValidTenant;
use municipio_crds::v1alpha1::Connector;

use super::metadata::{Owner, child_meta};
use super::metadata::{digest, object_name};
use crate::labels::APPLIED_HASH_ANNOTATION;

/// A key's value. Never printed: `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(pub Vec<u8>);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue(<{} bytes>)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagoPaKeys {
    pub primary: SecretValue,
    pub secondary: Option<SecretValue>,
}

/// The keys of the tenant's connectors, as found in the source Secrets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectorKeys {
    pub pagopa: Option<PagoPaKeys>,
    /// IO API keys by service name.
    pub io: BTreeMap<String, SecretValue>,
}

impl ConnectorKeys {
    /// Stand-ins that say where each key comes from, for `municipio render`: the values are
    /// known only in the cluster.
    pub fn placeholders(tenant: &ValidTenant, operator_namespace: &str) -> Self {
        let from = |secret: &str, key: &str| {
            SecretValue(format!("<key {key} of Secret {operator_namespace}/{secret}>").into_bytes())
        };
        Self {
            pagopa: tenant.pagopa.as_ref().map(|p| {
                let k = &p.subscription_key;
                PagoPaKeys {
                    primary: from(&k.secret_name, &k.primary_key),
                    secondary: k.secondary_key.as_deref().map(|s| from(&k.secret_name, s)),
                }
            }),
            io: tenant
                .io
                .iter()
                .flat_map(|io| &io.services)
                .map(|s| {
                    (
                        s.name.to_string(),
                        from(&s.api_key.secret_name, &s.api_key.key),
                    )
                })
                .collect(),
        }
    }
}

/// The environment variable of an IO service's API key: `IO_API_KEY_<SERVICE>`.
pub fn io_key_variable(service: &str) -> String {
    format!(
        "IO_API_KEY_{}",
        service.to_ascii_uppercase().replace('-', "_")
    )
}

/// The Secrets of the enabled connectors, pagoPA first. A key not found is left out; the
/// controller reports it before applying anything.
pub fn connectors(tenant: &ValidTenant, owner: &Owner, keys: &ConnectorKeys) -> Vec<Secret> {
    let mut out = Vec::new();
    if tenant.pagopa.is_some() {
        let mut data = BTreeMap::new();
        if let Some(k) = &keys.pagopa {
            data.insert("PAGOPA_SUBSCRIPTION_KEY".to_owned(), k.primary.clone());
            if let Some(secondary) = &k.secondary {
                data.insert(
                    "PAGOPA_SUBSCRIPTION_KEY_SECONDARY".to_owned(),
                    secondary.clone(),
                );
            }
        }
        out.push(secret(tenant, owner, Connector::Pagopa, data));
    }
    if let Some(io) = &tenant.io {
        let data = io
            .services
            .iter()
            .filter_map(|s| {
                Some((
                    io_key_variable(s.name.as_str()),
                    keys.io.get(s.name.as_str())?.clone(),
                ))
            })
            .collect();
        out.push(secret(tenant, owner, Connector::Io, data));
    }
    out
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
