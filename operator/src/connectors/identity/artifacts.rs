//! Everything the region's gateway publishes for one municipality, built from the municipality,
//! the region and the municipality's keys at a moment: the signed SAML metadata (every
//! published SAML key's certificate, the newest signing) and the signed entity configuration
//! (the published federation and protocol keys). Pure: the same keys and moment give the same
//! artifacts, so they are written only when something changed.

use time::OffsetDateTime;

use super::certificate::{Subject, certificate};
use super::federation::{RelyingParty, entity_configuration};
use super::keyring::{KeyRing, Purpose, StoredKey};
use super::keys::KeyError;
use super::rotation::Plan;
use super::saml::{Aggregated, Aggregator, entity_id, metadata};

/// The municipality, as the identity connector sees it.
pub struct Municipality<'a> {
    pub ipa_code: &'a str,
    /// Its name in Italian (`Comune di Modena`).
    pub organization: &'a str,
    /// Where it is (`Modena`), for the certificates.
    pub locality: &'a str,
    pub homepage: &'a str,
    /// Its contacts, the PEC first.
    pub contacts: &'a [&'a str],
    /// The SPID attributes its services ask for.
    pub attributes: &'a [&'a str],
}

/// The region: the aggregator and the federation entity above its municipalities.
pub struct Region<'a> {
    pub aggregator: Aggregator<'a>,
    /// The region's intermediate in the federation (the municipalities' authority hint).
    pub intermediate: &'a str,
    /// How long an entity configuration is valid from when it is signed, in seconds.
    pub statement_lifetime: i64,
}

/// A key as published: its purpose, id and end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    pub purpose: Purpose,
    pub kid: String,
    pub expires: i64,
}

/// The artifacts of one municipality.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifacts {
    pub saml_metadata: String,
    pub entity_configuration: String,
    pub keys: Vec<PublishedKey>,
}

/// Why the artifacts cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactsError {
    #[error("no {} key to sign with", .0.name())]
    NoKey(Purpose),
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("a key's times are out of range: {0}")]
    Time(String),
}

