//! The connectors' configuration: one ConfigMap per enabled connector, its keys ready to be
//! injected as environment variables (`PAGOPA_*`, `IO_*`, prefixes users cannot take).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use municipio_crds::ValidTenant;
use municipio_crds::v1alpha1::{Connector, Environment};
use municipio_crds::validate::AuxDigit;

use super::metadata::{Owner, child_meta, object_name};
use crate::config::OperatorConfig;

fn environment(e: Environment) -> &'static str {
    match e {
        Environment::Uat => "uat",
        Environment::Production => "production",
    }
}

/// The ConfigMaps of the enabled connectors, pagoPA first.
pub fn connectors(tenant: &ValidTenant, owner: &Owner, config: &OperatorConfig) -> Vec<ConfigMap> {
    let mut out = Vec::new();
    let env = tenant.environment;
    if let Some(p) = &tenant.pagopa {
        let mut data = BTreeMap::from([
            ("PAGOPA_ENVIRONMENT", environment(env).to_owned()),
            ("PAGOPA_ENDPOINT", config.pagopa.url(env).to_owned()),
            (
                "PAGOPA_ENTITY_FISCAL_CODE",
                p.entity_fiscal_code.to_string(),
            ),
            (
                "PAGOPA_BROKER_FISCAL_CODE",
                p.broker_fiscal_code.to_string(),
            ),
            ("PAGOPA_STATION_ID", p.station_id.to_string()),
            ("PAGOPA_AUX_DIGIT", p.aux_digit.digit().to_string()),
        ]);
        match &p.aux_digit {
            AuxDigit::Three { segregation_code } => {
                data.insert("PAGOPA_SEGREGATION_CODE", segregation_code.clone());
            }
            AuxDigit::Zero { application_code } => {
                data.insert("PAGOPA_APPLICATION_CODE", application_code.clone());
            }
            AuxDigit::One | AuxDigit::Two => {}
        }
        let ibans: Vec<_> = p
            .ibans
            .iter()
            .map(|i| serde_json::json!({"iban": i.iban.as_str(), "description": i.description}))
            .collect();
        data.insert("PAGOPA_IBANS", serde_json::to_string(&ibans).expect("JSON"));
        out.push(config_map(tenant, owner, Connector::Pagopa, data));
    }
    if let Some(io) = &tenant.io {
        let services: Vec<_> = io
            .services
            .iter()
            .map(|s| serde_json::json!({"name": s.name.as_str(), "serviceId": s.service_id.as_str()}))
            .collect();
        let data = BTreeMap::from([
            ("IO_ENVIRONMENT", environment(env).to_owned()),
            ("IO_ENDPOINT", config.io.url(env).to_owned()),
            ("IO_ENTITY_FISCAL_CODE", io.entity_fiscal_code.to_string()),
            (
                "IO_SERVICES",
                serde_json::to_string(&services).expect("JSON"),
            ),
        ]);
        out.push(config_map(tenant, owner, Connector::Io, data));
    }
    out
}

fn config_map(
    tenant: &ValidTenant,
    owner: &Owner,
    connector: Connector,
    data: BTreeMap<&str, String>,
) -> ConfigMap {
    ConfigMap {
        metadata: child_meta(
            owner,
            &object_name(connector),
            Some(tenant.namespace.as_str()),
        ),
        data: Some(data.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
        ..ConfigMap::default()
    }
}
