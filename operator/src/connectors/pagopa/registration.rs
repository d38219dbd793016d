//! Whether a municipality's pagoPA registration is what the back office has: its institution
//! served by the broker and enabled, the station of the spec known for it and enabled, the same
//! aux digit and segregation (or application) code, and every IBAN of the spec registered,
//! enabled and valid. Pure: the tenant's connector and a snapshot of its broker in, every
//! difference out, each saying what the platform has and what a person does about it.

use std::fmt;

use municipio_crds::validate::{AuxDigit, PagoPaConnector};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::backoffice::{Iban, Institution, Snapshot};

/// One way the registration differs from the back office's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The back office has no station relation of this institution under the broker.
    InstitutionNotRegistered,
    /// Known, but not with the spec's station (those it has, if any).
    StationNotRegistered {
        stations: Vec<String>,
    },
    /// The institution is disabled on the platform.
    InstitutionNotEnabled,
    StationNotActive {
        state: String,
    },
    AuxDigitDiffers {
        platform: String,
    },
    SegregationCodeDiffers {
        platform: Option<String>,
    },
    ApplicationCodeDiffers {
        platform: Option<String>,
    },
    IbanNotRegistered {
        iban: String,
    },
    IbanNotActive {
        iban: String,
        status: String,
    },
    IbanNotYetValid {
        iban: String,
        from: String,
    },
}

impl Mismatch {
    /// The condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Mismatch::InstitutionNotRegistered => "InstitutionNotRegistered",
            Mismatch::StationNotRegistered { .. } => "StationNotRegistered",
            Mismatch::InstitutionNotEnabled => "InstitutionNotEnabled",
            Mismatch::StationNotActive { .. } => "StationNotActive",
            Mismatch::AuxDigitDiffers { .. } => "AuxDigitDiffers",
            Mismatch::SegregationCodeDiffers { .. } => "SegregationCodeDiffers",
            Mismatch::ApplicationCodeDiffers { .. } => "ApplicationCodeDiffers",
            Mismatch::IbanNotRegistered { .. } => "IbanNotRegistered",
            Mismatch::IbanNotActive { .. } => "IbanNotActive",
            Mismatch::IbanNotYetValid { .. } => "IbanNotYetValid",
        }
    }

    /// The field of the spec it is about.
    pub fn field(&self) -> &'static str {
        match self {
            Mismatch::InstitutionNotRegistered | Mismatch::InstitutionNotEnabled => {
                "spec.municipality.fiscalCode"
            }
            Mismatch::StationNotRegistered { .. } | Mismatch::StationNotActive { .. } => {
                "spec.pagopa.stationId"
            }
            Mismatch::AuxDigitDiffers { .. } => "spec.pagopa.auxDigit",
            Mismatch::SegregationCodeDiffers { .. } => "spec.pagopa.segregationCode",
            Mismatch::ApplicationCodeDiffers { .. } => "spec.pagopa.applicationCode",
            Mismatch::IbanNotRegistered { .. }
            | Mismatch::IbanNotActive { .. }
            | Mismatch::IbanNotYetValid { .. } => "spec.pagopa.ibans",
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field();
        let none = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
        match self {
            Mismatch::InstitutionNotRegistered => write!(
                f,
                "{field}: the back office has no station of this institution under the broker: register the institution with the broker's station in the back office"
            ),
            Mismatch::StationNotRegistered { stations } if stations.is_empty() => {
                write!(
                    f,
                    "{field}: the station is not the institution's in the back office"
                )
            }
            Mismatch::StationNotRegistered { stations } => write!(
                f,
                "{field}: the back office has the institution with station {} only: correct the spec, or add the station in the back office",
                stations.join(", ")
            ),
            Mismatch::InstitutionNotEnabled => write!(
                f,
                "{field}: the institution is disabled in the back office: ask PagoPA why"
            ),
            Mismatch::StationNotActive { state } => write!(
                f,
                "{field}: the station is {state:?} in the back office, not enabled: enable it there"
            ),
            Mismatch::AuxDigitDiffers { platform } => write!(
                f,
                "{field}: the back office has aux digit {platform}: notice numbers made with the spec's would be refused; correct the spec or the back office"
            ),
            Mismatch::SegregationCodeDiffers { platform } => write!(
                f,
                "{field}: the back office has segregation code {}: correct the spec (PagoPA assigns it)",
                none(platform)
            ),
            Mismatch::ApplicationCodeDiffers { platform } => write!(
                f,
                "{field}: the back office has application code {}: correct the spec or the back office",
                none(platform)
            ),
            Mismatch::IbanNotRegistered { iban } => write!(
                f,
                "{field}: IBAN {iban} is not registered in the back office for this institution: register it there (PagoPA checks it)"
            ),
            Mismatch::IbanNotActive { iban, status } => write!(
                f,
                "{field}: IBAN {iban} is {status:?} in the back office, not enabled"
            ),
            Mismatch::IbanNotYetValid { iban, from } => write!(
                f,
                "{field}: IBAN {iban} is valid in the back office only from {from}"
            ),
        }
    }
}

