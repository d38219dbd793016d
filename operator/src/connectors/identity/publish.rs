//! What is published for one municipality at a moment, from its validated tenant, the
//! region's configuration and its stored keys: the artifacts, the private keys the gateway
//! signs and decrypts with, and when to look again. Pure (no client, no clock: `now` comes
//! in), so `municipio render` and the controller publish the same thing from the same keys.
//!
//! The entity configuration carries its signing time. So that an unchanged municipality is
//! not written again at every pass, it is signed at a moment quantised to half the statement
//! lifetime: the same keys give the same artifacts for that half, and every statement still
//! has at least half its lifetime left when published. Each municipality's halves start at an
//! offset of its own (from its name), so a region's are not all signed again at once.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use municipio_crds::ValidTenant;
use sha2::{Digest, Sha256};

use super::artifacts::{Artifacts, ArtifactsError, Municipality, Region, artifacts};
use super::keyring::{KeyRing, Purpose};
use super::keys::SigningKey;
use super::rotation::Plan;
use super::saml::Aggregator;
use crate::config::OperatorConfig;
use crate::dereference::SecretValue;
use municipio_crds::v1alpha1::Connector;

/// What is published for a municipality.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub artifacts: Artifacts,
    /// The gateway's private keys, PEM (PKCS#8), as `<purpose>.<kid>.pem`: SAML, protocol and
    /// encryption keys. The federation keys stay with the operator, which signs the entity
    /// configuration.
    pub gateway_keys: BTreeMap<String, SecretValue>,
    /// SHA-256 of the workloads' credential, hex: what the gateway checks it against.
    pub client_secret_sha256: String,
    /// When the entity configuration was signed (Unix seconds).
    pub signed_at: i64,
    /// When what is published changes next: a key made, one starting to sign, one retired,
    /// or the entity configuration signed again.
    pub next_change: i64,
}

/// The moment the entity configuration is signed at `now`: `now` rounded down to the last
/// start of a half of the statement lifetime, the halves starting at `offset` seconds past
/// the epoch's.
pub fn signing_moment(now: i64, statement_lifetime: i64, offset: i64) -> i64 {
    let half = (statement_lifetime / 2).max(1);
    now - (now - offset).rem_euclid(half)
}

/// The tenant's own offset of its signing moments, from its name: within half a lifetime.
fn offset_of(tenant: &str, statement_lifetime: i64) -> i64 {
    let half = (statement_lifetime / 2).max(1);
    let digest = Sha256::digest(tenant.as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    i64::try_from(n % u64::try_from(half).unwrap_or(1)).unwrap_or(0)
}

/// What to publish at `now` for the tenant (whose identity connector is enabled), with its
/// rings of keys as they were advanced to `now` (`plans`, in the rings' order).
pub fn publish(
    tenant: &ValidTenant,
    config: &OperatorConfig,
    rings: &[KeyRing],
    plans: &[Plan],
    client_secret: &[u8],
    now: i64,
) -> Result<Published, ArtifactsError> {
    let identity = tenant
        .identity
        .as_ref()
        .expect("published only for an enabled identity connector");
    let region = &config.identity;
    let gateway = config.platform(Connector::Identity).url(tenant.environment);
    let intermediate = region
        .intermediate
        .clone()
        .unwrap_or_else(|| format!("{gateway}/"));
    let statement_lifetime = region.statement_lifetime;
    let offset = offset_of(tenant.name.as_str(), statement_lifetime);
    let signed_at = signing_moment(now, statement_lifetime, offset);
    let attributes: Vec<&str> = identity.attributes.iter().map(|a| a.name()).collect();
    let contacts = [
        identity.contacts.pec.as_str(),
        identity.contacts.email.as_str(),
    ];
    let name = tenant.municipality.name.as_str();
    let municipality = Municipality {
        ipa_code: &identity.ipa_code,
        organization: name,
        locality: name.strip_prefix("Comune di ").unwrap_or(name),
        homepage: identity.homepage.as_str(),
        contacts: &contacts,
        attributes: &attributes,
    };
    let region = Region {
        aggregator: Aggregator {
            gateway,
            company: &region.aggregator_name,
            vat_number: region.aggregator_vat_number.as_deref(),
            fiscal_code: &region.aggregator_fiscal_code,
            email: &region.aggregator_email,
            phone: region.aggregator_phone.as_deref(),
        },
        intermediate: &intermediate,
        statement_lifetime,
    };
    let pairs: Vec<(&KeyRing, &Plan)> = rings.iter().zip(plans).collect();
    let artifacts = artifacts(&region, &municipality, &pairs, signed_at)?;
    let gateway_keys = pairs
        .iter()
        .filter(|(ring, _)| ring.purpose != Purpose::Federation)
        .flat_map(|(ring, plan)| {
            ring.published(plan).into_iter().map(|k| {
                (
                    format!("{}.{}.pem", ring.purpose.name(), k.times.kid),
                    SecretValue(pem("PRIVATE KEY", k.key.pkcs8())),
                )
            })
        })
        .collect();
    let next_change = plans
        .iter()
        .filter_map(|p| p.next_change)
        .chain([signed_at + (statement_lifetime / 2).max(1)])
        .min()
        .expect("the signing moment is always there");
    Ok(Published {
        artifacts,
        gateway_keys,
        client_secret_sha256: hex(&Sha256::digest(client_secret)),
        signed_at,
        next_change,
    })
}

/// What would be published at `now` with throwaway keys derived from the tenant's name (never
/// stored, and known to anyone): what `municipio render` shows, the same at every rendering of
/// the same moment, and what the tests give the official tools. The operator's published
/// artifacts differ only by their keys.
pub fn with_throwaway_keys(
    tenant: &ValidTenant,
    config: &OperatorConfig,
    now: i64,
) -> Result<Published, ArtifactsError> {
    let mut rings = KeyRing::every_purpose();
    let plans = rings
        .iter_mut()
        .map(|ring| {
            let seed = format!("municipio render {} {}", tenant.name, ring.purpose.name());
            ring.advance(now, &config.identity.rotation, || {
                SigningKey::derived(seed.as_bytes())
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    publish(tenant, config, &rings, &plans, b"<never rendered>", now)
}

fn pem(label: &str, der: &[u8]) -> Vec<u8> {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out.into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn the_signing_moment_holds_for_half_a_lifetime() {
        assert_eq!(signing_moment(0, 2 * DAY, 0), 0);
        assert_eq!(signing_moment(DAY - 1, 2 * DAY, 0), 0);
        assert_eq!(signing_moment(DAY, 2 * DAY, 0), DAY);
        assert_eq!(signing_moment(DAY + 5, 2 * DAY, 0), DAY);
        // Halves starting an hour in.
        let hour = 3_600;
        assert_eq!(signing_moment(DAY + 5, 2 * DAY, hour), hour);
        assert_eq!(signing_moment(DAY + hour, 2 * DAY, hour), DAY + hour);
    }

    #[test]
    fn municipalities_sign_again_at_moments_of_their_own() {
        let offsets: std::collections::BTreeSet<i64> = ["modena", "carpi", "milano", "bergamo"]
            .iter()
            .map(|t| offset_of(t, 2 * DAY))
            .collect();
        assert_eq!(offsets.len(), 4);
        assert!(offsets.iter().all(|o| (0..DAY).contains(o)));
    }

    #[test]
    fn a_pem_has_lines_of_64() {
        let text = String::from_utf8(pem("PRIVATE KEY", &[7; 100])).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN PRIVATE KEY-----");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines.last(), Some(&"-----END PRIVATE KEY-----"));
    }
}
