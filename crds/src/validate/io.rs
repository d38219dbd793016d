//! `spec.io`: the IO app connector, its services referenced by id or managed on the platform.

use super::*;
use crate::v1alpha1::{IoService, ManagedIoService};

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
    let services_path = path.child("services");
    let services: Vec<ValidIoService> = c
        .services
        .iter()
        .enumerate()
        .filter_map(|(i, s)| service(p, s, &services_path.index(i)))
        .collect();
    p.unique(
        c.services
            .iter()
            .enumerate()
            .map(|(i, s)| (services_path.index(i).child("name"), s.name.as_str())),
    );
    p.unique(c.services.iter().enumerate().filter_map(|(i, s)| {
        let id = s.service_id.as_deref()?;
        Some((services_path.index(i).child("serviceId"), id))
    }));
    // The operator finds a managed service again on IO by its name (a create whose answer was
    // lost): two of one municipality's services cannot share one.
    p.unique(c.services.iter().enumerate().filter_map(|(i, s)| {
        let managed = s.managed.as_ref()?;
        let at = services_path.index(i).child("managed").child("displayName");
        Some((at, managed.display_name.as_str()))
    }));
    let any_managed = c.services.iter().any(|s| s.managed.is_some());
    if let Some(key) = &c.manage_key {
        check_secret_key_ref(p, key, &path.child("manageKey"));
    } else if any_managed && c.enabled {
        p.push(
            path.child("manageKey"),
            Problem::Required(
                "when a service is managed (the municipality's manage key of IO, in a source Secret)",
            ),
        );
    }
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
        organization: tenant.spec.municipality.name.clone(),
        manage_key: c.manage_key.clone().filter(|_| any_managed),
        services,
    }))
}

/// One service: exactly one of `managed`, or `serviceId` with `apiKey`.
fn service(p: &mut Problems, s: &IoService, at: &FieldPath) -> Option<ValidIoService> {
    let name = p.parse(at.child("name"), &s.name, |v| DnsLabel::parse_max(v, 40));
    let source = match (&s.managed, &s.service_id, &s.api_key) {
        (Some(m), None, None) => {
            managed(p, m, &at.child("managed")).map(|m| IoServiceSource::Managed(Box::new(m)))
        }
        (Some(_), id, key) => {
            let field = if id.is_some() { "serviceId" } else { "apiKey" };
            p.push(
                at.child(field),
                Problem::Forbidden(
                    "with managed: the operator creates the service on IO and reads its keys",
                ),
            );
            if let Some(key) = key {
                check_secret_key_ref(p, key, &at.child("apiKey"));
            }
            None
        }
        (None, id, key) => {
            if id.is_none() {
                p.push(
                    at.child("serviceId"),
                    Problem::Required("unless the service is managed"),
                );
            }
            if key.is_none() {
                p.push(
                    at.child("apiKey"),
                    Problem::Required("unless the service is managed"),
                );
            }
            let service_id = p.parse_opt::<IoServiceId>(at.child("serviceId"), id.as_deref());
            if let Some(key) = key {
                check_secret_key_ref(p, key, &at.child("apiKey"));
            }
            Some(IoServiceSource::Referenced {
                service_id: service_id?,
                api_key: key.clone()?,
            })
        }
    };
    Some(ValidIoService {
        name: name?,
        source: source?,
    })
}

fn managed(
    p: &mut Problems,
    m: &ManagedIoService,
    at: &FieldPath,
) -> Option<ValidManagedIoService> {
    let before = p.0.len();
    let texts = [
        ("displayName", Some(&m.display_name)),
        ("description", Some(&m.description)),
        ("department", m.department.as_ref()),
    ];
    for (field, text) in texts {
        if text.is_some_and(|t| t.trim().is_empty()) {
            p.push(
                at.child(field),
                Problem::invalid(
                    "Blank",
                    "must have a character other than a space".to_owned(),
                ),
            );
        }
    }
    let links = m.links.clone().unwrap_or_default();
    let links_at = at.child("links");
    let web_url = p.parse_opt::<HttpsUrl>(links_at.child("webUrl"), links.web_url.as_deref());
    let privacy_url =
        p.parse_opt::<HttpsUrl>(links_at.child("privacyUrl"), links.privacy_url.as_deref());
    let tos_url = p.parse_opt::<HttpsUrl>(links_at.child("tosUrl"), links.tos_url.as_deref());
    let support_url =
        p.parse_opt::<HttpsUrl>(links_at.child("supportUrl"), links.support_url.as_deref());
    let contacts = m.contacts.clone().unwrap_or_default();
    let contacts_at = at.child("contacts");
    let email = p.parse_opt::<EmailAddress>(contacts_at.child("email"), contacts.email.as_deref());
    let pec = p.parse_opt::<EmailAddress>(contacts_at.child("pec"), contacts.pec.as_deref());
    if let Some(phone) = &contacts.phone
        && !super::identity::is_phone_number(phone)
    {
        p.push(
            contacts_at.child("phone"),
            Problem::invalid(
                "PhoneNumber",
                "must be + and 6 to 15 digits, the international format (+390591234567)".to_owned(),
            ),
        );
    }
    let cidrs_at = at.child("authorizedCidrs");
    let authorized_cidrs: Vec<Ipv4Net> = m
        .authorized_cidrs
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c.parse::<Ipv4Net>() {
            Ok(net) => Some(net),
            Err(()) => {
                p.push(
                    cidrs_at.index(i),
                    Problem::invalid(
                        "Ipv4Cidr",
                        format!("{c:?} is not an IPv4 network: four decimal octets and an optional /0 to /32"),
                    ),
                );
                None
            }
        })
        .collect();
    // Compared as networks: `192.0.2.7` and `192.0.2.7/32` are one.
    p.unique(m.authorized_cidrs.iter().enumerate().filter_map(|(i, c)| {
        let net = c.parse::<Ipv4Net>().ok()?;
        Some((cidrs_at.index(i), net.to_string()))
    }));
    if !(0..=1000).contains(&m.topic_id) {
        p.push(
            at.child("topicId"),
            Problem::invalid(
                "TopicId",
                format!("{} is not a topic id: 0 to 1000", m.topic_id),
            ),
        );
    }
    let amount = m.max_allowed_payment_amount.unwrap_or(0);
    if !(0..=9_999_999_999).contains(&amount) {
        p.push(
            at.child("maxAllowedPaymentAmount"),
            Problem::invalid(
                "PaymentAmount",
                format!("{amount} is not an amount in euro cents from 0 to 9999999999"),
            ),
        );
    }
    if p.0.len() != before {
        return None;
    }
    Some(ValidManagedIoService {
        display_name: m.display_name.clone(),
        description: m.description.clone(),
        department: m.department.clone(),
        scope: m.scope,
        topic_id: m.topic_id,
        web_url,
        privacy_url,
        tos_url,
        support_url,
        email,
        pec,
        phone: contacts.phone.clone(),
        authorized_cidrs,
        require_secure_channel: m.require_secure_channel,
        max_allowed_payment_amount: amount,
        publication: m.publication,
        key_rotation: m.key_rotation.clone(),
    })
}
