//! The connectors' configuration: one ConfigMap per enabled connector, its keys ready to be
//! injected as environment variables (`PAGOPA_*`, `IO_*`, prefixes users cannot take); what
//! goes in it is the connector's own (see [`crate::connectors`]).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use municipio_crds::ValidTenant;
use municipio_crds::v1alpha1::Connector;

use super::metadata::{Owner, child_meta, object_name};
use crate::config::OperatorConfig;
use crate::connectors;

/// The ConfigMaps of the enabled connectors, in `Connector::ALL`'s order.
pub fn connectors(tenant: &ValidTenant, owner: &Owner, config: &OperatorConfig) -> Vec<ConfigMap> {
    connectors::enabled(tenant)
        .map(|c| {
            let endpoint = connectors::endpoint(config, c, tenant.environment);
            let data = connectors::parts(c).config_data(tenant, endpoint);
            config_map(tenant, owner, c, data)
        })
        .collect()
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