/// Every difference between the tenant's registration and `snapshot` of its broker, at `now`;
/// none when they match.
pub fn check(p: &PagoPaConnector, snapshot: &Snapshot, now: OffsetDateTime) -> Vec<Mismatch> {
    let tax_code = p.entity_fiscal_code.as_str();
    let mut found = Vec::new();
    let station_id = p.station_id.to_string();
    let relations: Vec<&Institution> = snapshot
        .institutions
        .iter()
        .filter(|i| i.tax_code == tax_code)
        .collect();
    if relations.is_empty() {
        found.push(Mismatch::InstitutionNotRegistered);
    } else if let Some(station) = relations
        .iter()
        .find(|i| i.station_id.as_deref() == Some(station_id.as_str()))
    {
        station_mismatches(p, station, &mut found);
    } else {
        let mut stations: Vec<String> = relations
            .iter()
            .filter_map(|i| i.station_id.clone())
            .collect();
        stations.sort();
        stations.dedup();
        found.push(Mismatch::StationNotRegistered { stations });
    }
    for spec in &p.ibans {
        let iban = spec.iban.as_str();
        let registered: Vec<&Iban> = snapshot
            .ibans
            .iter()
            .filter(|i| i.ci_fiscal_code == tax_code && i.iban == iban)
            .collect();
        found.extend(iban_mismatch(iban, &registered, now));
    }
    found
}

fn station_mismatches(p: &PagoPaConnector, station: &Institution, found: &mut Vec<Mismatch>) {
    if !station.ci_status {
        found.push(Mismatch::InstitutionNotEnabled);
    }
    if !station.station_state.eq_ignore_ascii_case("enabled") {
        found.push(Mismatch::StationNotActive {
            state: station.station_state.clone(),
        });
    }
    let digit = p.aux_digit.digit().to_string();
    // `0/3`: the station serves both.
    let digits: Vec<&str> = station.aux_digit.split('/').map(str::trim).collect();
    if !digits.contains(&digit.as_str()) {
        found.push(Mismatch::AuxDigitDiffers {
            platform: station.aux_digit.clone(),
        });
    }
    match &p.aux_digit {
        AuxDigit::Three { segregation_code }
            if station.segregation_code.as_deref() != Some(segregation_code.as_str()) =>
        {
            found.push(Mismatch::SegregationCodeDiffers {
                platform: station.segregation_code.clone(),
            });
        }
        AuxDigit::Zero { application_code }
            if station.application_code.as_deref() != Some(application_code.as_str()) =>
        {
            found.push(Mismatch::ApplicationCodeDiffers {
                platform: station.application_code.clone(),
            });
        }
        _ => {}
    }
}

