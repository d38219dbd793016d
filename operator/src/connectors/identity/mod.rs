//! The identity connector (SPID, CIE and CNS through the region's gateway, a Full aggregator):
//! what its workloads receive (`IDENTITY_*`: the gateway as their OpenID provider, their client
//! id and redirect URI, and their credential), the keys the operator keeps for the
//! municipality, and the artifacts published for the gateway.
//!
//! Where the gateway reads them: one ConfigMap and one Secret per municipality in the gateway's
//! namespace (see [`gateway`]). Not one object for the region: 7,896 municipalities' signed
//! metadata and entity configurations (about 15 KiB each) are far over the 1 MiB an object may
//! hold, and one object would make every municipality's change a write of all of them. Not in
//! the tenant's namespace: the gateway would need to read Secrets in every one of them.

pub mod artifacts;
pub mod certificate;
pub mod federation;
pub mod gateway;
pub mod keyring;
pub mod keys;
pub mod publish;
pub mod rotation;
pub mod saml;
pub mod xml;

use std::collections::BTreeMap;

use municipio_crds::ValidTenant;
use municipio_crds::v1alpha1::Connector;
use municipio_crds::validate::method_name;

use super::{KeyRef, Parts, environment_name};

pub struct Identity;

/// The key of the workloads' credential in the keys Secret, and the variable it becomes.
pub const CLIENT_SECRET_KEY: &str = "client-secret";
pub const CLIENT_SECRET_VARIABLE: &str = "IDENTITY_CLIENT_SECRET";

/// The Secret, in the operator's namespace, that holds a tenant's identity keys and its
/// workloads' credential: made by the operator and bound to the tenant by its label.
pub fn keys_secret_name(tenant: &str) -> String {
    format!("identity-keys-{tenant}")
}

impl Parts for Identity {
    fn enabled(&self, tenant: &ValidTenant) -> bool {
        tenant.identity.is_some()
    }

    fn key_refs(&self, tenant: &ValidTenant) -> Vec<KeyRef> {
        if tenant.identity.is_none() {
            return Vec::new();
        }
        vec![KeyRef {
            connector: Connector::Identity,
            field: "spec.identity.enabled".to_owned(),
            secret_field: "spec.identity.enabled".to_owned(),
            secret: keys_secret_name(tenant.name.as_str()),
            key: CLIENT_SECRET_KEY.to_owned(),
            variable: CLIENT_SECRET_VARIABLE.to_owned(),
            made_by_operator: false,
        }]
    }

    fn config_data(&self, tenant: &ValidTenant, endpoint: &str) -> BTreeMap<&'static str, String> {
        let Some(identity) = &tenant.identity else {
            return BTreeMap::new();
        };
        let join = |items: Vec<&str>| items.join(",");
        BTreeMap::from([
            (
                "IDENTITY_ENVIRONMENT",
                environment_name(tenant.environment).to_owned(),
            ),
            ("IDENTITY_ENDPOINT", endpoint.to_owned()),
            ("IDENTITY_ISSUER", issuer(endpoint, &identity.ipa_code)),
            ("IDENTITY_CLIENT_ID", identity.ipa_code.clone()),
            (
                "IDENTITY_REDIRECT_URI",
                identity.redirect_uris[0].to_string(),
            ),
            (
                // Separated by spaces, which a URI cannot hold (it may hold a comma).
                "IDENTITY_REDIRECT_URIS",
                identity
                    .redirect_uris
                    .iter()
                    .map(|u| u.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            ("IDENTITY_LEVEL", format!("{:?}", identity.level)),
            (
                "IDENTITY_ACR",
                format!("https://www.spid.gov.it/SpidL{}", identity.level.number()),
            ),
            (
                "IDENTITY_METHODS",
                join(identity.methods.iter().map(|m| method_name(*m)).collect()),
            ),
            (
                "IDENTITY_ATTRIBUTES",
                join(identity.attributes.iter().map(|a| a.name()).collect()),
            ),
        ])
    }
}

/// The OpenID provider the gateway is for one municipality's workloads: `<gateway>/<ipaCode>`.
pub fn issuer(gateway: &str, ipa_code: &str) -> String {
    format!("{gateway}/{ipa_code}")
}
