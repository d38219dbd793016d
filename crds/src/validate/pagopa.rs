//! `spec.pagopa`: the payments connector.

use super::*;

pub(super) fn pagopa(
    p: &mut Problems,
    tenant: &MunicipalityTenant,
    entity: Option<&EntityFiscalCode>,
    path: &FieldPath,
) -> Option<Option<PagoPaConnector>> {
    let Some(c) = &tenant.spec.pagopa else {
        return Some(None);
    };
    let before = p.0.len();
    // Fields that are present are checked even when the connector is off: a wrong IBAN is
    // wrong whether or not it is used today.
    let broker = p.parse_opt::<EntityFiscalCode>(
        path.child("brokerFiscalCode"),
        c.broker_fiscal_code.as_deref(),
    );
    let station = p.parse_opt::<StationId>(path.child("stationId"), c.station_id.as_deref());
    if let (Some(broker), Some(station)) = (&broker, &station)
        && station.broker() != broker
    {
        p.push(
            path.child("stationId"),
            Problem::StationOfAnotherBroker {
                station: station.clone(),
                broker: broker.clone(),
            },
        );
    }
    let aux = aux_digit(p, c, path);
    let ibans: Vec<(usize, ValidIban)> = c
        .ibans
        .iter()
        .enumerate()
        .filter_map(|(i, account)| {
            let at = path.child("ibans").index(i);
            if let Some(d) = &account.description
                && d.chars().any(char::is_control)
            {
                p.push(
                    at.child("description"),
                    Problem::Forbidden("control characters in a description"),
                );
            }
            let iban = p.parse_opt::<ItalianIban>(at.child("iban"), Some(&account.iban))?;
            Some((
                i,
                ValidIban {
                    iban,
                    description: account.description.clone(),
                },
            ))
        })
        .collect();
    // Compared in electronic form, so that a lowercase copy is not a second account.
    p.unique(ibans.iter().map(|(i, v)| {
        (
            path.child("ibans").index(*i).child("iban"),
            v.iban.to_string(),
        )
    }));
    let ibans: Vec<ValidIban> = ibans.into_iter().map(|(_, v)| v).collect();
    if let Some(key) = &c.subscription_key {
        let at = path.child("subscriptionKey");
        check_secret_name(p, &key.secret_name, &at.child("secretName"));
        check_secret_key(p, &key.primary_key, &at.child("primaryKey"));
        if let Some(second) = &key.secondary_key {
            check_secret_key(p, second, &at.child("secondaryKey"));
        }
    }
    if let Some(key) = &c.subscription_key
        && let Some(second) = &key.secondary_key
        && *second == key.primary_key
    {
        p.push(
            path.child("subscriptionKey").child("secondaryKey"),
            Problem::Duplicate {
                value: second.clone(),
                first: path.child("subscriptionKey").child("primaryKey"),
            },
        );
    }
    if !c.enabled {
        return (p.0.len() == before).then_some(None);
    }
    const WHEN: &str = "when pagopa is enabled";
    for (field, missing) in [
        ("brokerFiscalCode", c.broker_fiscal_code.is_none()),
        ("stationId", c.station_id.is_none()),
        ("auxDigit", c.aux_digit.is_none()),
        ("subscriptionKey", c.subscription_key.is_none()),
        ("ibans", c.ibans.is_empty()),
    ] {
        if missing {
            p.push(path.child(field), Problem::Required(WHEN));
        }
    }
    if p.0.len() != before {
        return None;
    }
    Some(Some(PagoPaConnector {
        entity_fiscal_code: entity?.clone(),
        broker_fiscal_code: broker?,
        station_id: station?,
        aux_digit: aux?,
        ibans,
        subscription_key: c.subscription_key.clone()?,
    }))
}

pub(super) fn aux_digit(
    p: &mut Problems,
    c: &crate::v1alpha1::PagoPa,
    path: &FieldPath,
) -> Option<AuxDigit> {
    let two_digits = |p: &mut Problems, field: &str, v: &str| {
        if v.len() == 2 && v.bytes().all(|b| b.is_ascii_digit()) {
            Some(v.to_owned())
        } else {
            p.push(
                path.child(field),
                Problem::invalid("TwoDigits", format!("{v:?} must be exactly 2 digits")),
            );
            None
        }
    };
    let segregation = c
        .segregation_code
        .as_deref()
        .and_then(|v| two_digits(p, "segregationCode", v));
    let application = c
        .application_code
        .as_deref()
        .and_then(|v| two_digits(p, "applicationCode", v));
    let digit = c.aux_digit?;
    if digit != 3 && c.segregation_code.is_some() {
        p.push(
            path.child("segregationCode"),
            Problem::Forbidden("a segregation code has meaning only with auxDigit 3"),
        );
    }
    if digit != 0 && c.application_code.is_some() {
        p.push(
            path.child("applicationCode"),
            Problem::Forbidden("an application code has meaning only with auxDigit 0"),
        );
    }
    match digit {
        0 => match application {
            Some(application_code) => Some(AuxDigit::Zero { application_code }),
            None => {
                if c.application_code.is_none() {
                    p.push(
                        path.child("applicationCode"),
                        Problem::Required("with auxDigit 0"),
                    );
                }
                None
            }
        },
        1 => Some(AuxDigit::One),
        2 => Some(AuxDigit::Two),
        3 => match segregation {
            Some(segregation_code) => Some(AuxDigit::Three { segregation_code }),
            None => {
                if c.segregation_code.is_none() {
                    p.push(
                        path.child("segregationCode"),
                        Problem::Required("with auxDigit 3"),
                    );
                }
                None
            }
        },
        _ => {
            p.push(
                path.child("auxDigit"),
                Problem::TooLarge {
                    value: digit.to_string(),
                    max: "3",
                },
            );
            None
        }
    }
}