/// What is wrong with one IBAN of the spec, given its registrations (an IBAN may be registered
/// again: one enabled and valid registration is enough).
fn iban_mismatch(iban: &str, registered: &[&Iban], now: OffsetDateTime) -> Option<Mismatch> {
    let enabled: Vec<&&Iban> = registered
        .iter()
        .filter(|i| i.status.eq_ignore_ascii_case("enabled"))
        .collect();
    let Some(first) = registered.first() else {
        return Some(Mismatch::IbanNotRegistered {
            iban: iban.to_owned(),
        });
    };
    if enabled.is_empty() {
        return Some(Mismatch::IbanNotActive {
            iban: iban.to_owned(),
            status: first.status.clone(),
        });
    }
    let valid_from = |i: &Iban| OffsetDateTime::parse(&i.validity_date, &Rfc3339).ok();
    if enabled
        .iter()
        .any(|i| valid_from(i).is_none_or(|from| from <= now))
    {
        return None;
    }
    Some(Mismatch::IbanNotYetValid {
        iban: iban.to_owned(),
        from: enabled[0].validity_date.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modena() -> PagoPaConnector {
        let t: municipio_crds::MunicipalityTenant =
            serde_yaml_ng::from_str(include_str!("../../../../examples/modena.yaml")).unwrap();
        municipio_crds::validate(&t).unwrap().pagopa.unwrap()
    }

    /// What the back office has when Modena's registration matches.
    fn matching(p: &PagoPaConnector) -> Snapshot {
        let (segregation, application) = match &p.aux_digit {
            AuxDigit::Three { segregation_code } => (Some(segregation_code.clone()), None),
            AuxDigit::Zero { application_code } => (None, Some(application_code.clone())),
            _ => (None, None),
        };
        Snapshot {
            institutions: vec![Institution {
                tax_code: p.entity_fiscal_code.to_string(),
                station_id: Some(p.station_id.to_string()),
                station_state: "enabled".into(),
                aux_digit: p.aux_digit.digit().to_string(),
                segregation_code: segregation,
                application_code: application,
                ci_status: true,
            }],
            ibans: p
                .ibans
                .iter()
                .map(|i| Iban {
                    ci_fiscal_code: p.entity_fiscal_code.to_string(),
                    iban: i.iban.to_string(),
                    status: "ENABLED".into(),
                    validity_date: "2024-01-01T00:00:00Z".into(),
                })
                .collect(),
        }
    }

    /// What is changed on the platform, and the reasons expected.
    type Case = (
        &'static str,
        Box<dyn Fn(&mut Snapshot)>,
        &'static [&'static str],
    );

    fn reasons(found: &[Mismatch]) -> Vec<&'static str> {
        found.iter().map(Mismatch::reason).collect()
    }

    /// 2026-12-06 12:00 UTC.
    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_796_558_400).unwrap()
    }

    #[test]
    fn a_registration_the_back_office_has_matches() {
        let p = modena();
        assert_eq!(check(&p, &matching(&p), now()), []);
        // `0/3` serves both digits; states are compared without case.
        let mut both = matching(&p);
        both.institutions[0].aux_digit = "0/3".into();
        both.institutions[0].station_state = "ENABLED".into();
        assert_eq!(check(&p, &both, now()), []);
    }

    #[test]
    fn each_difference_is_named_with_what_the_platform_has() {
        let p = modena();
        let cases: Vec<Case> = vec![
            (
                "no institution",
                Box::new(|s| s.institutions.clear()),
                &["InstitutionNotRegistered"],
            ),
            (
                "another station",
                Box::new(|s| s.institutions[0].station_id = Some("00000000000_09".into())),
                &["StationNotRegistered"],
            ),
            (
                "disabled",
                Box::new(|s| s.institutions[0].ci_status = false),
                &["InstitutionNotEnabled"],
            ),
            (
                "station off",
                Box::new(|s| s.institutions[0].station_state = "disabled".into()),
                &["StationNotActive"],
            ),
            (
                "aux digit",
                Box::new(|s| s.institutions[0].aux_digit = "2".into()),
                &["AuxDigitDiffers"],
            ),
            (
                "segregation code",
                Box::new(|s| s.institutions[0].segregation_code = Some("47".into())),
                &["SegregationCodeDiffers"],
            ),
            (
                "an IBAN missing",
                Box::new(|s| {
                    s.ibans.remove(0);
                }),
                &["IbanNotRegistered"],
            ),
            (
                "an IBAN of another institution",
                Box::new(|s| s.ibans[0].ci_fiscal_code = "00000000000".into()),
                &["IbanNotRegistered"],
            ),
            (
                "an IBAN disabled",
                Box::new(|s| s.ibans[0].status = "DISABLED".into()),
                &["IbanNotActive"],
            ),
            (
                "an IBAN from next year",
                Box::new(|s| s.ibans[0].validity_date = "2027-06-01T00:00:00Z".into()),
                &["IbanNotYetValid"],
            ),
            (
                "two at once",
                Box::new(|s| {
                    s.institutions[0].station_state = "disabled".into();
                    s.ibans[0].status = "DISABLED".into();
                }),
                &["StationNotActive", "IbanNotActive"],
            ),
        ];
        assert!(
            matches!(p.aux_digit, AuxDigit::Three { .. }),
            "Modena's example uses aux digit 3"
        );
        for (what, change, expected) in cases {
            let mut snapshot = matching(&p);
            change(&mut snapshot);
            let found = check(&p, &snapshot, now());
            assert_eq!(reasons(&found), expected, "{what}: {found:?}");
            for m in &found {
                assert!(m.to_string().starts_with(m.field()), "{what}: {m}");
            }
        }
        let mut other = matching(&p);
        other.institutions[0].station_id = Some("00000000000_09".into());
        let message = check(&p, &other, now())[0].to_string();
        assert!(
            message.contains("00000000000_09"),
            "what the platform has: {message}"
        );
        let mut other = matching(&p);
        other.institutions[0].segregation_code = Some("47".into());
        assert!(
            check(&p, &other, now())[0]
                .to_string()
                .contains("segregation code 47")
        );
    }

    #[test]
    fn an_iban_registered_twice_needs_one_good_registration() {
        let p = modena();
        let mut snapshot = matching(&p);
        let mut old = snapshot.ibans[0].clone();
        old.status = "DISABLED".into();
        snapshot.ibans.insert(0, old);
        assert_eq!(check(&p, &snapshot, now()), []);
    }
}
