//! pagoPA, the national payments platform: the municipality's creditor-institution
//! registration (entity, broker, station, aux digit, IBANs) as `PAGOPA_*` variables, and its
//! subscription keys (primary, and optionally secondary) from a source Secret. What the
//! platform's back office has of a broker's institutions and IBANs ([`backoffice`]), and
//! whether a municipality's registration is what it has ([`registration`]).

pub mod backoffice;
pub mod registration;

use std::collections::BTreeMap;

use municipio_crds::ValidTenant;
use municipio_crds::v1alpha1::Connector;
use municipio_crds::validate::AuxDigit;

use super::{KeyRef, Parts, environment_name};

pub struct PagoPa;

impl Parts for PagoPa {
    fn enabled(&self, tenant: &ValidTenant) -> bool {
        tenant.pagopa.is_some()
    }

    fn key_refs(&self, tenant: &ValidTenant) -> Vec<KeyRef> {
        let Some(p) = &tenant.pagopa else {
            return Vec::new();
        };
        let k = &p.subscription_key;
        let field = "spec.pagopa.subscriptionKey";
        let key_ref = |name: &str, key: &str, variable: &str| KeyRef {
            connector: Connector::Pagopa,
            field: format!("{field}.{name}"),
            secret_field: format!("{field}.secretName"),
            secret: k.secret_name.clone(),
            key: key.to_owned(),
            variable: variable.to_owned(),
            made_by_operator: false,
        };
        let mut refs = vec![key_ref(
            "primaryKey",
            &k.primary_key,
            "PAGOPA_SUBSCRIPTION_KEY",
        )];
        refs.extend(
            k.secondary_key
                .as_deref()
                .map(|s| key_ref("secondaryKey", s, "PAGOPA_SUBSCRIPTION_KEY_SECONDARY")),
        );
        refs
    }

    fn config_data(&self, tenant: &ValidTenant, endpoint: &str) -> BTreeMap<&'static str, String> {
        let Some(p) = &tenant.pagopa else {
            return BTreeMap::new();
        };
        let mut data = BTreeMap::from([
            (
                "PAGOPA_ENVIRONMENT",
                environment_name(tenant.environment).to_owned(),
            ),
            ("PAGOPA_ENDPOINT", endpoint.to_owned()),
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
        data
    }
}
