//! IO, the citizens' app: the municipality's services (name and IO service id) as `IO_*`
//! variables, and each service's API key as `IO_API_KEY_<SERVICE>`: from a source Secret for a
//! service made by hand, from the platform for a service the operator manages.
//!
//! A managed service is kept on IO through its Services CMS "manage" API ([`contract`] the
//! calls and fields, [`client`] the calls with their rate and retries, [`sync`] what is done
//! with them). What the operator learnt of each service (its id, its state, which key the
//! workloads have) and the keys themselves are kept in one Secret per tenant in the operator's
//! namespace ([`record`]), which is also where the keys are dereferenced from.

pub mod client;
pub mod contract;
pub mod record;
pub mod sync;

use std::collections::BTreeMap;

use municipio_crds::ValidTenant;
use municipio_crds::v1alpha1::Connector;
use municipio_crds::validate::IoServiceSource;

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
            .map(|(i, s)| match &s.source {
                IoServiceSource::Referenced { api_key, .. } => KeyRef {
                    connector: Connector::Io,
                    field: format!("spec.io.services[{i}].apiKey"),
                    secret_field: format!("spec.io.services[{i}].apiKey.secretName"),
                    secret: api_key.secret_name.clone(),
                    key: api_key.key.clone(),
                    variable: key_variable(s.name.as_str()),
                    made_by_operator: false,
                },
                IoServiceSource::Managed(_) => KeyRef {
                    connector: Connector::Io,
                    field: format!("spec.io.services[{i}].managed"),
                    secret_field: format!("spec.io.services[{i}].managed"),
                    secret: record::secret_name(tenant.name.as_str()),
                    key: s.name.to_string(),
                    variable: key_variable(s.name.as_str()),
                    made_by_operator: true,
                },
            })
            .collect()
    }

    fn config_data(&self, tenant: &ValidTenant, endpoint: &str) -> BTreeMap<&'static str, String> {
        let Some(io) = &tenant.io else {
            return BTreeMap::new();
        };
        // A managed service's id is known once IO made it: the variable lists it then (the
        // record Secret's change brings the tenant back, and the workloads roll with it).
        let services: Vec<_> = io
            .services
            .iter()
            .map(|s| match &s.source {
                IoServiceSource::Referenced { service_id, .. } => {
                    serde_json::json!({"name": s.name.as_str(), "serviceId": service_id.as_str()})
                }
                IoServiceSource::Managed(_) => serde_json::json!({"name": s.name.as_str()}),
            })
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

/// Bergamo's example, validated: one referenced service and one managed.
#[cfg(test)]
pub(crate) fn bergamo() -> ValidTenant {
    let t: municipio_crds::MunicipalityTenant =
        serde_yaml_ng::from_str(include_str!("../../../../examples/lombardia/bergamo.yaml"))
            .unwrap();
    municipio_crds::validate(&t).unwrap()
}
