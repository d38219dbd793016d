//! The objects the region's gateway reads for one municipality, in the gateway's namespace,
//! both named `identity-<tenant>` and labelled with the IPA code the gateway serves it under:
//!
//! - a ConfigMap: `metadata.xml` (the signed SAML metadata), `entity-configuration.jwt` (the
//!   signed entity configuration, served at `/<ipaCode>/.well-known/openid-federation`) and
//!   `municipality.json` (what the gateway needs to serve it: ids, callbacks, level, methods,
//!   attributes, the published keys' ids);
//! - a Secret: the private keys the gateway signs and decrypts with, and the SHA-256 of the
//!   workloads' credential.
//!
//! Owned by the tenant (a cluster-scoped owner may own objects in any namespace), so they go
//! when it goes, whatever its deletion policy: a municipality that is no longer a tenant is
//! no longer served.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use municipio_crds::ValidTenant;
use municipio_crds::v1alpha1::Connector;
use municipio_crds::validate::method_name;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::federation::client_id;
use super::issuer;
use super::publish::Published;
use super::saml::entity_id;
use crate::children::metadata::{Owner, child_meta_with};
use crate::config::OperatorConfig;

/// The label that says which IPA code a gateway object serves.
pub const IPA_CODE_LABEL: &str = "identity.municipio.io/ipa-code";

/// The name of a tenant's objects in the gateway's namespace.
pub fn object_name(tenant: &str) -> String {
    format!("identity-{tenant}")
}

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| seconds.to_string())
}

/// The gateway's ConfigMap and Secret for the tenant.
pub fn objects(
    tenant: &ValidTenant,
    owner: &Owner,
    config: &OperatorConfig,
    published: &Published,
) -> (ConfigMap, Secret) {
    let identity = tenant
        .identity
        .as_ref()
        .expect("gateway objects only for an enabled identity connector");
    let gateway = config.platform(Connector::Identity).url(tenant.environment);
    let namespace = config.identity.gateway_namespace.as_str();
    let name = object_name(tenant.name.as_str());
    let labels = BTreeMap::from([(IPA_CODE_LABEL.to_owned(), identity.ipa_code.clone())]);
    let meta = || child_meta_with(owner, &name, Some(namespace), labels.clone());
    let a = &published.artifacts;
    let keys: Vec<_> = a
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let first_of_purpose = a.keys[..i].iter().all(|o| o.purpose != k.purpose);
            json!({
                "purpose": k.purpose.name(),
                "kid": k.kid,
                "current": first_of_purpose,
                "expires": rfc3339(k.expires),
            })
        })
        .collect();
    let municipality = json!({
        "ipaCode": identity.ipa_code,
        "organization": tenant.municipality.name,
        "environment": crate::connectors::environment_name(tenant.environment),
        "entityId": entity_id(gateway, &identity.ipa_code),
        "federationClientId": client_id(gateway, &identity.ipa_code),
        "issuer": issuer(gateway, &identity.ipa_code),
        "clientId": identity.ipa_code,
        "redirectUris": identity.redirect_uris.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "level": format!("{:?}", identity.level),
        "methods": identity.methods.iter().map(|m| method_name(*m)).collect::<Vec<_>>(),
        "attributes": identity.attributes.iter().map(|a| a.name()).collect::<Vec<_>>(),
        "contacts": {
            "email": identity.contacts.email.as_str(),
            "pec": identity.contacts.pec.as_str(),
            "phone": identity.contacts.phone,
        },
        "signedAt": rfc3339(published.signed_at),
        "keys": keys,
    });
    let config_map = ConfigMap {
        metadata: meta(),
        data: Some(BTreeMap::from([
            ("metadata.xml".to_owned(), a.saml_metadata.clone()),
            (
                "entity-configuration.jwt".to_owned(),
                a.entity_configuration.clone(),
            ),
            (
                "municipality.json".to_owned(),
                serde_json::to_string_pretty(&municipality).expect("JSON"),
            ),
        ])),
        ..ConfigMap::default()
    };
    let mut data: BTreeMap<String, ByteString> = published
        .gateway_keys
        .iter()
        .map(|(k, v)| (k.clone(), ByteString(v.0.clone())))
        .collect();
    data.insert(
        "client-secret.sha256".to_owned(),
        ByteString(published.client_secret_sha256.clone().into_bytes()),
    );
    let secret = Secret {
        metadata: meta(),
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    };
    (config_map, secret)
}
