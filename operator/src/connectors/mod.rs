//! The connectors to the national platforms, one module each: what a connector needs of the
//! tenant (its keys, where they come from), what it gives its workloads (a ConfigMap, a
//! Secret) and where its traffic goes. Everything else (dereference, build, status, the
//! webhook) asks here, for every connector of [`Connector::ALL`], and names none.

pub mod identity;
pub mod io;
pub mod pagopa;
pub mod platform;

use std::collections::BTreeMap;

use municipio_crds::ValidTenant;
use municipio_crds::v1alpha1::{Connector, Environment};

use crate::config::OperatorConfig;

/// A key a connector needs: the connector, the spec fields that name it, the source Secret
/// and the key in it, and the variable it becomes in the tenant's connector Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    pub connector: Connector,
    /// The field that names the key (`spec.pagopa.subscriptionKey.primaryKey`).
    pub field: String,
    /// The field that names the source Secret (`spec.pagopa.subscriptionKey.secretName`).
    pub secret_field: String,
    pub secret: String,
    pub key: String,
    /// The environment variable (key of the tenant Secret) the value becomes.
    pub variable: String,
    /// A key the operator itself puts in the Secret, later (an IO service's, once the platform
    /// made it): until then it is left out, not missing.
    pub made_by_operator: bool,
}

/// What one connector contributes to a tenant.
pub trait Parts: Sync {
    /// Whether the tenant enables it.
    fn enabled(&self, tenant: &ValidTenant) -> bool;
    /// The keys it needs, in spec order.
    fn key_refs(&self, tenant: &ValidTenant) -> Vec<KeyRef>;
    /// The data of its ConfigMap (variables prefixed with its own prefix).
    fn config_data(&self, tenant: &ValidTenant, endpoint: &str) -> BTreeMap<&'static str, String>;
}

/// The parts of `connector`: the one place a connector's module is chosen.
pub fn parts(connector: Connector) -> &'static dyn Parts {
    match connector {
        Connector::Pagopa => &pagopa::PagoPa,
        Connector::Io => &io::Io,
        Connector::Identity => &identity::Identity,
    }
}

/// The connectors the tenant enables, in [`Connector::ALL`]'s order.
pub fn enabled(tenant: &ValidTenant) -> impl Iterator<Item = Connector> + '_ {
    Connector::ALL
        .into_iter()
        .filter(|c| parts(*c).enabled(tenant))
}

/// Every key the tenant's enabled connectors need, connector by connector, in spec order.
pub fn key_refs(tenant: &ValidTenant) -> Vec<KeyRef> {
    enabled(tenant)
        .flat_map(|c| parts(c).key_refs(tenant))
        .collect()
}

/// A connector's endpoint for the tenant's environment.
pub fn endpoint(config: &OperatorConfig, connector: Connector, environment: Environment) -> &str {
    config.platform(connector).url(environment)
}

/// The environment's name as connectors receive it.
pub fn environment_name(environment: Environment) -> &'static str {
    match environment {
        Environment::Uat => "uat",
        Environment::Production => "production",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modena() -> ValidTenant {
        let t: municipio_crds::MunicipalityTenant =
            serde_yaml_ng::from_str(include_str!("../../../examples/modena.yaml")).unwrap();
        municipio_crds::validate(&t).unwrap()
    }

    #[test]
    fn every_key_names_its_own_connector_and_field() {
        let refs = key_refs(&modena());
        for r in &refs {
            let prefix = format!("spec.{}.", r.connector.name());
            assert!(r.field.starts_with(&prefix), "{r:?}");
            assert!(r.secret_field.starts_with(&prefix), "{r:?}");
        }
        let fields: Vec<(&str, &str)> = refs
            .iter()
            .map(|r| (r.field.as_str(), r.variable.as_str()))
            .collect();
        assert_eq!(
            fields[..3],
            [
                (
                    "spec.pagopa.subscriptionKey.primaryKey",
                    "PAGOPA_SUBSCRIPTION_KEY"
                ),
                (
                    "spec.pagopa.subscriptionKey.secondaryKey",
                    "PAGOPA_SUBSCRIPTION_KEY_SECONDARY"
                ),
                ("spec.io.services[0].apiKey", "IO_API_KEY_TRIBUTI"),
            ]
        );
        assert_eq!(refs.len(), 7);
        assert_eq!(
            (refs[6].secret.as_str(), refs[6].variable.as_str()),
            ("identity-keys-modena", "IDENTITY_CLIENT_SECRET"),
            "the credential the operator makes, from its keys Secret"
        );
    }

    #[test]
    fn each_connector_has_its_own_prefix_of_variables() {
        let tenant = modena();
        for connector in Connector::ALL {
            let prefix = format!("{}_", connector.name().to_ascii_uppercase());
            let parts = parts(connector);
            assert!(parts.enabled(&tenant));
            for variable in parts.config_data(&tenant, "https://x").keys() {
                assert!(variable.starts_with(&prefix), "{variable}");
            }
            for r in parts.key_refs(&tenant) {
                assert!(r.variable.starts_with(&prefix), "{r:?}");
                assert_eq!(r.connector, connector);
            }
        }
    }
}
