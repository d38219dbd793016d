//! IO, the citizens' app: the municipality's services (name and IO service id) as `IO_*`
//! variables, and each service's API key, from a source Secret, as `IO_API_KEY_<SERVICE>`.

use std::collections::BTreeMap;

use municipio_crds::ValidTenant;
use municipio_crds::v1alpha1::Connector;

use super::{KeyRef, Parts, environment_name};

pub struct Io;

/// The environment variable of an IO service's API key: `IO_API_KEY_<SERVICE>`.
pub fn key_variable(service: &str) -> String {
    format!(
        "IO_API_KEY_{}",
        service.to_ascii_uppercase().replace('-', "_")
    )
}

impl Parts for Io {
    fn enabled(&self, tenant: &ValidTenant) -> bool {
        tenant.io.is_some()
    }

    fn key_refs(&self, tenant: &ValidTenant) -> Vec<KeyRef> {
        let services = tenant
            .io
            .iter()
            .flat_map(|io| io.services.iter().enumerate());
        services
            .map(|(i, s)| KeyRef {
                connector: Connector::Io,
                field: format!("spec.io.services[{i}].apiKey"),
                secret_field: format!("spec.io.services[{i}].apiKey.secretName"),
                secret: s.api_key.secret_name.clone(),
                key: s.api_key.key.clone(),
                variable: key_variable(s.name.as_str()),
            })
            .collect()
    }

    fn config_data(&self, tenant: &ValidTenant, endpoint: &str) -> BTreeMap<&'static str, String> {
        let Some(io) = &tenant.io else {
            return BTreeMap::new();
        };
        let services: Vec<_> = io
            .services
            .iter()
            .map(|s| serde_json::json!({"name": s.name.as_str(), "serviceId": s.service_id.as_str()}))
            .collect();
        BTreeMap::from([
            (
                "IO_ENVIRONMENT",
                environment_name(tenant.environment).to_owned(),
            ),
            ("IO_ENDPOINT", endpoint.to_owned()),
            ("IO_ENTITY_FISCAL_CODE", io.entity_fiscal_code.to_string()),
            (
                "IO_SERVICES",
                serde_json::to_string(&services).expect("JSON"),
            ),
        ])
    }
}