/// The artifacts at `now`, from each ring's published keys (`plans`, one per ring, as
/// [`KeyRing::advance`] returned them).
pub fn artifacts(
    region: &Region<'_>,
    municipality: &Municipality<'_>,
    rings: &[(&KeyRing, &Plan)],
    now: i64,
) -> Result<Artifacts, ArtifactsError> {
    let published = |purpose: Purpose| -> Result<Vec<&StoredKey>, ArtifactsError> {
        let keys = rings
            .iter()
            .find(|(ring, _)| ring.purpose == purpose)
            .map(|(ring, plan)| ring.published(plan))
            .unwrap_or_default();
        match keys.is_empty() {
            true => Err(ArtifactsError::NoKey(purpose)),
            false => Ok(keys),
        }
    };
    let at = |seconds: i64| {
        OffsetDateTime::from_unix_timestamp(seconds)
            .map_err(|e| ArtifactsError::Time(e.to_string()))
    };

    let entity = entity_id(region.aggregator.gateway, municipality.ipa_code);
    let subject = Subject {
        organization: municipality.organization,
        ipa_code: municipality.ipa_code,
        locality: municipality.locality,
        entity_id: &entity,
    };
    let saml_keys = published(Purpose::Saml)?;
    let certificates = saml_keys
        .iter()
        .map(|k| {
            let (from, to) = (at(k.times.created)?, at(k.times.expires)?);
            Ok(certificate(&k.key, &subject, from, to)?)
        })
        .collect::<Result<Vec<Vec<u8>>, ArtifactsError>>()?;
    let aggregated = Aggregated {
        ipa_code: municipality.ipa_code,
        organization: municipality.organization,
        url: municipality.homepage,
        attributes: municipality.attributes,
    };
    let all: Vec<&[u8]> = certificates.iter().map(Vec::as_slice).collect();
    let saml_metadata = metadata(
        &region.aggregator,
        &aggregated,
        &all,
        (&saml_keys[0].key, &certificates[0]),
    )?;

    let federation_keys = published(Purpose::Federation)?;
    let protocol_keys = published(Purpose::Protocol)?;
    let encryption_keys = published(Purpose::Encryption)?;
    let federation: Vec<_> = federation_keys.iter().map(|k| &k.key).collect();
    let protocol: Vec<_> = protocol_keys.iter().map(|k| &k.key).collect();
    let encryption: Vec<_> = encryption_keys.iter().map(|k| &k.key).collect();
    let rp = RelyingParty {
        gateway: region.aggregator.gateway,
        ipa_code: municipality.ipa_code,
        organization: municipality.organization,
        homepage: municipality.homepage,
        contacts: municipality.contacts,
        authority_hints: &[region.intermediate],
        federation_keys: &federation,
        protocol_keys: &protocol,
        encryption_keys: &encryption,
    };
    let entity_configuration = entity_configuration(&rp, now, region.statement_lifetime)?;

    let keys = [
        (Purpose::Saml, &saml_keys),
        (Purpose::Federation, &federation_keys),
        (Purpose::Protocol, &protocol_keys),
        (Purpose::Encryption, &encryption_keys),
    ]
    .into_iter()
    .flat_map(|(purpose, keys)| {
        keys.iter().map(move |k| PublishedKey {
            purpose,
            kid: k.times.kid.clone(),
            expires: k.times.expires,
        })
    })
    .collect();
    Ok(Artifacts {
        saml_metadata,
        entity_configuration,
        keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::identity::keys::SigningKey;
    use crate::connectors::identity::keys::tests::test_key;
    use crate::connectors::identity::rotation::Rotation;
    use crate::connectors::identity::saml::tests::LOMBARDIA;

    const DAY: i64 = 86_400;

    fn modena() -> Municipality<'static> {
        Municipality {
            ipa_code: "c_f257",
            organization: "Comune di Modena",
            locality: "Modena",
            homepage: "https://www.comune.modena.it",
            contacts: &["comune.modena@cert.comune.modena.it"],
            attributes: &["fiscalNumber", "name", "familyName"],
        }
    }

    fn region() -> Region<'static> {
        Region {
            aggregator: LOMBARDIA,
            intermediate: "https://login.regione.example/",
            statement_lifetime: DAY,
        }
    }

    #[test]
    fn during_an_overlap_both_saml_certificates_are_published_and_the_newest_signs() {
        let rotation = Rotation::new(365 * DAY, 30 * DAY, 7 * DAY).unwrap();
        let second = SigningKey::generate().unwrap();
        let mut rings = KeyRing::every_purpose();
        let copy = || SigningKey::from_pkcs8(test_key().pkcs8());
        let plans: Vec<Plan> = rings
            .iter_mut()
            .map(|ring| ring.advance(0, &rotation, copy).unwrap())
            .collect();
        let pairs: Vec<(&KeyRing, &Plan)> = rings.iter().zip(&plans).collect();
        let one = artifacts(&region(), &modena(), &pairs, 0).unwrap();
        assert_eq!(one.saml_metadata.matches("<md:KeyDescriptor").count(), 1);
        assert_eq!(one.keys.len(), 4);
        assert_eq!(
            artifacts(&region(), &modena(), &pairs, 0).unwrap(),
            one,
            "the same keys and moment give the same artifacts"
        );

        // The SAML key's successor is due: two certificates; the old key signs until the new
        // one has been published for the lead, then the new one.
        let due = 335 * DAY;
        let saml = &mut rings[0];
        let plan = saml
            .advance(due, &rotation, || SigningKey::from_pkcs8(second.pkcs8()))
            .unwrap();
        assert_eq!(plan.signer.as_deref(), Some(test_key().kid()));
        let led = rings[0]
            .advance(due + rotation.lead, &rotation, || panic!("no key is due"))
            .unwrap();
        assert_eq!(led.signer.as_deref(), Some(second.kid()));
        for (now, plan, signer) in [
            (due, plan, test_key().kid()),
            (due + rotation.lead, led, second.kid()),
        ] {
            let plans = [plan, plans[1].clone(), plans[2].clone(), plans[3].clone()];
            let pairs: Vec<(&KeyRing, &Plan)> = rings.iter().zip(&plans).collect();
            let two = artifacts(&region(), &modena(), &pairs, now).unwrap();
            assert_eq!(two.saml_metadata.matches("<md:KeyDescriptor").count(), 2);
            assert_eq!(two.keys[0].kid, signer, "the signer is listed first");
        }
    }

    #[test]
    fn no_key_of_a_purpose_is_an_error_naming_it() {
        let empty = KeyRing {
            purpose: Purpose::Saml,
            keys: Vec::new(),
        };
        let plan = Plan {
            make_key: true,
            signer: None,
            published: vec![],
            retired: vec![],
            next_change: None,
        };
        let error = artifacts(&region(), &modena(), &[(&empty, &plan)], 0).unwrap_err();
        assert_eq!(error.to_string(), "no saml key to sign with");
    }
}
