//! `spec.io`: the IO app connector.

use super::*;

pub(super) fn io(
    p: &mut Problems,
    tenant: &MunicipalityTenant,
    entity: Option<&EntityFiscalCode>,
    path: &FieldPath,
) -> Option<Option<IoConnector>> {
    let Some(c) = &tenant.spec.io else {
        return Some(None);
    };
    let before = p.0.len();
    let services: Vec<ValidIoService> = c
        .services
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let at = path.child("services").index(i);
            let name = p.parse(at.child("name"), &s.name, |v| DnsLabel::parse_max(v, 40));
            let service_id = p.parse_opt::<IoServiceId>(at.child("serviceId"), Some(&s.service_id));
            check_secret_key_ref(p, &s.api_key, &at.child("apiKey"));
            Some(ValidIoService {
                name: name?,
                service_id: service_id?,
                api_key: s.api_key.clone(),
            })
        })
        .collect();
    let services_path = path.child("services");
    p.unique(
        c.services
            .iter()
            .enumerate()
            .map(|(i, s)| (services_path.index(i).child("name"), s.name.as_str())),
    );
    p.unique(c.services.iter().enumerate().map(|(i, s)| {
        (
            services_path.index(i).child("serviceId"),
            s.service_id.as_str(),
        )
    }));
    if !c.enabled {
        return (p.0.len() == before).then_some(None);
    }
    if c.services.is_empty() {
        p.push(
            services_path,
            Problem::Required("when io is enabled (at least one service)"),
        );
    }
    if p.0.len() != before {
        return None;
    }
    Some(Some(IoConnector {
        entity_fiscal_code: entity?.clone(),
        services,
    }))
}
