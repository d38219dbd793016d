//! `spec.identity`: how citizens log in (SPID, CIE, CNS) through the region's gateway.

use super::*;

pub(super) fn identity(
    p: &mut Problems,
    tenant: &MunicipalityTenant,
    path: &FieldPath,
) -> Option<Option<IdentityConnector>> {
    let Some(c) = &tenant.spec.identity else {
        return Some(None);
    };
    let before = p.0.len();
    let listed = |field: &str, values: Vec<String>| {
        let at = path.child(field);
        values
            .into_iter()
            .enumerate()
            .map(move |(i, v)| (at.index(i), v))
    };
    p.unique(listed(
        "methods",
        c.methods
            .iter()
            .map(|m| method_name(*m).to_owned())
            .collect(),
    ));
    p.unique(listed(
        "attributes",
        c.attributes.iter().map(|a| a.name().to_owned()).collect(),
    ));
    p.unique(listed("redirectUris", c.redirect_uris.clone()));
    p.unique(listed(
        "onboarded",
        c.onboarded
            .iter()
            .map(|m| method_name(*m).to_owned())
            .collect(),
    ));
    let redirect_uris: Vec<HttpsUrl> = c
        .redirect_uris
        .iter()
        .enumerate()
        .filter_map(|(i, u)| p.parse_opt(path.child("redirectUris").index(i), Some(u)))
        .collect();
    let homepage: Option<HttpsUrl> = p.parse_opt(path.child("homepage"), c.homepage.as_deref());
    let contacts = c
        .contacts
        .as_ref()
        .and_then(|k| contacts(p, k, &path.child("contacts")));
    for (i, m) in c.onboarded.iter().enumerate() {
        let at = path.child("onboarded").index(i);
        if *m == LoginMethod::Cns {
            p.push(
                at,
                Problem::invalid(
                    "NoFederation",
                    "cns has no national federation to join: the gateway checks the card's certificate itself".to_owned(),
                ),
            );
        } else if !c.methods.contains(m) {
            p.push(
                at,
                Problem::invalid(
                    "NotAMethod",
                    format!(
                        "{} is not among spec.identity.methods: only a method citizens log in with is onboarded",
                        method_name(*m)
                    ),
                ),
            );
        }
    }
    if !c.enabled {
        return (p.0.len() == before).then_some(None);
    }
    let required = [
        (
            "methods",
            c.methods.is_empty(),
            "when identity is enabled (spid, cie or cns)",
        ),
        (
            "level",
            c.level.is_none(),
            "when identity is enabled (SpidL1, SpidL2 or SpidL3)",
        ),
        (
            "attributes",
            c.attributes.is_empty(),
            "when identity is enabled (at least one SPID attribute)",
        ),
        (
            "redirectUris",
            c.redirect_uris.is_empty(),
            "when identity is enabled (at least one callback)",
        ),
        (
            "contacts",
            c.contacts.is_none(),
            "when identity is enabled (email and pec)",
        ),
    ];
    for (field, missing, why) in required {
        if missing {
            p.push(path.child(field), Problem::Required(why));
        }
    }
    let ipa_code = tenant.spec.municipality.ipa_code.clone();
    if ipa_code.is_none() {
        p.push(
            FieldPath::new("spec.municipality.ipaCode"),
            Problem::Required(
                "when identity is enabled (it names the municipality at the gateway)",
            ),
        );
    }
    if p.0.len() != before {
        return None;
    }
    let homepage = homepage.unwrap_or_else(|| redirect_uris[0].origin());
    Some(Some(IdentityConnector {
        ipa_code: ipa_code?,
        methods: c.methods.iter().copied().collect(),
        level: c.level?,
        attributes: c.attributes.clone(),
        redirect_uris,
        homepage,
        contacts: contacts?,
        onboarded: c.onboarded.iter().copied().collect(),
    }))
}

fn contacts(p: &mut Problems, c: &IdentityContacts, path: &FieldPath) -> Option<ValidContacts> {
    let email = p.parse_opt(path.child("email"), Some(&c.email));
    let pec = p.parse_opt(path.child("pec"), Some(&c.pec));
    let phone = match &c.phone {
        Some(phone) if !is_phone_number(phone) => {
            p.push(
                path.child("phone"),
                Problem::invalid(
                    "PhoneNumber",
                    format!(
                        "{phone:?} is not a telephone number: + and the country code, then 6 to 15 digits in all, no spaces (e.g. +39059203111)"
                    ),
                ),
            );
            None
        }
        phone => Some(phone.clone()),
    };
    Some(ValidContacts {
        email: email?,
        pec: pec?,
        phone: phone?,
    })
}

pub(super) fn is_phone_number(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The method's name in the spec.
pub fn method_name(method: LoginMethod) -> &'static str {
    match method {
        LoginMethod::Spid => "spid",
        LoginMethod::Cie => "cie",
        LoginMethod::Cns => "cns",
    }
}
